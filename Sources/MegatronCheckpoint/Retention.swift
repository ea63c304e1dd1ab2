import Foundation

/// Keep-last-N: removes old `iter_*` directories after a successful save.
enum Retention {
    /// Removes the `iter_*` directories of `root` beyond the `keep` highest iterations, never
    /// `protecting` (the one the tracker names). Each is renamed to `iter_N.deleting` before
    /// its files go, so a crash midway leaves no half-deleted directory under a loadable name;
    /// the next save removes the leftover. Returns the iterations removed and any failures.
    static func prune(root: URL, keep: Int, protecting: Int) -> (removed: [Int], problems: [String]) {
        let files = FileManager.default
        let names: [String]
        do { names = try files.contentsOfDirectory(atPath: root.path) } catch {
            return ([], ["keep-last-\(keep): cannot list \(root.path): \(error.localizedDescription)"])
        }
        var isDirectory: ObjCBool = false
        let iterations = names.compactMap { name -> Int? in
            guard let iteration = CheckpointLayout.iteration(ofDirectoryName: name),
                  files.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory),
                  isDirectory.boolValue
            else { return nil }
            return iteration
        }.sorted(by: >)
        var removed: [Int] = []
        var problems: [String] = []
        for iteration in iterations.dropFirst(keep) where iteration != protecting {
            let path = root.appendingPathComponent(CheckpointLayout.iterationDirectoryName(iteration)).path
            let doomed = path + CheckpointLayout.deletingSuffix
            do {
                try DurableFile.rename(path, to: doomed)
            } catch {
                problems.append("keep-last-\(keep): \(error.description)")
                continue
            }
            do {
                try files.removeItem(atPath: doomed)
                removed.append(iteration)
            } catch {
                problems.append("keep-last-\(keep): cannot remove \(doomed): \(error.localizedDescription)")
            }
        }
        return (removed.sorted(), problems)
    }
}
