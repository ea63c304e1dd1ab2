import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest

final class RoundTripTests: XCTestCase {
    /// Several tensors of several dtypes and ranks (a scalar, an empty tensor) saved by one rank
    /// come back byte for byte, with the common and rank state, in Megatron's layout.
    func testSeveralDTypesRoundTripOnOneRank() throws {
        let root = try temporaryDirectory()
        let tensors = [
            GlobalTensor("decoder.weight", "F32", [3, 5], seed: 1),
            GlobalTensor("decoder.bias", "BF16", [4], seed: 2),
            GlobalTensor("half", "F16", [2, 3, 2], seed: 3),
            GlobalTensor("positions", "I64", [3], seed: 4),
            GlobalTensor("step", "I32", [], seed: 5),
            GlobalTensor("mask", "U8", [7, 1], seed: 6),
            GlobalTensor("empty", "F32", [0, 4], seed: 7),
        ]
        let common: [String: JSONValue] = [
            "iteration": .int(7), "args": .object(["lr": .double(3e-4), "name": .string("gpt"), "flags": .array([.bool(true), .null])]),
        ]
        let rankState: [String: JSONValue] = ["rng": .array([.int(-1), .int(Int.max)])]
        let errors = runRanks(1) { _, group in
            let saver = CheckpointSaver(directory: root, group: group)
            let report = try saver.save(iteration: 7, shards: tensors.map { $0.data($0.whole) }, common: common, rankState: rankState)
            try expectEqual(report.iteration, 7, "reported iteration")
            try expectEqual(report.directory.lastPathComponent, "iter_0000007", "reported directory")
        }
        assertNoErrors(errors)

        XCTAssertEqual(try listing(root), ["iter_0000007", "latest_checkpointed_iteration.txt"])
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("latest_checkpointed_iteration.txt"), encoding: .utf8), "7")
        XCTAssertEqual(try listing(root.appendingPathComponent("iter_0000007")),
                       ["common.json", "index.json", "rank_00000.json", "rank_00000.safetensors"])

        let reader = try CheckpointReader(directory: root)
        XCTAssertEqual(reader.iteration, 7)
        XCTAssertEqual(reader.tensorNames, tensors.map(\.name).sorted())
        for tensor in tensors {
            XCTAssertEqual(try reader.read(tensor.whole), tensor.bytes(of: tensor.whole), tensor.name)
            XCTAssertEqual(try reader.record(tensor.name).shape, tensor.shape)
        }
        XCTAssertEqual(try reader.common(as: [String: JSONValue].self), common)
        XCTAssertEqual(try reader.rankState(rank: 0, as: [String: JSONValue].self), rankState)
        XCTAssertNil(try reader.rankState(rank: 1, as: [String: JSONValue].self))

        // The data file is an ordinary safetensors file.
        let file = try SafeTensorsFile(contentsOf: fileURL(root, iteration: 7, "rank_00000.safetensors"))
        XCTAssertEqual(file.entries.count, tensors.count)
        XCTAssertEqual(try file.rawBytes("decoder.weight@[0,0]"), Data(tensors[0].bytes))
    }

    /// An explicit iteration loads that checkpoint, not the tracker's.
    func testAnExplicitIterationLoadsThatCheckpoint() throws {
        let root = try temporaryDirectory()
        let first = GlobalTensor("w", "F32", [4, 2], seed: 10)
        let second = GlobalTensor("w", "F32", [4, 2], seed: 11)
        assertNoErrors(runRanks(1) { _, group in
            let saver = CheckpointSaver(directory: root, group: group)
            try saver.save(iteration: 10, shards: [first.data(first.whole)])
            try saver.save(iteration: 20, shards: [second.data(second.whole)])
        })
        XCTAssertEqual(try CheckpointReader(directory: root).read(first.whole), Data(second.bytes))
        XCTAssertEqual(try CheckpointReader(directory: root, iteration: 10).read(first.whole), Data(first.bytes))
    }

    /// The safetensors writer replaces a file atomically and leaves nothing else behind.
    func testSafeTensorsWriteLeavesOnlyTheFile() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("model.safetensors")
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1, 2], shape: [2])
        try writer.write(to: url)
        writer.add("b", floats: [3], shape: [1])
        try writer.write(to: url)
        XCTAssertEqual(try listing(dir), ["model.safetensors"])
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url).floats("b"), [3])

        let missing = dir.appendingPathComponent("no-such-folder/x.safetensors")
        XCTAssertThrowsError(try writer.write(to: missing)) { error in
            guard case let .io(path, reason) = error as? SafeTensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, missing.path)
            XCTAssertTrue(reason.contains("No such file"), reason)
        }
    }

    /// CRC-32C's published check value, and a changed byte changes it.
    func testCRC32CMatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // 32 zero bytes: RFC 3720's test vector; long enough for the 8-byte loop.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.hex(0xAB), "000000ab")
    }

    /// Shard descriptions outside their tensor are refused with the reason.
    func testInvalidShardsAreRefused() {
        let bad: [(TensorShard, String)] = [
            (TensorShard(name: "w", dtype: "F32", globalShape: [4, 4], offset: [2, 0], blockShape: [3, 4]), "not inside 0..<4"),
            (TensorShard(name: "w", dtype: "F32", globalShape: [4, 4], offset: [0], blockShape: [4, 4]), "dimensions"),
            (TensorShard(name: "w", dtype: "F32", globalShape: [4, 4], offset: [0, 0], blockShape: [2, 4], flatRange: 4..<9), "flat range"),
            (TensorShard(name: "w", dtype: "Q4", globalShape: [4]), "unknown dtype"),
            (TensorShard(name: "w", dtype: "F32", globalShape: [-1]), "not inside"),
        ]
        for (shard, reason) in bad {
            XCTAssertThrowsError(try shard.validate()) { error in
                guard case let .invalidShard(tensor, _, message) = error as? CheckpointError else { return XCTFail("\(error)") }
                XCTAssertEqual(tensor, "w")
                XCTAssertTrue(message.contains(reason), message)
            }
        }
        XCTAssertNoThrow(try TensorShard(name: "s", dtype: "F32", globalShape: []).validate())
    }

    /// Megatron's directory names and the tracker's parsing.
    func testLayoutNames() throws {
        XCTAssertEqual(CheckpointLayout.iterationDirectoryName(100), "iter_0000100")
        XCTAssertEqual(CheckpointLayout.iterationDirectoryName(12_345_678), "iter_12345678")
        XCTAssertEqual(CheckpointLayout.iteration(ofDirectoryName: "iter_0000100"), 100)
        XCTAssertNil(CheckpointLayout.iteration(ofDirectoryName: "iter_0000100.partial"))
        XCTAssertNil(CheckpointLayout.iteration(ofDirectoryName: "iter_100"))
        XCTAssertEqual(CheckpointLayout.dataFileName(rank: 3), "rank_00003.safetensors")
        XCTAssertEqual(CheckpointLayout.rankStateName(rank: 3), "rank_00003.json")
    }
}
