import Foundation

/// The `index.json` of a checkpoint: every tensor's dtype and global shape, and where each
/// saved piece of it lies (file, bytes, place in the tensor, checksum).
///
///     {"format": "swift-megatron-distributed-checkpoint", "version": 1, "iteration": 100,
///      "world_size": 4, "tensors": {"w": {"dtype": "F32", "shape": [8, 6], "shards": [
///        {"file": "rank_00001.safetensors", "key": "w@[4,0]", "byte_offset": 128, "byte_length": 96,
///         "offset": [4, 0], "block_shape": [4, 6], "flat_range": [0, 24], "crc32c": "1c2d3e4f", "rank": 1}]}}}
public struct CheckpointIndex: Codable, Sendable, Equatable {
    /// The value of `format`, so that a stray JSON file is not mistaken for an index.
    public static let formatName = "swift-megatron-distributed-checkpoint"
    /// The layout version this code writes and reads.
    public static let currentVersion = 1

    /// Always ``formatName``.
    public var format: String
    /// The layout version, ``currentVersion`` when written by this code.
    public var version: Int
    /// The training iteration saved.
    public var iteration: Int
    /// How many ranks wrote the checkpoint (those of the saving group).
    public var worldSize: Int
    /// Every saved tensor, by name.
    public var tensors: [String: TensorRecord]

    /// One tensor: its dtype, its global shape, and its saved pieces.
    public struct TensorRecord: Codable, Sendable, Equatable {
        /// safetensors spelling (`F32`, `BF16` …).
        public var dtype: String
        /// The global shape.
        public var shape: [Int]
        /// The saved pieces, by file and byte offset; they may overlap (replicas) and must
        /// together cover the tensor for a full read.
        public var shards: [ShardRecord]
    }

    /// One saved piece of a tensor.
    public struct ShardRecord: Codable, Sendable, Equatable {
        /// The data file, relative to the iteration's directory.
        public var file: String
        /// The piece's key in the file's safetensors header.
        public var key: String
        /// Where the piece's bytes start in the file (header included).
        public var byteOffset: Int
        /// The piece's byte count.
        public var byteLength: Int
        /// Where the block starts in the global tensor.
        public var offset: [Int]
        /// The block's shape.
        public var blockShape: [Int]
        /// `[begin, end)` of the block's row-major elements held, or nil for the whole block.
        public var flatRange: [Int]?
        /// CRC-32C of the piece's bytes, 8 lowercase hex digits.
        public var crc32c: String
        /// The rank that wrote it.
        public var rank: Int

        enum CodingKeys: String, CodingKey {
            case file, key, offset, rank, crc32c
            case byteOffset = "byte_offset", byteLength = "byte_length"
            case blockShape = "block_shape", flatRange = "flat_range"
        }

        /// The piece as a ``TensorShard`` of the tensor `name`.
        public func shard(of name: String, _ tensor: TensorRecord) -> TensorShard {
            TensorShard(name: name, dtype: tensor.dtype, globalShape: tensor.shape, offset: offset, blockShape: blockShape,
                        flatRange: flatRange.flatMap { $0.count == 2 && $0[0] <= $0[1] ? $0[0]..<$0[1] : nil })
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, version, iteration, tensors
        case worldSize = "world_size"
    }

    /// The index as written to disk: sorted keys, so equal checkpoints have equal bytes.
    func encoded() throws(CheckpointError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do { return try encoder.encode(self) } catch { throw .invalidArgument("cannot encode the index: \(error)") }
    }

    /// Reads and checks `path`: the format and version, and every shard a valid piece of its
    /// tensor stored in a plain file name with a byte count that fits it.
    static func load(from path: String) throws(CheckpointError) -> CheckpointIndex {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .badIndex(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        let index: CheckpointIndex
        do {
            index = try JSONDecoder().decode(CheckpointIndex.self, from: data)
        } catch {
            throw .badIndex(path: path, reason: "not a checkpoint index: \(error)")
        }
        guard index.format == formatName, index.version == currentVersion else {
            throw .badIndex(path: path, reason: "format \(index.format) version \(index.version); this reader knows "
                            + "\(formatName) version \(currentVersion)")
        }
        for (name, tensor) in index.tensors {
            for record in tensor.shards {
                try record.check(tensor: name, tensor, indexPath: path)
            }
        }
        return index
    }
}

extension CheckpointIndex.ShardRecord {
    /// Key of a piece in its rank's safetensors file: the tensor name, the block's offset and
    /// the flat range (`w@[4,0]`, `w@[4,0][0:7]`), unique among one rank's pieces.
    static func key(for shard: TensorShard) -> String {
        let flat = shard.flatRange.map { "[\($0.lowerBound):\($0.upperBound)]" } ?? ""
        return "\(shard.name)@[\(shard.offset.map(String.init).joined(separator: ","))]\(flat)"
    }

    fileprivate func check(tensor name: String, _ tensor: CheckpointIndex.TensorRecord, indexPath: String) throws(CheckpointError) {
        func bad(_ reason: String) -> CheckpointError { .badIndex(path: indexPath, reason: "tensor \(name): \(reason)") }
        guard !file.isEmpty, !file.contains("/"), file != ".", file != ".." else { throw bad("file name \"\(file)\" is not a plain name") }
        if let flatRange, flatRange.count != 2 || flatRange[0] > flatRange[1] {
            throw bad("flat_range \(flatRange) is not [begin, end]")
        }
        guard crc32c.count == 8, UInt32(crc32c, radix: 16) != nil else { throw bad("crc32c \"\(crc32c)\" is not 8 hex digits") }
        let shard = shard(of: name, tensor)
        do {
            try shard.validate()
        } catch {
            throw bad("\(error)")
        }
        guard byteOffset >= 0, byteLength == shard.byteCount else {
            throw bad("shard \(key) in \(file) has byte_length \(byteLength); its \(shard.elementCount) elements take \(shard.byteCount)")
        }
    }
}
