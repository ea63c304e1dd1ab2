/// Where this process sits in a multi-process run, read from the variables launchers set:
/// torchrun (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`), Slurm
/// (`SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`) and Open MPI (`OMPI_COMM_WORLD_RANK`,
/// `OMPI_COMM_WORLD_SIZE`, `OMPI_COMM_WORLD_LOCAL_RANK`), in that order of precedence. The
/// rendezvous address always comes from `MASTER_ADDR`/`MASTER_PORT` (default port 29500).
///
///     let env = try DistributedEnvironment(ProcessInfo.processInfo.environment)
///     if let env, env.worldSize > 1 { /* join the NCCL rendezvous at env.masterAddress */ }
public struct DistributedEnvironment: Sendable, Equatable {
    public let rank: Int
    public let worldSize: Int
    public let localRank: Int
    public let masterAddress: String
    public let masterPort: Int
    /// Which launcher's variables were read ("torchrun", "slurm", "openmpi").
    public let launcher: String

    /// Nil when no launcher variables are set (a single-process run).
    public init?(_ environment: [String: String]) throws(DistributedEnvironmentError) {
        let sources: [(String, String, String, String)] = [
            ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"),
            ("slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
            ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
        ]
        guard let (launcher, rankKey, sizeKey, localKey) = sources.first(where: { environment[$0.1] != nil }) else { return nil }
        func integer(_ key: String, _ fallback: Int?) throws(DistributedEnvironmentError) -> Int {
            guard let text = environment[key] else {
                if let fallback { return fallback }
                throw .missing(key, launcher: launcher)
            }
            guard let value = Int(text), value >= 0 else { throw .notAnInteger(key, text) }
            return value
        }
        let rank = try integer(rankKey, nil)
        let worldSize = try integer(sizeKey, nil)
        let localRank = try integer(localKey, rank)
        guard worldSize >= 1, rank < worldSize else { throw .rankOutOfRange(rank: rank, worldSize: worldSize, keys: (rankKey, sizeKey)) }
        let port = try integer("MASTER_PORT", 29500)
        guard (1...65535).contains(port) else { throw .notAnInteger("MASTER_PORT", String(port)) }
        let address = environment["MASTER_ADDR"] ?? "127.0.0.1"
        if worldSize > 1, environment["MASTER_ADDR"] == nil, launcher != "torchrun" {
            throw .missing("MASTER_ADDR", launcher: launcher)
        }
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.masterAddress = address
        self.masterPort = port
        self.launcher = launcher
    }

    public init(rank: Int, worldSize: Int, localRank: Int, masterAddress: String, masterPort: Int, launcher: String) {
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.masterAddress = masterAddress
        self.masterPort = masterPort
        self.launcher = launcher
    }
}

/// Launcher variables that are missing or malformed.
public enum DistributedEnvironmentError: Error, Equatable, CustomStringConvertible {
    case missing(String, launcher: String)
    case notAnInteger(String, String)
    case rankOutOfRange(rank: Int, worldSize: Int, keys: (String, String))

    public static func == (a: Self, b: Self) -> Bool { a.description == b.description }

    public var description: String {
        switch self {
        case let .missing(key, launcher): "\(key) is not set (needed with the \(launcher) launcher's variables)"
        case let .notAnInteger(key, value): "\(key)=\(value) is not a valid value (expected a non-negative integer; a port in 1…65535)"
        case let .rankOutOfRange(rank, size, keys): "\(keys.0)=\(rank) is not below \(keys.1)=\(size)"
        }
    }
}
