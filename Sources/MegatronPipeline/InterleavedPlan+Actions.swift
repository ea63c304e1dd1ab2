/// The interleaved schedule's steps: warm-up forwards, steady (forward, backward, exchange)
/// iterations, cool-down backwards, with megatron-core's exchanges between them.
///
///     let actions = try InterleavedPlan(pipelineSize: 2, rank: 1, microbatches: 4, chunks: 2,
///                                       groupSize: 2, forwardOnly: false).actions()
extension InterleavedPlan {
    func actions() -> [PipelineAction] {
        var builder = ExchangeBuilder(chunks: chunks)
        let allInWarmup = warmup >= total
        let remaining = total - warmup

        // Rank 0's first chunk reads the data; every other rank waits for micro-batch 0.
        if rank != 0 { builder.exchange(receiveActivationFor: 0) }

        for k in 0..<warmup {
            var (receivePrevious, nextForwardChunk) = receive(after: k, forward: true)
            if k == total - 1 { receivePrevious = false }
            let work = forwardWork(k)
            builder.actions.append(.forward(work))
            let send = isLastStage(chunk: work.chunk) ? nil : work
            // The last warm-up exchange also fetches the first backward's gradient.
            let fetchGradient = k == warmup - 1 && !forwardOnly && !allInWarmup && rank != pipelineSize - 1
            builder.exchange(sendActivation: send,
                             receiveActivationFor: receivePrevious ? nextForwardChunk : nil,
                             receiveGradientFor: fetchGradient ? chunks - 1 : nil)
        }

        for i in 0..<remaining {
            let forwardK = warmup + i, backwardK = i
            let forward = forwardWork(forwardK), backward = backwardWork(backwardK)
            builder.actions.append(.forward(forward))
            builder.actions.append(.backward(backward))
            var (receivePrevious, nextForwardChunk) = receive(after: forwardK, forward: true)
            let (receiveNext, nextBackwardChunk) = receive(after: backwardK, forward: false)
            // The last iteration's input was received before the steady state began.
            if i == remaining - 1 { receivePrevious = false }
            builder.exchange(sendActivation: isLastStage(chunk: forward.chunk) ? nil : forward,
                             sendGradient: isFirstStage(chunk: backward.chunk) ? nil : backward,
                             receiveActivationFor: receivePrevious ? nextForwardChunk : nil,
                             receiveGradientFor: receiveNext ? nextBackwardChunk : nil)
        }

        guard !forwardOnly else { return builder.actions }
        if allInWarmup && rank != pipelineSize - 1 { builder.exchange(receiveGradientFor: chunks - 1) }
        for k in remaining..<total {
            var (receiveNext, nextBackwardChunk) = receive(after: k, forward: false)
            if k == total - 1 { receiveNext = false }
            let work = backwardWork(k)
            builder.actions.append(.backward(work))
            builder.exchange(sendGradient: isFirstStage(chunk: work.chunk) ? nil : work,
                             receiveGradientFor: receiveNext ? nextBackwardChunk : nil)
        }
        return builder.actions
    }
}

/// Collects actions and names each received tensor: the j-th activation (gradient) received for
/// chunk c feeds that chunk's j-th forward (backward), which is micro-batch j because every
/// chunk runs its micro-batches in order and consumes what arrives first in, first out.
private struct ExchangeBuilder {
    var actions: [PipelineAction] = []
    var activationsReceived: [Int]
    var gradientsReceived: [Int]

    init(chunks: Int) {
        activationsReceived = Array(repeating: 0, count: chunks)
        gradientsReceived = Array(repeating: 0, count: chunks)
    }

    mutating func exchange(sendActivation: VirtualMicrobatch? = nil, sendGradient: VirtualMicrobatch? = nil,
                           receiveActivationFor activationChunk: Int? = nil, receiveGradientFor gradientChunk: Int? = nil) {
        var exchange = PipelineExchange(sendActivation: sendActivation, sendGradient: sendGradient)
        if let activationChunk {
            exchange.receiveActivation = VirtualMicrobatch(microbatch: activationsReceived[activationChunk], chunk: activationChunk)
            activationsReceived[activationChunk] += 1
        }
        if let gradientChunk {
            exchange.receiveGradient = VirtualMicrobatch(microbatch: gradientsReceived[gradientChunk], chunk: gradientChunk)
            gradientsReceived[gradientChunk] += 1
        }
        if !exchange.isEmpty { actions.append(.exchange(exchange)) }
    }
}
