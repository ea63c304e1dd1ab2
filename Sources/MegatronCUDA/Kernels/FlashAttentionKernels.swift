import MegatronTensor

/// Flash-attention forward and backward (FlashAttention-2, Dao 2023) as CUDA C for NVRTC:
/// causal, grouped-query, optional Philox attention dropout bit-identical to the CPU reference
/// (`AttentionDropoutMask`: the counter of score (i, j) of batch bb, query head h is
/// `((bb·nq + h)·s + i)·s + j`; keep when uniform ≥ p, scale 1/(1−p)). No s×s matrix is ever
/// stored. `T` is `float` (`f32`), `__nv_bfloat16` (`bf16`) or `mk::f16` (`f16`, IEEE binary16
/// bits, see ``KernelSources``; `fa_f16` in the source); all tensors are dense row-major:
/// `q, out, dout, dq [s, b, nq, d]`, `k, v, dk, dv [s, b, ng, d]` (ng divides nq; query head h
/// reads key/value head h / (nq/ng)), `lse, delta [b, nq, s]` fp32. Requires scale > 0 and
/// 0 ≤ dropout < 1. Grid x is the (batch, head) index, so b·nq (b·ng) may be up to 2³¹−1;
/// grid y is at most 65535 (s ≤ 2 million for 32-row tiles).
/// ``forward(_:s:b:nq:ng:d:dropout:)``, ``backwardPreprocess(_:s:b:nq:d:)``,
/// ``backward(_:s:b:nq:ng:d:dropout:)`` and ``convertDQ(_:count:)`` below compute every
/// launch (name, grid, block, shared bytes) for an ``Element``; the tables spell them out.
///
/// Compile the whole source (it starts with ``KernelSources/prelude``) once per device with
/// NVRTC (`--gpu-architecture=sm_XY`, C++17, an `-I` to the CUDA toolkit's include folder for
/// `cuda_bf16.h`; no `--use_fast_math`: the fp32 path is checked to 1e-5). The tensor-core kernels need sm_80+
/// (on older GPUs they trap); everything else compiles for sm_75 too. Kernels whose dynamic
/// shared memory exceeds 48 KiB need `cuFuncSetAttribute(f,
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes)` once before their first launch
/// (sm_80/sm_90 allow 163/227 KiB a block; sm_86/sm_89 only 99 KiB, too little for
/// `flash_attn_bwd_<bf16|f16>_d128` and the `generic` backward).
///
/// ## Forward — `out`, `lse` (both fully overwritten for all s rows)
///
///     extern "C" __global__ void flash_attn_fwd_<f32|bf16|f16>_<d64|d128|generic>[_dropout](
///         const T* q, const T* k, const T* v, T* out, float* lse,
///         int s, int b, int nq, int ng, int d, float scale, float dropout,
///         unsigned long long seed)
///
/// | function | path | grid | block | dynamic shared bytes |
/// | --- | --- | --- | --- | --- |
/// | `flash_attn_fwd_<bf16\|f16>_d64[_dropout]` | tensor cores, Br 128, Bc 64 | (b·nq, ⌈s/128⌉) | 128 | 55 296 |
/// | `flash_attn_fwd_<bf16\|f16>_d128[_dropout]` | tensor cores, Br 128, Bc 32 | (b·nq, ⌈s/128⌉) | 128 | 69 632 |
/// | `flash_attn_fwd_f32_d64` | fp32 FMA, Br = Bc = 32 | (b·nq, ⌈s/32⌉) | 128 | 29 056 |
/// | `flash_attn_fwd_f32_d128` | fp32 FMA | (b·nq, ⌈s/32⌉) | 128 | 53 632 |
/// | `flash_attn_fwd_<f32\|bf16\|f16>_generic` | fp32 FMA, any d ≤ 256 (16-bit types: d ∉ {64, 128}) | (b·nq, ⌈s/32⌉) | 128 | 102 784 |
///
/// `d` is read only by the `generic` kernels (the others are compiled for their d). The
/// tensor-core kernels come in two builds (the `_dropout` suffix exists only for them): without
/// it they are for dropout == 0 only and carry no dropout code (the backward runs about 4%
/// faster; all but the d64 forward `__trap()` on dropout ≠ 0); the `_dropout` ones take any
/// 0 ≤ dropout < 1. The fp32-FMA kernels branch on dropout at run time.
/// Tensor-core kernels: Br = 16·MT·warps rows per block, S = QKᵀ and O += PV with
/// `mma.sync.m16n8k16.row.col.f32.{bf16,f16}` (one template over T: only the mma and the
/// `cvt.rn.{bf16x2,f16x2}.f32` packing differ) from `ldmatrix` fragments, K/V tiles
/// double-buffered with 16-byte `cp.async` (zero-filled past s), online softmax in fp32 (log2
/// domain, `ex2.approx`), P rounded to T for PV, O staged through shared memory for 16-byte
/// stores. They need q, k, v, out 16-byte aligned. Blocks run heaviest (last) query tile first.
///
/// ## Backward — `dq`, `dk`, `dv` (all fully overwritten)
///
/// Three launches in order, with two fp32 scratch buffers the host allocates (no zeroing
/// needed): `delta [b, nq, s]` (4·b·nq·s bytes) and `dq_accum [s, b, nq, d]` (4·s·b·nq·d bytes).
///
///     // 1. delta_i = rowsum(dO_i ∘ O_i) in fp32; zeroes dq_accum.
///     extern "C" __global__ void flash_attn_bwd_preprocess_<f32|bf16|f16>(
///         const T* dout, const T* out, float* delta, float* dq_accum, int s, int b, int nq, int d)
///     // 2. dK, dV (written), dQ (fp32 atomics into dq_accum).
///     extern "C" __global__ void flash_attn_bwd_<f32|bf16|f16>_<d64|d128|generic>[_dropout](
///         const T* dout, const T* q, const T* k, const T* v, const float* lse,
///         const float* delta, float* dq_accum, T* dk, T* dv,
///         int s, int b, int nq, int ng, int d, float scale, float dropout,
///         unsigned long long seed)
///     // 3. dq = T(dq_accum), n = s·b·nq·d.
///     extern "C" __global__ void flash_attn_bwd_convert_dq_<f32|bf16|f16>(
///         const float* dq_accum, T* dq, long long n)
///
/// | function | grid | block | dynamic shared bytes |
/// | --- | --- | --- | --- |
/// | `flash_attn_bwd_preprocess_<f32\|bf16\|f16>` | ⌈s·b·nq / (8·rows per warp)⌉, rows per warp `32/(d/8)` when d/8 is a power of two ≤ 32, else 1 (grid-stride) | 256 | 0 |
/// | `flash_attn_bwd_<bf16\|f16>_d64[_dropout]` (tensor cores, Bc 128, Br 64) | (b·ng, ⌈s/128⌉) | 256 | 93 184 |
/// | `flash_attn_bwd_<bf16\|f16>_d128[_dropout]` (tensor cores, Bc 128, Br 64) | (b·ng, ⌈s/128⌉) | 256 | 158 720 |
/// | `flash_attn_bwd_f32_d64` (fp32 FMA, Bc = Br = 32) | (b·ng, ⌈s/32⌉) | 128 | 41 984 |
/// | `flash_attn_bwd_f32_d128` | (b·ng, ⌈s/32⌉) | 128 | 74 752 |
/// | `flash_attn_bwd_<f32\|bf16\|f16>_generic` (any d ≤ 256; 16-bit types: d ∉ {64, 128}) | (b·ng, ⌈s/32⌉) | 128 | 140 288 |
/// | `flash_attn_bwd_convert_dq_<f32\|bf16\|f16>` | min(⌈n/2048⌉, 1 048 576) (grid-stride, 8 per thread) | 256 | 0 |
///
/// Each backward block owns one key/value tile of one (batch, query group) and loops over all
/// nq/ng query heads of the group and every query tile at or below the diagonal, recomputing
/// P = exp(scale·QKᵀ − lse) and the dropout mask: dK and dV accumulate in registers and are
/// written once, so they are deterministic (no atomics, no dK/dV scratch). dQ = dS·K is added
/// with fp32 `atomicAdd` (float2 on sm_90) into `dq_accum`, so its last bits depend on the order
/// in which blocks finish (not bit-reproducible run to run). With T = float, `dq` itself may be
/// passed as `dq_accum` (preprocess zeroes it) and the convert launch skipped. Tensor-core
/// kernels compute Sᵀ = KQᵀ and dPᵀ = V·dOᵀ per warp (16 key rows), dS rounded to T for
/// dK, dQ and P for dV (as FlashAttention-2); they need dout, q, k, v 16-byte aligned,
/// dq_accum 8-byte aligned. With fp16, dS carries the loss scale of `--fp16` training: a dS
/// beyond 65 504 becomes inf in dK/dQ, which the dynamic loss scaler sees and backs off from
/// (FlashAttention-2's fp16 path behaves the same).
///
/// ## Segments — attention within documents (`--reset-attention-mask`)
///
/// ``segmentSource`` (group `flash_attention_segments`) holds every forward and backward kernel
/// above once more, named with `_segments` appended (`flash_attn_fwd_bf16_d64_dropout_segments`)
/// and taking one more argument after `seed`, `const int* segments`: int32 `[b, s]`, 4-byte
/// aligned. Query i of batch row bb sees key j only if j ≤ i and `segments[bb·s + j] ==
/// segments[bb·s + i]`; the masked scores are −∞ exactly where the causal ones are, and the
/// launches (grid, block) are the plain ones. Dynamic shared memory grows by the staged ids
/// (shared memory, not registers: the d128 tensor-core kernels have none to spare): tensor-core
/// forward 4·(2·Bc + 128) bytes (a double-buffered `int [2][Bc]` of the key tile, loaded with
/// 4-byte `cp.async` next to K and V, and the block's 128 query rows), tensor-core backward
/// 4·(2·64 + 128) (`int [2][64]` of the query tile next to lse and delta, and the block's 128
/// keys), fp32-FMA forward 128 and backward 256. Preprocess and convert are shared with the
/// plain kernels (they do not depend on the mask). The plain kernels are the same templates
/// instantiated with `SEG = false` (the default): their PTX is byte for byte what it was before
/// segments existed (checked for compute_90), and the segment group is compiled only once a run
/// uses it. ptxas (sm_90) spills a little in three segment kernels: the d128 forward 12/24 bytes
/// stored/loaded (20/32 with dropout), the d128 dropout backward 8/16; the others spill as their
/// plain twins. A row can meet a tile whose keys are all masked (an earlier document): its
/// running max stays −∞, alpha and p are exp2(−∞) = 0, and since every row sees itself its lse
/// stays finite, so no NaN arises. Tiles wholly before a row's document are still computed
/// (masked), not skipped. `megatron gpu-check` compares them with the CPU reference (its
/// `attention … segments` cases).
///
/// Validated on an H100 and an H200 (CuPy + NVRTC) against a float64 PyTorch reference with the
/// Philox mask regenerated in NumPy (checked against MegatronTensor.Philox), inputs and outputs
/// poisoned with NaN first, for (s, b, nq, ng, d) ∈ {(1,1,1,1,64), (7,2,4,2,64), (100,2,4,1,128),
/// (257,1,6,2,64), (512,2,4,4,128), (300,1,8,2,128), (130,1,2,1,80), (65,1,2,2,256),
/// (33,1,3,1,32), (1,2,2,1,128), (64,1,2,2,64), (129,1,1,1,128)} × dropout {0, 0.1, 0.5}
/// (s % 4 == 0 and ≠ 0 take different dropout code paths). Worst ‖Δ‖/‖ref‖: f32 kernels
/// ≤ 7.7e-7 (out, lse, dq, dk, dv); bf16 ≤ 2.5e-3 (out, dv), ≤ 4.3e-3 (dq, dk), 3e-7 (lse).
/// The f16 kernels (the same templates) were not part of that study; `megatron gpu-check`
/// compares them with the CPU reference (`BackendCheck`, tolerance 1e-2).
/// At s = 1, dq and dk are exactly 0 in exact arithmetic, so any reference (the CPU one too)
/// holds only rounding noise there: compare them absolutely. Speed on one H100 (causal, bf16,
/// ms, forward / backward incl. preprocess and convert): s 4096, b 2, 16 heads, d 128: 0.50 /
/// 1.53 (PyTorch 2.11 flash: 0.51 / 1.45; cuDNN: 0.25 / 0.79); s 2048, b 4, 32 heads, d 64:
/// 0.28 / 1.04 (flash 0.28 / 0.90); s 8192, b 1, 16 heads, d 128: 0.99 / 2.90 (flash 0.93 /
/// 2.46). Dropout 0.1 costs about 1.65× forward and 1.7× backward.
enum FlashAttentionKernels {
    /// One launch: the kernel group (a name of ``KernelSources/all``), the function's name, grid,
    /// block size (threads) and dynamic shared memory.
    struct Launch: Sendable {
        var group = "flash_attention"
        let function: String
        let gridX: Int
        let gridY: Int
        let block: Int
        let sharedBytes: Int
    }

