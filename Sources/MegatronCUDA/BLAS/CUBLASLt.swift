import CCUDA
import Foundation
import MegatronTensor
import Synchronization

/// Layer 3: cuBLASLt for one context: a handle, a 32 MiB workspace from the context's
/// allocator, and a cache of matmul plans (descriptors, layouts and the heuristic's algorithm)
/// per (shape, types, transposes, layouts, epilogue, pointer alignments).
///
/// Matrices are row-major, as everywhere in swift-megatron; the translation to cuBLASLt's
/// column-major convention is done here (see ``ColumnMajorMatmul``). Compute is fp32
/// (`CUBLAS_COMPUTE_32F`; `allowTF32` opts fp32 inputs into TF32 tensor cores).
///
/// The workspace is shared by every matmul of this object, so use one `CUBLASLt` per stream
/// when matmuls run on several streams at once.
///
///     let blas = try CUBLASLt(context: context)
///     // y[tokens, out] = x[tokens, in] · w[out, in]ᵀ + b
///     try blas.matmul(m: tokens, n: out, k: inFeatures,
///                     a: .init(x, .bf16), b: .init(w, .bf16, transposed: true), c: .init(y, .bf16),
///                     epilogue: .bias(b), stream: stream)
public final class CUBLASLt: @unchecked Sendable {
    // Sendable: the handle is immutable and cuBLASLt handles are thread-safe; the plan cache
    // (whose descriptors are mutated per call) is only touched under `plans`' lock.
    public static let workspaceSize = 32 << 20

    public let context: CUDAContext
    public let library: CUBLASLtLibrary
    /// Use TF32 tensor cores for fp32 inputs (faster, ~1e-3 relative error).
    public let allowTF32: Bool
    let handle: cublasLtHandle_t
    let workspace: DeviceBuffer
    private let plans = Mutex<[PlanKey: Plan]>([:])

    public init(context: CUDAContext, library: CUBLASLtLibrary? = nil, allowTF32: Bool = false) throws(CUDAError) {
        let library = try CUBLASLtLibrary.given(library)
        self.context = context
        self.library = library
        self.allowTF32 = allowTF32
        try context.makeCurrent()
        var handle: cublasLtHandle_t?
        try library.check(library.require(library.symbols.cublasLtCreate, "cublasLtCreate")(&handle), "cublasLtCreate")
        guard let handle else { throw .cublas(call: "cublasLtCreate returned no handle", status: library.status(1)) }
        self.handle = handle
        do throws(CUDAError) {
            workspace = try context.allocator.allocate(byteCount: Self.workspaceSize, label: "cuBLASLt workspace")
        } catch {
            _ = library.symbols.cublasLtDestroy?(handle)
            throw error
        }
    }

    deinit {
        try? context.makeCurrent()
        let symbols = library.symbols
        plans.withLock { plans in
            for plan in plans.values { plan.destroy(symbols) }
            plans.removeAll()
        }
        _ = symbols.cublasLtDestroy?(handle)
    }

    /// Number of distinct problems planned so far.
    public var planCount: Int { plans.withLock { $0.count } }

