import Foundation
import MegatronTensor

/// How a parameter is initialised.
public enum ParameterInit: Sendable, Equatable {
    /// Normal with mean 0 and this standard deviation.
    case normal(std: Float)
    case zeros
    case ones
}

/// One parameter's place in the flat buffer.
public struct ParameterSpec: Sendable, Equatable {
    /// Megatron Core's state-dict key, e.g. `decoder.layers.0.self_attention.linear_qkv.weight`.
    public let name: String
    public let shape: Shape
    /// Offset into the flat buffer, in elements.
    public let offset: Int
    public let initializer: ParameterInit
    /// False for biases and norm weights (Megatron's no-weight-decay group).
    public let weightDecay: Bool
    /// This rank's part of a tensor-parallel parameter; nil for a parameter every
    /// tensor-parallel rank holds whole (norms, row-parallel biases, position embeddings).
    public let shard: ParameterShard?
}

/// A handle to a declared parameter.
public struct ParameterRef: Sendable, Hashable {
    public let index: Int
}

/// The list of parameters a model declares, in declaration order, laid out contiguously.
///
///     var layout = ParameterLayout()
///     let w = layout.declare("linear.weight", [out, inp], init: .normal(std: 0.02))
public struct ParameterLayout: Sendable {
    public private(set) var specs: [ParameterSpec] = []
    public private(set) var count = 0

    public init() {}

    /// Declares a parameter of `shape`, or with `shard` this rank's part of it (the shard's local shape).
    public mutating func declare(_ name: String, _ shape: Shape, init initializer: ParameterInit, weightDecay: Bool = true,
                                 shard: ParameterShard? = nil) -> ParameterRef {
        let local = shard?.localShape ?? shape
        specs.append(ParameterSpec(name: name, shape: local, offset: count, initializer: initializer, weightDecay: weightDecay, shard: shard))
        count += local.count
        return ParameterRef(index: specs.count - 1)
    }

    /// Elements of the whole model (every tensor-parallel shard at its full size).
    public var fullCount: Int { specs.reduce(0) { $0 + ($1.shard?.fullShape.count ?? $1.shape.count) } }

    /// Maximal runs of the flat buffer sharing one weight-decay setting, for the optimizer.
    public var decayRuns: [(range: Range<Int>, weightDecay: Bool)] {
        var runs: [(range: Range<Int>, weightDecay: Bool)] = []
        for s in specs where s.shape.count > 0 {
            let r = s.offset..<s.offset + s.shape.count
            if let last = runs.last, last.weightDecay == s.weightDecay, last.range.upperBound == r.lowerBound {
                runs[runs.count - 1].range = last.range.lowerBound..<r.upperBound
            } else {
                runs.append((r, s.weightDecay))
            }
        }
        return runs
    }
}

/// Parameters and their gradients in flat buffers (Megatron's param-and-grad buffer); each
/// parameter is a view. fp32 master values and fp32 gradients always; with a 16-bit compute
/// type (`--bf16`, `--fp16`) the model computes with a copy in that type, refreshed from the
/// masters by ``syncComputeCopy()`` after each optimizer step. Gradients accumulate across
/// micro-batches until ``zeroGrad()``.
public final class ParameterStore: @unchecked Sendable {
    // Sendable: the buffers are fixed at init; element access goes through the backend.
    public let layout: ParameterLayout
    public let backend: any Backend
    /// `[count]` fp32 master values (what the optimizer updates and checkpoints hold).
    public let values: Tensor
    /// `[count]` fp32.
    public let grads: Tensor
    /// `[count]` in ``computeDType``: the weights forward and backward read (`values` itself for fp32).
    public let computeValues: Tensor
    /// The dtype of weights and activations in forward and backward.
    public var computeDType: DType { computeValues.dtype }
    /// `[paddedCount]` buffers behind `values`, `grads` and `computeValues`, zero past `count`:
    /// what the distributed optimizer shards evenly over the data-parallel ranks.
    public let paddedValues: Tensor
    public let paddedGrads: Tensor
    public let paddedComputeValues: Tensor

