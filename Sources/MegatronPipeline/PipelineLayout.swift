/// Which transformer layers each pipeline rank and model chunk holds, as megatron-core assigns
/// them (`get_transformer_layer_offset`, `get_num_layers_to_build`), validated as Megatron-LM's
/// arguments and `TransformerConfig` validate them.
///
/// Without interleaving, rank `r` holds one contiguous block. With `v` virtual stages per rank
/// (`--num-virtual-stages-per-pipeline-rank v`, or `--num-layers-per-virtual-pipeline-stage n`,
/// which Megatron turns into `v = layers per rank / n`), chunk `c` of rank `r` holds the
/// `(c·pp + r)`-th block. `--decoder-first-pipeline-num-layers` / `--decoder-last-pipeline-num-layers`
/// give the first / last rank a different share; `--account-for-embedding-in-pipeline-split` /
/// `--account-for-loss-in-pipeline-split` count the embedding / loss as one layer of the first /
/// last stage. A virtual-stage count of 1 is no interleaving, as in Megatron.
///
///     let layout = try PipelineLayout(numLayers: 8, pipelineSize: 2, virtualStagesPerRank: 2)
///     try layout.layers(rank: 1, chunk: 0)   // 2..<4
///     layout.outputStage                     // rank 1 chunk 1
///
/// Custom `--pipeline-model-parallel-layout` strings are not supported.
public struct PipelineLayout: Sendable, Equatable {
    public let numLayers: Int
    public let pipelineSize: Int
    /// Model chunks per rank; 1 when the schedule is not interleaved.
    public let virtualStages: Int
    public let firstStageLayers: Int?
    public let lastStageLayers: Int?
    public let accountsForEmbedding: Bool
    public let accountsForLoss: Bool
    /// `ranges[rank][chunk]`: the global layer indices that chunk builds.
    private let ranges: [[Range<Int>]]

    /// Checks the combination and computes every stage's layers; throws naming the constraint
    /// and the numbers that break it.
    public init(numLayers: Int, pipelineSize: Int,
                layersPerVirtualStage: Int? = nil, virtualStagesPerRank: Int? = nil,
                firstStageLayers: Int? = nil, lastStageLayers: Int? = nil,
                accountForEmbedding: Bool = false, accountForLoss: Bool = false) throws(PipelineError) {
        let split = try LayerSplit(
            numLayers: numLayers, pipelineSize: pipelineSize,
            layersPerVirtualStage: layersPerVirtualStage, virtualStagesPerRank: virtualStagesPerRank,
            first: firstStageLayers, last: lastStageLayers,
            embedding: accountForEmbedding, loss: accountForLoss)
        self.numLayers = numLayers
        self.pipelineSize = pipelineSize
        self.virtualStages = split.virtualStages
        self.firstStageLayers = firstStageLayers
        self.lastStageLayers = lastStageLayers
        self.accountsForEmbedding = accountForEmbedding
        self.accountsForLoss = accountForLoss
        self.ranges = (0..<pipelineSize).map { rank in
            (0..<split.virtualStages).map { chunk in
                let offset = split.offset(rank: rank, chunk: chunk)
                return offset..<(offset + split.count(rank: rank, chunk: chunk))
            }
        }
    }

    /// Whether more than one model chunk runs on each rank (the interleaved schedule).
    public var isInterleaved: Bool { virtualStages > 1 }

    /// The global layer indices that `chunk` of `rank` builds (possibly empty when the
    /// embedding or loss takes that stage's only layer slot).
    public func layers(rank: Int, chunk: Int = 0) throws(PipelineError) -> Range<Int> {
        guard (0..<pipelineSize).contains(rank) else { throw .rankOutOfRange(rank: rank, pipelineSize: pipelineSize) }
        guard (0..<virtualStages).contains(chunk) else { throw .chunkOutOfRange(chunk: chunk, chunks: virtualStages) }
        return ranges[rank][chunk]
    }

    /// Every stage in model order (chunk 0 of every rank, then chunk 1, …).
    public var stages: [PipelineStage] {
        (0..<virtualStages).flatMap { chunk in (0..<pipelineSize).map { PipelineStage(rank: $0, chunk: chunk) } }
    }

    /// The stage that builds global layer `layer`, or nil outside `0..<numLayers`.
    public func stage(ofLayer layer: Int) -> PipelineStage? {
        stages.first { ranges[$0.rank][$0.chunk].contains(layer) }
    }

    /// The stage with the input embedding: the first rank's first chunk.
    public var embeddingStage: PipelineStage { PipelineStage(rank: 0, chunk: 0) }

    /// The stage with the final norm, output layer and loss: the last rank's last chunk. With
    /// tied embeddings that rank also keeps a copy of the word embeddings (Megatron's embedding
    /// group, `RankGenerator.embeddingGroups()`).
    public var outputStage: PipelineStage { PipelineStage(rank: pipelineSize - 1, chunk: virtualStages - 1) }
}
