import Foundation
import MegatronData

/// Megatron's pretraining sampler and data loader for one data-parallel rank. Micro-batch `m`
/// of the iteration that starts at consumed sample `c` holds samples
/// `c + m·mbs·dp + r·mbs ..< + mbs` (rank r), so every layout sees the same global batch, and
/// training resumes from any consumed-sample count. With ``startPrefetching(fromConsumedSamples:)``
/// a background thread assembles the next batches (tokens, targets, loss mask, positions,
/// attention segments) while the device computes.
///
///     let loader = GPTBatchLoader(source: data.train, setup: setup, dataParallelRank: 0, dataParallelSize: 1)
///     loader.startPrefetching(fromConsumedSamples: 0)
///     let batch = try loader.next()       // micro-batch 0 of iteration 1
public final class GPTBatchLoader: @unchecked Sendable {
    // @unchecked Sendable: the queue is guarded by `condition`; the rest is immutable.

    /// One micro-batch on the host, sequence-major `[s, b]` — except `segments`, batch-major
    /// `[b, s]` as ``MegatronTensor/Backend/attention(q:k:v:into:lse:scale:dropout:seed:segments:)`` takes them.
    public struct HostBatch: Sendable, Equatable {
        public let tokens: [Int32]
        public let targets: [Int32]
        public let lossMask: [Float]?
        public let positions: [Int32]?
        /// Each token's document within its sample (`--reset-attention-mask`): the number of
        /// end-of-document input tokens before it.
        public let segments: [Int32]?
    }

    let source: any GPTSampleSource
    let seqLength: Int
    let microBatchSize: Int
    let microBatchesPerIteration: Int
    let globalBatchSize: Int
    let dataParallelRank: Int
    let dataParallelSize: Int
    let eod: Int32?
    let eodMaskLoss: Bool
    let resetPositionIds: Bool
    let resetAttentionMask: Bool
    /// Batches prepared ahead of the consumer.
    let depth: Int

    private let condition = NSCondition()
    private var queue: [Result<HostBatch, any Error>] = []
    /// Prefetching was started and not stopped.
    private var started = false
    /// The thread is alive (it clears this as it leaves).
    private var threadActive = false
    private var stopping = false

    public init(source: any GPTSampleSource, setup: TrainingSetup, dataParallelRank: Int, dataParallelSize: Int, depth: Int = 4) {
        self.source = source
        seqLength = setup.model.seqLength
        microBatchSize = setup.microBatchSize
        microBatchesPerIteration = setup.microBatchesPerIteration
        globalBatchSize = setup.globalBatchSize
        self.dataParallelRank = dataParallelRank
        self.dataParallelSize = dataParallelSize
        eod = setup.eodToken.map(Int32.init)
        eodMaskLoss = setup.eodMaskLoss
        resetPositionIds = setup.resetPositionIds
        resetAttentionMask = setup.resetAttentionMask
        self.depth = max(1, depth)
    }

    deinit { stop() }

    /// The first sample of micro-batch `micro` of the iteration starting at `consumed`.
    public func firstSample(_ consumed: Int, microBatch micro: Int) -> Int {
        consumed + micro * microBatchSize * dataParallelSize + dataParallelRank * microBatchSize
    }

    /// Assembles the micro-batch whose first sample is `first` (on the calling thread):
    /// tokens and next-token targets, and Megatron's `_get_ltor_masks_and_position_ids` (on the
    /// input tokens) — an end-of-document input token is left out of the loss, positions restart
    /// after it, and so does the attention: Megatron's mask `[i + 1:, :i + 1] = 0` for each
    /// end-of-document token i is exactly "same segment", segment = end-of-document tokens before.
    public func batch(firstSample first: Int) throws -> HostBatch {
        let (s, b) = (seqLength, microBatchSize)
        var tokens = [Int32](repeating: 0, count: s * b), targets = tokens
        var mask: [Float]? = eodMaskLoss ? Array(repeating: 1, count: s * b) : nil
        var positions: [Int32]? = resetPositionIds ? Array(repeating: 0, count: s * b) : nil
        var segments: [Int32]? = resetAttentionMask ? Array(repeating: 0, count: s * b) : nil
        let eod = self.eod ?? -1
        for j in 0..<b {
            let sample = try source.sample(first + j)
            guard sample.count >= s + 1 else {
                throw GPTBatchLoaderError.shortSample(index: first + j, tokens: sample.count, needed: s + 1)
            }
            var documentStart = 0
            var document: Int32 = 0
            for t in 0..<s {
                tokens[t * b + j] = sample[t]
                targets[t * b + j] = sample[t + 1]
                positions?[t * b + j] = Int32(t - documentStart)
                segments?[j * s + t] = document
                if sample[t] == eod {
                    mask?[t * b + j] = 0
                    documentStart = t + 1
                    document += 1
                }
            }
        }
        return HostBatch(tokens: tokens, targets: targets, lossMask: mask, positions: positions, segments: segments)
    }

    /// Starts the background thread at the first micro-batch of the iteration beginning at
    /// `consumed` samples; ``next()`` then returns the micro-batches in training order.
    public func startPrefetching(fromConsumedSamples consumed: Int) {
        stop()
        condition.lock()
        queue.removeAll()
        started = true
        threadActive = true
        stopping = false
        condition.unlock()
        let thread = Thread { [self] in
            var iterationStart = consumed, micro = 0
            var failed = false
            while !failed {
                let result = Result { try batch(firstSample: firstSample(iterationStart, microBatch: micro)) }
                if case .failure = result { failed = true }  // the error reaches the consumer; nothing after it is valid
                micro += 1
                if micro == microBatchesPerIteration { (micro, iterationStart) = (0, iterationStart + globalBatchSize) }
                condition.lock()
                while queue.count >= depth && !stopping { condition.wait() }
                if stopping { failed = true } else { queue.append(result) }
                condition.broadcast()
                condition.unlock()
            }
            condition.lock()
            threadActive = false
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "megatron-batch-prefetch"
        thread.start()
    }

    /// The next micro-batch in training order (after ``startPrefetching(fromConsumedSamples:)``);
    /// rethrows an error the thread met assembling it.
    public func next() throws -> HostBatch {
        condition.lock()
        defer { condition.unlock() }
        guard started else { throw GPTBatchLoaderError.notStarted }
        while queue.isEmpty {
            guard threadActive else { throw GPTBatchLoaderError.notStarted }
            condition.wait()
        }
        let result = queue.removeFirst()
        condition.broadcast()
        return try result.get()
    }

    /// Stops the thread (waiting for it) and drops the prepared batches.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while threadActive { condition.wait() }
        started = false
        queue.removeAll()
        condition.unlock()
    }
}

/// A sample the loader cannot turn into a micro-batch.
public enum GPTBatchLoaderError: Error, Equatable, CustomStringConvertible {
    case shortSample(index: Int, tokens: Int, needed: Int)
    case notStarted

    public var description: String {
        switch self {
        case let .shortSample(i, n, needed): "sample \(i) has \(n) tokens, need \(needed) (--seq-length + 1)"
        case .notStarted: "the batch loader was asked for a batch before prefetching started"
        }
    }
}
