/// Tokenised documents as Megatron's IndexedDataset holds them: sequences of tokens grouped into
/// documents. ``GPTDataset`` builds its samples from any such source.
public protocol TokenSequences: Sendable {
    /// Tokens in each sequence (Megatron's `sequence_lengths`, `sizes`).
    var sequenceLengths: [Int32] { get }
    /// Document boundaries: document k is sequences `documentIndices[k] ..< documentIndices[k + 1]`
    /// (`documentIndices.first == 0`, `.last == sequenceLengths.count`).
    var documentIndices: [Int] { get }
    /// `count` tokens of sequence `sequence` from `offset` (the rest of it when nil).
    func tokens(sequence: Int, offset: Int, count: Int?) throws -> [Int32]
}
