import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest

/// Damaged checkpoints and wrong requests: every error names the file or tensor at fault.
final class CorruptionTests: XCTestCase {
    static let weight = GlobalTensor("w", "F32", [4, 6], seed: 41)
    static let bias = GlobalTensor("b", "BF16", [6], seed: 42)

    /// Two ranks save w as row blocks (rank 1 holds rows 2..<4) and rank 0 the bias.
    func savedCheckpoint() throws -> URL {
        let root = try temporaryDirectory()
        assertNoErrors(runRanks(2) { rank, group in
            var shards = [Self.weight.data(Self.weight.piece([2 * rank, 0], [2, 6]))]
            if rank == 0 { shards.append(Self.bias.data(Self.bias.whole)) }
            try CheckpointSaver(directory: root, group: group).save(iteration: 3, shards: shards)
        })
        return root
    }

    func rankFile(_ root: URL, _ rank: Int) -> URL { fileURL(root, iteration: 3, "rank_0000\(rank).safetensors") }

    /// Flipping any single byte of a saved piece is caught by its checksum, naming file and
    /// tensor; pieces in other files still read.
    func testEveryFlippedByteIsCaught() throws {
        let root = try savedCheckpoint()
        let url = rankFile(root, 1)
        let piece = try CheckpointReader(directory: root).record("w").shards.first { $0.rank == 1 }!
        let original = try Data(contentsOf: url)
        for position in piece.byteOffset..<(piece.byteOffset + piece.byteLength) {
            var damaged = original
            damaged[position] ^= 0x01 << UInt8(position % 8)
            try damaged.write(to: url)
            let reader = try CheckpointReader(directory: root)
            XCTAssertThrowsError(try reader.read(Self.weight.whole)) { error in
                guard case let .checksumMismatch(file, tensor, expected, _) = error as? CheckpointError else {
                    return XCTFail("byte \(position): \(error)")
                }
                XCTAssertEqual(file, url.path)
                XCTAssertEqual(tensor, "w")
                XCTAssertEqual(expected, piece.crc32c)
            }
            XCTAssertEqual(try reader.read(Self.weight.piece([0, 0], [2, 6])), Self.weight.bytes(of: Self.weight.piece([0, 0], [2, 6])))
        }
        try original.write(to: url)
        XCTAssertEqual(try CheckpointReader(directory: root).read(Self.weight.whole), Data(Self.weight.bytes))
    }

