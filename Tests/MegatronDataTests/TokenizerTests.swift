import Foundation
import MegatronData
import MegatronTensor
import Testing

/// GPT-2-family tokenizers against the references: llama.cpp's GPT-2 vectors, tiktoken's ids for
/// all of Shakespeare, and the `regex` module's splits with tiktoken's patterns (fixtures from
/// scripts/fixtures/make_tokenizer_fixtures.py).
@Suite("Byte-level BPE tokenizers")
struct TokenizerTests {
    static func gpt2() throws -> GPT2BPETokenizer {
        try GPT2BPETokenizer(vocabFile: TokenizerTestFiles.shared("tokenizers/gpt2/vocab.json"),
                             mergeFile: TokenizerTestFiles.shared("tokenizers/gpt2/merges.txt"))
    }

    /// Plain tiktoken ids (no Megatron special-token offset).
    static func tiktokenPlain() throws -> TikTokenizer {
        try TikTokenizer(rankFile: TokenizerTestFiles.shared("tokenizers/gpt2/gpt2.tiktoken"), pattern: .gpt2,
                         numSpecialTokens: 0, specialTokens: [])
    }

    @Test func gpt2MatchesTheVectors() throws {
        let tok = try Self.gpt2()
        let vectors = try TokenizerTestFiles.gpt2Vectors()
        #expect(vectors.count == 46)
        for (text, ids) in vectors {
            #expect(tok.encode(text) == ids, "\(text.debugDescription)")
            #expect(try tok.decode(ids) == text)
        }
        #expect(tok.vocabSize == 50257)
        #expect(tok.eod == 50256)
        #expect(tok.bos == nil && tok.pad == nil)
        #expect(tok.encode("Hello world") == [15496, 995])
    }

    @Test func tiktokenMatchesTheVectors() throws {
        let tok = try Self.tiktokenPlain()
        for (text, ids) in try TokenizerTestFiles.gpt2Vectors() {
            #expect(tok.encode(text) == ids, "\(text.debugDescription)")
            #expect(try tok.decode(ids) == text)
        }
        #expect(tok.vocabSize == 50256)
    }

    @Test func tiktokenHasMegatronsSpecialTokenLayout() throws {
        let tok = try TikTokenizer(rankFile: TokenizerTestFiles.shared("tokenizers/gpt2/gpt2.tiktoken"), pattern: .gpt2)
        #expect(tok.vocabSize == 1000 + 50256)
        #expect(tok.bos == 1 && tok.eod == 2 && tok.pad == 4)
        #expect(tok.specialTokens.prefix(7) == ["<unk>", "<s>", "</s>", "<mask>", "<pad>", "<cls>", "<sep>"])
        #expect(tok.specialTokens[7] == "<SPECIAL_7>" && tok.specialTokens[999] == "<SPECIAL_999>")
        for (text, ids) in try TokenizerTestFiles.gpt2Vectors() {
            #expect(tok.encode(text) == ids.map { $0 + 1000 })
        }
        // Special tokens in the text are recognized (megatron-core's allowed_special="all").
        #expect(tok.encode("<s>Hello world</s>") == [1, 16496, 1995, 2])
        #expect(try tok.decode([1, 16496, 1995, 2, 17]) == "<s>Hello world</s><SPECIAL_17>")
        // vocabSize truncates the ranks, as Megatron's max_vocab does.
        let small = try TikTokenizer(rankFile: TokenizerTestFiles.shared("tokenizers/gpt2/gpt2.tiktoken"), pattern: .gpt2,
                                     vocabSize: 1300)
        #expect(small.vocabSize == 1300)
        #expect(throws: TokenizerError.idOutOfRange(id: 1300, vocabSize: 1300)) { try small.decode([1300]) }
        #expect(small.encode("Hello world").allSatisfy { $0 < 1300 })
    }

