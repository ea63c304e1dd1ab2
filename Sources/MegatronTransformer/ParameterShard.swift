import MegatronTensor

/// Where a tensor-parallel rank's parameter sits in the full (one-rank) parameter: Megatron's
/// partitions are row blocks (column-parallel weights, their biases, vocabulary shards; SwiGLU's
/// fc1 takes one block of the gate half and one of the up half) or a column block
/// (row-parallel weights).
///
///     // rank 1 of 2 of a column-parallel [8, 4] weight: full rows 4..<8
///     let shard = ParameterShard(fullShape: [8, 4], rows: [4..<8], columns: 0..<4)
public struct ParameterShard: Sendable, Equatable {
    /// The full parameter's shape (`[rows]` for a vector, `[rows, columns]` for a matrix).
    public let fullShape: Shape
    /// The full parameter's rows this rank holds, in local order.
    public let rows: [Range<Int>]
    /// The full parameter's columns this rank holds (`0..<1` for a vector).
    public let columns: Range<Int>

    public init(fullShape: Shape, rows: [Range<Int>], columns: Range<Int>) {
        self.fullShape = fullShape
        self.rows = rows
        self.columns = columns
    }

    /// The local shape: `[Σ rows]` for a vector, `[Σ rows, columns]` for a matrix.
    public var localShape: Shape {
        let n = rows.reduce(0) { $0 + $1.count }
        return fullShape.rank == 1 ? [n] : [n, columns.count]
    }

    /// The full parameter's flat index of local element `k` (row-major).
    public func fullIndex(ofLocal k: Int) -> Int {
        let width = columns.count, fullWidth = fullShape.rank == 1 ? 1 : fullShape[1]
        var (row, column) = k.quotientAndRemainder(dividingBy: width)
        for block in rows {
            if row < block.count { return (block.lowerBound + row) * fullWidth + columns.lowerBound + column }
            row -= block.count
        }
        preconditionFailure("local element \(k) lies outside the shard")
    }

    /// Rows `[n]` (or `[n, c]`) split evenly: this part of `parts`.
    public static func rowBlock(_ fullShape: Shape, part: Int, of parts: Int) -> ParameterShard {
        let n = fullShape[0] / parts
        return ParameterShard(fullShape: fullShape, rows: [part * n..<(part + 1) * n],
                              columns: 0..<(fullShape.rank == 1 ? 1 : fullShape[1]))
    }

    /// Rows split evenly within each of `halves` equal halves (SwiGLU's gate and up), concatenated.
    public static func rowBlocks(_ fullShape: Shape, halves: Int, part: Int, of parts: Int) -> ParameterShard {
        let half = fullShape[0] / halves, n = half / parts
        return ParameterShard(fullShape: fullShape, rows: (0..<halves).map { h in h * half + part * n..<h * half + (part + 1) * n },
                              columns: 0..<(fullShape.rank == 1 ? 1 : fullShape[1]))
    }

    /// Columns of `[r, c]` split evenly: this part of `parts`.
    public static func columnBlock(_ fullShape: Shape, part: Int, of parts: Int) -> ParameterShard {
        let n = fullShape[1] / parts
        return ParameterShard(fullShape: fullShape, rows: [0..<fullShape[0]], columns: part * n..<(part + 1) * n)
    }
}
