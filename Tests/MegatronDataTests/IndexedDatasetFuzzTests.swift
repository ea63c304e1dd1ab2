import Foundation
import Testing
@testable import MegatronData
import MegatronTensor

/// Seeded random corruption of a valid pair: the reader must either open a self-consistent
/// dataset or throw ``IndexedDatasetError``. A crash (trap, bad pointer, SIGBUS) would take the
/// whole test process down, so passing means none happened.
@Suite("IndexedDataset fuzzing")
struct IndexedDatasetFuzzTests {
    static let iterations = 4000

    /// One random edit of the `.idx` (or, for the last kinds, the `.bin`).
    static func mutate(_ idx: inout [UInt8], _ bin: inout [UInt8], sequenceCount n: Int, _ rng: inout SplitMix64) -> String {
        func position() -> Int { idx.isEmpty ? 0 : Int.random(in: 0..<idx.count, using: &rng) }
        switch Int.random(in: 0..<9, using: &rng) {
        case 0 where !idx.isEmpty:
            idx[position()] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            return "bit flip"
        case 1 where !idx.isEmpty:
            idx[position()] = UInt8.random(in: 0...255, using: &rng)
            return "byte set"
        case 2:
            idx.removeLast(Int.random(in: 0...idx.count, using: &rng))
            return "truncate idx"
        case 3:
            idx += (0..<Int.random(in: 1...24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return "extend idx"
        case 4:
            idx.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: position())
            return "insert bytes"
        case 5 where !idx.isEmpty:
            let start = position()
            idx.removeSubrange(start..<min(idx.count, start + Int.random(in: 1...8, using: &rng)))
            return "delete bytes"
        case 6:
            // A field overwritten with a value chosen to sit on a boundary the checks must catch.
            let fields: [(Int, Int)] = [(9, 8), (17, 1), (18, 8), (26, 8)]
                + (0..<n).map { (34 + 4 * $0, 4) } + (0..<n).map { (34 + 4 * n + 8 * $0, 8) }
                + (0...4).map { (34 + 12 * n + 8 * $0, 8) }
            let (offset, width) = fields.randomElement(using: &rng)!
            let interesting: [Int64] = [0, 1, -1, Int64(n), Int64(n) + 1, Int64(n) - 1, Int64(bin.count), Int64(bin.count) + 1,
                                        Int64(Int32.max), Int64(Int32.min), .max, .min, 1 << 61, 1 << 32, Int64.random(in: .min ... .max, using: &rng)]
            let value = interesting.randomElement(using: &rng)!
            guard offset + width <= idx.count else { return "field past end" }
            withUnsafeBytes(of: value.littleEndian) { idx.replaceSubrange(offset..<offset + width, with: $0.prefix(width)) }
            return "field \(offset)"
        case 7:
            bin.removeLast(Int.random(in: 0...bin.count, using: &rng))
            return "truncate bin"
        default:
            bin += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return "extend bin"
        }
    }

    /// What a successful open must guarantee, whatever the bytes were. Plain checks that record
    /// an issue only on failure, so a failing invariant reports once per mutant with its name.
    static func checkConsistent(_ data: IndexedDataset, idx: [UInt8], bin: [UInt8]) {
        func check(_ condition: Bool, _ what: String) {
            if !condition { Issue.record("opened an inconsistent dataset: \(what)") }
        }
        check(idx.count >= 34 + 12 * data.sequenceCount + 8 * (data.documentCount + 1), "index arrays fit the file")
        check(data.dtype.rawValue == idx[17], "dtype code")
        check(data.sequenceLengths.count == data.sequenceCount, "length count")
        check(data.documentIndices.count == data.documentCount + 1, "document index count")
        check(data.documentIndices.first == 0 && data.documentIndices.last == data.sequenceCount, "document index ends")
        check(zip(data.documentIndices, data.documentIndices.dropFirst()).allSatisfy { $0 <= $1 }, "document indices sorted")
        for s in 0..<data.sequenceCount {
            let length = Int(data.sequenceLengths[s]), start = data.sequenceByteOffset(s)
            check(length >= 0 && start >= 0 && start + length * data.dtype.size <= bin.count, "sequence \(s) in bounds")
            // Values may not convert (a NaN float, a wide int64) but then it is a typed error.
            do {
                check(try data.wideTokens(sequence: s, offset: 0, count: nil).count == length, "wide read of \(s)")
                check(try data.tokens(sequence: s, offset: 0, count: nil).count == length, "read of \(s)")
            } catch is IndexedDatasetError {
            } catch {
                Issue.record("not an IndexedDatasetError: \(error)")
            }
        }
    }

    @Test func randomCorruptionNeverCrashes() throws {
        let scratch = try ScratchFolder(), base = scratch.prefix("base"), target = scratch.prefix("t")
        let builder = try IndexedDatasetBuilder(prefix: base, dtype: .uint16)
        let documents: [[[Int]]] = [[[1, 2, 3], [4]], [[]], [], [[5, 6], [7, 8, 9, 10], [11]], [[65535]]]
        for document in documents {
            for sequence in document { try builder.add(sequence: sequence) }
            builder.endDocument()
        }
        try builder.finish()
        let idx = try fileBytes(base + ".idx"), bin = try fileBytes(base + ".bin")
        let n = documents.joined().count

        var rng = SplitMix64(seed: 0x1DC0FFEE)
        var outcomes: [String: Int] = [:], mutations: [String: Int] = [:]
        for _ in 0..<Self.iterations {
            var mutatedIdx = idx, mutatedBin = bin
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let kind = Self.mutate(&mutatedIdx, &mutatedBin, sequenceCount: n, &rng)
                mutations[kind.hasPrefix("field") ? "field overwrite" : kind, default: 0] += 1
            }
            try writeBytes(mutatedIdx, target + ".idx")
            try writeBytes(mutatedBin, target + ".bin")
            // Typed `do`: the compiler itself guarantees nothing but IndexedDatasetError escapes.
            do throws(IndexedDatasetError) {
                let data = try IndexedDataset(prefix: target)
                Self.checkConsistent(data, idx: mutatedIdx, bin: mutatedBin)
                outcomes["opened", default: 0] += 1
            } catch {
                outcomes[error.caseName, default: 0] += 1
            }
        }
        let expected: Set<String> = ["opened", "truncated", "badMagic", "unsupportedVersion", "unknownDType", "countsExceedFile",
                                     "negativeSequenceLength", "invalidDocumentIndex", "binTooShort", "sequenceOutOfBounds"]
        #expect(Set(outcomes.keys).isSubset(of: expected), "\(outcomes)")
        // The mutations reach past the header: most checks fire, and some mutants still open.
        #expect(outcomes.count >= 8, "\(outcomes)")
        #expect(outcomes["opened", default: 0] > 50, "\(outcomes)")
        print("IndexedDataset fuzz: mutations \(mutations.sorted { $0.key < $1.key })")
        print("IndexedDataset fuzz: outcomes over \(Self.iterations) mutants \(outcomes.sorted { $0.key < $1.key })")
    }
}
