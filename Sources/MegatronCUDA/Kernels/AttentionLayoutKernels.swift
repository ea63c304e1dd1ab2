/// Attention layout kernels, as CUDA C for NVRTC (conventions and launch vocabulary:
/// ``KernelSources``): splitting Megatron's fused QKV projection into q, k, v heads and merging the
/// gradients back, and rotary position embedding in place. `T` is `float` (`_f32`),
/// `__nv_bfloat16` (`_bf16`) or `mk::f16` (`_f16`).
///
/// Fused layout (as the CPU `moveQKV`): a token's row of width `(nq + 2·ng)·d` holds, for each
/// query group g = 0..<ng, its `nq/ng` query heads, then one key head, then one value head;
/// `q [tokens, nq, d]`, `k, v [tokens, ng, d]` with `tokens = s·b`. `ng` must divide `nq`.
///
///     extern "C" __global__ void split_qkv_<f32|bf16|f16>(const T* qkv, T* q, T* k, T* v,
///                                                         long long tokens, int nq, int ng, int d)
///     extern "C" __global__ void merge_qkv_<f32|bf16|f16>(const T* q, const T* k, const T* v, T* qkv,
///                                                         long long tokens, int nq, int ng, int d)
///     // x [s, b, heads, d] in place, rows_per_position = b·heads, d even; inverse != 0 rotates back
///     extern "C" __global__ void rope_<f32|bf16|f16>(T* x, long long s, long long rows_per_position, int d,
///                                                    float base, int inverse)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `split_qkv_*`, `merge_qkv_*` | flat over the `tokens·(nq + 2·ng)·d` elements: `clamp(⌈n / 2048⌉, 1, 16·SMs)` | 256 | 0 |
/// | `rope_*` | `(gx, min(s, 65535))`, `gx = clamp(⌈rows_per_position·⌈d/16⌉ / 256⌉, 1, 65535)` | 256 (any multiple of 32 ≤ 1024) | `d · 4` bytes |
///
/// Split/merge are pure copies (bit-exact); the vector path (8 elements per thread) needs
/// `d % 8 == 0` and 16-byte aligned tensors. RoPE follows the CPU exactly in fp32: for
/// `i < d/2`, `inv_freq = 1 / powf(base, (float)(2i) / (float)d)`, `angle = (float)p · inv_freq`,
/// `c = cosf(angle)`, `sn = ±sinf(angle)` (minus when `inverse`), and the pair `(x[i], x[i + d/2])`
/// becomes `(x1·c − x2·sn, x2·c + x1·sn)` with the precise `powf`/`cosf`/`sinf`. Grid y walks the
/// positions (grid-stride); each block first builds the position's cos/sin table in shared memory
/// (`cos[0..<d/2]`, `sin[0..<d/2]`), then grid x splits that position's rows. Vector path when
/// `(d/2) % 8 == 0` and `x` is 16-byte aligned.
enum AttentionLayoutKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    // ---- split / merge --------------------------------------------------------------------------

    // One flat grid-stride loop over every W-element unit of the fused [tokens, width] tensor
    // (a 2-D launch left most threads of the second column block idle at GPT-2's width).
    template <bool SPLIT, int W, typename T>
    __device__ __forceinline__ void move_qkv_impl(T* fused, T* q, T* k, T* v, i64 tokens, int nq, int ng, int d) {
        const int per_group = nq / ng;
        const int group_width = (per_group + 2) * d;
        const int width = ng * group_width;
        const int units = width / W;
        const i64 total = tokens * units;
        for (i64 x = (i64)blockIdx.x * blockDim.x + threadIdx.x; x < total; x += (i64)gridDim.x * blockDim.x) {
            const i64 t = x / units;
            const int e = (int)(x - t * units) * W;  // element within the fused row
            const int g = e / group_width;
            const int within = e - g * group_width;
            const int head = within / d;             // 0..<per_group: query, per_group: key, +1: value
            const int col = within - head * d;       // a unit never straddles heads (d % W == 0)
            T* other;
            if (head < per_group) other = q + ((t * nq + (i64)g * per_group + head) * d + col);
            else if (head == per_group) other = k + ((t * ng + g) * d + col);
            else other = v + ((t * ng + g) * d + col);
            T* f = fused + (t * width + e);
            float val[W];
            if constexpr (SPLIT) { load_w<W>(f, val); store_w<W>(other, val); }
            else { load_w<W>(other, val); store_w<W>(f, val); }
        }
    }

    template <bool SPLIT, typename T>
    __device__ __forceinline__ void move_qkv(T* fused, T* q, T* k, T* v, i64 tokens, int nq, int ng, int d) {
        if (d % VEC == 0 && aligned16(fused) && aligned16(q) && aligned16(k) && aligned16(v))
            move_qkv_impl<SPLIT, VEC>(fused, q, k, v, tokens, nq, ng, d);
        else
            move_qkv_impl<SPLIT, 1>(fused, q, k, v, tokens, nq, ng, d);
    }

    // ---- rotary embedding -----------------------------------------------------------------------

    extern __shared__ float rope_table[];  // cos[0..<d/2], then sin[0..<d/2]

    template <int W, typename T>
    __device__ __forceinline__ void rope_impl(T* x, i64 s, i64 rows_per_position, int d, float base, bool inverse) {
        const int half = d / 2;
        float* cos_t = rope_table;
        float* sin_t = rope_table + half;
        const int units_per_row = half / W;
        const i64 units = rows_per_position * units_per_row;
        for (i64 p = blockIdx.y; p < s; p += gridDim.y) {
            for (int i = threadIdx.x; i < half; i += blockDim.x) {
                const float inv_freq = 1.0f / powf(base, (float)(2 * i) / (float)d);
                const float angle = (float)p * inv_freq;
                cos_t[i] = cosf(angle);
                const float sn = sinf(angle);
                sin_t[i] = inverse ? -sn : sn;
            }
            __syncthreads();
            for (i64 u = (i64)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += (i64)gridDim.x * blockDim.x) {
                const i64 r = u / units_per_row;
                const int i = (int)(u - r * units_per_row) * W;
                T* row = x + (p * rows_per_position + r) * d;
                float x1[W], x2[W];
                load_w<W>(row + i, x1);
                load_w<W>(row + half + i, x2);
                float o1[W], o2[W];
    #pragma unroll
                for (int k = 0; k < W; ++k) {
                    const float c = cos_t[i + k], sn = sin_t[i + k];
                    o1[k] = x1[k] * c - x2[k] * sn;
                    o2[k] = x2[k] * c + x1[k] * sn;
                }
                store_w<W>(row + i, o1);
                store_w<W>(row + half + i, o2);
            }
            __syncthreads();
        }
    }

    template <typename T>
    __device__ __forceinline__ void rope(T* x, i64 s, i64 rows_per_position, int d, float base, bool inverse) {
        if ((d / 2) % VEC == 0 && aligned16(x)) rope_impl<VEC>(x, s, rows_per_position, d, base, inverse);
        else rope_impl<1>(x, s, rows_per_position, d, base, inverse);
    }

    }  // namespace mk

    // ---- entry points ---------------------------------------------------------------------------

    extern "C" __global__ void split_qkv_f32(const float* qkv, float* q, float* k, float* v,
                                             long long tokens, int nq, int ng, int d) {
        mk::move_qkv<true>(const_cast<float*>(qkv), q, k, v, tokens, nq, ng, d);
    }
    extern "C" __global__ void split_qkv_bf16(const __nv_bfloat16* qkv, __nv_bfloat16* q, __nv_bfloat16* k, __nv_bfloat16* v,
                                              long long tokens, int nq, int ng, int d) {
        mk::move_qkv<true>(const_cast<__nv_bfloat16*>(qkv), q, k, v, tokens, nq, ng, d);
    }
    extern "C" __global__ void merge_qkv_f32(const float* q, const float* k, const float* v, float* qkv,
                                             long long tokens, int nq, int ng, int d) {
        mk::move_qkv<false>(qkv, const_cast<float*>(q), const_cast<float*>(k), const_cast<float*>(v), tokens, nq, ng, d);
    }
    extern "C" __global__ void merge_qkv_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                                              __nv_bfloat16* qkv, long long tokens, int nq, int ng, int d) {
        mk::move_qkv<false>(qkv, const_cast<__nv_bfloat16*>(q), const_cast<__nv_bfloat16*>(k),
                            const_cast<__nv_bfloat16*>(v), tokens, nq, ng, d);
    }
    extern "C" __global__ void split_qkv_f16(const mk::f16* qkv, mk::f16* q, mk::f16* k, mk::f16* v,
                                             long long tokens, int nq, int ng, int d) {
        mk::move_qkv<true>(const_cast<mk::f16*>(qkv), q, k, v, tokens, nq, ng, d);
    }
    extern "C" __global__ void merge_qkv_f16(const mk::f16* q, const mk::f16* k, const mk::f16* v, mk::f16* qkv,
                                             long long tokens, int nq, int ng, int d) {
        mk::move_qkv<false>(qkv, const_cast<mk::f16*>(q), const_cast<mk::f16*>(k), const_cast<mk::f16*>(v), tokens, nq, ng, d);
    }

    extern "C" __global__ void rope_f32(float* x, long long s, long long rows_per_position, int d, float base, int inverse) {
        mk::rope(x, s, rows_per_position, d, base, inverse != 0);
    }
    extern "C" __global__ void rope_bf16(__nv_bfloat16* x, long long s, long long rows_per_position, int d, float base, int inverse) {
        mk::rope(x, s, rows_per_position, d, base, inverse != 0);
    }
    extern "C" __global__ void rope_f16(mk::f16* x, long long s, long long rows_per_position, int d, float base, int inverse) {
        mk::rope(x, s, rows_per_position, d, base, inverse != 0);
    }

    """#
}
