import ArgumentParser
import Foundation
import MegatronCUDA
import MegatronTensor

/// `megatron launch --nproc-per-node N -- bench-nccl`: NCCL all-reduce bus bandwidth between
/// the ranks, as nccl-tests reports it (`busbw = bytes · 2(n − 1)/n / time`).
struct BenchNCCL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-nccl",
        abstract: "All-reduce bus bandwidth over NCCL between the ranks of `megatron launch`.")

    @Option(help: "Bytes per all-reduce (fp32 elements × 4).")
    var bytes = 1 << 30

    @Option(help: "Timed all-reduces (after 5 untimed).")
    var iterations = 20

    @Option(help: "Seconds a collective may take before the ranks give up on a missing peer.")
    var timeoutSeconds: Double = 600

    @Option(help: "Fault drill: this rank sleeps instead of joining the timed all-reduces, so the others must stop with an error within --timeout-seconds.")
    var stallRank: Int?

    func run() throws {
        try reportingErrors {
            guard let rank = try DistributedRank.join(timeoutSeconds: timeoutSeconds) else {
                throw ValidationError("bench-nccl needs several ranks: run it under `megatron launch --nproc-per-node N -- bench-nccl`")
            }
            defer { NCCLProcessGroup.stopWatchdogs() }  // before NCCL's exit-time teardown
            let backend = rank.backend
            let n = rank.environment.worldSize
            let buffer = try backend.zeros([bytes / 4], dtype: .fp32)
            for _ in 0..<5 { try rank.world.allReduce(buffer, op: .sum) }
            try rank.world.barrier()
            if rank.environment.rank == stallRank {
                Thread.sleep(forTimeInterval: timeoutSeconds * 3)
                throw ValidationError("rank \(rank.environment.rank) stalled for the fault drill and the others did not stop it")
            }
            let start = try backend.context.makeEvent(), end = try backend.context.makeEvent()
            try start.record(on: backend.context.defaultStream)
            for _ in 0..<iterations { try rank.world.allReduce(buffer, op: .sum) }
            try end.record(on: backend.context.defaultStream)
            let seconds = Double(try end.elapsedMilliseconds(since: start)) / 1000 / Double(iterations)
            let algorithm = Double(bytes) / seconds / 1e9
            say(String(format: "all-reduce %d bytes over %d ranks: %.3f ms, algbw %.1f GB/s, busbw %.1f GB/s",
                       bytes, n, seconds * 1000, algorithm, algorithm * 2 * Double(n - 1) / Double(n)))
        }
    }
}
