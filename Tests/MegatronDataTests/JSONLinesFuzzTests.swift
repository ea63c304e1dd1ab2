import Foundation
import MegatronData
import Testing
import MegatronTensor

@Suite("jsonl reader fuzz")
struct JSONLinesFuzzTests {
    /// 1,500 seeded mutants of a small valid jsonl (byte flips, random bytes, cuts, inserted
    /// quotes, braces and newlines, invalid UTF-8), read as plain files: every one either yields
    /// documents or stops with a `DataFileError` naming the file — never a crash or a hang.
    @Test func mutatedInputNeverCrashes() throws {
        let valid = Array((0..<20).map { "{\"text\": \"line \($0) ünï 🙂 \\\"quoted\\\"\", \"n\": \($0)}\n" }.joined().utf8)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).jsonl").path
        var rng = SplitMix64(seed: 42)
        var outcomes: [String: Int] = [:]
        for _ in 0..<1500 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 2: bytes.removeSubrange(i...)
                case 3: bytes.insert([UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "}"), 0x0A].randomElement(using: &rng)!, at: i)
                case 4: bytes.insert(contentsOf: [0xC3, 0x28, 0xFF], at: i)
                default: bytes.remove(at: i)
                }
                if bytes.isEmpty { bytes = [0x0A] }
            }
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            var iterator = JSONLines(path: path, keys: ["text"]).makeIterator()
            var documents = 0
            while iterator.next() != nil { documents += 1 }
            switch iterator.error {
            case nil: outcomes["read", default: 0] += 1
            case let .malformedLine(p, line, _)?:
                #expect(p == path && line >= 1)
                outcomes["malformed line", default: 0] += 1
            case let .unreadable(p, _)?:
                #expect(p == path)
                outcomes["unreadable", default: 0] += 1
            }
            #expect(documents <= 20 + 4)
        }
        // Both outcomes occur, so the mutations reach the parser.
        #expect(outcomes["read", default: 0] > 0 && outcomes["malformed line", default: 0] > 0, "\(outcomes)")
    }
}
