import Foundation
import MegatronCPU
import MegatronData
import MegatronTensor
import MegatronTraining
import MegatronTransformer
import Testing

@Suite("Training setup, loop and logging")
struct TrainingTests {
    func tinyArgs(_ extra: [String] = []) throws -> TrainingArguments {
        try TrainingArguments.parse([
            "--mock-data", "--num-layers", "2", "--hidden-size", "32", "--num-attention-heads", "4",
            "--seq-length", "16", "--vocab-size", "100", "--micro-batch-size", "2", "--global-batch-size", "4",
            "--train-iters", "6", "--lr", "1e-3", "--log-interval", "2", "--eval-interval", "3", "--eval-iters", "1",
        ] + extra)
    }

    @Test func setupDerivesBatchesAndSchedule() throws {
        let s = try TrainingSetup(try tinyArgs(["--lr-warmup-fraction", "0.5", "--lr-decay-style", "cosine"]))
        #expect(s.microBatchesPerIteration == 2)
        #expect(s.tokensPerIteration == 64)
        #expect(s.schedule.warmupSteps == 3 && s.schedule.decaySteps == 6 && s.schedule.style == .cosine)
        #expect(s.model.paddedVocabSize == 128)
    }

    @Test func setupRejectsInconsistentFlags() throws {
        #expect(throws: SetupError.self) { try TrainingSetup(try tinyArgs(["--global-batch-size", "5"])) }
        #expect(throws: SetupError.self) { try TrainingSetup(try tinyArgs(["--swiglu", "--openai-gelu"])) }
        #expect(throws: SetupError.self) { try TrainingSetup(try tinyArgs(["--hidden-size", "30"])) }
        #expect(throws: SetupError.self) { try TrainingSetup(try tinyArgs(["--lr-warmup-iters", "2", "--lr-warmup-fraction", "0.1"])) }
        var noLR = try tinyArgs()
        noLR.lr = nil
        do {
            _ = try TrainingSetup(noLR)
            Issue.record("missing --lr accepted")
        } catch {
            #expect(error.description == "--lr is required")
        }
    }

    @Test func groupQueryAttentionFollowsMegatron() throws {
        // --num-query-groups counts only with --group-query-attention (default 1 group then).
        #expect(try TrainingSetup(try tinyArgs(["--num-query-groups", "2"])).model.queryGroups == 4)
        #expect(try TrainingSetup(try tinyArgs(["--group-query-attention"])).model.queryGroups == 1)
        #expect(try TrainingSetup(try tinyArgs(["--group-query-attention", "--num-query-groups", "2"])).model.queryGroups == 2)
    }

