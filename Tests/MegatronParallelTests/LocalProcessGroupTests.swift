import MegatronCPU
import MegatronParallel
import MegatronTensor
import Synchronization
import Testing

@Suite("Local (thread) process groups")
struct LocalProcessGroupTests {
    /// Member m's random values (same on every call), uniform in [−1, 1).
    static func values(_ m: Int, _ n: Int, stream: UInt64 = 0) -> [Float] {
        let rng = Philox(seed: 99 + UInt64(m))
        return (0..<n).map { rng.uniform(UInt64($0), subsequence: stream) * 2 - 1 }
    }

    @Test(arguments: [1, 2, 3, 4, 8])
    func collectivesMatchASerialReference(size: Int) throws {
        let world = LocalWorld(size: size, timeout: 30)
        let n = 10
        let failures = Mutex<[String]>([])
        try world.run { rank in
            let b = CPUBackend()
            let g = try world.group(ranks: Array(0..<size), rank: rank, name: "world")
            func check(_ what: String, _ got: [Float], _ want: [Float]) {
                if got != want { failures.withLock { $0.append("\(what) on rank \(rank): \(got) ≠ \(want)") } }
            }
            // all-reduce sum and max, in member order
            let x = try b.tensor(Self.values(rank, n), shape: [n])
            try g.allReduce(x, op: .sum)
            check("sum", try b.download(x), (0..<n).map { i in (1..<size).reduce(Self.values(0, n)[i]) { $0 + Self.values($1, n)[i] } })
            let y = try b.tensor(Self.values(rank, n), shape: [n])
            try g.allReduce(y, op: .max)
            check("max", try b.download(y), (0..<n).map { i in (0..<size).map { Self.values($0, n)[i] }.max()! })
            // reduce-scatter: chunk `rank` of the sum
            let whole = try b.tensor(Self.values(rank, n * size, stream: 1), shape: [n * size])
            let part = try b.empty([n], dtype: .fp32)
            try g.reduceScatter(whole, into: part, op: .sum)
            check("reduce-scatter", try b.download(part), (0..<n).map { i in
                (1..<size).reduce(Self.values(0, n * size, stream: 1)[rank * n + i]) { $0 + Self.values($1, n * size, stream: 1)[rank * n + i] }
            })
            // all-gather in rank order
            let mine = try b.tensor(Self.values(rank, n, stream: 2), shape: [n])
            let all = try b.empty([n * size], dtype: .fp32)
            try g.allGather(mine, into: all)
            check("all-gather", try b.download(all), (0..<size).flatMap { Self.values($0, n, stream: 2) })
            // broadcast from the last member
            let z = try b.tensor(Self.values(rank, n, stream: 3), shape: [n])
            try g.broadcast(z, root: size - 1)
            check("broadcast", try b.download(z), Self.values(size - 1, n, stream: 3))
            // uneven all-to-all: member r sends (r + p) % 3 elements to member p (zero counts included)
            let send = (0..<size).map { (rank + $0) % 3 }, receive = (0..<size).map { ($0 + rank) % 3 }
            let input = try b.tensor(Self.values(rank, send.reduce(0, +), stream: 4), shape: [send.reduce(0, +)])
            let output = try b.empty([max(receive.reduce(0, +), 1)], dtype: .fp32)
            try g.allToAll(input, sendCounts: send, into: output, receiveCounts: receive)
            let expected = (0..<size).flatMap { p -> [Float] in
                let theirs = (0..<size).map { (p + $0) % 3 }
                let start = theirs[..<rank].reduce(0, +)
                return Array(Self.values(p, theirs.reduce(0, +), stream: 4)[start..<start + theirs[rank]])
            }
            check("all-to-all", Array(try b.download(output).prefix(expected.count)), expected)
            // send/receive around a ring
            if size > 1 {
                let out = try b.tensor(Self.values(rank, n, stream: 5), shape: [n]), into = try b.empty([n], dtype: .fp32)
                let next = (rank + 1) % size, previous = (rank + size - 1) % size
                if rank % 2 == 0 { try g.send(out, to: next); try g.receive(into: into, from: previous) }
                else { try g.receive(into: into, from: previous); try g.send(out, to: next) }
                check("ring", try b.download(into), Self.values(previous, n, stream: 5))
            }
            try g.barrier()
        }
        #expect(failures.withLock { $0 } == [])
    }