    /// Row-major `C[m, n] = alpha · op(A) · op(B) + beta · C`, then the epilogue, queued on
    /// `stream`. With `batchCount > 1` each operand's `batchStride` steps to the next matrix.
    ///
    /// Types: A and B both fp32, bf16 or fp16; C fp32, bf16 or fp16 (fp32 when A is fp32).
    /// `biasType` sets the bias (gradient) vector's type when it differs from C's (fp32 bias
    /// with bf16 C).
    public func matmul(
        m: Int, n: Int, k: Int, a: MatmulOperand, b: MatmulOperand, c: MatmulOperand,
        alpha: Float = 1, beta: Float = 0, epilogue: MatmulEpilogue = .none, biasType: DType? = nil,
        batchCount: Int = 1, stream: CUDAStream
    ) throws(CUDAError) {
        guard m > 0, n > 0 else { return }
        let key = try PlanKey(m: m, n: n, k: k, a: a, b: b, c: c, epilogue: epilogue, biasType: biasType,
                              batchCount: batchCount, tf32: allowTF32)
        try context.makeCurrent()
        let library = self.library
        let symbols = library.symbols
        let matmul = try library.require(symbols.cublasLtMatmul, "cublasLtMatmul")
        let setDescAttribute = try library.require(symbols.cublasLtMatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute")
        let result: Result<Void, CUDAError> = plans.withLock { plans in
            do throws(CUDAError) {
                let plan: Plan
                if let cached = plans[key] {
                    plan = cached
                } else {
                    plan = try Plan(key: key, epilogue: epilogue, library: library, handle: handle,
                                    workspaceSize: Self.workspaceSize)
                    plans[key] = plan
                }
                // Pointers change from call to call; the descriptor is ours under the lock.
                if var bias = epilogue.biasPointer?.rawValue {
                    try library.check(
                        setDescAttribute(plan.desc, Int32(CCUDA_CUBLASLT_MATMUL_DESC_BIAS_POINTER), &bias, 8),
                        "cublasLtMatmulDescSetAttribute(BIAS_POINTER)")
                }
                if var aux = epilogue.aux?.pointer.rawValue {
                    try library.check(
                        setDescAttribute(plan.desc, Int32(CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER), &aux, 8),
                        "cublasLtMatmulDescSetAttribute(EPILOGUE_AUX_POINTER)")
                }
                // cuBLASLt's A is the row-major B and its B the row-major A (see ColumnMajorMatmul).
                func run(_ algo: cublasLtMatmulAlgo_t, output: UnsafeMutableRawPointer?) throws(CUDAError) {
                    var alpha = alpha, beta = beta, algo = algo
                    let status = matmul(
                        handle, plan.desc, &alpha, b.pointer.address, plan.layoutA, a.pointer.address, plan.layoutB,
                        &beta, output, plan.layoutC, output, plan.layoutC, &algo,
                        workspace.pointer.address, Self.workspaceSize, stream.handle)
                    try library.check(status, "cublasLtMatmul(\(key))")
                }
                if plan.candidates.count > 1 {
                    try tune(plan, beta: beta, output: c, stream: stream, run: run)
                }
                try run(plan.algo, output: c.pointer.address)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Times every candidate algorithm of a new plan on this problem and keeps the fastest (the
    /// heuristic's first choice is not always it: measured 4× off for GPT-2's vocabulary
    /// projections on an H100). With `beta == 0` the candidates run on the real output, which the
    /// caller's run then overwrites; otherwise on a scratch copy, so accumulated values survive.
    /// Epilogue outputs (bias gradient, GeLU input) are written, never accumulated, so the
    /// caller's run leaves them right too.
    private func tune(
        _ plan: Plan, beta: Float, output c: MatmulOperand, stream: CUDAStream,
        run: (cublasLtMatmulAlgo_t, UnsafeMutableRawPointer?) throws(CUDAError) -> Void
    ) throws(CUDAError) {
        let candidates = plan.candidates
        plan.candidates = []
        var scratch: DeviceBuffer?
        if beta != 0 {
            scratch = try context.allocator.allocate(byteCount: plan.outputBytes, label: "cuBLASLt autotune scratch")
        }
        let output = scratch?.pointer.address ?? c.pointer.address
        let start = try context.makeEvent(), end = try context.makeEvent()
        var best = (time: Float.infinity, algo: plan.algo)
        for algo in candidates {
            do throws(CUDAError) {
                try run(algo, output)  // warm-up
                try start.record(on: stream)
                for _ in 0..<Self.tuningRepeats { try run(algo, output) }
                try end.record(on: stream)
                let ms = try end.elapsedMilliseconds(since: start)
                if ms < best.time { best = (ms, algo) }
            } catch .cublas {
                continue  // a candidate the heuristic offered but this problem rejects at run time
            }
        }
        plan.algo = best.algo
    }

    /// Timed runs per candidate algorithm when a plan is tuned.
    static let tuningRepeats = 3
    /// Heuristic candidates timed per new plan (1 turns tuning off: `MEGATRON_CUBLASLT_CANDIDATES=1`).
    static let candidateCount: Int = {
        let requested = ProcessInfo.processInfo.environment["MEGATRON_CUBLASLT_CANDIDATES"].flatMap { Int($0) } ?? 8
        return min(max(requested, 1), 32)
    }()

    /// The ``Backend`` GEMM on tensors: `c = alpha · op(a) · op(b) + beta · c`, each tensor seen as
    /// the matrix `[shape.leading, shape.last]` (`a` is `[m, k]`, or `[k, m]` transposed).
    public func gemm(
        _ a: Tensor, _ b: Tensor, into c: Tensor, transposeA: Bool = false, transposeB: Bool = false,
        alpha: Float = 1, beta: Float = 0, epilogue: MatmulEpilogue = .none, biasType: DType? = nil,
        stream: CUDAStream
    ) throws(CUDAError) {
        let (m, k) = transposeA ? (a.shape.last, a.shape.leading) : (a.shape.leading, a.shape.last)
        let (bk, n) = transposeB ? (b.shape.last, b.shape.leading) : (b.shape.leading, b.shape.last)
        guard bk == k, c.shape.leading == m, c.shape.last == n else {
            throw .invalidArgument(
                op: "gemm", message: "shapes a \(a.shape)\(transposeA ? "ᵀ" : ""), b \(b.shape)\(transposeB ? "ᵀ" : ""), "
                    + "c \(c.shape) do not multiply ([m, k]·[k, n] → [m, n])")
        }
        try matmul(m: m, n: n, k: k,
                   a: MatmulOperand(DevicePointer(a.address), a.dtype, transposed: transposeA),
                   b: MatmulOperand(DevicePointer(b.address), b.dtype, transposed: transposeB),
                   c: MatmulOperand(DevicePointer(c.address), c.dtype),
                   alpha: alpha, beta: beta, epilogue: epilogue, biasType: biasType, stream: stream)
    }
}

/// Everything the heuristic's choice depends on.
struct PlanKey: Hashable, CustomStringConvertible {
    let problem: ColumnMajorMatmul
    let typeA: Int32, typeB: Int32, typeC: Int32
    let elementSizeC: Int
    let computeType: Int32
    let epilogue: UInt32
    let biasType: Int32?
    let auxLeadingDimension: Int?
    let batchCount: Int
    let strides: [Int]  // batch strides of cuBLASLt's A, B, C
    /// Alignments (≤ 256 bytes) of cuBLASLt's A, B, C, bias and aux pointers.
    let alignments: [Int]

    init(
        m: Int, n: Int, k: Int, a: MatmulOperand, b: MatmulOperand, c: MatmulOperand,
        epilogue: MatmulEpilogue, biasType: DType?, batchCount: Int, tf32: Bool
    ) throws(CUDAError) {
        let op = "cublasLt matmul [\(m), \(k)]·[\(k), \(n)]"
        guard k > 0, batchCount >= 1 else {
            throw .invalidArgument(op: op, message: "k = \(k) and batch count = \(batchCount) must be positive")
        }
        guard let typeA = a.dtype.cudaDataType, let typeB = b.dtype.cudaDataType, let typeC = c.dtype.cudaDataType,
              a.dtype == b.dtype, a.dtype != .fp32 || c.dtype == .fp32
        else {
            throw .invalidArgument(op: op, message: "unsupported types A \(a.dtype), B \(b.dtype), C \(c.dtype) "
                + "(A and B: both fp32, bf16 or fp16; C: fp32, bf16 or fp16, fp32 when A is)")
        }
        guard !c.transposed else { throw .invalidArgument(op: op, message: "C cannot be transposed") }
        problem = ColumnMajorMatmul(m: m, n: n, k: k, a: a, b: b, c: c)
        for (name, layout) in [("A", problem.b), ("B", problem.a), ("C", problem.c)]
        where layout.leadingDimension < layout.rows {
            throw .invalidArgument(op: op, message: "leading dimension of \(name) (\(layout.leadingDimension)) "
                + "is smaller than its row length (\(layout.rows))")
        }
        self.typeA = typeB  // cuBLASLt's A is the row-major B
        self.typeB = typeA
        self.typeC = typeC
        elementSizeC = c.dtype.byteSize
        computeType = Int32(a.dtype == .fp32 && tf32 ? CCUDA_CUBLAS_COMPUTE_32F_FAST_TF32 : CCUDA_CUBLAS_COMPUTE_32F)
        self.epilogue = epilogue.cublasValue
        if let biasType {
            guard let type = biasType.cudaDataType else {
                throw .invalidArgument(op: op, message: "bias type \(biasType) is not fp32, bf16 or fp16")
            }
            self.biasType = type
        } else {
            self.biasType = nil
        }
        if let aux = epilogue.aux {
            let ld = aux.leadingDimension ?? n
            guard ld % 8 == 0, ld >= n else {
                throw .invalidArgument(op: op, message: "GELU auxiliary leading dimension \(ld) must be ≥ n = \(n) and a multiple of 8")
            }
            auxLeadingDimension = ld
        } else {
            auxLeadingDimension = nil
        }
        self.batchCount = batchCount
        strides = batchCount > 1 ? [b.batchStride, a.batchStride, c.batchStride] : []
        alignments = [b.pointer.alignment(), a.pointer.alignment(), c.pointer.alignment(),
                      epilogue.biasPointer?.alignment() ?? 256, epilogue.aux?.pointer.alignment() ?? 256]
    }

    var description: String {
        "m \(problem.n) n \(problem.m) k \(problem.k), op(A)\(problem.transposeB ? "ᵀ" : "") op(B)\(problem.transposeA ? "ᵀ" : ""), "
            + "types \(typeB)/\(typeA)/\(typeC), epilogue \(epilogue)" + (batchCount > 1 ? ", batch \(batchCount)" : "")
    }
}

/// The cuBLASLt objects for one ``PlanKey``: operation descriptor, layouts and algorithm.
final class Plan: @unchecked Sendable {
    // Sendable: used only under CUBLASLt's lock.
    let desc: cublasLtMatmulDesc_t
    let layoutA: cublasLtMatrixLayout_t
    let layoutB: cublasLtMatrixLayout_t
    let layoutC: cublasLtMatrixLayout_t
    /// The algorithm every call runs: the heuristic's first, then the fastest once tuned.
    var algo: cublasLtMatmulAlgo_t
    /// Algorithms still to time on the first call (emptied by tuning).
    var candidates: [cublasLtMatmulAlgo_t]
    /// Bytes of the output matrix (all batches): the size of a tuning scratch copy.
    let outputBytes: Int

    init(key: PlanKey, epilogue: MatmulEpilogue, library: CUBLASLtLibrary, handle: cublasLtHandle_t,
         workspaceSize: Int) throws(CUDAError) {
        let s = library.symbols
        let p = key.problem
        var created: [() -> Void] = []  // undo list if a later step fails
        func fail(_ error: CUDAError) -> CUDAError {
            created.reversed().forEach { $0() }
            return error
        }

        var desc: cublasLtMatmulDesc_t?
        let createDesc = try library.require(s.cublasLtMatmulDescCreate, "cublasLtMatmulDescCreate")
        try library.check(createDesc(&desc, key.computeType, Int32(CCUDA_CUDA_R_32F)), "cublasLtMatmulDescCreate")
        guard let desc else { throw .cublas(call: "cublasLtMatmulDescCreate", status: library.status(1)) }
        created.append { _ = s.cublasLtMatmulDescDestroy?(desc) }

        func setDesc<T: BitwiseCopyable>(_ attribute: Int, _ value: T, _ name: String) throws(CUDAError) {
            var value = value
            guard let set = s.cublasLtMatmulDescSetAttribute else {
                throw fail(.symbolNotFound(library: library.library.path, symbol: "cublasLtMatmulDescSetAttribute"))
            }
            let status = set(desc, Int32(attribute), &value, MemoryLayout<T>.size)
            if status != 0 { throw fail(.cublas(call: "cublasLtMatmulDescSetAttribute(\(name))", status: library.status(status))) }
        }
        try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_TRANSA, Int32(p.transposeA ? CCUDA_CUBLAS_OP_T : CCUDA_CUBLAS_OP_N), "TRANSA")
        try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_TRANSB, Int32(p.transposeB ? CCUDA_CUBLAS_OP_T : CCUDA_CUBLAS_OP_N), "TRANSB")
        try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE, key.epilogue, "EPILOGUE")
        if let bias = epilogue.biasPointer {
            try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias.rawValue, "BIAS_POINTER")
            if let biasType = key.biasType { try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, biasType, "BIAS_DATA_TYPE") }
        }
        if let aux = epilogue.aux, let ld = key.auxLeadingDimension {
            try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, aux.pointer.rawValue, "EPILOGUE_AUX_POINTER")
            try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, Int64(ld), "EPILOGUE_AUX_LD")
            if key.batchCount > 1 {
                try setDesc(CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE, Int64(ld * p.c.columns), "EPILOGUE_AUX_BATCH_STRIDE")
            }
        }

        func layout(_ l: ColumnMajorMatmul.Layout, _ type: Int32, stride: Int?, _ name: String) throws(CUDAError) -> cublasLtMatrixLayout_t {
            var layout: cublasLtMatrixLayout_t?
            guard let create = s.cublasLtMatrixLayoutCreate, let set = s.cublasLtMatrixLayoutSetAttribute else {
                throw fail(.symbolNotFound(library: library.library.path, symbol: "cublasLtMatrixLayoutCreate"))
            }
            let status = create(&layout, type, UInt64(l.rows), UInt64(l.columns), Int64(l.leadingDimension))
            guard status == 0, let layout else {
                throw fail(.cublas(call: "cublasLtMatrixLayoutCreate(\(name) \(l.rows)×\(l.columns), ld \(l.leadingDimension))",
                                   status: library.status(status == 0 ? 1 : status)))
            }
            created.append { _ = s.cublasLtMatrixLayoutDestroy?(layout) }
            if let stride {
                var count = Int32(key.batchCount), offset = Int64(stride)
                let s1 = set(layout, Int32(CCUDA_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT), &count, 4)
                let s2 = set(layout, Int32(CCUDA_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET), &offset, 8)
                if s1 != 0 || s2 != 0 {
                    throw fail(.cublas(call: "cublasLtMatrixLayoutSetAttribute(\(name) batch)", status: library.status(s1 != 0 ? s1 : s2)))
                }
            }
            return layout
        }
        let strides = key.strides
        let layoutA = try layout(p.a, key.typeA, stride: strides.isEmpty ? nil : strides[0], "A")
        let layoutB = try layout(p.b, key.typeB, stride: strides.isEmpty ? nil : strides[1], "B")
        let layoutC = try layout(p.c, key.typeC, stride: strides.isEmpty ? nil : strides[2], "C")

        // Heuristic: the best algorithm for this workspace and these pointer alignments.
        guard let createPref = s.cublasLtMatmulPreferenceCreate, let setPref = s.cublasLtMatmulPreferenceSetAttribute,
              let destroyPref = s.cublasLtMatmulPreferenceDestroy, let heuristic = s.cublasLtMatmulAlgoGetHeuristic
        else { throw fail(.symbolNotFound(library: library.library.path, symbol: "cublasLtMatmulPreference*/AlgoGetHeuristic")) }
        var preference: cublasLtMatmulPreference_t?
        let prefStatus = createPref(&preference)
        guard prefStatus == 0, let preference else {
            throw fail(.cublas(call: "cublasLtMatmulPreferenceCreate", status: library.status(prefStatus == 0 ? 1 : prefStatus)))
        }
        defer { _ = destroyPref(preference) }
        var workspace = UInt64(workspaceSize)
        _ = setPref(preference, Int32(CCUDA_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES), &workspace, 8)
        let alignmentAttributes = [CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                   CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES]
        for (index, attribute) in alignmentAttributes.enumerated() {
            var alignment = UInt32(key.alignments[min(index, 2)])
            _ = setPref(preference, Int32(attribute), &alignment, 4)
        }
        var results = [cublasLtMatmulHeuristicResult_t](repeating: cublasLtMatmulHeuristicResult_t(), count: CUBLASLt.candidateCount)
        var returned: Int32 = 0
        let status = heuristic(handle, desc, layoutA, layoutB, layoutC, layoutC, preference, Int32(results.count), &results, &returned)
        guard status == 0 else {
            throw fail(.cublas(call: "cublasLtMatmulAlgoGetHeuristic(\(key))", status: library.status(status)))
        }
        guard returned > 0, results[0].state == 0 else {
            throw fail(.cublas(call: "cublasLtMatmulAlgoGetHeuristic(\(key)) found no algorithm",
                               status: library.status(Int32(15))))
        }
        self.desc = desc
        self.layoutA = layoutA
        self.layoutB = layoutB
        self.layoutC = layoutC
        algo = results[0].algo
        let usable = results.prefix(Int(returned)).filter { $0.state == 0 && $0.workspaceSize <= workspaceSize }.map(\.algo)
        candidates = usable.count > 1 ? usable : []
        let cBatchStride = strides.isEmpty ? 0 : strides[2]
        outputBytes = (max(cBatchStride * (key.batchCount - 1), 0) + p.c.leadingDimension * p.c.columns) * key.elementSizeC
    }

    func destroy(_ s: CUBLASLtSymbols) {
        _ = s.cublasLtMatrixLayoutDestroy?(layoutA)
        _ = s.cublasLtMatrixLayoutDestroy?(layoutB)
        _ = s.cublasLtMatrixLayoutDestroy?(layoutC)
        _ = s.cublasLtMatmulDescDestroy?(desc)
    }
}
