import MegatronOptimizer
import MegatronTransformer

/// What the trainer steps after the backward: AdamW over all parameters, or the distributed
/// optimizer over this rank's shard.
public protocol TrainingOptimizer: AnyObject, Sendable {
    /// Clips by the global gradient norm and updates the parameters; a non-finite norm skips.
    /// `globalSumOfSquares` sums this rank's Σ g² over the model-parallel ranks (nil: one rank).
    func step(lr: Float, globalSumOfSquares: ((Double) throws -> Double)?) throws -> AdamW.StepStatistics
    /// After a step that updated the masters: makes the weights the model computes with current.
    func publishParameters(to store: ParameterStore) throws
}

extension AdamW: TrainingOptimizer {
    public func publishParameters(to store: ParameterStore) throws { try store.syncComputeCopy() }
}

extension DistributedOptimizer: TrainingOptimizer {
    public func publishParameters(to store: ParameterStore) throws { try publishParameters() }
}
