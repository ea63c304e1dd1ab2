import Foundation
import Testing
@testable import MegatronData
import MegatronTensor

@Suite("IndexedDataset read/write")
struct IndexedDatasetTests {
    /// Tokens spanning a dtype's whole range (ends included) so width or sign slips show.
    static func randomTokens(_ dtype: IndexedDType, _ count: Int, _ rng: inout SplitMix64) -> [Int64] {
        let range: ClosedRange<Int64> = switch dtype {
        case .uint8: 0...255
        case .int8: -128...127
        case .int16: -32768...32767
        case .uint16: 0...65535
        case .int32: Int64(Int32.min)...Int64(Int32.max)
        case .int64: Int64.min...Int64.max
        case .float32: -(1 << 24)...(1 << 24)  // integers floats hold exactly
        case .float64: -(1 << 53)...(1 << 53)
        }
        return (0..<count).map { i in i == 0 ? range.lowerBound : i == 1 ? range.upperBound : Int64.random(in: range, using: &rng) }
    }

    @Test(arguments: IndexedDType.allCases)
    func roundTripEveryDType(dtype: IndexedDType) throws {
        let scratch = try ScratchFolder(), prefix = scratch.prefix("rt")
        var rng = SplitMix64(seed: UInt64(dtype.rawValue))
        var documents: [[[Int64]]] = []
        for _ in 0..<6 {
            documents.append((0..<Int.random(in: 0...4, using: &rng)).map { _ in
                Self.randomTokens(dtype, Int.random(in: 0...9, using: &rng), &rng)
            })
        }
        let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: dtype)
        for document in documents {
            for sequence in document { try builder.add(sequence: sequence) }
            builder.endDocument()
        }
        try builder.finish()

