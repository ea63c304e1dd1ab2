import MegatronTensor

/// The reduction a collective applies.
public enum ReduceOp: String, Sendable {
    case sum, max
}

/// A group of ranks (a tensor-, data-, pipeline-… parallel group) and the collectives the
/// library runs over it. Every rank holds its own instance; a collective is called by every
/// member with tensors of the same shape and dtype, in the same order on every rank.
///
/// Implementations: ``LocalProcessGroup`` (ranks are threads of one process: CPU training with
/// several ranks and every equivalence test) and, on GPUs, an NCCL group (one process per GPU).
/// Reductions run in the tensors' dtype; tensors live on the group's backend device.
///
///     let dp: any ProcessGroup = world.group(ranks: [0, 2], rank: myRank, name: "dp")
///     try dp.allReduce(grads, op: .sum)
public protocol ProcessGroup: AnyObject, Sendable {
    /// This member's index in the group, `0..<size`.
    var rank: Int { get }
    /// Number of members.
    var size: Int { get }
    /// What the group is for ("tp", "dp", "pp", …), named in errors.
    var name: String { get }

    /// Every member's `tensor` becomes the element-wise reduction over all members.
    func allReduce(_ tensor: Tensor, op: ReduceOp) throws
    /// `input` holds `size` equal chunks; member r receives in `output` the reduction of every
    /// member's chunk r.
    func reduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws
    /// `output` (`size` × input's count) receives every member's `input`, in rank order.
    func allGather(_ input: Tensor, into output: Tensor) throws
    /// Every member's `tensor` becomes member `root`'s.
    func broadcast(_ tensor: Tensor, root: Int) throws
    /// Sends `tensor` to member `peer`, which must call ``receive(into:from:)`` with the same shape.
    func send(_ tensor: Tensor, to peer: Int) throws
    /// Receives from member `peer` into `tensor`.
    func receive(into tensor: Tensor, from peer: Int) throws
    /// Posts every operation at once and returns when all of them have completed (Megatron's
    /// `batch_isend_irecv` followed by a wait): a rank may send to and receive from its
    /// neighbours in one call without deadlock, whatever order the parts are listed in.
    /// Messages between two members on one channel match in the order they are posted (within a
    /// batch and across batches); different channels never match each other, so activations
    /// (channel 0) and gradients (channel 1) to the same peer cannot be confused. Sender and
    /// receiver must agree on shape and dtype. NCCL: queued on the backend's op stream (complete
    /// before the work queued after it); thread ranks: sends leave a copy without waiting,
    /// receives wait for it. Don't mix with ``send(_:to:)``/``receive(into:from:)`` between the
    /// same two members: whether those match channel 0 is up to the implementation.
    ///
    ///     try pp.sendReceive([.send(output, to: next, channel: 0), .receive(into: outputGrad, from: next, channel: 1)])
    func sendReceive(_ operations: [PointToPoint]) throws
    /// Member r sends elements `[Σ sendCounts[..<p], +sendCounts[p])` of `input` to member p and
    /// receives member p's slice for it at offset `Σ receiveCounts[..<p]` of `output` (counts in
    /// elements, possibly uneven; `receiveCounts[p]` must equal member p's `sendCounts[r]`).
    func allToAll(_ input: Tensor, sendCounts: [Int], into output: Tensor, receiveCounts: [Int]) throws
    /// Returns once every member has called it.
    func barrier() throws

    /// Starts an all-reduce that may run alongside the caller's later work (NCCL: on a
    /// communication stream, after the work queued so far). `tensor` must not be touched until
    /// the handle's ``PendingCollective/wait()``, which orders everything queued after it behind
    /// the reduction.
    func startAllReduce(_ tensor: Tensor, op: ReduceOp) throws -> any PendingCollective
    /// Starts a reduce-scatter as ``startAllReduce(_:op:)`` does; neither tensor may be touched
    /// until the handle's ``PendingCollective/wait()``.
    func startReduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws -> any PendingCollective
    /// Starts an all-gather as ``startAllReduce(_:op:)`` does.
    func startAllGather(_ input: Tensor, into output: Tensor) throws -> any PendingCollective
}

/// One part of a batched point-to-point exchange (``ProcessGroup/sendReceive(_:)``): a tensor
/// sent to or received from member `peer` of the group on channel `channel`.
///
///     let parts: [PointToPoint] = [.send(activation, to: 1), .receive(into: gradient, from: 1, channel: 1)]
public struct PointToPoint: Sendable, CustomStringConvertible {
    public enum Direction: String, Sendable {
        case send, receive
    }

    /// Channels a group keeps apart: 0 (activations) and 1 (gradients).
    public static let channels = 2

