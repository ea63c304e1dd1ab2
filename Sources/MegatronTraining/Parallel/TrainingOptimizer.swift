import MegatronOptimizer

/// What the trainer steps after the backward: AdamW over all parameters, or the distributed
/// optimizer over this rank's shard.
public protocol TrainingOptimizer: AnyObject, Sendable {
    /// Clips by the global gradient norm and updates the parameters; a non-finite norm skips.
    /// `globalSumOfSquares` sums this rank's Σ g² over the model-parallel ranks (nil: one rank).
    func step(lr: Float, globalSumOfSquares: ((Double) throws -> Double)?) throws -> AdamW.StepStatistics
}

extension AdamW: TrainingOptimizer {}

extension DistributedOptimizer: TrainingOptimizer {}