        let data = try IndexedDataset(prefix: prefix)
        #expect(data.dtype == dtype)
        #expect(data.documentCount == documents.count)
        #expect(data.sequenceCount == documents.joined().count)
        #expect(data.sequenceLengths == documents.joined().map { Int32($0.count) })
        #expect(try data.allDocuments() == documents)
        // Offsets are the running byte totals, as Megatron computes them.
        let lengths = data.sequenceLengths.map { Int($0) * dtype.size }
        #expect(data.sequenceByteOffsets == Array(lengths.reduce(into: [0]) { $0.append($0.last! + $1) }.dropLast()))
        let binSize = try FileManager.default.attributesOfItem(atPath: prefix + ".bin")[.size] as? Int
        #expect(binSize == lengths.reduce(0, +))
    }

    @Test func tokensWindowAndTokenSequencesConformance() throws {
        let scratch = try ScratchFolder(), prefix = scratch.prefix("w")
        let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: .uint16)
        try builder.add(sequence: [10, 11, 12, 13, 14] as [UInt16])
        try builder.add(sequence: [Int]())
        builder.endDocument()
        try builder.finish()
        let data: any TokenSequences = try IndexedDataset(prefix: prefix)
        #expect(try data.tokens(sequence: 0, offset: 1, count: 3) == [11, 12, 13])
        #expect(try data.tokens(sequence: 0, offset: 2, count: nil) == [12, 13, 14])
        #expect(try data.tokens(sequence: 0, offset: 5, count: nil) == [])
        #expect(try data.tokens(sequence: 1, offset: 0, count: nil) == [])
        #expect(data.documentIndices == [0, 2])
        for (s, o, c) in [(2, 0, nil), (-1, 0, nil), (0, 4, 2), (0, 6, nil), (0, -1, 1), (0, 0, -1)] as [(Int, Int, Int?)] {
            #expect(throws: IndexedDatasetError.self) { try data.tokens(sequence: s, offset: o, count: c) }
        }
    }

    @Test func mergingTwoPrefixesShiftsOffsetsAndDocuments() throws {
        let scratch = try ScratchFolder()
        let a: [[[Int64]]] = [[[1, 2], [3]], [[4, 5, 6]]]
        let b: [[[Int64]]] = [[[7]], [], [[8, 9], [], [10]]]
        for (name, documents) in [("a", a), ("b", b)] {
            let builder = try IndexedDatasetBuilder(prefix: scratch.prefix(name), dtype: .int32)
            for document in documents {
                for sequence in document { try builder.add(sequence: sequence) }
                builder.endDocument()
            }
            try builder.finish()
        }
        let merged = try IndexedDatasetBuilder(prefix: scratch.prefix("m"), dtype: .int32)
        try merged.add(sequence: [100])
        merged.endDocument()
        try merged.append(contentsOf: scratch.prefix("a"))
        try merged.append(contentsOf: scratch.prefix("b"))
        try merged.finish()

        let data = try IndexedDataset(prefix: scratch.prefix("m"))
        #expect(try data.allDocuments() == [[[100]]] + a + b)
        #expect(data.documentIndices == [0, 1, 3, 4, 5, 5, 8])
        #expect(data.sequenceByteOffsets == [0, 4, 12, 16, 28, 32, 40, 40])
    }

    @Test func builderRejectsTokensOutsideTheDType() throws {
        let scratch = try ScratchFolder()
        let cases: [(IndexedDType, Int64)] = [
            (.uint16, 65536), (.uint16, -1), (.uint8, 256), (.int8, -129), (.int16, 32768),
            (.int32, Int64(Int32.max) + 1), (.float32, (1 << 24) + 1), (.float64, (1 << 53) + 1),
        ]
        for (dtype, token) in cases {
            let builder = try IndexedDatasetBuilder(prefix: scratch.prefix("bad-\(dtype)"), dtype: dtype)
            #expect(throws: IndexedDatasetError.tokenOutOfRange(path: scratch.prefix("bad-\(dtype)"), value: "\(token)", dtype: dtype)) {
                try builder.add(sequence: [0, token])
            }
            // The failed add wrote nothing, so the pair still finishes consistently.
            try builder.add(sequence: [1])
            try builder.finish()
            #expect(try IndexedDataset(prefix: scratch.prefix("bad-\(dtype)")).allDocuments() == [[[1]]])
        }
    }

    @Test func addDocumentMatchesItemsThenEndDocument() throws {
        let scratch = try ScratchFolder()
        let one = try IndexedDatasetBuilder(prefix: scratch.prefix("one"), dtype: .uint16)
        try one.add(document: [1, 2, 3, 4, 5], lengths: [2, 0, 3])
        try one.finish()
        let two = try IndexedDatasetBuilder(prefix: scratch.prefix("two"), dtype: .uint16)
        try two.add(sequence: [1, 2]); try two.add(sequence: [Int]()); try two.add(sequence: [3, 4, 5])
        two.endDocument()
        try two.finish()
        #expect(try fileBytes(scratch.prefix("one") + ".idx") == fileBytes(scratch.prefix("two") + ".idx"))
        #expect(try fileBytes(scratch.prefix("one") + ".bin") == fileBytes(scratch.prefix("two") + ".bin"))
        #expect(throws: IndexedDatasetError.lengthsMismatch(path: scratch.prefix("x"), tokenCount: 3, lengthsSum: 2)) {
            try IndexedDatasetBuilder(prefix: scratch.prefix("x"), dtype: .uint16).add(document: [1, 2, 3], lengths: [1, 1])
        }
    }

    @Test func nothingAppearsUnderTheFinalNamesBeforeFinish() throws {
        let scratch = try ScratchFolder(), prefix = scratch.prefix("p")
        do {
            let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: .int32)
            try builder.add(sequence: [1, 2, 3])
            #expect(!FileManager.default.fileExists(atPath: prefix + ".bin"))
            #expect(!FileManager.default.fileExists(atPath: prefix + ".idx"))
        }
        // Abandoned builder: its temporaries are gone too.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty)

        let builder = try IndexedDatasetBuilder(prefix: prefix, dtype: .int32)
        try builder.add(sequence: [7, 8])  // no endDocument: finish closes the document
        try builder.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted() == ["p.bin", "p.idx"])
        #expect(try IndexedDataset(prefix: prefix).documentIndices == [0, 1])
        #expect(throws: IndexedDatasetError.builderFinished(path: prefix)) { try builder.add(sequence: [1]) }
    }

    @Test func mergeRejectsAnotherDType() throws {
        let scratch = try ScratchFolder()
        let small = try IndexedDatasetBuilder(prefix: scratch.prefix("s"), dtype: .uint16)
        try small.add(sequence: [1]); try small.finish()
        let big = try IndexedDatasetBuilder(prefix: scratch.prefix("b"), dtype: .int32)
        #expect(throws: IndexedDatasetError.dtypeMismatch(path: scratch.prefix("s") + ".idx", expected: .int32, found: .uint16)) {
            try big.append(contentsOf: scratch.prefix("s"))
        }
    }

    @Test func optimalDTypeFollowsMegatron() {
        #expect(IndexedDType.optimal(vocabSize: 50257) == .uint16)
        #expect(IndexedDType.optimal(vocabSize: 65499) == .uint16)
        #expect(IndexedDType.optimal(vocabSize: 65500) == .int32)
        #expect(IndexedDType.optimal(vocabSize: nil) == .int32)
        #expect(IndexedDType.allCases.map(\.size) == [1, 1, 2, 4, 8, 8, 4, 2])
        #expect(IndexedDType.allCases.allSatisfy { IndexedDType(name: $0.description) == $0 })
    }
}

