import ArgumentParser
import Foundation
import MegatronCPU
import MegatronCUDA
import MegatronData
import MegatronParallel
import MegatronTensor
import MegatronTraining

@main
struct Megatron: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "megatron",
        abstract: "Train GPT and Llama models the way Megatron-LM does, from one Swift binary.",
        subcommands: [Train.self, Bench.self, Preprocess.self, Convert.self, Launch.self, BenchGEMM.self, BenchTokenizer.self, BenchLoader.self, BenchCheckpoint.self, BenchNCCL.self, Flags.self, Doctor.self, GPUCheck.self])
}

/// Writes one line to standard output at once (unbuffered, so log lines appear as they happen);
/// in a multi-process run only rank 0 speaks.
func say(_ line: String) {
    guard isLoggingRank else { return }
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Parses Megatron-style flags, printing help or a clear error and exiting non-zero on bad input.
func parseTrainingArguments(_ raw: [String], command: String) throws -> TrainingArguments {
    do {
        return try TrainingArguments.parse(raw)
    } catch .helpRequested {
        say(TrainingArguments.helpText(command: command))
        throw ExitCode.success
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// The backend `--device` asks for: `cuda`, `cpu`, or `auto` (CUDA when a GPU is usable, else
/// the CPU with one line saying why).
func makeBackend(_ device: String, computeDType: DType) throws -> any Backend {
    if device == "cpu", computeDType != .fp32 {
        FileHandle.standardError.write(Data("error: --\(computeDType) trains on the GPU only (--device cuda); the CPU backend computes in fp32\n".utf8))
        throw ExitCode(2)
    }
    if device != "cpu" {
        do {
            let backend = try CUDABackend(device: 0)
            say("device: \(backend.name)")
            return backend
        } catch {
            if device == "cuda" || computeDType != .fp32 {
                FileHandle.standardError.write(Data("error: --device cuda: \(error)\n(use --device cpu to train on the CPU)\n".utf8))
                throw ExitCode(2)
            }
            let reason = String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            say("no usable GPU (\(reason)); running on the CPU")
        }
    }
    let backend = CPUBackend()
    say("device: \(backend.name)")
    return backend
}

/// Runs `body`, turning a thrown error into one clear line and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain a GPT with Megatron-LM's pretrain_gpt.py flags (see `megatron train --help`).",
        helpNames: [])  // --help reaches the Megatron flag parser, which lists every flag

    @Argument(parsing: .allUnrecognized, help: "Megatron-LM flags, e.g. --num-layers 12 --mock-data")
    var arguments: [String] = []

    func run() throws {
        let args = try parseTrainingArguments(arguments, command: "megatron train")
        try reportingErrors {
            let rank = try DistributedRank.join(timeoutSeconds: Double(args.distributedTimeoutMinutes) * 60)
            defer { if rank != nil { NCCLProcessGroup.stopWatchdogs() } }  // before NCCL's exit-time teardown
            let (setup, data) = try prepareTraining(args, worldSize: rank?.environment.worldSize ?? 1)
            let backend = try rank?.backend ?? makeBackend(args.device, computeDType: setup.computeDType)
            rank?.announce(setup)
            try train(setup, data: data, backend: backend, groups: try rank?.groups(setup.parallel) ?? .single, log: say)
        }
    }
}

/// The run's setup and data: the tokenizer (when given) decides the vocabulary and the
/// end-of-document id, then the datasets are built.
func prepareTraining(_ args: TrainingArguments, worldSize: Int) throws -> (TrainingSetup, TrainingData) {
    let (resolved, tokenizer) = try TrainingData.loadTokenizer(args)
    var setup = try TrainingSetup(resolved, worldSize: worldSize)
    setup.eodToken = tokenizer?.eod
    return (setup, try TrainingData(resolved, setup: setup, tokenizer: tokenizer, log: { say($0) }))
}

/// Trains `setup` on `data`, logging through `log` (a no-op on all ranks but the first).
func train(_ setup: TrainingSetup, data: TrainingData, backend: any Backend, groups: ParallelGroups, log: (String) -> Void) throws {
    let c = setup.model
    log("model: \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numAttentionHeads) heads (\(c.queryGroups) query groups), "
        + "ffn \(c.ffnSize), seq \(c.seqLength), vocab \(c.vocabSize) padded to \(c.paddedVocabSize)")
    let trainer = try Trainer(setup: setup, backend: backend, train: data.train, validation: data.validation, test: data.test,
                              groups: groups)
    log("parameters: \(trainer.model.store.layout.fullCount), micro-batches per iteration: \(setup.microBatchesPerIteration)")
    try trainer.run(log: log)
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput (tokens/s, TFLOP/s) of a named (--model) or flagged config on mock data.",
        helpNames: [])

    @Argument(parsing: .allUnrecognized, help: "Megatron-LM flags or --model NAME, plus --bench-iters, --bench-warmup")
    var arguments: [String] = []

    func run() throws {
        // bench always runs on mock data and needs no schedule length of its own.
        var args = try parseTrainingArguments(arguments, command: "megatron bench")
        args.mockData = true
        args.trainIters = args.trainIters ?? args.benchWarmup + args.benchIters
        // The timed steps need no schedule of their own: a preset's warm-up would exceed them.
        args.lrWarmupIters = 0
        args.lrWarmupFraction = nil
        let parsed = args
        try reportingErrors {
            let rank = try DistributedRank.join(timeoutSeconds: Double(parsed.distributedTimeoutMinutes) * 60)
            defer { if rank != nil { NCCLProcessGroup.stopWatchdogs() } }  // before NCCL's exit-time teardown
            let setup = try TrainingSetup(parsed, worldSize: rank?.environment.worldSize ?? 1)
            let backend = try rank?.backend ?? makeBackend(parsed.device, computeDType: setup.computeDType)
            rank?.announce(setup)
            let c = setup.model
            say("config: \(parsed.model) — \(c.numLayers) layers, hidden \(c.hiddenSize), heads \(c.numAttentionHeads)/\(c.queryGroups), "
                + "ffn \(c.ffnSize) (\(c.activation.rawValue)), seq \(c.seqLength), vocab \(c.paddedVocabSize), "
                + "micro batch \(setup.microBatchSize), global batch \(setup.globalBatchSize)")
            say(ThroughputModel.formula)
            let profile: ((Trainer) throws -> Void)? = parsed.benchProfile ? { trainer in try profileStep(trainer, backend) } : nil
            let groups = try rank?.groups(setup.parallel) ?? .single
            let r = try Benchmark.run(setup: setup, backend: backend, warmup: parsed.benchWarmup, iterations: parsed.benchIters,
                                      groups: groups, afterTiming: profile)
            say(String(format: "parameters: %.1fM, FLOPs per iteration: %.3e, setup %.1f s", Double(r.parameters) / 1e6,
                       r.flopsPerIteration, r.setupSeconds))
            say(String(format: "time per iteration: %.1f ms, tokens/s: %.0f, TFLOP/s: %.3f, loss: %.4f",
                         r.secondsPerIteration * 1000, r.tokensPerSecond, r.tflops, r.lastLoss))
            let world = setup.parallel.worldSize
            if world > 1 {
                let ranks = Double(world)
                say(String(format: "per GPU: tokens/s: %.0f, TFLOP/s: %.3f (%d ranks)", r.tokensPerSecond / ranks, r.tflops / ranks, world))
            }
            if let peak = r.peakResidentBytes { say(String(format: "peak host memory: %.2f GiB", Double(peak) / 1_073_741_824)) }
            if let cuda = backend as? CUDABackend {
                let stats = cuda.context.allocator.statistics
                say(String(format: "peak GPU memory: %.2f GiB allocated, %.2f GiB reserved",
                           Double(stats.peakAllocatedBytes) / 1_073_741_824, Double(stats.peakReservedBytes) / 1_073_741_824))
                if let world = groups.world {
                    let peaks = try Benchmark.gathered(Double(stats.peakAllocatedBytes) / 1_073_741_824, over: world, backend: backend)
                    say(String(format: "peak GPU memory per rank: max %.2f GiB allocated; ", peaks.max() ?? 0)
                        + peaks.map { String(format: "%.2f", $0) }.joined(separator: ", "))
                }
                // Every stage reports its own memory: the first holds the most activations.
                if let p = r.pipelineActivations {
                    FileHandle.standardOutput.write(Data(String(
                        format: "pipeline stage %d: peak GPU memory %.2f GiB allocated, activations of %d micro-batches held at most (1F1B bound %d)\n",
                        p.stage, Double(stats.peakAllocatedBytes) / 1_073_741_824, p.peak, p.bound).utf8))
                }
                // H100/H200 SXM dense bf16 peak; fp32 runs on the tensor cores only through TF32.
                say(String(format: "MFU: %.1f%% of 989 TFLOP/s (H100/H200 SXM dense bf16)",
                           r.tflops / Double(world) / 989 * 100))
            } else {
                say("MFU: n/a on the CPU (no reference peak)")
            }
        }
    }
}

