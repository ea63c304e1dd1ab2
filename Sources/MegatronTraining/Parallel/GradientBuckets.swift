import MegatronParallel
import MegatronTensor

/// Megatron DDP's gradient reduction: the flat gradient buffer is cut into buckets from the top
/// (later layers first, the order the backward finishes them). With `--overlap-grad-reduce`
/// each bucket's all-reduce starts as soon as the last micro-batch's backward has completed
/// every gradient in it, overlapping the rest of the backward; without, one bucket covers the
/// buffer and ``finish()`` reduces it after the backward.
///
///     let buckets = GradientBuckets(grads: store.grads, group: dp, backend: b)
///     try model.backward(state, gradientScale: s, gradientsFinal: buckets.gradientsFinal)
///     try buckets.finish()   // before the optimizer step
final class GradientBuckets {
    let grads: Tensor
    let group: any ProcessGroup
    let backend: any Backend
    /// Bucket ranges of the flat buffer, highest offsets first.
    let ranges: [Range<Int>]
    private var next = 0
    private var pending: [any PendingCollective] = []

    /// Megatron's default bucket size: max(40M, 1M · dp) elements.
    static func defaultBucketSize(dataParallelSize dp: Int) -> Int { max(40_000_000, 1_000_000 * dp) }

    init(grads: Tensor, group: any ProcessGroup, backend: any Backend, bucketSize: Int? = nil) {
        self.grads = grads
        self.group = group
        self.backend = backend
        let size = max(1, bucketSize ?? Self.defaultBucketSize(dataParallelSize: group.size))
        var ranges: [Range<Int>] = []
        var upper = grads.count
        while upper > 0 {
            let lower = max(0, upper - size)
            ranges.append(lower..<upper)
            upper = lower
        }
        self.ranges = ranges
    }

    /// Every gradient at flat offset ≥ `offset` is complete: starts each bucket lying there.
    func gradientsFinal(from offset: Int) throws {
        while next < ranges.count, ranges[next].lowerBound >= offset {
            let range = ranges[next]
            let bucket = try grads.view(offset: range.lowerBound, shape: [range.count])
            // Megatron's DDP: scale by 1/dp, then sum.
            try backend.scale(bucket, by: 1 / Float(group.size))
            pending.append(try group.startAllReduce(bucket, op: .sum))
            next += 1
        }
    }

    /// Starts whatever is left and orders later work after every bucket's reduction.
    func finish() throws {
        try gradientsFinal(from: 0)
        for p in pending { try p.wait() }
        pending.removeAll()
        next = 0
    }
}
