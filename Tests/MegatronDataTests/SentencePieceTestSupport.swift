import Foundation
import MegatronData

/// Where SentencePiece tests find their inputs: the shared data folder beside the repository
/// (used in place, never copied) and the JSON fixture written by
/// scripts/fixtures/make_sentencepiece_fixtures.py.
enum SentencePieceTestSupport {
    struct MissingInput: Error, CustomStringConvertible {
        var description: String
    }

    /// …/Tests/MegatronDataTests/X.swift → the repository root, three levels up.
    static let sharedData = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/data")

    /// The path of `relative` under ../shared/data, or an error saying the shared folder is missing.
    static func shared(_ relative: String) throws -> String {
        let path = sharedData.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingInput(description: "shared test data missing: \(path) (these tests read ../shared/data beside the repository root)")
        }
        return path
    }

    static var modelPath: String { get throws { try shared("tokenizers/llama2-spm/tokenizer.model") } }

    static func fixture() throws -> SentencePieceFixture {
        guard let url = Bundle.module.url(forResource: "llama2", withExtension: "json", subdirectory: "Fixtures/sentencepiece") else {
            throw MissingInput(description: "fixture Fixtures/sentencepiece/llama2.json is not in the test bundle")
        }
        return try JSONDecoder().decode(SentencePieceFixture.self, from: Data(contentsOf: url))
    }

    /// Tiny-bpe.model and tiny-bpe.json: a small model trained by the fixture script.
    static func tiny() throws -> (modelPath: String, fixture: SentencePieceTinyFixture) {
        guard let model = Bundle.module.url(forResource: "tiny-bpe", withExtension: "model", subdirectory: "Fixtures/sentencepiece"),
              let json = Bundle.module.url(forResource: "tiny-bpe", withExtension: "json", subdirectory: "Fixtures/sentencepiece")
        else { throw MissingInput(description: "fixture Fixtures/sentencepiece/tiny-bpe.{model,json} is not in the test bundle") }
        return (model.path, try JSONDecoder().decode(SentencePieceTinyFixture.self, from: Data(contentsOf: json)))
    }

    static func tinyUnusedModelPath() throws -> String {
        guard let url = Bundle.module.url(forResource: "tiny-bpe-unused", withExtension: "model", subdirectory: "Fixtures/sentencepiece") else {
            throw MissingInput(description: "fixture Fixtures/sentencepiece/tiny-bpe-unused.model is not in the test bundle")
        }
        return url.path
    }

    /// The first `count` documents' "text" of a jsonl corpus.
    static func documents(_ relative: String, count: Int) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try shared(relative)))
        struct Line: Decodable { var text: String }
        return try data.split(separator: UInt8(ascii: "\n")).prefix(count).map {
            try JSONDecoder().decode(Line.self, from: Data($0)).text
        }
    }
}

/// Llama2.json: what the `sentencepiece` package (and Megatron's wrapper) answered.
struct SentencePieceFixture: Decodable {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var decoded: String
        var roundTrips: Bool
    }

    struct Decode: Decodable {
        var ids: [Int]
        var text: String
    }

    struct Megatron: Decodable {
        struct Case: Decodable {
            var text: String
            var ids: [Int]
            var detokenized: String
        }

        var vocabSize: Int
        var eod: Int
        var bos: Int
        var pad: Int
        var cases: [Case]
    }

    struct Shakespeare: Decodable {
        var corpus: String
        var documents: Int
        var counts: [Int]
        var sha256: String
    }

    var pieceSize: Int
    var cases: [Case]
    var decodes: [Decode]
    var megatron: Megatron
    var shakespeare: Shakespeare
}

/// Tiny-bpe.json: user-defined symbols, no byte fallback, remove_extra_whitespaces, a pad piece.
struct SentencePieceTinyFixture: Decodable {
    struct Megatron: Decodable {
        var vocabSize: Int
        var eod: Int
        var bos: Int
        var pad: Int
    }

    var pieceSize: Int
    var padId: Int
    var cases: [SentencePieceFixture.Case]
    var megatron: Megatron
    /// Tiny-bpe-unused.model: the same model with these pieces marked UNUSED, and its answers.
    var unusedPieces: [Int]
    var unusedCases: [SentencePieceFixture.Case]
}

/// SHA-256 (FIPS 180-4), so the test can compare a digest of many ids without a crypto package.
enum SentencePieceSHA256 {
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

    static func hex(_ message: [UInt8]) -> String {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var data = message
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        let bits = UInt64(message.count) * 8
        for i in (0..<8).reversed() { data.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var w = [UInt32](repeating: 0, count: 64)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for t in 0..<16 {
                w[t] = (0..<4).reduce(0) { $0 << 8 | UInt32(data[chunk + 4 * t + $1]) }
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for t in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ w[t]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (i, v) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] &+= v }
        }
        return h.map { word in
            let s = String(word, radix: 16)
            return String(repeating: "0", count: 8 - s.count) + s
        }.joined()
    }
}
