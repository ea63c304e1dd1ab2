import Foundation
import MegatronData
import Testing

@Suite("jsonl input")
struct JSONLinesTests {
    func write(_ text: String, gzip: Bool = false) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-\(UUID().uuidString).jsonl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        guard gzip else { return path }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-f", path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "gzip is needed for this test")
        return path + ".gz"
    }

    func read(_ path: String, keys: [String] = ["text"]) -> (documents: [JSONLines.Document], error: DataFileError?) {
        var iterator = JSONLines(path: path, keys: keys).makeIterator()
        var documents: [JSONLines.Document] = []
        while let d = iterator.next() { documents.append(d) }
        return (documents, iterator.error)
    }

    @Test(arguments: [false, true])
    func readsEveryLinePlainOrCompressed(gzip: Bool) throws {
        let path = try write("{\"text\": \"a\\nb\", \"n\": 1}\n\n{\"text\": \"ünï 🙂\"}\n{\"text\": \"last\"}", gzip: gzip)
        let (documents, error) = read(path)
        #expect(error == nil)
        #expect(documents.map(\.values) == [["a\nb"], ["ünï 🙂"], ["last"]])
        #expect(documents.map(\.line) == [1, 3, 4])
    }

    @Test func badLinesAreNamed() throws {
        let malformed = try write("{\"text\": \"ok\"}\n{\"text\": \n")
        #expect(read(malformed).error == .malformedLine(path: malformed, line: 2, message: "not valid JSON (expected one JSON object per line)"))
        let missing = try write("{\"body\": \"x\"}\n")
        #expect(read(missing).error == .malformedLine(path: missing, line: 1, message: "no key \"text\" (--json-keys)"))
        let notString = try write("{\"text\": 3}\n")
        #expect(read(notString).error == .malformedLine(path: notString, line: 1, message: "the value of \"text\" is not a string"))
        #expect(read("/nonexistent/file.jsonl").error == .unreadable(path: "/nonexistent/file.jsonl", reason: "cannot open it for reading"))
    }

    @Test func truncatedCompressedInputIsAnError() throws {
        let path = try write(String(repeating: "{\"text\": \"some words here\"}\n", count: 5000), gzip: true)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let (_, error) = read(path)
        guard case let .unreadable(p, reason) = error else {
            Issue.record("a truncated gzip file read without error")
            return
        }
        #expect(p == path && reason.hasPrefix("corrupt or truncated compressed data"))
    }
}
