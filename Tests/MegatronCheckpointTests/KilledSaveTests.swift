import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A real crash: this test runs itself again as a child process, which saves a checkpoint, starts
/// saving the next one and is SIGKILLed at a save point (it blocks there, so the kill lands at a
/// known step, without timing). The parent then checks that the previous checkpoint loads and
/// that a new save cleans up.
final class KilledSaveTests: XCTestCase {
    static let directoryVariable = "MEGATRON_CHECKPOINT_TEST_CHILD_DIR"
    static let pointVariable = "MEGATRON_CHECKPOINT_TEST_CHILD_POINT"
    static let old = GlobalTensor("w", "F32", [3, 4], seed: 71)
    static let new = GlobalTensor("w", "F32", [3, 4], seed: 72)

    func testAKilledSaveLeavesThePreviousCheckpointLoadable() throws {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment[Self.directoryVariable], let point = environment[Self.pointVariable].flatMap(SavePoint.init) {
            return try Self.runChild(URL(fileURLWithPath: directory), stoppingAt: point)
        }
        #if os(Linux)
        // At afterMoveAside the child was re-saving iteration 1; elsewhere saving iteration 2.
        for point in [SavePoint.afterRankFiles, .beforeRename, .afterMoveAside, .beforeTracker] {
            let work = try temporaryDirectory()
            let root = work.appendingPathComponent("checkpoints")
            let marker = work.appendingPathComponent("reached")
            let child = Process()
            child.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0])
            child.arguments = ["MegatronCheckpointTests.KilledSaveTests/testAKilledSaveLeavesThePreviousCheckpointLoadable"]
            child.environment = environment.merging([Self.directoryVariable: work.path, Self.pointVariable: point.rawValue]) { $1 }
            let log = work.appendingPathComponent("child.log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let logHandle = try FileHandle(forWritingTo: log)
            child.standardOutput = logHandle
            child.standardError = logHandle
            try child.run()
            // Wait for the child to block at the point (the deadline only guards a hang).
            let deadline = Date().addingTimeInterval(300)
            while !FileManager.default.fileExists(atPath: marker.path), child.isRunning, Date() < deadline {
                usleep(10_000)
            }
            guard FileManager.default.fileExists(atPath: marker.path) else {
                if child.isRunning { kill(child.processIdentifier, SIGKILL) }
                child.waitUntilExit()
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                return XCTFail("the child never reached \(point): \(output.suffix(3000))")
            }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            try logHandle.close()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, "\(point)")
            XCTAssertEqual(child.terminationStatus, SIGKILL, "\(point)")

            let reader = try CheckpointReader(directory: root)
            XCTAssertEqual(reader.iteration, 1, "\(point)")
            XCTAssertEqual(try reader.read(Self.old.whole), Data(Self.old.bytes), "\(point)")

            // This process saves next; the leftovers go.
            assertNoErrors(runRanks(2) { rank, group in
                try CheckpointSaver(directory: root, group: group).save(iteration: 3, shards: Self.shards(rank: rank, of: Self.new))
            })
            // Killed before the tracker, iteration 2 is complete but not the latest; it stays.
            let complete = point == .beforeTracker ? ["iter_0000002"] : []
            XCTAssertEqual(try listing(root), ["iter_0000001"] + complete + ["iter_0000003", "latest_checkpointed_iteration.txt"],
                           "\(point)")
            XCTAssertEqual(try CheckpointReader(directory: root, iteration: 1).read(Self.old.whole), Data(Self.old.bytes))
            XCTAssertEqual(try CheckpointReader(directory: root).read(Self.new.whole), Data(Self.new.bytes))
        }
        #else
        throw XCTSkip("runs the test executable as a child, which is how tests run on Linux")
        #endif
    }

    /// Two ranks: row 0 on rank 0, rows 1..<3 on rank 1.
    static func shards(rank: Int, of tensor: GlobalTensor) -> [ShardData] {
        [tensor.data(rank == 0 ? tensor.piece([0, 0], [1, 4]) : tensor.piece([1, 0], [2, 4]))]
    }

    /// The child: a complete save of iteration 1, then a save that blocks at `point` (rank 0,
    /// or every rank for rank-local points) after creating the marker, until it is killed.
    static func runChild(_ work: URL, stoppingAt point: SavePoint) throws {
        let root = work.appendingPathComponent("checkpoints")
        let marker = work.appendingPathComponent("reached").path
        let secondIteration = point == .afterMoveAside ? 1 : 2
        let errors = runRanks(2) { rank, group in
            try CheckpointSaver(directory: root, group: group).save(iteration: 1, shards: shards(rank: rank, of: old))
            var options = CheckpointSaveOptions()
            options.hook = { reached in
                if reached == point, rank == 0 {
                    _ = FileManager.default.createFile(atPath: marker, contents: nil)
                    while true { sleep(60) }
                }
                return .proceed
            }
            try CheckpointSaver(directory: root, group: group, options: options)
                .save(iteration: secondIteration, shards: shards(rank: rank, of: new))
        }
        throw Mismatch(description: "the child was not killed; it finished with \(errors)")
    }
}
