import ArgumentParser
import Foundation
import MegatronCPU
import MegatronParallel
import MegatronTraining

/// `megatron launch --nproc-per-node N -- train …`: starts N ranks of this binary on this node,
/// one process per GPU, with torchrun's variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
/// `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), waits for them, and stops the others as
/// soon as one fails. With `--device cpu`, `train` runs its N ranks as threads of this process
/// instead, over ``LocalWorld``.
struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start N ranks on this node (one process per GPU), e.g. `megatron launch --nproc-per-node 2 -- train …`.")

    @Option(help: "Ranks (processes, one per GPU) to start on this node.")
    var nprocPerNode: Int

    @Option(help: "Rendezvous port on 127.0.0.1 (rank 0 listens there).")
    var masterPort = 29500

    @Argument(parsing: .postTerminator, help: "The megatron subcommand and its flags, after `--`.")
    var command: [String] = []

    func validate() throws {
        guard nprocPerNode >= 1 else { throw ValidationError("--nproc-per-node must be at least 1 (got \(nprocPerNode))") }
        guard (1...65535).contains(masterPort) else { throw ValidationError("--master-port must be in 1…65535 (got \(masterPort))") }
        guard let first = command.first, ["train", "bench", "bench-nccl", "gpu-check"].contains(first) else {
            throw ValidationError("expected `-- train …`, `-- bench …`, `-- bench-nccl …` or `-- gpu-check --parallel` after the launch options")
        }
    }

    func run() throws {
        if command.first == "train", let device = command.firstIndex(of: "--device"), command.indices.contains(device + 1),
           command[device + 1] == "cpu" {
            return try trainOnThreads()
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var processes: [Process] = []
        for rank in 0..<nprocPerNode {
            let process = Process()
            process.executableURL = executable
            process.arguments = command
            var environment = ProcessInfo.processInfo.environment
            environment["RANK"] = String(rank)
            environment["LOCAL_RANK"] = String(rank)
            environment["WORLD_SIZE"] = String(nprocPerNode)
            environment["LOCAL_WORLD_SIZE"] = String(nprocPerNode)
            environment["MASTER_ADDR"] = "127.0.0.1"
            environment["MASTER_PORT"] = String(masterPort)
            process.environment = environment
            try process.run()
            processes.append(process)
        }
        // Poll rather than wait in order: whichever rank fails first stops the rest.
        var failed: (rank: Int, status: Int32)?
        while failed == nil, processes.contains(where: \.isRunning) {
            for (rank, p) in processes.enumerated() where !p.isRunning && p.terminationStatus != 0 {
                failed = (rank, p.terminationStatus)
                break
            }
            if failed == nil { usleep(100_000) }
        }
        if failed == nil, let bad = processes.enumerated().first(where: { $0.element.terminationStatus != 0 }) {
            failed = (bad.offset, bad.element.terminationStatus)
        }
        guard let failed else { return }
        for p in processes where p.isRunning { p.terminate() }
        for p in processes { p.waitUntilExit() }
        FileHandle.standardError.write(Data("error: rank \(failed.rank) exited with status \(failed.status); stopped the other ranks\n".utf8))
        throw ExitCode(failed.status == 0 ? 1 : failed.status)
    }

    /// `train --device cpu` with N thread ranks of a ``LocalWorld``, laid out by the parallel flags.
    private func trainOnThreads() throws {
        let args = try parseTrainingArguments(Array(command.dropFirst()), command: "megatron launch -- train")
        try reportingErrors {
            let (ready, data) = try prepareTraining(args, worldSize: nprocPerNode)
            let world = LocalWorld(size: nprocPerNode, timeout: Double(args.distributedTimeoutMinutes) * 60)
            say(layoutLine(ready.parallel) + " (threads of this process, CPU)")
            try world.run { rank in
                let groups = try ParallelGroups(ready.parallel, rank: rank) { request in
                    try request.members.map { try world.group(ranks: $0, rank: rank, name: request.name) }
                }
                try train(ready, data: data, backend: CPUBackend(), groups: groups, log: rank == 0 ? say : { _ in })
            }
        }
    }
}