    /// The element type of q, k, v, out and their gradients, as the kernel names spell it.
    enum Element: String, Sendable, CaseIterable {
        case f32, bf16, f16

        /// nil for a type no attention kernel takes.
        init?(_ dtype: DType) {
            switch dtype {
            case .fp32: self = .f32
            case .bf16: self = .bf16
            case .fp16: self = .f16
            default: return nil
            }
        }
    }

    /// Whether the tensor-core kernels serve this element type and head dimension (the 16-bit
    /// types with d 64 or 128).
    static func usesTensorCores(_ element: Element, d: Int) -> Bool { element != .f32 && (d == 64 || d == 128) }

    /// Largest head dimension any kernel here handles (the `generic` ones).
    static let maxHeadDim = 256

    private static func suffix(_ element: Element, _ d: Int, _ dropout: Float) -> String {
        if usesTensorCores(element, d: d) { return "\(element.rawValue)_d\(d)" + (dropout > 0 ? "_dropout" : "") }
        return "\(element.rawValue)_" + (element == .f32 && (d == 64 || d == 128) ? "d\(d)" : "generic")
    }

    private static func simpleMaxD(_ d: Int) -> Int { d == 64 || d == 128 ? d : maxHeadDim }

    /// The `flash_attention_segments` twin of a plain launch: `_segments` appended to the name,
    /// `extraBytes` more shared memory (the segment ids the block stages).
    private static func withSegments(_ l: Launch, _ segments: Bool, extraBytes: Int) -> Launch {
        guard segments else { return l }
        return Launch(group: "flash_attention_segments", function: l.function + "_segments", gridX: l.gridX, gridY: l.gridY,
                      block: l.block, sharedBytes: l.sharedBytes + extraBytes)
    }

    /// `flash_attn_fwd_*` for `q [s, b, nq, d]`, `k, v [s, b, ng, d]`; `segments`: the
    /// `flash_attention_segments` kernel.
    static func forward(_ element: Element, s: Int, b: Int, nq: Int, ng: Int, d: Int, dropout: Float, segments: Bool = false) -> Launch {
        let name = "flash_attn_fwd_" + suffix(element, d, dropout)
        if usesTensorCores(element, d: d) {
            let (rows, columns) = (128, d == 64 ? 64 : 32)
            return withSegments(Launch(function: name, gridX: b * nq, gridY: (s + rows - 1) / rows, block: 128,
                                       sharedBytes: 2 * (rows * (d + 8) + 4 * columns * (d + 8))),
                                segments, extraBytes: 4 * (2 * columns + rows))
        }
        let dmax = simpleMaxD(d)
        return withSegments(Launch(function: name, gridX: b * nq, gridY: (s + 31) / 32, block: 128,
                                   sharedBytes: 4 * (32 * (dmax + 1) * 2 + 32 * dmax + 32 * 33)),
                            segments, extraBytes: 4 * 32)
    }

    /// `flash_attn_bwd_preprocess_*` (writes `delta`, zeroes `dq_accum`).
    static func backwardPreprocess(_ element: Element, s: Int, b: Int, nq: Int, d: Int) -> Launch {
        // Rows per warp: 32 / (d/8) on the vector path, else 1; 8 warps per block.
        let lanes = d / 8
        let perWarp = d % 8 == 0 && lanes <= 32 && lanes & (lanes - 1) == 0 ? 32 / lanes : 1
        let perBlock = 8 * perWarp
        return Launch(function: "flash_attn_bwd_preprocess_\(element.rawValue)",
                      gridX: max(1, min((s * b * nq + perBlock - 1) / perBlock, 1 << 20)), gridY: 1, block: 256, sharedBytes: 0)
    }

    /// `flash_attn_bwd_*` (dK, dV and the dQ accumulation); `segments`: the
    /// `flash_attention_segments` kernel.
    static func backward(_ element: Element, s: Int, b: Int, nq: Int, ng: Int, d: Int, dropout: Float, segments: Bool = false) -> Launch {
        let name = "flash_attn_bwd_" + suffix(element, d, dropout)
        if usesTensorCores(element, d: d) {
            let keys = 128
            return withSegments(Launch(function: name, gridX: b * ng, gridY: (s + keys - 1) / keys, block: 256,
                                       sharedBytes: 2 * (2 * keys * (d + 8) + 4 * 64 * (d + 8) + keys * 72) + 16 * 64),
                                segments, extraBytes: 4 * (2 * 64 + keys))
        }
        let dmax = simpleMaxD(d)
        return withSegments(Launch(function: name, gridX: b * ng, gridY: (s + 31) / 32, block: 128,
                                   sharedBytes: 4 * (4 * 32 * (dmax + 1) + 2 * 32 * 33 + 64)),
                            segments, extraBytes: 4 * (32 + 32))
    }

    /// `flash_attn_bwd_convert_dq_*` over `count = s·b·nq·d` elements.
    static func convertDQ(_ element: Element, count: Int) -> Launch {
        Launch(function: "flash_attn_bwd_convert_dq_\(element.rawValue)",
               gridX: max(1, min((count + 2047) / 2048, 1 << 20)), gridY: 1, block: 256, sharedBytes: 0)
    }

    static let source: String = KernelSources.prelude + body + plainEntryPoints

    /// The `flash_attention_segments` group: the same templates as ``source`` with `SEG = true`,
    /// entry points named `…_segments` whose last argument is `const int* segments` (see the
    /// tables above), compiled only when a run passes segments.
    static let segmentSource: String = KernelSources.prelude + body + segmentEntryPoints

