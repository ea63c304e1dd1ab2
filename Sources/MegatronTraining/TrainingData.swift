import MegatronData
import MegatronTensor

/// The datasets a run trains and validates on: Megatron's mock data, or tokenised `.bin`/`.idx`
/// corpora — `--data-path` split by `--split` and blended by weight, or separate
/// `--train-data-path`/`--valid-data-path` — in megatron-core's sample order.
///
///     let (args, tokenizer) = try TrainingData.loadTokenizer(args)
///     let setup = try TrainingSetup(args)
///     let data = try TrainingData(args, setup: setup, tokenizer: tokenizer)
public struct TrainingData: Sendable {
    public let train: any GPTSampleSource
    public let validation: (any GPTSampleSource)?
    /// Evaluated once after training, as Megatron does when a test split exists.
    public let test: (any GPTSampleSource)?

    /// Loads `--tokenizer-type` (when given) and takes the model's `--vocab-size` from it, as
    /// Megatron does; a `--vocab-size` below the tokenizer's is an error.
    public static func loadTokenizer(_ args: TrainingArguments) throws -> (TrainingArguments, (any Tokenizer)?) {
        guard let type = args.tokenizerType else { return (args, nil) }
        let tokenizer = try TokenizerOptions(type: type, vocabFile: args.vocabFile, mergeFile: args.mergeFile,
                                             tokenizerModel: args.tokenizerModel, tiktokenPattern: args.tiktokenPattern,
                                             vocabSize: args.vocabSize).make()
        var resolved = args
        if let given = args.vocabSize, given < tokenizer.vocabSize {
            throw TrainingDataError.vocabularyTooSmall(given: given, tokenizer: tokenizer.vocabSize)
        }
        resolved.vocabSize = tokenizer.vocabSize
        return (resolved, tokenizer)
    }

    /// - Parameter log: receives the index-cache events (loaded, built, problems).
    public init(_ args: TrainingArguments, setup: TrainingSetup, tokenizer: (any Tokenizer)?,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        let c = setup.model
        if args.mockData {
            train = MockGPTDataset(vocabSize: c.vocabSize, seqLength: c.seqLength, seed: setup.seed)
            validation = MockGPTDataset(vocabSize: c.vocabSize, seqLength: c.seqLength, seed: mixSeed(setup.seed))
            test = nil
            return
        }
        guard !args.dataPath.isEmpty || !args.trainDataPath.isEmpty else { throw TrainingDataError.noData }
        guard tokenizer != nil else { throw TrainingDataError.noTokenizer }
        // Megatron's sample counts: every training step, and every evaluation (plus the last).
        let gbs = setup.globalBatchSize
        let sizes = [setup.trainIters * gbs, (setup.trainIters / setup.evalInterval + 1) * setup.evalIters * gbs, setup.evalIters * gbs]
        let seed = UInt32(truncatingIfNeeded: setup.seed)
        func build(_ values: [String], _ flag: String, split: DatasetSplit) throws -> [(any GPTSampleSource)?] {
            let (corpora, weights) = try Self.blend(values, flag)
            let caches = corpora.map { corpus -> GPTIndexCache in
                let prefix = (corpus as? IndexedDataset)?.prefix ?? ""
                return GPTIndexCache(directory: args.dataCachePath ?? GPTIndexCache.defaultDirectory(prefix: prefix),
                                     datasetPath: prefix, split: "train", log: log)
            }
            return try GPTDatasetBuilder.build(corpora: corpora, weights: weights, split: split, sizes: sizes,
                                               sequenceLength: c.seqLength, seed: seed, caches: caches)
        }
        if !args.dataPath.isEmpty {
            let splits = try build(args.dataPath, "--data-path", split: try DatasetSplit(args.split))
            guard let first = splits[0] else { throw TrainingDataError.emptyTrainingSplit(args.split) }
            (train, validation, test) = (first, splits[1], splits[2])
        } else {
            // Each flag's corpora hold one split only.
            func whole(_ values: [String], _ flag: String, _ s: Int) throws -> (any GPTSampleSource)? {
                guard !values.isEmpty else { return nil }
                var only = ["0", "0", "0"]
                only[s] = "1"
                return try build(values, flag, split: try DatasetSplit(only.joined(separator: ",")))[s]
            }
            guard let first = try whole(args.trainDataPath, "--train-data-path", 0) else { throw TrainingDataError.noData }
            train = first
            validation = try whole(args.validDataPath, "--valid-data-path", 1)
            test = try whole(args.testDataPath, "--test-data-path", 2)
        }
        // Only an unweighted blend can hold fewer samples than asked for; Megatron would run
        // dry mid-training, so say it now.
        if let blend = train as? BlendedDataset, blend.count < sizes[0] {
            throw TrainingDataError.tooFewTrainingSamples(available: blend.count, needed: sizes[0])
        }
    }

    /// `PREFIX1 PREFIX2 …` (unweighted) or `W1 PREFIX1 W2 PREFIX2 …`, opened as indexed
    /// datasets, with the weights (nil when unweighted). As Megatron's `get_blend_from_list`: an
    /// odd count, or no number at any weight position, means every value is a prefix.
    static func blend(_ values: [String], _ flag: String) throws -> ([any TokenSequences], [Double]?) {
        let weights = stride(from: 0, to: values.count, by: 2).map { Double(values[$0]) }
        if values.count % 2 == 1 || weights.allSatisfy({ $0 == nil }) {
            return (try values.map { try IndexedDataset(prefix: $0) as any TokenSequences }, nil)
        }
        guard weights.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw TrainingDataError.badBlend(flag: flag, values: values)
        }
        let corpora = try stride(from: 1, to: values.count, by: 2).map { try IndexedDataset(prefix: values[$0]) as any TokenSequences }
        return (corpora, weights.map { $0! })
    }
}

/// Data flags that do not describe usable training data.
public enum TrainingDataError: Error, Equatable, CustomStringConvertible {
    case noData
    case noTokenizer
    case vocabularyTooSmall(given: Int, tokenizer: Int)
    case badBlend(flag: String, values: [String])
    case emptyTrainingSplit(String)
    case tooFewTrainingSamples(available: Int, needed: Int)

    public var description: String {
        switch self {
        case .noData: "no training data: pass --data-path PREFIX (a preprocessed .bin/.idx pair), --train-data-path, or --mock-data"
        case .noTokenizer: "training on --data-path needs --tokenizer-type and its files (for the vocabulary and the end-of-document id)"
        case let .vocabularyTooSmall(given, tokenizer): "--vocab-size \(given) is smaller than the tokenizer's \(tokenizer) ids"
        case let .badBlend(flag, values):
            "\(flag) \(values.joined(separator: " ")): expected prefixes PREFIX1 PREFIX2 …, or weight-prefix pairs W1 PREFIX1 W2 PREFIX2 … with every weight a number ≥ 0"
        case let .emptyTrainingSplit(split): "--split \(split) leaves no documents for training"
        case let .tooFewTrainingSamples(available, needed):
            "the unweighted training blend holds \(available) samples, but --train-iters × --global-batch-size needs \(needed): "
                + "weight the blend (W1 PREFIX1 W2 PREFIX2 …), add data or train fewer iterations"
        }
    }
}
