/// Runs `body` over `0..<rows` in fixed-size blocks on all cores. The blocks depend only on
/// `rows` and `block`, never on the core count, so reductions over blocks are deterministic.
func forEachRowBlock(_ rows: Int, block: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let blocks = (rows + block - 1) / block
    if blocks <= 1 {
        if rows > 0 { body(0..<rows) }
        return
    }
    parallelFor(blocks) { i in body(i * block..<min(rows, (i + 1) * block)) }
}

/// Rows per block so that one block carries roughly `work` scalar operations.
func rowBlock(columns: Int, work: Int = 32_768) -> Int { max(1, work / max(columns, 1)) }
