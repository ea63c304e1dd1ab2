import MegatronTensor
import Synchronization

/// A ``ProcessGroup`` whose members are threads of one ``LocalWorld``: collectives copy
/// between the members' host tensors (the CPU backend's). Reductions are fp32, summed in member
/// order, so every member gets bitwise the same result as a serial loop over the members.
///
///     let tp = try world.group(ranks: [0, 1], rank: rank, name: "tp")
///     try tp.allGather(local, into: full)
public final class LocalProcessGroup: ProcessGroup {
    public let world: LocalWorld
    /// Global ranks of the members, in group order.
    public let members: [Int]
    public let rank: Int
    public let name: String
    public var size: Int { members.count }
    /// Calls made so far: collectives, and point-to-point messages per peer.
    private let calls = Mutex<(collectives: Int, messages: [Int: Int])>((0, [:]))

    init(world: LocalWorld, members: [Int], rank: Int, name: String) {
        self.world = world
        self.members = members
        self.rank = rank
        self.name = name
    }

    private var groupKey: String { "\(name)[\(members.map(String.init).joined(separator: ","))]" }

    /// Meets every member at this group's next collective.
    private func collective(
        _ collective: String, input: Tensor?, output: Tensor?, arguments: [Int] = [],
        work: ([Int: LocalWorld.Contribution]) throws -> Void
    ) throws {
        for t in [input, output].compactMap({ $0 }) where t.storage.device != .cpu {
            throw ParallelError.invalidArgument(collective: collective, group: name, message: "tensor on \(t.storage.device), not on the CPU")
        }
        let call = calls.withLock { state -> Int in
            defer { state.collectives += 1 }
            return state.collectives
        }
        try world.meet(key: "\(groupKey)#\(call)", member: rank, expected: members, collective: collective, group: name,
                       .init(input: input, output: output, arguments: arguments)) { all in
            try agree(collective, all)
            try work(all)
        }
    }

    /// Members must bring the same dtype, counts and arguments.
    private func agree(_ collective: String, _ all: [Int: LocalWorld.Contribution]) throws {
        let first = all[0]!
        for (member, c) in all.sorted(by: { $0.key < $1.key }) {
            guard c.input?.dtype == first.input?.dtype, c.input?.count == first.input?.count,
                  c.output?.count == first.output?.count, c.arguments == first.arguments
            else {
                throw ParallelError.mismatch(
                    collective: collective, group: name,
                    message: "member \(member) brought \(describe(c)), member 0 \(describe(first))")
            }
        }
    }

    private func describe(_ c: LocalWorld.Contribution) -> String {
        var parts: [String] = []
        if let i = c.input { parts.append("\(i.count) \(i.dtype) in") }
        if let o = c.output { parts.append("\(o.count) \(o.dtype) out") }
        if !c.arguments.isEmpty { parts.append("arguments \(c.arguments)") }
        return parts.joined(separator: ", ")
    }

    private func floats(_ t: Tensor, _ collective: String) throws -> UnsafeMutablePointer<Float> {
        guard t.dtype == .fp32 else {
            throw ParallelError.invalidArgument(collective: collective, group: name, message: "reductions take fp32 tensors, not \(t.dtype)")
        }
        return t.address.assumingMemoryBound(to: Float.self)
    }

    /// Element i of the reduction over members, in member order.
    private func reduce(_ op: ReduceOp, _ sources: [UnsafeMutablePointer<Float>], _ i: Int) -> Float {
        var acc = sources[0][i]
        for s in sources.dropFirst() {
            switch op {
            case .sum: acc += s[i]
            case .max: acc = Swift.max(acc, s[i])
            }
        }
        return acc
    }

    public func allReduce(_ tensor: Tensor, op: ReduceOp) throws {
        _ = try floats(tensor, "all-reduce")
        // Each member reads every input, so results go to a private buffer first and are
        // written back only after everyone has read (the second meeting).
        var result = [Float](repeating: 0, count: tensor.count)
        try collective("all-reduce", input: tensor, output: nil) { all in
            let sources = try (0..<size).map { try floats(all[$0]!.input!, "all-reduce") }
            for i in 0..<tensor.count { result[i] = reduce(op, sources, i) }
        }
        try collective("all-reduce (write-back)", input: nil, output: nil) { _ in }
        let out = tensor.address.assumingMemoryBound(to: Float.self)
        for i in 0..<result.count { out[i] = result[i] }
    }

