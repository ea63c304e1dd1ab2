import MegatronCPU
import MegatronParallel
import MegatronTensor
import MegatronTraining
import Synchronization
import Testing

@Suite("Process groups of a parallel layout")
struct ParallelGroupsTests {
    /// Every rank's groups (as world ranks) and the requests `make` got, without running anything.
    struct Built {
        var groups: [ParallelGroups] = []
        var requests: [[ParallelGroups.Request]] = []

        func members(_ kind: KeyPath<ParallelGroups, (any ProcessGroup)?>) -> [[Int]?] {
            groups.map { ($0[keyPath: kind] as? LocalProcessGroup)?.members }
        }
    }

    static func build(_ layout: ParallelConfig) throws -> Built {
        let world = LocalWorld(size: layout.worldSize, timeout: 1)
        var built = Built()
        for rank in 0..<layout.worldSize {
            var requests: [ParallelGroups.Request] = []
            built.groups.append(try ParallelGroups(layout, rank: rank) { request in
                requests.append(request)
                return try request.members.map { try world.group(ranks: $0, rank: rank, name: request.name) }
            })
            built.requests.append(requests)
        }
        return built
    }

    /// Every rank is asked for the same kinds in the same order (collective creation), and the
    /// members of one group agree on its members and color.
    static func expectCollective(_ built: Built, _ names: [String]) {
        for requests in built.requests {
            #expect(requests.map(\.name) == names)
            #expect(requests.map(\.pointToPointChannels) == names.map { $0 == "pp" ? 2 : 1 })
        }
        for (i, name) in names.enumerated() {
            var colors: [[Int]: Int] = [:]
            for requests in built.requests {
                guard let members = requests[i].members, let color = requests[i].color else { continue }
                #expect(colors[members, default: color] == color, "\(name) \(members)")
                colors[members] = color
            }
            #expect(Set(colors.values).count == colors.count, "\(name): one color per group")
        }
    }

    /// 8 ranks, tp 2 × pp 2 × dp 2. Megatron's order tp-cp-ep-dp-pp: rank = tp + 2·dp + 4·pp.
    @Test func eightRanksTensor2Pipeline2Data2() throws {
        let built = try Self.build(try ParallelConfig(worldSize: 8, tensor: 2, pipeline: 2))
        let tp: [[Int]] = [[0, 1], [0, 1], [2, 3], [2, 3], [4, 5], [4, 5], [6, 7], [6, 7]]
        let dp: [[Int]] = [[0, 2], [1, 3], [0, 2], [1, 3], [4, 6], [5, 7], [4, 6], [5, 7]]
        let pp: [[Int]] = [[0, 4], [1, 5], [2, 6], [3, 7], [0, 4], [1, 5], [2, 6], [3, 7]]
        let mp: [[Int]] = [[0, 1, 4, 5], [0, 1, 4, 5], [2, 3, 6, 7], [2, 3, 6, 7], [0, 1, 4, 5], [0, 1, 4, 5], [2, 3, 6, 7], [2, 3, 6, 7]]
        #expect(built.members(\.tensor) == tp)
        #expect(built.members(\.data) == dp)
        #expect(built.members(\.pipeline) == pp)
        // Two stages: first and last are the whole pipeline, and the pipeline group serves.
        #expect(built.members(\.embedding) == pp)
        #expect(built.groups.allSatisfy { $0.embedding === $0.pipeline })
        #expect(built.members(\.modelParallel) == mp)
        // Stage = the pipeline group's rank.
        #expect(built.groups.map { $0.pipeline?.rank } == [0, 0, 0, 0, 1, 1, 1, 1])
        Self.expectCollective(built, ["tp", "dp", "pp", "mp", "world"])
    }

    /// 8 ranks, pp 4 × dp 2 (no tensor parallelism): rank = dp + 2·pp. The embedding group is
    /// the first and last stage; the middle stages are in none but are still asked.
    @Test func eightRanksPipeline4Data2() throws {
        let built = try Self.build(try ParallelConfig(worldSize: 8, pipeline: 4))
        let pp: [[Int]] = [[0, 2, 4, 6], [1, 3, 5, 7], [0, 2, 4, 6], [1, 3, 5, 7], [0, 2, 4, 6], [1, 3, 5, 7], [0, 2, 4, 6], [1, 3, 5, 7]]
        #expect(built.members(\.tensor) == Array(repeating: nil, count: 8))
        #expect(built.members(\.data) == [[0, 1], [0, 1], [2, 3], [2, 3], [4, 5], [4, 5], [6, 7], [6, 7]])
        #expect(built.members(\.pipeline) == pp)
        #expect(built.members(\.embedding) == [[0, 6], [1, 7], nil, nil, nil, nil, [0, 6], [1, 7]])
        // Model parallel = the pipeline group without tensor parallelism.
        #expect(built.members(\.modelParallel) == pp)
        #expect(built.groups.allSatisfy { $0.modelParallel === $0.pipeline })
        #expect(built.groups.map { $0.pipeline?.rank } == [0, 0, 1, 1, 2, 2, 3, 3])
        #expect(built.requests.map { $0.first { $0.name == "embedding" }?.members } == [[0, 6], [1, 7], nil, nil, nil, nil, [0, 6], [1, 7]])
        #expect(built.requests.map { $0.first { $0.name == "embedding" }?.color } == [0, 1, nil, nil, nil, nil, 0, 1])
        Self.expectCollective(built, ["dp", "pp", "embedding", "world"])
    }

