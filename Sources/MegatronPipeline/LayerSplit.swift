/// The arithmetic behind `PipelineLayout`: the flag checks of Megatron-LM's `validate_args` and
/// `TransformerConfig.__post_init__`, then megatron-core's per-stage offset and layer count.
///
///     let split = try LayerSplit(numLayers: 8, pipelineSize: 2, layersPerVirtualStage: nil,
///                                virtualStagesPerRank: 2, first: nil, last: nil, embedding: false, loss: false)
///     split.offset(rank: 1, chunk: 1)   // 6
struct LayerSplit {
    let numLayers: Int
    let pipelineSize: Int
    let virtualStages: Int
    let first: Int?
    let last: Int?
    let embedding: Bool
    let loss: Bool

    init(numLayers: Int, pipelineSize: Int, layersPerVirtualStage: Int?, virtualStagesPerRank: Int?,
         first: Int?, last: Int?, embedding: Bool, loss: Bool) throws(PipelineError) {
        guard numLayers >= 1 else { throw .notPositive(what: "--num-layers", value: numLayers) }
        guard pipelineSize >= 1 else { throw .notPositive(what: "--pipeline-model-parallel-size", value: pipelineSize) }
        if let layersPerVirtualStage, let virtualStagesPerRank {
            throw .conflictingVirtualStageFlags(layersPerVirtualStage: layersPerVirtualStage, virtualStagesPerRank: virtualStagesPerRank)
        }
        if let layersPerVirtualStage, layersPerVirtualStage < 1 {
            throw .notPositive(what: "--num-layers-per-virtual-pipeline-stage", value: layersPerVirtualStage)
        }
        if let virtualStagesPerRank, virtualStagesPerRank < 1 {
            throw .notPositive(what: "--num-virtual-stages-per-pipeline-rank", value: virtualStagesPerRank)
        }
        if let first, first < 1 { throw .notPositive(what: "--decoder-first-pipeline-num-layers", value: first) }
        if let last, last < 1 { throw .notPositive(what: "--decoder-last-pipeline-num-layers", value: last) }
        let uneven = first != nil || last != nil
        if uneven && (embedding || loss) { throw .unevenStagesWithAccountedEmbeddingOrLoss }

        // The embedding and the loss each count as one layer of the split when asked to.
        let splitLayers = numLayers + (embedding ? 1 : 0) + (loss ? 1 : 0)
        let splitLayersName = embedding || loss ? "--num-layers plus the embedding/loss layer" : "--num-layers"

        // Megatron-LM turns --num-layers-per-virtual-pipeline-stage into a virtual-stage count.
        var virtualStages = virtualStagesPerRank ?? 1
        if let layersPerVirtualStage {
            guard !uneven else { throw .layersPerVirtualStageWithUnevenStages }
            guard splitLayers % pipelineSize == 0 else {
                throw .notDivisible(what: splitLayersName, value: splitLayers,
                                    divisorName: "--pipeline-model-parallel-size", divisor: pipelineSize)
            }
            let perStage = splitLayers / pipelineSize
            guard perStage % layersPerVirtualStage == 0 else {
                throw .notDivisible(what: "layers per pipeline stage", value: perStage,
                                    divisorName: "--num-layers-per-virtual-pipeline-stage", divisor: layersPerVirtualStage)
            }
            virtualStages = perStage / layersPerVirtualStage
        }
        // Megatron-LM needs pp > 1 for the interleaved schedule (pp > 2 when p2p overlap is
        // turned off with --no-overlap-p2p-communication, because NCCL would pair two sends to
        // the same peer in one batch by order; executors here keep the two directions apart).
        if virtualStages > 1 && pipelineSize < 2 {
            throw .interleavingNeedsPipeline(virtualStages: virtualStages, pipelineSize: pipelineSize)
        }

        if uneven {
            try Self.checkUneven(numLayers: numLayers, pipelineSize: pipelineSize, virtualStages: virtualStages,
                                 first: first, last: last)
        } else {
            guard splitLayers % pipelineSize == 0 else {
                throw .notDivisible(what: splitLayersName, value: splitLayers,
                                    divisorName: "--pipeline-model-parallel-size", divisor: pipelineSize)
            }
            guard (splitLayers / pipelineSize) % virtualStages == 0 else {
                throw .notDivisible(what: "layers per pipeline stage", value: splitLayers / pipelineSize,
                                    divisorName: "--num-virtual-stages-per-pipeline-rank", divisor: virtualStages)
            }
        }
        self.numLayers = numLayers
        self.pipelineSize = pipelineSize
        self.virtualStages = virtualStages
        self.first = first
        self.last = last
        self.embedding = embedding
        self.loss = loss
    }

