import MegatronOptimizer
import MegatronParallel
import MegatronTensor
import MegatronTransformer

/// Megatron's distributed optimizer (`--use-distributed-optimizer`, ZeRO-1) over a
/// data-parallel group. The padded flat buffers are cut into buckets, and each rank owns one
/// piece (1/dp) of every bucket: the gradient buckets are reduce-scattered in place (overlapped
/// with the backward under `--overlap-grad-reduce`), the rank clips by the global norm and runs
/// AdamW on its pieces of the fp32 masters with its own Adam moments, and the updated pieces are
/// all-gathered in the compute dtype (bf16 halves the bytes) into every rank's model weights,
/// bucket by bucket from the embedding up — under `--overlap-param-gather` while the next
/// forward runs, each layer waiting only for its own bucket.
///
/// The fp32 masters outside a rank's pieces are not kept current in 16-bit training (as in
/// Megatron; a checkpoint gathers them).
///
///     let optimizer = try DistributedOptimizer(store: model.store, hyperparameters: adam, group: dp)
///     try optimizer.buckets.finish()                       // after the backward
///     let stats = try optimizer.step(lr: 3e-4, globalSumOfSquares: nil)
///     try optimizer.publishParameters()                    // unless the step was skipped
public final class DistributedOptimizer: @unchecked Sendable {
    // Sendable: fixed at init; called by this rank's training thread only.
    public let group: any ProcessGroup
    /// This rank's piece of each bucket of the padded flat buffers (highest offsets first).
    public let pieces: [Range<Int>]
    let store: ParameterStore
    let buckets: GradientBuckets
    let adams: [AdamW]
    /// Per piece, the flat ranges counted in the global gradient norm.
    let counted: [[Range<Int>]]
    let clipGrad: Float
    let overlapParamGather: Bool
    /// All-gathers in flight, lowest buckets first.
    private var gathers: [(range: Range<Int>, pending: any PendingCollective)] = []

    /// `store` must be padded to a multiple of the group size (``ParameterStore`` `padToMultipleOf`).
    /// `normRanges` are the flat ranges this rank counts in the global gradient norm (nil: all).
    public init(store: ParameterStore, hyperparameters: AdamW.Hyperparameters, group: any ProcessGroup,
                normRanges: [Range<Int>]? = nil, bucketSize: Int? = nil, overlapParamGather: Bool = false) throws {
        let padded = store.paddedGrads.count
        guard padded % group.size == 0 else {
            throw ParallelError.invalidArgument(
                collective: "distributed optimizer", group: group.name,
                message: "parameter buffer of \(padded) elements is not padded to a multiple of \(group.size) ranks")
        }
        self.group = group
        self.store = store
        clipGrad = hyperparameters.clipGrad
        self.overlapParamGather = overlapParamGather
        let b = store.backend
        buckets = GradientBuckets(grads: store.paddedGrads, group: group, backend: b, bucketSize: bucketSize, reduction: .reduceScatter)
        pieces = buckets.ranges.map(buckets.piece)
        counted = pieces.map { piece in
            Self.runs((normRanges ?? [0..<padded]).map { ($0, true) }, within: piece).map { $0.range.shifted(by: piece.lowerBound) }
        }
        adams = try pieces.map { piece in
            try AdamW(params: store.paddedValues.view(offset: piece.lowerBound, shape: [piece.count]),
                      grads: store.paddedGrads.view(offset: piece.lowerBound, shape: [piece.count]),
                      decayRuns: Self.runs(store.layout.decayRuns, within: piece), hyperparameters: hyperparameters, backend: b)
        }
    }

    /// The weight-decay runs that overlap `shard`, clipped to it and made shard-relative.
    static func runs(_ runs: [(range: Range<Int>, weightDecay: Bool)], within shard: Range<Int>) -> [(range: Range<Int>, weightDecay: Bool)] {
        runs.compactMap { run in
            let lower = max(run.range.lowerBound, shard.lowerBound), upper = min(run.range.upperBound, shard.upperBound)
            guard lower < upper else { return nil }
            return (lower - shard.lowerBound..<upper - shard.lowerBound, run.weightDecay)
        }
    }

    /// Clips this rank's reduced gradient pieces by the global norm (summed over the group, then
    /// by `globalSumOfSquares` over the model-parallel ranks) and updates its pieces of the
    /// masters. The buckets' reductions must have finished (``GradientBuckets/finish()``). A
    /// non-finite norm skips the update on every rank alike (the norm is the same everywhere).
    public func step(lr: Float, globalSumOfSquares: ((Double) throws -> Double)? = nil) throws -> AdamW.StepStatistics {
        let b = store.backend
        var local = 0.0
        for range in counted.joined() {
            local += try b.sumOfSquares(store.paddedGrads.view(offset: range.lowerBound, shape: [range.count]))
        }
        let total = try b.tensor([Float(local)], shape: [1])
        try group.allReduce(total, op: .sum)
        let dataParallelSum = Double(try b.download(total)[0])
        let norm = (try globalSumOfSquares?(dataParallelSum) ?? dataParallelSum).squareRoot()
        guard norm.isFinite else { return AdamW.StepStatistics(gradNorm: norm) }
        let coefficient = Double(clipGrad) / (norm + 1e-6)
        for (adam, piece) in zip(adams, pieces) {
            if clipGrad > 0, coefficient < 1 {
                try b.scale(store.paddedGrads.view(offset: piece.lowerBound, shape: [piece.count]), by: Float(coefficient))
            }
            try adam.update(lr: lr)
        }
        return AdamW.StepStatistics(gradNorm: norm)
    }

    /// Makes every rank's compute weights current: each rank rounds its updated pieces into the
    /// compute dtype, and each bucket is all-gathered in place, lowest first. With
    /// `--overlap-param-gather` the gathers are only started; ``waitForParameters(below:)``
    /// waits for them as the next forward reaches each bucket.
    public func publishParameters() throws {
        let b = store.backend
        for piece in pieces where store.paddedComputeValues.storage !== store.paddedValues.storage {
            try b.copy(store.paddedValues.view(offset: piece.lowerBound, shape: [piece.count]),
                       to: store.paddedComputeValues.view(offset: piece.lowerBound, shape: [piece.count]))
        }
        for (range, piece) in zip(buckets.ranges, pieces).reversed() {
            let bucket = try store.paddedComputeValues.view(offset: range.lowerBound, shape: [range.count])
            let mine = try store.paddedComputeValues.view(offset: piece.lowerBound, shape: [piece.count])
            if overlapParamGather {
                gathers.append((range, try group.startAllGather(mine, into: bucket)))
            } else {
                try group.allGather(mine, into: bucket)
            }
        }
    }

    /// Waits for the parameter all-gathers of every bucket starting below flat offset `upper`
    /// (all of them when nil): the forward calls it before using the parameters there.
    public func waitForParameters(below upper: Int? = nil) throws {
        while let first = gathers.first, first.range.lowerBound < (upper ?? Int.max) {
            try first.pending.wait()
            gathers.removeFirst()
        }
    }
}

extension Range<Int> {
    fileprivate func shifted(by offset: Int) -> Range<Int> { lowerBound + offset..<upperBound + offset }
}
