/// A stretch of elements to copy from a stored piece to a requested one. Positions count
/// elements from the first element each piece holds (its flat range's start, or the block's).
struct CopyRun: Equatable, Sendable {
    var source: Int
    var target: Int
    var count: Int
}

/// Which elements of one piece of a tensor lie in another piece, as contiguous runs: the
/// resharding step of a load, for any two layouts (blocks, flat ranges of blocks, scalars).
///
/// The two blocks intersect in a box. Each row of the box (a fixed index in every dimension
/// but the last) is contiguous in the row-major order of both blocks; a flat range on either
/// side cuts each such row to one sub-interval, since element k of the row sits at
/// `rowStart + k` in both blocks' order. So the runs are, per row of the box, the columns that
/// both flat ranges keep; neighbouring runs contiguous on both sides are merged, so a whole
/// block copied into a whole block is one run.
enum BlockOverlap {
    /// The runs copying the elements `source` holds that `target` asks for. Both must be
    /// valid pieces of tensors of the same global shape.
    static func runs(from source: TensorShard, to target: TensorShard) -> [CopyRun] {
        // A scalar is a one-element vector here.
        let rank = max(source.offset.count, 1)
        let sourceOffset = source.offset.isEmpty ? [0] : source.offset
        let sourceShape = source.blockShape.isEmpty ? [1] : source.blockShape
        let targetOffset = target.offset.isEmpty ? [0] : target.offset
        let targetShape = target.blockShape.isEmpty ? [1] : target.blockShape

        var low = [Int](repeating: 0, count: rank)
        var high = [Int](repeating: 0, count: rank)
        for d in 0..<rank {
            low[d] = max(sourceOffset[d], targetOffset[d])
            high[d] = min(sourceOffset[d] + sourceShape[d], targetOffset[d] + targetShape[d])
            if low[d] >= high[d] { return [] }
        }
        let sourceStrides = rowMajorStrides(sourceShape)
        let targetStrides = rowMajorStrides(targetShape)
        let sourceHeld = source.flatRange ?? 0..<source.blockElementCount
        let targetHeld = target.flatRange ?? 0..<target.blockElementCount
        let width = high[rank - 1] - low[rank - 1]

        var runs: [CopyRun] = []
        var index = low
        while true {
            // Block-order positions of the row's first column in each block.
            var sourceStart = 0
            var targetStart = 0
            for d in 0..<rank {
                sourceStart += (index[d] - sourceOffset[d]) * sourceStrides[d]
                targetStart += (index[d] - targetOffset[d]) * targetStrides[d]
            }
            let first = max(0, sourceHeld.lowerBound - sourceStart, targetHeld.lowerBound - targetStart)
            let end = min(width, sourceHeld.upperBound - sourceStart, targetHeld.upperBound - targetStart)
            if first < end {
                let run = CopyRun(source: sourceStart + first - sourceHeld.lowerBound,
                                  target: targetStart + first - targetHeld.lowerBound, count: end - first)
                if let last = runs.last, last.source + last.count == run.source, last.target + last.count == run.target {
                    runs[runs.count - 1].count += run.count
                } else {
                    runs.append(run)
                }
            }
            // Next row of the box: an odometer over every dimension but the last.
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < high[d] { break }
                index[d] = low[d]
                d -= 1
            }
            if d < 0 { return runs }
        }
    }

    /// Row-major strides (in elements) of a block of `shape`.
    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var stride = 1
        for d in shape.indices.reversed() {
            strides[d] = stride
            stride *= shape[d]
        }
        return strides
    }

    /// The global index of element `position` of `piece` (counted from the first element it holds).
    static func globalIndex(of position: Int, in piece: TensorShard) -> [Int] {
        var flat = position + (piece.flatRange?.lowerBound ?? 0)
        var index = piece.offset
        for d in piece.blockShape.indices.reversed() where piece.blockShape[d] > 0 {
            index[d] += flat % piece.blockShape[d]
            flat /= piece.blockShape[d]
        }
        return index
    }
}