@Suite("IndexedDataset parity with megatron-core")
struct IndexedDatasetParityTests {
    @Test func readsMegatronFiles() throws {
        let folder = try IndexedFixtures.folder()
        for dataset in try IndexedFixtures.manifest().datasets {
            let data = try IndexedDataset(prefix: folder.appendingPathComponent(dataset.name).path)
            #expect(data.dtype.description == dataset.dtype, "\(dataset.name)")
            #expect(try data.allDocuments() == dataset.documents, "\(dataset.name)")
            let expected = dataset.documents.flatMap { $0 }
            if expected.joined().allSatisfy({ Int32(exactly: $0) != nil }) {
                let narrow = try (0..<data.sequenceCount).map { try data.tokens(sequence: $0, offset: 0, count: nil).map(Int64.init) }
                #expect(narrow == expected, "\(dataset.name)")
            } else {
                // int64 and float64 fixtures hold values past Int32: a typed error, not a wrap.
                #expect(throws: IndexedDatasetError.self, "\(dataset.name)") {
                    for s in 0..<data.sequenceCount { _ = try data.tokens(sequence: s, offset: 0, count: nil) }
                }
            }
        }
    }

    /// Our merge of megatron-core's own files gives megatron-core's merged file.
    @Test func mergesMegatronFiles() throws {
        let folder = try IndexedFixtures.folder(), scratch = try ScratchFolder()
        let builder = try IndexedDatasetBuilder(prefix: scratch.prefix("m"), dtype: .uint16)
        try builder.add(sequence: [100, 200]); builder.endDocument()
        try builder.append(contentsOf: folder.appendingPathComponent("u16_a").path)
        try builder.add(sequence: [300]); builder.endDocument()
        try builder.append(contentsOf: folder.appendingPathComponent("u16_b").path)
        try builder.finish()
        for ext in [".idx", ".bin"] {
            #expect(try fileBytes(scratch.prefix("m") + ext) == fileBytes(folder.appendingPathComponent("u16_merged" + ext).path), "\(ext)")
        }
    }

    /// Replays each fixture's builder calls with ours and compares the files byte for byte.
    @Test func writesMegatronBytes() throws {
        let folder = try IndexedFixtures.folder(), scratch = try ScratchFolder()
        let manifest = try IndexedFixtures.manifest()
        #expect(manifest.datasets.count == 10)
        for dataset in manifest.datasets {
            let dtype = try #require(IndexedDType(name: dataset.dtype))
            let builder = try IndexedDatasetBuilder(prefix: scratch.prefix(dataset.name), dtype: dtype)
            for step in dataset.steps {
                switch step.op {
                case "item": try builder.add(sequence: step.tokens ?? [])
                case "end_document": builder.endDocument()
                case "document": try builder.add(document: step.tokens ?? [], lengths: step.lengths ?? [])
                case "merge": try builder.append(contentsOf: scratch.prefix(try #require(step.name)))
                default: Issue.record("unknown step \(step.op)")
                }
            }
            try builder.finish()
            for ext in [".idx", ".bin"] {
                let ours = try fileBytes(scratch.prefix(dataset.name) + ext)
                let theirs = try fileBytes(folder.appendingPathComponent(dataset.name + ext).path)
                #expect(ours == theirs, "\(dataset.name)\(ext)")
            }
        }
    }
}