    /// Helpers and the kernel templates, no entry points.
    private static let body: String = """

// ---------------------------------------------------------------------------------------------
// Common helpers (the prelude gives cuda_bf16.h and mk::f16)
// ---------------------------------------------------------------------------------------------

#define FA_INF __int_as_float(0x7f800000)
#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

typedef unsigned int fa_u32;
typedef unsigned long long fa_u64;
typedef __nv_bfloat16 fa_bf16;
typedef mk::f16 fa_f16;

extern __shared__ __align__(16) unsigned char fa_smem[];

__device__ __forceinline__ float fa_load(const float* p) { return *p; }
__device__ __forceinline__ float fa_load(const fa_bf16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void fa_store(float* p, float x) { *p = x; }
__device__ __forceinline__ float fa_load(const fa_f16* p) { return mk::to_float(*p); }
__device__ __forceinline__ void fa_store(fa_bf16* p, float x) { *p = __float2bfloat16_rn(x); }
__device__ __forceinline__ void fa_store(fa_f16* p, float x) { *p = mk::from_float<fa_f16>(x); }

// Philox4x32-10 exactly as MegatronTensor.Philox: key = (seed lo, seed hi), counter =
// (block lo, block hi, 0, 0). Returns the four output words of counter block `block`.
__device__ __forceinline__ uint4 fa_philox(fa_u64 block, fa_u64 seed) {
    fa_u32 c0 = (fa_u32)block, c1 = (fa_u32)(block >> 32), c2 = 0u, c3 = 0u;
    fa_u32 k0 = (fa_u32)seed, k1 = (fa_u32)(seed >> 32);
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        const fa_u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const fa_u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        const fa_u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    }
    return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ fa_u32 fa_lane(uint4 w, fa_u32 lane) {
    return lane == 0u ? w.x : (lane == 1u ? w.y : (lane == 2u ? w.z : w.w));
}

// uniform = float(word >> 8) * 2^-24, exact.
__device__ __forceinline__ float fa_uniform(fa_u32 word) {
    return (float)(word >> 8) * 5.9604644775390625e-08f;
}

// Keep-and-scale factor of stream element `index`: keep when uniform >= p.
__device__ __forceinline__ float fa_dropout_factor(fa_u64 index, fa_u64 seed, float p, float keep_scale) {
    const uint4 w = fa_philox(index >> 2, seed);
    return fa_uniform(fa_lane(w, (fa_u32)(index & 3ull))) >= p ? keep_scale : 0.f;
}

// Factors of the two consecutive elements `index`, `index + 1` (one or two Philox blocks).
__device__ __forceinline__ void fa_dropout_pair(fa_u64 index, fa_u64 seed, float p, float keep_scale,
                                                float& f0, float& f1) {
    const uint4 w = fa_philox(index >> 2, seed);
    const fa_u32 lane = (fa_u32)(index & 3ull);
    f0 = fa_uniform(fa_lane(w, lane)) >= p ? keep_scale : 0.f;
    fa_u32 word1;
    if (lane == 3u) {
        word1 = fa_philox((index + 1ull) >> 2, seed).x;
    } else {
        word1 = fa_lane(w, lane + 1u);
    }
    f1 = fa_uniform(word1) >= p ? keep_scale : 0.f;
}

// ---------------------------------------------------------------------------------------------
// Straightforward fp32-FMA path (T = float, bf16 or fp16; any d <= DMAX)
// ---------------------------------------------------------------------------------------------
// Block: 128 threads = 32 rows x 4 threads. Thread (r = tid / 4, sub = tid % 4) owns row r of
// the tile and the head-dim columns sub, sub + 4, sub + 8, ... Scores of row r against key
// column j = sub + 4c (c < 8) of a 32-wide key tile are computed by that thread; the 4 threads
// of a row (adjacent lanes) combine row maxima and sums with shuffles.

#define FA_S_BR 32
#define FA_S_BC 32
#define FA_S_NT 128

template <typename T, int DMAX, bool FIXED, bool SEG = false>
__device__ __forceinline__ void fa_fwd_simple(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
    T* __restrict__ out, float* __restrict__ lse,
    int s, int b, int nq, int ng, int d_arg, float scale, float p_drop, fa_u64 seed,
    const int* __restrict__ seg = nullptr)
{
    constexpr int BR = FA_S_BR, BC = FA_S_BC, NT = FA_S_NT, DP = DMAX + 1, CPT = DMAX / 4;
    const int d = FIXED ? DMAX : d_arg;
    float* Qs = reinterpret_cast<float*>(fa_smem);   // [BR][DP]
    float* Ks = Qs + BR * DP;                          // [BC][DP]
    float* Vs = Ks + BC * DP;                          // [BC][DMAX]
    float* Ps = Vs + BC * DMAX;                        // [BR][BC + 1]
    int* Sk = reinterpret_cast<int*>(Ps + BR * (BC + 1));   // [BC] key segment ids (SEG only)

    const int bh = blockIdx.x, bb = bh / nq, h = bh - bb * nq, grp = h / (nq / ng);
    const int q0 = (gridDim.y - 1 - blockIdx.y) * BR;
    const int tid = threadIdx.x, r = tid >> 2, sub = tid & 3;
    const size_t qstr = (size_t)b * nq * d, kstr = (size_t)b * ng * d;
    const T* qb = q + ((size_t)bb * nq + h) * d;
    const T* kb = k + ((size_t)bb * ng + grp) * d;
    const T* vb = v + ((size_t)bb * ng + grp) * d;
    const int* segb = SEG ? seg + (size_t)bb * s : nullptr;

    for (int e = tid; e < BR * d; e += NT) {
        const int rr = e / d, c = e - rr * d, i = q0 + rr;
        Qs[rr * DP + c] = i < s ? fa_load(qb + (size_t)i * qstr + c) : 0.f;
    }
    const float sl2 = scale * FA_LOG2E;
    const bool drop = p_drop > 0.f;
    const float keep = 1.0f / (1.0f - p_drop);
    const int i = q0 + r;
    const fa_u64 rowbase = ((fa_u64)bh * (fa_u64)s + (fa_u64)i) * (fa_u64)s;
    const int seg_i = SEG && i < s ? segb[i] : 0;
    float m = -FA_INF, l = 0.f;
    float o[CPT];
#pragma unroll
    for (int x = 0; x < CPT; ++x) o[x] = 0.f;

    const int kend = min(s, q0 + BR);
    for (int k0 = 0; k0 < kend; k0 += BC) {
        __syncthreads();
        for (int e = tid; e < BC * d; e += NT) {
            const int rr = e / d, c = e - rr * d, j = k0 + rr;
            const bool ok = j < s;
            Ks[rr * DP + c] = ok ? fa_load(kb + (size_t)j * kstr + c) : 0.f;
            Vs[rr * DMAX + c] = ok ? fa_load(vb + (size_t)j * kstr + c) : 0.f;
        }
        if (SEG && tid < BC) Sk[tid] = k0 + tid < s ? segb[k0 + tid] : 0;
        __syncthreads();
        float sc[BC / 4];
#pragma unroll
        for (int c = 0; c < BC / 4; ++c) sc[c] = 0.f;
        for (int e = 0; e < d; ++e) {
            const float qv = Qs[r * DP + e];
#pragma unroll
            for (int c = 0; c < BC / 4; ++c) sc[c] = fmaf(qv, Ks[(sub + 4 * c) * DP + e], sc[c]);
        }
        float mx = -FA_INF;
#pragma unroll
        for (int c = 0; c < BC / 4; ++c) {
            // A row may find every key of a tile masked (another document): m stays -inf and
            // m_use 0 below, so alpha and p are exp2(-inf) = 0, never NaN.
            if (k0 + sub + 4 * c > i || (SEG && Sk[sub + 4 * c] != seg_i)) sc[c] = -FA_INF;
            mx = fmaxf(mx, sc[c]);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m, mx * sl2);
        const float m_use = m_new == -FA_INF ? 0.f : m_new;
        const float alpha = exp2f(m - m_use);
        float rs = 0.f;
#pragma unroll
        for (int c = 0; c < BC / 4; ++c) {
            const int j = k0 + sub + 4 * c;
            float pv = exp2f(fmaf(sc[c], sl2, -m_use));
            rs += pv;
            if (drop && pv != 0.f) pv *= fa_dropout_factor(rowbase + (fa_u64)j, seed, p_drop, keep);
            Ps[r * (BC + 1) + sub + 4 * c] = pv;
        }
        rs += __shfl_xor_sync(0xffffffffu, rs, 1);
        rs += __shfl_xor_sync(0xffffffffu, rs, 2);
        l = l * alpha + rs;
        m = m_new;
#pragma unroll
        for (int x = 0; x < CPT; ++x) o[x] *= alpha;
        __syncwarp();
        for (int jj = 0; jj < BC; ++jj) {
            const float pv = Ps[r * (BC + 1) + jj];
#pragma unroll
            for (int x = 0; x < CPT; ++x) {
                const int c = sub + 4 * x;
                if (FIXED || c < d) o[x] = fmaf(pv, Vs[jj * DMAX + c], o[x]);
            }
        }
    }
    if (i < s) {
        const float inv = l > 0.f ? 1.0f / l : 0.f;
        T* ob = out + ((size_t)bb * nq + h) * d + (size_t)i * qstr;
#pragma unroll
        for (int x = 0; x < CPT; ++x) {
            const int c = sub + 4 * x;
            if (FIXED || c < d) fa_store(ob + c, o[x] * inv);
        }
        if (sub == 0) lse[(size_t)bh * s + i] = m * FA_LN2 + logf(l);
    }
}

template <typename T, int DMAX, bool FIXED, bool SEG = false>
__device__ __forceinline__ void fa_bwd_simple(
    const T* __restrict__ dout, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
    const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_acc,
    T* __restrict__ dk, T* __restrict__ dv,
    int s, int b, int nq, int ng, int d_arg, float scale, float p_drop, fa_u64 seed,
    const int* __restrict__ seg = nullptr)
{
    constexpr int BR = FA_S_BR, BC = FA_S_BC, NT = FA_S_NT, DP = DMAX + 1, CPT = DMAX / 4;
    const int d = FIXED ? DMAX : d_arg;
    float* Ks = reinterpret_cast<float*>(fa_smem);   // [BC][DP]
    float* Vs = Ks + BC * DP;                          // [BC][DP]
    float* Qs = Vs + BC * DP;                          // [BR][DP]
    float* dOs = Qs + BR * DP;                         // [BR][DP]
    float* Ps = dOs + BR * DP;                         // [BR][BC + 1]
    float* dSs = Ps + BR * (BC + 1);                   // [BR][BC + 1]
    float* ls = dSs + BR * (BC + 1);                   // [BR]  lse * log2(e)
    float* dls = ls + BR;                              // [BR]  delta
    int* Sq = reinterpret_cast<int*>(dls + BR);        // [BR]  query segment ids (SEG only)
    int* Sk = Sq + BR;                                 // [BC]  key segment ids (SEG only)

    const int bg = blockIdx.x, bb = bg / ng, grp = bg - bb * ng, G = nq / ng;
    const int k0 = blockIdx.y * BC;
    const int tid = threadIdx.x, r = tid >> 2, sub = tid & 3;
    const size_t qstr = (size_t)b * nq * d, kstr = (size_t)b * ng * d;
    const T* kb = k + ((size_t)bb * ng + grp) * d;
    const T* vb = v + ((size_t)bb * ng + grp) * d;
    const int* segb = SEG ? seg + (size_t)bb * s : nullptr;
    for (int e = tid; e < BC * d; e += NT) {
        const int rr = e / d, c = e - rr * d, j = k0 + rr;
        const bool ok = j < s;
        Ks[rr * DP + c] = ok ? fa_load(kb + (size_t)j * kstr + c) : 0.f;
        Vs[rr * DP + c] = ok ? fa_load(vb + (size_t)j * kstr + c) : 0.f;
    }
    if (SEG && tid < BC) Sk[tid] = k0 + tid < s ? segb[k0 + tid] : 0;   // read after the loop's barriers
    const float sl2 = scale * FA_LOG2E;
    const bool drop = p_drop > 0.f;
    const float keep = 1.0f / (1.0f - p_drop);
    float dka[CPT], dva[CPT];
#pragma unroll
    for (int x = 0; x < CPT; ++x) { dka[x] = 0.f; dva[x] = 0.f; }

    for (int hh = 0; hh < G; ++hh) {
        const int h = grp * G + hh, bh = bb * nq + h;
        const T* qb = q + ((size_t)bb * nq + h) * d;
        const T* dob = dout + ((size_t)bb * nq + h) * d;
        float* dqb = dq_acc + ((size_t)bb * nq + h) * d;
        for (int q0 = (k0 / BR) * BR; q0 < s; q0 += BR) {
            __syncthreads();
            for (int e = tid; e < BR * d; e += NT) {
                const int rr = e / d, c = e - rr * d, i = q0 + rr;
                const bool ok = i < s;
                Qs[rr * DP + c] = ok ? fa_load(qb + (size_t)i * qstr + c) : 0.f;
                dOs[rr * DP + c] = ok ? fa_load(dob + (size_t)i * qstr + c) : 0.f;
            }
            if (tid < BR) {
                const int i = q0 + tid;
                ls[tid] = i < s ? lse[(size_t)bh * s + i] * FA_LOG2E : FA_INF;
                dls[tid] = i < s ? delta[(size_t)bh * s + i] : 0.f;
                if (SEG) Sq[tid] = i < s ? segb[i] : 0;
            }
            __syncthreads();
            // Thread: query row r, key columns sub + 4c.
            float sc[BC / 4], dp[BC / 4];
#pragma unroll
            for (int c = 0; c < BC / 4; ++c) { sc[c] = 0.f; dp[c] = 0.f; }
            for (int e = 0; e < d; ++e) {
                const float qv = Qs[r * DP + e], dov = dOs[r * DP + e];
#pragma unroll
                for (int c = 0; c < BC / 4; ++c) {
                    sc[c] = fmaf(qv, Ks[(sub + 4 * c) * DP + e], sc[c]);
                    dp[c] = fmaf(dov, Vs[(sub + 4 * c) * DP + e], dp[c]);
                }
            }
            const int i = q0 + r;
            const fa_u64 rowbase = ((fa_u64)bh * (fa_u64)s + (fa_u64)i) * (fa_u64)s;
            const float lsv = ls[r], dlv = dls[r];
            const int sqv = SEG ? Sq[r] : 0;
#pragma unroll
            for (int c = 0; c < BC / 4; ++c) {
                const int j = k0 + sub + 4 * c;
                float pv = 0.f, z = 1.f;
                if (j <= i && i < s && (!SEG || Sk[sub + 4 * c] == sqv)) {
                    pv = exp2f(fmaf(sc[c], sl2, -lsv));
                    if (drop) z = fa_dropout_factor(rowbase + (fa_u64)j, seed, p_drop, keep);
                }
                dSs[r * (BC + 1) + sub + 4 * c] = pv * (z * dp[c] - dlv) * scale;
                Ps[r * (BC + 1) + sub + 4 * c] = pv * z;
            }
            __syncthreads();
            // Thread: key row r, head-dim columns sub + 4x: dV += P^T dO, dK += dS^T Q.
            for (int ii = 0; ii < BR; ++ii) {
                const float pv = Ps[ii * (BC + 1) + r], dsv = dSs[ii * (BC + 1) + r];
#pragma unroll
                for (int x = 0; x < CPT; ++x) {
                    const int c = sub + 4 * x;
                    if (FIXED || c < d) {
                        dva[x] = fmaf(pv, dOs[ii * DP + c], dva[x]);
                        dka[x] = fmaf(dsv, Qs[ii * DP + c], dka[x]);
                    }
                }
            }
            // Thread: query row r, columns sub + 4x: dQ += dS K (fp32 atomics).
            if (i < s) {
#pragma unroll
                for (int x = 0; x < CPT; ++x) {
                    const int c = sub + 4 * x;
                    if (FIXED || c < d) {
                        float acc = 0.f;
#pragma unroll 8
                        for (int jj = 0; jj < BC; ++jj) acc = fmaf(dSs[r * (BC + 1) + jj], Ks[jj * DP + c], acc);
                        atomicAdd(dqb + (size_t)i * qstr + c, acc);
                    }
                }
            }
        }
    }
    const int j = k0 + r;
    if (j < s) {
#pragma unroll
        for (int x = 0; x < CPT; ++x) {
            const int c = sub + 4 * x;
            if (FIXED || c < d) {
                fa_store(dk + ((size_t)bb * ng + grp) * d + (size_t)j * kstr + c, dka[x]);
                fa_store(dv + ((size_t)bb * ng + grp) * d + (size_t)j * kstr + c, dva[x]);
            }
        }
    }
}

// D_i = rowsum(dO_i * O_i) in fp32, and zeroes the fp32 dQ accumulator. Vector path (d/8 a power
// of two ≤ 32, 16-byte aligned rows): d/8 lanes per row, 8 elements each with 128-bit loads, and
// a shuffle reduction within each lane group; otherwise one warp per row, scalar. Grid-stride
// over rows in whole warps, so every lane reaches every shuffle.
template <typename T>
__device__ __forceinline__ void fa_bwd_preprocess(
    const T* __restrict__ dout, const T* __restrict__ out, float* __restrict__ delta, float* __restrict__ dq_acc,
    int s, int b, int nq, int d)
{
    const long long rows = (long long)s * b * nq;
    const int lane = threadIdx.x & 31;
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    const int lanes = d >> 3;
    const bool vec = (d & 7) == 0 && lanes <= 32 && (lanes & (lanes - 1)) == 0
        && mk::aligned16(dout) && mk::aligned16(out) && mk::aligned16(dq_acc);
    const int group = vec ? lanes : 32;           // lanes per row
    const int per_warp = 32 / group;              // rows per warp
    for (long long first = warp * per_warp; first < rows; first += warps * per_warp) {
        const long long row = first + lane / group;
        const int sub = lane % group;
        float acc = 0.f;
        if (row < rows) {
            const T* po = out + row * d;
            const T* pd = dout + row * d;
            float* pq = dq_acc + row * d;
            if (vec) {
                float o[8], g[8];
                mk::load8(po + sub * 8, o);
                mk::load8(pd + sub * 8, g);
#pragma unroll
                for (int k = 0; k < 8; ++k) acc = fmaf(g[k], o[k], acc);
                const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
                reinterpret_cast<float4*>(pq + sub * 8)[0] = zero;
                reinterpret_cast<float4*>(pq + sub * 8)[1] = zero;
            } else {
                for (int e = sub; e < d; e += 32) {
                    acc = fmaf(fa_load(pd + e), fa_load(po + e), acc);
                    pq[e] = 0.f;
                }
            }
        }
        for (int o = group >> 1; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (row < rows && sub == 0) {
            const long long h = row % nq, t = row / nq, bb = t % b, i = t / b;
            delta[(bb * nq + h) * s + i] = acc;
        }
    }
}

// dst = src rounded to T; 8 elements per thread with 128-bit accesses when both are 16-byte aligned.
template <typename T>
__device__ __forceinline__ void fa_convert(const float* __restrict__ src, T* __restrict__ dst, long long n) {
    const long long start = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long units = (mk::aligned16(src) && mk::aligned16(dst)) ? n / 8 : 0;
    for (long long u = start; u < units; u += stride) {
        float v[8];
        mk::load8(src + u * 8, v);
        mk::store8(dst + u * 8, v);
    }
    for (long long x = units * 8 + start; x < n; x += stride) fa_store(dst + x, src[x]);
}

// ---------------------------------------------------------------------------------------------
// 16-bit tensor-core path, T = bf16 or fp16 (mma.sync m16n8k16, ldmatrix, cp.async)
// ---------------------------------------------------------------------------------------------

__device__ __forceinline__ fa_u32 fa_smem_addr(const void* p) {
    return (fa_u32)__cvta_generic_to_shared(p);
}

// 16-byte global -> shared copy; zero-fills when !valid (src must still be a mapped address).
__device__ __forceinline__ void fa_cp_async16(void* dst, const void* src, bool valid) {
    const int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(fa_smem_addr(dst)), "l"(src), "r"(n));
}
// 4-byte global -> shared copy (through L1); zero-fills when !valid.
__device__ __forceinline__ void fa_cp_async4(void* dst, const void* src, bool valid) {
    const int n = valid ? 4 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" :: "r"(fa_smem_addr(dst)), "l"(src), "r"(n));
}
__device__ __forceinline__ void fa_cp_commit() { asm volatile("cp.async.commit_group;" ::); }
__device__ __forceinline__ void fa_cp_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

__device__ __forceinline__ void fa_ldsm_x4(fa_u32 (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(fa_smem_addr(p)));
}
__device__ __forceinline__ void fa_ldsm_x4_t(fa_u32 (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(fa_smem_addr(p)));
}

// c += a * b, a: 16x16 T (row), b: 16x8 T (col), c: 16x8 fp32 (T = fa_bf16 or fa_f16).
template <typename T>
__device__ __forceinline__ void fa_mma(float (&c)[4], const fa_u32 (&a)[4], fa_u32 b0, fa_u32 b1);
template <>
__device__ __forceinline__ void fa_mma<fa_bf16>(float (&c)[4], const fa_u32 (&a)[4], fa_u32 b0, fa_u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void fa_mma<fa_f16>(float (&c)[4], const fa_u32 (&a)[4], fa_u32 b0, fa_u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x via MUFU.EX2 (flush-to-zero; -inf gives 0). Max error 2 ulp, ample for 16-bit probabilities.
__device__ __forceinline__ float fa_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// Two floats rounded to nearest even and packed as T x2, lo in the low half (element 2k of a
// fragment). fp16 overflow gives inf, which the --fp16 loss scaler detects (dS carries the loss
// scale). bf16 keeps __floats2bfloat162_rn, which on sm_80+ is exactly the asm below with
// bf16x2; fp16 spells it out because cuda_fp16.h is not included. cvt.rn.f16x2.f32 d, a, b puts
// a in the HIGH half, hence the operands (hi, lo).
template <typename T> __device__ __forceinline__ fa_u32 fa_pack(float lo, float hi);
template <> __device__ __forceinline__ fa_u32 fa_pack<fa_bf16>(float lo, float hi) {
    __nv_bfloat162 t = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<fa_u32*>(&t);
}
template <> __device__ __forceinline__ fa_u32 fa_pack<fa_f16>(float lo, float hi) {
    fa_u32 r;
    asm("{ cvt.rn.f16x2.f32 %0, %2, %1;}" : "=r"(r) : "f"(lo), "f"(hi));
    return r;
}

// Forward. Block: NW warps, Br = 16 * MT * NW query rows (warp w owns rows [w*16*MT, +16*MT)),
// key/value tiles of BC rows double-buffered with cp.async. Shared rows padded to D + 8 elements.
// SEG: the key tiles' segment ids ride along (cp.async, 4 bytes each), the rows' are staged once
// (shared memory, not registers: the d128 kernels have none to spare).
template <typename T, int D, int MT, int NW, int BC, bool DROP, bool SEG = false>
__device__ __forceinline__ void fa_fwd_mma(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
    T* __restrict__ out, float* __restrict__ lse,
    int s, int b, int nq, int ng, float scale, float p_drop, fa_u64 seed,
    const int* __restrict__ seg = nullptr)
{
    constexpr int WR = 16 * MT, BR = WR * NW, NT = 32 * NW, LDS = D + 8, CH = D / 8;
    T* Qs = reinterpret_cast<T*>(fa_smem);   // [BR][LDS]
    T* Ks = Qs + BR * LDS;                          // [2][BC][LDS]
    T* Vs = Ks + 2 * BC * LDS;                      // [2][BC][LDS]
    int* Sk = reinterpret_cast<int*>(Vs + 2 * BC * LDS);   // [2][BC] key segment ids (SEG only)
    int* Sq = Sk + 2 * BC;                                  // [BR] query segment ids (SEG only)

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int bh = blockIdx.x, bb = bh / nq, h = bh - bb * nq, grp = h / (nq / ng);
    const int q0 = (gridDim.y - 1 - blockIdx.y) * BR;
    const size_t qstr = (size_t)b * nq * D, kstr = (size_t)b * ng * D;
    const T* qb = q + ((size_t)bb * nq + h) * D;
    const T* kb = k + ((size_t)bb * ng + grp) * D;
    const T* vb = v + ((size_t)bb * ng + grp) * D;
    const int* segb = SEG ? seg + (size_t)bb * s : nullptr;
    static_assert(BC <= NT, "one thread per key of a tile loads its segment id");

#pragma unroll
    for (int c = tid; c < BR * CH; c += NT) {
        const int rr = c / CH, cc = c - rr * CH, i = q0 + rr;
        const bool ok = i < s;
        fa_cp_async16(Qs + rr * LDS + cc * 8, qb + (ok ? (size_t)i * qstr : (size_t)0) + cc * 8, ok);
    }
    const int kend = min(s, q0 + BR);
    const int nkt = (kend + BC - 1) / BC;
    auto load_kv = [&](int kt, int buf) {
#pragma unroll
        for (int c = tid; c < BC * CH; c += NT) {
            const int rr = c / CH, cc = c - rr * CH, j = kt * BC + rr;
            const bool ok = j < s;
            const size_t off = (ok ? (size_t)j * kstr : (size_t)0) + cc * 8;
            fa_cp_async16(Ks + (buf * BC + rr) * LDS + cc * 8, kb + off, ok);
            fa_cp_async16(Vs + (buf * BC + rr) * LDS + cc * 8, vb + off, ok);
        }
        if (SEG && tid < BC) {
            const int j = kt * BC + tid;
            const bool ok = j < s;
            fa_cp_async4(Sk + buf * BC + tid, segb + (ok ? j : 0), ok);
        }
    };
    load_kv(0, 0);
    fa_cp_commit();

    const float sl2 = scale * FA_LOG2E;
    const float keep = 1.0f / (1.0f - p_drop);
    const int wr0 = q0 + warp * WR;

    float acc_o[MT][D / 8][4];
    float m_r[MT][2], l_r[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int n = 0; n < D / 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc_o[mt][n][e] = 0.f;
        m_r[mt][0] = m_r[mt][1] = -FA_INF;
        l_r[mt][0] = l_r[mt][1] = 0.f;
    }
    if (SEG) {
        for (int c = tid; c < BR; c += NT) Sq[c] = q0 + c < s ? segb[q0 + c] : 0;   // read after the loop's barrier
    }

    for (int kt = 0; kt < nkt; ++kt) {
        fa_cp_wait_all();
        __syncthreads();
        if (kt + 1 < nkt) {
            load_kv(kt + 1, (kt + 1) & 1);
            fa_cp_commit();
        }
        const int k0 = kt * BC;
        if (k0 > wr0 + WR - 1) continue;   // the whole tile lies above the diagonal for this warp
        const T* Kb = Ks + (kt & 1) * BC * LDS;
        const T* Vb = Vs + (kt & 1) * BC * LDS;

        // S = Q K^T
        float acc_s[MT][BC / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int n = 0; n < BC / 8; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc_s[mt][n][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            fa_u32 a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
                fa_ldsm_x4(a[mt], Qs + (warp * WR + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + kk * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int nn = 0; nn < BC / 16; ++nn) {
                fa_u32 bk[4];
                fa_ldsm_x4(bk, Kb + (nn * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    fa_mma<T>(acc_s[mt][2 * nn], a[mt], bk[0], bk[1]);
                    fa_mma<T>(acc_s[mt][2 * nn + 1], a[mt], bk[2], bk[3]);
                }
            }
        }

        // Online softmax (log2 domain) with the causal mask (and the segment mask: a row may find
        // every key of a tile masked, then m stays -inf, m_use is 0 and alpha, p are
        // exp2(-inf) = 0, never NaN); P left undropped in acc_s.
        const bool need_mask = k0 + BC - 1 > wr0;
        const int* Skb = Sk + (kt & 1) * BC;   // SEG: this tile's key segment ids
        float alpha[MT][2];
        bool rescale = false;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
            for (int hf = 0; hf < 2; ++hf) {
                const int row = wr0 + mt * 16 + g + hf * 8;
                const int row_seg = SEG ? Sq[warp * WR + mt * 16 + g + hf * 8] : 0;
                float mx = -FA_INF;
#pragma unroll
                for (int n = 0; n < BC / 8; ++n)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        float x = acc_s[mt][n][hf * 2 + e];
                        if (need_mask && k0 + n * 8 + 2 * t + e > row) x = -FA_INF;
                        if (SEG && Skb[n * 8 + 2 * t + e] != row_seg) x = -FA_INF;   // another document
                        acc_s[mt][n][hf * 2 + e] = x;
                        mx = fmaxf(mx, x);
                    }
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m_r[mt][hf], mx * sl2);
                const float m_use = m_new == -FA_INF ? 0.f : m_new;
                alpha[mt][hf] = fa_exp2(m_r[mt][hf] - m_use);
                rescale |= alpha[mt][hf] != 1.f;
                m_r[mt][hf] = m_new;
                float rs = 0.f;
#pragma unroll
                for (int n = 0; n < BC / 8; ++n) {
                    const float p0 = fa_exp2(fmaf(acc_s[mt][n][hf * 2], sl2, -m_use));
                    const float p1 = fa_exp2(fmaf(acc_s[mt][n][hf * 2 + 1], sl2, -m_use));
                    rs += p0 + p1;
                    acc_s[mt][n][hf * 2] = p0;
                    acc_s[mt][n][hf * 2 + 1] = p1;
                }
                l_r[mt][hf] = l_r[mt][hf] * alpha[mt][hf] + rs;
            }
        }
        // Rescale O unless no row max of this warp moved (alpha == 1 exactly: a no-op).
        if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int n = 0; n < D / 8; ++n) {
                    acc_o[mt][n][0] *= alpha[mt][0];
                    acc_o[mt][n][1] *= alpha[mt][0];
                    acc_o[mt][n][2] *= alpha[mt][1];
                    acc_o[mt][n][3] *= alpha[mt][1];
                }
        }
        if (DROP) {
            if ((s & 3) == 0) {
                // Counters of a row are 4-aligned: lanes t, t^1 share the Philox blocks of columns
                // [4(t/2), +4) for rows g (computed by even t) and g + 8 (odd t), swapping halves.
                const bool odd = (t & 1) != 0;
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    const int rowx = wr0 + mt * 16 + g + (t & 1) * 8;
                    const fa_u64 base = ((fa_u64)bh * (fa_u64)s + (fa_u64)rowx) * (fa_u64)s + (fa_u64)(k0 + (t & 2) * 2);
#pragma unroll
                    for (int n = 0; n < BC / 8; ++n) {
                        const uint4 w = fa_philox((base + (fa_u64)(n * 8)) >> 2, seed);
                        const fa_u32 r0 = __shfl_xor_sync(0xffffffffu, odd ? w.x : w.z, 1);
                        const fa_u32 r1 = __shfl_xor_sync(0xffffffffu, odd ? w.y : w.w, 1);
                        const fa_u32 a0 = odd ? r0 : w.x, a1 = odd ? r1 : w.y;   // row g
                        const fa_u32 b0 = odd ? w.z : r0, b1 = odd ? w.w : r1;   // row g + 8
                        acc_s[mt][n][0] *= fa_uniform(a0) >= p_drop ? keep : 0.f;
                        acc_s[mt][n][1] *= fa_uniform(a1) >= p_drop ? keep : 0.f;
                        acc_s[mt][n][2] *= fa_uniform(b0) >= p_drop ? keep : 0.f;
                        acc_s[mt][n][3] *= fa_uniform(b1) >= p_drop ? keep : 0.f;
                    }
                }
            } else {
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int hf = 0; hf < 2; ++hf) {
                        const int row = wr0 + mt * 16 + g + hf * 8;
#pragma unroll
                        for (int n = 0; n < BC / 8; ++n) {
                            float f0, f1;
                            const fa_u64 idx = ((fa_u64)bh * (fa_u64)s + (fa_u64)row) * (fa_u64)s + (fa_u64)(k0 + n * 8 + 2 * t);
                            fa_dropout_pair(idx, seed, p_drop, keep, f0, f1);
                            acc_s[mt][n][hf * 2] *= f0;
                            acc_s[mt][n][hf * 2 + 1] *= f1;
                        }
                    }
            }
        }

        // O += P V
#pragma unroll
        for (int kk = 0; kk < BC / 16; ++kk) {
            fa_u32 pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                pa[mt][0] = fa_pack<T>(acc_s[mt][2 * kk][0], acc_s[mt][2 * kk][1]);
                pa[mt][1] = fa_pack<T>(acc_s[mt][2 * kk][2], acc_s[mt][2 * kk][3]);
                pa[mt][2] = fa_pack<T>(acc_s[mt][2 * kk + 1][0], acc_s[mt][2 * kk + 1][1]);
                pa[mt][3] = fa_pack<T>(acc_s[mt][2 * kk + 1][2], acc_s[mt][2 * kk + 1][3]);
            }
#pragma unroll
            for (int dn = 0; dn < D / 16; ++dn) {
                fa_u32 bv[4];
                fa_ldsm_x4_t(bv, Vb + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dn * 16 + (lane >> 4) * 8);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    fa_mma<T>(acc_o[mt][2 * dn], pa[mt], bv[0], bv[1]);
                    fa_mma<T>(acc_o[mt][2 * dn + 1], pa[mt], bv[2], bv[3]);
                }
            }
        }
    }

    // Normalize, write lse, stage O (T) through this warp's own Q rows, 16-byte stores.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
            float l = l_r[mt][hf];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const float inv = l > 0.f ? 1.0f / l : 0.f;
            const int lr = warp * WR + mt * 16 + g + hf * 8, row = q0 + lr;
            if (t == 0 && row < s) lse[(size_t)bh * s + row] = m_r[mt][hf] * FA_LN2 + logf(l);
#pragma unroll
            for (int n = 0; n < D / 8; ++n)
                *reinterpret_cast<fa_u32*>(Qs + lr * LDS + n * 8 + 2 * t) =
                    fa_pack<T>(acc_o[mt][n][hf * 2] * inv, acc_o[mt][n][hf * 2 + 1] * inv);
        }
    }
    __syncwarp();
    T* ob = out + ((size_t)bb * nq + h) * D;
#pragma unroll
    for (int c = lane; c < WR * CH; c += 32) {
        const int rr = c / CH, cc = c - rr * CH, row = wr0 + rr;
        if (row < s)
            *reinterpret_cast<uint4*>(ob + (size_t)row * qstr + cc * 8) =
                *reinterpret_cast<const uint4*>(Qs + (warp * WR + rr) * LDS + cc * 8);
    }
}

// Backward. Block: NW warps, one key/value tile of BC = 16 * NW rows (warp w owns key rows
// [16w, 16w + 16)) of one (batch, query group); loops over the group's query heads and the query
// tiles of BR = 64 rows at or below the diagonal (Q, dO, lse, delta double-buffered with cp.async).
// dK, dV accumulate in registers (deterministic); dQ goes to the fp32 accumulator with atomics.
// SEG: the query tiles' segment ids are double-buffered with lse and delta, the key tile's are
// staged once.
template <typename T, int D, int NW, bool DROP, bool SEG = false>
__device__ __forceinline__ void fa_bwd_mma(
    const T* __restrict__ dout, const T* __restrict__ q, const T* __restrict__ k,
    const T* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta,
    float* __restrict__ dq_acc, T* __restrict__ dk, T* __restrict__ dv,
    int s, int b, int nq, int ng, float scale, float p_drop, fa_u64 seed,
    const int* __restrict__ seg = nullptr)
{
    constexpr int BC = 16 * NW, BR = 64, NT = 32 * NW, LDS = D + 8, LDSS = BR + 8, CH = D / 8;
    constexpr int CG = NW / 4, DQC = D / CG;   // dQ: 4 row groups x CG column groups of warps
    T* Ks = reinterpret_cast<T*>(fa_smem);   // [BC][LDS]
    T* Vs = Ks + BC * LDS;                          // [BC][LDS]
    T* Qs = Vs + BC * LDS;                          // [2][BR][LDS]
    T* dOs = Qs + 2 * BR * LDS;                     // [2][BR][LDS]
    T* dSs = dOs + 2 * BR * LDS;                    // [BC][LDSS]  dS^T
    float* ls = reinterpret_cast<float*>(dSs + BC * LDSS); // [2][BR]  lse * log2(e)
    float* dls = ls + 2 * BR;                             // [2][BR]  delta
    int* Sq = reinterpret_cast<int*>(dls + 2 * BR);       // [2][BR]  query segment ids (SEG only)
    int* Skey = Sq + 2 * BR;                              // [BC]  key segment ids (SEG only)

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int bg = blockIdx.x, bb = bg / ng, grp = bg - bb * ng, G = nq / ng;
    const int k0 = blockIdx.y * BC;
    const size_t qstr = (size_t)b * nq * D, kstr = (size_t)b * ng * D;
    const T* kb = k + ((size_t)bb * ng + grp) * D;
    const T* vb = v + ((size_t)bb * ng + grp) * D;
    const int* segb = SEG ? seg + (size_t)bb * s : nullptr;

#pragma unroll
    for (int c = tid; c < BC * CH; c += NT) {
        const int rr = c / CH, cc = c - rr * CH, j = k0 + rr;
        const bool ok = j < s;
        const size_t off = (ok ? (size_t)j * kstr : (size_t)0) + cc * 8;
        fa_cp_async16(Ks + rr * LDS + cc * 8, kb + off, ok);
        fa_cp_async16(Vs + rr * LDS + cc * 8, vb + off, ok);
    }
    const int qt0 = k0 / BR;
    const int nqt = (s + BR - 1) / BR - qt0;
    const int total = G * nqt;
    auto load_q = [&](int it, int buf) {
        const int h = grp * G + it / nqt, q0 = (qt0 + it % nqt) * BR, bh = bb * nq + h;
        const T* qb = q + ((size_t)bb * nq + h) * D;
        const T* dob = dout + ((size_t)bb * nq + h) * D;
#pragma unroll
        for (int c = tid; c < BR * CH; c += NT) {
            const int rr = c / CH, cc = c - rr * CH, i = q0 + rr;
            const bool ok = i < s;
            const size_t off = (ok ? (size_t)i * qstr : (size_t)0) + cc * 8;
            fa_cp_async16(Qs + (buf * BR + rr) * LDS + cc * 8, qb + off, ok);
            fa_cp_async16(dOs + (buf * BR + rr) * LDS + cc * 8, dob + off, ok);
        }
        if (tid < BR) {
            const int i = q0 + tid;
            ls[buf * BR + tid] = i < s ? lse[(size_t)bh * s + i] * FA_LOG2E : FA_INF;
            dls[buf * BR + tid] = i < s ? delta[(size_t)bh * s + i] : 0.f;
            if (SEG) Sq[buf * BR + tid] = i < s ? segb[i] : 0;
        }
    };
    if (total > 0) load_q(0, 0);
    fa_cp_commit();

    const float sl2 = scale * FA_LOG2E;
    const float keep = 1.0f / (1.0f - p_drop);
    float dk_acc[D / 8][4], dv_acc[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) { dk_acc[n][e] = 0.f; dv_acc[n][e] = 0.f; }
    const int kr = k0 + warp * 16 + g;   // this thread's key rows: kr, kr + 8
    if (SEG) {
        for (int c = tid; c < BC; c += NT) Skey[c] = k0 + c < s ? segb[k0 + c] : 0;   // read after the loop's barrier
    }

    for (int it = 0; it < total; ++it) {
        const int h = grp * G + it / nqt, q0 = (qt0 + it % nqt) * BR, bh = bb * nq + h, buf = it & 1;
        fa_cp_wait_all();
        __syncthreads();
        if (it + 1 < total) {
            load_q(it + 1, buf ^ 1);
            fa_cp_commit();
        }
        const T* Qb = Qs + buf * BR * LDS;
        const T* dOb = dOs + buf * BR * LDS;
        const float* lsb = ls + buf * BR;
        const float* dlb = dls + buf * BR;
        const int* sqb = Sq + buf * BR;

        // S^T = K Q^T and dP^T = V dO^T for this warp's 16 key rows.
        float st[BR / 8][4], dpt[BR / 8][4];
#pragma unroll
        for (int n = 0; n < BR / 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) { st[n][e] = 0.f; dpt[n][e] = 0.f; }
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            fa_u32 ak[4], av[4];
            fa_ldsm_x4(ak, Ks + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + kk * 16 + (lane >> 4) * 8);
            fa_ldsm_x4(av, Vs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + kk * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int nn = 0; nn < BR / 16; ++nn) {
                fa_u32 bq[4], bd[4];
                fa_ldsm_x4(bq, Qb + (nn * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
                fa_mma<T>(st[2 * nn], ak, bq[0], bq[1]);
                fa_mma<T>(st[2 * nn + 1], ak, bq[2], bq[3]);
                fa_ldsm_x4(bd, dOb + (nn * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
                fa_mma<T>(dpt[2 * nn], av, bd[0], bd[1]);
                fa_mma<T>(dpt[2 * nn + 1], av, bd[2], bd[3]);
            }
        }

        // P^T (dropped), dS^T = P (Z dP - D) scale.
        const bool aligned = DROP && (s & 3) == 0;
#pragma unroll
        for (int n = 0; n < BR / 8; ++n) {
            float z[4] = {1.f, 1.f, 1.f, 1.f};   // factor of element (e, hf) at index hf * 2 + e
            if (aligned) {
                // Counters are 4-aligned: the lanes g = 4m..4m+3 (same t) hold keys 4m'..4m'+3 of the
                // same queries. Lane j = g % 4 computes the block of (e = j % 2, hf = j / 2) and
                // the four lanes exchange words: 1 Philox block per 4 elements.
                const int j = g & 3;
                const int qx = q0 + n * 8 + 2 * t + (j & 1);
                const int kx = (kr & ~3) + (j >> 1) * 8;
                const uint4 w = fa_philox((((fa_u64)bh * (fa_u64)s + (fa_u64)qx) * (fa_u64)s + (fa_u64)kx) >> 2, seed);
                fa_u32 got[4];
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const fa_u32 send = fa_lane(w, (fa_u32)(j ^ r));
                    got[r] = r == 0 ? send : __shfl_xor_sync(0xffffffffu, send, r << 2);
                }
#pragma unroll
                for (int x = 0; x < 4; ++x) {
                    const int r = j ^ x;   // the round that brought block x
                    const fa_u32 word = r == 0 ? got[0] : (r == 1 ? got[1] : (r == 2 ? got[2] : got[3]));
                    z[x] = fa_uniform(word) >= p_drop ? keep : 0.f;
                }
            }
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int ql = n * 8 + 2 * t + e, qi = q0 + ql;
                const float lsv = lsb[ql], dlv = dlb[ql];
                const int sqv = SEG ? sqb[ql] : 0;
#pragma unroll
                for (int hf = 0; hf < 2; ++hf) {
                    const int key = kr + hf * 8;
                    float pv = 0.f, zz = z[hf * 2 + e];
                    if (key <= qi && (!SEG || Skey[warp * 16 + g + hf * 8] == sqv)) {
                        pv = fa_exp2(fmaf(st[n][hf * 2 + e], sl2, -lsv));
                        if (DROP && !aligned && qi < s)
                            zz = fa_dropout_factor(((fa_u64)bh * (fa_u64)s + (fa_u64)qi) * (fa_u64)s + (fa_u64)key, seed, p_drop, keep);
                    }
                    dpt[n][hf * 2 + e] = pv * (zz * dpt[n][hf * 2 + e] - dlv) * scale;
                    st[n][hf * 2 + e] = pv * zz;
                }
            }
        }

        // dV += P^T dO, dK += dS^T Q
#pragma unroll
        for (int kq = 0; kq < BR / 16; ++kq) {
            fa_u32 pa[4], sa[4];
            pa[0] = fa_pack<T>(st[2 * kq][0], st[2 * kq][1]);
            pa[1] = fa_pack<T>(st[2 * kq][2], st[2 * kq][3]);
            pa[2] = fa_pack<T>(st[2 * kq + 1][0], st[2 * kq + 1][1]);
            pa[3] = fa_pack<T>(st[2 * kq + 1][2], st[2 * kq + 1][3]);
            sa[0] = fa_pack<T>(dpt[2 * kq][0], dpt[2 * kq][1]);
            sa[1] = fa_pack<T>(dpt[2 * kq][2], dpt[2 * kq][3]);
            sa[2] = fa_pack<T>(dpt[2 * kq + 1][0], dpt[2 * kq + 1][1]);
            sa[3] = fa_pack<T>(dpt[2 * kq + 1][2], dpt[2 * kq + 1][3]);
#pragma unroll
            for (int dn = 0; dn < D / 16; ++dn) {
                fa_u32 bd[4], bq[4];
                fa_ldsm_x4_t(bd, dOb + (kq * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dn * 16 + (lane >> 4) * 8);
                fa_mma<T>(dv_acc[2 * dn], pa, bd[0], bd[1]);
                fa_mma<T>(dv_acc[2 * dn + 1], pa, bd[2], bd[3]);
                fa_ldsm_x4_t(bq, Qb + (kq * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dn * 16 + (lane >> 4) * 8);
                fa_mma<T>(dk_acc[2 * dn], sa, bq[0], bq[1]);
                fa_mma<T>(dk_acc[2 * dn + 1], sa, bq[2], bq[3]);
            }
            // dS^T (T) to shared for dQ.
            *reinterpret_cast<fa_u32*>(dSs + (warp * 16 + g) * LDSS + kq * 16 + 2 * t) = sa[0];
            *reinterpret_cast<fa_u32*>(dSs + (warp * 16 + g + 8) * LDSS + kq * 16 + 2 * t) = sa[1];
            *reinterpret_cast<fa_u32*>(dSs + (warp * 16 + g) * LDSS + kq * 16 + 8 + 2 * t) = sa[2];
            *reinterpret_cast<fa_u32*>(dSs + (warp * 16 + g + 8) * LDSS + kq * 16 + 8 + 2 * t) = sa[3];
        }
        __syncthreads();

        // dQ (64 x D) += dS K: warp (rg, cg) computes rows [16 rg, +16), columns [cg DQC, +DQC).
        {
            const int rg = warp & 3, cg = warp >> 2;
            float dqa[DQC / 8][4];
#pragma unroll
            for (int n = 0; n < DQC / 8; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e) dqa[n][e] = 0.f;
#pragma unroll
            for (int kk = 0; kk < BC / 16; ++kk) {
                fa_u32 a[4];
                fa_ldsm_x4_t(a, dSs + (kk * 16 + (lane & 7) + (lane >> 4) * 8) * LDSS + rg * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
                for (int dn = 0; dn < DQC / 16; ++dn) {
                    fa_u32 bk[4];
                    fa_ldsm_x4_t(bk, Ks + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + cg * DQC + dn * 16 + (lane >> 4) * 8);
                    fa_mma<T>(dqa[2 * dn], a, bk[0], bk[1]);
                    fa_mma<T>(dqa[2 * dn + 1], a, bk[2], bk[3]);
                }
            }
            float* dqb = dq_acc + ((size_t)bb * nq + h) * D + cg * DQC + 2 * t;
#pragma unroll
            for (int hf = 0; hf < 2; ++hf) {
                const int qi = q0 + rg * 16 + g + hf * 8;
                if (qi < s) {
                    float* p = dqb + (size_t)qi * qstr;
#pragma unroll
                    for (int n = 0; n < DQC / 8; ++n) {
#if __CUDA_ARCH__ >= 900
                        atomicAdd(reinterpret_cast<float2*>(p + n * 8), make_float2(dqa[n][hf * 2], dqa[n][hf * 2 + 1]));
#else
                        atomicAdd(p + n * 8, dqa[n][hf * 2]);
                        atomicAdd(p + n * 8 + 1, dqa[n][hf * 2 + 1]);
#endif
                    }
                }
            }
        }
    }
    fa_cp_wait_all();

    // dK, dV (T) for key rows kr, kr + 8.
    T* dkb = dk + ((size_t)bb * ng + grp) * D + 2 * t;
    T* dvb = dv + ((size_t)bb * ng + grp) * D + 2 * t;
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        const int j = kr + hf * 8;
        if (j < s) {
#pragma unroll
            for (int n = 0; n < D / 8; ++n) {
                *reinterpret_cast<fa_u32*>(dkb + (size_t)j * kstr + n * 8) = fa_pack<T>(dk_acc[n][hf * 2], dk_acc[n][hf * 2 + 1]);
                *reinterpret_cast<fa_u32*>(dvb + (size_t)j * kstr + n * 8) = fa_pack<T>(dv_acc[n][hf * 2], dv_acc[n][hf * 2 + 1]);
            }
        }
    }
}

// Bodies of the tensor-core entry points, one per (T, D, dropout build). FA_NO_DROPOUT: compiled
// without the dropout code, traps on dropout != 0 (the host launches the _dropout kernel then).
// FA_DROPOUT: any 0 <= dropout < 1. FA_RUNTIME_DROPOUT (the d64 forward's plain build): both
// paths, branching on dropout; it makes ptxas schedule the dropout-free path about 4% faster
// (measured for bf16 on H100 and H200). Callers still pass dropout == 0 to it.
enum { FA_NO_DROPOUT, FA_DROPOUT, FA_RUNTIME_DROPOUT };

template <typename T, int D, int BUILD, bool SEG = false>
__device__ __forceinline__ void fa_fwd_tc(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ out,
    float* __restrict__ lse, int s, int b, int nq, int ng, float scale, float dropout, fa_u64 seed,
    const int* __restrict__ seg = nullptr)
{
#if __CUDA_ARCH__ >= 800
    constexpr int BC = D == 64 ? 64 : 32;
    if constexpr (BUILD == FA_DROPOUT) {
        fa_fwd_mma<T, D, 2, 4, BC, true, SEG>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed, seg);
    } else if constexpr (BUILD == FA_RUNTIME_DROPOUT) {
        if (dropout > 0.f) fa_fwd_mma<T, D, 2, 4, BC, true, SEG>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed, seg);
        else fa_fwd_mma<T, D, 2, 4, BC, false, SEG>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed, seg);
    } else {
        if (dropout != 0.f) __trap();   // use the _dropout kernel
        fa_fwd_mma<T, D, 2, 4, BC, false, SEG>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed, seg);
    }
#else
    __trap();   // needs sm_80+ (cp.async, ldmatrix, 16-bit mma)
#endif
}

template <typename T, int D, bool DROP, bool SEG = false>
__device__ __forceinline__ void fa_bwd_tc(
    const T* __restrict__ dout, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
    const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum,
    T* __restrict__ dk, T* __restrict__ dv, int s, int b, int nq, int ng, float scale, float dropout, fa_u64 seed,
    const int* __restrict__ seg = nullptr)
{
#if __CUDA_ARCH__ >= 800
    if (!DROP && dropout != 0.f) __trap();   // use the _dropout kernel
    fa_bwd_mma<T, D, 8, DROP, SEG>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed, seg);
#else
    __trap();   // needs sm_80+ (cp.async, ldmatrix, 16-bit mma)
#endif
}


"""

