import Foundation
import Testing

/// Where the tokenizer tests find their files: the shared data folder (read in place, never
/// copied into the repo) and this target's committed fixtures.
enum TokenizerTestFiles {
    /// `<repo>/../shared/data`: this file is `<repo>/Tests/MegatronDataTests/…`.
    static let sharedData: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared/data").standardizedFileURL.path
    }()

    static let fixtures: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizers").path

    /// The path of a shared file; fails the test (never skips it) when the folder is missing.
    static func shared(_ relative: String) throws -> String {
        let path = sharedData + "/" + relative
        try #require(FileManager.default.fileExists(atPath: path),
                     "shared data file missing: \(path) (the tokenizer tests read ../shared/data next to the repo)")
        return path
    }

    static func fixture(_ name: String) throws -> Any {
        let data = try #require(FileManager.default.contents(atPath: fixtures + "/" + name), "fixture missing: \(name)")
        return try JSONSerialization.jsonObject(with: data)
    }

    /// The 46 GPT-2 test strings and their ids (llama.cpp's `.inp`/`.out` layout: strings
    /// separated by `\n__ggml_vocab_test__\n`, one line of space-separated ids per string).
    static func gpt2Vectors() throws -> [(text: String, ids: [Int])] {
        let inp = try String(contentsOfFile: shared("tokenizers/vectors/gpt2.inp"), encoding: .utf8)
        let out = try String(contentsOfFile: shared("tokenizers/vectors/gpt2.out"), encoding: .utf8)
        var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        return texts.enumerated().map { i, t in (t, lines[i].split(separator: " ").map { Int($0)! }) }
    }

    static func shakespeare() throws -> [String] {
        let text = try String(contentsOfFile: shared("corpora/shakespeare.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return obj["text"] as! String
        }
    }

    static func temporaryFile(_ name: String, _ contents: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}
