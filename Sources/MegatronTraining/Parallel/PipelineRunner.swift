import MegatronModels
import MegatronParallel
import MegatronPipeline
import MegatronTensor

/// Runs one pipeline rank's schedule (Megatron's `forward_backward_func`) over the
/// micro-batches of a global batch: forwards and backwards of this rank's model chunks in the
/// schedule's order, with the activations and gradients exchanged with the neighbouring ranks
/// as it says. Activations travel on channel 0 and gradients on channel 1, so two ranks that are
/// each other's next and previous rank never confuse them.
///
///     let runner = PipelineRunner(model: model, schedule: try setup.pipelineSchedule(rank: pp.rank),
///                                 activationShape: [s, b, h], group: pipelineGroup)
///     let losses = try runner.run(batch: { try upload(loader.next()) }, dropoutSeed: { seed($0) }, gradientScale: 1 / m)
final class PipelineRunner {
    let model: GPTModel
    let schedule: PipelineSchedule
    /// `[s, b, h]` (`[s/tp, b, h]` under sequence parallelism): what stages pass each other.
    let activationShape: Shape
    /// The pipeline group: each exchange is one batched ``ProcessGroup/sendReceive(_:)`` on it.
    let group: any ProcessGroup
    /// The most micro-batches whose activations this rank held at once, over every run.
    private(set) var peakActivationsInFlight = 0

    init(model: GPTModel, schedule: PipelineSchedule, activationShape: Shape, group: any ProcessGroup) {
        self.model = model
        self.schedule = schedule
        self.activationShape = activationShape
        self.group = group
    }

    /// Runs the schedule. `batch(i)` gives micro-batch i (asked once per micro-batch, in order);
    /// `dropoutSeed(i)` its dropout seed (nil: none). `gradientsFinal` is told after each
    /// backward which gradients are complete (as ``GPTModel/backward(_:outputGradient:gradientScale:gradientsFinal:)``),
    /// during the last micro-batch's backwards only. Returns the losses of the micro-batches in
    /// order on the rank holding the head, and an empty list elsewhere.
    func run(batch: (Int) throws -> GPTBatch, dropoutSeed: (Int) -> UInt64?, gradientScale: Float,
             keepLogits: Bool = false, gradientsFinal: ((Int) throws -> Void)? = nil) throws -> [MicroBatchLoss] {
        var batches: [Int: GPTBatch] = [:]
        func microBatch(_ i: Int) throws -> GPTBatch {
            if let b = batches[i] { return b }
            // The schedule asks for micro-batches in increasing order: load each once.
            let b = try batch(i)
            batches[i] = b
            return b
        }
        var states: [VirtualMicrobatch: GPTModel.ForwardState] = [:]
        var inputs: [VirtualMicrobatch: Tensor] = [:], outputGradients: [VirtualMicrobatch: Tensor] = [:]
        var outputs: [VirtualMicrobatch: Tensor] = [:], inputGradients: [VirtualMicrobatch: Tensor] = [:]
        var losses: [Int: MicroBatchLoss] = [:]
        let lastMicroBatch = schedule.microbatches - 1
        let b = model.backend
        for action in schedule.actions {
            switch action {
            case let .forward(work):
                let state = try model.forward(chunk: work.chunk, try microBatch(work.microbatch), input: inputs.removeValue(forKey: work),
                                              dropoutSeed: dropoutSeed(work.microbatch), keepLogits: keepLogits)
                if let loss = state.lossValue { losses[work.microbatch] = loss }
                if let output = state.output { outputs[work] = output }
                if !schedule.forwardOnly {
                    states[work] = state
                    peakActivationsInFlight = max(peakActivationsInFlight, states.count)
                }
            case let .backward(work):
                guard let state = states.removeValue(forKey: work) else {
                    throw PipelineRunError.missing("the forward state of \(work)", rank: schedule.rank)
                }
                let final = work.microbatch == lastMicroBatch ? gradientsFinal : nil
                if let dx = try model.backward(state, outputGradient: outputGradients.removeValue(forKey: work),
                                               gradientScale: gradientScale, gradientsFinal: final) {
                    inputGradients[work] = dx
                }
            case let .exchange(e):
                var messages: [PointToPoint] = []
                if let w = e.sendActivation {
                    guard let t = outputs.removeValue(forKey: w) else { throw PipelineRunError.missing("the output of \(w)", rank: schedule.rank) }
                    messages.append(.send(t, to: schedule.nextRank, channel: 0))
                }
                if let w = e.sendGradient {
                    guard let t = inputGradients.removeValue(forKey: w) else {
                        throw PipelineRunError.missing("the input gradient of \(w)", rank: schedule.rank)
                    }
                    messages.append(.send(t, to: schedule.previousRank, channel: 1))
                }
                if let w = e.receiveActivation {
                    let t = try b.empty(activationShape, dtype: model.store.computeDType)
                    inputs[w] = t
                    messages.append(.receive(into: t, from: schedule.previousRank, channel: 0))
                }
                if let w = e.receiveGradient {
                    let t = try b.empty(activationShape, dtype: model.store.computeDType)
                    outputGradients[w] = t
                    messages.append(.receive(into: t, from: schedule.nextRank, channel: 1))
                }
                try group.sendReceive(messages)
            }
        }
        return losses.keys.sorted().map { losses[$0]! }
    }
}

/// A schedule that does not fit the model (a bug, not bad input: the schedules are checked).
enum PipelineRunError: Error, CustomStringConvertible {
    case missing(String, rank: Int)

    var description: String {
        switch self {
        case let .missing(what, rank): "pipeline rank \(rank): \(what) is not there when the schedule needs it"
        }
    }
}
