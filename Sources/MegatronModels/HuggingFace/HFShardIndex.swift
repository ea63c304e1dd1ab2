import Foundation
import MegatronCheckpoint

/// `model.safetensors.index.json`: which shard file holds each tensor, and how `save_pretrained`
/// splits a state dict into shards and names them.
///
///     let index = try HFShardIndex(contentsOf: dir.appending(path: HFShardIndex.fileName))
///     let shard = index.weightMap["model.norm.weight"]     // "model-00003-of-00003.safetensors"
struct HFShardIndex: Equatable {
    static let fileName = "model.safetensors.index.json"
    /// The weights file of an unsharded checkpoint.
    static let singleFileName = "model.safetensors"

    /// Tensor name → shard file name (relative to the directory).
    var weightMap: [String: String]
    /// `metadata.total_size`: bytes of tensor data in all shards.
    var totalSize: Int?
    /// `metadata.total_parameters`: elements in all shards (transformers ≥ 5 writes it).
    var totalParameters: Int?

    init(weightMap: [String: String], totalSize: Int?, totalParameters: Int?) {
        self.weightMap = weightMap
        self.totalSize = totalSize
        self.totalParameters = totalParameters
    }

    /// Reads and checks an index: `weight_map` must be an object of plain file names.
    init(contentsOf url: URL) throws(HFDirectoryError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .io(path: url.path, reason: "cannot read: \(error.localizedDescription)") }
        let r = try HFConfigReader(data: data, file: url.path)
        guard case let .object(map) = try r.value("weight_map") else {
            throw .unsupportedValue(file: r.file, key: "weight_map", value: String(try r.value("weight_map").brief.prefix(60)),
                                    expected: "an object of tensor name → shard file")
        }
        var weightMap: [String: String] = [:]
        for (tensor, value) in map {
            guard case let .string(shard) = value, !shard.isEmpty, !shard.contains("/"), !shard.contains("\\"), shard != ".", shard != ".." else {
                throw .unsupportedValue(file: r.file, key: "weight_map.\(tensor)", value: value.brief,
                                        expected: "the name of a shard file in the same directory")
            }
            weightMap[tensor] = shard
        }
        let metadata = try r.nested("metadata")
        self.init(weightMap: weightMap, totalSize: try metadata?.int("metadata.total_size", default: nil),
                  totalParameters: try metadata?.int("metadata.total_parameters", default: nil))
    }

    /// The index text as transformers writes it (`json.dumps(index, indent=2, sort_keys=True) + "\n"`).
    func jsonData() -> Data {
        var metadata: [String: JSONValue] = [:]
        if let totalSize { metadata["total_size"] = .int(totalSize) }
        if let totalParameters { metadata["total_parameters"] = .int(totalParameters) }
        let json = JSONValue.object(["metadata": .object(metadata), "weight_map": .object(weightMap.mapValues(JSONValue.string))])
        return Data(json.pythonJSON().utf8)
    }

    /// `model-00002-of-00005.safetensors`, or `model.safetensors` when there is one shard.
    static func shardFileName(_ index: Int, of count: Int) -> String {
        guard count > 1 else { return singleFileName }
        func five(_ n: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        return "model-\(five(index + 1))-of-\(five(count)).safetensors"
    }

    /// Whether `name` has the form of a shard file (`model-NNNNN-of-NNNNN.safetensors`).
    static func isShardFileName(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "model", parts[2] == "of", parts[3].hasSuffix(".safetensors") else { return false }
        let digits = [parts[1], parts[3].dropLast(".safetensors".count)]
        return digits.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    /// Tensor indices per shard, split as huggingface_hub's `split_state_dict_into_shards_factory`
    /// does: in order, a new shard whenever the next tensor would take the current one past
    /// `maxBytes`; a tensor larger than `maxBytes` gets a shard of its own, placed at once (so
    /// before the shard being filled). Shared storage does not arise here (tied weights are
    /// saved once).
    static func split(sizes: [Int], maxBytes: Int) -> [[Int]] {
        var shards: [[Int]] = [], current: [Int] = [], currentSize = 0
        for (i, size) in sizes.enumerated() {
            if size > maxBytes {
                shards.append([i])
                continue
            }
            if currentSize + size > maxBytes {
                shards.append(current)
                current = []
                currentSize = 0
            }
            current.append(i)
            currentSize += size
        }
        if !current.isEmpty { shards.append(current) }
        return shards
    }
}
