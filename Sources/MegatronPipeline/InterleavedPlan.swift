/// megatron-core's `forward_backward_pipelining_with_interleaving` (non-overlapped p2p path),
/// step for step: the schedule table, the warm-up count, which chunk each virtual micro-batch
/// runs on, when a tensor is received from a neighbour and for which chunk.
///
///     let plan = try InterleavedPlan(pipelineSize: 4, rank: 0, microbatches: 8, chunks: 2,
///                                    groupSize: 4, forwardOnly: false)
///     plan.warmup        // 10
///     plan.actions()     // forward(mb 0 chunk 0), exchange(…), …
struct InterleavedPlan {
    let pipelineSize: Int
    let rank: Int
    let microbatches: Int
    let chunks: Int
    let forwardOnly: Bool
    /// Virtual micro-batch k runs micro-batch `table[k].microbatch` on chunk `table[k].chunk`
    /// in the forward direction (megatron-core's `get_schedule_table`).
    let table: [VirtualMicrobatch]
    let warmup: Int
    var total: Int { microbatches * chunks }

    init(pipelineSize: Int, rank: Int, microbatches: Int, chunks: Int, groupSize: Int,
         forwardOnly: Bool) throws(PipelineError) {
        guard groupSize <= microbatches && groupSize >= pipelineSize else {
            throw .microbatchGroupOutOfRange(groupSize: groupSize, pipelineSize: pipelineSize, microbatches: microbatches)
        }
        // A short last group leaves later stages waiting on earlier ones.
        let remainder = microbatches % groupSize
        if remainder > 0 && remainder < pipelineSize {
            throw .microbatchGroupRemainder(remainder: remainder, microbatches: microbatches,
                                            groupSize: groupSize, pipelineSize: pipelineSize)
        }
        self.pipelineSize = pipelineSize
        self.rank = rank
        self.microbatches = microbatches
        self.chunks = chunks
        self.forwardOnly = forwardOnly
        table = Self.scheduleTable(microbatches: microbatches, chunks: chunks, groupSize: groupSize)
        let total = microbatches * chunks
        if forwardOnly {
            warmup = total
        } else {
            // Every rank first fills all chunks but the last for one group; earlier ranks run
            // two more forwards per later rank so the last rank can start 1F1B at once.
            warmup = min((pipelineSize - rank - 1) * 2 + (chunks - 1) * groupSize, total)
        }
    }

    /// Groups of `groupSize` micro-batches, each run through every chunk in turn; the last group
    /// takes whatever micro-batches are left.
    static func scheduleTable(microbatches: Int, chunks: Int, groupSize: Int) -> [VirtualMicrobatch] {
        var table: [VirtualMicrobatch] = []
        for start in stride(from: 0, to: microbatches, by: groupSize) {
            let end = start + groupSize >= microbatches ? microbatches : start + groupSize
            for chunk in 0..<chunks {
                for mb in start..<end { table.append(VirtualMicrobatch(microbatch: mb, chunk: chunk)) }
            }
        }
        return table
    }

    /// The chunk virtual micro-batch k runs on; backwards walk the chunks in reverse.
    func chunk(_ k: Int, forward: Bool) -> Int {
        let chunk = table[k % total].chunk
        return forward ? chunk : chunks - 1 - chunk
    }

    func forwardWork(_ k: Int) -> VirtualMicrobatch { table[k] }

    /// Backwards pop each chunk's stored activations first-in first-out, and each chunk's
    /// forwards ran in micro-batch order, so backward k is the table's micro-batch k.
    func backwardWork(_ k: Int) -> VirtualMicrobatch {
        VirtualMicrobatch(microbatch: table[k].microbatch, chunk: chunk(k, forward: false))
    }

    func isFirstStage(chunk: Int) -> Bool { rank == 0 && chunk == 0 }
    func isLastStage(chunk: Int) -> Bool { rank == pipelineSize - 1 && chunk == chunks - 1 }

    /// Whether, after iteration k, a tensor arrives from the neighbour upstream in that direction
    /// (previous rank for forward, next rank for backward), and for which local chunk
    /// (megatron-core's `recv_tensor_from_previous_stage`).
    func receive(after k: Int, forward: Bool) -> (receive: Bool, chunk: Int) {
        let isLeading = forward ? rank == 0 : rank == pipelineSize - 1
        guard isLeading else { return (true, chunk(k + 1, forward: forward)) }
        // The leading rank runs pp − 1 iterations ahead of the rank that feeds it around the ring.
        var receive = true
        var next: Int
        if k < pipelineSize - 1 {
            receive = false
            next = chunk(k + 1, forward: forward)
        } else {
            next = chunk(k - (pipelineSize - 1), forward: forward)
        }
        // The far end's final chunk produces nothing to pass around.
        if next == (forward ? chunks - 1 : 0) { receive = false }
        next += forward ? 1 : -1
        return (receive, next)
    }
}
