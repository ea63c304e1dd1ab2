import Foundation

/// What one rank saves, checked and encoded on the caller's thread (so a background writer
/// holds only bytes): its pieces of tensors and its JSON state.
struct RankPayload: Sendable {
    let shards: [ShardData]
    /// `common.json`, written when the rank is 0.
    let common: Data?
    /// `rank_NNNNN.json`.
    let rankState: Data?

    /// Checks every shard (valid, bytes of the right length, keys unique) and encodes the state.
    /// `copyBytes` takes private copies of the shard bytes, for a writer that outlives the call
    /// while the caller reuses its buffers.
    static func make(
        shards: [ShardData], common: (any Encodable)?, rankState: (any Encodable)?, copyBytes: Bool
    ) throws(CheckpointError) -> RankPayload {
        var keys: Set<String> = []
        var copies: [ShardData] = []
        copies.reserveCapacity(shards.count)
        for piece in shards {
            let shard = piece.shard
            try shard.validate()
            guard piece.bytes.count == shard.byteCount else {
                throw .invalidShard(tensor: shard.name, shard: shard.description,
                                    reason: "has \(piece.bytes.count) bytes; its \(shard.elementCount) elements take \(shard.byteCount)")
            }
            guard keys.insert(CheckpointIndex.ShardRecord.key(for: shard)).inserted else {
                throw .invalidShard(tensor: shard.name, shard: shard.description, reason: "given twice by one rank")
            }
            // `Data(buffer)` copies; `Data(data)` might share storage with memory the caller reuses.
            copies.append(copyBytes ? ShardData(shard, bytes: piece.bytes.withUnsafeBytes { Data($0) }) : piece)
        }
        return RankPayload(shards: copies, common: try encodeState(common, "common state"),
                           rankState: try encodeState(rankState, "rank state"))
    }

    private static func encodeState(_ value: (any Encodable)?, _ what: String) throws(CheckpointError) -> Data? {
        guard let value else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do { return try encoder.encode(value) } catch { throw .invalidArgument("cannot encode the \(what) as JSON: \(error)") }
    }
}

/// The files one rank writes into the save's `.partial` directory.
enum RankFiles {
    /// Writes `rank`'s data file (when it has shards), its state, `common.json` (rank 0), and
    /// last its shard records for rank 0 to merge, whose presence tells rank 0 that the rank
    /// succeeded. Every file is fsynced; the directory is synced once by rank 0.
    static func write(
        _ payload: RankPayload, rank: Int, worldSize: Int, iteration: Int, into directory: URL
    ) throws(CheckpointError) {
        let dataName = CheckpointLayout.dataFileName(rank: rank)
        var safetensors = SafeTensorsWriter()
        for piece in payload.shards {
            let shard = piece.shard
            let shape = shard.flatRange.map { [$0.count] } ?? shard.blockShape
            safetensors.add(CheckpointIndex.ShardRecord.key(for: shard), rawBytes: piece.bytes, dtype: shard.dtype, shape: shape)
        }
        let layout: (chunks: [Data], byteRanges: [String: Range<Int>])
        do { layout = try safetensors.fileLayout() } catch { throw .invalidArgument("rank \(rank): \(error)") }

        var tensors: [String: CheckpointIndex.TensorRecord] = [:]
        for piece in payload.shards {
            let shard = piece.shard
            let key = CheckpointIndex.ShardRecord.key(for: shard)
            guard let range = layout.byteRanges[key] else { throw .invalidArgument("rank \(rank): shard \(key) missing from its file layout") }
            let record = CheckpointIndex.ShardRecord(
                file: dataName, key: key, byteOffset: range.lowerBound, byteLength: range.count,
                offset: shard.offset, blockShape: shard.blockShape, flatRange: shard.flatRange.map { [$0.lowerBound, $0.upperBound] },
                crc32c: CRC32C.hex(piece.bytes.withUnsafeBytes { CRC32C.checksum($0) }), rank: rank)
            var entry = tensors[shard.name] ?? .init(dtype: shard.dtype, shape: shard.globalShape, shards: [])
            guard entry.dtype == shard.dtype, entry.shape == shard.globalShape else {
                throw .inconsistentShards(tensor: shard.name, reason: "rank \(rank) gives pieces of \(entry.dtype) \(entry.shape) "
                                          + "and of \(shard.dtype) \(shard.globalShape)")
            }
            entry.shards.append(record)
            tensors[shard.name] = entry
        }

        if !payload.shards.isEmpty { try writeFile(layout.chunks, dataName, in: directory) }
        if let state = payload.rankState { try writeFile([state], CheckpointLayout.rankStateName(rank: rank), in: directory) }
        if rank == 0, let common = payload.common { try writeFile([common], CheckpointLayout.commonName, in: directory) }
        let fragment = CheckpointIndex(format: CheckpointIndex.formatName, version: CheckpointIndex.currentVersion,
                                       iteration: iteration, worldSize: worldSize, tensors: tensors)
        try writeFile([try fragment.encoded()], CheckpointLayout.fragmentName(rank: rank), in: directory)
    }

    /// Writes and fsyncs `name` in `directory`, the error naming the file.
    static func writeFile(_ chunks: [Data], _ name: String, in directory: URL) throws(CheckpointError) {
        let path = directory.appendingPathComponent(name).path
        do { try DurableFile.write(chunks, to: path) } catch { throw .io(path: path, reason: error.description) }
    }
}
