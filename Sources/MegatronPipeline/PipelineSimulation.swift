/// Runs every rank's schedule together, deterministically, without tensors: proof that the
/// schedules fit each other before any GPU time is spent. Exchanges follow rendezvous
/// semantics, the strictest a real transport has: a send completes only when the peer has
/// posted the matching receive, and an exchange ends when all its parts have completed
/// (buffered sends can only make more progress, so a schedule that finishes here cannot hang
/// on NCCL). Activations and gradients travel on separate channels. Along the way it checks
/// that each message carries what the receiver expects, that every forward has its input and
/// every backward its forward and output gradient, and that nothing received is left unused.
///
///     let schedules = try PipelineSchedule.allRanks(pipelineSize: 4, microbatches: 8, chunks: 2)
///     let run = try PipelineSimulation(schedules: schedules)
///     run.events.first   // rank 0: forward(mb 0 chunk 0)
public struct PipelineSimulation: Sendable {
    /// One finished step: `rank` completed `action`.
    public struct Event: Hashable, Sendable, CustomStringConvertible {
        public let rank: Int
        public let action: PipelineAction
        public var description: String { "rank \(rank): \(action)" }
    }

    /// Every step of every rank in the order the simulation finished them. Within a sweep ranks
    /// go in order, so the order is one valid interleaving, the same on every run.
    public let events: [Event]

    /// Simulates the schedules of ranks 0..<pp, built for the same settings.
    public init(schedules: [PipelineSchedule]) throws(PipelineSimulationError) {
        guard let first = schedules.first else { throw .inconsistent("no schedules") }
        let pp = first.pipelineSize
        guard schedules.map(\.rank) == Array(0..<pp) else {
            throw .inconsistent("expected the schedules of ranks 0..<\(pp) in order, got ranks \(schedules.map(\.rank))")
        }
        for schedule in schedules where schedule.pipelineSize != pp || schedule.chunks != first.chunks
            || schedule.microbatches != first.microbatches || schedule.forwardOnly != first.forwardOnly {
            throw .inconsistent("rank \(schedule.rank)'s schedule was built for other settings than rank 0's")
        }
        try self.init(actions: schedules.map(\.actions), chunks: first.chunks)
    }

    /// Simulates hand-made step lists: `actions[r]` is rank r's, each rank has `chunks` model
    /// chunks (rank 0's chunk 0 reads the data, the last rank's last chunk computes the loss).
    public init(actions: [[PipelineAction]], chunks: Int) throws(PipelineSimulationError) {
        guard !actions.isEmpty, chunks >= 1 else {
            throw .inconsistent("\(actions.count) ranks with \(chunks) chunks each")
        }
        var ranks = actions.indices.map { RankState(rank: $0, pipelineSize: actions.count, chunks: chunks, actions: actions[$0]) }
        var events: [Event] = []
        var progress = true
        while progress {
            progress = false
            for r in ranks.indices {
                while let action = ranks[r].current {
                    if case let .exchange(exchange) = action {
                        if ranks[r].pending == nil {
                            // Posting may complete parts of other ranks' exchanges: sweep again.
                            ranks[r].pending = exchange
                            progress = true
                            try Self.connect(&ranks)
                        }
                        guard ranks[r].pending?.isEmpty == true else { break }
                        ranks[r].pending = nil
                    } else {
                        try ranks[r].compute(action)
                    }
                    events.append(Event(rank: r, action: action))
                    ranks[r].step += 1
                    progress = true
                }
            }
        }
        let blocked = ranks.filter { $0.current != nil }
        guard blocked.isEmpty else {
            throw .deadlock(blocked.map { .init(rank: $0.rank, step: $0.step, waitingFor: $0.pending ?? PipelineExchange()) })
        }
        for state in ranks {
            if let leftover = state.receivedActivations.first ?? state.receivedGradients.first {
                throw .unusedMessage(rank: state.rank, work: leftover)
            }
        }
        self.events = events
    }

