/// The fields of sentencepiece's `ModelProto` (src/sentencepiece_model.proto) that encoding and
/// decoding need, parsed from the wire format. Defaults are the proto's declared defaults, since
/// proto2 omits fields that hold them.
struct SentencePieceModelProto {
    /// `ModelProto.SentencePiece.Type`.
    enum PieceType: Int32 {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    struct Piece {
        var bytes: [UInt8] = []
        var score: Float = 0
        var type: PieceType = .normal
        /// Where the piece's message starts in the file, for error messages.
        var offset = 0
    }

    /// `TrainerSpec` (field 2), the fields that change encoding.
    struct TrainerSpec {
        var modelType: Int32 = 1  // UNIGRAM = 1, BPE = 2, WORD = 3, CHAR = 4
        var byteFallback = false
        var treatWhitespaceAsSuffix = false
        var unkPiece = Array("<unk>".utf8)
        var bosPiece = Array("<s>".utf8)
        var eosPiece = Array("</s>".utf8)
        var padPiece = Array("<pad>".utf8)
        var unkSurface = Array(" \u{2047} ".utf8)
        var offset = 0
    }

    /// `NormalizerSpec` (field 3; `denormalizer_spec`, field 5, has the same form).
    struct NormalizerSpec {
        var name = ""
        var precompiledCharsmapCount = 0
        var addDummyPrefix = true
        var removeExtraWhitespaces = true
        var escapeWhitespaces = true
        var offset = 0
    }

    var pieces: [Piece] = []
    var trainerSpec: TrainerSpec?
    var normalizerSpec: NormalizerSpec?
    var denormalizerSpec: NormalizerSpec?

    init(bytes: [UInt8], path: String) throws {
        var reader = SentencePieceWireReader(bytes: bytes, path: path)
        while let key = try reader.nextKey() {
            switch key.number {
            case 1: pieces.append(try Self.piece(try reader.message(key), at: key.offset))
            case 2: trainerSpec = try Self.trainerSpec(try reader.message(key), into: trainerSpec ?? TrainerSpec(offset: key.offset))
            case 3: normalizerSpec = try Self.normalizerSpec(try reader.message(key), into: normalizerSpec ?? NormalizerSpec(offset: key.offset))
            case 5: denormalizerSpec = try Self.normalizerSpec(try reader.message(key), into: denormalizerSpec ?? NormalizerSpec(offset: key.offset))
            default: try reader.skip(key)
            }
        }
    }

    private static func piece(_ message: SentencePieceWireReader, at offset: Int) throws -> Piece {
        var reader = message, piece = Piece(offset: offset)
        while let key = try reader.nextKey() {
            switch key.number {
            case 1: piece.bytes = try reader.bytesField(key)
            case 2: piece.score = try reader.float(key)
            case 3:
                let raw = try reader.int32(key)
                guard let type = PieceType(rawValue: raw) else {
                    throw reader.error("unknown piece type \(raw)", at: key.offset)
                }
                piece.type = type
            default: try reader.skip(key)
            }
        }
        return piece
    }

    private static func trainerSpec(_ message: SentencePieceWireReader, into spec: TrainerSpec) throws -> TrainerSpec {
        var reader = message, spec = spec
        while let key = try reader.nextKey() {
            switch key.number {
            case 3: spec.modelType = try reader.int32(key)
            case 24: spec.treatWhitespaceAsSuffix = try reader.bool(key)
            case 35: spec.byteFallback = try reader.bool(key)
            case 44: spec.unkSurface = try reader.bytesField(key)
            case 45: spec.unkPiece = try reader.bytesField(key)
            case 46: spec.bosPiece = try reader.bytesField(key)
            case 47: spec.eosPiece = try reader.bytesField(key)
            case 48: spec.padPiece = try reader.bytesField(key)
            default: try reader.skip(key)
            }
        }
        return spec
    }

    private static func normalizerSpec(_ message: SentencePieceWireReader, into spec: NormalizerSpec) throws -> NormalizerSpec {
        var reader = message, spec = spec
        while let key = try reader.nextKey() {
            switch key.number {
            case 1: spec.name = String(decoding: try reader.bytesField(key), as: UTF8.self)
            case 2: spec.precompiledCharsmapCount = try reader.bytesField(key).count
            case 3: spec.addDummyPrefix = try reader.bool(key)
            case 4: spec.removeExtraWhitespaces = try reader.bool(key)
            case 5: spec.escapeWhitespaces = try reader.bool(key)
            default: try reader.skip(key)
            }
        }
        return spec
    }
}