    /// Allocates the buffers, initialises the values from `seed` and zeroes the gradients.
    /// `padToMultipleOf` rounds the flat buffers up (the data-parallel size, for the
    /// distributed optimizer's even shards).
    public init(layout: ParameterLayout, backend: any Backend, seed: UInt64, computeDType: DType = .fp32,
                padToMultipleOf multiple: Int = 1) throws {
        guard computeDType.isFloatingPoint else {
            throw TensorError.invalidArgument(op: "ParameterStore", message: "compute dtype \(computeDType) is not a floating-point type")
        }
        guard multiple >= 1 else {
            throw TensorError.invalidArgument(op: "ParameterStore", message: "padding multiple \(multiple) must be at least 1")
        }
        self.layout = layout
        self.backend = backend
        let padded = (layout.count + multiple - 1) / multiple * multiple
        paddedValues = try backend.zeros([padded], dtype: .fp32)
        paddedGrads = try backend.zeros([padded], dtype: .fp32)
        values = try paddedValues.view(offset: 0, shape: [layout.count])
        grads = try paddedGrads.view(offset: 0, shape: [layout.count])
        paddedComputeValues = computeDType == .fp32 ? paddedValues : try backend.zeros([padded], dtype: computeDType)
        computeValues = try paddedComputeValues.view(offset: 0, shape: [layout.count])
        var host = [Float](repeating: 0, count: layout.count)
        host.withUnsafeMutableBufferPointer { buffer in
            for spec in layout.specs {
                Self.initialize(buffer, spec, seed: seed, stream: Self.initializationStream(spec.name))
            }
        }
        try backend.upload(host, to: values)
        try syncComputeCopy()
    }

    /// The fp32 master value of a parameter.
    public func value(_ ref: ParameterRef) -> Tensor { view(values, ref) }
    /// The weights the model computes with (``computeDType``).
    public func compute(_ ref: ParameterRef) -> Tensor { view(computeValues, ref) }
    public func grad(_ ref: ParameterRef) -> Tensor { view(grads, ref) }

    public func zeroGrad() throws { try backend.fill(grads, 0) }

    /// Copies the masters into the compute copy (rounding to nearest even); a no-op for fp32.
    public func syncComputeCopy() throws {
        if computeValues.storage !== values.storage { try backend.copy(values, to: computeValues) }
    }

    /// The spec, master value view and gradient view of the parameter with this state-dict name.
    /// After writing masters, call ``syncComputeCopy()``.
    public func parameter(named name: String) -> (spec: ParameterSpec, value: Tensor, grad: Tensor)? {
        guard let i = layout.specs.firstIndex(where: { $0.name == name }) else { return nil }
        let ref = ParameterRef(index: i)
        return (layout.specs[i], value(ref), grad(ref))
    }

    private func view(_ flat: Tensor, _ ref: ParameterRef) -> Tensor {
        // The offsets come from this layout, so the view is in bounds by construction.
        let s = layout.specs[ref.index]
        return Tensor(storage: flat.storage, offset: flat.offset + s.offset, shape: s.shape, dtype: flat.dtype)
    }

    /// Normal draws by Box–Muller over a Philox stream per parameter, so a parameter's values
    /// depend only on the seed and its position in the declaration order. A tensor-parallel
    /// shard draws the full parameter's elements it holds, so every layout starts from the same
    /// model (Megatron's `--use-cpu-initialization`).
    /// A parameter's Philox subsequence, from its name (FNV-1a): a parameter draws the same
    /// values whichever other parameters a rank holds, so every parallel layout (pipeline stages
    /// included) starts from the model one rank would build.
    static func initializationStream(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    static func initialize(_ host: UnsafeMutableBufferPointer<Float>, _ spec: ParameterSpec, seed: UInt64, stream: UInt64) {
        let base = spec.offset, count = spec.shape.count
        switch spec.initializer {
        case .zeros: for i in base..<base + count { host[i] = 0 }
        case .ones: for i in base..<base + count { host[i] = 1 }
        case let .normal(std):
            // Each element depends only on its index, so chunks fill in parallel (a 7B model's
            // shard is billions of draws) and the values do not depend on the thread count.
            let rng = Philox(seed: seed), chunk = 1 << 20
            nonisolated(unsafe) let host = host  // chunks write disjoint ranges
            DispatchQueue.concurrentPerform(iterations: (count + chunk - 1) / chunk) { c in
                for local in c * chunk..<min(count, (c + 1) * chunk) {
                    let k = spec.shard?.fullIndex(ofLocal: local) ?? local
                    let pair = UInt64(k / 2) * 2
                    let u1 = Double(rng.uniform(pair, subsequence: stream)) + 0x1p-25  // keep log finite
                    let u2 = Double(rng.uniform(pair + 1, subsequence: stream))
                    let r = (-2 * Foundation.log(u1)).squareRoot()
                    let z = k % 2 == 0 ? r * Foundation.cos(2 * Double.pi * u2) : r * Foundation.sin(2 * Double.pi * u2)
                    host[base + local] = Float(z) * std
                }
            }
        }
    }
}
