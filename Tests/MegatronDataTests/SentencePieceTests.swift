import Foundation
import MegatronData
import MegatronTensor
import Testing

/// SentencePieceModel and Megatron's SentencePieceTokenizer against what the `sentencepiece`
/// package answered for the shared Llama-2 model (Fixtures/sentencepiece/llama2.json).
@Suite("SentencePiece tokenizer")
struct SentencePieceTests {
    typealias Support = SentencePieceTestSupport

    @Test func idsMatchSentencepieceOnTrickyStrings() throws {
        let model = try SentencePieceModel(contentsOf: Support.modelPath), fixture = try Support.fixture()
        #expect(model.pieceCount == fixture.pieceSize)
        for c in fixture.cases {
            #expect(model.encode(c.text) == c.ids, "encode(\(c.text.debugDescription))")
            #expect(try model.decode(c.ids) == c.decoded, "decode of \(c.text.debugDescription)")
        }
    }

    @Test func decodeRoundTripsWhereSentencepieceDoes() throws {
        let model = try SentencePieceModel(contentsOf: Support.modelPath), fixture = try Support.fixture()
        for c in fixture.cases where c.roundTrips {
            #expect(try model.decode(model.encode(c.text)) == c.text, "round trip of \(c.text.debugDescription)")
        }
    }

    /// Invalid byte sequences, control, unknown and leading-space pieces decode as sentencepiece's.
    @Test func decodeMatchesSentencepieceOnEdgeIds() throws {
        let model = try SentencePieceModel(contentsOf: Support.modelPath), fixture = try Support.fixture()
        for d in fixture.decodes {
            #expect(try model.decode(d.ids) == d.text, "decode(\(d.ids))")
        }
        #expect(throws: TokenizerError.idOutOfRange(id: model.pieceCount, vocabSize: model.pieceCount)) {
            try model.decode([model.pieceCount])
        }
    }

    @Test func megatronSpecialTokensAndVocabSize() throws {
        let tokenizer = try SentencePieceTokenizer(modelFile: Support.modelPath), expected = try Support.fixture().megatron
        #expect(tokenizer.vocabSize == expected.vocabSize)
        #expect(tokenizer.eod == expected.eod)
        #expect(tokenizer.bos == expected.bos)
        #expect(tokenizer.pad == expected.pad)
        #expect(tokenizer.eos == tokenizer.model.eosId)
        for c in expected.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "tokenize(\(c.text.debugDescription))")
            #expect(try tokenizer.decode(c.ids) == c.detokenized, "detokenize of \(c.text.debugDescription)")
        }
        #expect(throws: TokenizerError.idOutOfRange(id: expected.vocabSize, vocabSize: expected.vocabSize)) {
            try tokenizer.decode([expected.vocabSize])
        }
        let extra = SentencePieceTokenizer(model: tokenizer.model, vocabExtraIds: 3)
        #expect(extra.vocabSize == expected.vocabSize + 3)
        #expect(extra.extraIds == [expected.vocabSize, expected.vocabSize + 1, expected.vocabSize + 2])
    }

    /// A small trained model reaches what Llama's does not: user-defined symbols kept whole,
    /// runs of unknown characters as one <unk> (no byte fallback), extra whitespace removed.
    @Test func tinyModelWithUserSymbolsAndNoByteFallback() throws {
        let (path, fixture) = try Support.tiny()
        let model = try SentencePieceModel(contentsOf: path)
        #expect(model.pieceCount == fixture.pieceSize)
        #expect(model.padId == fixture.padId)
        for c in fixture.cases {
            #expect(model.encode(c.text) == c.ids, "encode(\(c.text.debugDescription))")
            #expect(try model.decode(c.ids) == c.decoded, "decode of \(c.text.debugDescription)")
        }
        let tokenizer = SentencePieceTokenizer(model: model)
        #expect(tokenizer.vocabSize == fixture.megatron.vocabSize)
        #expect(tokenizer.eod == fixture.megatron.eod)
        #expect(tokenizer.bos == fixture.megatron.bos)
        #expect(tokenizer.pad == fixture.megatron.pad)
    }

    /// UNUSED pieces are merged through but emitted as the two symbols they were made of.
    @Test func unusedPiecesAreResegmented() throws {
        let fixture = try Support.tiny().fixture
        let model = try SentencePieceModel(contentsOf: Support.tinyUnusedModelPath())
        var emittedUnused = false
        for c in fixture.unusedCases {
            let ids = model.encode(c.text)
            #expect(ids == c.ids, "encode(\(c.text.debugDescription))")
            #expect(try model.decode(c.ids) == c.decoded, "decode of \(c.text.debugDescription)")
            emittedUnused = emittedUnused || ids.contains(where: fixture.unusedPieces.contains)
        }
        #expect(!emittedUnused)
    }

    /// The first Shakespeare documents: per-document counts and a SHA-256 of all ids (int32 LE).
    @Test func shakespeareIdsMatchDigest() throws {
        let model = try SentencePieceModel(contentsOf: Support.modelPath), expected = try Support.fixture().shakespeare
        let documents = try Support.documents(expected.corpus, count: expected.documents)
        var counts: [Int] = [], bytes: [UInt8] = []
        for document in documents {
            let ids = model.encode(document)
            counts.append(ids.count)
            for id in ids { withUnsafeBytes(of: Int32(id).littleEndian) { bytes += $0 } }
        }
        #expect(counts == expected.counts)
        #expect(SHA256.hexString(SHA256.hash(bytes)) == expected.sha256)
        // A document with no byte-fallback oddities reads back as itself.
        #expect(try model.decode(model.encode(documents[0])) == documents[0])
    }

    /// A long run of two characters (the quadratic case for a rescanning implementation;
    /// the heap keeps it O(n log n)) encodes and reads back.
    @Test func longRepetitiveInputRoundTrips() throws {
        let model = try SentencePieceModel(contentsOf: Support.modelPath)
        let text = String(repeating: "ab", count: 50_000)
        #expect(try model.decode(model.encode(text)) == text)
    }
}
