import Foundation

/// Megatron-LM's `--tokenizer-type HuggingFaceTokenizer` for a `tokenizer.json` whose model is a
/// byte-level BPE (GPT-2, RoBERTa, Llama 3, Qwen…): `model.vocab`, `model.merges` ("a b" strings
/// or [a, b] arrays), `added_tokens` recognized whole in the text, and a ByteLevel pre-tokenizer
/// (GPT-2 pattern), or a Split with cl100k's pattern before a ByteLevel without regex.
///
/// Not applied: normalizers (a non-null one is an error), post-processors (the protocol's
/// `encode` adds no special tokens) and added tokens' lstrip/rstrip flags. Megatron takes eod,
/// bos and pad from `tokenizer_config.json`; without it they are the first added token named
/// like one (`<|endoftext|>`, `</s>`, `<|end_of_text|>`, `<eos>`; `<s>`, `<|begin_of_text|>`,
/// `<bos>`; `<pad>`, `<|pad|>`), or the names given.
///
///     let tok = try HuggingFaceTokenizer(tokenizerJSON: "gpt2/tokenizer.json")
///     tok.encode("Hello world")   // [15496, 995]
public struct HuggingFaceTokenizer: Tokenizer {
    private let bpe: BytePairEncoder
    /// `len(tokenizer)`: the largest id + 1.
    public var vocabSize: Int { bpe.vocabSize }
    public let eod: Int?
    public let bos: Int?
    public let pad: Int?
    private let addPrefixSpace: Bool

    public init(tokenizerJSON path: String, eodToken: String? = nil, bosToken: String? = nil, padToken: String? = nil) throws {
        let root = try TokenizerFiles.json(path)
        let model = try TokenizerFiles.field(root, "model", as: [String: Any].self, path: path, in: "the file")
        let type = model["type"] as? String ?? "(none)"
        guard type == "BPE" else {
            throw TokenizerError.file(path: path, message: "model.type is \(type); only byte-level BPE is supported")
        }
        if let prefix = model["continuing_subword_prefix"] as? String, !prefix.isEmpty {
            throw TokenizerError.file(path: path, message: "model.continuing_subword_prefix is set; only byte-level BPE is supported")
        }
        if let suffix = model["end_of_word_suffix"] as? String, !suffix.isEmpty {
            throw TokenizerError.file(path: path, message: "model.end_of_word_suffix is set; only byte-level BPE is supported")
        }
        if let dict = root as? [String: Any], let normalizer = dict["normalizer"], !(normalizer is NSNull) {
            throw TokenizerError.file(path: path, message: "has a normalizer (\((normalizer as? [String: Any])?["type"] ?? "?")); only none is supported")
        }
        let vocab = try TokenizerFiles.field(model, "vocab", as: [String: Int].self, path: path, in: "model")
        let rawMerges = try TokenizerFiles.field(model, "merges", as: [Any].self, path: path, in: "model")
        var merges: [(String, String)] = []
        merges.reserveCapacity(rawMerges.count)
        for (i, m) in rawMerges.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.file(path: path, message: "model.merges[\(i)]: expected \"a b\", got \"\(s)\"")
                }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw TokenizerError.file(path: path, message: "model.merges[\(i)]: expected \"a b\" or [a, b]")
            }
        }
        var added: [String: Int] = [:]
        for (i, entry) in ((root as? [String: Any])?["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            guard let content = entry["content"] as? String, let id = entry["id"] as? Int else {
                throw TokenizerError.file(path: path, message: "added_tokens[\(i)]: expected content and id")
            }
            added[content] = id
        }
        let (preTokenizer, prefixSpace) = try Self.preTokenizer((root as? [String: Any])?["pre_tokenizer"], path: path)
        addPrefixSpace = prefixSpace
        bpe = try ByteLevelVocabulary.encoder(vocab: vocab, merges: merges, added: added, specials: added,
                                              directLookup: model["ignore_merges"] as? Bool ?? false,
                                              preTokenizer: preTokenizer, vocabPath: path, mergePath: path)
        func named(_ given: String?, _ candidates: [String]) -> Int? {
            if let given { return added[given] ?? vocab[given] }
            return candidates.lazy.compactMap { added[$0] }.first
        }
        eod = named(eodToken, ["<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>"])
        bos = named(bosToken, ["<s>", "<|begin_of_text|>", "<bos>"])
        pad = named(padToken, ["<pad>", "<|pad|>"])
    }

    /// The split pattern and `add_prefix_space` of the pre-tokenizer, or an error naming it.
    private static func preTokenizer(_ spec: Any?, path: String) throws -> (PreTokenizer, Bool) {
        let unsupported = TokenizerError.file(path: path, message: "pre_tokenizer must be ByteLevel, or Split (GPT-2 or cl100k pattern) then ByteLevel")
        guard let spec = spec as? [String: Any], let type = spec["type"] as? String else { throw unsupported }
        if type == "ByteLevel" {
            guard spec["use_regex"] as? Bool ?? true else { throw unsupported }
            return (.gpt2, spec["add_prefix_space"] as? Bool ?? false)
        }
        guard type == "Sequence", let steps = spec["pretokenizers"] as? [[String: Any]], steps.count == 2,
              steps[0]["type"] as? String == "Split", steps[1]["type"] as? String == "ByteLevel",
              !(steps[1]["use_regex"] as? Bool ?? true),
              let pattern = (steps[0]["pattern"] as? [String: Any])?["Regex"] as? String else { throw unsupported }
        let known: [String: PreTokenizer] = [
            #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#: .gpt2,
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .cl100k,
        ]
        guard let p = known[pattern] else {
            throw TokenizerError.file(path: path, message: "pre_tokenizer Split pattern \(pattern) is not GPT-2's or cl100k's")
        }
        return (p, steps[1]["add_prefix_space"] as? Bool ?? false)
    }

    public func encode(_ text: String) -> [Int] {
        // HF ByteLevel's add_prefix_space: a leading space unless the text starts with one.
        if addPrefixSpace, !text.isEmpty, !text.hasPrefix(" ") { return bpe.encode(" " + text) }
        return bpe.encode(text)
    }

    public func decode(_ ids: [Int]) throws -> String { try bpe.decode(ids) }
}
