import Foundation
import MegatronData
import Testing

/// tokenizer.json reading and the errors of unusable files.
@Suite("Tokenizer files")
struct TokenizerFileTests {
    @Test(arguments: ["hf_small_strings.tokenizer.json", "hf_small_arrays.tokenizer.json"])
    func huggingFaceMatchesHFTokenizers(_ file: String) throws {
        let tok = try HuggingFaceTokenizer(tokenizerJSON: TokenizerTestFiles.fixtures + "/" + file)
        let cases = try #require(TokenizerTestFiles.fixture("hf_small.expected.json") as? [[String: Any]])
        let docs = try TokenizerTestFiles.shakespeare()
        #expect(cases.count == 49)
        for c in cases {
            let ids = try #require(c["ids"] as? [Int])
            let text = try (c["text"] as? String) ?? docs[#require(c["doc"] as? Int)]
            #expect(tok.encode(text) == ids, "\(text.prefix(60).debugDescription)")
        }
        #expect(tok.eod == tok.vocabSize - 1)
        #expect(tok.encode("<|endoftext|>") == [tok.eod!])
    }

    @Test func malformedMergesNameTheLine() throws {
        let vocab = try TokenizerTestFiles.shared("tokenizers/gpt2/vocab.json")
        let merges = try TokenizerTestFiles.temporaryFile("merges.txt", "#version: 0.2\nĠ t\nĠ a b\n")
        #expect(throws: TokenizerError.file(path: merges, message: "line 3: expected two tokens separated by one space, got \"Ġ a b\"")) {
            try GPT2BPETokenizer(vocabFile: vocab, mergeFile: merges)
        }
        let unknown = try TokenizerTestFiles.temporaryFile("merges.txt", "#version: 0.2\nĠ t\nzzzz qqqq\n")
        do {
            _ = try GPT2BPETokenizer(vocabFile: vocab, mergeFile: unknown)
            Issue.record("an unknown merge was accepted")
        } catch let TokenizerError.file(path, message) {
            #expect(path == unknown && message.hasPrefix("line 3:"))
        }
    }

    @Test func malformedRankFileNamesTheLine() throws {
        let ranks = try TokenizerTestFiles.temporaryFile("bad.tiktoken", "IQ== 0\nIg==1\n")
        #expect(throws: TokenizerError.file(path: ranks, message: "line 2: expected \"base64token rank\", got \"Ig==1\"")) {
            try TikTokenizer(rankFile: ranks, pattern: .gpt2)
        }
    }

    @Test func unreadableFilesNameThePath() throws {
        let missing = "/nonexistent/vocab.json"
        #expect(throws: TokenizerError.file(path: missing, message: "cannot be read")) {
            try GPT2BPETokenizer(vocabFile: missing, mergeFile: missing)
        }
        #expect(throws: TokenizerError.file(path: missing, message: "cannot be read")) {
            try HuggingFaceTokenizer(tokenizerJSON: missing)
        }
        let notJSON = try TokenizerTestFiles.temporaryFile("tokenizer.json", "{\"model\": ")
        do {
            _ = try HuggingFaceTokenizer(tokenizerJSON: notJSON)
            Issue.record("malformed JSON was accepted")
        } catch let TokenizerError.file(path, message) {
            #expect(path == notJSON && message.hasPrefix("is not valid JSON"))
        }
    }

    @Test func otherModelTypesAreRejected() throws {
        let wordPiece = try TokenizerTestFiles.temporaryFile("tokenizer.json", #"{"model": {"type": "WordPiece", "vocab": {}}}"#)
        #expect(throws: TokenizerError.file(path: wordPiece, message: "model.type is WordPiece; only byte-level BPE is supported")) {
            try HuggingFaceTokenizer(tokenizerJSON: wordPiece)
        }
    }
}
