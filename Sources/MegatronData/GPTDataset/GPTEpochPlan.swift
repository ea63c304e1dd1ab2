/// How many epochs a GPTDataset needs and whether its last one is shuffled on its own, as
/// megatron-core's `_build_document_sample_shuffle_indices` decides.
///
///     let plan = GPTEpochPlan(tokensPerEpoch: 5_000, sequenceLength: 1024, numSamples: 12)
///     plan.numEpochs            // 3
public struct GPTEpochPlan: Equatable, Sendable {
    /// Tokens in the split's documents: one pass over them.
    public var tokensPerEpoch: Int
    /// Passes over the documents needed for the requested samples.
    public var numEpochs: Int
    /// True when the final epoch is partial and contributes fewer than 80% of an epoch's
    /// samples: its documents and samples are then shuffled apart from the earlier epochs so
    /// that the short epoch is not spread (and over-represented) through the whole run.
    public var separateFinalEpoch: Bool
    /// Samples covered by the epochs before the final one (`num_samples_sans_final_epoch`);
    /// meaningful when `separateFinalEpoch`.
    public var numSamplesSansFinalEpoch: Int

    /// - Parameters:
    ///   - numSamples: samples requested (nil: one epoch, as Megatron does for `num_samples=None`).
    ///   - addExtraToken: 1 when each sample holds S + 1 tokens (Megatron's default).
    public init(tokensPerEpoch: Int, sequenceLength: Int, numSamples: Int?, addExtraToken: Int = 1) {
        precondition(tokensPerEpoch > 0, "a GPTDataset split needs at least one token")
        self.tokensPerEpoch = tokensPerEpoch
        // _get_num_epochs: enough whole epochs to cover num_samples * S (+1) tokens.
        var epochs = 1
        if let numSamples {
            let requested = numSamples * sequenceLength + addExtraToken
            var tokens = tokensPerEpoch
            while tokens < requested {
                epochs += 1
                tokens += tokensPerEpoch
            }
        }
        numEpochs = epochs
        if epochs == 1 {
            separateFinalEpoch = false
            numSamplesSansFinalEpoch = 0
        } else {
            let sans = ((epochs - 1) * tokensPerEpoch - addExtraToken) / sequenceLength
            let fromFinal = (numSamples ?? 0) - sans
            let perEpoch = (tokensPerEpoch - addExtraToken) / sequenceLength
            // Megatron: num_samples_from_final_epoch < int(0.80 * num_samples_per_epoch).
            separateFinalEpoch = fromFinal < Int(0.80 * Double(perEpoch))
            numSamplesSansFinalEpoch = sans
        }
    }
}