    @Test func shakespeareMatchesTiktoken() throws {
        let expected = try #require(TokenizerTestFiles.fixture("shakespeare_gpt2.json") as? [String: Any])
        let counts = try #require(expected["counts"] as? [Int])
        let docs = try TokenizerTestFiles.shakespeare()
        #expect(docs.count == 1581 && counts.count == 1581)
        for tok in [try Self.gpt2() as any Tokenizer, try Self.tiktokenPlain()] {
            var digest = SHA256()
            var wrongCounts = 0
            for (i, doc) in docs.enumerated() {
                let ids = try tok.encode(doc)
                if ids.count != counts[i] { wrongCounts += 1 }
                for id in ids { withUnsafeBytes(of: Int32(id).littleEndian) { digest.update($0) } }
                if i < 20 { #expect(try tok.decode(ids) == doc) }
            }
            #expect(wrongCounts == 0, "\(type(of: tok))")
            #expect(SHA256.hexString(digest.finalize()) == expected["sha256"] as? String, "\(type(of: tok))")
        }
    }

    @Test(arguments: PreTokenizer.allCases)
    func preTokenizerMatchesTiktokensPattern(_ pattern: PreTokenizer) throws {
        let cases = try #require(TokenizerTestFiles.fixture("pretokenize.json") as? [[String: Any]])
        #expect(cases.count > 20)
        for c in cases {
            let text = try #require(c["text"] as? String)
            let want = try #require(c[pattern.rawValue] as? [String])
            #expect(pattern.pieces(text) == want, "\(text.debugDescription)")
        }
    }

    @Test func roundTripsEveryTokenizer() throws {
        let hf = try HuggingFaceTokenizer(tokenizerJSON: TokenizerTestFiles.fixtures + "/hf_small_strings.tokenizer.json")
        let cl = try TikTokenizer(rankFile: TokenizerTestFiles.shared("tokenizers/gpt2/gpt2.tiktoken"), pattern: .cl100k)
        let texts = try TokenizerTestFiles.gpt2Vectors().map(\.text) + TokenizerTestFiles.shakespeare().prefix(5)
            + ["", "\u{0}\u{1F}\u{7F}", "😀👍🏽🇺🇸 \r\n\t x", "<|endoftext|> in text"]
        for tok in [try Self.gpt2() as any Tokenizer, try Self.tiktokenPlain(), hf, cl] {
            for text in texts { #expect(try tok.decode(tok.encode(text)) == text, "\(type(of: tok)) \(text.debugDescription)") }
        }
    }

    @Test func decodeReplacesInvalidUTF8LikeTiktoken() throws {
        let tok = try Self.tiktokenPlain(), gpt2 = try Self.gpt2()
        let cases = try #require(TokenizerTestFiles.fixture("decode_replace.json") as? [[String: Any]])
        #expect(cases.contains { ($0["text"] as? String)?.contains("\u{FFFD}") == true })
        for c in cases {
            let ids = try #require(c["ids"] as? [Int]), text = try #require(c["text"] as? String)
            #expect(try tok.decode(ids) == text)
            #expect(try gpt2.decode(ids) == text)
        }
    }

    @Test func idsOutsideTheVocabularyThrow() throws {
        let tok = try Self.gpt2()
        #expect(throws: TokenizerError.idOutOfRange(id: 50257, vocabSize: 50257)) { try tok.decode([50257]) }
        #expect(throws: TokenizerError.idOutOfRange(id: -1, vocabSize: 50257)) { try tok.decode([-1]) }
    }

    @Test func nullTokenizerIsMegatronCores() throws {
        let tok = NullTokenizer(vocabSize: 1000)
        #expect(tok.vocabSize == 1000 && tok.eod == 999 && tok.pad == nil && tok.bos == nil)
        #expect(try tok.encode("5 17 999") == [5, 17, 999])
        #expect(try tok.encode("") == [])
        #expect(throws: TokenizerError.notAnID("x7")) { try tok.encode("5 x7") }
        #expect(try tok.decode([5, 17, 999]) == "5 17 999")
        #expect(throws: TokenizerError.idOutOfRange(id: 1000, vocabSize: 1000)) { try tok.decode([1000]) }
        #expect(NullTokenizer(vocabSize: 10, eod: 3, pad: 4).eod == 3)
    }
}
