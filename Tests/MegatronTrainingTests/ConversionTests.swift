import Foundation
import MegatronCheckpoint
import MegatronModels
import MegatronTraining
import Testing

/// `megatron convert` between Hugging Face directories and checkpoints, on the Hugging Face
/// fixtures of the model tests (written by transformers: scripts/fixtures/make_hf_dir_fixtures.py).
@Suite("Hugging Face conversion")
struct ConversionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../MegatronModelsTests/Fixtures/hf").standardized

    @Test(arguments: [("gpt2_tiny", nil as Int?), ("llama_tiny_sharded", 64_000)])
    func hfToCheckpointAndBackIsBitwise(name: String, shardBytes: Int?) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("convert-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let source = Self.fixtures.appendingPathComponent(name)
        let checkpoint = work.appendingPathComponent("ckpt"), back = work.appendingPathComponent("hf")
        let config = try CheckpointConversion.importHuggingFace(from: source, to: checkpoint)
        // A weights-only checkpoint at iteration 0 that names its model.
        let reader = try CheckpointReader(directory: checkpoint)
        #expect(reader.iteration == 0)
        let metadata = try #require(try reader.common(as: CheckpointMetadata.self))
        #expect(!metadata.hasOptimizerState)
        #expect(CheckpointMetadata.ModelShape(try metadata.model.transformerConfig(seqLength: config.seqLength)) == .init(config))
        try CheckpointConversion.exportHuggingFace(from: checkpoint, to: back, maxShardBytes: shardBytes)
        let original = try HFModelDirectory.load(from: source), again = try HFModelDirectory.load(from: back)
        #expect(again.weights == original.weights)
        #expect(again.shapes == original.shapes)
        #expect(CheckpointMetadata.ModelShape(again.transformerConfig) == .init(original.transformerConfig))
        #expect(FileManager.default.fileExists(atPath: back.appendingPathComponent(
            shardBytes == nil ? "model.safetensors" : "model.safetensors.index.json").path))
    }

    @Test func aDirectoryThatIsNotACheckpointIsNamed() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("convert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: CheckpointError.self) {
            try CheckpointConversion.exportHuggingFace(from: empty, to: empty.appendingPathComponent("hf"))
        }
        #expect(throws: HFDirectoryError.self) {
            try CheckpointConversion.importHuggingFace(from: empty, to: empty.appendingPathComponent("ckpt"))
        }
    }
}
