/// The ordered forward, backward and exchange steps one pipeline rank runs for one global batch,
/// in the order megatron-core's schedules run them (checked against megatron-core 0.16.1 by
/// fixtures): `forward_backward_no_pipelining` for one stage, the non-interleaved 1F1B
/// schedule for one chunk per rank, the interleaved 1F1B schedule for more. Exchanges are those
/// of megatron-core's default, non-overlapped p2p path (every exchange waited on before the next
/// step); exchanges that would move nothing are left out.
///
///     let schedule = try PipelineSchedule(pipelineSize: 4, rank: 1, microbatches: 8)
///     schedule.warmupForwards              // 2
///     schedule.maxActivationsInFlight      // 3
///     for action in schedule.actions { print(action) }
public struct PipelineSchedule: Sendable, Equatable {
    /// Which of Megatron's schedules runs.
    public enum Kind: String, Sendable {
        /// One stage: forward and backward of each micro-batch in turn (gradient accumulation).
        case noPipelining
        /// Non-interleaved 1F1B: warm-up forwards, (one forward, one backward) pairs, cool-down backwards.
        case oneForwardOneBackward
        /// Interleaved 1F1B over several model chunks per rank.
        case interleaved
    }

    public let pipelineSize: Int
    public let rank: Int
    public let microbatches: Int
    /// Model chunks (virtual stages) on each rank.
    public let chunks: Int
    /// `--microbatch-group-size-per-virtual-pipeline-stage`: how many micro-batches run on one
    /// chunk before moving to the next (interleaved only; Megatron's default is `pipelineSize`).
    public let microbatchGroupSize: Int
    /// Evaluation: forwards only, no activations kept.
    public let forwardOnly: Bool
    public let kind: Kind
    /// Forwards run before the first backward can start (megatron-core's
    /// `get_pp_rank_microbatches`; forward-only schedules count every forward).
    public let warmupForwards: Int
    public let actions: [PipelineAction]

    /// Builds the schedule; throws for a rank outside the pipeline, counts below 1, and the
    /// micro-batch counts the interleaved schedule cannot run.
    public init(pipelineSize: Int, rank: Int, microbatches: Int, chunks: Int = 1,
                microbatchGroupSize: Int? = nil, forwardOnly: Bool = false) throws(PipelineError) {
        guard pipelineSize >= 1 else { throw .notPositive(what: "--pipeline-model-parallel-size", value: pipelineSize) }
        guard (0..<pipelineSize).contains(rank) else { throw .rankOutOfRange(rank: rank, pipelineSize: pipelineSize) }
        guard microbatches >= 1 else { throw .notPositive(what: "number of micro-batches", value: microbatches) }
        guard chunks >= 1 else { throw .notPositive(what: "--num-virtual-stages-per-pipeline-rank", value: chunks) }
        if chunks > 1 && pipelineSize < 2 {
            throw .interleavingNeedsPipeline(virtualStages: chunks, pipelineSize: pipelineSize)
        }
        let groupSize = microbatchGroupSize ?? pipelineSize
        guard groupSize >= 1 else {
            throw .notPositive(what: "--microbatch-group-size-per-virtual-pipeline-stage", value: groupSize)
        }
        self.pipelineSize = pipelineSize
        self.rank = rank
        self.microbatches = microbatches
        self.chunks = chunks
        self.microbatchGroupSize = groupSize
        self.forwardOnly = forwardOnly
        if pipelineSize == 1 {
            kind = .noPipelining
            warmupForwards = forwardOnly ? microbatches : 0
            actions = Self.noPipelining(microbatches: microbatches, forwardOnly: forwardOnly)
        } else if chunks == 1 {
            kind = .oneForwardOneBackward
            warmupForwards = forwardOnly ? microbatches : min(pipelineSize - rank - 1, microbatches)
            actions = Self.oneForwardOneBackward(pipelineSize: pipelineSize, rank: rank,
                                                 microbatches: microbatches, forwardOnly: forwardOnly)
        } else {
            kind = .interleaved
            let plan = try InterleavedPlan(pipelineSize: pipelineSize, rank: rank, microbatches: microbatches,
                                           chunks: chunks, groupSize: groupSize, forwardOnly: forwardOnly)
            warmupForwards = plan.warmup
            actions = plan.actions()
        }
    }

    /// The schedules of every rank of the pipeline, rank 0 first.
    ///
    ///     let all = try PipelineSchedule.allRanks(pipelineSize: 4, microbatches: 8, chunks: 2)
    public static func allRanks(pipelineSize: Int, microbatches: Int, chunks: Int = 1,
                                microbatchGroupSize: Int? = nil, forwardOnly: Bool = false) throws(PipelineError) -> [PipelineSchedule] {
        guard pipelineSize >= 1 else { throw .notPositive(what: "--pipeline-model-parallel-size", value: pipelineSize) }
        var schedules: [PipelineSchedule] = []
        for rank in 0..<pipelineSize {
            schedules.append(try PipelineSchedule(pipelineSize: pipelineSize, rank: rank, microbatches: microbatches,
                                                  chunks: chunks, microbatchGroupSize: microbatchGroupSize,
                                                  forwardOnly: forwardOnly))
        }
        return schedules
    }

    /// The rank that activations go to and gradients come from.
    public var nextRank: Int { (rank + 1) % pipelineSize }
    /// The rank that activations come from and gradients go to.
    public var previousRank: Int { (rank + pipelineSize - 1) % pipelineSize }

    /// The most (micro-batch, chunk) activations alive at once on this rank: a forward's
    /// activations live until its backward, so this is how many forwards' worth of stored
    /// activations the rank must hold (1F1B: `min(pp − rank, m)`; interleaved:
    /// `min(warm-up + 1, m·v)`). Forward-only schedules keep none beyond the running forward: 1.
    public var maxActivationsInFlight: Int {
        var alive = 0, peak = 0
        for action in actions {
            switch action {
            case .forward:
                alive += 1
                peak = max(peak, alive)
                if forwardOnly { alive -= 1 }
            case .backward: alive -= 1
            case .exchange: break
            }
        }
        return peak
    }
}
