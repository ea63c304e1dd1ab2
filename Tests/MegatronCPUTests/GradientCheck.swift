import MegatronCPU
import MegatronTensor
import Testing

/// Random values in [-1, 1) from a fixed-seed generator (never all zeros).
func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    let rng = Philox(seed: seed)
    return (0..<count).map { (rng.uniform(UInt64($0)) * 2 - 1) * scale }
}

/// Checks analytic input gradients against central finite differences of the scalar
/// L = Σ w ⊙ forward(inputs), w random. All in fp32 with step `h`; the stated tolerance is on
/// ‖analytic − numeric‖ / ‖numeric‖ (1e-2 by default, well above fp32 differencing noise for
/// O(1) values and h = 1e-2, far below what a wrong formula gives).
struct GradientCheck {
    let backend: CPUBackend
    var h: Float = 1e-2
    var tolerance: Double = 1e-2
    /// At most this many elements per input are perturbed (spread evenly over the tensor).
    var maxProbes = 48

    /// `forward` reads the inputs' current device values; `backward(dout)` returns the analytic
    /// gradient of each input (nil for inputs that take none).
    func check(
        inputs: [(name: String, tensor: Tensor)],
        forward: () throws -> Tensor,
        backward: (Tensor) throws -> [Tensor?],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let out = try forward()
        let weights = randomValues(out.count, seed: 99)
        let dout = try backend.tensor(weights, shape: out.shape)
        let analytic = try backward(dout)
        func loss() throws -> Double {
            let y = try backend.download(try forward())
            var total = 0.0
            for i in y.indices { total += Double(y[i]) * Double(weights[i]) }
            return total
        }
        for (i, input) in inputs.enumerated() {
            guard let grad = analytic[i] else { continue }
            let g = try backend.download(grad)
            var x = try backend.download(input.tensor)
            let stride = max(1, x.count / maxProbes)
            var numeric: [Float] = [], picked: [Float] = []
            for j in Swift.stride(from: 0, to: x.count, by: stride) {
                let saved = x[j]
                x[j] = saved + h
                try backend.upload(x, to: input.tensor)
                let plus = try loss()
                x[j] = saved - h
                try backend.upload(x, to: input.tensor)
                let minus = try loss()
                x[j] = saved
                try backend.upload(x, to: input.tensor)
                numeric.append(Float((plus - minus) / Double(2 * h)))
                picked.append(g[j])
            }
            let err = relativeError(picked, numeric)
            #expect(err < tolerance, "gradient of \(input.name): relative error \(err)", sourceLocation: sourceLocation)
            #expect(numeric.contains { $0 != 0 }, "gradient of \(input.name) is identically zero", sourceLocation: sourceLocation)
        }
    }
}