    /// The entry points of ``source`` (plain causal attention).
    private static let plainEntryPoints: String = """
// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f32_d64(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_simple<float, 64, true>(q, k, v, out, lse, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_bwd_f32_d64(const float* __restrict__ dout, const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, float* __restrict__ dk, float* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_simple<float, 64, true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f32_d128(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_simple<float, 128, true>(q, k, v, out, lse, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_bwd_f32_d128(const float* __restrict__ dout, const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, float* __restrict__ dk, float* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_simple<float, 128, true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f32_generic(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_simple<float, 256, false>(q, k, v, out, lse, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_bwd_f32_generic(const float* __restrict__ dout, const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, float* __restrict__ dk, float* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_simple<float, 256, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_bf16_generic(const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, fa_bf16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_simple<fa_bf16, 256, false>(q, k, v, out, lse, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_bwd_bf16_generic(const fa_bf16* __restrict__ dout, const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_bf16* __restrict__ dk, fa_bf16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_simple<fa_bf16, 256, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f16_generic(const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, fa_f16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_simple<fa_f16, 256, false>(q, k, v, out, lse, s, b, nq, ng, d, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_bwd_f16_generic(const fa_f16* __restrict__ dout, const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_f16* __restrict__ dk, fa_f16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_simple<fa_f16, 256, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, d, scale, dropout, seed);
}

// Tensor-core entry points (bodies: fa_fwd_tc / fa_bwd_tc above): the plain ones are for
// dropout == 0, the _dropout ones take any.

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_bf16_d64(const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, fa_bf16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_bf16, 64, FA_RUNTIME_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_bf16_d64_dropout(const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, fa_bf16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_bf16, 64, FA_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_bf16_d64(const fa_bf16* __restrict__ dout, const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_bf16* __restrict__ dk, fa_bf16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_bf16, 64, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_bf16_d64_dropout(const fa_bf16* __restrict__ dout, const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_bf16* __restrict__ dk, fa_bf16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_bf16, 64, true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_bf16_d128(const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, fa_bf16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_bf16, 128, FA_NO_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_bf16_d128_dropout(const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, fa_bf16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_bf16, 128, FA_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_bf16_d128(const fa_bf16* __restrict__ dout, const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_bf16* __restrict__ dk, fa_bf16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_bf16, 128, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_bf16_d128_dropout(const fa_bf16* __restrict__ dout, const fa_bf16* __restrict__ q, const fa_bf16* __restrict__ k, const fa_bf16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_bf16* __restrict__ dk, fa_bf16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_bf16, 128, true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f16_d64(const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, fa_f16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_f16, 64, FA_RUNTIME_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f16_d64_dropout(const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, fa_f16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_f16, 64, FA_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_f16_d64(const fa_f16* __restrict__ dout, const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_f16* __restrict__ dk, fa_f16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_f16, 64, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_f16_d64_dropout(const fa_f16* __restrict__ dout, const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_f16* __restrict__ dk, fa_f16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_f16, 64, true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f16_d128(const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, fa_f16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_f16, 128, FA_NO_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_f16_d128_dropout(const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, fa_f16* __restrict__ out, float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_fwd_tc<fa_f16, 128, FA_DROPOUT>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_f16_d128(const fa_f16* __restrict__ dout, const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_f16* __restrict__ dk, fa_f16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_f16, 128, false>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_f16_d128_dropout(const fa_f16* __restrict__ dout, const fa_f16* __restrict__ q, const fa_f16* __restrict__ k, const fa_f16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dq_accum, fa_f16* __restrict__ dk, fa_f16* __restrict__ dv, int s, int b, int nq, int ng, int d, float scale, float dropout, unsigned long long seed) {
    fa_bwd_tc<fa_f16, 128, true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, scale, dropout, seed);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_preprocess_f32(const float* __restrict__ dout, const float* __restrict__ out, float* __restrict__ delta, float* __restrict__ dq_accum, int s, int b, int nq, int d) {
    fa_bwd_preprocess<float>(dout, out, delta, dq_accum, s, b, nq, d);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_convert_dq_f32(const float* __restrict__ dq_accum, float* __restrict__ dq, long long n) {
    fa_convert<float>(dq_accum, dq, n);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_preprocess_bf16(const fa_bf16* __restrict__ dout, const fa_bf16* __restrict__ out, float* __restrict__ delta, float* __restrict__ dq_accum, int s, int b, int nq, int d) {
    fa_bwd_preprocess<fa_bf16>(dout, out, delta, dq_accum, s, b, nq, d);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_convert_dq_bf16(const float* __restrict__ dq_accum, fa_bf16* __restrict__ dq, long long n) {
    fa_convert<fa_bf16>(dq_accum, dq, n);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_preprocess_f16(const fa_f16* __restrict__ dout, const fa_f16* __restrict__ out, float* __restrict__ delta, float* __restrict__ dq_accum, int s, int b, int nq, int d) {
    fa_bwd_preprocess<fa_f16>(dout, out, delta, dq_accum, s, b, nq, d);
}

extern "C" __global__ void __launch_bounds__(256) flash_attn_bwd_convert_dq_f16(const float* __restrict__ dq_accum, fa_f16* __restrict__ dq, long long n) {
    fa_convert<fa_f16>(dq_accum, dq, n);
}
"""

