/// One bit per element of a requested piece: which have been filled from saved shards, so a
/// load can tell that every element was found (saved shards may overlap, so counting copied
/// elements would not do).
struct CoverageBitmap {
    let count: Int
    private var words: [UInt64]

    /// `count` elements, none covered.
    init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    /// Marks `range` (within `0..<count`) covered.
    mutating func insert(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let firstWord = range.lowerBound / 64
        let lastWord = (range.upperBound - 1) / 64
        for word in firstWord...lastWord {
            let from = word == firstWord ? range.lowerBound % 64 : 0
            let to = word == lastWord ? (range.upperBound - 1) % 64 + 1 : 64
            let bits = to - from == 64 ? UInt64.max : ((UInt64(1) << UInt64(to - from)) - 1) << UInt64(from)
            words[word] |= bits
        }
    }

    /// Elements not covered.
    var missingCount: Int { count - words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The first element not covered, if any.
    var firstMissing: Int? {
        for (word, bits) in words.enumerated() where bits != UInt64.max {
            let position = word * 64 + (~bits).trailingZeroBitCount
            return position < count ? position : nil
        }
        return nil
    }
}
