/// Every CUDA C kernel group of the backend, for NVRTC: compile each `source` as its own
/// program (`-std=c++17`, `--gpu-architecture=sm_XY`, an `-I` to the CUDA toolkit's include
/// folder for `cuda_bf16.h`, no `--use_fast_math`: the fp32 paths are checked against the CPU to
/// 1e-5). Each group's `source` already contains ``prelude``; a test can compile them all:
///
///     for (name, source) in KernelSources.all {
///         _ = try compiler.compile(source: source, name: name, architecture: GPUArchitecture(major: 9, minor: 0))
///     }
///
/// Conventions shared by the groups (see each group's documentation for its functions):
/// - `T` is `float` (`_f32` functions), `__nv_bfloat16` (`_bf16`) or `mk::f16` (`_f16`);
///   activations and compute copies of parameters have type `T`. Statistics (mean, rstd, lse),
///   per-token losses, parameter gradients and optimizer state are fp32. Arithmetic accumulates in
///   fp32; bf16 and fp16 results are rounded to nearest even (`__float2bfloat16_rn`,
///   `cvt.rn.f16.f32`; fp16 overflow gives ±inf, which the `--fp16` loss scaler detects).
/// - fp16 tensors are passed as `mk::f16*`: a struct holding the IEEE binary16 bits in an
///   `unsigned short` (same size and layout, so the host passes the tensor's device pointer as for
///   any 16-bit type), converted with PTX `cvt` so that no `cuda_fp16.h` is needed. Every `_f16`
///   entry point takes `mk::f16*` for its fp16 tensors (`adamw_f32`'s optional fp16 copy included).
/// - Element counts and row counts are `long long` (tensors may exceed 2³¹ elements); widths that
///   fit a row (`h`, `cols`, `V`, `d`) are `int`. All offsets are computed in 64 bits.
/// - Every kernel is correct for any grid (grid-stride loops) and for the block shapes its
///   documentation allows — except that a *column-partials* launch needs grid y = `splits` with
///   `splits · rows_per_split ≥ rows`, and `embedding_backward_*` needs grid x ≥
///   `⌈rows / rows_per_block⌉`; the documented grid is the efficient choice. None needs zeroed
///   outputs unless it says it accumulates.
/// - Vector path: a "unit" is 8 consecutive elements (16 bytes of bf16/fp16, 32 bytes of fp32)
///   moved with 128-bit loads/stores. Kernels take it when the relevant base pointers are 16-byte
///   aligned and (for row ops) the row length is a multiple of 8; otherwise they fall back to a
///   scalar path, so any size (h = 7) and any alignment of the element type works.
/// - Out-of-range token ids / targets set `*error = 1` (an `int` in device memory the host zeroes
///   beforehand and checks afterwards) and are never dereferenced.
/// - Launch vocabulary used by the group docs, with `SMs` the device's multiprocessor count:
///   - *flat*: block 256 (any multiple of 32 ≤ 1024), grid `clamp(⌈n / 2048⌉, 1, 16·SMs)`.
///   - *row-tiled*: block `(bx, by)` with `bx = min(256, roundUp(units, 32))`,
///     `by = 256 / bx`, grid `(⌈units / bx⌉, min(⌈rows / by⌉, 65535))`, where
///     `units = ⌈width / 8⌉` (vector units of a row).
///   - *row-group*: `bx` threads cooperate on one row (warp shuffles, plus shared memory when
///     `bx > 32`), `by` rows per block: block `(bx, by)` with `bx = clamp(roundUp(⌈units / 4⌉, 32),
///     32, 1024)`, `by = max(1, 256 / bx)`, grid `⌈rows / by⌉` (≤ 2³¹ − 1; fewer is fine).
///     Any `bx` that is a multiple of 32 with `bx·by ≤ 1024` is correct.
///   - *column-partials*: block `(32, 8)` exactly; grid `(tiles, splits)` with
///     `tiles = ⌈⌈cols / 8⌉ / 32⌉` and `splits = clamp(min(⌈rows / 32⌉, ⌈4·SMs / tiles⌉), 1, 65535)`,
///     `rows_per_split = ⌈rows / splits⌉`; scratch `float partials[splits · cols]` (no zeroing).
///     A second launch (`*_finalize`, flat over `cols`) adds the split partials in split order,
///     so the result is deterministic (no atomics) for a given `splits`.
enum KernelSources {
    /// Every group as (name, complete source), in a fixed order.
    static let all: [(name: String, source: String)] = [
        ("elementwise", ElementwiseKernels.source),
        ("linear", LinearKernels.source),
        ("embedding", EmbeddingKernels.source),
        ("normalization", NormalizationKernels.source),
        ("activation", ActivationKernels.source),
        ("attention_layout", AttentionLayoutKernels.source),
        ("loss", LossKernels.source),
        ("optimizer", OptimizerKernels.source),
        ("flash_attention", FlashAttentionKernels.source),
        ("flash_attention_segments", FlashAttentionKernels.segmentSource),
    ]