    /// Completes every posted send whose receiver has posted the matching receive.
    private static func connect(_ ranks: inout [RankState]) throws(PipelineSimulationError) {
        let pp = ranks.count
        for r in ranks.indices {
            let next = (r + 1) % pp, previous = (r + pp - 1) % pp
            if let sent = ranks[r].pending?.sendActivation, let wanted = ranks[next].pending?.receiveActivation {
                guard ranks[r].finishedForwards.contains(sent) else {
                    throw .missingData(rank: r, step: ranks[r].step, detail: "sends the activation of \(sent) before its forward")
                }
                // Around the ring (last rank to rank 0) the activation enters the next chunk.
                let expected = VirtualMicrobatch(microbatch: sent.microbatch, chunk: r == pp - 1 ? sent.chunk + 1 : sent.chunk)
                guard wanted == expected else {
                    throw .misrouted(from: r, to: next, kind: "activation", sent: sent, receiverExpects: wanted)
                }
                ranks[r].pending?.sendActivation = nil
                ranks[next].pending?.receiveActivation = nil
                ranks[next].receivedActivations.insert(wanted)
            }
            if let sent = ranks[r].pending?.sendGradient, let wanted = ranks[previous].pending?.receiveGradient {
                guard ranks[r].finishedBackwards.contains(sent) else {
                    throw .missingData(rank: r, step: ranks[r].step, detail: "sends the gradient of \(sent) before its backward")
                }
                let expected = VirtualMicrobatch(microbatch: sent.microbatch, chunk: r == 0 ? sent.chunk - 1 : sent.chunk)
                guard wanted == expected else {
                    throw .misrouted(from: r, to: previous, kind: "gradient", sent: sent, receiverExpects: wanted)
                }
                ranks[r].pending?.sendGradient = nil
                ranks[previous].pending?.receiveGradient = nil
                ranks[previous].receivedGradients.insert(wanted)
            }
        }
    }
}

/// One rank's progress through its schedule and the data it holds.
private struct RankState {
    let rank: Int
    let pipelineSize: Int
    let chunks: Int
    let actions: [PipelineAction]
    var step = 0
    /// The parts of the current exchange not yet completed (nil before it is posted).
    var pending: PipelineExchange?
    var receivedActivations: Set<VirtualMicrobatch> = []
    var receivedGradients: Set<VirtualMicrobatch> = []
    var finishedForwards: Set<VirtualMicrobatch> = []
    var finishedBackwards: Set<VirtualMicrobatch> = []

    init(rank: Int, pipelineSize: Int, chunks: Int, actions: [PipelineAction]) {
        self.rank = rank
        self.pipelineSize = pipelineSize
        self.chunks = chunks
        self.actions = actions
    }

    var current: PipelineAction? { step < actions.count ? actions[step] : nil }

    mutating func compute(_ action: PipelineAction) throws(PipelineSimulationError) {
        switch action {
        case let .forward(work):
            if !(rank == 0 && work.chunk == 0) {
                guard receivedActivations.remove(work) != nil else {
                    throw .missingData(rank: rank, step: step, detail: "runs the forward of \(work) before receiving its input")
                }
            }
            guard finishedForwards.insert(work).inserted else {
                throw .missingData(rank: rank, step: step, detail: "runs the forward of \(work) twice")
            }
        case let .backward(work):
            guard finishedForwards.contains(work) else {
                throw .missingData(rank: rank, step: step, detail: "runs the backward of \(work) before its forward")
            }
            if !(rank == pipelineSize - 1 && work.chunk == chunks - 1) {
                guard receivedGradients.remove(work) != nil else {
                    throw .missingData(rank: rank, step: step, detail: "runs the backward of \(work) before receiving its output gradient")
                }
            }
            guard finishedBackwards.insert(work).inserted else {
                throw .missingData(rank: rank, step: step, detail: "runs the backward of \(work) twice")
            }
        case .exchange:
            break
        }
    }
}

/// Why a set of schedules cannot run together.
///
///     do { _ = try PipelineSimulation(schedules: schedules) } catch { print(error) }
public enum PipelineSimulationError: Error, CustomStringConvertible {
    /// A rank that cannot go on: its step index and the parts of its exchange no peer matches.
    public struct Blocked: Sendable, CustomStringConvertible {
        public let rank: Int
        public let step: Int
        public let waitingFor: PipelineExchange
        public var description: String { "rank \(rank) at step \(step) waits on \(waitingFor)" }
    }

    case inconsistent(String)
    case deadlock([Blocked])
    case misrouted(from: Int, to: Int, kind: String, sent: VirtualMicrobatch, receiverExpects: VirtualMicrobatch)
    case missingData(rank: Int, step: Int, detail: String)
    case unusedMessage(rank: Int, work: VirtualMicrobatch)

    public var description: String {
        switch self {
        case let .inconsistent(message): "pipeline simulation: \(message)"
        case let .deadlock(blocked): "pipeline deadlock: " + blocked.map(\.description).joined(separator: "; ")
        case let .misrouted(from, to, kind, sent, expects):
            "rank \(from) sends the \(kind) of \(sent) to rank \(to), which expects the one for its \(expects)"
        case let .missingData(rank, step, detail): "rank \(rank) at step \(step) \(detail)"
        case let .unusedMessage(rank, work): "rank \(rank) received a tensor for \(work) that no step used"
        }
    }
}