    public let tensor: Tensor
    /// The other member (group rank, not world rank).
    public let peer: Int
    public let direction: Direction
    /// `0..<PointToPoint.channels`; messages on different channels never match.
    public let channel: Int

    public init(_ direction: Direction, _ tensor: Tensor, peer: Int, channel: Int = 0) {
        self.direction = direction
        self.tensor = tensor
        self.peer = peer
        self.channel = channel
    }

    /// Sends `tensor` to member `peer`.
    public static func send(_ tensor: Tensor, to peer: Int, channel: Int = 0) -> PointToPoint {
        PointToPoint(.send, tensor, peer: peer, channel: channel)
    }

    /// Receives member `peer`'s message into `tensor`.
    public static func receive(into tensor: Tensor, from peer: Int, channel: Int = 0) -> PointToPoint {
        PointToPoint(.receive, tensor, peer: peer, channel: channel)
    }

    public var description: String {
        "\(direction == .send ? "send to" : "receive from") member \(peer) on channel \(channel) (\(tensor.shape) \(tensor.dtype))"
    }
}

/// A collective in flight.
public protocol PendingCollective: Sendable {
    /// Orders the caller's subsequent work after the collective (it may return before the
    /// collective has finished on the device).
    func wait() throws
}

/// A collective that had finished when it was handed back.
public struct CompletedCollective: PendingCollective {
    public init() {}
    public func wait() throws {}
}

extension ProcessGroup {
    /// Checks an all-to-all's arguments: one non-negative count per member each way, within the
    /// tensors, which share a dtype.
    public func checkAllToAll(_ input: Tensor, sendCounts: [Int], _ output: Tensor, receiveCounts: [Int]) throws {
        guard sendCounts.count == size, receiveCounts.count == size, input.dtype == output.dtype,
              sendCounts.allSatisfy({ $0 >= 0 }), receiveCounts.allSatisfy({ $0 >= 0 }),
              sendCounts.reduce(0, +) <= input.count, receiveCounts.reduce(0, +) <= output.count
        else {
            throw ParallelError.invalidArgument(
                collective: "all-to-all", group: name,
                message: "\(size) non-negative send and receive counts within the tensors' \(input.count) and \(output.count) elements of one dtype")
        }
    }

    /// Checks a batched exchange's parts: peers are other members, channels are 0 or 1.
    public func checkPointToPoint(_ operations: [PointToPoint]) throws {
        for op in operations {
            guard (0..<size).contains(op.peer), op.peer != rank else {
                throw ParallelError.invalidArgument(collective: "send/receive", group: name,
                                                    message: "peer \(op.peer) of \(size) members (this is \(rank)) in \(op)")
            }
            guard (0..<PointToPoint.channels).contains(op.channel) else {
                throw ParallelError.invalidArgument(collective: "send/receive", group: name,
                                                    message: "channel \(op.channel) is not one of 0..<\(PointToPoint.channels) in \(op)")
            }
        }
    }

    /// Runs the all-reduce at once (groups without a communication stream of their own).
    public func startAllReduce(_ tensor: Tensor, op: ReduceOp) throws -> any PendingCollective {
        try allReduce(tensor, op: op)
        return CompletedCollective()
    }

    /// Runs the all-gather at once (groups without a communication stream of their own).
    public func startAllGather(_ input: Tensor, into output: Tensor) throws -> any PendingCollective {
        try allGather(input, into: output)
        return CompletedCollective()
    }

    /// Runs the reduce-scatter at once (groups without a communication stream of their own).
    public func startReduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws -> any PendingCollective {
        try reduceScatter(input, into: output, op: op)
        return CompletedCollective()
    }
}

/// A collective that cannot go on, named with its group and the ranks involved.
public enum ParallelError: Error, Equatable, CustomStringConvertible {
    /// Members (by world rank) that did not reach the collective within the timeout.
    case timeout(collective: String, group: String, missingRanks: [Int], seconds: Double)
    /// Members disagree about a collective's arguments (shape, dtype, counts, root).
    case mismatch(collective: String, group: String, message: String)
    /// A bad argument to a collective or a group definition.
    case invalidArgument(collective: String, group: String, message: String)
    /// A member of the group failed or left; the others stop instead of waiting forever.
    case peerFailed(collective: String, group: String, rank: Int, message: String)

    public var description: String {
        switch self {
        case let .timeout(c, g, missing, seconds):
            "\(c) on group \(g): rank(s) \(missing.map(String.init).joined(separator: ", ")) did not arrive within \(seconds) s "
                + "(--distributed-timeout-minutes)"
        case let .mismatch(c, g, m): "\(c) on group \(g): members disagree: \(m)"
        case let .invalidArgument(c, g, m): "\(c) on group \(g): \(m)"
        case let .peerFailed(c, g, r, m): "\(c) on group \(g): rank \(r) failed: \(m)"
        }
    }
}
