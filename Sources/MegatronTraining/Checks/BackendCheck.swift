import Foundation
import MegatronCPU
import MegatronTensor

/// Checks every op of a backend against the CPU reference on fresh random inputs (never zeros):
/// inputs are made on the device first and the reference gets the same, already-rounded values;
/// outputs are poisoned with NaN before each op so an unwritten element fails; the measure is
/// ‖out − ref‖/‖ref‖ against 1e-5 for fp32 paths and 1e-2 for bf16 and fp16 (DESIGN.md §3; fp16's
/// 11-bit significand rounds 8× finer than bf16's, and every random input, uniform in ±4 at most,
/// and every checked output lies far inside fp16's range of ±65 504, so no op needs more).
///
///     let results = try BackendCheck(device: cuda).run(dtype: .bf16)
public struct BackendCheck {
    public struct Result: Sendable, CustomStringConvertible {
        public let name: String
        public let error: Double
        public let tolerance: Double
        public var passed: Bool { error < tolerance }  // NaN fails
        public var description: String {
            String(format: "%@ %-58@ rel. error %.2e (tolerance %.0e)", passed ? "PASS" : "FAIL", name, error, tolerance)
        }
    }

    public let device: any Backend
    public let reference = CPUBackend()
    private let seed: UInt64

    public init(device: any Backend, seed: UInt64 = UInt64(Date().timeIntervalSince1970)) {
        self.device = device
        self.seed = seed
    }

    /// A pair of tensors holding the same values: `dev` in `dtype` on the device, `ref` fp32 on the CPU.
    struct Pair {
        let dev: Tensor
        let ref: Tensor
    }

    /// Uniform in [−scale, scale), or [0, scale) when `nonNegative`.
    func random(_ shape: Shape, _ dtype: DType, stream: UInt64, scale: Float = 1, nonNegative: Bool = false) throws -> Pair {
        let rng = Philox(seed: seed)
        let values = (0..<shape.count).map { i -> Float in
            let u = rng.uniform(UInt64(i), subsequence: stream)
            return (nonNegative ? u : u * 2 - 1) * scale
        }
        let dev = try device.tensor(values, shape: shape, dtype: dtype)
        return Pair(dev: dev, ref: try reference.tensor(try device.download(dev), shape: shape))
    }

    func ids(_ count: Int, below bound: Int, stream: UInt64) throws -> Pair {
        let rng = Philox(seed: seed)
        let values = (0..<count).map { Int32(rng.uniform(UInt64($0), subsequence: stream) * Float(bound)) }
        return Pair(dev: try device.tensor(int32: values, shape: [count]), ref: try reference.tensor(int32: values, shape: [count]))
    }

    /// Attention segment ids int32 `[batch, s]`: per row, consecutive documents (ids 0, 1, …) of
    /// random lengths, about one in five a single token, the others up to s/3 tokens.
    func segmentIDs(s: Int, batch: Int, stream: UInt64) throws -> Pair {
        let rng = Philox(seed: seed)
        var values: [Int32] = []
        var draw: UInt64 = 0
        for _ in 0..<batch {
            var document: Int32 = 0, filled = 0
            while filled < s {
                let u = rng.uniform(draw, subsequence: stream)
                draw += 1
                let length = min(u < 0.2 ? 1 : 1 + Int(u * Float(max(1, s / 3))), s - filled)
                values += Array(repeating: document, count: length)
                filled += length
                document += 1
            }
        }
        return Pair(dev: try device.tensor(int32: values, shape: [batch, s]), ref: try reference.tensor(int32: values, shape: [batch, s]))
    }

    /// fp32 `values` on both sides, e.g. a reference result fed to the next op under check alone.
    func pair(_ values: [Float], _ shape: Shape) throws -> Pair {
        Pair(dev: try device.tensor(values, shape: shape), ref: try reference.tensor(values, shape: shape))
    }

    /// A device output poisoned with NaN and its fp32 reference twin.
    func output(_ shape: Shape, _ dtype: DType, initial: Pair? = nil) throws -> Pair {
        if let initial {
            let dev = try device.empty(shape, dtype: dtype)
            try device.copy(initial.dev, to: dev)
            let ref = try reference.empty(shape, dtype: .fp32)
            try reference.copy(initial.ref, to: ref)
            return Pair(dev: dev, ref: ref)
        }
        let dev = try device.empty(shape, dtype: dtype)
        try device.fill(dev, .nan)
        return Pair(dev: dev, ref: try reference.empty(shape, dtype: .fp32))
    }

    func compare(_ name: String, _ pairs: [Pair], _ dtype: DType) throws -> Result {
        var got: [Float] = [], want: [Float] = []
        for p in pairs {
            got += try device.download(p.dev)
            want += try reference.download(p.ref)
        }
        return Result(name: name, error: relativeError(got, want), tolerance: dtype == .fp32 ? 1e-5 : 1e-2)
    }
}
