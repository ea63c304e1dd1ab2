import ArgumentParser
import Foundation
import MegatronModels
import MegatronTraining

/// `megatron convert`: Hugging Face GPT-2 / Llama directories to swift-megatron checkpoints and back.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert between Hugging Face model directories (GPT-2, Llama) and swift-megatron checkpoints.",
        discussion: """
            megatron convert --from hf --to megatron --input gpt2-hf --output gpt2-ckpt
            megatron convert --from megatron --to hf --input gpt2-ckpt --output gpt2-hf-again --dtype bf16
            A converted checkpoint holds whole tensors at iteration 0 without optimizer state: train from it with
            `megatron train --load DIR --finetune …` under any tensor/pipeline layout.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case hf, megatron }

    @Option(help: "Source format: hf or megatron.") var from: Format
    @Option(help: "Target format: hf or megatron.") var to: Format
    @Option(help: "Source directory.") var input: String
    @Option(help: "Target directory (created).") var output: String
    @Option(help: "Hugging Face weights dtype when writing hf: fp32 or bf16.") var dtype: String = "fp32"
    @Option(help: "Split the Hugging Face weights into files of at most this many bytes (model.safetensors.index.json).")
    var maxShardSize: Int?
    @Option(help: "Checkpoint iteration to export (default: the latest).") var ckptStep: Int?

    func validate() throws {
        guard from != to else { throw ValidationError("--from and --to are both \(from.rawValue): nothing to convert") }
        guard ["fp32", "bf16"].contains(dtype) else { throw ValidationError("--dtype \(dtype): expected fp32 or bf16") }
        if let maxShardSize, maxShardSize <= 0 { throw ValidationError("--max-shard-size \(maxShardSize): expected a positive byte count") }
    }

    func run() throws {
        try reportingErrors {
            let started = Date()
            let source = URL(fileURLWithPath: input), target = URL(fileURLWithPath: output)
            switch (from, to) {
            case (.hf, .megatron):
                let config = try CheckpointConversion.importHuggingFace(from: source, to: target)
                say("converted \(input) (\(config.numLayers) layers, hidden \(config.hiddenSize), vocab \(config.vocabSize)) "
                    + "into the checkpoint \(output) (iteration 0)")
            case (.megatron, .hf):
                try CheckpointConversion.exportHuggingFace(from: source, iteration: ckptStep, to: target,
                                                           dtype: dtype == "bf16" ? .bfloat16 : .float32, maxShardBytes: maxShardSize)
                say("wrote the Hugging Face directory \(output) from \(input)")
            default:
                throw ValidationError("--from \(from.rawValue) --to \(to.rawValue) is not a conversion")
            }
            say(String(format: "done in %.2f s", Date().timeIntervalSince(started)))
        }
    }
}
