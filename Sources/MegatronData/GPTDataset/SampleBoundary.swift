/// One entry of Megatron's sample index: where a sample starts, as a position in the document
/// index and a token offset into that document. Sample i runs from entry i to entry i + 1
/// (inclusive of the end token when the extra token is added).
public struct SampleBoundary: Equatable, Hashable, Sendable {
    /// Position in the document index (not a document id).
    public var documentIndexPosition: Int
    /// Token offset into that document.
    public var offset: Int

    /// A boundary at token `offset` of the document at `documentIndexPosition`.
    ///
    ///     let start = SampleBoundary(0, 0)
    public init(_ documentIndexPosition: Int, _ offset: Int) {
        self.documentIndexPosition = documentIndexPosition
        self.offset = offset
    }
}
