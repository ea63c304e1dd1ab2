import MegatronParallel
import MegatronTensor

/// A ``MegatronParallel/ProcessGroup`` over an NCCL communicator: collectives are queued on
/// the backend's op stream, so they are ordered with the kernels around them and the host does
/// not wait (``barrier()`` and a failed peer excepted).
///
///     let comms = try NCCLCommunicator.makeAll(contexts: backends.map(\.context))
///     let dp = NCCLProcessGroup(communicator: comms[rank], backend: backends[rank], name: "dp")
///     try dp.allReduce(grads, op: .sum)
public final class NCCLProcessGroup: ProcessGroup, @unchecked Sendable {
    // Sendable: immutable; NCCL requires a communicator to be used by one thread at a time, and
    // each rank's group is used by that rank's thread.
    public let communicator: NCCLCommunicator
    public let backend: CUDABackend
    public let name: String
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// Where ``startAllReduce(_:op:)`` runs: a non-blocking stream, so it overlaps the kernels
    /// the backend keeps queuing on the legacy default stream.
    let communicationStream: CUDAStream

    /// Channel 1 of ``sendReceive(_:)``: a second communicator over the same members, so its
    /// messages never match channel 0's (nil for a group made with one channel). Channel 0 is
    /// ``communicator``, as ``send(_:to:)`` and ``receive(into:from:)`` are.
    public let secondChannel: NCCLCommunicator?
    /// Where channel 1's operations run: a stream of their own, so that channel 0's and channel
    /// 1's kernels progress side by side (as PyTorch's per-group NCCL streams do) and a peer may
    /// take the two channels' messages in separate batches, in either order.
    let secondChannelStream: CUDAStream?

    /// Ends the process when a collective hangs past the timeout or a peer fails.
    let watchdog: NCCLWatchdog

    /// `timeout`: seconds a collective may take before this rank gives up on its peers
    /// (`--distributed-timeout-minutes` × 60). `pointToPointChannels` 2 makes channel 1 of
    /// ``sendReceive(_:)`` (a pipeline group): a split of `communicator` over the same members,
    /// so every member must make the group at the same point (creation is collective).
    public init(communicator: NCCLCommunicator, backend: CUDABackend, name: String, timeout: Double,
                pointToPointChannels: Int = 1) throws {
        guard (1...PointToPoint.channels).contains(pointToPointChannels) else {
            throw ParallelError.invalidArgument(collective: "group creation", group: name,
                                                message: "\(pointToPointChannels) point-to-point channels (1 or \(PointToPoint.channels))")
        }
        self.communicator = communicator
        self.backend = backend
        self.name = name
        communicationStream = try backend.context.makeStream(nonBlocking: true)
        if pointToPointChannels == 2 {
            // Color 0 on every member, ordered by rank: the same members in the same order.
            secondChannel = try communicator.split(color: 0, rank: communicator.rank, size: communicator.size)
            secondChannelStream = try backend.context.makeStream(nonBlocking: true)
        } else {
            secondChannel = nil
            secondChannelStream = nil
        }
        watchdog = NCCLWatchdog(communicator: communicator, others: secondChannel.map { [$0] } ?? [], group: name, timeout: timeout)
    }

    /// Stops the collective watchdogs of every NCCL group in the process (their checks would
    /// race NCCL's exit-time teardown); call when the rank's work is done, before it exits.
    public static func stopWatchdogs() { NCCLWatchdog.stopAll() }

    /// Queued on the communication stream behind an event of the op stream; ``Pending/wait()``
    /// makes the op stream wait for it.
    public func startAllReduce(_ tensor: Tensor, op: ReduceOp) throws -> any PendingCollective {
        try check(tensor, "all-reduce")
        return try overlapped("all-reduce") { stream throws(CUDAError) in
            try communicator.allReduce(send: DevicePointer(tensor.address), receive: DevicePointer(tensor.address), count: tensor.count,
                                       dtype: tensor.dtype, op: reduction(op), stream: stream)
        }
    }

    /// Queued on the communication stream as ``startAllReduce(_:op:)``.
    public func startReduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws -> any PendingCollective {
        try check(input, "reduce-scatter")
        try check(output, "reduce-scatter")
        try expectChunks(whole: input, chunk: output, "reduce-scatter")
        return try overlapped("reduce-scatter") { stream throws(CUDAError) in
            try communicator.reduceScatter(send: DevicePointer(input.address), receive: DevicePointer(output.address),
                                           receiveCount: output.count, dtype: input.dtype, op: reduction(op), stream: stream)
        }
    }

