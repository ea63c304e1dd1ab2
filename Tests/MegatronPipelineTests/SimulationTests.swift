import MegatronPipeline
import Testing

@Suite("Pipeline simulation")
struct SimulationTests {
    @Test("megatron-core's schedules run to the end on every rank", arguments: ScheduleFixtures.shared.cases)
    func fixtureSchedulesDoNotDeadlock(_ fixture: ScheduleFixtures.Case) throws {
        let schedules = try fixture.schedules()
        let run = try PipelineSimulation(schedules: schedules)
        #expect(run.events.count == schedules.reduce(0) { $0 + $1.actions.count })
    }

    /// A backward moved ahead of the exchange that brings its gradient: the data check fires.
    @Test func backwardBeforeItsGradientIsCaught() throws {
        var actions = try PipelineSchedule.allRanks(pipelineSize: 2, microbatches: 2).map(\.actions)
        let backward = try #require(actions[0].firstIndex { if case .backward = $0 { true } else { false } })
        actions[0].swapAt(backward, backward - 1)
        #expect(throws: PipelineSimulationError.self) { try PipelineSimulation(actions: actions, chunks: 1) }
    }

    /// Rank 1 receiving before it sends, while rank 0 also receives first: both wait forever.
    @Test func crossedReceivesDeadlock() throws {
        var actions = try PipelineSchedule.allRanks(pipelineSize: 2, microbatches: 1).map(\.actions)
        // Rank 0 waits for a gradient before sending its activation.
        let mb0 = VirtualMicrobatch(microbatch: 0, chunk: 0)
        actions[0] = [
            .forward(mb0),
            .exchange(PipelineExchange(receiveGradient: mb0)),
            .exchange(PipelineExchange(sendActivation: mb0)),
            .backward(mb0),
        ]
        let error = try #require(simulationError(actions, chunks: 1))
        guard case let .deadlock(blocked) = error else {
            Issue.record("expected a deadlock, got \(error)")
            return
        }
        #expect(blocked.map(\.rank) == [0, 1])
        #expect(error.description.hasPrefix("pipeline deadlock: rank 0 at step 1 waits on exchange(receive gradient mb 0 chunk 0)"))
    }

    /// Two schedules whose activation sends and receives disagree on the micro-batch.
    @Test func misroutedActivationIsCaught() throws {
        var actions = try PipelineSchedule.allRanks(pipelineSize: 2, microbatches: 2, forwardOnly: true).map(\.actions)
        actions[1] = actions[1].map { action -> PipelineAction in
            guard case var .exchange(x) = action, let work = x.receiveActivation else { return action }
            x.receiveActivation = VirtualMicrobatch(microbatch: 1 - work.microbatch, chunk: 0)
            return .exchange(x)
        }
        #expect(throws: PipelineSimulationError.self) { try PipelineSimulation(actions: actions, chunks: 1) }
    }

    @Test func schedulesForDifferentSettingsAreRefused() throws {
        let a = try PipelineSchedule(pipelineSize: 2, rank: 0, microbatches: 2)
        let b = try PipelineSchedule(pipelineSize: 2, rank: 1, microbatches: 4)
        #expect(throws: PipelineSimulationError.self) { try PipelineSimulation(schedules: [a, b]) }
        #expect(throws: PipelineSimulationError.self) { try PipelineSimulation(schedules: [a]) }
    }
}

/// The simulation's error, or nil when the schedules run to the end.
private func simulationError(_ actions: [[PipelineAction]], chunks: Int) -> PipelineSimulationError? {
    do {
        _ = try PipelineSimulation(actions: actions, chunks: chunks)
        return nil
    } catch {
        return error
    }
}