struct Flags: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every `train`/`bench` flag as a Markdown table (the README's flag table).")

    func run() throws { say(TrainingArguments.markdownFlagTable()) }
}

struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gemm",
        abstract: "Measure CPU fp32 GEMM GFLOP/s (n×n×n) for the Swift SIMD kernel and the loaded BLAS.")

    @Option(help: "Matrix size n.")
    var size = 1024

    @Option(help: "Timed repetitions (best is reported).")
    var repeats = 5

    func validate() throws {
        guard size > 0, repeats > 0 else { throw ValidationError("--size and --repeats must be positive") }
    }

    func run() throws {
        let swift = CPUGEMM.benchmark(n: size, repeats: repeats, implementation: .swift)
        say(String(format: "swift SIMD kernel: %.1f GFLOP/s (n = %d, %d threads)", swift, size, ProcessInfo.processInfo.activeProcessorCount))
        if let blas = CPUGEMM.blasDescription {
            let rate = CPUGEMM.benchmark(n: size, repeats: repeats, implementation: .blas)
            say(String(format: "BLAS %@: %.1f GFLOP/s", blas, rate))
        } else {
            say("BLAS: none found (set MEGATRON_BLAS_LIBRARY or install OpenBLAS)")
        }
    }
}

/// One more training iteration with every GPU kernel timed: prints the time per kernel, longest
/// first, and how much of the iteration's wall time the GPU spent in kernels.
func profileStep(_ trainer: Trainer, _ backend: any Backend) throws {
    guard let cuda = backend as? CUDABackend else {
        say("--bench-profile: kernel timing needs --device cuda; skipped")
        return
    }
    try cuda.synchronize()
    cuda.profiler.start()
    let start = Date()
    _ = try trainer.step()
    try cuda.synchronize()
    let wall = Date().timeIntervalSince(start) * 1000
    let rows = try cuda.profiler.report()
    let busy = rows.reduce(0) { $0 + $1.milliseconds }
    say("kernel profile of one iteration (GPU time per kernel, events around each launch):")
    for row in rows { say("  " + row.description) }
    say(String(format: "profiled iteration: %.1f ms wall, %.1f ms in kernels (%.0f%%), %d launches",
               wall, busy, busy / wall * 100, rows.reduce(0) { $0 + $1.calls }))
}
