/// One model chunk of one pipeline rank: a virtual pipeline stage. With `v` chunks per rank and
/// `pp` ranks, the model runs through the stages in the order chunk 0 of ranks 0…pp−1, then
/// chunk 1 of ranks 0…pp−1, and so on; `virtualIndex` is the position in that order.
///
///     let stage = PipelineStage(rank: 1, chunk: 1)
///     stage.virtualIndex(pipelineSize: 4)   // 5
public struct PipelineStage: Hashable, Sendable, CustomStringConvertible {
    public let rank: Int
    public let chunk: Int

    public init(rank: Int, chunk: Int) {
        self.rank = rank
        self.chunk = chunk
    }

    /// The stage's position in the model: `chunk · pipelineSize + rank`.
    public func virtualIndex(pipelineSize: Int) -> Int { chunk * pipelineSize + rank }

    public var description: String { "rank \(rank) chunk \(chunk)" }
}
