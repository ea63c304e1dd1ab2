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
