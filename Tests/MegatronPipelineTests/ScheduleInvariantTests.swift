import MegatronPipeline
import Testing

/// Properties every schedule must have, checked on the fixture cases and on a wider grid that
/// megatron-core was not run on.
@Suite("Schedule invariants")
struct ScheduleInvariantTests {
    /// (pp, m, v, group or nil) beyond the fixtures; all valid for Megatron's checks.
    static let grid: [(Int, Int, Int, Int?)] = {
        var grid: [(Int, Int, Int, Int?)] = []
        for pp in 1...8 { for m in [1, 2, 3, 5, 7, 8, 13, 16] { grid.append((pp, m, 1, nil)) } }
        for pp in 2...8 {
            for v in 2...4 {
                for multiple in 1...3 { grid.append((pp, pp * multiple, v, nil)) }
                grid.append((pp, 2 * pp + pp, v, 2 * pp))       // last group of pp
                grid.append((pp, 3 * pp, v, 3 * pp))            // one group: breadth-first
            }
        }
        return grid
    }()

    static func allSchedules() throws -> [[PipelineSchedule]] {
        var all = try ScheduleFixtures.shared.cases.map { try $0.schedules() }
        for (pp, m, v, group) in grid {
            for forwardOnly in [false, true] {
                all.append(try PipelineSchedule.allRanks(pipelineSize: pp, microbatches: m, chunks: v,
                                                         microbatchGroupSize: group, forwardOnly: forwardOnly))
            }
        }
        return all
    }

    @Test func everyForwardHasOneBackwardAfterIt() throws {
        for ranks in try Self.allSchedules() {
            for schedule in ranks {
                var forwards: [VirtualMicrobatch: Int] = [:], backwards: [VirtualMicrobatch: Int] = [:]
                for (index, action) in schedule.actions.enumerated() {
                    switch action {
                    case let .forward(work):
                        #expect(forwards.updateValue(index, forKey: work) == nil, "forward of \(work) twice")
                    case let .backward(work):
                        #expect(backwards.updateValue(index, forKey: work) == nil, "backward of \(work) twice")
                        #expect((forwards[work] ?? .max) < index, "backward of \(work) before its forward")
                    case .exchange: break
                    }
                }
                let expected = Set((0..<schedule.microbatches).flatMap { mb in
                    (0..<schedule.chunks).map { VirtualMicrobatch(microbatch: mb, chunk: $0) }
                })
                #expect(Set(forwards.keys) == expected)
                #expect(Set(backwards.keys) == (schedule.forwardOnly ? [] : expected))
            }
        }
    }

    @Test func eachChunkRunsItsMicrobatchesInOrder() throws {
        for ranks in try Self.allSchedules() {
            for schedule in ranks {
                for chunk in 0..<schedule.chunks {
                    let forwards = schedule.actions.compactMap { if case let .forward(w) = $0, w.chunk == chunk { w.microbatch } else { nil } }
                    let backwards = schedule.actions.compactMap { if case let .backward(w) = $0, w.chunk == chunk { w.microbatch } else { nil } }
                    #expect(forwards == Array(0..<schedule.microbatches))
                    #expect(backwards == (schedule.forwardOnly ? [] : Array(0..<schedule.microbatches)))
                }
            }
        }
    }

    @Test func activationsInFlightStayWithinTheWarmupBound() throws {
        for ranks in try Self.allSchedules() {
            for s in ranks {
                let total = s.microbatches * s.chunks
                let expected = switch (s.forwardOnly, s.kind) {
                case (true, _): 1
                case (false, .noPipelining): 1
                case (false, .oneForwardOneBackward): min(s.pipelineSize - s.rank, s.microbatches)
                case (false, .interleaved): min(s.warmupForwards + 1, total)
                }
                #expect(s.maxActivationsInFlight == expected, "rank \(s.rank) pp \(s.pipelineSize) m \(s.microbatches) v \(s.chunks)")
                if !s.forwardOnly && s.kind == .interleaved {
                    let group = s.microbatchGroupSize
                    #expect(s.warmupForwards == min((s.pipelineSize - s.rank - 1) * 2 + (s.chunks - 1) * group, total))
                }
            }
        }
    }

    @Test func stagesRunInModelOrderInTheSimulation() throws {
        for ranks in try Self.allSchedules() {
            let pp = ranks[0].pipelineSize
            let run = try PipelineSimulation(schedules: ranks)
            // Position of each (kind, micro-batch, virtual stage) in the simulated global order.
            var forwardAt: [VirtualMicrobatch: Int] = [:], backwardAt: [VirtualMicrobatch: Int] = [:]
            for (index, event) in run.events.enumerated() {
                switch event.action {
                case let .forward(w): forwardAt[VirtualMicrobatch(microbatch: w.microbatch, chunk: w.chunk * pp + event.rank)] = index
                case let .backward(w): backwardAt[VirtualMicrobatch(microbatch: w.microbatch, chunk: w.chunk * pp + event.rank)] = index
                case .exchange: break
                }
            }
            let stages = pp * ranks[0].chunks
            for mb in 0..<ranks[0].microbatches {
                for stage in 0..<(stages - 1) {
                    let here = VirtualMicrobatch(microbatch: mb, chunk: stage), there = VirtualMicrobatch(microbatch: mb, chunk: stage + 1)
                    #expect(forwardAt[here]! < forwardAt[there]!, "forward of mb \(mb) stage \(stage) after stage \(stage + 1)")
                    if !ranks[0].forwardOnly {
                        #expect(backwardAt[there]! < backwardAt[here]!, "backward of mb \(mb) stage \(stage + 1) after stage \(stage)")
                    }
                }
                if !ranks[0].forwardOnly {
                    let last = VirtualMicrobatch(microbatch: mb, chunk: stages - 1)
                    #expect(forwardAt[last]! < backwardAt[last]!)
                }
            }
        }
    }

    @Test func interleavedScheduleTableFollowsTheGroupSize() throws {
        // megatron-core's docstring: PP 2, VP 2, group 3, 5 micro-batches:
        // micro-batches 0 1 2 0 1 2 3 4 3 4 on chunks 0 0 0 1 1 1 0 0 1 1.
        let schedule = try PipelineSchedule(pipelineSize: 2, rank: 0, microbatches: 5, chunks: 2,
                                            microbatchGroupSize: 3, forwardOnly: true)
        let forwards = schedule.actions.compactMap { if case let .forward(w) = $0 { "\(w.microbatch)/\(w.chunk)" } else { nil } }
        #expect(forwards == ["0/0", "1/0", "2/0", "0/1", "1/1", "2/1", "3/0", "4/0", "3/1", "4/1"])
    }
}
