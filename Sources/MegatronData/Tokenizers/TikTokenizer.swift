import Foundation

/// Megatron-LM's `--tokenizer-type TikTokenizer` (megatron-core's `TikTokenTokenizer`, formerly
/// `CustomTikTokenizer`): a tiktoken BPE whose ranks are shifted up by `numSpecialTokens`, the
/// ids below holding special tokens.
///
/// Megatron's layout, reproduced exactly: ids `0..<numSpecialTokens` are `specialTokens`
/// (default `<unk> <s> </s> <mask> <pad> <cls> <sep>`, so bos = 1, eod = eos = 2, pad = 4) followed
/// by fillers `<SPECIAL_7>`, `<SPECIAL_8>`, … up to `numSpecialTokens` (default 1000,
/// `--tiktoken-num-special-tokens`); a token of rank r has id `r + numSpecialTokens`; only the
/// first `vocabSize - numSpecialTokens` ranks are kept. Special tokens written in the text encode
/// to their ids (megatron-core's `text_to_ids` passes `allowed_special="all"`).
///
/// Differences, on purpose: Megatron reads only its JSON list (`[{"rank", "token_bytes",
/// "token_str"}]`); this also reads tiktoken's own `.tiktoken` rank files (`base64 rank` lines).
/// The pattern is a `PreTokenizer`: Megatron's `--tiktoken-pattern v1` is `.megatronV1`; its v2
/// (case-aware) is not implemented; `.gpt2` and `.cl100k` are tiktoken's r50k/cl100k patterns. Megatron's `vocab_size` defaults to 131072 and must then match
/// the file; here nil means "all ranks". `numSpecialTokens: 0, specialTokens: []` gives plain
/// tiktoken ids (not a configuration Megatron accepts).
///
///     let tok = try TikTokenizer(rankFile: "gpt2.tiktoken", pattern: .gpt2)
///     tok.encode("Hello world")   // [16496, 1995]: GPT-2's ids + 1000
public struct TikTokenizer: Tokenizer {
    /// Megatron's default special tokens (megatron-core `SPECIAL_TOKENS`).
    public static let defaultSpecialTokens = ["<unk>", "<s>", "</s>", "<mask>", "<pad>", "<cls>", "<sep>"]

    private let bpe: BytePairEncoder
    public let vocabSize: Int
    public let eod: Int?
    public let bos: Int?
    public let pad: Int?
    /// The text of ids `0..<numSpecialTokens`.
    public let specialTokens: [String]

    public init(rankFile: String, pattern: PreTokenizer, vocabSize: Int? = nil, numSpecialTokens: Int = 1000,
                specialTokens: [String] = TikTokenizer.defaultSpecialTokens, allowSpecialTokens: Bool = true) throws {
        guard Set(specialTokens).count == specialTokens.count, specialTokens.count <= numSpecialTokens else {
            throw TokenizerError.file(path: rankFile, message: "special tokens must be unique and at most numSpecialTokens (\(numSpecialTokens))")
        }
        var ranked = try Self.readRanks(rankFile)
        if let vocabSize {
            let inner = vocabSize - numSpecialTokens
            guard inner > 0, inner <= ranked.count else {
                throw TokenizerError.file(path: rankFile, message: "has \(ranked.count) ranks; vocabSize \(vocabSize) - \(numSpecialTokens) special tokens needs \(inner)")
            }
            ranked = Array(ranked.prefix(inner))
        }
        let specials = specialTokens + (specialTokens.count..<numSpecialTokens).map { "<SPECIAL_\($0)>" }
        var tokens: [[UInt8]?] = specials.map { Array($0.utf8) }
        tokens.append(contentsOf: ranked.map { Optional($0) })
        let offset = Int32(numSpecialTokens)

        var index = ByteStringTable(capacity: ranked.count)
        for (rank, bytes) in ranked.enumerated() { index.insert(bytes, value: Int64(rank)) }
        var byteIds = [Int32](repeating: 0, count: 256)
        for b in 0..<256 {
            guard let r = index.find([UInt8(b)]) else {
                throw TokenizerError.file(path: rankFile, message: "has no token for byte \(b)")
            }
            byteIds[b] = Int32(r) + offset
        }
        // tiktoken merges the adjacent pair whose concatenation has the lowest rank: every split
        // of a token into two tokens is such a pair.
        var merges: [(Int32, Int32, Int32, Int32)] = []
        for (rank, bytes) in ranked.enumerated() where bytes.count > 1 {
            bytes.withUnsafeBufferPointer { t in
                for k in 1..<t.count {
                    if let a = index.find(UnsafeBufferPointer(rebasing: t[..<k])),
                       let b = index.find(UnsafeBufferPointer(rebasing: t[k...])) {
                        merges.append((Int32(a) + offset, Int32(b) + offset, Int32(rank) + offset, Int32(rank)))
                    }
                }
            }
        }
        var specialIds: [String: Int] = [:]
        if allowSpecialTokens { for (i, s) in specials.enumerated() { specialIds[s] = i } }
        bpe = BytePairEncoder(tokens: tokens, byteIds: byteIds, merges: merges, directLookup: true,
                              specials: specialIds, preTokenizer: pattern)
        self.vocabSize = tokens.count
        self.specialTokens = specials
        eod = specials.firstIndex(of: "</s>")
        bos = specials.firstIndex(of: "<s>")
        pad = specials.firstIndex(of: "<pad>")
    }

    public func encode(_ text: String) -> [Int] { bpe.encode(text) }
    public func decode(_ ids: [Int]) throws -> String { try bpe.decode(ids) }

    /// Token bytes by rank, from a `.tiktoken` file (`base64 rank` lines) or Megatron's JSON list.
    static func readRanks(_ path: String) throws -> [[UInt8]] {
        var byRank: [Int: [UInt8]] = [:]
        if path.hasSuffix(".json") {
            guard let list = try TokenizerFiles.json(path) as? [[String: Any]] else {
                throw TokenizerError.file(path: path, message: "expected a JSON list of {rank, token_bytes, token_str}")
            }
            for (i, entry) in list.enumerated() {
                guard let rank = entry["rank"] as? Int, let b64 = entry["token_bytes"] as? String,
                      let data = Data(base64Encoded: b64) else {
                    throw TokenizerError.file(path: path, message: "entry \(i): expected rank and base64 token_bytes")
                }
                byRank[rank] = [UInt8](data)
            }
        } else {
            for (number, line) in try TokenizerFiles.lines(path) where !line.isEmpty {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let data = Data(base64Encoded: String(parts[0])), let rank = Int(parts[1]) else {
                    throw TokenizerError.file(path: path, message: "line \(number): expected \"base64token rank\", got \"\(line.prefix(80))\"")
                }
                guard byRank.updateValue([UInt8](data), forKey: rank) == nil else {
                    throw TokenizerError.file(path: path, message: "line \(number): rank \(rank) appears twice")
                }
            }
        }
        // Megatron asserts the ranks are exactly 0..<n; ids depend on it.
        var out: [[UInt8]] = []
        out.reserveCapacity(byRank.count)
        for r in 0..<byRank.count {
            guard let b = byRank[r] else {
                throw TokenizerError.file(path: path, message: "ranks are not 0..<\(byRank.count): \(r) is missing")
            }
            out.append(b)
        }
        return out
    }
}
