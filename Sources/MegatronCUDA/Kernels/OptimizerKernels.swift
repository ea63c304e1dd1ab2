/// The AdamW step over flat fp32 ranges, as CUDA C for NVRTC (conventions and launch vocabulary:
/// ``KernelSources``), with PyTorch's (and the CPU reference's) arithmetic order, rounding step by
/// step exactly as the CPU kernel: no fused multiply-adds (every operation is an explicit `__f*_rn`
/// intrinsic), IEEE `sqrt` and division, so the result is bit-identical to `CPUBackend.adamW`.
///
///     extern "C" __global__ void adamw_f32(float* params, const float* grads, float* m, float* v, long long n,
///                                          float beta1, float beta2, float eps,
///                                          float step_size, float bc2_sqrt, float decay,
///                                          __nv_bfloat16* params_bf16, mk::f16* params_f16)
///
/// | function | grid | block | dynamic shared |
/// | --- | --- | --- | --- |
/// | `adamw_f32` | flat: `clamp(⌈n / 2048⌉, 1, 16·SMs)` | 256 | 0 |
///
/// Per element, with `g = grads[i]`:
///
///     m' = beta1·m + (1 − beta1)·g
///     v' = beta2·v + ((1 − beta2)·g)·g
///     p' = p·decay − (step_size·m') / (sqrt(v') / bc2_sqrt + eps)
///
/// The host computes the per-step scalars in Swift `Float` exactly as `CPUBackend.adamW`:
/// `step_size = lr / (1 − pow(beta1, Float(step)))`, `bc2_sqrt = (1 − pow(beta2, Float(step))).squareRoot()`,
/// `decay = 1 − lr · weightDecay`. `params_bf16` (bf16 compute copy) and `params_f16` (fp16 copy)
/// are optional (nullptr = none): when given, `p'` is also written there, rounded to nearest even.
/// Vector path (8 elements per thread step, 128-bit accesses) when every non-null pointer is
/// 16-byte aligned; the tail and unaligned ranges run scalar.
enum OptimizerKernels {
    static let source: String = KernelSources.prelude + #"""

    namespace mk {

    struct AdamW {
        float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, step_size, bc2_sqrt, decay;

        // Updates (p, m, v) in place from g; the CPU's operation order, no contraction.
        __device__ __forceinline__ void step(float& p, float g, float& m, float& v) const {
            const float mi = __fadd_rn(__fmul_rn(beta1, m), __fmul_rn(one_minus_beta1, g));
            const float vi = __fadd_rn(__fmul_rn(beta2, v), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
            m = mi;
            v = vi;
            const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
            p = __fsub_rn(__fmul_rn(p, decay), __fdiv_rn(__fmul_rn(step_size, mi), denom));
        }
    };

    __device__ __forceinline__ void adamw(float* params, const float* grads, float* m, float* v, i64 n, const AdamW opt,
                                          bf16* params_bf16, f16* params_f16) {
        const bool vec = aligned16(params) && aligned16(grads) && aligned16(m) && aligned16(v)
            && aligned16(params_bf16) && aligned16(params_f16);
        flat_for(n, vec,
                 [&](i64 i) {
                     float p[VEC], g[VEC], mm[VEC], vv[VEC];
                     load8(params + i, p);
                     load8(grads + i, g);
                     load8(m + i, mm);
                     load8(v + i, vv);
    #pragma unroll
                     for (int k = 0; k < VEC; ++k) opt.step(p[k], g[k], mm[k], vv[k]);
                     store8(params + i, p);
                     store8(m + i, mm);
                     store8(v + i, vv);
                     if (params_bf16 != nullptr) store8(params_bf16 + i, p);
                     if (params_f16 != nullptr) store8(params_f16 + i, p);
                 },
                 [&](i64 i) {
                     float p = params[i], mm = m[i], vv = v[i];
                     opt.step(p, grads[i], mm, vv);
                     params[i] = p;
                     m[i] = mm;
                     v[i] = vv;
                     if (params_bf16 != nullptr) params_bf16[i] = from_float<bf16>(p);
                     if (params_f16 != nullptr) params_f16[i] = from_float<f16>(p);
                 });
    }

    }  // namespace mk

    extern "C" __global__ void adamw_f32(float* params, const float* grads, float* m, float* v, long long n,
                                         float beta1, float beta2, float eps,
                                         float step_size, float bc2_sqrt, float decay,
                                         __nv_bfloat16* params_bf16, mk::f16* params_f16) {
        mk::AdamW opt;
        opt.beta1 = beta1;
        opt.beta2 = beta2;
        opt.one_minus_beta1 = __fsub_rn(1.0f, beta1);
        opt.one_minus_beta2 = __fsub_rn(1.0f, beta2);
        opt.eps = eps;
        opt.step_size = step_size;
        opt.bc2_sqrt = bc2_sqrt;
        opt.decay = decay;
        mk::adamw(params, grads, m, v, n, opt, params_bf16, params_f16);
    }

    """#
}
