import Foundation

/// A SentencePiece BPE model read from its `.model` file (a serialized `sentencepiece.ModelProto`),
/// encoding and decoding as `sentencepiece.SentencePieceProcessor` does: `encode` is
/// `sp.encode(text)` and `decode` is `sp.decode(ids)`. Megatron's special tokens are added on top
/// by `SentencePieceTokenizer`.
///
///     let model = try SentencePieceModel(contentsOf: "tokenizer.model")
///     let ids = model.encode("Hello world")   // the ids of "▁Hello", "▁world"
///     let text = try model.decode(ids)        // "Hello world"
///
/// Only what Llama-style models use is supported: model_type BPE and the identity normalizer
/// (no precompiled character map); other files throw `TokenizerError.file`.
public struct SentencePieceModel: Sendable {
    public let path: String
    /// Pieces by id, as UTF-8 bytes (`ModelProto.pieces[id].piece`).
    let pieces: [[UInt8]]
    let scores: [Float]
    let types: [SentencePieceModelProto.PieceType]
    /// NORMAL, USER_DEFINED and UNUSED pieces: the ones BPE merges into (sentencepiece's `pieces_`).
    let mergeable: SentencePiecePieceTable
    /// UNKNOWN, CONTROL and BYTE pieces (sentencepiece's `reserved_id_map_`).
    let reserved: SentencePiecePieceTable
    /// USER_DEFINED pieces are matched whole before splitting into characters; the longest one
    /// bounds that search.
    let maxUserDefinedLength: Int
    /// The id of the byte piece `<0xXX>` for each byte (byte fallback), and each id's byte.
    let byteIds: [Int]
    let byteValues: [Int: UInt8]

    public let unkId: Int
    /// `sp.bos_id()` and friends: the id of the trainer spec's piece when it is a CONTROL piece.
    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?

    let byteFallback: Bool
    let unkSurface: [UInt8]
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    let treatWhitespaceAsSuffix: Bool

    /// Number of pieces (`len(sp)`).
    public var pieceCount: Int { pieces.count }

