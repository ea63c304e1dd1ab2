import MegatronPipeline
import Testing

@Suite("Layer partitions")
struct LayoutTests {
    @Test("equal megatron-core's offsets and counts", arguments: LayoutFixtures.shared.cases)
    func matchesMegatron(_ fixture: LayoutFixtures.Case) throws {
        let layout = try fixture.layout()
        let stages = try #require(fixture.stages)
        #expect(layout.pipelineSize == stages.count)
        #expect(layout.virtualStages == stages[0].count)
        for (rank, chunks) in stages.enumerated() {
            for (chunk, pair) in chunks.enumerated() {
                #expect(try layout.layers(rank: rank, chunk: chunk) == pair[0]..<(pair[0] + pair[1]), "rank \(rank) chunk \(chunk) of \(fixture)")
            }
        }
    }

    @Test("cover every layer once, in model order", arguments: LayoutFixtures.shared.cases)
    func coversEveryLayerInOrder(_ fixture: LayoutFixtures.Case) throws {
        let layout = try fixture.layout()
        let inOrder = try layout.stages.flatMap { stage throws(PipelineError) in Array(try layout.layers(rank: stage.rank, chunk: stage.chunk)) }
        #expect(inOrder == Array(0..<fixture.num_layers))
        for layer in [0, fixture.num_layers / 2, fixture.num_layers - 1] {
            let stage = try #require(layout.stage(ofLayer: layer))
            #expect(try layout.layers(rank: stage.rank, chunk: stage.chunk).contains(layer))
        }
        #expect(layout.stage(ofLayer: fixture.num_layers) == nil)
    }

    @Test("refuse what megatron-core refuses", arguments: LayoutFixtures.shared.errors)
    func refusesWhatMegatronRefuses(_ fixture: LayoutFixtures.Case) {
        #expect(throws: PipelineError.self, "\(fixture.megatron_error ?? "")") { try fixture.layout() }
    }

    @Test func embeddingAndOutputStages() throws {
        let layout = try PipelineLayout(numLayers: 24, pipelineSize: 4, virtualStagesPerRank: 3)
        #expect(layout.embeddingStage == PipelineStage(rank: 0, chunk: 0))
        #expect(layout.outputStage == PipelineStage(rank: 3, chunk: 2))
        #expect(layout.isInterleaved)
        #expect(layout.stages.map { $0.virtualIndex(pipelineSize: 4) } == Array(0..<12))
        #expect(try layout.layers(rank: 1, chunk: 2) == 18..<20)  // group 2·4 + 1 = 9 of 2 layers
        let single = try PipelineLayout(numLayers: 12, pipelineSize: 1)
        #expect(single.embeddingStage == single.outputStage)
        #expect(try single.layers(rank: 0) == 0..<12)
    }

    /// Megatron-LM's `validate_args`: --num-layers-per-virtual-pipeline-stage n becomes
    /// v = (layers per rank) / n, and v = 1 means no interleaving.
    @Test func layersPerVirtualStageBecomesAStageCount() throws {
        let byLayers = try PipelineLayout(numLayers: 24, pipelineSize: 4, layersPerVirtualStage: 2)
        let byStages = try PipelineLayout(numLayers: 24, pipelineSize: 4, virtualStagesPerRank: 3)
        #expect(byLayers.virtualStages == 3)
        #expect(byLayers == byStages)
        let whole = try PipelineLayout(numLayers: 24, pipelineSize: 4, layersPerVirtualStage: 6)
        #expect(whole.virtualStages == 1 && !whole.isInterleaved)
        // pp = 1 is fine while the result is one stage per rank.
        #expect(try PipelineLayout(numLayers: 12, pipelineSize: 1, layersPerVirtualStage: 12).virtualStages == 1)
        // The embedding counts as a layer of the split before dividing.
        let embedded = try PipelineLayout(numLayers: 15, pipelineSize: 4, layersPerVirtualStage: 2, accountForEmbedding: true)
        #expect(embedded.virtualStages == 2)
        #expect(try embedded.layers(rank: 0, chunk: 0) == 0..<1)
        #expect(try embedded.layers(rank: 1, chunk: 0) == 1..<3)
    }

