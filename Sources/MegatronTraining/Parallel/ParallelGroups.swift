import MegatronParallel

/// One rank's process groups for a parallel layout, with Megatron's membership
/// (`parallel_state.initialize_model_parallel`); each is nil where this rank's group would be
/// itself alone.
///
///     let groups = try ParallelGroups(setup.parallel, rank: rank) { request in
///         try request.members.map { try world.group(ranks: $0, rank: rank, name: request.name) }
///     }
public struct ParallelGroups: Sendable {
    /// The tensor-parallel group its layers are split over ("tp").
    public let tensor: (any ProcessGroup)?
    /// The data-parallel group its gradients are averaged over ("dp").
    public let data: (any ProcessGroup)?
    /// The pipeline group its stages exchange activations and gradients in ("pp"), with two
    /// point-to-point channels (activations on 0, gradients on 1).
    public let pipeline: (any ProcessGroup)?
    /// Megatron's embedding group: the first and last stage of this rank's pipeline, which
    /// all-reduce the gradients of the tied word embeddings ("embedding"). Nil without pipeline
    /// parallelism and on the middle stages.
    public let embedding: (any ProcessGroup)?
    /// The model-parallel group, tensor × pipeline ranks of one model replica, over which the
    /// gradient norm is summed ("mp").
    public let modelParallel: (any ProcessGroup)?
    /// Every rank of the run ("world"; nil on one rank): checkpoints' barriers.
    public let world: (any ProcessGroup)?

    /// One rank: no groups.
    public static let single = ParallelGroups(tensor: nil, data: nil)

    public init(tensor: (any ProcessGroup)?, data: (any ProcessGroup)?, pipeline: (any ProcessGroup)? = nil,
                embedding: (any ProcessGroup)? = nil, modelParallel: (any ProcessGroup)? = nil, world: (any ProcessGroup)? = nil) {
        self.world = world
        self.tensor = tensor
        self.data = data
        self.pipeline = pipeline
        self.embedding = embedding
        self.modelParallel = modelParallel
    }

    /// One group ``init(_:rank:make:)`` asks for. Every rank of the world gets the same
    /// sequence of requests (the kinds in the same order, whether or not it is a member), so
    /// `make` may create groups collectively, e.g. by splitting the world's NCCL communicator.
    public struct Request: Sendable, Equatable, CustomStringConvertible {
        /// "tp", "dp", "pp", "embedding" or "mp", named in errors.
        public let name: String
        /// The calling rank's group of this kind: world ranks, in group order. Nil where the
        /// rank is in none (Megatron's embedding group on a middle pipeline stage): it must
        /// still take part in a collective creation (NCCL: `ncclCommSplit` with no color), and
        /// `make` returns nil.
        public let members: [Int]?
        /// The group's index among the groups of its kind, the same on every member (an NCCL
        /// split color); nil with `members`.
        public let color: Int?
        /// Point-to-point channels the group needs (``ProcessGroup/sendReceive(_:)``): 2 for the
        /// pipeline group, 1 otherwise.
        public let pointToPointChannels: Int

        public init(name: String, members: [Int]?, color: Int?, pointToPointChannels: Int = 1) {
            self.name = name
            self.members = members
            self.color = color
            self.pointToPointChannels = pointToPointChannels
        }

        public var description: String {
            "\(name) group " + (members.map { "\($0) (color \(color ?? -1))" } ?? "(not a member)")
                + (pointToPointChannels > 1 ? ", \(pointToPointChannels) channels" : "")
        }
    }

    /// Builds `rank`'s groups with Megatron's membership (`tp-cp-ep-dp-pp` order), in the
    /// order tp, dp, pp, embedding, mp, world on every rank. `make` is asked for each kind whose groups
    /// have more than one rank, unless an earlier kind had the same groups (then that group is
    /// reused, with no request: the model-parallel group is the tensor-parallel one without
    /// pipeline parallelism, the pipeline one without tensor parallelism, and the embedding
    /// group is the pipeline group when there are two stages). It returns the group for a
    /// member and nil otherwise.
    public init(_ layout: ParallelConfig, rank: Int, make: (Request) throws -> (any ProcessGroup)?) throws {
        let generator = layout.ranks
        var made: [(groups: [[Int]], group: (any ProcessGroup)?)] = []
        func group(_ all: [[Int]], _ name: String, channels: Int = 1) throws -> (any ProcessGroup)? {
            guard all.contains(where: { $0.count > 1 }) else { return nil }
            if let earlier = made.first(where: { $0.groups == all }) { return earlier.group }
            let color = all.firstIndex { $0.contains(rank) }
            let request = Request(name: name, members: color.map { all[$0] }, color: color, pointToPointChannels: channels)
            let result = try make(request)
            if color != nil, result == nil {
                throw ParallelError.invalidArgument(collective: "group creation", group: name, message: "no group made for member \(rank) of \(request)")
            }
            made.append((all, result))
            return result
        }
        tensor = try group(generator.groups([.tp]), "tp")
        data = try group(generator.groups([.dp]), "dp")
        pipeline = try group(generator.groups([.pp]), "pp", channels: PointToPoint.channels)
        embedding = layout.pipeline > 1 ? try group(generator.embeddingGroups(), "embedding") : nil
        modelParallel = try group(generator.groups([.tp, .pp]), "mp")
        world = try group([Array(0..<layout.worldSize)], "world")
    }
}
