import Foundation
import MegatronData
import Synchronization
import Testing

@Suite("GPTDataset index cache")
struct GPTIndexCacheTests {
    /// The separate-last-epoch case, whose train split megatron-core also cached as .npy files.
    private func fixtureDataset(cache: GPTIndexCache?) throws -> GPTDataset {
        let c: GPTCase = try OrderFixtures.load("gpt_separate_last_epoch")
        let train = try #require(c.splits[0])
        return try GPTDataset(sequences: SyntheticCorpus(corpus: 0, count: c.num_sequences),
                              documents: train.indices_begin..<train.indices_end, sequenceLength: c.sequence_length,
                              numSamples: train.num_samples, seed: c.seed, cache: cache)
    }

    private func fixturePath(_ array: String) throws -> String {
        try #require(Bundle.module.url(forResource: "separate_last_epoch_train_\(array)", withExtension: "npy",
                                       subdirectory: "Fixtures/order")).path
    }

    private final class Log: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func record(_ line: String) { lines.withLock { $0.append(line) } }
    }

    private func withCache(_ body: (String, GPTIndexCache, Log) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("index-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = Log()
        try body(directory, GPTIndexCache(directory: directory, datasetPath: "corpus0", split: "train", log: log.record), log)
    }

    private func cached(_ directory: String, _ array: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        let name = try #require(names.first { $0.hasSuffix("-GPTDataset-train-\(array).npy") }, "no \(array) in \(names)")
        return (directory as NSString).appendingPathComponent(name)
    }

    @Test func megatronCoresNpyFilesReadAsItsIndices() throws {
        let uncached = try fixtureDataset(cache: nil)
        let document = try NumpyArrayFile.read(try fixturePath("document_index"))
        let sample = try NumpyArrayFile.read(try fixturePath("sample_index"))
        let shuffle = try NumpyArrayFile.read(try fixturePath("shuffle_index"))
        #expect(document.dtype == .int32 && sample.dtype == .int32 && shuffle.dtype == .uint32)
        #expect(document.values == uncached.documentIndex.map(Int.init))
        #expect(sample.shape == [uncached.sampleIndex.count, 2])
        #expect(sample.values == uncached.sampleIndex.flatMap { [$0.documentIndexPosition, $0.offset] })
        #expect(shuffle.values == uncached.shuffleIndex)
    }

    @Test func cachedFilesAreByteIdenticalToMegatronCores() throws {
        try withCache { directory, cache, _ in
            _ = try fixtureDataset(cache: cache)
            for array in ["document_index", "sample_index", "shuffle_index"] {
                let ours = try Data(contentsOf: URL(fileURLWithPath: try cached(directory, array)))
                let theirs = try Data(contentsOf: URL(fileURLWithPath: try fixturePath(array)))
                #expect(ours == theirs, "\(array)")
            }
            let description = try cached(directory, "document_index").replacingOccurrences(of: "document_index.npy", with: "description.txt")
            #expect(try String(contentsOfFile: description, encoding: .utf8).contains("\"sequence_lengths_sha256\""))
        }
    }

    @Test func aSecondBuildLoadsTheCache() throws {
        try withCache { _, cache, log in
            let first = try fixtureDataset(cache: cache)
            let second = try fixtureDataset(cache: cache)
            #expect(log.all.count == 2)
            #expect(log.all[0].hasPrefix("built and cached"))
            #expect(log.all[1].hasPrefix("loaded"))
            #expect(second.documentIndex == first.documentIndex)
            #expect(second.sampleIndex == first.sampleIndex)
            #expect(second.shuffleIndex == first.shuffleIndex)
            #expect(second.plan == first.plan)
        }
    }

    @Test func otherParametersGetTheirOwnFiles() throws {
        try withCache { directory, cache, _ in
            let corpus = SyntheticCorpus(corpus: 0, count: 40)
            for seed: UInt32 in [1, 2] {
                _ = try GPTDataset(sequences: corpus, documents: 0..<36, sequenceLength: 8, numSamples: 30, seed: seed, cache: cache)
            }
            let descriptions = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix("description.txt") }
            #expect(descriptions.count == 2)
        }
    }

    @Test(arguments: ["truncate", "not a permutation", "garbage"])
    func damagedCachesAreRebuilt(damage: String) throws {
        try withCache { directory, cache, log in
            let first = try fixtureDataset(cache: cache)
            let shuffle = try cached(directory, "shuffle_index")
            switch damage {
            case "truncate":
                let bytes = try Data(contentsOf: URL(fileURLWithPath: shuffle))
                try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: shuffle))
            case "not a permutation":
                try NumpyArrayFile.write(Array(repeating: 0, count: first.shuffleIndex.count), dtype: .uint32,
                                         shape: [first.shuffleIndex.count], to: shuffle)
            default:
                try Data("not numpy".utf8).write(to: URL(fileURLWithPath: shuffle))
            }
            let second = try fixtureDataset(cache: cache)
            #expect(second.shuffleIndex == first.shuffleIndex)
            #expect(log.all.contains { $0.hasPrefix("warning: ignoring the cached GPTDataset train indices") && $0.contains(shuffle) },
                    "\(log.all)")
            // The rebuild rewrote the cache: a third build loads it.
            _ = try fixtureDataset(cache: cache)
            #expect(log.all.last?.hasPrefix("loaded") == true)
        }
    }

    @Test func anUnwritableDirectoryOnlyCostsTheCache() throws {
        let log = Log()
        let cache = GPTIndexCache(directory: "/proc/not-a-writable-cache", datasetPath: "corpus0", split: "train", log: log.record)
        let d = try fixtureDataset(cache: cache)
        #expect(d.shuffleIndex == (try fixtureDataset(cache: nil)).shuffleIndex)
        #expect(log.all.count == 1 && log.all[0].hasPrefix("warning: could not cache"))
    }

    @Test func npyRoundTripsEveryDType() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("a-\(UUID().uuidString).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        for dtype in NumpyArrayFile.DType.allCases {
            let values = [0, 1, -1, 300, 7, 12].map { dtype == .uint32 ? abs($0) : $0 }
            try NumpyArrayFile.write(values, dtype: dtype, shape: [3, 2], to: path)
            #expect(try NumpyArrayFile.read(path) == NumpyArrayFile(dtype: dtype, shape: [3, 2], values: values))
            // NumPy pads the header so the data starts on a 64-byte boundary.
            #expect((try Data(contentsOf: URL(fileURLWithPath: path))).count == 128 + values.count * (dtype == .int16 ? 2 : dtype == .int64 ? 8 : 4))
        }
        try Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 9, 0, 0, 0]).write(to: URL(fileURLWithPath: path))
        #expect(throws: NumpyArrayFile.FormatError.self) { try NumpyArrayFile.read(path) }
    }
}
