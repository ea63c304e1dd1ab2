import MegatronPipeline
import Testing

@Suite("Schedules equal megatron-core's")
struct ScheduleFixtureTests {
    static let cases = ScheduleFixtures.shared.cases

    @Test("every rank's steps, warm-up and in-flight count", arguments: cases)
    func matchesMegatron(_ fixture: ScheduleFixtures.Case) throws {
        let schedules = try fixture.schedules()
        #expect(schedules.count == fixture.ranks.count)
        for (schedule, expected) in zip(schedules, fixture.ranks) {
            let actual = schedule.actions.map(fixtureNotation)
            let megatron = expected.actions.filter { $0 != emptyExchange }
            #expect(actual == megatron, "rank \(expected.rank) of \(fixture)")
            #expect(schedule.warmupForwards == expected.warmup, "rank \(expected.rank) of \(fixture)")
            #expect(schedule.maxActivationsInFlight == expected.max_in_flight, "rank \(expected.rank) of \(fixture)")
            let kind: PipelineSchedule.Kind = switch fixture.function {
            case "forward_backward_no_pipelining": .noPipelining
            case "forward_backward_pipelining_without_interleaving": .oneForwardOneBackward
            default: .interleaved
            }
            #expect(schedule.kind == kind)
        }
    }

    @Test("the fixtures cover the asked-for grid")
    func coverage() {
        let cases = Self.cases
        #expect(ScheduleFixtures.shared.megatron_core == "0.16.1")
        for pp in [2, 4] {
            for m in [1, 2, 4, 6, 8] {
                #expect(cases.contains { $0.pp == pp && $0.microbatches == m && $0.chunks == 1 })
            }
        }
        #expect(cases.contains { $0.chunks == 2 && $0.pp == 4 })
        #expect(cases.contains { $0.chunks == 3 && $0.pp == 4 })
        #expect(cases.contains { !$0.group_is_default })
        #expect(cases.contains { $0.forward_only && $0.chunks > 1 })
    }

    @Test("micro-batch counts megatron-core refuses are refused", arguments: ScheduleFixtures.shared.errors)
    func refusesWhatMegatronRefuses(_ failure: ScheduleFixtures.Failure) {
        #expect(throws: PipelineError.self, "\(failure.megatron_error)") {
            try PipelineSchedule(pipelineSize: failure.pp, rank: 0, microbatches: failure.microbatches,
                                 chunks: failure.chunks, microbatchGroupSize: failure.group,
                                 forwardOnly: failure.forward_only)
        }
    }
}

extension ScheduleFixtures.Case: CustomTestStringConvertible {
    var testDescription: String { description }
}

extension ScheduleFixtures.Failure: CustomTestStringConvertible {
    var testDescription: String { "pp \(pp) m \(microbatches) v \(chunks) group \(group)" }
}

@Suite("Schedule errors")
struct ScheduleErrorTests {
    private func message(_ build: () throws(PipelineError) -> PipelineSchedule) -> String {
        do {
            _ = try build()
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func errorsNameTheConstraintAndTheNumbers() {
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 4, rank: 0, microbatches: 6, chunks: 2) }
            == "6 micro-batches in groups of 4 leave a last group of 2; it must be 0 or at least the pipeline size 4, otherwise the interleaved schedule stalls on dependency bubbles")
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 4, rank: 0, microbatches: 2, chunks: 2) }
            == "--microbatch-group-size-per-virtual-pipeline-stage 4 must lie in [pipeline size 4, micro-batches 2] (the interleaved schedule needs at least 4 micro-batches; got 2)")
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 4, rank: 0, microbatches: 8, chunks: 2, microbatchGroupSize: 3) }
            == "--microbatch-group-size-per-virtual-pipeline-stage 3 must lie in [pipeline size 4, micro-batches 8]")
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 4, rank: 4, microbatches: 8) }
            == "pipeline rank 4 is outside 0..<4")
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 4, rank: 0, microbatches: 0) }
            == "number of micro-batches must be at least 1 (got 0)")
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 1, rank: 0, microbatches: 4, chunks: 2) }
            == "2 virtual stages per pipeline rank (the interleaved schedule) need --pipeline-model-parallel-size greater than 1 (got 1)")
        #expect(message { () throws(PipelineError) in try PipelineSchedule(pipelineSize: 0, rank: 0, microbatches: 4) }
            == "--pipeline-model-parallel-size must be at least 1 (got 0)")
    }

    /// The 1F1B schedule takes any micro-batch count, even fewer than stages.
    @Test func oneForwardOneBackwardTakesAnyMicrobatchCount() throws {
        for m in 1...3 {
            let schedules = try PipelineSchedule.allRanks(pipelineSize: 4, microbatches: m)
            #expect(schedules.map(\.warmupForwards) == (0..<4).map { min(4 - $0 - 1, m) })
        }
    }
}
