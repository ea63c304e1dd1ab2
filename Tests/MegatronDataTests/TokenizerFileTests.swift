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

/// Megatron's own tiktoken vocabulary format and concurrent use of one tokenizer.
@Suite("Tokenizer formats and concurrency")
struct TokenizerFormatTests {
    @Test func tiktokenReadsMegatronsJSONRanks() throws {
        // Megatron's reload_mergeable_ranks: [{rank, token_bytes (base64), token_str}], rank i < 256 is byte i.
        var entries = (0..<256).map { b in
            "{\"rank\": \(b), \"token_bytes\": \"\(Data([UInt8(b)]).base64EncodedString())\", \"token_str\": \"\"}"
        }
        for (r, t) in [(256, "ab"), (257, "abc")] {
            entries.append("{\"rank\": \(r), \"token_bytes\": \"\(Data(t.utf8).base64EncodedString())\", \"token_str\": \"\(t)\"}")
        }
        let path = try TokenizerTestFiles.temporaryFile("vocab.json", "[" + entries.joined(separator: ",") + "]")
        let tok = try TikTokenizer(rankFile: path, pattern: .megatronV1)
        #expect(tok.vocabSize == 1258)
        #expect(tok.encode("abc abd") == [1257, 1000 + 32, 1256, 1000 + 100])
        #expect(try tok.decode(tok.encode("abc abd</s>")) == "abc abd</s>")
    }

    @Test func oneTokenizerEncodesConcurrently() async throws {
        let tok = try TokenizerTests.gpt2()
        let docs = Array(try TokenizerTestFiles.shakespeare().prefix(64))
        let sequential = docs.map { tok.encode($0) }
        let concurrent = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (i, d) in docs.enumerated() { group.addTask { (i, tok.encode(d)) } }
            var out = [[Int]](repeating: [], count: docs.count)
            for await (i, ids) in group { out[i] = ids }
            return out
        }
        #expect(concurrent == sequential)
    }
}