    /// Queued on the communication stream as ``startAllReduce(_:op:)``.
    public func startAllGather(_ input: Tensor, into output: Tensor) throws -> any PendingCollective {
        try check(input, "all-gather")
        try check(output, "all-gather")
        try expectChunks(whole: output, chunk: input, "all-gather")
        return try overlapped("all-gather") { stream throws(CUDAError) in
            try communicator.allGather(send: DevicePointer(input.address), receive: DevicePointer(output.address),
                                       sendCount: input.count, dtype: input.dtype, stream: stream)
        }
    }

    /// Queues `collective` on the communication stream after the work queued so far on the op stream.
    private func overlapped(_ name: String, _ collective: (CUDAStream) throws(CUDAError) -> Void) throws -> any PendingCollective {
        let ready = try backend.context.makeEvent(timing: false), done = try backend.context.makeEvent(timing: false)
        try ready.record(on: backend.stream)
        try communicationStream.wait(for: ready)
        try collective(communicationStream)
        try done.record(on: communicationStream)
        try watchdog.track("\(name) (overlapped)", after: communicationStream)
        return Pending(done: done, stream: backend.stream)
    }

    struct Pending: PendingCollective {
        let done: CUDAEvent
        let stream: CUDAStream
        func wait() throws { try stream.wait(for: done) }
    }

    public func allReduce(_ tensor: Tensor, op: ReduceOp) throws {
        try check(tensor, "all-reduce")
        try communicator.allReduce(send: DevicePointer(tensor.address), receive: DevicePointer(tensor.address), count: tensor.count,
                                   dtype: tensor.dtype, op: reduction(op), stream: backend.stream)
        try watchdog.track("all-reduce", after: backend.stream)
    }

    public func reduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws {
        try check(input, "reduce-scatter")
        try check(output, "reduce-scatter")
        try expectChunks(whole: input, chunk: output, "reduce-scatter")
        try communicator.reduceScatter(send: DevicePointer(input.address), receive: DevicePointer(output.address),
                                       receiveCount: output.count, dtype: input.dtype, op: reduction(op), stream: backend.stream)
        try watchdog.track("reduce-scatter", after: backend.stream)
    }

    public func allGather(_ input: Tensor, into output: Tensor) throws {
        try check(input, "all-gather")
        try check(output, "all-gather")
        try expectChunks(whole: output, chunk: input, "all-gather")
        try communicator.allGather(send: DevicePointer(input.address), receive: DevicePointer(output.address),
                                   sendCount: input.count, dtype: input.dtype, stream: backend.stream)
        try watchdog.track("all-gather", after: backend.stream)
    }

    public func broadcast(_ tensor: Tensor, root: Int) throws {
        try check(tensor, "broadcast")
        guard (0..<size).contains(root) else {
            throw ParallelError.invalidArgument(collective: "broadcast", group: name, message: "root \(root) is not a rank of 0..<\(size)")
        }
        try communicator.broadcast(send: DevicePointer(tensor.address), receive: DevicePointer(tensor.address), count: tensor.count,
                                   dtype: tensor.dtype, root: root, stream: backend.stream)
        try watchdog.track("broadcast", after: backend.stream)
    }

    public func send(_ tensor: Tensor, to peer: Int) throws {
        try check(tensor, "send")
        try expectPeer(peer, "send")
        try communicator.send(DevicePointer(tensor.address), count: tensor.count, dtype: tensor.dtype, to: peer, stream: backend.stream)
        try watchdog.track("send", after: backend.stream)
    }

    public func receive(into tensor: Tensor, from peer: Int) throws {
        try check(tensor, "receive")
        try expectPeer(peer, "receive")
        try communicator.receive(into: DevicePointer(tensor.address), count: tensor.count, dtype: tensor.dtype, from: peer,
                                 stream: backend.stream)
        try watchdog.track("receive", after: backend.stream)
    }

