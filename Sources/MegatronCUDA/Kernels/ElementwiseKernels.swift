/// Elementwise kernels: fill, dtype conversion, add, axpy, scale, sum of squares and Philox
/// dropout, as CUDA C for NVRTC (conventions and launch vocabulary: ``KernelSources``).
/// `T` is `float` (`_f32`), `__nv_bfloat16` (`_bf16`) or `mk::f16` (`_f16`, binary16 bits). All
/// take a *flat* launch — block 256 (any multiple of 32 up to 1024, 1-D), grid
/// `clamp(⌈n / 2048⌉, 1, 16·SMs)` (any grid is correct: grid-stride loops), no dynamic shared
/// memory — except where the table says otherwise. When every pointer is 16-byte aligned they
/// move 8 elements per thread step with 128-bit loads/stores; otherwise they run scalar.
///
///     extern "C" __global__ void fill_f32(float* out, long long n, float value)
///     extern "C" __global__ void fill_bf16(__nv_bfloat16* out, long long n, float value)
///     extern "C" __global__ void fill_f16(mk::f16* out, long long n, float value)
///     extern "C" __global__ void fill_i32(int* out, long long n, float value)
///     extern "C" __global__ void convert_<S>_to_<D>(const S* in, D* out, long long n)
///     extern "C" __global__ void add_<f32|bf16|f16>(const T* a, const T* b, T* out, long long n)
///     extern "C" __global__ void axpy_<f32|bf16|f16>(const T* x, T* y, long long n, float alpha)
///     extern "C" __global__ void axpy_<bf16|f16>_f32(const T* x, float* y, long long n, float alpha)
///     extern "C" __global__ void scale_<f32|bf16|f16>(T* x, long long n, float alpha)
///     extern "C" __global__ void sum_of_squares_partial_<f32|bf16|f16>(const T* x, long long n, double* partials)
///     extern "C" __global__ void sum_of_squares_finalize(const double* partials, int count, double* out)
///     extern "C" __global__ void dropout_<f32|bf16|f16>(const T* x, T* y, long long n, float p,
///                                                       unsigned long long seed, unsigned long long offset)
///
/// | function | semantics | launch |
/// | --- | --- | --- |
/// | `fill_*` | `out[i] = value` rounded to nearest even (bf16/f16), `(int)value` (toward zero) for i32 | flat |
/// | `convert_<S>_to_<D>`, S ≠ D ∈ {`f32`, `bf16`, `f16`} (6 functions) | `out[i] = D(float(in[i]))`, round to nearest even, fp16 overflow → ±inf | flat |
/// | `add_*` | `out = a + b`; `out` may alias `a` or `b` | flat |
/// | `axpy_*` | `y += alpha · x` (fp32 arithmetic, one rounding to `T` per element) | flat |
/// | `axpy_bf16_f32`, `axpy_f16_f32` | `y (fp32) += alpha · float(x (bf16/fp16))` | flat |
/// | `scale_*` | `x *= alpha` | flat |
/// | `sum_of_squares_partial_*` | `partials[blockIdx.x] = Σ double(x_i)²` over the block's grid-stride share | flat, grid G ≤ length of `partials` (recommended `min(⌈n/2048⌉, 4·SMs)`, ≥ 1) |
/// | `sum_of_squares_finalize` | `out[0] = Σ partials[0..<count]` (overwrites) | grid 1, block 256 |
/// | `dropout_*` | `y[i] = uniform(offset + i) ≥ p ? x[i] · (1/(1−p)) : 0` | flat over ⌈n/4⌉ Philox blocks: grid `clamp(⌈n / 1024⌉, 1, 16·SMs)` |
///
/// `sum_of_squares` is deterministic for a fixed grid and block: each thread accumulates its
/// grid-stride share in double, the block adds warps in order and the finalize adds blocks in
/// order. ``MegatronTensor/Philox`` is reproduced bit-exactly: element i uses counter
/// `(offset + i) >> 2` (as low/high 32-bit words, subsequence 0), key `(seed lo, seed hi)`,
/// lane `(offset + i) & 3`, uniform `float(word >> 8)·2⁻²⁴`; `1/(1−p)` is computed in fp32 as the
/// CPU does. One thread generates one Philox block and handles its (up to) four elements, with a
/// 16-byte (fp32) / 8-byte (bf16, fp16) access when `offset` is a multiple of 4 and `x`, `y` are aligned
/// to that. `y` may alias `x` (the backward applies the same call to `dy`). Requires 0 ≤ p < 1
/// (the host checks).
enum ElementwiseKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    // ---- fill -----------------------------------------------------------------------------------

    template <typename T>
    __device__ __forceinline__ void fill_impl(T* out, i64 n, float value) {
        const T one = from_float<T>(value);
        const float rounded = to_float(one);
        float v[VEC];
    #pragma unroll
        for (int k = 0; k < VEC; ++k) v[k] = rounded;
        flat_for(n, aligned16(out),
                 [&](i64 i) { store8(out + i, v); },
                 [&](i64 i) { out[i] = one; });
    }

    __device__ __forceinline__ void fill_i32_impl(int* out, i64 n, int value) {
        const int4 q = make_int4(value, value, value, value);
        flat_for(n, aligned16(out),
                 [&](i64 i) { reinterpret_cast<int4*>(out + i)[0] = q; reinterpret_cast<int4*>(out + i)[1] = q; },
                 [&](i64 i) { out[i] = value; });
    }

    // ---- conversion -----------------------------------------------------------------------------

    template <typename S, typename D>
    __device__ __forceinline__ void convert_impl(const S* in, D* out, i64 n) {
        flat_for(n, aligned16(in) && aligned16(out),
                 [&](i64 i) { float v[VEC]; load8(in + i, v); store8(out + i, v); },
                 [&](i64 i) { out[i] = from_float<D>(to_float(in[i])); });
    }

    // ---- arithmetic -----------------------------------------------------------------------------

    template <typename T>
    __device__ __forceinline__ void add_impl(const T* a, const T* b, T* out, i64 n) {
        flat_for(n, aligned16(a) && aligned16(b) && aligned16(out),
                 [&](i64 i) {
                     float va[VEC], vb[VEC];
                     load8(a + i, va);
                     load8(b + i, vb);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) va[k] += vb[k];
                     store8(out + i, va);
                 },
                 [&](i64 i) { out[i] = from_float<T>(to_float(a[i]) + to_float(b[i])); });
    }

    template <typename TX, typename TY>
    __device__ __forceinline__ void axpy_impl(const TX* x, TY* y, i64 n, float alpha) {
        flat_for(n, aligned16(x) && aligned16(y),
                 [&](i64 i) {
                     float vx[VEC], vy[VEC];
                     load8(x + i, vx);
                     load8(y + i, vy);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) vy[k] += alpha * vx[k];
                     store8(y + i, vy);
                 },
                 [&](i64 i) { y[i] = from_float<TY>(to_float(y[i]) + alpha * to_float(x[i])); });
    }

    template <typename T>
    __device__ __forceinline__ void scale_impl(T* x, i64 n, float alpha) {
        flat_for(n, aligned16(x),
                 [&](i64 i) {
                     float v[VEC];
                     load8(x + i, v);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) v[k] *= alpha;
                     store8(x + i, v);
                 },
                 [&](i64 i) { x[i] = from_float<T>(to_float(x[i]) * alpha); });
    }

    // ---- sum of squares (two launches, deterministic) -------------------------------------------

    // Sums v over the 1-D block; the result is valid in thread 0.
    __device__ __forceinline__ double block_sum_double(double v) {
        __shared__ double red[32];
        v = warp_sum(v);
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        if (lane == 0) red[warp] = v;
        __syncthreads();
        double s = 0.0;
        if (threadIdx.x == 0) {
            const int warps = (blockDim.x + 31) >> 5;
            for (int w = 0; w < warps; ++w) s += red[w];
        }
        return s;
    }

    template <typename T>
    __device__ __forceinline__ void sum_of_squares_partial_impl(const T* x, i64 n, double* partials) {
        double acc = 0.0;
        flat_for(n, aligned16(x),
                 [&](i64 i) {
                     float v[VEC];
                     load8(x + i, v);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) { const double d = (double)v[k]; acc += d * d; }
                 },
                 [&](i64 i) { const double d = (double)to_float(x[i]); acc += d * d; });
        const double s = block_sum_double(acc);
        if (threadIdx.x == 0) partials[blockIdx.x] = s;
    }

    __device__ __forceinline__ void sum_of_squares_finalize_impl(const double* partials, int count, double* out) {
        double acc = 0.0;
        for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
        const double s = block_sum_double(acc);
        if (threadIdx.x == 0 && blockIdx.x == 0) out[0] = s;
    }

    // ---- dropout --------------------------------------------------------------------------------

    // Four consecutive elements; p aligned to 4 elements (16 bytes fp32, 8 bytes bf16/fp16). The
    // templates take the 16-bit types (as load8/store8).
    __device__ __forceinline__ void load4(const float* p, float (&v)[4]) {
        const float4 a = *reinterpret_cast<const float4*>(p);
        v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    }
    template <typename T> __device__ __forceinline__ void load4(const T* p, float (&v)[4]) {
        const uint2 u = *reinterpret_cast<const uint2*>(p);
        v[0] = Bits16<T>::lo(u.x); v[1] = Bits16<T>::hi(u.x);
        v[2] = Bits16<T>::lo(u.y); v[3] = Bits16<T>::hi(u.y);
    }
    __device__ __forceinline__ void store4(float* p, const float (&v)[4]) {
        *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
    }
    template <typename T> __device__ __forceinline__ void store4(T* p, const float (&v)[4]) {
        uint2 u;
        u.x = Bits16<T>::bits(v[0]) | (Bits16<T>::bits(v[1]) << 16);
        u.y = Bits16<T>::bits(v[2]) | (Bits16<T>::bits(v[3]) << 16);
        *reinterpret_cast<uint2*>(p) = u;
    }

    template <typename T>
    __device__ __forceinline__ void dropout_impl(const T* x, T* y, i64 n, float p, u64 seed, u64 offset) {
        if (n <= 0) return;
        const float keep_scale = 1.0f / (1.0f - p);
        // Philox blocks (counters) first .. last cover stream elements offset .. offset + n - 1.
        const u64 first = offset >> 2;
        const u64 last = (offset + (u64)(n - 1)) >> 2;
        const i64 blocks = (i64)(last - first) + 1;
        const bool vec = (offset & 3ull) == 0ull && aligned_to(x, 4 * sizeof(T)) && aligned_to(y, 4 * sizeof(T));
        const i64 stride = (i64)gridDim.x * blockDim.x;
        for (i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x; g < blocks; g += stride) {
            const u64 counter = first + (u64)g;
            const uint4 w = philox(counter, seed);
            const u32 words[4] = {w.x, w.y, w.z, w.w};
            // Tensor index of the block's lane 0 (negative for a partial first block).
            const i64 i0 = (i64)((counter << 2) - offset);
            if (vec && i0 + 4 <= n) {
                float v[4];
                load4(x + i0, v);
    #pragma unroll
                for (int k = 0; k < 4; ++k) v[k] = philox_uniform(words[k]) >= p ? v[k] * keep_scale : 0.f;
                store4(y + i0, v);
            } else {
    #pragma unroll
                for (int k = 0; k < 4; ++k) {
                    const i64 i = i0 + k;
                    if (i >= 0 && i < n) {
                        y[i] = from_float<T>(philox_uniform(words[k]) >= p ? to_float(x[i]) * keep_scale : 0.f);
                    }
                }
            }
        }
    }

    }  // namespace mk

    // ---- entry points ---------------------------------------------------------------------------

    extern "C" __global__ void fill_f32(float* out, long long n, float value) { mk::fill_impl(out, n, value); }
    extern "C" __global__ void fill_bf16(__nv_bfloat16* out, long long n, float value) { mk::fill_impl(out, n, value); }
    extern "C" __global__ void fill_f16(mk::f16* out, long long n, float value) { mk::fill_impl(out, n, value); }
    extern "C" __global__ void fill_i32(int* out, long long n, float value) { mk::fill_i32_impl(out, n, (int)value); }

    extern "C" __global__ void convert_f32_to_bf16(const float* in, __nv_bfloat16* out, long long n) { mk::convert_impl(in, out, n); }
    extern "C" __global__ void convert_bf16_to_f32(const __nv_bfloat16* in, float* out, long long n) { mk::convert_impl(in, out, n); }
    extern "C" __global__ void convert_f32_to_f16(const float* in, mk::f16* out, long long n) { mk::convert_impl(in, out, n); }
    extern "C" __global__ void convert_f16_to_f32(const mk::f16* in, float* out, long long n) { mk::convert_impl(in, out, n); }
    extern "C" __global__ void convert_bf16_to_f16(const __nv_bfloat16* in, mk::f16* out, long long n) { mk::convert_impl(in, out, n); }
    extern "C" __global__ void convert_f16_to_bf16(const mk::f16* in, __nv_bfloat16* out, long long n) { mk::convert_impl(in, out, n); }

    extern "C" __global__ void add_f32(const float* a, const float* b, float* out, long long n) { mk::add_impl(a, b, out, n); }
    extern "C" __global__ void add_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* out, long long n) {
        mk::add_impl(a, b, out, n);
    }
    extern "C" __global__ void add_f16(const mk::f16* a, const mk::f16* b, mk::f16* out, long long n) { mk::add_impl(a, b, out, n); }

    extern "C" __global__ void axpy_f32(const float* x, float* y, long long n, float alpha) { mk::axpy_impl(x, y, n, alpha); }
    extern "C" __global__ void axpy_bf16(const __nv_bfloat16* x, __nv_bfloat16* y, long long n, float alpha) {
        mk::axpy_impl(x, y, n, alpha);
    }
    extern "C" __global__ void axpy_f16(const mk::f16* x, mk::f16* y, long long n, float alpha) { mk::axpy_impl(x, y, n, alpha); }
    extern "C" __global__ void axpy_bf16_f32(const __nv_bfloat16* x, float* y, long long n, float alpha) {
        mk::axpy_impl(x, y, n, alpha);
    }
    extern "C" __global__ void axpy_f16_f32(const mk::f16* x, float* y, long long n, float alpha) { mk::axpy_impl(x, y, n, alpha); }

    extern "C" __global__ void scale_f32(float* x, long long n, float alpha) { mk::scale_impl(x, n, alpha); }
    extern "C" __global__ void scale_bf16(__nv_bfloat16* x, long long n, float alpha) { mk::scale_impl(x, n, alpha); }
    extern "C" __global__ void scale_f16(mk::f16* x, long long n, float alpha) { mk::scale_impl(x, n, alpha); }

    extern "C" __global__ void __launch_bounds__(1024) sum_of_squares_partial_f32(const float* x, long long n, double* partials) {
        mk::sum_of_squares_partial_impl(x, n, partials);
    }
    extern "C" __global__ void __launch_bounds__(1024) sum_of_squares_partial_bf16(const __nv_bfloat16* x, long long n, double* partials) {
        mk::sum_of_squares_partial_impl(x, n, partials);
    }
    extern "C" __global__ void __launch_bounds__(1024) sum_of_squares_partial_f16(const mk::f16* x, long long n, double* partials) {
        mk::sum_of_squares_partial_impl(x, n, partials);
    }
    extern "C" __global__ void __launch_bounds__(1024) sum_of_squares_finalize(const double* partials, int count, double* out) {
        mk::sum_of_squares_finalize_impl(partials, count, out);
    }

    extern "C" __global__ void dropout_f32(const float* x, float* y, long long n, float p,
                                           unsigned long long seed, unsigned long long offset) {
        mk::dropout_impl(x, y, n, p, seed, offset);
    }
    extern "C" __global__ void dropout_bf16(const __nv_bfloat16* x, __nv_bfloat16* y, long long n, float p,
                                            unsigned long long seed, unsigned long long offset) {
        mk::dropout_impl(x, y, n, p, seed, offset);
    }
    extern "C" __global__ void dropout_f16(const mk::f16* x, mk::f16* y, long long n, float p,
                                           unsigned long long seed, unsigned long long offset) {
        mk::dropout_impl(x, y, n, p, seed, offset);
    }

    """#
}
