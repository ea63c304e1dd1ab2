/// A piece of a global tensor: a block (an offset and a shape inside the global shape), or a
/// contiguous range of that block's elements in row-major order.
///
/// The range is Megatron's `flattened_range`: the distributed optimizer owns a flat slice of
/// the parameter buffer, which cuts a parameter's block anywhere. The same type names what a
/// rank saves and what a rank wants to load; the two layouts need not match.
///
///     // rows 2..<4 of an [8, 6] BF16 weight, and elements 3..<10 of that block
///     let shard = TensorShard(name: "w", dtype: "BF16", globalShape: [8, 6],
///                             offset: [2, 0], blockShape: [2, 6], flatRange: 3..<10)
public struct TensorShard: Sendable, Hashable, CustomStringConvertible {
    /// The tensor's name, as the model and the checkpoint index call it.
    public var name: String
    /// The element type in safetensors spelling: `F32`, `BF16`, `F16`, `I64`, `I32`, `U8` …
    public var dtype: String
    /// The whole tensor's shape; `[]` is a scalar.
    public var globalShape: [Int]
    /// Where the block starts in the global tensor, one index per dimension.
    public var offset: [Int]
    /// The block's shape, one extent per dimension.
    public var blockShape: [Int]
    /// The elements of the block this shard holds, in the block's row-major order; nil: all.
    public var flatRange: Range<Int>?

    /// Describes a block (and optionally a flat range of it) of a global tensor.
    public init(name: String, dtype: String, globalShape: [Int], offset: [Int], blockShape: [Int], flatRange: Range<Int>? = nil) {
        self.name = name
        self.dtype = dtype
        self.globalShape = globalShape
        self.offset = offset
        self.blockShape = blockShape
        self.flatRange = flatRange
    }

    /// The whole tensor as one block.
    ///
    ///     let all = TensorShard(name: "bias", dtype: "F32", globalShape: [1024])
    public init(name: String, dtype: String, globalShape: [Int]) {
        self.init(name: name, dtype: dtype, globalShape: globalShape,
                  offset: globalShape.map { _ in 0 }, blockShape: globalShape)
    }

    /// Elements in the block (1 for a scalar).
    public var blockElementCount: Int { blockShape.reduce(1, *) }

    /// Elements this shard holds: the flat range's length, or the whole block.
    public var elementCount: Int { flatRange?.count ?? blockElementCount }

    /// Bytes this shard holds (``elementCount`` × the dtype's size; 0 for an unknown dtype).
    public var byteCount: Int { elementCount * (dtypeByteSizes[dtype] ?? 0) }

    public var description: String {
        let block = zip(offset, blockShape).map { "\($0)..<\($0 + $1)" }.joined(separator: ", ")
        let flat = flatRange.map { " elements \($0.lowerBound)..<\($0.upperBound)" } ?? ""
        return "\(name) \(dtype) \(globalShape) block [\(block)]\(flat)"
    }

    /// Checks that the shard is a real piece of its tensor: a known dtype, one offset and extent
    /// per dimension, the block inside the global shape, the flat range inside the block, and
    /// sizes that fit an Int.
    public func validate() throws(CheckpointError) {
        func fail(_ reason: String) -> CheckpointError { .invalidShard(tensor: name, shard: description, reason: reason) }
        guard let size = dtypeByteSizes[dtype] else {
            throw fail("unknown dtype \(dtype); expected one of \(dtypeByteSizes.keys.sorted().joined(separator: ", "))")
        }
        guard offset.count == globalShape.count, blockShape.count == globalShape.count else {
            throw fail("offset has \(offset.count) and block shape \(blockShape.count) dimensions, "
                       + "the global shape \(globalShape.count)")
        }
        var elements = size
        for d in globalShape.indices {
            guard globalShape[d] >= 0, offset[d] >= 0, blockShape[d] >= 0,
                  offset[d] <= globalShape[d] - blockShape[d]
            else {
                throw fail("dimension \(d): block \(offset[d])..<\(offset[d] + blockShape[d]) is not inside 0..<\(globalShape[d])")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: globalShape[d])
            guard !overflow else { throw fail("global shape \(globalShape) has more bytes than fit an Int") }
            elements = product
        }
        if let flatRange, flatRange.lowerBound < 0 || flatRange.upperBound > blockElementCount {
            throw fail("flat range \(flatRange.lowerBound)..<\(flatRange.upperBound) is not inside the block's "
                       + "\(blockElementCount) elements")
        }
    }
}
