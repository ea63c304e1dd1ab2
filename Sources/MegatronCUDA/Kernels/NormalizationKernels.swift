/// LayerNorm and RMSNorm over the rows of `[n, h]`, forward and backward, as CUDA C for NVRTC
/// (conventions and launch vocabulary: ``KernelSources``). `T` is `float` (`_f32`),
/// `__nv_bfloat16` (`_bf16`) or `mk::f16` (`_f16`): `x`, `y`, `dy`, `dx` and `weight`/`bias`
/// (the compute copies) have type `T`; `mean`, `rstd` `[n]` and the weight/bias gradients are
/// fp32.
///
///     // with residual (else nullptr): x += residual first, in place (the residual add fused
///     // with the norm after it); then y = (x − mean)·rstd·weight + bias (bias may be nullptr);
///     // writes mean, rstd [n]
///     extern "C" __global__ void layernorm_forward_<f32|bf16|f16>(T* x, const T* residual, const T* weight, const T* bias,
///                                                                 T* y, float* mean, float* rstd,
///                                                                 long long n, int h, float eps)
///     // dx += rstd·(dy·w − mean(dy·w) − x̂·mean(dy·w·x̂))      (accumulates into dx)
///     extern "C" __global__ void layernorm_backward_<f32|bf16|f16>(const T* dy, const T* x, const T* weight,
///                                                                  const float* mean, const float* rstd,
///                                                                  T* dx, long long n, int h)
///     // per-split partial sums of dy·x̂ (→ dweight) and dy (→ dbias; partial_bias may be nullptr)
///     extern "C" __global__ void layernorm_backward_weight_partial_<f32|bf16|f16>(
///         const T* dy, const T* x, const float* mean, const float* rstd, long long n, int h,
///         long long rows_per_split, float* partial_weight, float* partial_bias)
///     // x += residual first when residual is not nullptr (as LayerNorm); then
///     // y = x·rstd·weight, rstd = 1/sqrt(mean(x²) + eps); writes rstd [n]
///     extern "C" __global__ void rmsnorm_forward_<f32|bf16|f16>(T* x, const T* residual, const T* weight, T* y, float* rstd,
///                                                               long long n, int h, float eps)
///     // dx += rstd·(dy·w − x·rstd·mean(dy·w·x·rstd))           (accumulates into dx)
///     extern "C" __global__ void rmsnorm_backward_<f32|bf16|f16>(const T* dy, const T* x, const T* weight,
///                                                                const float* rstd, T* dx, long long n, int h)
///     // per-split partial sums of dy·x·rstd (→ dweight)
///     extern "C" __global__ void rmsnorm_backward_weight_partial_<f32|bf16|f16>(
///         const T* dy, const T* x, const float* rstd, long long n, int h,
///         long long rows_per_split, float* partial_weight)
///     // out[c] += Σ_s partials[s·h + c]  (dweight, and dbias with the bias partials)
///     extern "C" __global__ void norm_weight_grad_finalize(const float* partials, int splits, int h, float* out)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `layernorm_forward_*`, `layernorm_backward_*`, `rmsnorm_forward_*`, `rmsnorm_backward_*` | row-group: `⌈n / by⌉` | `(bx, by)`: `units = ⌈h / 8⌉`, `bx = clamp(roundUp(⌈units / 4⌉, 32), 32, 1024)`, `by = max(1, 256 / bx)` | 0 (≤ 512 B static) |
/// | `*_backward_weight_partial_*` | column-partials: `(tiles, splits)`, `tiles = ⌈⌈h / 8⌉ / 32⌉`, `splits = clamp(min(⌈n / 32⌉, ⌈4·SMs / tiles⌉), 1, 65535)` | `(32, 8)` exactly | 0 (16 KiB static) |
/// | `norm_weight_grad_finalize` | `⌈h / 256⌉` | 256 | 0 |
///
/// Forward and the `dx` part of the backward: `bx` threads share a row (one warp for h ≤ 1024,
/// a block of up to 1024 threads for wide rows), reducing with warp shuffles and, when
/// `bx > 32`, shared memory; the sums are in a fixed order (deterministic). The forward computes
/// the mean and then Σ(x − mean)² in two passes as the CPU does, re-reading the row (from L1/L2:
/// holding it in registers instead was measured 35–60% slower on an H200 — fewer warps in flight);
/// `rstd = 1 / sqrtf(var + eps)` with IEEE division and square root. Any `bx` that is a multiple
/// of 32 with `bx·by ≤ 1024` is correct.
///
/// Weight/bias gradients are deterministic two-stage reductions (no atomics): the partial kernel
/// writes `partial[s·h + c]` for split `s = blockIdx.y` over rows `[s·rows_per_split, (s+1)·rows_per_split)`,
/// `rows_per_split = ⌈n / splits⌉` (host allocates `splits·h` floats per partial array, no
/// zeroing), then `norm_weight_grad_finalize` adds the splits in order into `dweight` (and once
/// more with `partial_bias` into `dbias`). So a LayerNorm backward is: `layernorm_backward`,
/// `layernorm_backward_weight_partial`, `norm_weight_grad_finalize` (weight), and
/// `norm_weight_grad_finalize` (bias) if there is a bias. Vector paths (8 elements per thread,
/// 128-bit accesses) need `h % 8 == 0` and 16-byte aligned tensors; any `h` (e.g. 7) works.
enum NormalizationKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    // Row-group iteration: blockDim.x threads per row, blockDim.y rows per block, grid-stride over
    // row batches. The loop bound is uniform across the block so row_sum may synchronise; threads
    // past the last row take part with zeros.
    #define MK_FOR_ROW_BATCHES(n) for (i64 mk_base = (i64)blockIdx.x * blockDim.y; mk_base < (n); mk_base += (i64)gridDim.x * blockDim.y)

    // ---- LayerNorm ------------------------------------------------------------------------------

    // The fused residual add: x += residual, rounded to T and written back, so the statistics and
    // the later passes (which reread x, each thread its own units) see exactly the stored sum.
    template <int W, typename T>
    __device__ __forceinline__ void add_residual(T* x, const T* residual, float (&v)[W]) {
        float a[W];
        load_w<W>(residual, a);
    #pragma unroll
        for (int k = 0; k < W; ++k) v[k] = to_float(from_float<T>(v[k] + a[k]));
        store_w<W>(x, v);
    }

    template <int W, typename T>
    __device__ __forceinline__ void layernorm_forward_impl(T* x, const T* residual, const T* weight, const T* bias, T* y,
                                                           float* mean, float* rstd, i64 n, int h, float eps) {
        __shared__ float red[32];
        const int units = h / W;
        MK_FOR_ROW_BATCHES(n) {
            const i64 r = mk_base + threadIdx.y;
            const bool active = r < n;
            T* xr = x + (active ? r : 0) * h;
            float sum[1] = {0.f};
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float v[W];
                    load_w<W>(xr + u * W, v);
                    if (residual != nullptr) add_residual<W>(xr + u * W, residual + r * h + u * W, v);
    #pragma unroll
                    for (int k = 0; k < W; ++k) sum[0] += v[k];
                }
            }
            row_sum<1>(sum, red);
            const float mu = sum[0] / (float)h;
            float sq[1] = {0.f};
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float v[W];
                    load_w<W>(xr + u * W, v);
    #pragma unroll
                    for (int k = 0; k < W; ++k) { const float d = v[k] - mu; sq[0] += d * d; }
                }
            }
            row_sum<1>(sq, red);
            const float s = 1.0f / sqrtf(sq[0] / (float)h + eps);
            if (active) {
                T* yr = y + r * h;
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float v[W], w[W], b[W];
                    load_w<W>(xr + u * W, v);
                    load_w<W>(weight + u * W, w);
                    if (bias != nullptr) {
                        load_w<W>(bias + u * W, b);
                    } else {
    #pragma unroll
                        for (int k = 0; k < W; ++k) b[k] = 0.f;
                    }
    #pragma unroll
                    for (int k = 0; k < W; ++k) v[k] = (v[k] - mu) * s * w[k] + b[k];
                    store_w<W>(yr + u * W, v);
                }
                if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = s; }
            }
        }
    }

    template <int W, typename T>
    __device__ __forceinline__ void layernorm_backward_impl(const T* dy, const T* x, const T* weight,
                                                            const float* mean, const float* rstd, T* dx, i64 n, int h) {
        __shared__ float red[64];
        const int units = h / W;
        MK_FOR_ROW_BATCHES(n) {
            const i64 r = mk_base + threadIdx.y;
            const bool active = r < n;
            const i64 off = (active ? r : 0) * h;
            const float mu = active ? mean[r] : 0.f, s = active ? rstd[r] : 0.f;
            float acc[2] = {0.f, 0.f};  // sum g, sum g * xhat with g = dy * w
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float g[W], xv[W], w[W];
                    load_w<W>(dy + off + u * W, g);
                    load_w<W>(x + off + u * W, xv);
                    load_w<W>(weight + u * W, w);
    #pragma unroll
                    for (int k = 0; k < W; ++k) {
                        const float gw = g[k] * w[k];
                        acc[0] += gw;
                        acc[1] += gw * (xv[k] - mu) * s;
                    }
                }
            }
            row_sum<2>(acc, red);
            const float mean_g = acc[0] / (float)h, mean_gx = acc[1] / (float)h;
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float g[W], xv[W], w[W], d[W];
                    load_w<W>(dy + off + u * W, g);
                    load_w<W>(x + off + u * W, xv);
                    load_w<W>(weight + u * W, w);
                    load_w<W>(dx + off + u * W, d);
    #pragma unroll
                    for (int k = 0; k < W; ++k) {
                        const float xhat = (xv[k] - mu) * s;
                        d[k] += s * (g[k] * w[k] - mean_g - xhat * mean_gx);
                    }
                    store_w<W>(dx + off + u * W, d);
                }
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void layernorm_forward(T* x, const T* residual, const T* weight, const T* bias, T* y,
                                                      float* mean, float* rstd, i64 n, int h, float eps) {
        if (h % VEC == 0 && aligned16(x) && aligned16(residual) && aligned16(weight) && aligned16(bias) && aligned16(y))
            layernorm_forward_impl<VEC>(x, residual, weight, bias, y, mean, rstd, n, h, eps);
        else
            layernorm_forward_impl<1>(x, residual, weight, bias, y, mean, rstd, n, h, eps);
    }

    template <typename T>
    __device__ __forceinline__ void layernorm_backward(const T* dy, const T* x, const T* weight,
                                                       const float* mean, const float* rstd, T* dx, i64 n, int h) {
        if (h % VEC == 0 && aligned16(dy) && aligned16(x) && aligned16(weight) && aligned16(dx))
            layernorm_backward_impl<VEC>(dy, x, weight, mean, rstd, dx, n, h);
        else
            layernorm_backward_impl<1>(dy, x, weight, mean, rstd, dx, n, h);
    }

    // ---- RMSNorm --------------------------------------------------------------------------------

    template <int W, typename T>
    __device__ __forceinline__ void rmsnorm_forward_impl(T* x, const T* residual, const T* weight, T* y, float* rstd, i64 n, int h, float eps) {
        __shared__ float red[32];
        const int units = h / W;
        MK_FOR_ROW_BATCHES(n) {
            const i64 r = mk_base + threadIdx.y;
            const bool active = r < n;
            T* xr = x + (active ? r : 0) * h;
            float sq[1] = {0.f};
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float v[W];
                    load_w<W>(xr + u * W, v);
                    if (residual != nullptr) add_residual<W>(xr + u * W, residual + r * h + u * W, v);
    #pragma unroll
                    for (int k = 0; k < W; ++k) sq[0] += v[k] * v[k];
                }
            }
            row_sum<1>(sq, red);
            const float s = 1.0f / sqrtf(sq[0] / (float)h + eps);
            if (active) {
                T* yr = y + r * h;
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float v[W], w[W];
                    load_w<W>(xr + u * W, v);
                    load_w<W>(weight + u * W, w);
    #pragma unroll
                    for (int k = 0; k < W; ++k) v[k] = v[k] * s * w[k];
                    store_w<W>(yr + u * W, v);
                }
                if (threadIdx.x == 0) rstd[r] = s;
            }
        }
    }

    template <int W, typename T>
    __device__ __forceinline__ void rmsnorm_backward_impl(const T* dy, const T* x, const T* weight, const float* rstd,
                                                          T* dx, i64 n, int h) {
        __shared__ float red[32];
        const int units = h / W;
        MK_FOR_ROW_BATCHES(n) {
            const i64 r = mk_base + threadIdx.y;
            const bool active = r < n;
            const i64 off = (active ? r : 0) * h;
            const float s = active ? rstd[r] : 0.f;
            float acc[1] = {0.f};  // sum dy * w * x * s
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float g[W], xv[W], w[W];
                    load_w<W>(dy + off + u * W, g);
                    load_w<W>(x + off + u * W, xv);
                    load_w<W>(weight + u * W, w);
    #pragma unroll
                    for (int k = 0; k < W; ++k) acc[0] += g[k] * w[k] * xv[k] * s;
                }
            }
            row_sum<1>(acc, red);
            const float mean_gx = acc[0] / (float)h;
            if (active) {
                for (int u = threadIdx.x; u < units; u += blockDim.x) {
                    float g[W], xv[W], w[W], d[W];
                    load_w<W>(dy + off + u * W, g);
                    load_w<W>(x + off + u * W, xv);
                    load_w<W>(weight + u * W, w);
                    load_w<W>(dx + off + u * W, d);
    #pragma unroll
                    for (int k = 0; k < W; ++k) d[k] += s * (g[k] * w[k] - xv[k] * s * mean_gx);
                    store_w<W>(dx + off + u * W, d);
                }
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void rmsnorm_forward(T* x, const T* residual, const T* weight, T* y, float* rstd, i64 n, int h, float eps) {
        if (h % VEC == 0 && aligned16(x) && aligned16(weight) && aligned16(y))
            rmsnorm_forward_impl<VEC>(x, residual, weight, y, rstd, n, h, eps);
        else
            rmsnorm_forward_impl<1>(x, residual, weight, y, rstd, n, h, eps);
    }

    template <typename T>
    __device__ __forceinline__ void rmsnorm_backward(const T* dy, const T* x, const T* weight, const float* rstd,
                                                     T* dx, i64 n, int h) {
        if (h % VEC == 0 && aligned16(dy) && aligned16(x) && aligned16(weight) && aligned16(dx))
            rmsnorm_backward_impl<VEC>(dy, x, weight, rstd, dx, n, h);
        else
            rmsnorm_backward_impl<1>(dy, x, weight, rstd, dx, n, h);
    }

    #undef MK_FOR_ROW_BATCHES

    }  // namespace mk

    // ---- entry points ---------------------------------------------------------------------------

    extern "C" __global__ void __launch_bounds__(1024) layernorm_forward_f32(
        float* x, const float* residual, const float* weight, const float* bias, float* y, float* mean, float* rstd,
        long long n, int h, float eps) {
        mk::layernorm_forward(x, residual, weight, bias, y, mean, rstd, n, h, eps);
    }
    extern "C" __global__ void __launch_bounds__(1024) layernorm_forward_bf16(
        __nv_bfloat16* x, const __nv_bfloat16* residual, const __nv_bfloat16* weight, const __nv_bfloat16* bias, __nv_bfloat16* y,
        float* mean, float* rstd, long long n, int h, float eps) {
        mk::layernorm_forward(x, residual, weight, bias, y, mean, rstd, n, h, eps);
    }

    extern "C" __global__ void __launch_bounds__(1024) layernorm_backward_f32(
        const float* dy, const float* x, const float* weight, const float* mean, const float* rstd,
        float* dx, long long n, int h) {
        mk::layernorm_backward(dy, x, weight, mean, rstd, dx, n, h);
    }
    extern "C" __global__ void __launch_bounds__(1024) layernorm_backward_bf16(
        const __nv_bfloat16* dy, const __nv_bfloat16* x, const __nv_bfloat16* weight, const float* mean,
        const float* rstd, __nv_bfloat16* dx, long long n, int h) {
        mk::layernorm_backward(dy, x, weight, mean, rstd, dx, n, h);
    }

    extern "C" __global__ void __launch_bounds__(256) layernorm_backward_weight_partial_f32(
        const float* dy, const float* x, const float* mean, const float* rstd, long long n, int h,
        long long rows_per_split, float* partial_weight, float* partial_bias) {
        mk::column_partials<1>(dy, x, mean, rstd, n, h, rows_per_split, partial_weight, partial_bias);
    }
    extern "C" __global__ void __launch_bounds__(256) layernorm_backward_weight_partial_bf16(
        const __nv_bfloat16* dy, const __nv_bfloat16* x, const float* mean, const float* rstd, long long n, int h,
        long long rows_per_split, float* partial_weight, float* partial_bias) {
        mk::column_partials<1>(dy, x, mean, rstd, n, h, rows_per_split, partial_weight, partial_bias);
    }

    extern "C" __global__ void __launch_bounds__(1024) rmsnorm_forward_f32(
        float* x, const float* residual, const float* weight, float* y, float* rstd, long long n, int h, float eps) {
        mk::rmsnorm_forward(x, residual, weight, y, rstd, n, h, eps);
    }
    extern "C" __global__ void __launch_bounds__(1024) rmsnorm_forward_bf16(
        __nv_bfloat16* x, const __nv_bfloat16* residual, const __nv_bfloat16* weight, __nv_bfloat16* y, float* rstd, long long n, int h, float eps) {
        mk::rmsnorm_forward(x, residual, weight, y, rstd, n, h, eps);
    }

    extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_f32(
        const float* dy, const float* x, const float* weight, const float* rstd, float* dx, long long n, int h) {
        mk::rmsnorm_backward(dy, x, weight, rstd, dx, n, h);
    }
    extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_bf16(
        const __nv_bfloat16* dy, const __nv_bfloat16* x, const __nv_bfloat16* weight, const float* rstd,
        __nv_bfloat16* dx, long long n, int h) {
        mk::rmsnorm_backward(dy, x, weight, rstd, dx, n, h);
    }

    extern "C" __global__ void __launch_bounds__(256) rmsnorm_backward_weight_partial_f32(
        const float* dy, const float* x, const float* rstd, long long n, int h,
        long long rows_per_split, float* partial_weight) {
        mk::column_partials<2>(dy, x, (const float*)nullptr, rstd, n, h, rows_per_split, partial_weight, nullptr);
    }
    extern "C" __global__ void __launch_bounds__(256) rmsnorm_backward_weight_partial_bf16(
        const __nv_bfloat16* dy, const __nv_bfloat16* x, const float* rstd, long long n, int h,
        long long rows_per_split, float* partial_weight) {
        mk::column_partials<2>(dy, x, (const float*)nullptr, rstd, n, h, rows_per_split, partial_weight, nullptr);
    }

    extern "C" __global__ void __launch_bounds__(1024) layernorm_forward_f16(
        mk::f16* x, const mk::f16* residual, const mk::f16* weight, const mk::f16* bias, mk::f16* y,
        float* mean, float* rstd, long long n, int h, float eps) {
        mk::layernorm_forward(x, residual, weight, bias, y, mean, rstd, n, h, eps);
    }
    extern "C" __global__ void __launch_bounds__(1024) layernorm_backward_f16(
        const mk::f16* dy, const mk::f16* x, const mk::f16* weight, const float* mean,
        const float* rstd, mk::f16* dx, long long n, int h) {
        mk::layernorm_backward(dy, x, weight, mean, rstd, dx, n, h);
    }
    extern "C" __global__ void __launch_bounds__(256) layernorm_backward_weight_partial_f16(
        const mk::f16* dy, const mk::f16* x, const float* mean, const float* rstd, long long n, int h,
        long long rows_per_split, float* partial_weight, float* partial_bias) {
        mk::column_partials<1>(dy, x, mean, rstd, n, h, rows_per_split, partial_weight, partial_bias);
    }
    extern "C" __global__ void __launch_bounds__(1024) rmsnorm_forward_f16(
        mk::f16* x, const mk::f16* residual, const mk::f16* weight, mk::f16* y, float* rstd, long long n, int h, float eps) {
        mk::rmsnorm_forward(x, residual, weight, y, rstd, n, h, eps);
    }
    extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_f16(
        const mk::f16* dy, const mk::f16* x, const mk::f16* weight, const float* rstd,
        mk::f16* dx, long long n, int h) {
        mk::rmsnorm_backward(dy, x, weight, rstd, dx, n, h);
    }
    extern "C" __global__ void __launch_bounds__(256) rmsnorm_backward_weight_partial_f16(
        const mk::f16* dy, const mk::f16* x, const float* rstd, long long n, int h,
        long long rows_per_split, float* partial_weight) {
        mk::column_partials<2>(dy, x, (const float*)nullptr, rstd, n, h, rows_per_split, partial_weight, nullptr);
    }

    extern "C" __global__ void norm_weight_grad_finalize(const float* partials, int splits, int h, float* out) {
        mk::column_partials_finalize(partials, splits, h, out);
    }

    """#
}
