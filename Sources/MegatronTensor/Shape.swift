/// The extent of each dimension of a ``Tensor``, outermost first (row-major).
///
///     let shape: Shape = [seq, batch, hidden]   // [s, b, h]
public struct Shape: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    /// Number of elements (1 for a scalar shape `[]`).
    public var count: Int { dims.reduce(1, *) }
    public var rank: Int { dims.count }
    public subscript(i: Int) -> Int { dims[i] }

    /// The last dimension (the "columns" of the tensor seen as a matrix).
    public var last: Int { dims.last ?? 1 }

    /// Product of all but the last dimension (the "rows" of the tensor seen as a matrix).
    public var leading: Int { rank == 0 ? 1 : dims.dropLast().reduce(1, *) }

    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
