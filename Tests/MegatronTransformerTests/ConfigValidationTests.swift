import MegatronTransformer
import Testing

@Suite("TransformerConfig validation")
struct ConfigValidationTests {
    func base() -> TransformerConfig {
        TransformerConfig(numLayers: 2, hiddenSize: 64, numAttentionHeads: 4, vocabSize: 1000, seqLength: 32)
    }

    @Test func fillsMegatronDefaults() throws {
        let c = try base().validated()
        #expect(c.ffnHiddenSize == 256 && c.kvChannels == 16 && c.numQueryGroups == 4 && c.maxPositionEmbeddings == 32)
        #expect(c.paddedVocabSize == 1024)
        #expect(c.hiddenDropout == 0.1 && c.attentionDropout == 0.1 && c.initMethodStd == 0.02 && c.layernormEpsilon == 1e-5)
        var s = base()
        s.activation = .swiglu
        // Megatron: int(4·h·2/3 / 64)·64 = int(170.67 / 64)·64 = 128.
        #expect(try s.validated().ffnHiddenSize == 128)
        #expect(try TransformerConfig(numLayers: 1, hiddenSize: 8, numAttentionHeads: 2, vocabSize: 50257, seqLength: 4).validated().paddedVocabSize == 50304)
    }

    @Test func eachInvalidCombinationHasItsError() {
        var c = base(); c.hiddenSize = 66
        #expect(throws: ConfigError.hiddenNotDivisibleByHeads(hidden: 66, heads: 4)) { try c.validated() }
        c = base(); c.numQueryGroups = 3
        #expect(throws: ConfigError.headsNotDivisibleByGroups(heads: 4, groups: 3)) { try c.validated() }
        c = base(); c.numLayers = 0
        #expect(throws: ConfigError.notPositive("num-layers", 0)) { try c.validated() }
        c = base(); c.positionEmbeddingType = .rope; c.kvChannels = 15
        #expect(throws: ConfigError.oddRotaryDim(15)) { try c.validated() }
        c = base(); c.maxPositionEmbeddings = 16
        #expect(throws: ConfigError.sequenceLongerThanPositions(seqLength: 32, maxPositions: 16)) { try c.validated() }
        c = base(); c.hiddenDropout = 1
        #expect(throws: ConfigError.self) { try c.validated() }
        c = base(); c.vocabSize = -1
        #expect(throws: ConfigError.notPositive("vocab-size", -1)) { try c.validated() }
    }

    @Test func kvChannelsAllowsHiddenNotDivisibleByHeads() throws {
        var c = base()
        c.hiddenSize = 66
        c.kvChannels = 16
        #expect(try c.validated().qkvSize == (4 + 2 * 4) * 16)
    }

    @Test func errorMessagesNameTheFlags() {
        #expect(ConfigError.headsNotDivisibleByGroups(heads: 4, groups: 3).description.contains("--num-query-groups 3"))
    }
}
