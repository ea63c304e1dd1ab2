import Foundation
import MegatronCheckpoint
import MegatronModels
import MegatronTransformer

/// `megatron convert`: Hugging Face model directories (GPT2LMHeadModel, LlamaForCausalLM;
/// `config.json` with one or sharded safetensors files) to swift-megatron checkpoints and back.
/// A converted checkpoint holds whole tensors at iteration 0 without optimizer state; any
/// tensor/pipeline layout loads it (`megatron train --load DIR --finetune`).
///
///     let config = try CheckpointConversion.importHuggingFace(from: hfDirectory, to: checkpointDirectory)
///     try CheckpointConversion.exportHuggingFace(from: checkpointDirectory, to: hfDirectory)
public enum CheckpointConversion {
    /// Converts the Hugging Face directory `input` into a checkpoint in `output`; returns the
    /// model's config.
    @discardableResult
    public static func importHuggingFace(from input: URL, to output: URL) throws -> TransformerConfig {
        let model = try HFModelDirectory.load(from: input)
        let config = model.transformerConfig
        let shards = try model.weights.keys.sorted().map { name -> ShardData in
            guard let shape = model.shapes[name], let values = model.weights[name] else {
                throw TrainingCheckpointError.noMetadata("\(input.path): no shape for \(name)")
            }
            return values.withUnsafeBytes { ShardData(TensorShard(name: name, dtype: "F32", globalShape: shape), bytes: Data($0)) }
        }
        let metadata = CheckpointMetadata(
            iteration: 0, consumedTrainSamples: 0, consumedValidSamples: 0, skippedIterations: 0, optimizerSteps: 0,
            lossScaler: nil, seed: 0, model: .init(config), tensorParallel: 1, pipelineParallel: 1, dataParallel: 1,
            hasOptimizerState: false, arguments: ["convert", "--from", "hf", "--input", input.path])
        try CheckpointSaver(directory: output, group: try Trainer.soloGroup())
            .save(iteration: 0, shards: shards, common: metadata)
        return config
    }

    /// Writes the checkpoint in `input` (its latest iteration, or `iteration`) as a Hugging Face
    /// directory: GPT-2 for learned absolute positions, Llama for rotary ones.
    public static func exportHuggingFace(from input: URL, iteration: Int? = nil, to output: URL,
                                         dtype: HFWeightDType = .float32, maxShardBytes: Int? = nil) throws {
        let reader = try CheckpointReader(directory: input, iteration: iteration)
        guard let metadata = try reader.common(as: CheckpointMetadata.self) else {
            throw TrainingCheckpointError.noMetadata(reader.iterationDirectory.path)
        }
        let config = try metadata.model.transformerConfig()
        let architecture: HFArchitecture = config.positionEmbeddingType == .rope ? .llama : .gpt2
        let shapes = try HFWeightMapping(config: config, architecture: architecture).megatronTensorShapes
        var weights: [String: [Float]] = [:]
        for (name, shape) in shapes {
            var values = [Float](repeating: 0, count: shape.reduce(1, *))
            // The checkpoint's vocabulary rows may be padded for another layout: take the rows both have.
            if let (target, count) = CheckpointPieces.clipped(TensorShard(name: name, dtype: "F32", globalShape: shape),
                                                              toSaved: try reader.record(name).shape) {
                try values.withUnsafeMutableBytes { raw in
                    try reader.read(target, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count * 4]))
                }
            }
            weights[name] = values
        }
        try HFModelDirectory.save(HFModel(config: HFConfig(architecture: architecture, transformer: config), weights: weights, shapes: shapes),
                                  to: output, dtype: dtype, maxShardBytes: maxShardBytes)
    }
}