    func testATruncatedFileIsNamed() throws {
        let root = try savedCheckpoint()
        let url = rankFile(root, 1)
        try Data(contentsOf: url).dropLast().write(to: url)
        XCTAssertThrowsError(try CheckpointReader(directory: root).read(Self.weight.whole)) { error in
            guard case let .damagedFile(file, tensor, reason) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, url.path)
            XCTAssertEqual(tensor, "w")
            XCTAssertTrue(reason.contains("truncated"), reason)
        }
    }

    func testAMissingFileIsNamed() throws {
        let root = try savedCheckpoint()
        let url = rankFile(root, 0)
        try FileManager.default.removeItem(at: url)
        XCTAssertThrowsError(try CheckpointReader(directory: root).read(Self.bias.whole)) { error in
            guard case let .damagedFile(file, tensor, reason) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, url.path)
            XCTAssertEqual(tensor, "b")
            XCTAssertTrue(reason.contains("missing"), reason)
        }
    }

    /// An index pointing at other bytes than the file's header says is refused.
    func testAnIndexThatDisagreesWithTheFileIsRefused() throws {
        let root = try savedCheckpoint()
        let indexURL = fileURL(root, iteration: 3, "index.json")
        var index = try JSONDecoder().decode(CheckpointIndex.self, from: Data(contentsOf: indexURL))
        index.tensors["b"]!.shards[0].byteOffset += 4
        try JSONEncoder().encode(index).write(to: indexURL)
        XCTAssertThrowsError(try CheckpointReader(directory: root).read(Self.bias.whole)) { error in
            guard case let .damagedFile(file, tensor, reason) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, rankFile(root, 0).path)
            XCTAssertEqual(tensor, "b")
            XCTAssertTrue(reason.contains("b@[0]"), reason)
        }
    }

    func testWrongRequestsAreRefusedWithTheirReason() throws {
        let reader = try CheckpointReader(directory: try savedCheckpoint())
        let wrongShape = TensorShard(name: "w", dtype: "F32", globalShape: [4, 5])
        XCTAssertThrowsError(try reader.read(wrongShape)) { error in
            XCTAssertEqual("\(error)", "tensor w: checkpoint has shape [4, 6], model expects [4, 5]")
        }
        XCTAssertThrowsError(try reader.read(TensorShard(name: "w", dtype: "BF16", globalShape: [4, 6]))) { error in
            XCTAssertEqual(error as? CheckpointError, .dtypeMismatch(tensor: "w", checkpoint: "F32", expected: "BF16"))
        }
        XCTAssertThrowsError(try reader.read(TensorShard(name: "nope", dtype: "F32", globalShape: [1]))) { error in
            XCTAssertEqual(error as? CheckpointError, .unknownTensor(tensor: "nope", checkpoint: reader.iterationDirectory.path))
        }
        XCTAssertThrowsError(try reader.read(Self.weight.piece([3, 0], [2, 6]))) { error in
            guard case .invalidShard(tensor: "w", _, _) = error as? CheckpointError else { return XCTFail("\(error)") }
        }
    }

    /// Elements no rank saved are reported with how many and where the first is.
    func testUncoveredElementsAreReported() throws {
        let root = try temporaryDirectory()
        assertNoErrors(runRanks(2) { rank, group in
            // Rank 1 saves nothing of w: rows 2..<4 are missing.
            let shards = rank == 0 ? [Self.weight.data(Self.weight.piece([0, 0], [2, 6]))] : []
            try CheckpointSaver(directory: root, group: group).save(iteration: 1, shards: shards)
        })
        let reader = try CheckpointReader(directory: root)
        XCTAssertThrowsError(try reader.read(Self.weight.whole)) { error in
            guard case let .uncovered(tensor, _, missing, first) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(tensor, "w")
            XCTAssertEqual(missing, 12)
            XCTAssertEqual(first, [2, 0])
        }
        XCTAssertThrowsError(try reader.read(Self.weight.piece([1, 0], [2, 6], flat: 4..<9))) { error in
            guard case let .uncovered(_, _, missing, first) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, 3)
            XCTAssertEqual(first, [2, 0])
        }
        XCTAssertEqual(try reader.read(Self.weight.piece([1, 0], [2, 6], flat: 0..<6)),
                       Self.weight.bytes(of: Self.weight.piece([1, 0], [1, 6])))
    }

    func testTrackerAndIndexProblemsAreNamed() throws {
        let root = try temporaryDirectory()
        let tracker = root.appendingPathComponent("latest_checkpointed_iteration.txt")
        func openError(_ iteration: Int? = nil) -> CheckpointError? {
            do {
                _ = try CheckpointReader(directory: root, iteration: iteration)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(openError(), .noTracker(directory: root.path))
        try Data("release\n".utf8).write(to: tracker)
        XCTAssertEqual(openError(), .malformedTracker(path: tracker.path, content: "release\n"))
        try Data("5\n".utf8).write(to: tracker)
        XCTAssertEqual(openError(), .missingIteration(path: root.appendingPathComponent("iter_0000005").path, iteration: 5, tracker: tracker.path))
        XCTAssertEqual(openError(6), .missingIteration(path: root.appendingPathComponent("iter_0000006").path, iteration: 6, tracker: nil))
        let folder = root.appendingPathComponent("iter_0000005")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard case .badIndex(let path, _) = openError() else { return XCTFail("\(String(describing: openError()))") }
        XCTAssertEqual(path, folder.appendingPathComponent("index.json").path)
        try Data("{\"format\": \"something else\"}".utf8).write(to: folder.appendingPathComponent("index.json"))
        guard case .badIndex = openError() else { return XCTFail("\(String(describing: openError()))") }
    }
}