    @Test func overlappingGroupsWorkInInterleavedOrder() throws {
        let world = LocalWorld(size: 4, timeout: 30)
        let results = Mutex<[Int: [Float]]>([:])
        try world.run { rank in
            let b = CPUBackend()
            let tp = try world.group(ranks: rank < 2 ? [0, 1] : [2, 3], rank: rank, name: "tp")
            let dp = try world.group(ranks: rank % 2 == 0 ? [0, 2] : [1, 3], rank: rank, name: "dp")
            let x = try b.tensor([Float(rank + 1)], shape: [1])
            try tp.allReduce(x, op: .sum)   // {3, 3, 7, 7}
            try dp.allReduce(x, op: .sum)   // {10, 10, 10, 10}
            try tp.allReduce(x, op: .max)
            results.withLock { $0[rank] = try! b.download(x) }
        }
        #expect(results.withLock { $0 } == [0: [10], 1: [10], 2: [10], 3: [10]])
    }

    @Test func disagreementIsAMismatchOnEveryMember() throws {
        let world = LocalWorld(size: 2, timeout: 10)
        #expect(throws: ParallelError.self) {
            try world.run { rank in
                let b = CPUBackend()
                let g = try world.group(ranks: [0, 1], rank: rank, name: "dp")
                try g.allReduce(try b.zeros([rank == 0 ? 3 : 4]), op: .sum)
            }
        }
    }

    @Test func aMissingRankTimesOutByName() throws {
        let world = LocalWorld(size: 3, timeout: 0.3)
        let seen = Mutex<[String]>([])
        do {
            try world.run { rank in
                let b = CPUBackend()
                let g = try world.group(ranks: [0, 1, 2], rank: rank, name: "dp")
                guard rank != 2 else { return }   // rank 2 never arrives
                do { try g.allReduce(try b.zeros([2]), op: .sum) } catch { seen.withLock { $0.append("\(error)") }; throw error }
            }
            Issue.record("no timeout")
        } catch {}
        // The first waiter to time out names rank 2; the other may instead be stopped by it.
        let messages = seen.withLock { $0 }
        let timeout = "all-reduce on group dp: rank(s) 2 did not arrive within 0.3 s (--distributed-timeout-minutes)"
        #expect(messages.count == 2)
        #expect(messages.contains(timeout))
        #expect(messages.allSatisfy { $0 == timeout || $0.hasSuffix("failed: " + timeout) })
    }

    @Test func timeoutsNameWorldRanks() throws {
        let world = LocalWorld(size: 4, timeout: 0.3)
        let seen = Mutex<[String]>([])
        try? world.run { rank in
            let b = CPUBackend()
            guard rank % 2 == 1 else { return }
            let dp = try world.group(ranks: [1, 3], rank: rank, name: "dp")
            guard rank == 1 else { return }   // world rank 3 never arrives
            do { try dp.allReduce(try b.zeros([1]), op: .sum) } catch { seen.withLock { $0.append("\(error)") } }
        }
        #expect(seen.withLock { $0 } == ["all-reduce on group dp: rank(s) 3 did not arrive within 0.3 s (--distributed-timeout-minutes)"])
    }

    @Test func aFailingRankStopsTheOthers() throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
        let world = LocalWorld(size: 3, timeout: 30)
        let stopped = Mutex<[String]>([])
        do {
            try world.run { rank in
                let b = CPUBackend()
                let g = try world.group(ranks: [0, 1, 2], rank: rank, name: "tp")
                if rank == 1 { throw Boom() }
                do { try g.allReduce(try b.zeros([2]), op: .sum) } catch { stopped.withLock { $0.append("\(error)") }; throw error }
            }
            Issue.record("the failure did not propagate")
        } catch {
            #expect("\(error)" == "boom")
        }
        #expect(stopped.withLock { $0 }.sorted() == ["all-reduce on group tp: rank 1 failed: boom", "all-reduce on group tp: rank 1 failed: boom"])
    }
}
