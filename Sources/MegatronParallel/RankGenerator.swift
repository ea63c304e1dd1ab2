/// A parallel dimension of Megatron's rank layout.
public enum ParallelDimension: String, Sendable, CaseIterable {
    case tp, cp, ep, dp, pp
}

/// Megatron-Core's rank layout: a global rank decomposes over the dimensions in `order`
/// (Megatron's `tp-cp-ep-dp-pp` for dense layers, tensor parallel fastest), and the group of a
/// set of dimensions holds the ranks that differ only in those dimensions — ordered with the
/// first such dimension fastest, groups enumerated with the first remaining dimension fastest,
/// exactly as Megatron's `generate_masked_orthogonal_rank_groups`.
///
///     let layout = try RankGenerator(tp: 2, cp: 1, ep: 1, dp: 2, pp: 4)
///     layout.groups([.tp])   // [[0, 1], [2, 3], …]
///     layout.groups([.pp])   // [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]]
public struct RankGenerator: Sendable, Equatable {
    public let order: [ParallelDimension]
    public let sizes: [ParallelDimension: Int]
    public var worldSize: Int { order.reduce(1) { $0 * sizes[$1]! } }

    public init(tp: Int, cp: Int, ep: Int, dp: Int, pp: Int, order: [ParallelDimension] = [.tp, .cp, .ep, .dp, .pp]) throws(ParallelError) {
        let sizes: [ParallelDimension: Int] = [.tp: tp, .cp: cp, .ep: ep, .dp: dp, .pp: pp]
        guard Set(order) == Set(ParallelDimension.allCases), order.count == ParallelDimension.allCases.count else {
            throw .invalidArgument(collective: "rank layout", group: "world", message: "order \(order.map(\.rawValue)) must name tp, cp, ep, dp, pp once each")
        }
        for (dimension, size) in sizes where size < 1 {
            throw .invalidArgument(collective: "rank layout", group: "world", message: "\(dimension.rawValue) size \(size) must be at least 1")
        }
        self.order = order
        self.sizes = sizes
    }

    /// The groups of ranks that differ only in `dimensions` (every rank in exactly one group).
    public func groups(_ dimensions: Set<ParallelDimension>) -> [[Int]] {
        var stride = 1
        var masked: [(size: Int, stride: Int)] = [], unmasked: [(size: Int, stride: Int)] = []
        for dimension in order {
            let size = sizes[dimension]!
            if dimensions.contains(dimension) { masked.append((size, stride)) } else { unmasked.append((size, stride)) }
            stride *= size
        }
        let groupSize = masked.reduce(1) { $0 * $1.size }
        let groupCount = unmasked.reduce(1) { $0 * $1.size }
        return (0..<groupCount).map { g in
            let base = Self.offset(g, unmasked)
            return (0..<groupSize).map { base + Self.offset($0, masked) }
        }
    }

    /// The group of `dimensions` that holds `rank`.
    public func group(_ dimensions: Set<ParallelDimension>, containing rank: Int) -> [Int] {
        groups(dimensions).first { $0.contains(rank) } ?? []
    }

    /// Megatron's embedding groups: the first and last stage of each pipeline group (the stage
    /// itself when there is one).
    public func embeddingGroups() -> [[Int]] {
        groups([.pp]).map { $0.count > 1 ? [$0.first!, $0.last!] : $0 }
    }

    /// `index` decomposed over `dimensions` (the first fastest), as a rank offset.
    private static func offset(_ index: Int, _ dimensions: [(size: Int, stride: Int)]) -> Int {
        var rest = index, offset = 0
        for d in dimensions {
            offset += rest % d.size * d.stride
            rest /= d.size
        }
        return offset
    }
}