    /// 8 ranks, tp 2 × pp 4: rank = tp + 2·pp; the model-parallel group is the world.
    @Test func eightRanksTensor2Pipeline4() throws {
        let built = try Self.build(try ParallelConfig(worldSize: 8, tensor: 2, pipeline: 4))
        #expect(built.members(\.pipeline) == (0..<8).map { $0 % 2 == 0 ? [0, 2, 4, 6] : [1, 3, 5, 7] })
        #expect(built.members(\.embedding) == [[0, 6], [1, 7], nil, nil, nil, nil, [0, 6], [1, 7]])
        #expect(built.members(\.modelParallel) == Array(repeating: Array(0..<8), count: 8))
        #expect(built.members(\.data) == Array(repeating: nil, count: 8))
        // The world is the model-parallel group here: reused, not asked for again.
        Self.expectCollective(built, ["tp", "pp", "embedding", "mp"])
        #expect(built.groups.allSatisfy { $0.world === $0.modelParallel })
    }

    /// Without pipeline parallelism: no pipeline or embedding group, and the model-parallel group
    /// is the tensor-parallel one.
    @Test func noPipeline() throws {
        let built = try Self.build(try ParallelConfig(worldSize: 4, tensor: 2))
        #expect(built.members(\.pipeline) == Array(repeating: nil, count: 4))
        #expect(built.members(\.embedding) == Array(repeating: nil, count: 4))
        #expect(built.members(\.modelParallel) == [[0, 1], [0, 1], [2, 3], [2, 3]])
        #expect(built.groups.allSatisfy { $0.modelParallel === $0.tensor })
        Self.expectCollective(built, ["tp", "dp", "world"])
        #expect(built.members(\.world) == Array(repeating: Array(0..<4), count: 4))
        let single = try Self.build(try ParallelConfig(worldSize: 1))
        #expect(single.requests == [[]])
    }

    /// The groups work: on tp 2 × pp 2 × dp 2 threads each stage sends its activation forward and
    /// its gradient back on the pipeline group in one batch, and the embedding group sums.
    @Test func pipelineNeighboursExchangeOverTheGroups() throws {
        let layout = try ParallelConfig(worldSize: 8, tensor: 2, pipeline: 2)
        let world = LocalWorld(size: 8, timeout: 30)
        let got = Mutex<[Int: [Float]]>([:])
        try world.run { rank in
            let b = CPUBackend()
            let groups = try ParallelGroups(layout, rank: rank) { request in
                try request.members.map { try world.group(ranks: $0, rank: rank, name: request.name) }
            }
            let pp = try #require(groups.pipeline)
            let other = 1 - pp.rank
            let mine = try b.tensor([Float(rank)], shape: [1]), theirs = try b.empty([1], dtype: .fp32)
            let grad = try b.tensor([Float(100 + rank)], shape: [1]), theirGrad = try b.empty([1], dtype: .fp32)
            try pp.sendReceive([.send(mine, to: other, channel: 0), .send(grad, to: other, channel: 1),
                                .receive(into: theirGrad, from: other, channel: 1), .receive(into: theirs, from: other, channel: 0)])
            let sum = try b.tensor([Float(rank)], shape: [1])
            try #require(groups.embedding).allReduce(sum, op: .sum)
            got.withLock { $0[rank] = try! b.download(theirs) + b.download(theirGrad) + b.download(sum) }
        }
        // Rank r's pipeline peer is r ± 4.
        let expected = (0..<8).map { r -> [Float] in
            let peer = r < 4 ? r + 4 : r - 4
            return [Float(peer), Float(100 + peer), Float(r + peer)]
        }
        #expect((0..<8).map { got.withLock { $0 }[$0] } == expected)
    }

    /// `bench`'s per-rank figures (peak memory): every rank gets every rank's value, in rank order.
    @Test func benchmarkGathersOneValuePerRank() throws {
        let world = LocalWorld(size: 4, timeout: 30)
        let got = Mutex<[Int: [Double]]>([:])
        try world.run { rank in
            let group = try world.group(ranks: Array(0..<4), rank: rank, name: "world")
            let values = try Benchmark.gathered(1.5 * Double(rank + 1), over: group, backend: CPUBackend())
            got.withLock { $0[rank] = values }
        }
        for rank in 0..<4 { #expect(got.withLock { $0[rank] } == [1.5, 3, 4.5, 6]) }
    }
}
