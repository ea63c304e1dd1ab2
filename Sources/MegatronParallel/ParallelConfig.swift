/// The parallel layout of a run, from Megatron's flags (`--tensor-model-parallel-size`,
/// `--pipeline-model-parallel-size`, `--context-parallel-size`, `--expert-model-parallel-size`)
/// and the world size; data parallel is what is left, `world / (tp · pp · cp)`. Checked before
/// anything is allocated.
///
///     let layout = try ParallelConfig(worldSize: 16, tensor: 2, pipeline: 4)
///     layout.dataParallel                       // 2
///     layout.ranks.groups([.dp])                // [[0, 2], [1, 3], …]
public struct ParallelConfig: Sendable, Equatable {
    public let worldSize: Int
    public let tensor: Int
    public let pipeline: Int
    public let context: Int
    public let expert: Int
    public let dataParallel: Int
    /// `--sequence-parallel`; Megatron turns it off when tensor parallelism is 1.
    public let sequenceParallel: Bool

    public init(worldSize: Int, tensor: Int = 1, pipeline: Int = 1, context: Int = 1, expert: Int = 1,
                sequenceParallel: Bool = false) throws(ParallelConfigError) {
        for (flag, value) in [("--tensor-model-parallel-size", tensor), ("--pipeline-model-parallel-size", pipeline),
                              ("--context-parallel-size", context), ("--expert-model-parallel-size", expert)] where value < 1 {
            throw .notPositive(flag: flag, value: value)
        }
        guard worldSize >= 1 else { throw .notPositive(flag: "world size", value: worldSize) }
        let modelParallel = tensor * pipeline * context
        guard worldSize % modelParallel == 0 else {
            throw .indivisible(worldSize: worldSize, by: modelParallel,
                               what: "--tensor-model-parallel-size \(tensor) × --pipeline-model-parallel-size \(pipeline) × --context-parallel-size \(context)")
        }
        let dataParallel = worldSize / modelParallel
        // Experts split the data-parallel ranks of each model replica (Megatron's expert layout).
        guard (dataParallel * context) % expert == 0 else {
            throw .indivisible(worldSize: dataParallel * context, by: expert,
                               what: "--expert-model-parallel-size \(expert) (it must divide data-parallel × context-parallel size)")
        }
        self.worldSize = worldSize
        self.tensor = tensor
        self.pipeline = pipeline
        self.context = context
        self.expert = expert
        self.dataParallel = dataParallel
        self.sequenceParallel = sequenceParallel && tensor > 1
    }

    /// Megatron's dense-layer rank layout (`tp-cp-ep-dp-pp`, expert size 1 there).
    public var ranks: RankGenerator {
        // The sizes were validated in init, so the generator cannot fail.
        try! RankGenerator(tp: tensor, cp: context, ep: 1, dp: dataParallel, pp: pipeline)
    }
}

/// A parallel layout that cannot work.
public enum ParallelConfigError: Error, Equatable, CustomStringConvertible {
    case notPositive(flag: String, value: Int)
    case indivisible(worldSize: Int, by: Int, what: String)

    public var description: String {
        switch self {
        case let .notPositive(flag, value): "\(flag) must be at least 1 (got \(value))"
        case let .indivisible(world, by, what): "\(world) ranks are not divisible by \(by) = \(what)"
        }
    }
}