    public func reduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws {
        guard input.count == output.count * size else {
            throw ParallelError.invalidArgument(collective: "reduce-scatter", group: name,
                                                message: "input of \(input.count) elements for \(size) chunks of \(output.count)")
        }
        let out = try floats(output, "reduce-scatter")
        _ = try floats(input, "reduce-scatter")
        let chunk = output.count, offset = rank * chunk
        var result = [Float](repeating: 0, count: chunk)
        try collective("reduce-scatter", input: input, output: output) { all in
            let sources = try (0..<size).map { try floats(all[$0]!.input!, "reduce-scatter") }
            for i in 0..<chunk { result[i] = reduce(op, sources, offset + i) }
        }
        try collective("reduce-scatter (write-back)", input: nil, output: nil) { _ in }
        for i in 0..<chunk { out[i] = result[i] }
    }

    public func allGather(_ input: Tensor, into output: Tensor) throws {
        guard output.count == input.count * size, output.dtype == input.dtype else {
            throw ParallelError.invalidArgument(collective: "all-gather", group: name,
                                                message: "output of \(output.count) \(output.dtype) for \(size) × \(input.count) \(input.dtype)")
        }
        let bytes = input.byteCount
        var gathered = [UInt8](repeating: 0, count: bytes * size)
        try collective("all-gather", input: input, output: output) { all in
            guard bytes > 0 else { return }
            gathered.withUnsafeMutableBytes { dst in
                for m in 0..<size { dst.baseAddress!.advanced(by: m * bytes).copyMemory(from: all[m]!.input!.address, byteCount: bytes) }
            }
        }
        try collective("all-gather (write-back)", input: nil, output: nil) { _ in }
        copy(gathered, to: output.address)
    }

