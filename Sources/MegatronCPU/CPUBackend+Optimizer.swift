import Foundation
import MegatronTensor

extension CPUBackend {
    public func adamW(
        params: Tensor, grads: Tensor, m: Tensor, v: Tensor,
        lr: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, step: Int
    ) throws {
        let n = params.count
        for t in [grads, m, v] { try expectCount(t, n, "adamW") }
        guard step >= 1 else { throw TensorError.invalidArgument(op: "adamW", message: "step \(step) must be ≥ 1") }
        let pp = SendablePointer(try floats(params, "adamW")), pg = SendablePointer(try floats(grads, "adamW"))
        let pm = SendablePointer(try floats(m, "adamW")), pv = SendablePointer(try floats(v, "adamW"))
        // The update in PyTorch's AdamW order, so the two agree to rounding.
        let bc1 = 1 - pow(beta1, Float(step)), bc2Sqrt = (1 - pow(beta2, Float(step))).squareRoot()
        let stepSize = lr / bc1, decay = 1 - lr * weightDecay
        forEachRowBlock(n, block: 1 << 14) { r in
            for i in r {
                let g = pg[i]
                let mi = beta1 * pm[i] + (1 - beta1) * g
                let vi = beta2 * pv[i] + (1 - beta2) * g * g
                pm[i] = mi
                pv[i] = vi
                pp[i] = pp[i] * decay - stepSize * mi / (vi.squareRoot() / bc2Sqrt + epsilon)
            }
        }
    }
}
