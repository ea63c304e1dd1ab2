import Foundation

/// Megatron's `--split "969,30,1"`: train / valid / test fractions of a dataset's documents
/// (sequences, for GPT), turned into contiguous ranges with megatron-core's arithmetic.
///
///     let split = try DatasetSplit("969,30,1")
///     split.ranges(count: 1000)   // [0..<969, 969..<999, 999..<1000]
public struct DatasetSplit: Equatable, Sendable {
    /// Normalised fractions, always three (train, valid, test); missing ones are 0.
    public var fractions: [Double]

    /// Parses as `parse_and_normalize_split`: every run of digits and dots is a number.
    ///
    ///     let split = try DatasetSplit("99,1")   // fractions [0.99, 0.01, 0]
    public init(_ text: String) throws {
        var numbers = [Double]()
        var current = ""
        for ch in text + " " {
            if ch.isASCII && (ch.isNumber || ch == ".") {
                current.append(ch)
            } else if !current.isEmpty {
                guard let value = Double(current) else { throw DatasetSplitError.invalid(text) }
                numbers.append(value)
                current = ""
            }
        }
        guard numbers.count <= 3, numbers.contains(where: { $0 > 0 }) else {
            throw DatasetSplitError.invalid(text)
        }
        numbers += Array(repeating: 0, count: 3 - numbers.count)
        fractions = DatasetSplit.normalize(numbers)
    }

    /// numpy's `w / numpy.sum(w)` in float64. numpy sums fewer than eight values left to right.
    public static func normalize(_ weights: [Double]) -> [Double] {
        let sum = weights.reduce(0.0, +)
        return weights.map { $0 / sum }
    }

    /// The bookends of each split (`convert_split_vector_to_split_matrix`): cumulative sums,
    /// nil for an empty split.
    public var bookends: [(Double, Double)?] {
        var edges = [0.0]
        for f in fractions { edges.append(edges.last! + f) }
        return (0..<3).map { i in edges[i + 1] <= edges[i] ? nil : (edges[i], edges[i + 1]) }
    }

    /// Document ranges of each split over `count` documents: `round(bookend * count)` with
    /// Python's round-half-to-even; nil where the split is empty in the split vector.
    public func ranges(count: Int) -> [Range<Int>?] {
        bookends.map { bookend in
            guard let (begin, end) = bookend else { return nil }
            let b = Int((begin * Double(count)).rounded(.toNearestOrEven))
            let e = Int((end * Double(count)).rounded(.toNearestOrEven))
            return b..<max(b, e)
        }
    }
}

/// A `--split` string Megatron would reject.
public enum DatasetSplitError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalid(text): "--split \(text) is invalid: expected up to three non-negative weights that are not all 0, e.g. 969,30,1"
        }
    }
}
