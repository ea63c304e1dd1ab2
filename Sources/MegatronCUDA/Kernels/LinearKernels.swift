/// Bias kernels of the linear layers, as CUDA C for NVRTC (conventions and launch vocabulary:
/// ``KernelSources``). `T` is `float` (`_f32`), `__nv_bfloat16` (`_bf16`) or `mk::f16` (`_f16`);
/// `y`, `dy` are row-major `[rows, cols]`, the bias `[cols]` has type `T`, its gradient is fp32.
///
///     // y[r, c] += bias[c]
///     extern "C" __global__ void add_bias_<f32|bf16|f16>(T* y, const T* bias, long long rows, int cols)
///     // dbias[c] += Σ_r dy[r, c], in two launches (deterministic, no atomics):
///     extern "C" __global__ void bias_backward_partial_<f32|bf16|f16>(const T* dy, long long rows, int cols,
///                                                                     long long rows_per_split, float* partials)
///     extern "C" __global__ void bias_backward_finalize(const float* partials, int splits, int cols, float* dbias)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `add_bias_*` | row-tiled over `[rows, cols]`: `(⌈units / bx⌉, min(⌈rows / by⌉, 65535))`, `units = ⌈cols / 8⌉` | `(bx, by)`, `bx = min(256, roundUp(units, 32))`, `by = 256 / bx` | 0 |
/// | `bias_backward_partial_*` | `(tiles, splits)`, `tiles = ⌈⌈cols / 8⌉ / 32⌉`, `splits = clamp(min(⌈rows / 32⌉, ⌈4·SMs / tiles⌉), 1, 65535)` | `(32, 8)` exactly | 0 (16 KiB static) |
/// | `bias_backward_finalize` | `⌈cols / 256⌉` | 256 | 0 |
///
/// `bias_backward_partial` writes `partials[s · cols + c]` = the sum of rows
/// `[s · rows_per_split, (s + 1) · rows_per_split)` of column `c` for split `s = blockIdx.y`, with
/// `rows_per_split = ⌈rows / splits⌉`; the host allocates `splits · cols` floats (no zeroing). The
/// finalize adds the splits in order onto `dbias`, so the result is bit-reproducible for a given
/// `splits`. Vector path (8 columns per thread, 128-bit loads) when `cols % 8 == 0` and the
/// pointers are 16-byte aligned; any `cols` works.
enum LinearKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    template <int W, typename T>
    __device__ __forceinline__ void add_bias_impl(T* y, const T* bias, i64 rows, int cols) {
        const int units = cols / W;
        const i64 row_stride = (i64)gridDim.y * blockDim.y;
        for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
            float b[W];
            load_w<W>(bias + (i64)u * W, b);
            for (i64 r = (i64)blockIdx.y * blockDim.y + threadIdx.y; r < rows; r += row_stride) {
                T* p = y + r * cols + (i64)u * W;
                float v[W];
                load_w<W>(p, v);
    #pragma unroll
                for (int k = 0; k < W; ++k) v[k] += b[k];
                store_w<W>(p, v);
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void add_bias(T* y, const T* bias, i64 rows, int cols) {
        if (cols % VEC == 0 && aligned16(y) && aligned16(bias)) add_bias_impl<VEC>(y, bias, rows, cols);
        else add_bias_impl<1>(y, bias, rows, cols);
    }

    }  // namespace mk

    extern "C" __global__ void add_bias_f32(float* y, const float* bias, long long rows, int cols) {
        mk::add_bias(y, bias, rows, cols);
    }
    extern "C" __global__ void add_bias_bf16(__nv_bfloat16* y, const __nv_bfloat16* bias, long long rows, int cols) {
        mk::add_bias(y, bias, rows, cols);
    }
    extern "C" __global__ void add_bias_f16(mk::f16* y, const mk::f16* bias, long long rows, int cols) {
        mk::add_bias(y, bias, rows, cols);
    }

    extern "C" __global__ void __launch_bounds__(256) bias_backward_partial_f32(
        const float* dy, long long rows, int cols, long long rows_per_split, float* partials) {
        mk::column_partials<0>(dy, (const float*)nullptr, nullptr, nullptr, rows, cols, rows_per_split, partials, nullptr);
    }
    extern "C" __global__ void __launch_bounds__(256) bias_backward_partial_bf16(
        const __nv_bfloat16* dy, long long rows, int cols, long long rows_per_split, float* partials) {
        mk::column_partials<0>(dy, (const __nv_bfloat16*)nullptr, nullptr, nullptr, rows, cols, rows_per_split, partials, nullptr);
    }
    extern "C" __global__ void __launch_bounds__(256) bias_backward_partial_f16(
        const mk::f16* dy, long long rows, int cols, long long rows_per_split, float* partials) {
        mk::column_partials<0>(dy, (const mk::f16*)nullptr, nullptr, nullptr, rows, cols, rows_per_split, partials, nullptr);
    }
    extern "C" __global__ void bias_backward_finalize(const float* partials, int splits, int cols, float* dbias) {
        mk::column_partials_finalize(partials, splits, cols, dbias);
    }

    """#
}
