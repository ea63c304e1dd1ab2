/// GeLU and SwiGLU, forward and backward, as CUDA C for NVRTC (conventions and launch vocabulary:
/// ``KernelSources``). `T` is `float` (`_f32`), `__nv_bfloat16` (`_bf16`) or `mk::f16` (`_f16`);
/// arithmetic is fp32 with the precise `erff`/`expf`/`tanhf` (no fast intrinsics).
///
///     // y = gelu(x): exact x·Φ(x) when approximate == 0, else 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
///     extern "C" __global__ void gelu_forward_<f32|bf16|f16>(const T* x, T* y, long long n, int approximate)
///     // dx = dy · gelu'(x)   (overwrites dx)
///     extern "C" __global__ void gelu_backward_<f32|bf16|f16>(const T* dy, const T* x, T* dx, long long n, int approximate)
///     // x [n, 2f] (gate = columns 0..<f, up = f..<2f) → y [n, f]: y = silu(gate) · up
///     extern "C" __global__ void swiglu_forward_<f32|bf16|f16>(const T* x, T* y, long long n, int f)
///     // dx [n, 2f] (overwritten): dgate = dy·up·σ·(1 + gate·(1 − σ)), dup = dy·gate·σ
///     extern "C" __global__ void swiglu_backward_<f32|bf16|f16>(const T* dy, const T* x, T* dx, long long n, int f)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `gelu_forward_*`, `gelu_backward_*` (n elements) | flat: `clamp(⌈n / 2048⌉, 1, 16·SMs)` | 256 | 0 |
/// | `swiglu_forward_*`, `swiglu_backward_*` | row-tiled over `[n, f]`: `(⌈units / bx⌉, min(⌈n / by⌉, 65535))`, `units = ⌈f / 8⌉` | `(bx, by)`, `bx = min(256, roundUp(units, 32))`, `by = 256 / bx` | 0 |
///
/// Formulas follow the CPU reference term by term: exact GeLU `cdf = 0.5·(1 + erf(x·0.70710678))`,
/// `pdf = exp(−0.5·x·x)·0.39894228`, derivative `cdf + x·pdf`; tanh GeLU derivative
/// `0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)`; SwiGLU `σ = 1 / (1 + exp(−gate))`,
/// `y = gate / (1 + exp(−gate)) · up`. Vector paths (8 elements per thread) need 16-byte aligned
/// pointers (and `f % 8 == 0` for SwiGLU); everything else runs scalar. `y` may alias `x` for
/// GeLU (`dx` may alias `dy`).
enum ActivationKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    // ---- GeLU -----------------------------------------------------------------------------------

    template <bool APPROX>
    __device__ __forceinline__ float gelu_value(float x) {
        if constexpr (APPROX) {
            const float k = 0.79788456080286536f, c = 0.044715f;
            const float t = tanhf(k * (x + c * x * x * x));
            return 0.5f * x * (1.0f + t);
        } else {
            const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
            return x * cdf;
        }
    }

    template <bool APPROX>
    __device__ __forceinline__ float gelu_derivative(float x) {
        if constexpr (APPROX) {
            const float k = 0.79788456080286536f, c = 0.044715f;
            const float t = tanhf(k * (x + c * x * x * x));
            const float dinner = k * (1.0f + 3.0f * c * x * x);
            return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner;
        } else {
            const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
            const float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
            return cdf + x * pdf;
        }
    }

    template <bool APPROX, typename T>
    __device__ __forceinline__ void gelu_forward_impl(const T* x, T* y, i64 n) {
        flat_for(n, aligned16(x) && aligned16(y),
                 [&](i64 i) {
                     float v[VEC];
                     load8(x + i, v);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) v[k] = gelu_value<APPROX>(v[k]);
                     store8(y + i, v);
                 },
                 [&](i64 i) { y[i] = from_float<T>(gelu_value<APPROX>(to_float(x[i]))); });
    }

    template <bool APPROX, typename T>
    __device__ __forceinline__ void gelu_backward_impl(const T* dy, const T* x, T* dx, i64 n) {
        flat_for(n, aligned16(dy) && aligned16(x) && aligned16(dx),
                 [&](i64 i) {
                     float v[VEC], g[VEC];
                     load8(x + i, v);
                     load8(dy + i, g);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) v[k] = g[k] * gelu_derivative<APPROX>(v[k]);
                     store8(dx + i, v);
                 },
                 [&](i64 i) { dx[i] = from_float<T>(to_float(dy[i]) * gelu_derivative<APPROX>(to_float(x[i]))); });
    }

    // ---- SwiGLU ---------------------------------------------------------------------------------

    template <int W, typename T>
    __device__ __forceinline__ void swiglu_forward_impl(const T* x, T* y, i64 n, int f) {
        const int units = f / W;
        const i64 row_stride = (i64)gridDim.y * blockDim.y;
        for (i64 r = (i64)blockIdx.y * blockDim.y + threadIdx.y; r < n; r += row_stride) {
            const T* gate = x + r * 2 * f;
            const T* up = gate + f;
            T* out = y + r * f;
            for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
                float a[W], b[W];
                load_w<W>(gate + u * W, a);
                load_w<W>(up + u * W, b);
    #pragma unroll
                for (int k = 0; k < W; ++k) a[k] = a[k] / (1.0f + expf(-a[k])) * b[k];
                store_w<W>(out + u * W, a);
            }
        }
    }

    template <int W, typename T>
    __device__ __forceinline__ void swiglu_backward_impl(const T* dy, const T* x, T* dx, i64 n, int f) {
        const int units = f / W;
        const i64 row_stride = (i64)gridDim.y * blockDim.y;
        for (i64 r = (i64)blockIdx.y * blockDim.y + threadIdx.y; r < n; r += row_stride) {
            const T* gate = x + r * 2 * f;
            const T* up = gate + f;
            const T* g = dy + r * f;
            T* dgate = dx + r * 2 * f;
            T* dup = dgate + f;
            for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
                float a[W], b[W], d[W], da[W], db[W];
                load_w<W>(gate + u * W, a);
                load_w<W>(up + u * W, b);
                load_w<W>(g + u * W, d);
    #pragma unroll
                for (int k = 0; k < W; ++k) {
                    const float sig = 1.0f / (1.0f + expf(-a[k]));
                    da[k] = d[k] * b[k] * sig * (1.0f + a[k] * (1.0f - sig));
                    db[k] = d[k] * a[k] * sig;
                }
                store_w<W>(dgate + u * W, da);
                store_w<W>(dup + u * W, db);
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void swiglu_forward(const T* x, T* y, i64 n, int f) {
        if (f % VEC == 0 && aligned16(x) && aligned16(y)) swiglu_forward_impl<VEC>(x, y, n, f);
        else swiglu_forward_impl<1>(x, y, n, f);
    }

    template <typename T>
    __device__ __forceinline__ void swiglu_backward(const T* dy, const T* x, T* dx, i64 n, int f) {
        if (f % VEC == 0 && aligned16(dy) && aligned16(x) && aligned16(dx)) swiglu_backward_impl<VEC>(dy, x, dx, n, f);
        else swiglu_backward_impl<1>(dy, x, dx, n, f);
    }

    }  // namespace mk

    // ---- entry points ---------------------------------------------------------------------------

    extern "C" __global__ void gelu_forward_f32(const float* x, float* y, long long n, int approximate) {
        if (approximate) mk::gelu_forward_impl<true>(x, y, n); else mk::gelu_forward_impl<false>(x, y, n);
    }
    extern "C" __global__ void gelu_forward_bf16(const __nv_bfloat16* x, __nv_bfloat16* y, long long n, int approximate) {
        if (approximate) mk::gelu_forward_impl<true>(x, y, n); else mk::gelu_forward_impl<false>(x, y, n);
    }
    extern "C" __global__ void gelu_backward_f32(const float* dy, const float* x, float* dx, long long n, int approximate) {
        if (approximate) mk::gelu_backward_impl<true>(dy, x, dx, n); else mk::gelu_backward_impl<false>(dy, x, dx, n);
    }
    extern "C" __global__ void gelu_backward_bf16(const __nv_bfloat16* dy, const __nv_bfloat16* x, __nv_bfloat16* dx,
                                                  long long n, int approximate) {
        if (approximate) mk::gelu_backward_impl<true>(dy, x, dx, n); else mk::gelu_backward_impl<false>(dy, x, dx, n);
    }

    extern "C" __global__ void swiglu_forward_f32(const float* x, float* y, long long n, int f) { mk::swiglu_forward(x, y, n, f); }
    extern "C" __global__ void swiglu_forward_bf16(const __nv_bfloat16* x, __nv_bfloat16* y, long long n, int f) {
        mk::swiglu_forward(x, y, n, f);
    }
    extern "C" __global__ void swiglu_backward_f32(const float* dy, const float* x, float* dx, long long n, int f) {
        mk::swiglu_backward(dy, x, dx, n, f);
    }
    extern "C" __global__ void swiglu_backward_bf16(const __nv_bfloat16* dy, const __nv_bfloat16* x, __nv_bfloat16* dx,
                                                    long long n, int f) {
        mk::swiglu_backward(dy, x, dx, n, f);
    }

    extern "C" __global__ void gelu_forward_f16(const mk::f16* x, mk::f16* y, long long n, int approximate) {
        if (approximate) mk::gelu_forward_impl<true>(x, y, n); else mk::gelu_forward_impl<false>(x, y, n);
    }
    extern "C" __global__ void gelu_backward_f16(const mk::f16* dy, const mk::f16* x, mk::f16* dx, long long n, int approximate) {
        if (approximate) mk::gelu_backward_impl<true>(dy, x, dx, n); else mk::gelu_backward_impl<false>(dy, x, dx, n);
    }
    extern "C" __global__ void swiglu_forward_f16(const mk::f16* x, mk::f16* y, long long n, int f) { mk::swiglu_forward(x, y, n, f); }
    extern "C" __global__ void swiglu_backward_f16(const mk::f16* dy, const mk::f16* x, mk::f16* dx, long long n, int f) {
        mk::swiglu_backward(dy, x, dx, n, f);
    }

    """#
}
