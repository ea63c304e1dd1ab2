/// A pipeline layout or schedule that cannot work, with the flag and the numbers that broke it.
///
///     do { _ = try PipelineLayout(numLayers: 24, pipelineSize: 5) }
///     catch { print(error) }  // --num-layers 24 is not divisible by --pipeline-model-parallel-size 5
public enum PipelineError: Error, Equatable, CustomStringConvertible {
    /// A count that must be at least 1 (`what` names the flag or the argument).
    case notPositive(what: String, value: Int)
    /// `value` (named by `what`) must be divisible by `divisor` (named by `divisorName`).
    case notDivisible(what: String, value: Int, divisorName: String, divisor: Int)
    /// Both ways of asking for virtual stages were given.
    case conflictingVirtualStageFlags(layersPerVirtualStage: Int, virtualStagesPerRank: Int)
    /// `--num-layers-per-virtual-pipeline-stage` together with uneven first/last stages.
    case layersPerVirtualStageWithUnevenStages
    /// Interleaving (more than one virtual stage per rank) without a pipeline to interleave.
    case interleavingNeedsPipeline(virtualStages: Int, pipelineSize: Int)
    /// Uneven first/last stages that leave middle layers without middle stages or the reverse.
    case middleStageMismatch(middleLayers: Int, middleStages: Int)
    /// Uneven first/last stages that hold more layers than the model has.
    case unevenStagesExceedLayers(first: Int, last: Int, numLayers: Int)
    /// Both uneven stages on a single pipeline stage.
    case unevenStagesNeedTwoStages(pipelineSize: Int)
    /// Uneven first/last stages together with counting the embedding or loss as a layer.
    case unevenStagesWithAccountedEmbeddingOrLoss
    /// A pipeline rank outside `0..<pipelineSize`.
    case rankOutOfRange(rank: Int, pipelineSize: Int)
    /// A model chunk outside `0..<chunks`.
    case chunkOutOfRange(chunk: Int, chunks: Int)
    /// The interleaved schedule's micro-batch group size outside `[pipelineSize, microbatches]`.
    case microbatchGroupOutOfRange(groupSize: Int, pipelineSize: Int, microbatches: Int)
    /// The interleaved schedule's last micro-batch group is smaller than the pipeline.
    case microbatchGroupRemainder(remainder: Int, microbatches: Int, groupSize: Int, pipelineSize: Int)

    public var description: String {
        switch self {
        case let .notPositive(what, value):
            "\(what) must be at least 1 (got \(value))"
        case let .notDivisible(what, value, divisorName, divisor):
            "\(what) \(value) is not divisible by \(divisorName) \(divisor)"
        case let .conflictingVirtualStageFlags(layers, stages):
            "--num-layers-per-virtual-pipeline-stage (\(layers)) and --num-virtual-stages-per-pipeline-rank (\(stages)) cannot both be set"
        case .layersPerVirtualStageWithUnevenStages:
            "use --num-virtual-stages-per-pipeline-rank, not --num-layers-per-virtual-pipeline-stage, with --decoder-first-pipeline-num-layers or --decoder-last-pipeline-num-layers"
        case let .interleavingNeedsPipeline(virtualStages, pipelineSize):
            "\(virtualStages) virtual stages per pipeline rank (the interleaved schedule) need --pipeline-model-parallel-size greater than 1 (got \(pipelineSize))"
        case let .middleStageMismatch(layers, stages):
            "uneven pipeline: \(layers) middle layers remain but there are \(stages) middle pipeline stages; give the middle stages layers, or give all layers to the first and last stage"
        case let .unevenStagesExceedLayers(first, last, numLayers):
            "--decoder-first-pipeline-num-layers \(first) and --decoder-last-pipeline-num-layers \(last) add up to more than --num-layers \(numLayers)"
        case let .unevenStagesNeedTwoStages(pipelineSize):
            "--decoder-first-pipeline-num-layers and --decoder-last-pipeline-num-layers together need --pipeline-model-parallel-size of at least 2 (got \(pipelineSize))"
        case .unevenStagesWithAccountedEmbeddingOrLoss:
            "--decoder-first/last-pipeline-num-layers cannot be combined with --account-for-embedding-in-pipeline-split or --account-for-loss-in-pipeline-split"
        case let .rankOutOfRange(rank, size):
            "pipeline rank \(rank) is outside 0..<\(size)"
        case let .chunkOutOfRange(chunk, chunks):
            "model chunk \(chunk) is outside 0..<\(chunks)"
        case let .microbatchGroupOutOfRange(group, pp, m):
            "--microbatch-group-size-per-virtual-pipeline-stage \(group) must lie in [pipeline size \(pp), micro-batches \(m)]"
                + (m < pp ? " (the interleaved schedule needs at least \(pp) micro-batches; got \(m))" : "")
        case let .microbatchGroupRemainder(remainder, m, group, pp):
            "\(m) micro-batches in groups of \(group) leave a last group of \(remainder); it must be 0 or at least the pipeline size \(pp), otherwise the interleaved schedule stalls on dependency bubbles"
        }
    }
}
