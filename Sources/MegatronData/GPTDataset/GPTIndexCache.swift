import Foundation
import MegatronTensor

/// Where a ``GPTDataset`` keeps its document, sample and shuffle indices between runs, as
/// megatron-core does: `.npy` files named `{hash}-GPTDataset-{split}-{array}.npy` beside a
/// `{hash}-GPTDataset-{split}-description.txt`, in `--data-cache-path` or, by default,
/// `PREFIX/cache/GPTDataset_indices`. The hash is of the description, which names everything
/// the indices depend on — including a checksum of the corpus's sequence lengths, so a corpus
/// rewritten under the same prefix is never served stale indices.
///
/// A cache that is missing, stale or damaged is rebuilt (and the reason logged); a directory
/// that cannot be written only costs the rebuild next time.
///
///     let cache = GPTIndexCache(directory: GPTIndexCache.defaultDirectory(prefix: "data/kjv_text_document"),
///                               datasetPath: "data/kjv_text_document", split: "train")
///     let train = try GPTDataset(sequences: corpus, documents: 0..<1000, sequenceLength: 1024,
///                                numSamples: 50_000, seed: 1234, cache: cache)
public struct GPTIndexCache: Sendable {
    public let directory: String
    /// The corpus's path prefix, recorded in the description.
    public let datasetPath: String
    /// `train`, `valid` or `test`.
    public let split: String
    /// Receives one line per load, build or problem (Megatron logs the same events).
    public let log: @Sendable (String) -> Void

    public init(directory: String, datasetPath: String, split: String, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.datasetPath = datasetPath
        self.split = split
        self.log = log
    }

    /// The same cache for another split.
    public func forSplit(_ split: String) -> GPTIndexCache {
        GPTIndexCache(directory: directory, datasetPath: datasetPath, split: split, log: log)
    }

    /// Megatron's default location for a corpus's caches.
    public static func defaultDirectory(prefix: String) -> String {
        (prefix as NSString).appendingPathComponent("cache/GPTDataset_indices")
    }

