import Foundation
import Synchronization

/// Portable blocked fp32 GEMM (the Goto/BLIS scheme), used when no system BLAS is loaded.
///
/// Swift packages cannot pass `-mavx`, so this compiles for baseline x86-64: SSE2, sixteen
/// 4-lane registers, no FMA. The micro-kernel is shaped for that. A 6×8 tile of C is twelve
/// `SIMD4` accumulators, leaving four registers for two B vectors, one A vector and a product.
/// A is packed pre-broadcast (each element stored as four equal lanes) because SSE2 has no
/// broadcast load: splatting inside the loop costs a shuffle per row on the same ports as the
/// multiplies and adds, while a packed splat is a plain aligned load.
///
///     SIMDGEMM.sgemm(transposeA: false, transposeB: true, m: m, n: n, k: k, alpha: 1,
///                    a: x, lda: k, b: w, ldb: k, beta: 0, c: y, ldc: n)
enum SIMDGEMM {
    typealias Vector = SIMD4<Float>

    static let mr = 6, nr = 8
    /// A packed A block (`mc × kc`, four lanes per element: 288 KiB) stays in a 512 KiB L2,
    /// a packed B micro-panel (`kc × nr`: 8 KiB) in L1, and the packed B panel in L3.
    static let kc = 256, mc = 72, nc = 2048
    /// Below this much work per thread, waking another thread costs more than it saves.
    static let minFlopsPerThread = 1 << 21
    /// Tasks handed out per worker, so a core slowed by other load ends up taking fewer; and the
    /// fewest B micro-panels (`nr` columns each) worth a task of their own.
    static let tasksPerWorker = 4, minPanelsPerTask = 8
    static let defaultThreads = ProcessInfo.processInfo.activeProcessorCount