    /// Reads and checks the model file at `path`.
    public init(contentsOf path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenizerError.file(path: path, message: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    /// Parses and checks model bytes; `path` names them in errors.
    public init(bytes: [UInt8], path: String) throws {
        let proto = try SentencePieceModelProto(bytes: bytes, path: path)
        func fail(_ message: String, at offset: Int) -> TokenizerError {
            .file(path: path, message: "\(message) at offset \(offset)")
        }
        // Real model files always carry both specs; a file cut at a field boundary parses as a
        // smaller valid message, so their absence is how such a truncation shows.
        guard let trainer = proto.trainerSpec else {
            throw fail("no trainer_spec (field 2) before the end of the file", at: bytes.count)
        }
        guard let normalizer = proto.normalizerSpec else {
            throw fail("no normalizer_spec (field 3) before the end of the file", at: bytes.count)
        }
        guard trainer.modelType == 2 else {
            throw fail("model_type \(trainer.modelType) is not supported (only BPE = 2)", at: trainer.offset)
        }
        guard normalizer.precompiledCharsmapCount == 0 else {
            throw fail("normalizer \"\(normalizer.name)\" has a precompiled character map, which is not supported (only identity)",
                       at: normalizer.offset)
        }
        if let denormalizer = proto.denormalizerSpec, denormalizer.precompiledCharsmapCount > 0 {
            throw fail("denormalizer_spec has a precompiled character map, which is not supported", at: denormalizer.offset)
        }
        guard !proto.pieces.isEmpty else { throw fail("the model has no pieces", at: bytes.count) }
        guard proto.pieces.count < Int(Int32.max) else { throw fail("too many pieces", at: bytes.count) }

        // The checks of sentencepiece's ModelInterface::InitializePieces.
        let pieces = proto.pieces.map(\.bytes)
        let isMergeable = proto.pieces.map { [.normal, .userDefined, .unused].contains($0.type) }
        let mergeableCount = isMergeable.count(where: { $0 })
        // Sized from the counts: an open-addressing table must never fill up.
        var mergeable = SentencePiecePieceTable(pieces: pieces, capacity: mergeableCount)
        var reserved = SentencePiecePieceTable(pieces: pieces, capacity: pieces.count - mergeableCount)
        var unkId: Int?, maxUserDefined = 0
        var byteIds = [Int](repeating: -1, count: 256), byteValues: [Int: UInt8] = [:]
        for (id, piece) in proto.pieces.enumerated() {
            guard !piece.bytes.isEmpty else { throw fail("piece \(id) is empty", at: piece.offset) }
            if isMergeable[id] ? mergeable.insert(id) != nil : reserved.insert(id) != nil {
                throw fail("piece \(id) \"\(String(decoding: piece.bytes, as: UTF8.self))\" is already defined", at: piece.offset)
            }
            switch piece.type {
            case .userDefined: maxUserDefined = max(maxUserDefined, piece.bytes.count)
            case .unknown:
                guard unkId == nil else { throw fail("a second unknown piece (\(id))", at: piece.offset) }
                unkId = id
            case .byte:
                guard trainer.byteFallback else {
                    throw fail("byte piece \(id) although byte_fallback is false", at: piece.offset)
                }
                guard let byte = Self.byteValue(piece.bytes) else {
                    throw fail("byte piece \(id) \"\(String(decoding: piece.bytes, as: UTF8.self))\" is not <0xXX>", at: piece.offset)
                }
                byteIds[Int(byte)] = id
                byteValues[id] = byte
            default: break
            }
        }
        guard let unkId else { throw fail("no unknown piece (type UNKNOWN)", at: bytes.count) }
        if trainer.byteFallback, let missing = byteIds.firstIndex(of: -1) {
            throw fail("byte_fallback is on but there is no byte piece for 0x\(String(missing, radix: 16))", at: bytes.count)
        }

        self.path = path
        self.pieces = pieces
        scores = proto.pieces.map(\.score)
        types = proto.pieces.map(\.type)
        self.mergeable = mergeable
        self.reserved = reserved
        maxUserDefinedLength = maxUserDefined
        self.byteIds = byteIds
        self.byteValues = byteValues
        self.unkId = unkId
        byteFallback = trainer.byteFallback
        unkSurface = trainer.unkSurface
        addDummyPrefix = normalizer.addDummyPrefix
        removeExtraWhitespaces = normalizer.removeExtraWhitespaces
        escapeWhitespaces = normalizer.escapeWhitespaces
        treatWhitespaceAsSuffix = trainer.treatWhitespaceAsSuffix

        // sentencepiece's bos_id(), eos_id(), pad_id(): PieceToId of the spec's piece, if CONTROL.
        func controlId(_ piece: [UInt8]) -> Int? {
            let id = reserved.id(piece) ?? mergeable.id(piece) ?? unkId
            return proto.pieces[id].type == .control ? id : nil
        }
        bosId = controlId(trainer.bosPiece)
        eosId = controlId(trainer.eosPiece)
        padId = controlId(trainer.padPiece)
    }

    /// The piece of `id` (`sp.id_to_piece(id)`), nil outside the vocabulary.
    public func piece(_ id: Int) -> String? {
        pieces.indices.contains(id) ? String(decoding: pieces[id], as: UTF8.self) : nil
    }

    /// The id of `piece`, nil if the model has no such piece (unlike `sp.piece_to_id`, which
    /// answers the unknown id).
    public func id(ofPiece piece: String) -> Int? {
        let bytes = Array(piece.utf8)
        return reserved.id(bytes) ?? mergeable.id(bytes)
    }

    /// "<0xXX>" → XX.
    private static func byteValue(_ piece: [UInt8]) -> UInt8? {
        guard piece.count == 6, piece.starts(with: Array("<0x".utf8)), piece[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: piece[3..<5], as: UTF8.self), radix: 16)
    }
}
