import CCUDA
import MegatronTensor

/// One matrix of a row-major matmul: where it is, its element type, whether it is used
/// transposed, and how it is laid out.
///
///     let x = MatmulOperand(DevicePointer(input.address), .bf16)
///     let w = MatmulOperand(DevicePointer(weight.address), .bf16, transposed: true)   // [out, in] used as [in, out]
public struct MatmulOperand: Hashable, Sendable {
    public var pointer: DevicePointer
    public var dtype: DType
    /// Use the stored matrix transposed (only for A and B).
    public var transposed: Bool
    /// Elements from one stored row to the next; nil for densely packed rows.
    public var leadingDimension: Int?
    /// Elements from one matrix of a batch to the next (only when `batchCount > 1`).
    public var batchStride: Int

    public init(
        _ pointer: DevicePointer, _ dtype: DType, transposed: Bool = false, leadingDimension: Int? = nil,
        batchStride: Int = 0
    ) {
        self.pointer = pointer
        self.dtype = dtype
        self.transposed = transposed
        self.leadingDimension = leadingDimension
        self.batchStride = batchStride
    }
}

/// What cuBLASLt does to the product before writing C, described for the row-major problem
/// `C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C`.
///
/// Bias vectors and bias gradients have the type of C unless `biasType` is given to `matmul`;
/// bias gradients are written, not accumulated. Auxiliary GELU inputs are `[m, n]` matrices of
/// C's type whose leading dimension (default n) must be a multiple of 8.
public enum MatmulEpilogue: Hashable, Sendable {
    case none
    /// `C[i, j] += bias[j]` (bias has n elements).
    case bias(DevicePointer)
    /// `C = GELU(product)` (tanh approximation).
    case gelu
    /// `C = GELU(product + bias)`.
    case geluBias(DevicePointer)
    /// `C = GELU(product)`, saving the GELU input in `aux` for the backward pass.
    case geluAux(aux: DevicePointer, leadingDimension: Int? = nil)
    /// `C = GELU(product + bias)`, saving the GELU input in `aux`.
    case geluAuxBias(bias: DevicePointer, aux: DevicePointer, leadingDimension: Int? = nil)
    /// Backward of GELU: `C = product ⊙ GELU'(aux)`.
    case dgelu(aux: DevicePointer, leadingDimension: Int? = nil)
    /// Backward of GELU plus `biasGradient[j] = Σ_i C[i, j]` (cuBLASLt `DGELU_BGRAD`).
    case dgeluBiasGradient(aux: DevicePointer, biasGradient: DevicePointer, leadingDimension: Int? = nil)
    /// `biasGradient[i] = Σ_k op(A)[i, k]` (m elements), cuBLASLt `BGRADB`: the weight-gradient
    /// GEMM `dW[out, in] = dYᵀ · X` gives the bias gradient `Σ_rows dY` for free.
    case biasGradientFromA(DevicePointer)
    /// `biasGradient[j] = Σ_k op(B)[k, j]` (n elements), cuBLASLt `BGRADA`.
    case biasGradientFromB(DevicePointer)

    /// A short name for logs and profiles ("bias", "gelu_aux_bias", ...).
    public var name: String {
        switch self {
        case .none: "none"
        case .bias: "bias"
        case .gelu: "gelu"
        case .geluBias: "gelu_bias"
        case .geluAux: "gelu_aux"
        case .geluAuxBias: "gelu_aux_bias"
        case .dgelu: "dgelu"
        case .dgeluBiasGradient: "dgelu_bgrad"
        case .biasGradientFromA: "bgrad_a"
        case .biasGradientFromB: "bgrad_b"
        }
    }

