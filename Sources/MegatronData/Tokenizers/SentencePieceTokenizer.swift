/// Megatron-LM's `--tokenizer-type SentencePieceTokenizer` (`_SentencePieceTokenizer` in
/// megatron/training/tokenizer/tokenizer.py): a SentencePiece model plus Megatron's special
/// tokens `<CLS>`, `<SEP>`, `<EOD>`, `<MASK>`, the pad, bos and eos pieces (`<PAD>`, `<BOS>`,
/// `<EOS>` when the model has none) and `vocabExtraIds` `<extra_id_i>` tokens, each appended to
/// the vocabulary unless the model already has that piece. So for Llama 2's model the vocabulary
/// is 32005, `eod` is the added `<EOD>` (32002, not `</s>`), `bos` is `<s>` (1) and `pad` is the
/// added `<PAD>` (32004).
///
///     let tokenizer = try SentencePieceTokenizer(modelFile: "tokenizer.model")
///     let ids = tokenizer.encode("first<EOD>second")   // the pieces of "first", 32002, those of "second"
///     let text = try tokenizer.decode(ids)             // "first <EOD> second"
///
/// As Megatron's `tokenize`, `encode` cuts the text at special-token strings, encodes the parts
/// with sentencepiece and puts the special ids between them; `decode` (Megatron's `detokenize`)
/// writes a special token as " token " between the decoded parts.
public struct SentencePieceTokenizer: Tokenizer {
    /// The underlying SentencePiece model (plain `sp.encode` / `sp.decode`).
    public let model: SentencePieceModel
    public let vocabSize: Int
    public let eod: Int?
    public let bos: Int?
    public let pad: Int?
    public let eos: Int
    public let cls: Int
    public let sep: Int
    public let mask: Int
    /// The `<extra_id_i>` ids (Megatron's `additional_special_tokens_ids`).
    public let extraIds: [Int]
    /// Special tokens in Megatron's insertion order, which breaks ties in `encode`.
    public let specialTokens: [(token: String, id: Int)]
    /// Id → token for the special ids (a later token with the same id wins, as in Megatron).
    private let specialById: [Int: String]

    /// Reads the model at `modelFile` (`--tokenizer-model`); `vocabExtraIds` is
    /// `--vocab-extra-ids`.
    public init(modelFile: String, vocabExtraIds: Int = 0) throws {
        try self.init(model: SentencePieceModel(contentsOf: modelFile), vocabExtraIds: vocabExtraIds)
    }

    public init(model: SentencePieceModel, vocabExtraIds: Int = 0) {
        self.model = model
        var added: [String: Int] = [:], order: [String] = [], ids: [String: Int] = [:]
        var size = model.pieceCount
        func add(_ token: String) -> Int {
            let id: Int
            if let existing = model.id(ofPiece: token) ?? added[token] {
                id = existing
            } else {
                id = size
                added[token] = id
                size += 1
            }
            if ids[token] == nil { order.append(token) }
            ids[token] = id
            return id
        }
        // `sp.id_to_piece(-1)` raises IndexError, so a missing pad/bos/eos gets Megatron's fallback.
        func piece(_ id: Int?, fallback: String) -> String { id.flatMap(model.piece) ?? fallback }
        cls = add("<CLS>")
        sep = add("<SEP>")
        eod = add("<EOD>")
        mask = add("<MASK>")
        pad = add(piece(model.padId, fallback: "<PAD>"))
        bos = add(piece(model.bosId, fallback: "<BOS>"))
        eos = add(piece(model.eosId, fallback: "<EOS>"))
        extraIds = (0..<max(vocabExtraIds, 0)).map { add("<extra_id_\($0)>") }
        vocabSize = size
        specialTokens = order.map { ($0, ids[$0]!) }
        specialById = Dictionary(specialTokens.map { ($0.id, $0.token) }, uniquingKeysWith: { _, later in later })
    }

    /// Megatron's `tokenize`: special-token strings become their ids, the text between them is
    /// encoded on its own (each part gets sentencepiece's dummy prefix).
    public func encode(_ text: String) -> [Int] {
        let bytes = Array(text.utf8)
        let tokens = specialTokens.map { (bytes: Array($0.token.utf8), id: $0.id) }
        // Most bytes start no token; checking the first byte skips them cheaply.
        var startsToken = [Bool](repeating: false, count: 256)
        for token in tokens { if let first = token.bytes.first { startsToken[Int(first)] = true } }
        var ids: [Int] = [], partStart = 0, i = 0
        // The earliest occurrence of any token; at one position the first token in order wins
        // (Python's `min` over the insertion-ordered dict). Valid UTF-8 needles only match at
        // character boundaries, so byte positions give the same cuts as Python's code points.
        while i < bytes.count {
            guard startsToken[Int(bytes[i])] else {
                i += 1
                continue
            }
            let match = tokens.first { token in
                token.bytes.count <= bytes.count - i && bytes[i..<(i + token.bytes.count)].elementsEqual(token.bytes)
            }
            if let match {
                ids += model.encode(utf8: bytes[partStart..<i])
                ids.append(match.id)
                i += match.bytes.count
                partStart = i
            } else {
                i += 1
            }
        }
        ids += model.encode(utf8: bytes[partStart...])
        return ids
    }

    /// Megatron's `detokenize`: each special id is written as its token with a space on both
    /// sides, the ids between them decoded by sentencepiece.
    public func decode(_ ids: [Int]) throws -> String {
        var text = "", partStart = 0
        for (i, id) in ids.enumerated() {
            guard (0..<vocabSize).contains(id) else { throw TokenizerError.idOutOfRange(id: id, vocabSize: vocabSize) }
            if let token = specialById[id] {
                text += try model.decode(ids[partStart..<i]) + " " + token + " "
                partStart = i + 1
            }
        }
        return text + (try model.decode(ids[partStart...]))
    }
}
