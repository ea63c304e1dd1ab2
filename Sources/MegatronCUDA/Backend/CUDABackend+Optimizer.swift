import Foundation
import MegatronTensor

extension CUDABackend {
    public func adamW(
        params: Tensor, grads: Tensor, m: Tensor, v: Tensor,
        lr: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, step: Int
    ) throws {
        let op = "adamW"
        let n = params.count
        for t in [params, grads, m, v] {
            try expect(t, .fp32, op)
            try expectCount(t, n, op)
        }
        guard step >= 1 else { throw TensorError.invalidArgument(op: op, message: "step \(step) must be ≥ 1") }
        // The per-step scalars exactly as CPUBackend.adamW computes them.
        let bc1 = 1 - pow(beta1, Float(step)), bc2Sqrt = (1 - pow(beta2, Float(step))).squareRoot()
        let stepSize = lr / bc1, decay = 1 - lr * weightDecay
        var args = KernelArguments()
        args.append(params)
        args.append(grads)
        args.append(m)
        args.append(v)
        args.append(Int64(n))
        args.append(beta1)
        args.append(beta2)
        args.append(epsilon)
        args.append(stepSize)
        args.append(bc2Sqrt)
        args.append(decay)
        args.append(UInt64(0))  // params_bf16: none
        args.append(UInt64(0))  // params_f16: none
        try launch("optimizer", "adamw_f32", flat: n, args)
    }
}