    @Test func trainingLoopLogsMegatronLinesAndValidation() throws {
        let setup = try TrainingSetup(try tinyArgs())
        let data = MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 1)
        let trainer = try Trainer(setup: setup, backend: CPUBackend(), train: data, validation: MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 2))
        var lines: [String] = []
        try trainer.run { lines.append($0) }
        let iterationLines = lines.filter { $0.contains(" iteration ") && $0.contains("lm loss:") }
        #expect(iterationLines.count == 3)
        #expect(iterationLines.last?.contains("iteration        6/       6 | consumed samples:           24 |") == true)
        // Megatron evaluates every --eval-interval, then once more after training; each pass
        // continues through the validation samples.
        let validations = lines.filter { $0.contains("validation loss at iteration") }
        #expect(validations.count == 3)
        #expect(validations.last?.contains("validation loss at iteration 6 on validation set | lm loss value: ") == true)
        #expect(trainer.consumedSamples == 24)
        #expect(trainer.consumedValidationSamples == 3 * 4)
    }

    @Test func lossFallsOnARepeatedBatch() throws {
        // A source that always returns the same sample: the loss must fall well below log(V).
        struct Fixed: GPTSampleSource {
            let seqLength = 16
            func sample(_ index: Int) throws -> [Int32] { (0...16).map { Int32(($0 * 7) % 100) } }
        }
        let setup = try TrainingSetup(try tinyArgs(["--train-iters", "40", "--lr", "1e-2", "--lr-decay-style", "constant", "--weight-decay", "0", "--hidden-dropout", "0", "--attention-dropout", "0"]))
        let trainer = try Trainer(setup: setup, backend: CPUBackend(), train: Fixed(), validation: nil)
        let first = try trainer.step().loss
        var last = first
        while trainer.iteration < 40 { last = try trainer.step().loss }
        #expect(first > 4 && last < 1, "loss \(first) → \(last)")
    }

    @Test func nonFiniteLossStopsWithTheIteration() throws {
        let setup = try TrainingSetup(try tinyArgs())
        let backend = CPUBackend()
        let trainer = try Trainer(setup: setup, backend: backend, train: MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 1), validation: nil)
        _ = try trainer.step()
        // Poison one weight: the next loss is NaN and the run must stop naming iteration 2.
        let norm = try #require(trainer.model.store.parameter(named: "decoder.final_layernorm.weight"))
        try backend.fill(try norm.value.view(offset: 0, shape: [1]), .nan)
        do {
            _ = try trainer.step()
            Issue.record("a NaN weight did not stop the run")
        } catch let TrainingError.nonFiniteLoss(iteration, loss) {
            #expect(iteration == 2 && loss.isNaN)
            #expect(TrainingError.nonFiniteLoss(iteration: iteration, loss: loss).description.contains("at iteration 2"))
        }
    }

    @Test func microBatchAccumulationEqualsOneLargeBatch() throws {
        // Two micro-batches of 2 and one of 4 over the same samples give the same update.
        let common = ["--hidden-dropout", "0", "--attention-dropout", "0", "--global-batch-size", "4"]
        var params: [[Float]] = []
        for micro in ["2", "4"] {
            let setup = try TrainingSetup(try tinyArgs(common + ["--micro-batch-size", micro]))
            let backend = CPUBackend()
            let trainer = try Trainer(setup: setup, backend: backend, train: MockGPTDataset(vocabSize: 100, seqLength: 16, seed: 3), validation: nil)
            _ = try trainer.step()
            params.append(try backend.download(trainer.model.store.values))
        }
        #expect(relativeError(params[0], params[1]) < 1e-6)
    }

    @Test func scientificFormatMatchesPython() {
        #expect(IterationLog.scientific(10.823456789) == "1.082346E+01")
        #expect(IterationLog.scientific(3e-4) == "3.000000E-04")
    }

    @Test func flopFormulaForGPT2Small() throws {
        var c = TransformerConfig.gpt2(numLayers: 12, hiddenSize: 768, numAttentionHeads: 12, vocabSize: 50257, seqLength: 1024)
        c = try c.validated()
        // Per token: 12 layers · (MLP 6·768·3072·2 + attention linears 6·768·(2304 + 768)) + logits 6·768·50304.
        let mlp: Double = 6 * 768 * 3072 * 2
        let attentionLinear: Double = 6 * 768 * (2304 + 768)
        let logits: Double = 6 * 768 * 50304
        let perToken: Double = 12 * (mlp + attentionLinear) + logits
        let attention: Double = 1024 * 1024 * 6 * 768 * 12
        let expected = 64 * 1024 * perToken + 64 * attention
        #expect(ThroughputModel(config: c).flopsPerIteration(globalBatch: 64) == expected)
    }
}

@Suite("Documentation")
struct DocumentationTests {
    @Test func readmeFlagTableMatchesTheCode() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- flags:begin -->\n")), end = try #require(text.range(of: "\n<!-- flags:end -->"))
        #expect(String(text[begin.upperBound..<end.lowerBound]) == TrainingArguments.markdownFlagTable().trimmingCharacters(in: .newlines),
                "README's flag table is stale: regenerate it with `swift run megatron flags`")
    }
}

@Suite("Backend check harness")
struct BackendCheckTests {
    /// The harness run with the CPU as both device and reference: every check must pass, which
    /// exercises input mirroring, output poisoning and the comparisons end to end.
    @Test func cpuAgainstItselfPasses() throws {
        let results = try BackendCheck(device: CPUBackend(), seed: 5).run(dtype: .fp32, coverage: .quick)
        #expect(results.count > 40)
        for r in results where !r.passed { Issue.record("\(r)") }
    }
}
