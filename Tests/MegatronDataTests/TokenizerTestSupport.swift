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

/// SHA-256 (FIPS 180-4), for comparing all of a corpus's ids against tiktoken's in one digest
/// (Foundation on Linux has no hash functions).
struct SHA256Digest {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    mutating func update(_ bytes: [UInt8]) {
        length += UInt64(bytes.count)
        buffer.append(contentsOf: bytes)
        var start = 0
        while buffer.count - start >= 64 {
            block(buffer[start..<start + 64])
            start += 64
        }
        buffer.removeFirst(start)
    }

    /// Appends ids as little-endian int32 (numpy `<i4`, Python `struct.pack("<i")`).
    mutating func update(int32LE ids: [Int]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids { withUnsafeBytes(of: Int32(id).littleEndian) { bytes.append(contentsOf: $0) } }
        update(bytes)
    }

    mutating func hexDigest() -> String {
        let bits = length * 8
        var pad: [UInt8] = [0x80]
        while (buffer.count + pad.count) % 64 != 56 { pad.append(0) }
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        let saved = length
        update(pad)
        length = saved
        return h.map { String(format: "%08x", $0) }.joined()
    }

    private mutating func block(_ b: ArraySlice<UInt8>) {
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        var w = [UInt32](repeating: 0, count: 64)
        let s = b.startIndex
        for i in 0..<16 {
            w[i] = UInt32(b[s + 4 * i]) << 24 | UInt32(b[s + 4 * i + 1]) << 16 | UInt32(b[s + 4 * i + 2]) << 8 | UInt32(b[s + 4 * i + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, bb, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
        for i in 0..<64 {
            let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ Self.k[i] &+ w[i]
            let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & bb) ^ (a & c) ^ (bb & c))
            (hh, g, f, e, d, c, bb, a) = (g, f, e, d &+ t1, c, bb, a, t1 &+ t2)
        }
        for (i, v) in [a, bb, c, d, e, f, g, hh].enumerated() { h[i] = h[i] &+ v }
    }
}
