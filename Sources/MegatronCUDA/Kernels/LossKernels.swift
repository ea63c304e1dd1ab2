/// Softmax cross-entropy over the rows of `logits [n, vocab]`, as CUDA C for NVRTC (conventions
/// and launch vocabulary: ``KernelSources``). `T` is `float` (`_f32`), `__nv_bfloat16`
/// (`_bf16`) or `mk::f16` (`_f16`); targets are int32 `[n]`, and `losses`, `lse`, `dloss` fp32
/// `[n]`. Every column counts (padded vocabulary entries included, as Megatron).
///
///     // losses[i] = lse_i − logits[i, t_i], lse_i = log Σ_j exp(logits[i, j]); lse may be nullptr
///     extern "C" __global__ void cross_entropy_forward_<f32|bf16|f16>(const T* logits, const int* targets,
///                                                                     float* losses, float* lse,
///                                                                     long long n, int vocab, int* error)
///     // dlogits[i, :] = dloss[i]·(softmax(logits[i]) − onehot(t_i)); lse from the forward, or
///     // nullptr to recompute it; dlogits may alias logits
///     extern "C" __global__ void cross_entropy_backward_<f32|bf16|f16>(const T* logits, const int* targets,
///                                                                      const float* dloss, const float* lse,
///                                                                      T* dlogits, long long n, int vocab, int* error)
///     // both in one launch ("fused classifier"): losses (and lse unless nullptr) and dlogits with
///     // the loss weights dloss (nullptr = 1); dlogits may alias logits, so the logits' storage is
///     // turned into their gradient in place and no fp32 copy of the logits is ever made
///     extern "C" __global__ void cross_entropy_fused_<f32|bf16|f16>(const T* logits, const int* targets,
///                                                                   const float* dloss, float* losses, float* lse,
///                                                                   T* dlogits, long long n, int vocab, int* error)
///
/// Vocabulary-parallel cross-entropy (tensor parallelism): each rank's `logits [n, vocab]` are the
/// columns `vocab_start ..< vocab_start + vocab` of a vocabulary of `vocab_size`; `partials` fp32
/// `[n, 3]` per shard, gathered as `[shards, n, 3]` in shard order for the combine.
///
///     // partials[i] = (m_i = max_j x_ij, Σ_j exp(x_ij − m_i), x_i,t−vocab_start if the shard holds
///     // t = targets[i] else 0); a target outside 0..<vocab_size sets *error (and its third value is NaN)
///     extern "C" __global__ void cross_entropy_partials_<f32|bf16|f16>(const T* logits, const int* targets,
///                                                                      int vocab_start, int vocab_size,
///                                                                      float* partials, long long n, int vocab,
///                                                                      int* error)
///     // lse[i] = m + log Σ_k s_k·exp(m_k − m) with m = max_k m_k (shards with s_k = 0 skipped),
///     // losses[i] = lse[i] − Σ_k target_k
///     extern "C" __global__ void cross_entropy_combine(const float* partials, float* lse, float* losses,
///                                                      long long n, int shards)
///     // dlogits[i, j] = dloss[i]·(exp(x_ij − lse[i]) − [vocab_start + j == targets[i]]); dlogits may
///     // alias logits; a target outside the shard only gets no one-hot term (nothing is checked)
///     extern "C" __global__ void cross_entropy_shard_backward_<f32|bf16|f16>(const T* logits, const int* targets,
///                                                                            long long vocab_start, const float* lse,
///                                                                            const float* dloss, T* dlogits,
///                                                                            long long n, int vocab)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `cross_entropy_{forward,backward,fused,partials,shard_backward}_*` | `min(n, 2³¹ − 1)` (one block per row, grid-stride) | 512 for vocab ≥ 16 384, else 256 (any multiple of 32 ≤ 1024) | 0 (256 B static) |
/// | `cross_entropy_combine` | flat over `n` rows: `clamp(⌈n / 256⌉, 1, 16·SMs)` (one thread per row, grid-stride) | 256 (any) | 0 |
///
/// A block streams its row once for the forward: each thread keeps a running (max m, Σ exp(x − m))
/// over its elements, rescaling once per 8-element unit, and the block merges the pairs with warp
/// shuffles and shared memory in a fixed order (deterministic); `lse = m + logf(sum)`. The
/// backward (and the fused kernel's second pass) rereads the row and writes
/// `dloss·exp(x − lse)`, minus `dloss` at the target (`dloss·(exp(x_t − lse) − 1)`, as the CPU).
/// Each element is read before it is written by the same thread, and the target logit is read
/// before the first barrier, so in-place (`dlogits == logits`) is safe. `exp(x − m)` is computed
/// as `exp2f((x − m)·log₂e)` (one MUFU instruction, ≤ 2 ulp, plus the rounding of the product: a
/// few 1e-7 relative for every term that matters — the precise `expf` made the forward
/// arithmetic-bound); `logf` is the precise one. Rows are read with 128-bit loads: a scalar head
/// up to the first 128-byte boundary, whole 8-element units, a scalar tail — so any `vocab` (e.g.
/// an unpadded 50 257) is vectorised; the backward needs `logits` and `dlogits` to share their
/// address modulo 16 for that (else scalar). The partials kernel streams its row as the forward
/// does, and the shard backward is the backward's second pass with the one-hot column moved to
/// `t − vocab_start`. The combine is one thread per row over the shards in order, with the
/// precise `expf`/`logf` (it reads 3 floats per shard and row, so it costs nothing).
/// A target outside `0..<vocab` (`0..<vocab_size` for the partials) sets `*error = 1`; its loss is
/// NaN and its row gets no one-hot term.
enum LossKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    // Calls one(j) for the scalar head (until row + j is 128-byte aligned, so every warp access of
    // the body covers whole cache lines) and tail, and unit(j) for each whole 8-element unit
    // starting at j, over the threads of the block. vec = false: all scalar.
    template <typename T, typename U, typename S>
    __device__ __forceinline__ void row_for(const T* row, int vocab, bool vec, U unit, S one) {
        int head = vocab;
        if (vec) {
            const int misaligned = (int)(reinterpret_cast<u64>(row) & 127ull);
            head = min(vocab, (int)(((128 - misaligned) & 127) / (int)sizeof(T)));
        }
        const int units = (vocab - head) / VEC;
        const int tail = head + units * VEC;
        for (int j = threadIdx.x; j < head; j += blockDim.x) one(j);
        for (int u = threadIdx.x; u < units; u += blockDim.x) unit(head + u * VEC);
        for (int j = tail + threadIdx.x; j < vocab; j += blockDim.x) one(j);
    }

    // exp(x - m) as exp2((x - m) * log2 e): one MUFU.EX2 (max 2 ulp) after an exact-ish subtraction;
    // relative error a few 1e-7 for the terms that matter (x - m > -20), far inside the 1e-5 check.
    __device__ __forceinline__ float exp_shifted(float x, float m) { return exp2f((x - m) * 1.4426950408889634f); }

    // Running (max, sum of exp(x - max)) of one thread.
    struct MaxSum {
        float m, s;
        __device__ __forceinline__ void add_one(float x) {
            if (x > m) { s *= exp_shifted(m, x); m = x; }
            if (m != neg_inf()) s += exp_shifted(x, m);
        }
        __device__ __forceinline__ void add_unit(const float (&v)[VEC]) {
            float vm = v[0];
    #pragma unroll
            for (int k = 1; k < VEC; ++k) vm = fmaxf(vm, v[k]);
            if (vm > m) { s *= exp_shifted(m, vm); m = vm; }
            if (m != neg_inf()) {
                float e[VEC];
    #pragma unroll
                for (int k = 0; k < VEC; ++k) e[k] = exp_shifted(v[k], m);
                s += ((e[0] + e[1]) + (e[2] + e[3])) + ((e[4] + e[5]) + (e[6] + e[7]));
            }
        }
        __device__ __forceinline__ void merge(float m2, float s2) {
            const float mx = fmaxf(m, m2);
            if (mx == neg_inf()) { m = mx; s = 0.f; return; }
            s = s * exp_shifted(m, mx) + s2 * exp_shifted(m2, mx);
            m = mx;
        }
    };

    // Merges every thread's pair; returns the block's (identical in all threads). 1-D block.
    __device__ __forceinline__ MaxSum block_max_sum(MaxSum a) {
        __shared__ float sm[32], ss[32];
    #pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, a.m, o);
            const float s2 = __shfl_xor_sync(0xffffffffu, a.s, o);
            a.merge(m2, s2);
        }
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
        if (lane == 0) { sm[warp] = a.m; ss[warp] = a.s; }
        __syncthreads();
        MaxSum r;
        r.m = neg_inf(); r.s = 0.f;
        for (int w = 0; w < warps; ++w) r.merge(sm[w], ss[w]);
        __syncthreads();  // sm/ss may be reused right after
        return r;
    }

    // (max, Σ exp(x − max)) of one row (all threads of the block call it; it synchronises).
    template <typename T>
    __device__ __forceinline__ MaxSum row_max_sum(const T* row, int vocab) {
        MaxSum a;
        a.m = neg_inf(); a.s = 0.f;
        row_for(row, vocab, true,
                [&](int j) { float v[VEC]; load8(row + j, v); a.add_unit(v); },
                [&](int j) { a.add_one(to_float(row[j])); });
        return block_max_sum(a);
    }

    // lse of one row (all threads of the block call it; it synchronises).
    template <typename T>
    __device__ __forceinline__ float row_lse(const T* row, int vocab) {
        const MaxSum r = row_max_sum(row, vocab);
        return r.m + logf(r.s);
    }

    // dlogits[row] = g * (exp(x - lse) - onehot(target)); target < 0 means none.
    template <typename T>
    __device__ __forceinline__ void row_gradient(const T* row, T* out, int vocab, int target, float lse_value, float g) {
        const bool vec = ((reinterpret_cast<u64>(row) ^ reinterpret_cast<u64>(out)) & 15ull) == 0ull;
        row_for(row, vocab, vec,
                [&](int j) {
                    float v[VEC];
                    load8(row + j, v);
    #pragma unroll
                    for (int k = 0; k < VEC; ++k) {
                        const float e = exp_shifted(v[k], lse_value);
                        v[k] = (j + k == target) ? g * (e - 1.0f) : e * g;
                    }
                    store8(out + j, v);
                },
                [&](int j) {
                    const float e = exp_shifted(to_float(row[j]), lse_value);
                    out[j] = from_float<T>(j == target ? g * (e - 1.0f) : e * g);
                });
    }

    template <typename T>
    __device__ __forceinline__ void cross_entropy_forward(const T* logits, const int* targets, float* losses, float* lse,
                                                          i64 n, int vocab, int* error) {
        for (i64 r = blockIdx.x; r < n; r += gridDim.x) {
            const T* row = logits + r * vocab;
            const int t = targets[r];
            const bool valid = t >= 0 && t < vocab;
            const float xt = (threadIdx.x == 0 && valid) ? to_float(row[t]) : 0.f;
            const float l = row_lse(row, vocab);
            if (threadIdx.x == 0) {
                if (!valid) *error = 1;
                losses[r] = valid ? l - xt : quiet_nan();
                if (lse != nullptr) lse[r] = l;
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void cross_entropy_backward(const T* logits, const int* targets, const float* dloss,
                                                           const float* lse, T* dlogits, i64 n, int vocab, int* error) {
        for (i64 r = blockIdx.x; r < n; r += gridDim.x) {
            const T* row = logits + r * vocab;
            const int t = targets[r];
            const bool valid = t >= 0 && t < vocab;
            if (!valid && threadIdx.x == 0) *error = 1;
            const float l = lse != nullptr ? lse[r] : row_lse(row, vocab);
            row_gradient(row, dlogits + r * vocab, vocab, valid ? t : -1, l, dloss[r]);
        }
    }

    template <typename T>
    __device__ __forceinline__ void cross_entropy_fused(const T* logits, const int* targets, const float* dloss,
                                                        float* losses, float* lse, T* dlogits, i64 n, int vocab, int* error) {
        for (i64 r = blockIdx.x; r < n; r += gridDim.x) {
            const T* row = logits + r * vocab;
            const int t = targets[r];
            const bool valid = t >= 0 && t < vocab;
            // Read before row_lse's barriers, hence before any thread overwrites the row.
            const float xt = (threadIdx.x == 0 && valid) ? to_float(row[t]) : 0.f;
            const float l = row_lse(row, vocab);
            if (threadIdx.x == 0) {
                if (!valid) *error = 1;
                losses[r] = valid ? l - xt : quiet_nan();
                if (lse != nullptr) lse[r] = l;
            }
            row_gradient(row, dlogits + r * vocab, vocab, valid ? t : -1, l, dloss != nullptr ? dloss[r] : 1.0f);
            // The next row's first barrier orders this row's writes before nothing it reads (rows
            // are disjoint), so no extra barrier is needed.
        }
    }

    // ---- vocabulary-parallel: the row is a shard, columns vocab_start ..< vocab_start + vocab --------

    // Whether the shard holds target t (in 64 bits, so no t or start overflows).
    __device__ __forceinline__ bool in_shard(int t, i64 vocab_start, int vocab) {
        const i64 local = (i64)t - vocab_start;
        return local >= 0 && local < vocab;
    }

    template <typename T>
    __device__ __forceinline__ void cross_entropy_partials(const T* logits, const int* targets, int vocab_start, int vocab_size,
                                                           float* partials, i64 n, int vocab, int* error) {
        for (i64 r = blockIdx.x; r < n; r += gridDim.x) {
            const T* row = logits + r * vocab;
            const int t = targets[r];
            const bool valid = t >= 0 && t < vocab_size;
            const float xt = (threadIdx.x == 0 && in_shard(t, vocab_start, vocab)) ? to_float(row[t - vocab_start]) : 0.f;
            const MaxSum a = row_max_sum(row, vocab);
            if (threadIdx.x == 0) {
                if (!valid) *error = 1;
                float* p = partials + 3 * r;
                p[0] = a.m;
                p[1] = a.s;
                p[2] = valid ? xt : quiet_nan();  // so an invalid target's loss is NaN, as cross_entropy_forward's
            }
        }
    }

    // One thread per row, shards in order (deterministic). Precise expf/logf: this kernel is tiny.
    __device__ __forceinline__ void cross_entropy_combine(const float* partials, float* lse, float* losses, i64 n, int shards) {
        for (i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x; r < n; r += (i64)gridDim.x * blockDim.x) {
            float m = neg_inf(), target = 0.f;
            for (int k = 0; k < shards; ++k) {
                const float* p = partials + 3 * ((i64)k * n + r);
                m = fmaxf(m, p[0]);
                target += p[2];
            }
            float sum = 0.f;
            for (int k = 0; k < shards; ++k) {
                const float* p = partials + 3 * ((i64)k * n + r);
                // Skipping shards with no mass keeps a row whose every max is −inf (exp(−inf + inf)
                // = NaN) at lse = −inf, as the CPU.
                if (p[1] > 0.f) sum += p[1] * expf(p[0] - m);
            }
            const float l = m + logf(sum);
            lse[r] = l;
            losses[r] = l - target;
        }
    }

    // Each element is read, then written, by one thread, so dlogits may alias logits.
    template <typename T>
    __device__ __forceinline__ void cross_entropy_shard_backward(const T* logits, const int* targets, i64 vocab_start,
                                                                 const float* lse, const float* dloss, T* dlogits,
                                                                 i64 n, int vocab) {
        for (i64 r = blockIdx.x; r < n; r += gridDim.x) {
            const int t = targets[r];
            const int local = in_shard(t, vocab_start, vocab) ? (int)(t - vocab_start) : -1;
            row_gradient(logits + r * vocab, dlogits + r * vocab, vocab, local, lse[r], dloss[r]);
        }
    }

    }  // namespace mk

    // ---- entry points ---------------------------------------------------------------------------

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_forward_f32(
        const float* logits, const int* targets, float* losses, float* lse, long long n, int vocab, int* error) {
        mk::cross_entropy_forward(logits, targets, losses, lse, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_forward_bf16(
        const __nv_bfloat16* logits, const int* targets, float* losses, float* lse, long long n, int vocab, int* error) {
        mk::cross_entropy_forward(logits, targets, losses, lse, n, vocab, error);
    }

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_backward_f32(
        const float* logits, const int* targets, const float* dloss, const float* lse, float* dlogits,
        long long n, int vocab, int* error) {
        mk::cross_entropy_backward(logits, targets, dloss, lse, dlogits, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_backward_bf16(
        const __nv_bfloat16* logits, const int* targets, const float* dloss, const float* lse, __nv_bfloat16* dlogits,
        long long n, int vocab, int* error) {
        mk::cross_entropy_backward(logits, targets, dloss, lse, dlogits, n, vocab, error);
    }

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_fused_f32(
        const float* logits, const int* targets, const float* dloss, float* losses, float* lse, float* dlogits,
        long long n, int vocab, int* error) {
        mk::cross_entropy_fused(logits, targets, dloss, losses, lse, dlogits, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_fused_bf16(
        const __nv_bfloat16* logits, const int* targets, const float* dloss, float* losses, float* lse,
        __nv_bfloat16* dlogits, long long n, int vocab, int* error) {
        mk::cross_entropy_fused(logits, targets, dloss, losses, lse, dlogits, n, vocab, error);
    }

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_forward_f16(
        const mk::f16* logits, const int* targets, float* losses, float* lse, long long n, int vocab, int* error) {
        mk::cross_entropy_forward(logits, targets, losses, lse, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_backward_f16(
        const mk::f16* logits, const int* targets, const float* dloss, const float* lse, mk::f16* dlogits,
        long long n, int vocab, int* error) {
        mk::cross_entropy_backward(logits, targets, dloss, lse, dlogits, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_fused_f16(
        const mk::f16* logits, const int* targets, const float* dloss, float* losses, float* lse,
        mk::f16* dlogits, long long n, int vocab, int* error) {
        mk::cross_entropy_fused(logits, targets, dloss, losses, lse, dlogits, n, vocab, error);
    }

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_partials_f32(
        const float* logits, const int* targets, int vocab_start, int vocab_size, float* partials,
        long long n, int vocab, int* error) {
        mk::cross_entropy_partials(logits, targets, vocab_start, vocab_size, partials, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_shard_backward_f32(
        const float* logits, const int* targets, long long vocab_start, const float* lse, const float* dloss, float* dlogits,
        long long n, int vocab) {
        mk::cross_entropy_shard_backward(logits, targets, vocab_start, lse, dloss, dlogits, n, vocab);
    }

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_partials_bf16(
        const __nv_bfloat16* logits, const int* targets, int vocab_start, int vocab_size, float* partials,
        long long n, int vocab, int* error) {
        mk::cross_entropy_partials(logits, targets, vocab_start, vocab_size, partials, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_shard_backward_bf16(
        const __nv_bfloat16* logits, const int* targets, long long vocab_start, const float* lse, const float* dloss, __nv_bfloat16* dlogits,
        long long n, int vocab) {
        mk::cross_entropy_shard_backward(logits, targets, vocab_start, lse, dloss, dlogits, n, vocab);
    }

    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_partials_f16(
        const mk::f16* logits, const int* targets, int vocab_start, int vocab_size, float* partials,
        long long n, int vocab, int* error) {
        mk::cross_entropy_partials(logits, targets, vocab_start, vocab_size, partials, n, vocab, error);
    }
    extern "C" __global__ void __launch_bounds__(1024) cross_entropy_shard_backward_f16(
        const mk::f16* logits, const int* targets, long long vocab_start, const float* lse, const float* dloss, mk::f16* dlogits,
        long long n, int vocab) {
        mk::cross_entropy_shard_backward(logits, targets, vocab_start, lse, dloss, dlogits, n, vocab);
    }

    extern "C" __global__ void cross_entropy_combine(const float* partials, float* lse, float* losses, long long n, int shards) {
        mk::cross_entropy_combine(partials, lse, losses, n, shards);
    }

    """#
}
