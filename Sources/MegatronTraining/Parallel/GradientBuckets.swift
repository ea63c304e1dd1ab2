import MegatronParallel
import MegatronTensor

/// Megatron DDP's gradient reduction: the flat gradient buffer is cut into buckets from the top
/// (later layers first, the order the backward finishes them). With `--overlap-grad-reduce`
/// each bucket's reduction starts as soon as the last micro-batch's backward has completed
/// every gradient in it, overlapping the rest of the backward; without, ``finish()`` reduces
/// them after the backward.
///
/// A bucket is all-reduced (plain data parallelism) or, for the distributed optimizer,
/// reduce-scattered in place: member r of the group then holds the reduced gradients of its
/// piece, the r-th of `size` equal parts of every bucket (``piece(of:)``).
///
///     let buckets = GradientBuckets(grads: store.grads, group: dp, backend: b)
///     try model.backward(state, gradientScale: s, gradientsFinal: buckets.gradientsFinal)
///     try buckets.finish()   // before the optimizer step
final class GradientBuckets {
    enum Reduction { case allReduce, reduceScatter }

    let grads: Tensor
    let group: any ProcessGroup
    let backend: any Backend
    let reduction: Reduction
    /// Bucket ranges of the flat buffer, highest offsets first; with reduce-scatter every
    /// boundary is a multiple of the group size.
    let ranges: [Range<Int>]
    private var next = 0
    private var pending: [any PendingCollective] = []

    /// Megatron's default bucket size: max(40M, 1M · dp) elements.
    static func defaultBucketSize(dataParallelSize dp: Int) -> Int { max(40_000_000, 1_000_000 * dp) }

    /// With reduce-scatter, `grads.count` must be a multiple of the group size.
    init(grads: Tensor, group: any ProcessGroup, backend: any Backend, bucketSize: Int? = nil, reduction: Reduction = .allReduce) {
        self.grads = grads
        self.group = group
        self.backend = backend
        self.reduction = reduction
        let align = reduction == .reduceScatter ? group.size : 1
        let requested = max(1, bucketSize ?? Self.defaultBucketSize(dataParallelSize: group.size))
        let size = (requested + align - 1) / align * align
        var ranges: [Range<Int>] = []
        var upper = grads.count
        while upper > 0 {
            let lower = max(0, upper - size)
            ranges.append(lower..<upper)
            upper = lower
        }
        self.ranges = ranges
    }

    /// This member's piece of a bucket (reduce-scatter): the `rank`-th of `size` equal parts.
    func piece(of range: Range<Int>) -> Range<Int> {
        let part = range.count / group.size
        return range.lowerBound + group.rank * part..<range.lowerBound + (group.rank + 1) * part
    }

    /// Every gradient at flat offset ≥ `offset` is complete: starts each bucket lying there.
    func gradientsFinal(from offset: Int) throws {
        while next < ranges.count, ranges[next].lowerBound >= offset {
            let range = ranges[next]
            let bucket = try grads.view(offset: range.lowerBound, shape: [range.count])
            // Megatron's DDP: scale by 1/dp, then sum.
            try backend.scale(bucket, by: 1 / Float(group.size))
            switch reduction {
            case .allReduce:
                pending.append(try group.startAllReduce(bucket, op: .sum))
            case .reduceScatter:
                let mine = piece(of: range)
                pending.append(try group.startReduceScatter(bucket, into: try grads.view(offset: mine.lowerBound, shape: [mine.count]), op: .sum))
            }
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