    public func broadcast(_ tensor: Tensor, root: Int) throws {
        guard (0..<size).contains(root) else {
            throw ParallelError.invalidArgument(collective: "broadcast", group: name, message: "root \(root) is not a member of 0..<\(size)")
        }
        let bytes = tensor.byteCount
        var copy = [UInt8](repeating: 0, count: bytes)
        try collective("broadcast", input: tensor, output: nil, arguments: [root]) { all in
            guard bytes > 0 else { return }
            copy.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: all[root]!.input!.address, byteCount: bytes) }
        }
        try collective("broadcast (write-back)", input: nil, output: nil) { _ in }
        if rank != root { self.copy(copy, to: tensor.address) }
    }

    public func send(_ tensor: Tensor, to peer: Int) throws {
        try message("send", peer: peer, input: tensor, output: nil) { _ in }
    }

    public func receive(into tensor: Tensor, from peer: Int) throws {
        try message("receive", peer: peer, input: nil, output: tensor) { all in
            guard let sent = all.values.compactMap(\.input).first, sent.byteCount == tensor.byteCount, sent.dtype == tensor.dtype else {
                throw ParallelError.mismatch(collective: "send/receive", group: name,
                                             message: "member \(peer) sent a different shape or dtype than member \(rank) receives")
            }
            tensor.address.copyMemory(from: sent.address, byteCount: tensor.byteCount)
        }
    }

    /// Sends first, each leaving a copy in the (sender, receiver, channel) mailbox without
    /// waiting; then receives, each taking the oldest message of its mailbox (waiting for it up to
    /// the world's timeout). No member ever waits on another's receive, so batches that agree
    /// cannot deadlock, whatever order their parts are listed in.
    public func sendReceive(_ operations: [PointToPoint]) throws {
        try checkPointToPoint(operations)
        for op in operations where op.tensor.storage.device != .cpu {
            throw ParallelError.invalidArgument(collective: "send/receive", group: name,
                                                message: "tensor on \(op.tensor.storage.device), not on the CPU, in \(op)")
        }
        for op in operations where op.direction == .send {
            let t = op.tensor
            let bytes = [UInt8](unsafeUninitializedCapacity: t.byteCount) { buffer, count in
                if t.byteCount > 0 { buffer.baseAddress!.initialize(from: t.address.assumingMemoryBound(to: UInt8.self), count: t.byteCount) }
                count = t.byteCount
            }
            try world.deposit(.init(bytes: bytes, shape: t.shape, dtype: t.dtype), key: mailbox(from: rank, to: op.peer, channel: op.channel),
                              collective: "send/receive (channel \(op.channel))", group: name)
        }
        for op in operations where op.direction == .receive {
            let collective = "send/receive (channel \(op.channel))"
            let message = try world.collect(key: mailbox(from: op.peer, to: rank, channel: op.channel), sender: members[op.peer],
                                            collective: collective, group: name)
            let t = op.tensor
            guard message.shape == t.shape, message.dtype == t.dtype else {
                throw ParallelError.mismatch(
                    collective: collective, group: name,
                    message: "member \(op.peer) (rank \(members[op.peer])) sent \(message.shape) \(message.dtype), "
                        + "member \(rank) (rank \(members[rank])) receives \(t.shape) \(t.dtype)")
            }
            copy(message.bytes, to: t.address)
        }
    }

    /// The mailbox of messages from member `from` to member `to` on `channel`.
    private func mailbox(from: Int, to: Int, channel: Int) -> String { "\(groupKey):\(from)→\(to)/\(channel)" }

    /// Meets `peer` at the pair's next message (the sender's tensor stays valid until both leave).
    private func message(
        _ collective: String, peer: Int, input: Tensor?, output: Tensor?, work: ([Int: LocalWorld.Contribution]) throws -> Void
    ) throws {
        guard (0..<size).contains(peer), peer != rank else {
            throw ParallelError.invalidArgument(collective: collective, group: name, message: "peer \(peer) of \(size) members (this is \(rank))")
        }
        let call = calls.withLock { state -> Int in
            defer { state.messages[peer, default: 0] += 1 }
            return state.messages[peer, default: 0]
        }
        let (from, to) = input != nil ? (rank, peer) : (peer, rank)
        // Members 0 and 1 of the meeting are the sender and the receiver.
        try world.meet(key: "\(groupKey):\(from)→\(to)#\(call)", member: input != nil ? 0 : 1, expected: [members[from], members[to]],
                       collective: "send/receive", group: name, .init(input: input, output: output, arguments: []), work: work)
    }

    public func allToAll(_ input: Tensor, sendCounts: [Int], into output: Tensor, receiveCounts: [Int]) throws {
        try checkAllToAll(input, sendCounts: sendCounts, output, receiveCounts: receiveCounts)
        let element = input.dtype.byteSize
        var received = [UInt8](repeating: 0, count: receiveCounts.reduce(0, +) * element)
        let arguments = sendCounts + receiveCounts
        // Counts differ per member, so they are checked pairwise here rather than by `agree`.
        let call = calls.withLock { state -> Int in
            defer { state.collectives += 1 }
            return state.collectives
        }
        try world.meet(key: "\(groupKey)#\(call)", member: rank, expected: members, collective: "all-to-all", group: name,
                       .init(input: input, output: output, arguments: arguments)) { all in
            var offset = 0
            for peer in 0..<size {
                let theirs = all[peer]!
                let theirSend = Array(theirs.arguments[0..<size])
                guard theirSend[rank] == receiveCounts[peer], theirs.input!.dtype == input.dtype else {
                    throw ParallelError.mismatch(collective: "all-to-all", group: name,
                                                 message: "member \(peer) sends \(theirSend[rank]) elements to member \(rank), which expects \(receiveCounts[peer])")
                }
                let start = theirSend[..<rank].reduce(0, +)
                if receiveCounts[peer] > 0 { received.withUnsafeMutableBytes {
                    $0.baseAddress!.advanced(by: offset * element)
                        .copyMemory(from: theirs.input!.address.advanced(by: start * element), byteCount: receiveCounts[peer] * element)
                } }
                offset += receiveCounts[peer]
            }
        }
        try collective("all-to-all (write-back)", input: nil, output: nil) { _ in }
        copy(received, to: output.address)
    }

    /// Copies `bytes` to `destination` (nothing for an empty array, whose base address may be nil).
    private func copy(_ bytes: [UInt8], to destination: UnsafeMutableRawPointer) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    public func barrier() throws {
        try collective("barrier", input: nil, output: nil) { _ in }
    }
}
