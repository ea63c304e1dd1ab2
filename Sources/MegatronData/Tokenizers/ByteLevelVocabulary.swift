/// Builds a `BytePairEncoder` from a vocabulary spelled in GPT-2's byte-level alphabet (vocab.json,
/// HF tokenizer.json) and its merges, checking that every merge names known tokens.
enum ByteLevelVocabulary {
    /// - Parameters:
    ///   - vocab: byte-level token text → id.
    ///   - merges: pairs in rank order (the rank is the index).
    ///   - added: added-token text → id, decoded as their UTF-8 rather than through the alphabet.
    ///   - specials: text recognized whole in the input (usually `added`).
    ///   - mergeLines: the file line of each merge, for errors (nil: name its index).
    static func encoder(vocab: [String: Int], merges: [(String, String)], added: [String: Int],
                        specials: [String: Int], directLookup: Bool, preTokenizer: PreTokenizer,
                        vocabPath: String, mergePath: String, mergeLines: [Int]? = nil) throws -> BytePairEncoder {
        let size = max(vocab.values.max() ?? -1, added.values.max() ?? -1) + 1
        var tokens = [[UInt8]?](repeating: nil, count: size)
        for (text, id) in vocab {
            guard id >= 0 else { throw TokenizerError.file(path: vocabPath, message: "token \"\(text)\" has negative id \(id)") }
            // A token outside the byte alphabet can only be an added token, spelled as its text.
            tokens[id] = ByteLevelAlphabet.decode(text) ?? Array(text.utf8)
        }
        for (text, id) in added where id >= 0 { tokens[id] = Array(text.utf8) }
        var byteIds = [Int32](repeating: 0, count: 256)
        for b in 0..<256 {
            let ch = String(ByteLevelAlphabet.character(for: UInt8(b)))
            guard let id = vocab[ch] else {
                throw TokenizerError.file(path: vocabPath, message: "has no token for byte \(b) (\"\(ch)\"), so it is not a byte-level vocabulary")
            }
            byteIds[b] = Int32(id)
        }
        var triples: [(Int32, Int32, Int32, Int32)] = []
        triples.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b], let ic = vocab[a + b] else {
                throw TokenizerError.file(path: mergePath, message: "\(mergeLines.map { "line \($0[rank])" } ?? "merges[\(rank)]"): merge \"\(a) \(b)\" names a token that is not in the vocabulary")
            }
            triples.append((Int32(ia), Int32(ib), Int32(ic), Int32(rank)))
        }
        return BytePairEncoder(tokens: tokens, byteIds: byteIds, merges: triples, directLookup: directLookup,
                               specials: specials, preTokenizer: preTokenizer)
    }
}
