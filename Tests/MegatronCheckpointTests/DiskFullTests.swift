import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A write that the file system refuses (simulated with a file-size limit, which fails
/// `write` with EFBIG as a full disk fails it with ENOSPC): the error names the file, every rank
/// throws, and the previous checkpoint stays the loadable one.
final class DiskFullTests: XCTestCase {
    func testARefusedWriteNamesTheFileAndKeepsThePreviousCheckpoint() throws {
        #if os(Linux)
        let root = try temporaryDirectory()
        let small = GlobalTensor("small", "F32", [4, 3], seed: 61)
        let big = GlobalTensor("big", "F32", [1, 65_536], seed: 62)   // 256 KiB
        assertNoErrors(runRanks(4) { rank, group in
            try CheckpointSaver(directory: root, group: group).save(iteration: 1, shards: [small.data(small.piece([rank, 0], [1, 3]))])
        })

        // Files may grow to 64 KiB while the save runs; SIGXFSZ is ignored so write fails instead.
        var saved = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved), 0)
        var limited = saved
        limited.rlim_cur = 64 * 1024
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limited), 0)
        let errors = runRanksCollecting(4) { rank, group in
            var shards = [small.data(small.piece([rank, 0], [1, 3]))]
            if rank == 2 { shards.append(big.data(big.whole)) }
            try CheckpointSaver(directory: root, group: group).save(iteration: 2, shards: shards)
        }
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved), 0)
        signal(SIGXFSZ, previousHandler)

        let file = root.appendingPathComponent("iter_0000002.partial/rank_00002.safetensors").path
        guard case let .io(path, reason) = errors[2] else { return XCTFail("\(errors)") }
        XCTAssertEqual(path, file)
        XCTAssertTrue(reason.contains("File too large"), reason)
        guard case let .rankFailed(rank: 2, rankReason) = errors[0] else { return XCTFail("\(errors)") }
        XCTAssertTrue(rankReason.contains(file), rankReason)
        for rank in [1, 3] {
            guard case .commitFailed(iteration: 2, _) = errors[rank] else { return XCTFail("rank \(rank): \(errors)") }
        }

        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("iter_0000002").path))
        let reader = try CheckpointReader(directory: root)
        XCTAssertEqual(reader.iteration, 1)
        XCTAssertEqual(try reader.read(small.whole), Data(small.bytes))
        #else
        throw XCTSkip("the file-size limit that simulates a full disk is set up for Linux only")
        #endif
    }
}