    /// The entry points of ``segmentSource``: every kernel of ``source`` (preprocess and convert
    /// excepted, which do not depend on the mask) with `_segments` appended to its name and
    /// `const int* __restrict__ segments` (int32 `[b, s]`) after `seed`.
    private static let segmentEntryPoints: String = {
        func fwdParams(_ type: String) -> String {
            "const \(type)* __restrict__ q, const \(type)* __restrict__ k, const \(type)* __restrict__ v, \(type)* __restrict__ out, "
                + "float* __restrict__ lse, int s, int b, int nq, int ng, int d, float scale, float dropout, "
                + "unsigned long long seed, const int* __restrict__ segments"
        }
        func bwdParams(_ type: String) -> String {
            "const \(type)* __restrict__ dout, const \(type)* __restrict__ q, const \(type)* __restrict__ k, "
                + "const \(type)* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta, "
                + "float* __restrict__ dq_accum, \(type)* __restrict__ dk, \(type)* __restrict__ dv, int s, int b, int nq, int ng, "
                + "int d, float scale, float dropout, unsigned long long seed, const int* __restrict__ segments"
        }
        func entry(_ bounds: Int, _ name: String, _ params: String, _ body: String) -> String {
            "extern \"C\" __global__ void __launch_bounds__(\(bounds)) \(name)_segments(\(params)) {\n    \(body);\n}\n\n"
        }
        var text = "\n// Entry points with segment ids (attention within documents)\n\n"
        // fp32-FMA kernels: (name suffix, T, DMAX, FIXED).
        let simple = [("f32_d64", "float", 64, true), ("f32_d128", "float", 128, true), ("f32_generic", "float", 256, false),
                      ("bf16_generic", "fa_bf16", 256, false), ("f16_generic", "fa_f16", 256, false)]
        for (suffix, type, dmax, fixed) in simple {
            text += entry(128, "flash_attn_fwd_\(suffix)", fwdParams(type),
                          "fa_fwd_simple<\(type), \(dmax), \(fixed), true>(q, k, v, out, lse, s, b, nq, ng, d, scale, dropout, seed, segments)")
            text += entry(128, "flash_attn_bwd_\(suffix)", bwdParams(type),
                          "fa_bwd_simple<\(type), \(dmax), \(fixed), true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, d, "
                            + "scale, dropout, seed, segments)")
        }
        // Tensor-core kernels, the same builds as the plain ones.
        for (element, type) in [("bf16", "fa_bf16"), ("f16", "fa_f16")] {
            for d in [64, 128] {
                for drop in [false, true] {
                    let suffix = "\(element)_d\(d)" + (drop ? "_dropout" : "")
                    let build = drop ? "FA_DROPOUT" : d == 64 ? "FA_RUNTIME_DROPOUT" : "FA_NO_DROPOUT"
                    text += entry(128, "flash_attn_fwd_\(suffix)", fwdParams(type),
                                  "fa_fwd_tc<\(type), \(d), \(build), true>(q, k, v, out, lse, s, b, nq, ng, scale, dropout, seed, segments)")
                    text += entry(256, "flash_attn_bwd_\(suffix)", bwdParams(type),
                                  "fa_bwd_tc<\(type), \(d), \(drop), true>(dout, q, k, v, lse, delta, dq_accum, dk, dv, s, b, nq, ng, "
                                    + "scale, dropout, seed, segments)")
                }
            }
        }
        return text
    }()
}
