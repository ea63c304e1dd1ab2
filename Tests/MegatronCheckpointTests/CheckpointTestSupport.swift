import Foundation
import MegatronCheckpoint
import MegatronParallel
import Synchronization
import XCTest
import MegatronTensor

/// Bytes per element of the safetensors dtypes the tests use.
let testDTypeWidths: [String: Int] = ["F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "U8": 1]

/// A whole tensor with random contents, and the reference slicing every read is compared with:
/// element by element, independent of the reader's run-based copy.
struct GlobalTensor: Sendable {
    let name: String
    let dtype: String
    let shape: [Int]
    let bytes: [UInt8]

    init(_ name: String, _ dtype: String, _ shape: [Int], seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        self.name = name
        self.dtype = dtype
        self.shape = shape
        let width = testDTypeWidths[dtype]!
        bytes = (0..<(shape.reduce(1, *) * width)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    var width: Int { testDTypeWidths[dtype]! }
    var whole: TensorShard { TensorShard(name: name, dtype: dtype, globalShape: shape) }

    func piece(_ offset: [Int], _ block: [Int], flat: Range<Int>? = nil) -> TensorShard {
        TensorShard(name: name, dtype: dtype, globalShape: shape, offset: offset, blockShape: block, flatRange: flat)
    }

    /// The bytes `piece` holds, by walking its elements one at a time.
    func bytes(of piece: TensorShard) -> Data {
        var out = Data()
        let blockCount = piece.blockShape.reduce(1, *)
        for position in piece.flatRange ?? 0..<blockCount {
            var rest = position
            var global = 0
            var index = [Int](repeating: 0, count: shape.count)
            for d in shape.indices.reversed() {
                index[d] = piece.offset[d] + rest % piece.blockShape[d]
                rest /= piece.blockShape[d]
            }
            for d in shape.indices { global = global * shape[d] + index[d] }
            out.append(contentsOf: bytes[(global * width)..<((global + 1) * width)])
        }
        return out
    }

    func data(_ piece: TensorShard) -> ShardData { ShardData(piece, bytes: bytes(of: piece)) }
}

extension XCTestCase {
    /// A fresh directory under the system's temporary directory, removed after the test.
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Runs `body` on `size` thread ranks sharing one group, and returns each rank's error (the
/// body's own throws are caught per rank, so a test can look at what every rank saw).
func runRanks(_ size: Int, _ body: @escaping @Sendable (_ rank: Int, _ group: LocalProcessGroup) throws -> Void) -> [Int: String] {
    let world = LocalWorld(size: size, timeout: 120)
    let errors = Mutex<[Int: String]>([:])
    do {
        try world.run { rank in
            let group = try world.group(ranks: Array(0..<size), rank: rank, name: "checkpoint")
            do {
                try body(rank, group)
            } catch {
                errors.withLock { $0[rank] = "\(error)" }
                throw error
            }
        }
    } catch {}
    return errors.withLock { $0 }
}

/// Each rank's error as a `CheckpointError`, for tests that look at one case.
func runRanksCollecting(_ size: Int, _ body: @escaping @Sendable (_ rank: Int, _ group: LocalProcessGroup) throws -> Void) -> [Int: CheckpointError] {
    let errors = Mutex<[Int: CheckpointError]>([:])
    _ = runRanks(size) { rank, group in
        do { try body(rank, group) } catch let error as CheckpointError {
            errors.withLock { $0[rank] = error }
            throw error
        }
    }
    return errors.withLock { $0 }
}

/// Fails the test with every rank's error when any rank failed.
func assertNoErrors(_ errors: [Int: String], file: StaticString = #filePath, line: UInt = #line) {
    for (rank, error) in errors.sorted(by: { $0.key < $1.key }) {
        XCTFail("rank \(rank): \(error)", file: file, line: line)
    }
}

/// The entries of a directory, sorted.
func listing(_ url: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
}

/// The data of `name` in the iteration directory of `root`.
func fileURL(_ root: URL, iteration: Int, _ name: String) -> URL {
    root.appendingPathComponent(CheckpointLayout.iterationDirectoryName(iteration)).appendingPathComponent(name)
}

/// A failed check on a rank's thread (XCTest assertions belong on the test's own thread).
struct Mismatch: Error, CustomStringConvertible {
    let description: String
}

/// Throws a ``Mismatch`` unless the values are equal.
func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    guard actual == expected else { throw Mismatch(description: "\(what): got \(actual), expected \(expected)") }
}
