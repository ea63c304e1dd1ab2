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

    public init(_ args: TrainingArguments, setup: TrainingSetup, tokenizer: (any Tokenizer)?) throws {
        let c = setup.model
        if args.mockData {
            train = MockGPTDataset(vocabSize: c.vocabSize, seqLength: c.seqLength, seed: setup.seed)
            validation = MockGPTDataset(vocabSize: c.vocabSize, seqLength: c.seqLength, seed: mixSeed(setup.seed))
            return
        }
        guard !args.dataPath.isEmpty || !args.trainDataPath.isEmpty else { throw TrainingDataError.noData }
        guard tokenizer != nil else { throw TrainingDataError.noTokenizer }
        // Megatron's sample counts: every training step, and every evaluation (plus the last).
        let gbs = setup.globalBatchSize
        let sizes = [setup.trainIters * gbs, (setup.trainIters / setup.evalInterval + 1) * setup.evalIters * gbs, setup.evalIters * gbs]
        let seed = UInt32(truncatingIfNeeded: setup.seed)
        if !args.dataPath.isEmpty {
            let (corpora, weights) = try Self.blend(args.dataPath, "--data-path")
            let splits = try GPTDatasetBuilder.build(corpora: corpora, weights: weights, split: try DatasetSplit(args.split), sizes: sizes,
                                                     sequenceLength: c.seqLength, seed: seed)
            guard let first = splits[0] else { throw TrainingDataError.emptyTrainingSplit(args.split) }
            train = first
            validation = splits[1]
        } else if !args.trainDataPath.isEmpty {
            func whole(_ paths: [String], _ flag: String, _ s: Int) throws -> (any GPTSampleSource)? {
                guard !paths.isEmpty else { return nil }
                let (corpora, weights) = try Self.blend(paths, flag)
                var only = [0, 0, 0]
                only[s] = 1
                return try GPTDatasetBuilder.build(corpora: corpora, weights: weights, split: try DatasetSplit(only.map(String.init).joined(separator: ",")),
                                                   sizes: sizes, sequenceLength: c.seqLength, seed: seed)[s]
            }
            guard let first = try whole(args.trainDataPath, "--train-data-path", 0) else { throw TrainingDataError.noData }
            train = first
            validation = try whole(args.validDataPath, "--valid-data-path", 1)
        } else {
            throw TrainingDataError.noData
        }
    }

    /// `PREFIX` or `W1 PREFIX1 W2 PREFIX2 …` opened as indexed datasets, with the weights.
    static func blend(_ values: [String], _ flag: String) throws -> ([any TokenSequences], [Double]?) {
        if values.count == 1 { return ([try IndexedDataset(prefix: values[0])], nil) }
        let weights = stride(from: 0, to: values.count, by: 2).map { Double(values[$0]) }
        guard values.count % 2 == 0, weights.allSatisfy({ $0 != nil && $0! >= 0 }) else {
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

    public var description: String {
        switch self {
        case .noData: "no training data: pass --data-path PREFIX (a preprocessed .bin/.idx pair), --train-data-path, or --mock-data"
        case .noTokenizer: "training on --data-path needs --tokenizer-type and its files (for the vocabulary and the end-of-document id)"
        case let .vocabularyTooSmall(given, tokenizer): "--vocab-size \(given) is smaller than the tokenizer's \(tokenizer) ids"
        case let .badBlend(flag, values):
            "\(flag) \(values.joined(separator: " ")): expected PREFIX, or weight-prefix pairs W1 PREFIX1 W2 PREFIX2 … with weights ≥ 0"
        case let .emptyTrainingSplit(split): "--split \(split) leaves no documents for training"
        }
    }
}
