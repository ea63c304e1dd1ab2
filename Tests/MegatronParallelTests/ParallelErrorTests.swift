import MegatronParallel
import Testing

@Suite("Parallel errors")
struct ParallelErrorTests {
    @Test func errorsNameTheCollectiveTheGroupAndTheRanks() {
        let timeout = ParallelError.timeout(collective: "all-reduce", group: "dp", missingRanks: [1, 3], seconds: 600)
        #expect(timeout.description == "all-reduce on group dp: rank(s) 1, 3 did not arrive within 600.0 s (--distributed-timeout-minutes)")
        let failed = ParallelError.peerFailed(collective: "all-gather", group: "tp", rank: 2, message: "process exited")
        #expect(failed.description == "all-gather on group tp: rank 2 failed: process exited")
    }
}
