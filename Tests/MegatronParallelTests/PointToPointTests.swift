import MegatronCPU
import MegatronParallel
import MegatronTensor
import Synchronization
import Testing

@Suite("Batched point-to-point exchanges (thread ranks)")
struct PointToPointTests {
    static func values(_ m: Int, _ n: Int, stream: UInt64) -> [Float] {
        LocalProcessGroupTests.values(m, n, stream: stream)
    }

    /// Every rank posts its sends before its receives in one batch, to both neighbours of a ring
    /// (activations forward on channel 0, gradients backward on channel 1), three rounds in a row:
    /// with rendezvous sends every rank would wait on its first send forever.
    @Test(arguments: [2, 4])
    func ringNeighboursSendThenReceiveInOneBatch(size: Int) throws {
        let world = LocalWorld(size: size, timeout: 30)
        let n = 6
        let failures = Mutex<[String]>([])
        try world.run { rank in
            let b = CPUBackend()
            let pp = try world.group(ranks: Array(0..<size), rank: rank, name: "pp")
            let next = (rank + 1) % size, previous = (rank + size - 1) % size
            for round in 0..<3 {
                let activation = try b.tensor(Self.values(rank, n, stream: UInt64(2 * round)), shape: [2, 3])
                let gradient = try b.tensor(Self.values(rank, n, stream: UInt64(2 * round + 1)), shape: [2, 3])
                let input = try b.empty([2, 3], dtype: .fp32), outputGradient = try b.empty([2, 3], dtype: .fp32)
                try pp.sendReceive([
                    .send(activation, to: next, channel: 0), .send(gradient, to: previous, channel: 1),
                    .receive(into: input, from: previous, channel: 0), .receive(into: outputGradient, from: next, channel: 1),
                ])
                if try b.download(input) != Self.values(previous, n, stream: UInt64(2 * round)) {
                    failures.withLock { $0.append("rank \(rank) round \(round): activation") }
                }
                if try b.download(outputGradient) != Self.values(next, n, stream: UInt64(2 * round + 1)) {
                    failures.withLock { $0.append("rank \(rank) round \(round): gradient") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }

    /// Pipeline size 2: stage 0 sends an activation and then a gradient to stage 1 in one batch
    /// (and two activations in a row); stage 1 takes the gradient first and the activations
    /// afterwards, in separate batches. Each channel keeps its own order, and a batch that
    /// receives before it sends (stage 1's last) waits only for its own message.
    @Test func channelsKeepActivationsAndGradientsApartBetweenTheSamePeers() throws {
        let world = LocalWorld(size: 2, timeout: 30)
        let n = 5
        let received = Mutex<[String: [Float]]>([:])
        try world.run { rank in
            let b = CPUBackend()
            let pp = try world.group(ranks: [0, 1], rank: rank, name: "pp")
            if rank == 0 {
                let a1 = try b.tensor(Self.values(0, n, stream: 10), shape: [n])
                let a2 = try b.tensor(Self.values(0, n, stream: 11), shape: [n])
                let g = try b.tensor(Self.values(0, n, stream: 12), shape: [n])
                try pp.sendReceive([.send(a1, to: 1, channel: 0), .send(g, to: 1, channel: 1), .send(a2, to: 1, channel: 0)])
                let back = try b.empty([n], dtype: .fp32)
                try pp.sendReceive([.receive(into: back, from: 1, channel: 1)])
                received.withLock { $0["back"] = try! b.download(back) }
            } else {
                let g = try b.empty([n], dtype: .fp32), a1 = try b.empty([n], dtype: .fp32), a2 = try b.empty([n], dtype: .fp32)
                try pp.sendReceive([.receive(into: g, from: 0, channel: 1)])
                try pp.sendReceive([.receive(into: a1, from: 0, channel: 0)])
                let back = try b.tensor(Self.values(1, n, stream: 13), shape: [n])
                try pp.sendReceive([.receive(into: a2, from: 0, channel: 0), .send(back, to: 0, channel: 1)])
                received.withLock {
                    $0["gradient"] = try! b.download(g)
                    $0["activation 1"] = try! b.download(a1)
                    $0["activation 2"] = try! b.download(a2)
                }
            }
        }
        let got = received.withLock { $0 }
        #expect(got["gradient"] == Self.values(0, n, stream: 12))
        #expect(got["activation 1"] == Self.values(0, n, stream: 10))
        #expect(got["activation 2"] == Self.values(0, n, stream: 11))
        #expect(got["back"] == Self.values(1, n, stream: 13))
    }

    /// The receiver names the sender (member and world rank), both shapes and dtypes.
    @Test(arguments: [(Shape([4]), DType.fp32, "[4] fp32"), (Shape([2, 3]), DType.fp32, "[2, 3] fp32"), (Shape([3]), DType.int32, "[3] int32")])
    func aMismatchNamesThePeer(sent: Shape, dtype: DType, what: String) throws {
        let world = LocalWorld(size: 4, timeout: 30)
        let errors = Mutex<[Int: String]>([:])
        try? world.run { rank in
            guard rank == 1 || rank == 3 else { return }
            let b = CPUBackend()
            let pp = try world.group(ranks: [1, 3], rank: rank, name: "pp")
            do {
                if rank == 1 {
                    try pp.sendReceive([.send(try b.zeros(sent, dtype: dtype), to: 1, channel: 1)])
                } else {
                    try pp.sendReceive([.receive(into: try b.empty([3], dtype: .fp32), from: 0, channel: 1)])
                }
            } catch {
                errors.withLock { $0[rank] = "\(error)" }
                throw error
            }
        }
        #expect(errors.withLock { $0 } == [
            3: "send/receive (channel 1) on group pp: members disagree: member 0 (rank 1) sent \(what), member 1 (rank 3) receives [3] fp32",
        ])
    }

    @Test func aPeerThatNeverPostsTimesOutByWorldRank() throws {
        let world = LocalWorld(size: 4, timeout: 0.3)
        let seen = Mutex<[String]>([])
        try? world.run { rank in
            guard rank == 0 || rank == 2 else { return }
            let b = CPUBackend()
            let pp = try world.group(ranks: [0, 2], rank: rank, name: "pp")
            guard rank == 0 else { return }   // world rank 2 never sends
            do {
                try pp.sendReceive([.send(try b.zeros([2]), to: 1, channel: 0), .receive(into: try b.empty([2], dtype: .fp32), from: 1, channel: 1)])
            } catch { seen.withLock { $0.append("\(error)") } }
        }
        #expect(seen.withLock { $0 } == ["send/receive (channel 1) on group pp: rank(s) 2 did not arrive within 0.3 s (--distributed-timeout-minutes)"])
    }

    @Test func aFailedPeerStopsAWaitingReceive() throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
        let world = LocalWorld(size: 2, timeout: 30)
        let seen = Mutex<[String]>([])
        do {
            try world.run { rank in
                let b = CPUBackend()
                let pp = try world.group(ranks: [0, 1], rank: rank, name: "pp")
                if rank == 1 { throw Boom() }
                do { try pp.sendReceive([.receive(into: try b.empty([2], dtype: .fp32), from: 1)]) } catch {
                    seen.withLock { $0.append("\(error)") }
                    throw error
                }
            }
            Issue.record("the failure did not propagate")
        } catch {
            #expect("\(error)" == "boom")
        }
        #expect(seen.withLock { $0 } == ["send/receive (channel 0) on group pp: rank 1 failed: boom"])
    }

    @Test func badPeersAndChannelsAreRefusedBeforeAnythingIsPosted() throws {
        let world = LocalWorld(size: 2, timeout: 1)
        let b = CPUBackend()
        let pp = try world.group(ranks: [0, 1], rank: 0, name: "pp")
        let t = try b.zeros([2])
        func message(_ ops: [PointToPoint]) -> String {
            do { try pp.sendReceive(ops); return "accepted" } catch { return "\(error)" }
        }
        #expect(message([.send(t, to: 0)]) == "send/receive on group pp: peer 0 of 2 members (this is 0) in send to member 0 on channel 0 ([2] fp32)")
        #expect(message([.send(t, to: 2)]) == "send/receive on group pp: peer 2 of 2 members (this is 0) in send to member 2 on channel 0 ([2] fp32)")
        #expect(message([.receive(into: t, from: 1, channel: 2)])
            == "send/receive on group pp: channel 2 is not one of 0..<2 in receive from member 1 on channel 2 ([2] fp32)")
        #expect(message([]) == "accepted")
    }
}
