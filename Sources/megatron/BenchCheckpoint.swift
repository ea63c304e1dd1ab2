import ArgumentParser
import Foundation
import MegatronCUDA
import MegatronData
import MegatronTraining

/// `megatron bench-checkpoint`: save and load throughput of a model with its optimizer state
/// (fp32 weights and both Adam moments) in the sharded checkpoint format, synchronous and
/// asynchronous, and how long an asynchronous save stalls training.
struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-checkpoint",
        abstract: "Save/load GB/s of a model with optimizer state into --save DIR (sync and async), and the async save's stall.",
        helpNames: [])

    @Argument(parsing: .allUnrecognized, help: "Megatron-LM flags or --model NAME, with --save DIR (on the disk to measure)")
    var arguments: [String] = []

    func run() throws {
        var args = try parseTrainingArguments(arguments, command: "megatron bench-checkpoint")
        args.mockData = true
        args.trainIters = args.trainIters ?? 5
        // Only a few steps run: a preset's warm-up would exceed them.
        args.lrWarmupIters = 0
        args.lrWarmupFraction = nil
        let parsed = args
        try reportingErrors {
            guard let directory = parsed.save else { throw ValidationError("bench-checkpoint needs --save DIR (the disk to measure)") }
            let setup = try TrainingSetup(parsed)
            let backend = try makeBackend(parsed.device, computeDType: setup.computeDType)
            let data = MockGPTDataset(vocabSize: setup.model.vocabSize, seqLength: setup.model.seqLength, seed: setup.seed)
            let trainer = try Trainer(setup: setup, backend: backend, train: data, validation: nil)
            _ = try trainer.step()  // real optimizer state
            let checkpointer = TrainingCheckpointer(trainer: trainer, world: try Trainer.soloGroup())
            let url = URL(fileURLWithPath: directory)
            let bytes = Double(trainer.model.store.layout.count * 4 * 3)
            say(String(format: "model: %.1fM parameters on %@; checkpoint: fp32 weights + 2 Adam moments = %.2f GB",
                       Double(trainer.model.store.layout.count) / 1e6, backend.name, bytes / 1e9))
            func timed(_ body: () throws -> Void) rethrows -> Double {
                let start = Date()
                try body()
                return Date().timeIntervalSince(start)
            }
            let save = try timed { try checkpointer.save(to: url) }
            say(String(format: "save (sync):  %.2f s, %.2f GB/s", save, bytes / save / 1e9))
            let load = try timed { try checkpointer.load(from: url) }
            say(String(format: "load:         %.2f s, %.2f GB/s", load, bytes / load / 1e9))
            _ = try trainer.step()
            var stall = 0.0
            let total = try timed {
                stall = try timed { try checkpointer.save(to: url, asynchronously: true) }
                // Training goes on while the writer thread works.
                for _ in 0..<3 { _ = try trainer.step() }
                try trainer.synchronize()
                try checkpointer.finish()
            }
            say(String(format: "save (async): training stalled %.2f s (device → host copy); save + 3 iterations + commit %.2f s", stall, total))
            try? FileManager.default.removeItem(at: url)
        }
    }
}
