import MegatronParallel
import Testing

@Suite("Megatron's rank layout")
struct RankGeneratorTests {
    /// Megatron's own example (parallel_state.initialize_model_parallel's docstring): 16 GPUs,
    /// tensor parallel 2, pipeline parallel 4, hence data parallel 2.
    @Test func megatronsSixteenGPUExample() throws {
        let layout = try ParallelConfig(worldSize: 16, tensor: 2, pipeline: 4)
        #expect(layout.dataParallel == 2)
        let r = layout.ranks
        #expect(r.groups([.tp]) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15]])
        #expect(r.groups([.pp]) == [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]])
        #expect(r.groups([.dp]) == [[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9, 11], [12, 14], [13, 15]])
        #expect(r.groups([.tp, .pp]) == [[0, 1, 4, 5, 8, 9, 12, 13], [2, 3, 6, 7, 10, 11, 14, 15]])   // model parallel
        #expect(r.embeddingGroups() == [[0, 12], [1, 13], [2, 14], [3, 15]])
        #expect(r.group([.dp], containing: 5) == [5, 7])
    }

    /// Coordinates of `rank` with tp fastest, then cp, ep, dp, pp (Megatron's order).
    static func coordinates(_ rank: Int, _ sizes: [Int]) -> [Int] {
        var rest = rank
        return sizes.map { s in defer { rest /= s }; return rest % s }
    }

    /// Every factorisation of several world sizes: each group of a dimension set must be exactly
    /// the ranks sharing every other coordinate, ordered with the first chosen dimension fastest.
    @Test func groupsAreTheRanksSharingEveryOtherCoordinate() throws {
        let all: [ParallelDimension] = [.tp, .cp, .ep, .dp, .pp]
        let dimensionSets: [Set<ParallelDimension>] = [[.tp], [.cp], [.ep], [.dp], [.pp], [.tp, .pp], [.tp, .cp], [.dp, .cp], [.tp, .dp, .cp], [.tp, .dp]]
        for world in [1, 2, 6, 8, 12, 16, 24, 64] {
            for tp in 1...world where world % tp == 0 {
                for cp in [1, 2] where (world / tp) % cp == 0 {
                    for pp in 1...(world / tp / cp) where (world / tp / cp) % pp == 0 {
                        let dp = world / tp / cp / pp
                        let sizes = [tp, cp, 1, dp, pp]
                        let layout = try RankGenerator(tp: tp, cp: cp, ep: 1, dp: dp, pp: pp)
                        for dims in dimensionSets {
                            let chosen = all.indices.filter { dims.contains(all[$0]) }
                            var expected: [[Int]: [Int]] = [:]   // other coordinates → ranks, in rank order
                            for rank in 0..<world {
                                let c = Self.coordinates(rank, sizes)
                                expected[all.indices.filter { !chosen.contains($0) }.map { c[$0] }, default: []].append(rank)
                            }
                            let groups = layout.groups(dims)
                            #expect(Set(groups.map { Set($0) }) == Set(expected.values.map { Set($0) }),
                                    "world \(world) tp \(tp) cp \(cp) pp \(pp) dims \(dims)")
                            // Within a group, the first chosen dimension varies fastest.
                            for g in groups where g.count > 1 {
                                let first = chosen.first { sizes[$0] > 1 }
                                if let first {
                                    #expect(Self.coordinates(g[1], sizes)[first] == 1, "order of \(g) for \(dims)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func badLayoutsAreNamedBeforeAnythingRuns() throws {
        func message(_ body: () throws -> ParallelConfig) -> String {
            do { _ = try body(); return "accepted" } catch { return "\(error)" }
        }
        #expect(message { try ParallelConfig(worldSize: 6, tensor: 4) }
            == "6 ranks are not divisible by 4 = --tensor-model-parallel-size 4 × --pipeline-model-parallel-size 1 × --context-parallel-size 1")
        #expect(message { try ParallelConfig(worldSize: 8, tensor: 0) } == "--tensor-model-parallel-size must be at least 1 (got 0)")
        #expect(message { try ParallelConfig(worldSize: 8, tensor: 2, expert: 3) }.hasPrefix("4 ranks are not divisible by 3 = --expert-model-parallel-size 3"))
        #expect(message { try ParallelConfig(worldSize: 4, tensor: 8) }.hasPrefix("4 ranks are not divisible by 8"))
        // Megatron drops sequence parallelism without tensor parallelism.
        #expect(try ParallelConfig(worldSize: 4, sequenceParallel: true).sequenceParallel == false)
        #expect(try ParallelConfig(worldSize: 4, tensor: 2, sequenceParallel: true).sequenceParallel == true)
    }
}
