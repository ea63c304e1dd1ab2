import MegatronParallel

/// One rank's process groups for a parallel layout: the tensor-parallel group its layers are
/// split over and the data-parallel group its gradients are averaged over (nil where the
/// layout has one rank in that dimension).
///
///     let groups = try ParallelGroups(setup.parallel, rank: rank) { members, color, name in
///         try world.group(ranks: members, rank: rank, name: name)
///     }
public struct ParallelGroups: Sendable {
    public let tensor: (any ProcessGroup)?
    public let data: (any ProcessGroup)?

    /// One rank: no groups.
    public static let single = ParallelGroups(tensor: nil, data: nil)

    public init(tensor: (any ProcessGroup)?, data: (any ProcessGroup)?) {
        self.tensor = tensor
        self.data = data
    }

    /// Builds `rank`'s groups with Megatron's membership (`tp-cp-ep-dp-pp` order). `make` gets
    /// the group's world ranks, the group's index among the groups of its kind (the same on
    /// every member: an NCCL split color) and its name; every rank calls it for the same kinds
    /// in the same order, as collective group creation needs.
    public init(_ layout: ParallelConfig, rank: Int,
                make: (_ members: [Int], _ color: Int, _ name: String) throws -> any ProcessGroup) throws {
        let generator = layout.ranks
        func group(_ dimension: ParallelDimension, _ name: String) throws -> (any ProcessGroup)? {
            let all = generator.groups([dimension])
            guard all.first.map({ $0.count > 1 }) ?? false, let color = all.firstIndex(where: { $0.contains(rank) }) else { return nil }
            return try make(all[color], color, name)
        }
        tensor = try group(.tp, "tp")
        data = try group(.dp, "dp")
    }
}