    /// Same contract as `CPUGEMM.sgemm`, for `m, n, k > 0`. Each element of C sums over k in
    /// the same order whatever `threads` is, so results do not depend on the core count.
    static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = defaultThreads
    ) {
        let problem = Problem(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
            a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        problem.run(threads: threads)
    }

    private static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

    /// One call's operands. The pointers are shared by the worker threads, which write disjoint
    /// tiles of C and disjoint parts of the workspace.
    private struct Problem: @unchecked Sendable {
        let transposeA: Bool, transposeB: Bool
        let m: Int, n: Int, k: Int
        let alpha: Float
        let a: UnsafePointer<Float>, lda: Int
        let b: UnsafePointer<Float>, ldb: Int
        let beta: Float
        let c: UnsafeMutablePointer<Float>, ldc: Int

        func run(threads: Int) {
            let kcMax = min(k, kc), ncMax = min(n, nc)
            let bPanelCount = roundUp(ncMax, nr) * kcMax
            let aBlockCount = roundUp(min(m, mc), mr) * kcMax * Vector.scalarCount
            let icBlocks = (m + mc - 1) / mc
            let work = 2.0 * Double(m) * Double(n) * Double(k)
            let maxWorkers = max(1, min(threads, Int(work / Double(minFlopsPerThread))))

            let workspaceCount = bPanelCount + maxWorkers * aBlockCount
            let raw = UnsafeMutableRawPointer.allocate(byteCount: workspaceCount * 4, alignment: 64)
            defer { raw.deallocate() }
            let workspace = SendablePointer(raw.bindMemory(to: Float.self, capacity: workspaceCount))
            let bPanel = workspace
            let aBlocks = SendablePointer(workspace.base + bPanelCount)

            for jc in stride(from: 0, to: n, by: nc) {
                let nb = min(nc, n - jc)
                let panels = (nb + nr - 1) / nr
                // Tasks are A blocks, and when M has too few of them, column ranges of each too
                // (each such task repacks its A block, which costs little next to its multiply).
                let wanted = (tasksPerWorker * maxWorkers + icBlocks - 1) / icBlocks
                let splits = max(1, min(wanted, panels / minPanelsPerTask))
                let tasks = icBlocks * splits
                let workers = min(maxWorkers, tasks)
                for pc in stride(from: 0, to: k, by: kc) {
                    let kb = min(kc, k - pc)
                    // Later k-blocks accumulate onto what the first one wrote.
                    let blockBeta = pc == 0 ? beta : 1
                    let packers = min(workers, panels)
                    parallelFor(packers) { w in
                        for panel in (w * panels / packers)..<((w + 1) * panels / packers) {
                            packB(panel: panel, jc: jc, nb: nb, pc: pc, kb: kb, into: bPanel.base + panel * kb * nr)
                        }
                    }
                    let next = Atomic(0)
                    parallelFor(workers) { w in
                        let aBlock = aBlocks.base + w * aBlockCount
                        var packedBlock = -1
                        while true {
                            let task = next.add(1, ordering: .relaxed).oldValue
                            guard task < tasks else { break }
                            // Tasks are numbered block-major, so a worker often reuses its packed A.
                            let block = task / splits, split = task % splits
                            let ic = block * mc, mb = min(mc, m - ic)
                            if block != packedBlock {
                                packA(ic: ic, mb: mb, pc: pc, kb: kb, into: aBlock)
                                packedBlock = block
                            }
                            let first = split * panels / splits, last = (split + 1) * panels / splits
                            // B micro-panel outer: it stays in L1 while the A block streams from L2.
                            for panel in first..<last {
                                let jr = panel * nr
                                let bMicro = UnsafeRawPointer(bPanel.base + panel * kb * nr)
                                for ir in stride(from: 0, to: mb, by: mr) {
                                    microKernel(
                                        kb: kb, a: UnsafeRawPointer(aBlock + ir * kb * Vector.scalarCount), b: bMicro,
                                        c: c + (ic + ir) * ldc + jc + jr, ldc: ldc,
                                        rows: min(mr, mb - ir), cols: min(nr, nb - jr), alpha: alpha, beta: blockBeta)
                                }
                            }
                        }
                    }
                }
            }
        }

        /// Packs rows `ic..<ic+mb`, columns `pc..<pc+kb` of op(A) as micro-panels of `mr` rows:
        /// for each k, `mr` splatted vectors. Rows past the edge are zero so the kernel needs no
        /// edge case.
        func packA(ic: Int, mb: Int, pc: Int, kb: Int, into dst: UnsafeMutablePointer<Float>) {
            let out = UnsafeMutableRawPointer(dst)
            let vectorBytes = MemoryLayout<Vector>.stride
            for ir in stride(from: 0, to: mb, by: mr) {
                let rows = min(mr, mb - ir)
                let panel = out + ir * kb * vectorBytes
                if transposeA {
                    // op(A)[i, p] = a[p * lda + i]: each k gives `rows` contiguous floats.
                    for p in 0..<kb {
                        let src = a + ((pc &+ p) &* lda &+ ic &+ ir)
                        let row = panel + p &* (mr &* vectorBytes)
                        for i in 0..<mr {
                            let value: Float = i < rows ? src[i] : 0
                            row.storeBytes(of: Vector(repeating: value), toByteOffset: i &* vectorBytes, as: Vector.self)
                        }
                    }
                } else {
                    // op(A)[i, p] = a[i * lda + p]: walk each row contiguously.
                    for i in 0..<mr {
                        let column = panel + i &* vectorBytes
                        if i < rows {
                            let src = a + ((ic &+ ir &+ i) &* lda &+ pc)
                            for p in 0..<kb {
                                column.storeBytes(of: Vector(repeating: src[p]), toByteOffset: p &* mr &* vectorBytes, as: Vector.self)
                            }
                        } else {
                            for p in 0..<kb {
                                column.storeBytes(of: Vector(), toByteOffset: p &* mr &* vectorBytes, as: Vector.self)
                            }
                        }
                    }
                }
            }
        }

        /// Packs columns `jc+panel*nr ..< +nr` (zero past `nb`), rows `pc..<pc+kb` of op(B): for
        /// each k, `nr` consecutive floats.
        func packB(panel: Int, jc: Int, nb: Int, pc: Int, kb: Int, into dst: UnsafeMutablePointer<Float>) {
            let j0 = panel * nr
            let cols = min(nr, nb - j0)
            if transposeB {
                // op(B)[p, j] = b[j * ldb + p]: walk each source row contiguously.
                for j in 0..<nr {
                    if j < cols {
                        let src = b + ((jc &+ j0 &+ j) &* ldb &+ pc)
                        for p in 0..<kb { dst[p &* nr &+ j] = src[p] }
                    } else {
                        for p in 0..<kb { dst[p &* nr &+ j] = 0 }
                    }
                }
            } else if cols == nr {
                let out = UnsafeMutableRawPointer(dst)
                for p in 0..<kb {
                    let src = UnsafeRawPointer(b + ((pc &+ p) &* ldb &+ jc &+ j0))
                    out.storeBytes(of: src.loadUnaligned(as: Vector.self), toByteOffset: p &* nr &* 4, as: Vector.self)
                    out.storeBytes(of: src.loadUnaligned(fromByteOffset: 16, as: Vector.self), toByteOffset: p &* nr &* 4 &+ 16, as: Vector.self)
                }
            } else {
                for p in 0..<kb {
                    let src = b + ((pc &+ p) &* ldb &+ jc &+ j0)
                    for j in 0..<nr { dst[p &* nr &+ j] = j < cols ? src[j] : 0 }
                }
            }
        }
    }

    /// Twelve accumulators: rows 0…5 of the tile, two vectors of four columns each.
    private typealias Tile = (Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector)

    /// Â·B̂ for one packed A micro-panel (`kb × mr` splats) and one packed B micro-panel
    /// (`kb × nr`). Kept out of line so the write-back's registers cannot crowd the loop, which
    /// needs all sixteen.
    @inline(never)
    private static func multiply(kb: Int, a: UnsafeRawPointer, b: UnsafeRawPointer) -> Tile {
        var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector(), c20 = Vector(), c21 = Vector()
        var c30 = Vector(), c31 = Vector(), c40 = Vector(), c41 = Vector(), c50 = Vector(), c51 = Vector()
        var ao = 0, bo = 0
        for _ in 0..<kb {
            let b0 = b.load(fromByteOffset: bo, as: Vector.self)
            let b1 = b.load(fromByteOffset: bo &+ 16, as: Vector.self)
            var x = a.load(fromByteOffset: ao, as: Vector.self)
            c00 += x * b0; c01 += x * b1
            x = a.load(fromByteOffset: ao &+ 16, as: Vector.self)
            c10 += x * b0; c11 += x * b1
            x = a.load(fromByteOffset: ao &+ 32, as: Vector.self)
            c20 += x * b0; c21 += x * b1
            x = a.load(fromByteOffset: ao &+ 48, as: Vector.self)
            c30 += x * b0; c31 += x * b1
            x = a.load(fromByteOffset: ao &+ 64, as: Vector.self)
            c40 += x * b0; c41 += x * b1
            x = a.load(fromByteOffset: ao &+ 80, as: Vector.self)
            c50 += x * b0; c51 += x * b1
            ao &+= 96; bo &+= 32
        }
        return (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51)
    }

    /// C[0..<rows, 0..<cols] = alpha * Â·B̂ + beta * C for one micro-tile. beta == 0 never reads
    /// C, so NaN there is overwritten as BLAS requires.
    private static func microKernel(
        kb: Int, a: UnsafeRawPointer, b: UnsafeRawPointer, c: UnsafeMutablePointer<Float>, ldc: Int,
        rows: Int, cols: Int, alpha: Float, beta: Float
    ) {
        let tile = multiply(kb: kb, a: a, b: b)
        if rows == mr && cols == nr {
            let out = UnsafeMutableRawPointer(c), rowBytes = ldc &* 4
            let va = Vector(repeating: alpha)
            @inline(__always) func store(_ x: Vector, _ offset: Int) {
                let result = beta == 0 ? va * x : va * x + beta * out.loadUnaligned(fromByteOffset: offset, as: Vector.self)
                out.storeBytes(of: result, toByteOffset: offset, as: Vector.self)
            }
            store(tile.0, 0); store(tile.1, 16)
            store(tile.2, rowBytes); store(tile.3, rowBytes &+ 16)
            store(tile.4, 2 &* rowBytes); store(tile.5, 2 &* rowBytes &+ 16)
            store(tile.6, 3 &* rowBytes); store(tile.7, 3 &* rowBytes &+ 16)
            store(tile.8, 4 &* rowBytes); store(tile.9, 4 &* rowBytes &+ 16)
            store(tile.10, 5 &* rowBytes); store(tile.11, 5 &* rowBytes &+ 16)
            return
        }
        // Edge tile: spill the accumulators and write back only the valid part.
        withUnsafeBytes(of: tile) { scalars in
            for i in 0..<rows {
                let row = c + i &* ldc
                for j in 0..<cols {
                    let x = alpha * scalars.load(fromByteOffset: (i &* nr &+ j) &* 4, as: Float.self)
                    row[j] = beta == 0 ? x : x + beta * row[j]
                }
            }
        }
    }
}