    private static func checkUneven(numLayers: Int, pipelineSize: Int, virtualStages: Int,
                                    first: Int?, last: Int?) throws(PipelineError) {
        if first != nil && last != nil && pipelineSize < 2 {
            throw .unevenStagesNeedTwoStages(pipelineSize: pipelineSize)
        }
        for (flag, value) in [("--decoder-first-pipeline-num-layers", first), ("--decoder-last-pipeline-num-layers", last)] {
            if let value, value % virtualStages != 0 {
                throw .notDivisible(what: flag, value: value,
                                    divisorName: "--num-virtual-stages-per-pipeline-rank", divisor: virtualStages)
            }
        }
        let middleLayers = numLayers - (first ?? 0) - (last ?? 0)
        let middleStages = pipelineSize - (first == nil ? 0 : 1) - (last == nil ? 0 : 1)
        // Megatron does not catch this one: a negative middle share passes its modulo checks.
        guard middleLayers >= 0 else {
            throw .unevenStagesExceedLayers(first: first ?? 0, last: last ?? 0, numLayers: numLayers)
        }
        guard (middleLayers == 0) == (middleStages == 0) else {
            throw .middleStageMismatch(middleLayers: middleLayers, middleStages: middleStages)
        }
        guard middleStages > 0 else { return }
        guard middleLayers % middleStages == 0 else {
            throw .notDivisible(what: "middle layers", value: middleLayers,
                                divisorName: "middle pipeline stages", divisor: middleStages)
        }
        guard (middleLayers / middleStages) % virtualStages == 0 else {
            throw .notDivisible(what: "layers per middle pipeline stage", value: middleLayers / middleStages,
                                divisorName: "--num-virtual-stages-per-pipeline-rank", divisor: virtualStages)
        }
    }

    private var middleLayers: Int { numLayers - (first ?? 0) - (last ?? 0) }
    private var middleStages: Int { pipelineSize - (first == nil ? 0 : 1) - (last == nil ? 0 : 1) }
    private var splitLayers: Int { numLayers + (embedding ? 1 : 0) + (loss ? 1 : 0) }

    /// The first global layer of the stage (megatron-core's `get_transformer_layer_offset`).
    func offset(rank: Int, chunk: Int) -> Int {
        guard pipelineSize > 1 else { return 0 }
        if first != nil || last != nil {
            // Ranks after an uneven first stage count their place among the middle ranks.
            let middleRank = first == nil ? rank : rank - 1
            let firstPerChunk = (first ?? 0) / virtualStages
            let lastPerChunk = (last ?? 0) / virtualStages
            let middlePerChunk = middleLayers / virtualStages
            // megatron-core divides by the middle stage count even when it is 0 (first and last
            // set, pp = 2) and fails; no middle stage holds no middle layer, so its share is 0.
            let middlePerRankChunk = middleStages > 0 ? middlePerChunk / middleStages : 0
            let perChunkRound = firstPerChunk + middlePerChunk + lastPerChunk
            if rank == 0 { return chunk * perChunkRound }
            return chunk * perChunkRound + firstPerChunk + middleRank * middlePerRankChunk
        }
        let perRank = splitLayers / pipelineSize
        let perVirtualRank = perRank / virtualStages
        // The embedding's slot is not a transformer layer: every later stage starts one lower.
        let shift = embedding && !(rank == 0 && chunk == 0) ? 1 : 0
        return chunk * (splitLayers / virtualStages) + rank * perVirtualRank - shift
    }

    /// How many layers the stage builds (megatron-core's `get_num_layers_to_build`).
    func count(rank: Int, chunk: Int) -> Int {
        var perRank: Int
        if first != nil || last != nil {
            perRank = middleStages > 0 ? middleLayers / middleStages : 0
            if rank == 0, let first { perRank = first }
            if rank == pipelineSize - 1, let last { perRank = last }
        } else {
            perRank = splitLayers / pipelineSize
        }
        var count = perRank / virtualStages
        if embedding && rank == 0 && chunk == 0 { count -= 1 }
        if loss && rank == pipelineSize - 1 && chunk == virtualStages - 1 { count -= 1 }
        return count
    }
}