    /// megatron-core 0.16.1 divides by zero here (no middle stage); the middle share is 0.
    @Test func unevenInterleavedWithoutMiddleStages() throws {
        let layout = try PipelineLayout(numLayers: 12, pipelineSize: 2, virtualStagesPerRank: 3,
                                        firstStageLayers: 6, lastStageLayers: 6)
        #expect(try (0..<3).map { c throws(PipelineError) in try layout.layers(rank: 0, chunk: c) } == [0..<2, 4..<6, 8..<10])
        #expect(try (0..<3).map { c throws(PipelineError) in try layout.layers(rank: 1, chunk: c) } == [2..<4, 6..<8, 10..<12])
    }

    @Test func errorsNameTheConstraintAndTheNumbers() {
        func message(_ build: () throws(PipelineError) -> PipelineLayout) -> String {
            do { _ = try build(); return "no error" } catch { return error.description }
        }
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 5) }
            == "--num-layers 24 is not divisible by --pipeline-model-parallel-size 5")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 4, virtualStagesPerRank: 4) }
            == "layers per pipeline stage 6 is not divisible by --num-virtual-stages-per-pipeline-rank 4")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 4, layersPerVirtualStage: 4) }
            == "layers per pipeline stage 6 is not divisible by --num-layers-per-virtual-pipeline-stage 4")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 4, layersPerVirtualStage: 2, virtualStagesPerRank: 3) }
            == "--num-layers-per-virtual-pipeline-stage (2) and --num-virtual-stages-per-pipeline-rank (3) cannot both be set")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 1, virtualStagesPerRank: 2) }
            == "2 virtual stages per pipeline rank (the interleaved schedule) need --pipeline-model-parallel-size greater than 1 (got 1)")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 30, pipelineSize: 4, firstStageLayers: 5) }
            == "middle layers 25 is not divisible by middle pipeline stages 3")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 30, pipelineSize: 4, virtualStagesPerRank: 2, firstStageLayers: 5) }
            == "--decoder-first-pipeline-num-layers 5 is not divisible by --num-virtual-stages-per-pipeline-rank 2")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 10, pipelineSize: 2, firstStageLayers: 4, lastStageLayers: 4) }
            == "uneven pipeline: 2 middle layers remain but there are 0 middle pipeline stages; give the middle stages layers, or give all layers to the first and last stage")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 10, pipelineSize: 4, firstStageLayers: 8, lastStageLayers: 4) }
            == "--decoder-first-pipeline-num-layers 8 and --decoder-last-pipeline-num-layers 4 add up to more than --num-layers 10")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 4, layersPerVirtualStage: 2, firstStageLayers: 6) }
            == "use --num-virtual-stages-per-pipeline-rank, not --num-layers-per-virtual-pipeline-stage, with --decoder-first-pipeline-num-layers or --decoder-last-pipeline-num-layers")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 24, pipelineSize: 4, accountForEmbedding: true) }
            == "--num-layers plus the embedding/loss layer 25 is not divisible by --pipeline-model-parallel-size 4")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 0, pipelineSize: 4) }
            == "--num-layers must be at least 1 (got 0)")
        #expect(message { () throws(PipelineError) in try PipelineLayout(numLayers: 8, pipelineSize: 1, firstStageLayers: 4, lastStageLayers: 4) }
            == "--decoder-first-pipeline-num-layers and --decoder-last-pipeline-num-layers together need --pipeline-model-parallel-size of at least 2 (got 1)")
    }

    @Test func queriesOutsideTheLayoutThrow() throws {
        let layout = try PipelineLayout(numLayers: 8, pipelineSize: 2, virtualStagesPerRank: 2)
        #expect(throws: PipelineError.rankOutOfRange(rank: 2, pipelineSize: 2)) { try layout.layers(rank: 2, chunk: 0) }
        #expect(throws: PipelineError.chunkOutOfRange(chunk: 2, chunks: 2)) { try layout.layers(rank: 0, chunk: 2) }
    }
}

extension LayoutFixtures.Case: CustomTestStringConvertible {
    var testDescription: String { description }
}