    /// The indices for `key`: read from the cache when it holds them intact, else built by
    /// `build` and stored.
    func indices(_ key: Key, build: () -> GPTIndices.Built) -> GPTIndices.Built {
        let description = key.description(datasetPath: datasetPath, split: split)
        let base = (directory as NSString).appendingPathComponent(
            "\(SHA256.hex(description).prefix(32))-GPTDataset-\(split)-")
        let paths = (description: base + "description.txt", document: base + "document_index.npy",
                     sample: base + "sample_index.npy", shuffle: base + "shuffle_index.npy")
        if FileManager.default.fileExists(atPath: paths.description) {
            do {
                let stored = try String(contentsOfFile: paths.description, encoding: .utf8)
                guard stored == description else { throw CacheProblem("\(paths.description) describes other indices") }
                let loaded = try load(paths.document, paths.sample, paths.shuffle, key: key)
                log("loaded the GPTDataset \(split) indices from \(directory)")
                return loaded
            } catch {
                log("warning: ignoring the cached GPTDataset \(split) indices (\(error)); rebuilding them")
            }
        }
        let built = build()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try NumpyArrayFile.write(built.documentIndex.map(Int.init), dtype: .int32,
                                     shape: [built.documentIndex.count], to: paths.document)
            let boundaries = built.sampleIndex.flatMap { [$0.documentIndexPosition, $0.offset] }
            try NumpyArrayFile.write(boundaries, dtype: Self.narrowest([.int32, .int64], boundaries),
                                     shape: [built.sampleIndex.count, 2], to: paths.sample)
            try NumpyArrayFile.write(built.shuffleIndex, dtype: Self.narrowest([.uint32, .int64], built.shuffleIndex),
                                     shape: [built.shuffleIndex.count], to: paths.shuffle)
            // The description goes last: its presence is what makes the cache count as written.
            let temporary = paths.description + ".tmp.\(getpid())"
            try description.write(toFile: temporary, atomically: false, encoding: .utf8)
            guard rename(temporary, paths.description) == 0 else {
                throw IndexedDatasetError.io(path: paths.description, operation: "rename", errno: errno)
            }
            log("built and cached the GPTDataset \(split) indices in \(directory)")
        } catch {
            log("warning: could not cache the GPTDataset \(split) indices in \(directory) (\(error)); they are rebuilt next run")
        }
        return built
    }

    /// Reads the three arrays and checks them against the corpus, so a damaged file is caught
    /// here rather than as a wrong sample later.
    private func load(_ documentPath: String, _ samplePath: String, _ shufflePath: String, key: Key) throws -> GPTIndices.Built {
        let document = try NumpyArrayFile.read(documentPath)
        let sample = try NumpyArrayFile.read(samplePath)
        let shuffle = try NumpyArrayFile.read(shufflePath)
        guard document.shape.count == 1, document.values.allSatisfy({ key.documents.contains($0) }) else {
            throw CacheProblem("\(documentPath) holds documents outside \(key.documents)")
        }
        guard sample.shape.count == 2, sample.shape[1] == 2, sample.shape[0] >= 1 else {
            throw CacheProblem("\(samplePath) has shape \(sample.shape), expected [n + 1, 2]")
        }
        let boundaries = stride(from: 0, to: sample.values.count, by: 2).map {
            SampleBoundary(sample.values[$0], sample.values[$0 + 1])
        }
        guard boundaries[0].documentIndexPosition >= 0 else { throw CacheProblem("\(samplePath) starts at a negative position") }
        for (a, b) in zip(boundaries, boundaries.dropFirst()) {
            guard (a.documentIndexPosition, a.offset) <= (b.documentIndexPosition, b.offset),
                  b.documentIndexPosition < document.values.count, a.offset >= 0
            else { throw CacheProblem("\(samplePath) holds out-of-order or out-of-range sample boundaries") }
        }
        let samples = boundaries.count - 1
        var seen = [Bool](repeating: false, count: samples)
        for i in shuffle.values {
            guard i >= 0, i < samples, !seen[i] else { throw CacheProblem("\(shufflePath) is not a permutation of 0..<\(samples)") }
            seen[i] = true
        }
        guard shuffle.shape == [samples] else { throw CacheProblem("\(shufflePath) has shape \(shuffle.shape), expected [\(samples)]") }
        return GPTIndices.Built(plan: key.plan, documentIndex: document.values.map { Int32($0) },
                                sampleIndex: boundaries, shuffleIndex: shuffle.values)
    }

    /// The first of `dtypes` that holds every value (Megatron's int32-unless-too-large choice).
    private static func narrowest(_ dtypes: [NumpyArrayFile.DType], _ values: [Int]) -> NumpyArrayFile.DType {
        guard let low = values.min(), let high = values.max() else { return dtypes[0] }
        return dtypes.first { $0.holds(low...high) } ?? .int64
    }

    /// What the indices depend on.
    struct Key {
        let sequenceLengths: [Int32]
        let documents: Range<Int>
        let sequenceLength: Int
        let numSamples: Int?
        let seed: UInt32
        let dropLastPartialSequence: Bool
        let plan: GPTEpochPlan

        /// The description file's text, laid out like megatron-core's (`json.dumps(indent=4)`).
        func description(datasetPath: String, split: String) -> String {
            var lengths = SHA256()
            sequenceLengths.withUnsafeBytes { lengths.update($0) }
            let fields: [(String, String)] = [
                ("class", quoted("GPTDataset")),
                ("dataset_path", quoted(datasetPath)),
                ("num_samples", numSamples.map(String.init) ?? "null"),
                ("index_split", quoted(split)),
                ("random_seed", String(seed)),
                ("sequence_length", String(sequenceLength)),
                ("documents", "[\(documents.lowerBound), \(documents.upperBound)]"),
                ("drop_last_partial_sequence", String(dropLastPartialSequence)),
                ("add_extra_token_to_sequence", "true"),
                ("sequence_lengths_sha256", quoted(SHA256.hexString(lengths.finalize()))),
            ]
            return "{\n" + fields.map { "    \(quoted($0.0)): \($0.1)" }.joined(separator: ",\n") + "\n}"
        }

        private func quoted(_ s: String) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
        }
    }

    private struct CacheProblem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