    /// Helpers every group starts with (types, conversions, 8-element vector loads, reductions,
    /// Philox, column partial sums). Only templates and inline device functions: no symbols.
    static let prelude: String = #"""
    #include <cuda_bf16.h>

    namespace mk {

    typedef long long i64;
    typedef unsigned long long u64;
    typedef unsigned int u32;
    typedef unsigned short u16;
    typedef __nv_bfloat16 bf16;

    // IEEE binary16 kept as raw bits, converted with PTX cvt (so cuda_fp16.h is not needed).
    struct f16 { u16 bits; };

    // Elements per vector unit: 16 bytes of a 16-bit type, 32 bytes (two float4) of fp32.
    // maybe_unused: the flash-attention group includes the prelude but no vector helper.
    [[maybe_unused]] constexpr int VEC = 8;

    __device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }
    __device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fffffff); }

    __device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<u64>(p) & 15ull) == 0ull; }
    __device__ __forceinline__ bool aligned_to(const void* p, u64 bytes) { return (reinterpret_cast<u64>(p) & (bytes - 1ull)) == 0ull; }

    // ---- scalar conversions ---------------------------------------------------------------------

    __device__ __forceinline__ float to_float(float x) { return x; }
    __device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
    __device__ __forceinline__ float to_float(f16 x) {
        float f;
        asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
        return f;
    }

    template <typename T> __device__ __forceinline__ T from_float(float x);
    template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
    template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) { return __float2bfloat16_rn(x); }
    template <> __device__ __forceinline__ f16 from_float<f16>(float x) {
        f16 h;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(x));
        return h;
    }

    // Two 16-bit values packed in a 32-bit word (element 2k in the low half).
    template <typename T> struct Bits16;
    template <> struct Bits16<bf16> {
        static __device__ __forceinline__ float lo(u32 w) { return __uint_as_float(w << 16); }
        static __device__ __forceinline__ float hi(u32 w) { return __uint_as_float(w & 0xffff0000u); }
        static __device__ __forceinline__ u32 bits(float x) { return (u32)__bfloat16_as_ushort(__float2bfloat16_rn(x)); }
    };
    template <> struct Bits16<f16> {
        static __device__ __forceinline__ float lo(u32 w) { f16 h; h.bits = (u16)(w & 0xffffu); return to_float(h); }
        static __device__ __forceinline__ float hi(u32 w) { f16 h; h.bits = (u16)(w >> 16); return to_float(h); }
        static __device__ __forceinline__ u32 bits(float x) { return (u32)from_float<f16>(x).bits; }
    };

    // ---- 8-element vector units (p must be 16-byte aligned) -------------------------------------

    __device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
        const float4 a = reinterpret_cast<const float4*>(p)[0];
        const float4 b = reinterpret_cast<const float4*>(p)[1];
        v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
        v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
    }
    template <typename T> __device__ __forceinline__ void load8(const T* p, float (&v)[8]) {
        const uint4 u = *reinterpret_cast<const uint4*>(p);
        v[0] = Bits16<T>::lo(u.x); v[1] = Bits16<T>::hi(u.x);
        v[2] = Bits16<T>::lo(u.y); v[3] = Bits16<T>::hi(u.y);
        v[4] = Bits16<T>::lo(u.z); v[5] = Bits16<T>::hi(u.z);
        v[6] = Bits16<T>::lo(u.w); v[7] = Bits16<T>::hi(u.w);
    }
    __device__ __forceinline__ void store8(float* p, const float (&v)[8]) {
        reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
        reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
    }
    template <typename T> __device__ __forceinline__ void store8(T* p, const float (&v)[8]) {
        uint4 u;
        u.x = Bits16<T>::bits(v[0]) | (Bits16<T>::bits(v[1]) << 16);
        u.y = Bits16<T>::bits(v[2]) | (Bits16<T>::bits(v[3]) << 16);
        u.z = Bits16<T>::bits(v[4]) | (Bits16<T>::bits(v[5]) << 16);
        u.w = Bits16<T>::bits(v[6]) | (Bits16<T>::bits(v[7]) << 16);
        *reinterpret_cast<uint4*>(p) = u;
    }

    // W consecutive elements: one vector unit (W == VEC, p 16-byte aligned) or one scalar (W == 1).
    template <int W, typename T> __device__ __forceinline__ void load_w(const T* p, float (&v)[W]) {
        if constexpr (W == VEC) { load8(p, v); } else { v[0] = to_float(p[0]); }
    }
    template <int W, typename T> __device__ __forceinline__ void store_w(T* p, const float (&v)[W]) {
        if constexpr (W == VEC) { store8(p, v); } else { p[0] = from_float<T>(v[0]); }
    }

    // ---- flat grid-stride loops -----------------------------------------------------------------

    // Calls unit(i) for the start i = 0, 8, 16, ... of every whole 8-element unit (only when vec)
    // and one(i) for every remaining index, spread over the whole 1-D grid.
    template <typename U, typename S>
    __device__ __forceinline__ void flat_for(i64 n, bool vec, U unit, S one) {
        const i64 start = (i64)blockIdx.x * blockDim.x + threadIdx.x;
        const i64 stride = (i64)gridDim.x * blockDim.x;
        const i64 units = vec ? n / VEC : 0;
        for (i64 u = start; u < units; u += stride) unit(u * VEC);
        for (i64 i = units * VEC + start; i < n; i += stride) one(i);
    }

    // ---- reductions -----------------------------------------------------------------------------

    __device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        return v;
    }
    __device__ __forceinline__ double warp_sum(double v) {
    #pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        return v;
    }

    // Sums each of v[0..K) over the blockDim.x threads of this thread's row group (threadIdx.y) and
    // returns the totals to all of them, in a fixed order (deterministic). blockDim.x must be a
    // multiple of 32 and blockDim.x * blockDim.y <= 1024; when blockDim.x > 32 every thread of the
    // block must call it (it synchronises). red: K * 32 floats of shared memory.
    template <int K>
    __device__ __forceinline__ void row_sum(float (&v)[K], float* red) {
    #pragma unroll
        for (int k = 0; k < K; ++k) v[k] = warp_sum(v[k]);
        if (blockDim.x == 32) return;
        const int per_row = blockDim.x >> 5;
        const int first = threadIdx.y * per_row;
        if ((threadIdx.x & 31) == 0) {
    #pragma unroll
            for (int k = 0; k < K; ++k) red[k * 32 + first + (threadIdx.x >> 5)] = v[k];
        }
        __syncthreads();
    #pragma unroll
        for (int k = 0; k < K; ++k) {
            float s = 0.f;
            for (int w = 0; w < per_row; ++w) s += red[k * 32 + first + w];
            v[k] = s;
        }
        __syncthreads();
    }

    // ---- Philox4x32-10, exactly as MegatronTensor.Philox ----------------------------------------

    // The four words of counter block `counter` (low, high 32 bits), subsequence 0, key = seed.
    __device__ __forceinline__ uint4 philox(u64 counter, u64 seed) {
        u32 c0 = (u32)counter, c1 = (u32)(counter >> 32), c2 = 0u, c3 = 0u;
        u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
    #pragma unroll
        for (int round = 0; round < 10; ++round) {
            if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
            const u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
            const u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
            const u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        }
        return make_uint4(c0, c1, c2, c3);
    }

    // uniform = float(word >> 8) * 2^-24 (exact).
    __device__ __forceinline__ float philox_uniform(u32 word) { return (float)(word >> 8) * 5.9604644775390625e-08f; }

    // ---- column partial sums (bias and norm-weight gradients) -----------------------------------
    //
    // Block (32, 8), grid (tiles, splits). Split s = blockIdx.y sums rows
    // [s * rows_per_split, min(rows, (s + 1) * rows_per_split)) of each column into
    // part_a[s * cols + c] (and part_b for MODE 1), in a fixed order. Threads own 8 adjacent columns
    // (vector path) or one; each of the 8 thread rows strides the rows by 8, then the 8 partial
    // sums are added in order through shared memory laid out [ty][k][lane] (conflict free).
    //   MODE 0: a = sum dy                                   (bias)
    //   MODE 1: a = sum dy * (x - mean) * rstd, b = sum dy  (LayerNorm weight, bias; b optional)
    //   MODE 2: a = sum dy * x * rstd                        (RMSNorm weight)
    template <int MODE, int W, typename T>
    __device__ __forceinline__ void column_partials_impl(
        const T* dy, const T* x, const float* mean, const float* rstd, i64 rows, int cols,
        i64 rows_per_split, float* part_a, float* part_b, float* sa, float* sb)
    {
        const int units = cols / W;
        const i64 r0 = (i64)blockIdx.y * rows_per_split;
        const i64 r1 = min(rows, r0 + rows_per_split);
        const int lane = threadIdx.x, ty = threadIdx.y;
        const bool want_b = MODE == 1 && part_b != nullptr;
        for (int tile = blockIdx.x; tile * 32 < units; tile += gridDim.x) {
            const int u = tile * 32 + lane;
            float acc_a[W], acc_b[W];
    #pragma unroll
            for (int k = 0; k < W; ++k) { acc_a[k] = 0.f; acc_b[k] = 0.f; }
            if (u < units) {
                for (i64 r = r0 + ty; r < r1; r += 8) {
                    const i64 off = r * cols + (i64)u * W;
                    float g[W];
                    load_w<W>(dy + off, g);
                    if constexpr (MODE == 0) {
    #pragma unroll
                        for (int k = 0; k < W; ++k) acc_a[k] += g[k];
                    } else {
                        float xv[W];
                        load_w<W>(x + off, xv);
                        const float s = rstd[r];
                        if constexpr (MODE == 1) {
                            const float mu = mean[r];
    #pragma unroll
                            for (int k = 0; k < W; ++k) { acc_a[k] += g[k] * (xv[k] - mu) * s; acc_b[k] += g[k]; }
                        } else {
    #pragma unroll
                            for (int k = 0; k < W; ++k) acc_a[k] += g[k] * xv[k] * s;
                        }
                    }
                }
            }
    #pragma unroll
            for (int k = 0; k < W; ++k) {
                sa[(ty * VEC + k) * 32 + lane] = acc_a[k];
                if (MODE == 1) sb[(ty * VEC + k) * 32 + lane] = acc_b[k];
            }
            __syncthreads();
            // Thread (k, lane2) finishes column (tile * 32 + lane2) * W + k.
            const int t = ty * 32 + lane, k = t >> 5, lane2 = t & 31;
            const int u2 = tile * 32 + lane2;
            if (k < W && u2 < units) {
                const i64 c = (i64)u2 * W + k;
                const i64 dst = (i64)blockIdx.y * cols + c;
                float a = 0.f, b = 0.f;
    #pragma unroll
                for (int j = 0; j < 8; ++j) {
                    a += sa[(j * VEC + k) * 32 + lane2];
                    if (MODE == 1) b += sb[(j * VEC + k) * 32 + lane2];
                }
                part_a[dst] = a;
                if (want_b) part_b[dst] = b;
            }
            __syncthreads();
        }
    }

    template <int MODE, typename T>
    __device__ __forceinline__ void column_partials(
        const T* dy, const T* x, const float* mean, const float* rstd, i64 rows, int cols,
        i64 rows_per_split, float* part_a, float* part_b)
    {
        __shared__ float sa[8 * VEC * 32];
        __shared__ float sb[MODE == 1 ? 8 * VEC * 32 : 1];
        const bool vec = (cols % VEC) == 0 && aligned16(dy) && (MODE == 0 || aligned16(x));
        if (vec) column_partials_impl<MODE, VEC>(dy, x, mean, rstd, rows, cols, rows_per_split, part_a, part_b, sa, sb);
        else column_partials_impl<MODE, 1>(dy, x, mean, rstd, rows, cols, rows_per_split, part_a, part_b, sa, sb);
    }

    // out[c] += sum over s = 0, 1, ..., splits - 1 of part[s * cols + c] (flat over cols).
    __device__ __forceinline__ void column_partials_finalize(const float* part, int splits, int cols, float* out) {
        const i64 stride = (i64)gridDim.x * blockDim.x;
        for (i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += stride) {
            float s = 0.f;
            for (int j = 0; j < splits; ++j) s += part[(i64)j * cols + c];
            out[c] += s;
        }
    }

    }  // namespace mk

    """#
}
