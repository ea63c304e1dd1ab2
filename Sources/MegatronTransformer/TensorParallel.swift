import MegatronParallel
import MegatronTensor

/// A model's tensor-parallel group, and whether sequence parallelism is on: Megatron's
/// mappings between the residual stream (replicated over the group, or split along the
/// sequence with `--sequence-parallel`) and the tensor-parallel regions of the layers.
///
/// A column-parallel layer enters through ``gather(_:_:)`` and its input gradient leaves
/// through ``reduce(_:_:)``; a row-parallel layer is the mirror image. With one rank both are
/// the identity.
///
///     let tp = TensorParallel(group: tpGroup, sequenceParallel: true)
///     let full = try tp.gather(x, backend)     // [s/tp, b, h] → [s, b, h]
public struct TensorParallel: Sendable {
    public let group: (any ProcessGroup)?
    /// Whether the residual stream is split along the sequence (only with more than one rank).
    public let sequenceParallel: Bool

    /// One rank: no tensor parallelism.
    public static let none = TensorParallel(group: nil, sequenceParallel: false)

    public init(group: (any ProcessGroup)?, sequenceParallel: Bool) {
        self.group = group
        self.sequenceParallel = sequenceParallel && (group?.size ?? 1) > 1
    }

    public var size: Int { group?.size ?? 1 }
    public var rank: Int { group?.rank ?? 0 }

    /// This rank's part of `n` split evenly over the group (the caller checked divisibility).
    public func shard(_ n: Int) -> Range<Int> {
        let part = n / size
        return rank * part..<(rank + 1) * part
    }

    /// Into a tensor-parallel region: with sequence parallelism, all-gathers the sequence shards
    /// (`[s/tp, …]` → `[s, …]`); otherwise `x` itself, already replicated.
    public func gather(_ x: Tensor, _ backend: any Backend) throws -> Tensor {
        guard sequenceParallel, let group else { return x }
        let out = try backend.empty(Shape([x.shape[0] * group.size] + x.shape.dims.dropFirst()), dtype: x.dtype)
        try group.allGather(x, into: out)
        return out
    }

    /// Out of a tensor-parallel region: sums the ranks' partial results, in place by an
    /// all-reduce, or with sequence parallelism by a reduce-scatter (`[s, …]` → `[s/tp, …]`).
    public func reduce(_ x: Tensor, _ backend: any Backend) throws -> Tensor {
        guard let group, group.size > 1 else { return x }
        guard sequenceParallel else {
            try group.allReduce(x, op: .sum)
            return x
        }
        let out = try sequenceSlice(like: x, backend)
        try group.reduceScatter(x, into: out, op: .sum)
        return out
    }

    /// A new tensor for this rank's slice of `x` along the sequence (`[s, …]` → `[s/tp, …]`).
    private func sequenceSlice(like x: Tensor, _ backend: any Backend) throws -> Tensor {
        try backend.empty(Shape([x.shape[0] / size] + x.shape.dims.dropFirst()), dtype: x.dtype)
    }

    /// ``reduce(_:_:)`` started alongside the caller's next work (on a communication stream
    /// where the group has one): neither tensor may be touched before the handle's `wait()`.
    public func startReduce(_ x: Tensor, _ backend: any Backend) throws -> (Tensor, any PendingCollective) {
        guard let group, group.size > 1 else { return (x, CompletedCollective()) }
        guard sequenceParallel else { return (x, try group.startAllReduce(x, op: .sum)) }
        let out = try sequenceSlice(like: x, backend)
        return (out, try group.startReduceScatter(x, into: out, op: .sum))
    }
}
