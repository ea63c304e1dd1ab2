import MegatronOptimizer
import MegatronParallel
import MegatronTensor
import MegatronTransformer

/// Megatron's distributed optimizer (`--use-distributed-optimizer`, ZeRO-1) over a
/// data-parallel group: the flat gradient buffer is reduce-scattered so each rank holds the
/// averaged gradients of its contiguous shard; the rank clips by the global norm (summed over
/// the group), runs AdamW on its shard of the fp32 masters with its shard of the Adam moments,
/// and the updated shards are all-gathered into every rank's full master buffer.
///
///     let optimizer = try DistributedOptimizer(store: model.store, hyperparameters: adam, group: dp)
///     let stats = try optimizer.step(lr: 3e-4)   // after the backward of every micro-batch
public final class DistributedOptimizer: @unchecked Sendable {
    // Sendable: fixed at init; `step` is called by this rank's training thread only.
    public let group: any ProcessGroup
    /// This rank's range of the padded flat buffers.
    public let shard: Range<Int>
    let store: ParameterStore
    let adam: AdamW
    let shardGrads: Tensor   // [shard.count]: the averaged gradients of this shard
    let gatherSource: Tensor // [shard.count]: the updated shard, copied out for the all-gather

    /// `store` must be padded to a multiple of the group size (``ParameterStore`` `padToMultipleOf`).
    /// `normRanges` are the flat ranges this rank counts in the global gradient norm (nil: all).
    public init(store: ParameterStore, hyperparameters: AdamW.Hyperparameters, group: any ProcessGroup,
                normRanges: [Range<Int>]? = nil) throws {
        let padded = store.paddedGrads.count
        guard padded % group.size == 0 else {
            throw ParallelError.invalidArgument(
                collective: "distributed optimizer", group: group.name,
                message: "parameter buffer of \(padded) elements is not padded to a multiple of \(group.size) ranks")
        }
        let size = padded / group.size
        let shard = group.rank * size..<(group.rank + 1) * size
        self.shard = shard
        self.group = group
        self.store = store
        let b = store.backend
        shardGrads = try b.zeros([size], dtype: .fp32)
        gatherSource = try b.empty([size], dtype: .fp32)
        adam = try AdamW(params: try store.paddedValues.view(offset: shard.lowerBound, shape: [size]), grads: shardGrads,
                         decayRuns: Self.runs(store.layout.decayRuns, within: shard),
                         normRanges: normRanges.map { ranges in Self.runs(ranges.map { ($0, true) }, within: shard).map(\.range) },
                         hyperparameters: hyperparameters, backend: b)
    }

    /// The weight-decay runs that overlap `shard`, clipped to it and made shard-relative.
    static func runs(_ runs: [(range: Range<Int>, weightDecay: Bool)], within shard: Range<Int>) -> [(range: Range<Int>, weightDecay: Bool)] {
        runs.compactMap { run in
            let lower = max(run.range.lowerBound, shard.lowerBound), upper = min(run.range.upperBound, shard.upperBound)
            guard lower < upper else { return nil }
            return (lower - shard.lowerBound..<upper - shard.lowerBound, run.weightDecay)
        }
    }

    /// Averages the gradients over the group (each rank keeps its shard), clips by the global
    /// norm (summed over the group, then by `globalSumOfSquares` over the model-parallel ranks),
    /// updates this shard and all-gathers the masters. A non-finite norm skips the update on
    /// every rank alike (the norm is the same everywhere).
    public func step(lr: Float, globalSumOfSquares: ((Double) throws -> Double)? = nil) throws -> AdamW.StepStatistics {
        let b = store.backend
        // Megatron's DDP: scale by 1/dp, then sum.
        try b.scale(store.paddedGrads, by: 1 / Float(group.size))
        try group.reduceScatter(store.paddedGrads, into: shardGrads, op: .sum)
        let stats = try adam.step(lr: lr) { local in
            let total = try b.tensor([Float(local)], shape: [1])
            try self.group.allReduce(total, op: .sum)
            let dataParallelSum = Double(try b.download(total)[0])
            return try globalSumOfSquares?(dataParallelSum) ?? dataParallelSum
        }
        guard stats.gradNorm.isFinite else { return stats }
        try b.copy(adam.params, to: gatherSource)
        try group.allGather(gatherSource, into: store.paddedValues)
        return stats
    }
}