    /// Every part between one `ncclGroupStart`/`ncclGroupEnd` (Megatron's `batch_isend_irecv`):
    /// channel 0 on ``communicator`` and the op stream, channel 1 on ``secondChannel`` and its own
    /// stream, which starts after the work queued so far and which the op stream then waits for.
    /// Channel 0's parts are issued before channel 1's on every rank, in the caller's order
    /// within a channel (NCCL matches one pair's messages on one communicator by that order).
    /// Empty tensors are skipped (on both sides, since sizes must agree). NCCL sees only
    /// element counts: a shape mismatch of equal size goes unnoticed, an unequal one fails or
    /// hangs (the watchdog then names the group).
    public func sendReceive(_ operations: [PointToPoint]) throws {
        try checkPointToPoint(operations)
        for op in operations { try check(op.tensor, "send/receive") }
        let parts = operations.filter { $0.tensor.count > 0 }
        guard !parts.isEmpty else { return }
        let first = parts.filter { $0.channel == 0 }, second = parts.filter { $0.channel == 1 }
        var channel1: (communicator: NCCLCommunicator, stream: CUDAStream)?
        if !second.isEmpty {
            guard let secondChannel, let secondChannelStream else {
                throw ParallelError.invalidArgument(
                    collective: "send/receive", group: name,
                    message: "channel 1 needs a group made with pointToPointChannels: 2 (\(second[0]))")
            }
            let ready = try backend.context.makeEvent(timing: false)
            try ready.record(on: backend.stream)
            try secondChannelStream.wait(for: ready)
            channel1 = (secondChannel, secondChannelStream)
        }
        try communicator.library.group { () throws(CUDAError) in
            for op in first { try post(op, on: communicator, stream: backend.stream) }
            if let channel1 {
                for op in second { try post(op, on: channel1.communicator, stream: channel1.stream) }
            }
        }
        if let channel1 {
            let done = try backend.context.makeEvent(timing: false)
            try done.record(on: channel1.stream)
            try backend.stream.wait(for: done)
        }
        try watchdog.track("send/receive (\(parts.count) parts)", after: backend.stream)
    }

    /// Queues one part of a batched exchange (inside an NCCL group).
    private func post(_ op: PointToPoint, on comm: NCCLCommunicator, stream: CUDAStream) throws(CUDAError) {
        let t = op.tensor
        switch op.direction {
        case .send: try comm.send(DevicePointer(t.address), count: t.count, dtype: t.dtype, to: op.peer, stream: stream)
        case .receive: try comm.receive(into: DevicePointer(t.address), count: t.count, dtype: t.dtype, from: op.peer, stream: stream)
        }
    }

    /// Grouped sends and receives, one pair per peer (NCCL has no uneven all-to-all of its own).
    public func allToAll(_ input: Tensor, sendCounts: [Int], into output: Tensor, receiveCounts: [Int]) throws {
        try check(input, "all-to-all")
        try check(output, "all-to-all")
        try checkAllToAll(input, sendCounts: sendCounts, output, receiveCounts: receiveCounts)
        let element = input.dtype.byteSize
        var sendOffset = 0, receiveOffset = 0
        try communicator.library.group { () throws(CUDAError) in
            for peer in 0..<size {
                if sendCounts[peer] > 0 {
                    try communicator.send(DevicePointer(input.address).advanced(by: sendOffset * element), count: sendCounts[peer],
                                          dtype: input.dtype, to: peer, stream: backend.stream)
                }
                if receiveCounts[peer] > 0 {
                    try communicator.receive(into: DevicePointer(output.address).advanced(by: receiveOffset * element),
                                             count: receiveCounts[peer], dtype: output.dtype, from: peer, stream: backend.stream)
                }
                sendOffset += sendCounts[peer]
                receiveOffset += receiveCounts[peer]
            }
        }
        try watchdog.track("all-to-all", after: backend.stream)
    }

    /// A one-element all-reduce, then waits for the stream and checks NCCL's asynchronous error.
    public func barrier() throws {
        let token = try backend.zeros([1], dtype: .fp32)
        try allReduce(token, op: .sum)
        try backend.synchronize()
        try communicator.checkAsyncError()
    }

    private func reduction(_ op: ReduceOp) -> NCCLReduction {
        switch op {
        case .sum: .sum
        case .max: .max
        }
    }

    private func check(_ tensor: Tensor, _ collective: String) throws {
        guard tensor.storage.device == backend.device else {
            throw ParallelError.invalidArgument(collective: collective, group: name,
                                                message: "tensor on \(tensor.storage.device), group on \(backend.device)")
        }
    }

    private func expectChunks(whole: Tensor, chunk: Tensor, _ collective: String) throws {
        guard whole.dtype == chunk.dtype, whole.count == chunk.count * size else {
            throw ParallelError.invalidArgument(
                collective: collective, group: name,
                message: "\(whole.count) \(whole.dtype) elements for \(size) chunks of \(chunk.count) \(chunk.dtype)")
        }
    }

    private func expectPeer(_ peer: Int, _ collective: String) throws {
        guard (0..<size).contains(peer), peer != rank else {
            throw ParallelError.invalidArgument(collective: collective, group: name, message: "peer \(peer) of \(size) ranks (this is \(rank))")
        }
    }
}
