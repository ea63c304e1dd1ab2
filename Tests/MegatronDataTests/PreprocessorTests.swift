import Foundation
import MegatronData
import Testing

/// UTF-8 bytes as ids, 256 the end of document.
private struct ByteTokenizer: Tokenizer {
    let vocabSize = 257
    let eod: Int? = 256
    let bos: Int? = nil
    let pad: Int? = nil
    func encode(_ text: String) -> [Int] { text.utf8.map(Int.init) }
    func decode(_ ids: [Int]) throws -> String { String(decoding: ids.map(UInt8.init), as: UTF8.self) }
}

@Suite("megatron preprocess")
struct PreprocessorTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("preprocess-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func writesOneDocumentPerLineAndKeyWithEOD() throws {
        let dir = try folder()
        let input = dir.appendingPathComponent("in.jsonl").path
        try "{\"text\": \"ab\", \"title\": \"T\"}\n{\"text\": \"\", \"title\": \"U\"}\n{\"text\": \"c\", \"title\": \"\"}\n"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let options = Preprocessor.Options(input: input, jsonKeys: ["text", "title"], outputPrefix: dir.appendingPathComponent("out").path,
                                           appendEOD: true)
        let totals = try Preprocessor.run(options, tokenizer: ByteTokenizer())
        #expect(totals.documents == 3)
        let text = try IndexedDataset(prefix: options.prefix(for: "text"))
        #expect(text.dtype == .uint16)
        #expect(text.documentIndices == [0, 1, 1, 2])  // the empty document has no sequence
        #expect(try text.tokens(sequence: 0, offset: 0, count: nil) == [97, 98, 256])
        #expect(try text.tokens(sequence: 1, offset: 0, count: nil) == [99, 256])
        let title = try IndexedDataset(prefix: options.prefix(for: "title"))
        #expect(title.documentIndices == [0, 1, 2, 2])
    }

    @Test func theOutputDoesNotDependOnTheWorkers() throws {
        let dir = try folder()
        let input = dir.appendingPathComponent("in.jsonl").path
        let lines = (0..<3000).map { "{\"text\": \"document \($0) \(String(repeating: "x", count: $0 % 17))\"}" }
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        var bytes: [Data] = []
        for workers in [1, 3] {
            let options = Preprocessor.Options(input: input, outputPrefix: dir.appendingPathComponent("w\(workers)").path, appendEOD: true,
                                               workers: workers)
            var reports = 0
            try Preprocessor.run(options, tokenizer: ByteTokenizer()) { _ in reports += 1 }
            #expect(reports == 4)  // at 1000, 2000, 3000 documents, and the totals
            let prefix = options.prefix(for: "text")
            bytes.append(try Data(contentsOf: URL(fileURLWithPath: prefix + ".bin")) + Data(contentsOf: URL(fileURLWithPath: prefix + ".idx")))
        }
        #expect(bytes[0] == bytes[1])
    }

    @Test func textTheTokenizerCannotReadIsNamedByLine() throws {
        let dir = try folder()
        let input = dir.appendingPathComponent("in.jsonl").path
        try "{\"text\": \"1 2\"}\n{\"text\": \"3 four\"}\n".write(toFile: input, atomically: true, encoding: .utf8)
        let options = Preprocessor.Options(input: input, outputPrefix: dir.appendingPathComponent("out").path, workers: 2)
        #expect(throws: DataFileError.malformedLine(path: input, line: 2, message: "\(TokenizerError.notAnID("four"))")) {
            try Preprocessor.run(options, tokenizer: NullTokenizer(vocabSize: 10))
        }
    }

    @Test func aBadLineStopsWithItsNumberAndWritesNoDataset() throws {
        let dir = try folder()
        let input = dir.appendingPathComponent("in.jsonl").path
        try "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n".write(toFile: input, atomically: true, encoding: .utf8)
        let options = Preprocessor.Options(input: input, outputPrefix: dir.appendingPathComponent("out").path)
        #expect(throws: DataFileError.malformedLine(path: input, line: 2, message: "no key \"text\" (--json-keys)")) {
            try Preprocessor.run(options, tokenizer: ByteTokenizer())
        }
        #expect(!FileManager.default.fileExists(atPath: options.prefix(for: "text") + ".idx"))
    }
}
