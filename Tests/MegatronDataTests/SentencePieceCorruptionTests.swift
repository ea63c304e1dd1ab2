import Foundation
import MegatronData
import Testing
import MegatronTensor

/// A truncated or corrupt model file is a `TokenizerError.file` naming the path and the byte
/// offset, never a crash; includes a seeded fuzz of truncations and byte flips.
@Suite("SentencePiece corrupt model files")
struct SentencePieceCorruptionTests {
    typealias Support = SentencePieceTestSupport

    /// Expects `bytes` to be rejected with a file error for `path` that says where.
    func expectFileError(_ bytes: [UInt8], path: String, _ what: String) {
        do {
            _ = try SentencePieceModel(bytes: bytes, path: path)
            Issue.record("\(what): accepted")
        } catch let TokenizerError.file(errorPath, message) {
            #expect(errorPath == path, "\(what)")
            #expect(message.contains("offset"), "\(what): \(message)")
        } catch {
            Issue.record("\(what): unexpected error \(error)")
        }
    }

    /// The full model cut to a small but valid one: its first `pieces` pieces (the 259 special
    /// and byte pieces come first) and its trainer and normalizer specs, so a fuzz case parses
    /// in well under a millisecond.
    static func smallModel(_ bytes: [UInt8], pieces: Int) -> [UInt8] {
        var out: [UInt8] = [], i = 0, kept = 0
        func varint() -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
        }
        while i < bytes.count {
            let start = i
            let key = varint()
            precondition(key & 7 == 2, "ModelProto's top-level fields are all length-delimited")
            let length = Int(varint())
            i += length
            if key >> 3 != 1 || kept < pieces {
                out += bytes[start..<i]
                if key >> 3 == 1 { kept += 1 }
            }
        }
        return out
    }

    @Test func missingFileNamesThePath() {
        let path = "/nonexistent/tokenizer.model"
        #expect {
            try SentencePieceModel(contentsOf: path)
        } throws: { error in
            guard case let TokenizerError.file(errorPath, _) = error else { return false }
            return errorPath == path
        }
    }

    @Test func truncationsOfTheRealModelAreFileErrors() throws {
        let path = try Support.modelPath
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Empty, inside the first piece, mid-pieces, and the last bytes (inside the specs).
        for length in [0, 1, 2, 7, bytes.count / 2, bytes.count - 200, bytes.count - 20, bytes.count - 1] {
            expectFileError(Array(bytes.prefix(length)), path: path, "truncated to \(length) bytes")
        }
    }

    @Test func seededFuzzOfTruncationsAndByteFlips() throws {
        let path = try Support.modelPath
        let small = Self.smallModel([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), pieces: 400)
        let model = try SentencePieceModel(bytes: small, path: path)
        #expect(model.pieceCount == 400)
        #expect(try model.decode(model.encode("the sea")) == "the sea")

        var rng = SplitMix64(seed: 20_240_607)
        for _ in 0..<200 {
            let length = Int(rng.next() % UInt64(small.count))
            expectFileError(Array(small.prefix(length)), path: path, "truncated to \(length) bytes")
        }
        var accepted = 0
        for round in 0..<300 {
            var bytes = small
            for _ in 0...(rng.next() % 4) {
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
            // A flip may leave a model that still parses (a changed score or piece); it must
            // then still encode and decode without trapping.
            do {
                let flipped = try SentencePieceModel(bytes: bytes, path: path)
                _ = try flipped.decode(flipped.encode("Hello, wörld! 😀 1234"))
                accepted += 1
            } catch let TokenizerError.file(errorPath, message) {
                #expect(errorPath == path)
                #expect(message.contains("offset"), "flip round \(round): \(message)")
            } catch {
                Issue.record("flip round \(round): unexpected error \(error)")
            }
        }
        #expect(accepted < 300)
    }
}
