@testable import MegatronTraining
import Testing

@Suite("Distributed optimizer shards")
struct DistributedOptimizerShardTests {
    @Test func decayRunsAreClippedToTheShardAndMadeRelative() {
        let runs: [(range: Range<Int>, weightDecay: Bool)] = [(0..<10, true), (10..<13, false), (13..<30, true)]
        let middle = DistributedOptimizer.runs(runs, within: 8..<16)
        #expect(middle.map(\.range) == [0..<2, 2..<5, 5..<8])
        #expect(middle.map(\.weightDecay) == [true, false, true])
        // The padded tail past the last parameter belongs to no run.
        #expect(DistributedOptimizer.runs(runs, within: 30..<32).isEmpty)
        #expect(DistributedOptimizer.runs(runs, within: 0..<10).map(\.range) == [0..<10])
    }
}
