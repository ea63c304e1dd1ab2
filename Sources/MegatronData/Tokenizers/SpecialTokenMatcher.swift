/// Finds special tokens in UTF-8 text, leftmost first and longest at a position (HF's added-token
/// splitting; tiktoken's special regex agrees whenever no special is a prefix of another).
///
///     SpecialTokenMatcher(["<|endoftext|>": 50256]).forEachMatch(buf) { range, id in ... }
struct SpecialTokenMatcher: Sendable {
    private var table = ByteStringTable()
    /// Distinct token lengths, longest first.
    private let lengths: [Int]
    private let firstByte: [Bool]

    init(_ specials: [String: Int]) {
        var first = [Bool](repeating: false, count: 256), lengths = Set<Int>()
        for (text, id) in specials where !text.isEmpty {
            let bytes = Array(text.utf8)
            table.insert(bytes, value: Int64(id))
            first[Int(bytes[0])] = true
            lengths.insert(bytes.count)
        }
        self.firstByte = first
        self.lengths = lengths.sorted(by: >)
    }

    func forEachMatch(_ buf: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>, Int) -> Void) {
        var i = 0
        let n = buf.count
        scan: while i < n {
            if firstByte[Int(buf[i])] {
                for len in lengths where i + len <= n {
                    if let id = table.find(UnsafeBufferPointer(rebasing: buf[i..<i + len])) {
                        body(i..<i + len, Int(id))
                        i += len
                        continue scan
                    }
                }
            }
            i += 1
        }
    }
}
