import Foundation
import MegatronData
import MegatronParallel
import MegatronTensor

/// `megatron bench`: times full training iterations (forward, backward, optimizer) on mock
/// data after untimed warm-up, and reports tokens/s, TFLOP/s and the FLOP formula used.
///
///     let report = try Benchmark.run(setup: setup, backend: CPUBackend(), warmup: 2, iterations: 10)
public enum Benchmark {
    public struct Report: Sendable {
        /// Building the trainer: parameters initialised and uploaded, optimizer state allocated.
        public let setupSeconds: Double
        public let secondsPerIteration: Double
        public let tokensPerSecond: Double
        public let tflops: Double
        public let flopsPerIteration: Double
        /// The whole model's parameters (not this rank's shard).
        public let parameters: Int
        public let lastLoss: Float
        public let peakResidentBytes: Int?
        /// Under pipeline parallelism: this rank's stage and its activations in flight (peak, bound).
        public let pipelineActivations: (stage: Int, peak: Int, bound: Int)?
    }

    /// `afterTiming`, when given, gets the trainer once the timed iterations are done (to profile one more).
    /// With parallel `groups`, every rank of the layout runs this together (tokens/s counts the
    /// whole global batch; divide by the world size for per-GPU figures).
    public static func run(
        setup: TrainingSetup, backend: any Backend, warmup: Int, iterations: Int,
        groups: ParallelGroups = .single, afterTiming: ((Trainer) throws -> Void)? = nil
    ) throws -> Report {
        let data = MockGPTDataset(vocabSize: setup.model.vocabSize, seqLength: setup.model.seqLength, seed: setup.seed)
        let built = Date()
        let trainer = try Trainer(setup: setup, backend: backend, train: data, validation: nil, groups: groups)
        let setupSeconds = Date().timeIntervalSince(built)
        var loss: Float = 0
        for _ in 0..<warmup { loss = try trainer.step().loss }
        try backend.synchronize()
        let start = Date()
        for _ in 0..<iterations { loss = try trainer.step().loss }
        try trainer.synchronize()
        let seconds = Date().timeIntervalSince(start) / Double(max(iterations, 1))
        try afterTiming?(trainer)
        let flops = ThroughputModel(config: setup.model).flopsPerIteration(globalBatch: setup.globalBatchSize)
        return Report(setupSeconds: setupSeconds, secondsPerIteration: seconds, tokensPerSecond: Double(setup.tokensPerIteration) / seconds,
                      tflops: flops / seconds / 1e12, flopsPerIteration: flops,
                      parameters: try modelParameters(trainer), lastLoss: loss, peakResidentBytes: peakResidentBytes(),
                      pipelineActivations: trainer.pipelineActivations)
    }

    /// The whole model's parameters: this stage's, summed over the pipeline (a last stage's copy
    /// of tied embeddings counted once).
    public static func modelParameters(_ trainer: Trainer) throws -> Int {
        let model = trainer.model, layout = model.store.layout
        var local = layout.fullCount
        if let copy = model.sharedEmbeddingCopy, model.embedding == nil {
            let spec = layout.specs[copy.index]
            local -= spec.shard?.fullShape.count ?? spec.shape.count
        }
        guard let group = trainer.pipelineGroup, group.size > 1 else { return local }
        // Exact in fp32: the count in 20-bit halves (each sum stays far below 2²⁴).
        let t = try model.backend.tensor([Float(local >> 20), Float(local & 0xF_FFFF)], shape: [2])
        try group.allReduce(t, op: .sum)
        let sums = try model.backend.download(t)
        return Int(sums[0]) << 20 + Int(sums[1])
    }

    /// Every rank's `value`, in rank order (a collective: every rank of `group` calls it).
    ///
    ///     let peaks = try Benchmark.gathered(myPeakGiB, over: world, backend: backend)
    public static func gathered(_ value: Double, over group: any ProcessGroup, backend: any Backend) throws -> [Double] {
        let all = try backend.empty([group.size], dtype: .fp32)
        try group.allGather(try backend.tensor([Float(value)], shape: [1]), into: all)
        return try backend.download(all).map(Double.init)
    }

    /// The process's peak resident set (VmHWM) on Linux.
    static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}
