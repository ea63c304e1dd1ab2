/// Megatron-LM's `--tokenizer-type GPT2BPETokenizer`: GPT-2's byte-level BPE from `vocab.json`
/// (`--vocab-file`) and `merges.txt` (`--merge-file`). `eod` is the id of `<|endoftext|>`; there is
/// no bos or pad. Like Megatron's (OpenAI's `encoder.py`), `<|endoftext|>` in the text is not
/// special: it is split and merged like any other text.
///
///     let tok = try GPT2BPETokenizer(vocabFile: "gpt2/vocab.json", mergeFile: "gpt2/merges.txt")
///     tok.encode("Hello world")   // [15496, 995]
public struct GPT2BPETokenizer: Tokenizer {
    private let bpe: BytePairEncoder
    public let eod: Int?
    public var bos: Int? { nil }
    public var pad: Int? { nil }
    /// `len(encoder)`, as Megatron reports it.
    public var vocabSize: Int { bpe.vocabSize }

    public init(vocabFile: String, mergeFile: String) throws {
        guard let vocab = try TokenizerFiles.json(vocabFile) as? [String: Int] else {
            throw TokenizerError.file(path: vocabFile, message: "expected a JSON object of token → id")
        }
        var merges: [(String, String)] = [], lines: [Int] = []
        for (number, line) in try TokenizerFiles.lines(mergeFile) {
            // GPT-2's encoder.py skips the first line (`#version: 0.2`) and blank lines.
            if (number == 1 && line.hasPrefix("#version")) || line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.file(path: mergeFile, message: "line \(number): expected two tokens separated by one space, got \"\(line)\"")
            }
            merges.append((String(parts[0]), String(parts[1])))
            lines.append(number)
        }
        bpe = try ByteLevelVocabulary.encoder(vocab: vocab, merges: merges, added: [:], specials: [:],
                                              directLookup: false, preTokenizer: .gpt2,
                                              vocabPath: vocabFile, mergePath: mergeFile, mergeLines: lines)
        eod = vocab["<|endoftext|>"]
    }

    public func encode(_ text: String) -> [Int] { bpe.encode(text) }
    public func decode(_ ids: [Int]) throws -> String { try bpe.decode(ids) }
}
