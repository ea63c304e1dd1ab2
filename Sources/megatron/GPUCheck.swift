import ArgumentParser
import Foundation
import MegatronCPU
import MegatronCUDA
import MegatronTensor
import MegatronTraining

/// `megatron gpu-check`: compiles and loads every CUDA kernel group on the GPU, checks cuBLASLt
/// and every backend op against the CPU reference, and compares 50-iteration loss curves with
/// the CPU's fp32 curve; exits non-zero when any check fails.
struct GPUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-check",
        abstract: "Check the CUDA stack on this GPU: NVRTC compilation and loading of every kernel, cuBLASLt products.")

    @Option(help: "CUDA device ordinal.")
    var device = 0

    @ArgumentParser.Flag(help: "Only the small shapes of the op checks (quick).")
    var quick = false

    @ArgumentParser.Flag(help: "Under `megatron launch` on 2, 4 or 8 GPUs: the bf16 loss curves of parallel layouts against one GPU's.")
    var parallel = false

    func run() throws {
        if parallel { return try checkParallelLossCurves() }
        var ok = CUDASelfCheck.run(device: device) { say($0) }
        do {
            let backend = try CUDABackend(device: device)
            for dtype in [DType.fp32, .bf16, .fp16] {
                let results = try BackendCheck(device: backend).run(dtype: dtype, coverage: quick ? .quick : .full)
                for r in results { say(r.description) }
                ok = ok && results.allSatisfy(\.passed)
            }
        } catch {
            say("FAIL CUDA backend op checks: \(error)")
            ok = false
        }
        do {
            ok = try checkLossCurves() && ok
        } catch {
            say("FAIL loss curves: \(error)")
            ok = false
        }
        if !ok { throw ExitCode.failure }
    }

    /// Every rank trains the one-GPU bf16 curve on its own GPU, then each layout together; rank
    /// 0 reports each layout's worst difference from the one-GPU curve (tolerance 1%).
    private func checkParallelLossCurves() throws {
        guard let rank = try DistributedRank.join(timeoutSeconds: 600) else {
            throw ValidationError("gpu-check --parallel runs under `megatron launch --nproc-per-node 2` (or 4, 8)")
        }
        defer { NCCLProcessGroup.stopWatchdogs() }  // before NCCL's exit-time teardown
        let check = LossCurveCheck(tolerance: 0.01)
        let world = rank.environment.worldSize
        let reference = try check.curve(on: rank.backend, extraFlags: ["--bf16"])
        var ok = true
        for (name, flags) in Self.parallelLayouts(world: world) {
            let losses = try check.curve(on: rank.backend, extraFlags: ["--bf16"] + flags, worldSize: world) { try rank.groups($0) }
            let result = LossCurveCheck.Result(name: "cuda bf16 \(name) vs 1 GPU", reference: reference, losses: losses,
                                               tolerance: check.tolerance)
            if rank.environment.rank == 0 { say(result.description) }
            ok = ok && result.passed
        }
        if !ok { throw ExitCode.failure }
    }

    /// The layouts `gpu-check --parallel` compares with one GPU. Two ranks: each kind alone. Four
    /// or eight: the compositions (TP×PP×DP, TP×DP, PP×DP) at 16 sequences per iteration, the
    /// micro-batch shrunk so every data-parallel rank gets one.
    static func parallelLayouts(world: Int) -> [(String, [String])] {
        guard world > 2 else {
            return [
                ("tp \(world)", ["--tensor-model-parallel-size", "\(world)"]),
                ("tp \(world), sequence parallel", ["--tensor-model-parallel-size", "\(world)", "--sequence-parallel"]),
                ("dp \(world)", []),
                ("dp \(world), overlapped reduce", ["--overlap-grad-reduce"]),
                ("dp \(world), distributed optimizer", ["--use-distributed-optimizer"]),
                ("dp \(world), dist. opt., both overlaps, 8 buckets", ["--use-distributed-optimizer", "--overlap-grad-reduce",
                                                                     "--overlap-param-gather", "--ddp-bucket-size", "100000"]),
                ("tp \(world) sp, dist. opt. (dp 1)", ["--tensor-model-parallel-size", "\(world)", "--sequence-parallel",
                                                    "--use-distributed-optimizer"]),
                ("pp \(world) (1F1B)", ["--pipeline-model-parallel-size", "\(world)"]),
            ]
        }
        func layout(tp: Int, pp: Int, _ extra: [String]) -> (String, [String]) {
            let dp = world / (tp * pp)
            return ("tp \(tp) × pp \(pp) × dp \(dp)\(extra.isEmpty ? "" : ", " + extra.joined(separator: " "))",
                    ["--tensor-model-parallel-size", "\(tp)", "--pipeline-model-parallel-size", "\(pp)",
                     "--micro-batch-size", "\(max(1, 16 / dp))"] + extra)
        }
        return [
            layout(tp: 2, pp: 2, ["--sequence-parallel", "--use-distributed-optimizer"]),
            layout(tp: 2, pp: 2, ["--overlap-grad-reduce"]),
            layout(tp: 2, pp: 1, ["--sequence-parallel", "--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"]),
            layout(tp: 1, pp: 2, ["--use-distributed-optimizer"]),
            layout(tp: 4, pp: world / 4, []),
        ]
    }

    /// 50 iterations of a small GPT on learnable data: the GPU curves (bf16, with each
    /// recomputation granularity, fp16 with loss scaling, fp32) against the CPU's fp32 curve.
    private func checkLossCurves() throws -> Bool {
        let check = LossCurveCheck()
        let reference = try check.curve(on: CPUBackend(), extraFlags: [])
        let backend = try CUDABackend(device: device)
        var ok = true
        // fp16 starts from a loss scale that needs no skipped steps, so the curves stay aligned.
        for (name, flags) in [
            ("cuda bf16", ["--bf16"]),
            ("cuda bf16, selective recompute", ["--bf16", "--recompute-granularity", "selective"]),
            ("cuda bf16, full recompute", ["--bf16", "--recompute-granularity", "full"]),
            ("cuda fp16, loss scale 4096", ["--fp16", "--initial-loss-scale", "4096"]),
            ("cuda fp32", []),
        ] {
            do {
                let result = try check.compare(name, on: backend, extraFlags: flags, reference: reference)
                say(result.description)
                ok = ok && result.passed
            } catch {
                say("FAIL loss curve \(name): \(error)")
                ok = false
            }
        }
        return ok
    }
}
