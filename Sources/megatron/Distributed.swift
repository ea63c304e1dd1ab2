import Foundation
import MegatronCUDA
import MegatronParallel
import MegatronTraining

/// This process's place in a multi-process GPU run started by `megatron launch`, torchrun,
/// Slurm or Open MPI: its GPU (the local rank) and its NCCL groups.
struct DistributedRank {
    let environment: DistributedEnvironment
    let backend: CUDABackend
    /// Every rank.
    let world: NCCLProcessGroup
    let timeoutSeconds: Double

    /// Nil when no launcher variables are set. Otherwise joins the NCCL rendezvous: rank 0
    /// creates the unique id and hands it out over `MASTER_ADDR:MASTER_PORT`.
    static func join(timeoutSeconds: Double) throws -> DistributedRank? {
        guard let env = try DistributedEnvironment(ProcessInfo.processInfo.environment), env.worldSize > 1 else { return nil }
        let backend = try CUDABackend(device: env.localRank)
        let library = try NCCLLibrary.shared()
        let bytes = try Rendezvous.share(env.rank == 0 ? try library.uniqueID().bytes : nil, environment: env, timeout: timeoutSeconds)
        guard let id = NCCLUniqueID(bytes: bytes) else {
            throw RendezvousError.protocolError("received \(bytes.count) bytes, not an NCCL unique id")
        }
        let communicator = try NCCLCommunicator(context: backend.context, uniqueID: id, rank: env.rank, size: env.worldSize, library: library)
        return DistributedRank(environment: env, backend: backend,
                               world: try NCCLProcessGroup(communicator: communicator, backend: backend, name: "world",
                                                           timeout: timeoutSeconds),
                               timeoutSeconds: timeoutSeconds)
    }

    /// This rank's NCCL groups for `layout`: each a split of the world communicator, which every
    /// rank takes part in (those in none of a kind's groups with no color); the world
    /// communicator itself where a group spans every rank (with a second channel split off it
    /// for the pipeline group).
    func groups(_ layout: ParallelConfig) throws -> ParallelGroups {
        try ParallelGroups(layout, rank: environment.rank) { request in
            guard let members = request.members, let color = request.color else {
                try world.communicator.splitExcluded()
                return nil
            }
            guard members.count < environment.worldSize else {
                guard request.pointToPointChannels > 1 else { return world }
                return try NCCLProcessGroup(communicator: world.communicator, backend: backend, name: request.name,
                                            timeout: timeoutSeconds, pointToPointChannels: request.pointToPointChannels)
            }
            guard let rank = members.firstIndex(of: environment.rank) else {
                throw ParallelError.invalidArgument(collective: "group creation", group: request.name,
                                                    message: "rank \(environment.rank) is not among \(members)")
            }
            let communicator = try world.communicator.split(color: color, rank: rank, size: members.count)
            return try NCCLProcessGroup(communicator: communicator, backend: backend, name: request.name, timeout: timeoutSeconds,
                                        pointToPointChannels: request.pointToPointChannels)
        }
    }
}

extension DistributedRank {
    /// Megatron's layout line at start-up.
    func announce(_ setup: TrainingSetup) {
        say(layoutLine(setup.parallel) + " (NCCL, \(environment.launcher))")
    }
}

/// Megatron's start-up line describing the parallel layout.
func layoutLine(_ p: ParallelConfig) -> String {
    "using world size: \(p.worldSize), data-parallel size: \(p.dataParallel), context-parallel size: \(p.context), "
        + "tensor-model-parallel size: \(p.tensor), pipeline-model-parallel size: \(p.pipeline)"
}

/// Whether this process prints the run's log: rank 0 of a multi-process run, or a single process.
let isLoggingRank: Bool = {
    guard let env = try? DistributedEnvironment(ProcessInfo.processInfo.environment) else { return true }
    return env.rank == 0
}()
