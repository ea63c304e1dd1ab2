/// A micro-batch on one model chunk of this rank: what a forward or backward pass works on
/// (Megatron's "virtual micro-batch").
///
///     let work = VirtualMicrobatch(microbatch: 3, chunk: 1)
public struct VirtualMicrobatch: Hashable, Sendable, CustomStringConvertible {
    public let microbatch: Int
    public let chunk: Int

    public init(microbatch: Int, chunk: Int) {
        self.microbatch = microbatch
        self.chunk = chunk
    }

    public var description: String { "micro-batch \(microbatch) chunk \(chunk)" }
}

/// One point-to-point exchange with the neighbouring ranks: every present part is posted at
/// once and the exchange ends when all of them have completed (Megatron's `_communicate`, one
/// batched `batch_isend_irecv` that is waited on). Activations travel to the next rank
/// (`(rank + 1) % pp`, so the last rank's output of chunk c feeds chunk c + 1 of rank 0) and
/// gradients to the previous rank (`(rank − 1) mod pp`). Each part names this rank's own
/// (micro-batch, chunk): the output or input gradient it sends, or the forward or backward the
/// received tensor feeds.
///
/// With two ranks, the next and the previous rank are the same peer: an executor must keep
/// activation and gradient messages apart (separate communicators or tags), as Megatron does
/// with its overlapped p2p path, because NCCL pairs sends to one peer by order alone: post the
/// parts as one ``MegatronParallel/ProcessGroup/sendReceive(_:)`` on the pipeline group, with
/// activations on channel 0 and gradients on channel 1.
///
///     let exchange = PipelineExchange(sendActivation: VirtualMicrobatch(microbatch: 2, chunk: 0),
///                                     receiveGradient: VirtualMicrobatch(microbatch: 0, chunk: 0))
public struct PipelineExchange: Hashable, Sendable, CustomStringConvertible {
    /// Send the output of this forward to the next rank.
    public var sendActivation: VirtualMicrobatch?
    /// Send the input gradient of this backward to the previous rank.
    public var sendGradient: VirtualMicrobatch?
    /// Receive from the previous rank the input of this (later) forward.
    public var receiveActivation: VirtualMicrobatch?
    /// Receive from the next rank the output gradient of this (later) backward.
    public var receiveGradient: VirtualMicrobatch?

    public init(sendActivation: VirtualMicrobatch? = nil, sendGradient: VirtualMicrobatch? = nil,
                receiveActivation: VirtualMicrobatch? = nil, receiveGradient: VirtualMicrobatch? = nil) {
        self.sendActivation = sendActivation
        self.sendGradient = sendGradient
        self.receiveActivation = receiveActivation
        self.receiveGradient = receiveGradient
    }

    /// True when nothing is sent or received (the schedules leave such exchanges out).
    public var isEmpty: Bool {
        sendActivation == nil && sendGradient == nil && receiveActivation == nil && receiveGradient == nil
    }

    public var description: String {
        let parts: [(String, VirtualMicrobatch?)] = [
            ("send activation", sendActivation), ("send gradient", sendGradient),
            ("receive activation", receiveActivation), ("receive gradient", receiveGradient),
        ]
        return "exchange(" + parts.compactMap { name, work in work.map { "\(name) mb \($0.microbatch) chunk \($0.chunk)" } }
            .joined(separator: ", ") + ")"
    }
}

/// One step of a rank's pipeline schedule, run in list order.
///
///     for action in schedule.actions {
///         switch action {
///         case .forward(let work): runForward(work)
///         case .backward(let work): runBackward(work)
///         case .exchange(let exchange): communicate(exchange)
///         }
///     }
public enum PipelineAction: Hashable, Sendable, CustomStringConvertible {
    /// Forward pass of a micro-batch through one model chunk; keep what its backward needs
    /// (forward-only schedules keep nothing).
    case forward(VirtualMicrobatch)
    /// Backward pass of a micro-batch through one model chunk; releases its activations.
    case backward(VirtualMicrobatch)
    /// Communication with the neighbouring ranks.
    case exchange(PipelineExchange)

    public var description: String {
        switch self {
        case let .forward(work): "forward(mb \(work.microbatch) chunk \(work.chunk))"
        case let .backward(work): "backward(mb \(work.microbatch) chunk \(work.chunk))"
        case let .exchange(exchange): exchange.description
        }
    }
}