    /// The `cublasLtEpilogue_t` value.
    var cublasValue: UInt32 {
        let value: Int = switch self {
        case .none: CCUDA_CUBLASLT_EPILOGUE_DEFAULT
        case .bias: CCUDA_CUBLASLT_EPILOGUE_BIAS
        case .gelu: CCUDA_CUBLASLT_EPILOGUE_GELU
        case .geluBias: CCUDA_CUBLASLT_EPILOGUE_GELU_BIAS
        case .geluAux: CCUDA_CUBLASLT_EPILOGUE_GELU_AUX
        case .geluAuxBias: CCUDA_CUBLASLT_EPILOGUE_GELU_AUX_BIAS
        case .dgelu: CCUDA_CUBLASLT_EPILOGUE_DGELU
        case .dgeluBiasGradient: CCUDA_CUBLASLT_EPILOGUE_DGELU_BGRAD
        case .biasGradientFromA: CCUDA_CUBLASLT_EPILOGUE_BGRADB  // row-major A is cuBLASLt's B
        case .biasGradientFromB: CCUDA_CUBLASLT_EPILOGUE_BGRADA
        }
        return UInt32(value)
    }

    /// The bias (or bias-gradient) vector, when the epilogue has one.
    var biasPointer: DevicePointer? {
        switch self {
        case let .bias(p), let .geluBias(p), let .biasGradientFromA(p), let .biasGradientFromB(p): p
        case let .geluAuxBias(bias, _, _): bias
        case let .dgeluBiasGradient(_, gradient, _): gradient
        case .none, .gelu, .geluAux, .dgelu: nil
        }
    }

    /// The auxiliary matrix and its leading dimension, when the epilogue has one.
    var aux: (pointer: DevicePointer, leadingDimension: Int?)? {
        switch self {
        case let .geluAux(p, ld), let .geluAuxBias(_, p, ld), let .dgelu(p, ld), let .dgeluBiasGradient(p, _, ld): (p, ld)
        case .none, .bias, .gelu, .geluBias, .biasGradientFromA, .biasGradientFromB: nil
        }
    }
}

/// How a row-major product is handed to column-major cuBLASLt: a row-major `X[r, c]` is the
/// column-major `Xᵀ[c, r]` with the same leading dimension, so `C = op(A)·op(B)` is computed as
/// `Cᵀ = op(B)ᵀ·op(A)ᵀ`: the operands swap, m and n swap, and each keeps its transpose flag.
struct ColumnMajorMatmul: Hashable {
    struct Layout: Hashable {
        var rows: Int
        var columns: Int
        var leadingDimension: Int
    }

    var m: Int, n: Int, k: Int
    /// cuBLASLt's A is the row-major B, and its B the row-major A.
    var transposeA: Bool, transposeB: Bool
    var a: Layout, b: Layout, c: Layout

    init(m: Int, n: Int, k: Int, a: MatmulOperand, b: MatmulOperand, c: MatmulOperand) {
        self.m = n
        self.n = m
        self.k = k
        transposeA = b.transposed
        transposeB = a.transposed
        // Row-major B stored [k, n] (or [n, k] transposed) is column-major [n, k] (or [k, n]).
        let bRows = b.transposed ? k : n, bColumns = b.transposed ? n : k
        self.a = Layout(rows: bRows, columns: bColumns, leadingDimension: b.leadingDimension ?? bRows)
        let aRows = a.transposed ? m : k, aColumns = a.transposed ? k : m
        self.b = Layout(rows: aRows, columns: aColumns, leadingDimension: a.leadingDimension ?? aRows)
        self.c = Layout(rows: n, columns: m, leadingDimension: c.leadingDimension ?? n)
    }
}

extension DType {
    /// The `cudaDataType_t` value, for the types cuBLASLt multiplies.
    var cudaDataType: Int32? {
        // Comparisons rather than a switch, so that new DType cases don't break this file.
        if self == .fp32 { return Int32(CCUDA_CUDA_R_32F) }
        if self == .fp16 { return Int32(CCUDA_CUDA_R_16F) }
        if self == .bf16 { return Int32(CCUDA_CUDA_R_16BF) }
        return nil
    }
}
