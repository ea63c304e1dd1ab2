import MegatronCPU
import MegatronParallel
import MegatronTensor
@testable import MegatronTraining
import Synchronization
import Testing

/// A two-member group whose other member always holds the same values (so a sum doubles them),
/// recording which element ranges it reduced, in order.
final class MirroredPairGroup: ProcessGroup {
    let rank = 0, size = 2, name = "dp"
    let backend: CPUBackend
    let reduced = Mutex<[Range<Int>]>([])
    let base: Tensor

    init(backend: CPUBackend, base: Tensor) {
        self.backend = backend
        self.base = base
    }

    func allReduce(_ tensor: Tensor, op: ReduceOp) throws {
        let start = (tensor.address - base.address) / 4
        reduced.withLock { $0.append(start..<start + tensor.count) }
        try backend.scale(tensor, by: 2)
    }
    func reduceScatter(_ input: Tensor, into output: Tensor, op: ReduceOp) throws { Issue.record("unexpected reduce-scatter") }
    func allGather(_ input: Tensor, into output: Tensor) throws { Issue.record("unexpected all-gather") }
    func broadcast(_ tensor: Tensor, root: Int) throws { Issue.record("unexpected broadcast") }
    func send(_ tensor: Tensor, to peer: Int) throws { Issue.record("unexpected send") }
    func receive(into tensor: Tensor, from peer: Int) throws { Issue.record("unexpected receive") }
    func sendReceive(_ operations: [PointToPoint]) throws { Issue.record("unexpected send/receive") }
    func allToAll(_ input: Tensor, sendCounts: [Int], into output: Tensor, receiveCounts: [Int]) throws { Issue.record("unexpected all-to-all") }
    func barrier() throws {}
}

@Suite("Overlapped gradient buckets")
struct GradientBucketTests {
    @Test func bucketsStartTopDownAsTheBackwardCompletesThem() throws {
        let b = CPUBackend()
        let grads = try b.tensor((0..<10).map(Float.init), shape: [10])
        let group = MirroredPairGroup(backend: b, base: grads)
        let buckets = GradientBuckets(grads: grads, group: group, backend: b, bucketSize: 4)
        #expect(buckets.ranges == [6..<10, 2..<6, 0..<2])
        try buckets.gradientsFinal(from: 7)          // 6..<10 is not complete yet
        #expect(group.reduced.withLock { $0 }.isEmpty)
        try buckets.gradientsFinal(from: 3)          // 6..<10 is
        #expect(group.reduced.withLock { $0 } == [6..<10])
        try buckets.finish()                          // the rest, in order
        #expect(group.reduced.withLock { $0 } == [6..<10, 2..<6, 0..<2])
        // Scaled by 1/dp, then summed with the identical peer: the mean is the value itself.
        #expect(try b.download(grads) == (0..<10).map(Float.init))
        #expect(GradientBuckets.defaultBucketSize(dataParallelSize: 8) == 40_000_000)
        #expect(GradientBuckets.defaultBucketSize(dataParallelSize: 64) == 64_000_000)
    }
}
