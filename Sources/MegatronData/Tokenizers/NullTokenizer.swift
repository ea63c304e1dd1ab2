/// Megatron-LM's `--tokenizer-type NullTokenizer` (megatron-core's
/// `tokenizers/text/libraries/null_tokenizer.py`), for benchmarks and debugging: the text is the
/// ids themselves, written as decimal integers separated by spaces. `vocabSize` is as given; eod is
/// `vocabSize - 1` unless set (`--null-tokenizer-eod-id`); pad is none unless set (Megatron's -1).
/// (The removed legacy `_NullTokenizer` instead reported `vocab_size + 1` with eod = `vocab_size`.)
///
///     let tok = NullTokenizer(vocabSize: 1000)
///     tok.encode("5 17 999")   // [5, 17, 999]; tok.eod == 999
public struct NullTokenizer: Tokenizer {
    public let vocabSize: Int
    public let eod: Int?
    public var bos: Int? { nil }
    public let pad: Int?

    public init(vocabSize: Int, eod: Int? = nil, pad: Int? = nil) {
        self.vocabSize = vocabSize
        self.eod = eod ?? vocabSize - 1
        self.pad = pad
    }

    /// The integers of `text`. Megatron splits on single spaces (`text.split(' ')`); runs of
    /// whitespace are accepted here too. A piece that is not an integer throws, as Megatron's
    /// `int(x)` raises.
    public func encode(_ text: String) throws -> [Int] {
        try text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map { piece in
            guard let id = Int(piece) else { throw TokenizerError.notAnID(String(piece)) }
            return id
        }
    }

    /// The ids joined by single spaces.
    public func decode(_ ids: [Int]) throws -> String {
        for id in ids where id < 0 || id >= vocabSize { throw TokenizerError.idOutOfRange(id: id, vocabSize: vocabSize) }
        return ids.map(String.init).joined(separator: " ")
    }
}
