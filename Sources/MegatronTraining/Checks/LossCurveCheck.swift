import MegatronCPU
import MegatronData
import MegatronParallel
import MegatronTensor

/// Trains the same small GPT for 50 iterations on the CPU in fp32 and on another backend (bf16,
/// fp16 or with recomputation), from the same initialisation and data, and compares the loss at
/// every iteration: each must lie within 2% (relative) of the CPU's. The data is
/// ``PatternGPTDataset``, so the loss falls from log(V) and the curves are compared while the
/// model learns, not on a flat line.
///
///     let check = LossCurveCheck()
///     let reference = try check.curve(on: CPUBackend(), extraFlags: [])
///     let result = try check.compare("bf16", on: cuda, extraFlags: ["--bf16"], reference: reference)
public struct LossCurveCheck: Sendable {
    public struct Result: Sendable, CustomStringConvertible {
        public let name: String
        public let reference: [Float]
        public let losses: [Float]
        public let tolerance: Double

        public init(name: String, reference: [Float], losses: [Float], tolerance: Double) {
            self.name = name
            self.reference = reference
            self.losses = losses
            self.tolerance = tolerance
        }

        /// max over iterations of |loss − reference| / reference (NaN when a loss is not finite).
        public var worstRelativeDifference: Double {
            var worst = 0.0
            for (a, b) in zip(losses, reference) {
                guard a.isFinite, b.isFinite else { return .nan }
                worst = max(worst, Double(abs(a - b)) / Double(abs(b)))
            }
            return losses.count == reference.count ? worst : .nan
        }

        public var passed: Bool { worstRelativeDifference <= tolerance }  // NaN fails

        public var description: String {
            let first = losses.first.map { String(format: "%.4f", $0) } ?? "-"
            let last = losses.last.map { String(format: "%.4f", $0) } ?? "-"
            let ref = reference.last.map { String(format: "%.4f", $0) } ?? "-"
            return String(format: "%@ loss curve %-34@ %d iterations, loss %@ → %@ (reference %@), worst rel. difference %.2e (tolerance %.0e)",
                          passed ? "PASS" : "FAIL", name, losses.count, first, last, ref, worstRelativeDifference, tolerance)
        }
    }

    public let iterations: Int
    public let tolerance: Double
    /// Model, batch and optimizer flags of the trained config (``standardFlags`` by default).
    public let modelFlags: [String]

    /// The config `megatron gpu-check` trains: GPT-2 style, 2 layers, hidden 128, 4 heads,
    /// seq 64, vocab 512, micro batch 8, global batch 16, Adam lr 1e-3 (cosine to 1e-4, 5 warm-up
    /// iterations), no dropout.
    public static let standardFlags = [
        "--num-layers", "2", "--hidden-size", "128", "--num-attention-heads", "4",
        "--seq-length", "64", "--max-position-embeddings", "64", "--vocab-size", "512",
        "--micro-batch-size", "8", "--global-batch-size", "16",
        "--lr", "1e-3", "--min-lr", "1e-4", "--lr-decay-style", "cosine", "--lr-warmup-iters", "5",
        "--attention-dropout", "0", "--hidden-dropout", "0", "--seed", "1234",
    ]

    public init(iterations: Int = 50, tolerance: Double = 0.02, modelFlags: [String] = LossCurveCheck.standardFlags) {
        self.iterations = iterations
        self.tolerance = tolerance
        self.modelFlags = modelFlags
    }

    func arguments(_ extra: [String]) throws -> TrainingArguments {
        try TrainingArguments.parse(["--mock-data", "--train-iters", "\(iterations)"] + modelFlags + extra)
    }

    /// The per-iteration training loss on `backend` with `extraFlags` added to the config. With
    /// `worldSize` > 1 every rank of the layout calls this together; `groups` builds the rank's
    /// groups for the layout the flags describe.
    public func curve(on backend: any Backend, extraFlags: [String], worldSize: Int = 1,
                      groups: (ParallelConfig) throws -> ParallelGroups = { _ in .single }) throws -> [Float] {
        let setup = try TrainingSetup(try arguments(extraFlags), worldSize: worldSize)
        let data = PatternGPTDataset(vocabSize: setup.model.vocabSize, seqLength: setup.model.seqLength, seed: setup.seed)
        let trainer = try Trainer(setup: setup, backend: backend, train: data, validation: nil, groups: try groups(setup.parallel))
        return try (0..<iterations).map { _ in try trainer.step().loss }
    }

    /// Trains on `backend` with `extraFlags` and compares with the fp32 CPU `reference` curve.
    public func compare(_ name: String, on backend: any Backend, extraFlags: [String], reference: [Float]) throws -> Result {
        Result(name: name, reference: reference, losses: try curve(on: backend, extraFlags: extraFlags), tolerance: tolerance)
    }
}
