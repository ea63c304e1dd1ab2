/// The single-chunk schedules: no pipelining, and megatron-core's
/// `forward_backward_pipelining_without_interleaving` step for step, each p2p helper it calls
/// (`recv_forward`, `send_forward_recv_backward`, …) becoming one exchange.
///
///     let lastRank = try PipelineSchedule(pipelineSize: 4, rank: 3, microbatches: 2)
///     lastRank.actions   // exchange(receive activation mb 0 chunk 0), forward(mb 0 chunk 0), backward(mb 0 chunk 0), …
extension PipelineSchedule {
    static func noPipelining(microbatches: Int, forwardOnly: Bool) -> [PipelineAction] {
        (0..<microbatches).flatMap { mb -> [PipelineAction] in
            let work = VirtualMicrobatch(microbatch: mb, chunk: 0)
            return forwardOnly ? [.forward(work)] : [.forward(work), .backward(work)]
        }
    }

    static func oneForwardOneBackward(pipelineSize: Int, rank: Int, microbatches: Int,
                                      forwardOnly: Bool) -> [PipelineAction] {
        let isFirst = rank == 0, isLast = rank == pipelineSize - 1
        let warmup = min(pipelineSize - rank - 1, microbatches)
        let remaining = microbatches - warmup
        var actions: [PipelineAction] = []
        func work(_ mb: Int) -> VirtualMicrobatch { VirtualMicrobatch(microbatch: mb, chunk: 0) }
        // The first stage has no previous stage and the last no next one: Megatron's helpers
        // skip those directions, so the exchange loses those parts.
        func exchange(sendActivation: Int? = nil, sendGradient: Int? = nil,
                      receiveActivation: Int? = nil, receiveGradient: Int? = nil) {
            let exchange = PipelineExchange(
                sendActivation: isLast ? nil : sendActivation.map(work),
                sendGradient: isFirst ? nil : sendGradient.map(work),
                receiveActivation: isFirst ? nil : receiveActivation.map(work),
                receiveGradient: isLast ? nil : receiveGradient.map(work))
            if !exchange.isEmpty { actions.append(.exchange(exchange)) }
        }

        for mb in 0..<warmup {
            exchange(receiveActivation: mb)
            actions.append(.forward(work(mb)))
            exchange(sendActivation: mb)
        }
        // The first steady-state forward's input arrives before the loop.
        if remaining > 0 { exchange(receiveActivation: warmup) }
        for i in 0..<remaining {
            let forwardMB = warmup + i, backwardMB = i
            let lastIteration = i == remaining - 1
            actions.append(.forward(work(forwardMB)))
            if forwardOnly {
                exchange(sendActivation: forwardMB)
                if !lastIteration { exchange(receiveActivation: forwardMB + 1) }
            } else {
                exchange(sendActivation: forwardMB, receiveGradient: backwardMB)
                actions.append(.backward(work(backwardMB)))
                if lastIteration {
                    exchange(sendGradient: backwardMB)
                } else {
                    exchange(sendGradient: backwardMB, receiveActivation: forwardMB + 1)
                }
            }
        }
        guard !forwardOnly else { return actions }
        for mb in remaining..<microbatches {
            exchange(receiveGradient: mb)
            actions.append(.backward(work(mb)))
            exchange(sendGradient: mb)
        }
        return actions
    }
}
