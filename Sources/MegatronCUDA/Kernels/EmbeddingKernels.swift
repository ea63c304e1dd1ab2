/// Token-embedding lookup and its gradient, as CUDA C for NVRTC (conventions and launch
/// vocabulary: ``KernelSources``). `T` is `float` (`_f32`), `__nv_bfloat16` (`_bf16`) or `mk::f16`
/// (`_f16`): `ids` int32 `[n]`, `table` `T [rows, h]`, `out`/`dout` `T [n, h]`, `dtable` fp32
/// `[rows, h]`. The table is a vocabulary shard (tensor parallelism): its rows are the ids
/// `vocab_start ..< vocab_start + rows` of a vocabulary of `vocab_size` (`vocab_start = 0, rows =
/// vocab_size` without tensor parallelism; the host checks `vocab_start + rows ≤ vocab_size`).
/// An id outside `0..<vocab_size` sets `*error = 1` (int in device memory; the host zeroes it
/// before and checks it after); an id outside the shard is never dereferenced.
///
///     // out[i, :] = table[ids[i] − vocab_start, :] for the ids in the shard, zeros for the others
///     extern "C" __global__ void embedding_forward_<f32|bf16|f16>(const int* ids, const T* table, T* out,
///                                                                 long long n, int h, int rows,
///                                                                 int vocab_start, int vocab_size, int* error)
///     // dtable[ids[i] − vocab_start, :] += dout[i, :] for the ids in the shard, deterministic
///     // (tokens added in order, as the CPU)
///     extern "C" __global__ void embedding_backward_<f32|bf16|f16>(const int* ids, const T* dout, float* dtable,
///                                                                  long long n, int h, int rows,
///                                                                  int vocab_start, int vocab_size,
///                                                                  int rows_per_block, int* error)
///     // the same with fp32 atomicAdd (faster on skewed ids, NOT bit-reproducible)
///     extern "C" __global__ void embedding_backward_atomic_<f32|bf16|f16>(const int* ids, const T* dout, float* dtable,
///                                                                         long long n, int h, int rows,
///                                                                         int vocab_start, int vocab_size, int* error)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `embedding_forward_*` | row-tiled over `[n, h]`: `(⌈units / bx⌉, min(⌈n / by⌉, 65535))`, `units = ⌈h / 8⌉` | `(bx, by)`, `bx = min(256, roundUp(units, 32))`, `by = 256 / bx` | 0 |
/// | `embedding_backward_*` | `(⌈rows / rows_per_block⌉, ⌈units / 256⌉)`; `rows_per_block = max(1, ⌈rows·⌈units / 256⌉ / (4·SMs)⌉)` | 256 (any multiple of 32 ≤ 256; fewer threads scan the ids in more steps) | 0 (8 KiB static) |
/// | `embedding_backward_atomic_*` | row-tiled over `[n, h]` as `embedding_forward` | as `embedding_forward` | 0 |
///
/// `embedding_backward` gives each block the table rows `[blockIdx.x · rows_per_block, +
/// rows_per_block)` and a share of the columns (grid y, grid-stride): the block scans all ids
/// (1024 per step), compacts the tokens it owns (shard-local row `id − vocab_start` in its range)
/// in token order through shared memory, then each thread adds those tokens' `dout` values into
/// its own columns of `dtable`, keeping a running row in registers while consecutive matches hit
/// the same row. Every `dtable` element is therefore updated by one thread in token order, exactly
/// the CPU's summation order, without atomics (a very frequent id serialises on one block;
/// `embedding_backward_atomic` is the fallback if that ever matters). Block (0, 0) also validates
/// every id. Vector paths (8 columns per thread) need `h % 8 == 0` and 16-byte aligned
/// `table`/`out` (forward) or `dout`/`dtable` (backward).
enum EmbeddingKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    // Whether the shard `vocab_start ..< vocab_start + rows` holds `id` (no overflow for any int id:
    // the subtraction only happens once id ≥ vocab_start ≥ 0).
    __device__ __forceinline__ bool in_shard(int id, int vocab_start, int rows) {
        return id >= vocab_start && id - vocab_start < rows;
    }

    // ---- forward --------------------------------------------------------------------------------

    template <int W, typename T>
    __device__ __forceinline__ void embedding_forward_impl(const int* ids, const T* table, T* out, i64 n, int h, int rows,
                                                           int vocab_start, int vocab_size, int* error) {
        const int units = h / W;
        const i64 row_stride = (i64)gridDim.y * blockDim.y;
        for (i64 r = (i64)blockIdx.y * blockDim.y + threadIdx.y; r < n; r += row_stride) {
            const int id = ids[r];
            if ((id < 0 || id >= vocab_size) && blockIdx.x == 0 && threadIdx.x == 0) *error = 1;
            const bool ok = in_shard(id, vocab_start, rows);
            const T* src = table + (i64)(ok ? id - vocab_start : 0) * h;
            T* dst = out + r * h;
            for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
                float v[W];
                if (ok) {
                    load_w<W>(src + (i64)u * W, v);
                } else {
    #pragma unroll
                    for (int k = 0; k < W; ++k) v[k] = 0.f;
                }
                store_w<W>(dst + (i64)u * W, v);
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void embedding_forward(const int* ids, const T* table, T* out, i64 n, int h, int rows,
                                                      int vocab_start, int vocab_size, int* error) {
        if (h % VEC == 0 && aligned16(table) && aligned16(out))
            embedding_forward_impl<VEC>(ids, table, out, n, h, rows, vocab_start, vocab_size, error);
        else
            embedding_forward_impl<1>(ids, table, out, n, h, rows, vocab_start, vocab_size, error);
    }

    // ---- backward, deterministic (vocabulary rows owned by blocks) -----------------------------

    constexpr int EMB_ITEMS = 4;        // ids per thread per scan step
    constexpr int EMB_MAX_BLOCK = 256;  // so a step's matches fit the shared lists

    template <int W, typename T>
    __device__ __forceinline__ void embedding_backward_impl(
        const int* ids, const T* __restrict__ dout, float* __restrict__ dtable, i64 n, int h, int rows,
        int vocab_start, int vocab_size, int rows_per_block, int* error, int* s_local, int* s_id, int* s_warp)
    {
        const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5;
        const i64 v0 = (i64)blockIdx.x * rows_per_block;
        const i64 v1 = min((i64)rows, v0 + rows_per_block);
        const bool validate = blockIdx.x == 0 && blockIdx.y == 0;
        const int units = h / W;
        const i64 step = (i64)EMB_ITEMS * blockDim.x;
        for (i64 c0 = 0; c0 < n; c0 += step) {
            // 1. Which of this thread's EMB_ITEMS consecutive ids does the block own? id[j]
            // becomes the shard-local row, or -1.
            int id[EMB_ITEMS];
            int count = 0;
    #pragma unroll
            for (int j = 0; j < EMB_ITEMS; ++j) {
                const i64 i = c0 + (i64)tid * EMB_ITEMS + j;
                const int token = i < n ? ids[i] : -1;
                if (validate && i < n && (token < 0 || token >= vocab_size)) *error = 1;
                const int local = in_shard(token, vocab_start, rows) ? token - vocab_start : -1;
                if (local >= v0 && local < v1) { id[j] = local; ++count; } else id[j] = -1;
            }
            // 2. Exclusive scan of the counts in thread order keeps the matches in token order.
            int inclusive = count;
    #pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const int y = __shfl_up_sync(0xffffffffu, inclusive, o);
                if (lane >= o) inclusive += y;
            }
            if (lane == 31) s_warp[warp] = inclusive;
            __syncthreads();
            int before = 0, total = 0;
            for (int w = 0; w < warps; ++w) {
                const int c = s_warp[w];
                if (w < warp) before += c;
                total += c;
            }
            int pos = before + inclusive - count;
    #pragma unroll
            for (int j = 0; j < EMB_ITEMS; ++j) {
                if (id[j] >= 0) { s_local[pos] = tid * EMB_ITEMS + j; s_id[pos] = id[j]; ++pos; }
            }
            __syncthreads();
            // 3. Add the matched rows, each thread over its own columns, in token order.
            for (int u = blockIdx.y * blockDim.x + tid; u < units; u += gridDim.y * blockDim.x) {
                int current = -1;
                float acc[W];
    #pragma unroll
                for (int k = 0; k < W; ++k) acc[k] = 0.f;
    #pragma unroll 4
                for (int m = 0; m < total; ++m) {
                    const int row = s_id[m];
                    float d[W];
                    load_w<W>(dout + (c0 + s_local[m]) * h + (i64)u * W, d);
                    if (row != current) {
                        if (current >= 0) store_w<W>(dtable + (i64)current * h + (i64)u * W, acc);
                        load_w<W>(dtable + (i64)row * h + (i64)u * W, acc);
                        current = row;
                    }
    #pragma unroll
                    for (int k = 0; k < W; ++k) acc[k] += d[k];
                }
                if (current >= 0) store_w<W>(dtable + (i64)current * h + (i64)u * W, acc);
            }
            __syncthreads();
        }
    }

    template <typename T>
    __device__ __forceinline__ void embedding_backward(const int* ids, const T* dout, float* dtable, i64 n, int h, int rows,
                                                       int vocab_start, int vocab_size, int rows_per_block, int* error) {
        __shared__ int s_local[EMB_ITEMS * EMB_MAX_BLOCK];  // token index within the step
        __shared__ int s_id[EMB_ITEMS * EMB_MAX_BLOCK];     // its shard-local table row
        __shared__ int s_warp[EMB_MAX_BLOCK / 32];
        if (h % VEC == 0 && aligned16(dout) && aligned16(dtable))
            embedding_backward_impl<VEC>(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, rows_per_block, error,
                                         s_local, s_id, s_warp);
        else
            embedding_backward_impl<1>(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, rows_per_block, error,
                                       s_local, s_id, s_warp);
    }

    // ---- backward with atomics --------------------------------------------------------------------

    template <int W, typename T>
    __device__ __forceinline__ void embedding_backward_atomic_impl(const int* ids, const T* dout, float* dtable, i64 n, int h, int rows,
                                                                   int vocab_start, int vocab_size, int* error) {
        const int units = h / W;
        const i64 row_stride = (i64)gridDim.y * blockDim.y;
        for (i64 r = (i64)blockIdx.y * blockDim.y + threadIdx.y; r < n; r += row_stride) {
            const int id = ids[r];
            if ((id < 0 || id >= vocab_size) && blockIdx.x == 0 && threadIdx.x == 0) *error = 1;
            if (!in_shard(id, vocab_start, rows)) continue;
            float* dst = dtable + (i64)(id - vocab_start) * h;
            const T* src = dout + r * h;
            for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
                float v[W];
                load_w<W>(src + (i64)u * W, v);
    #pragma unroll
                for (int k = 0; k < W; ++k) atomicAdd(dst + (i64)u * W + k, v[k]);
            }
        }
    }

    template <typename T>
    __device__ __forceinline__ void embedding_backward_atomic(const int* ids, const T* dout, float* dtable, i64 n, int h, int rows,
                                                              int vocab_start, int vocab_size, int* error) {
        if (h % VEC == 0 && aligned16(dout))
            embedding_backward_atomic_impl<VEC>(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, error);
        else
            embedding_backward_atomic_impl<1>(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, error);
    }

    }  // namespace mk

    extern "C" __global__ void embedding_forward_f32(const int* ids, const float* table, float* out, long long n, int h,
                                                     int rows, int vocab_start, int vocab_size, int* error) {
        mk::embedding_forward(ids, table, out, n, h, rows, vocab_start, vocab_size, error);
    }
    extern "C" __global__ void embedding_forward_bf16(const int* ids, const __nv_bfloat16* table, __nv_bfloat16* out, long long n, int h,
                                                     int rows, int vocab_start, int vocab_size, int* error) {
        mk::embedding_forward(ids, table, out, n, h, rows, vocab_start, vocab_size, error);
    }
    extern "C" __global__ void embedding_forward_f16(const int* ids, const mk::f16* table, mk::f16* out, long long n, int h,
                                                     int rows, int vocab_start, int vocab_size, int* error) {
        mk::embedding_forward(ids, table, out, n, h, rows, vocab_start, vocab_size, error);
    }

    extern "C" __global__ void __launch_bounds__(256) embedding_backward_f32(
        const int* ids, const float* dout, float* dtable, long long n, int h, int rows, int vocab_start, int vocab_size,
        int rows_per_block, int* error) {
        mk::embedding_backward(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, rows_per_block, error);
    }
    extern "C" __global__ void __launch_bounds__(256) embedding_backward_bf16(
        const int* ids, const __nv_bfloat16* dout, float* dtable, long long n, int h, int rows, int vocab_start, int vocab_size,
        int rows_per_block, int* error) {
        mk::embedding_backward(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, rows_per_block, error);
    }
    extern "C" __global__ void __launch_bounds__(256) embedding_backward_f16(
        const int* ids, const mk::f16* dout, float* dtable, long long n, int h, int rows, int vocab_start, int vocab_size,
        int rows_per_block, int* error) {
        mk::embedding_backward(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, rows_per_block, error);
    }

    extern "C" __global__ void embedding_backward_atomic_f32(const int* ids, const float* dout, float* dtable, long long n,
                                                             int h, int rows, int vocab_start, int vocab_size, int* error) {
        mk::embedding_backward_atomic(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, error);
    }
    extern "C" __global__ void embedding_backward_atomic_bf16(const int* ids, const __nv_bfloat16* dout, float* dtable, long long n,
                                                             int h, int rows, int vocab_start, int vocab_size, int* error) {
        mk::embedding_backward_atomic(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, error);
    }
    extern "C" __global__ void embedding_backward_atomic_f16(const int* ids, const mk::f16* dout, float* dtable, long long n,
                                                             int h, int rows, int vocab_start, int vocab_size, int* error) {
        mk::embedding_backward_atomic(ids, dout, dtable, n, h, rows, vocab_start, vocab_size, error);
    }

    """#
}
