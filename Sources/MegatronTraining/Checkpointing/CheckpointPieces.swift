import MegatronCheckpoint
import MegatronTransformer

/// Where a run of a rank's flat parameter buffer sits in the model's global tensors: every
/// parameter is saved as blocks of its whole (global) tensor — a tensor-parallel rank's rows and
/// columns — and, where the distributed optimizer owns only a flat piece of a rank's tensor, as a
/// flat range of such a block (Megatron's `flattened_range`). The same pieces name what a rank
/// reads back, so any layout can load what any other saved.
///
///     let pieces = CheckpointPieces.pieces(of: store.layout, within: [0..<store.layout.count], skipping: [])
///     for piece in pieces { /* piece.shard names piece.flat of the store's buffers */ }
enum CheckpointPieces {
    /// One contiguous run of the flat buffer and the global block (or flat part of one) it is.
    struct Piece {
        let shard: TensorShard
        /// The elements in the rank's flat parameter buffer.
        let flat: Range<Int>
    }

    /// The pieces of every parameter of `layout` inside the flat `runs`, except the parameters
    /// `skip` says another rank writes (tensor-parallel copies, a tied embedding's second copy).
    /// `prefix` namespaces the tensors (`""` for weights, `"optimizer.exp_avg."` …).
    static func pieces(of layout: ParameterLayout, within runs: [Range<Int>], prefix: String = "",
                       skipping skip: (ParameterSpec) -> Bool = { _ in false }) -> [Piece] {
        var pieces: [Piece] = []
        for spec in layout.specs where !skip(spec) {
            let whole = spec.offset..<spec.offset + spec.shape.count
            for run in runs {
                let lower = max(whole.lowerBound, run.lowerBound), upper = min(whole.upperBound, run.upperBound)
                guard lower < upper else { continue }
                pieces += blocks(spec, local: (lower - spec.offset)..<(upper - spec.offset), prefix: prefix)
            }
        }
        return pieces
    }

    /// The global blocks covering local elements `local` of `spec`'s tensor on this rank.
    private static func blocks(_ spec: ParameterSpec, local: Range<Int>, prefix: String) -> [Piece] {
        let name = prefix + spec.name
        guard let shard = spec.shard else {
            let dims = spec.shape.dims
            let flat: Range<Int>? = local == 0..<spec.shape.count ? nil : local
            return [Piece(shard: TensorShard(name: name, dtype: "F32", globalShape: dims, offset: dims.map { _ in 0 },
                                             blockShape: dims, flatRange: flat),
                          flat: spec.offset + local.lowerBound..<spec.offset + local.upperBound)]
        }
        let full = shard.fullShape.dims, matrix = full.count == 2
        let width = matrix ? shard.columns.count : 1
        var pieces: [Piece] = []
        var localRow = 0
        for rows in shard.rows {
            let blockFlat = localRow * width..<(localRow + rows.count) * width
            localRow += rows.count
            let lower = max(blockFlat.lowerBound, local.lowerBound), upper = min(blockFlat.upperBound, local.upperBound)
            guard lower < upper else { continue }
            let inBlock = (lower - blockFlat.lowerBound)..<(upper - blockFlat.lowerBound)
            let blockShape = matrix ? [rows.count, width] : [rows.count]
            pieces.append(Piece(
                shard: TensorShard(name: name, dtype: "F32", globalShape: full,
                                   offset: matrix ? [rows.lowerBound, shard.columns.lowerBound] : [rows.lowerBound],
                                   blockShape: blockShape, flatRange: inBlock.count == blockFlat.count ? nil : inBlock),
                flat: spec.offset + lower..<spec.offset + upper))
        }
        return pieces
    }

    /// The vocabulary tables are padded to a multiple of the tensor-parallel size, so a
    /// checkpoint of another layout may hold fewer or more (padding) rows than the model:
    /// `shard` cut to the rows a checkpoint of global shape `saved` holds (Megatron's
    /// `allow_shape_mismatch` for the embedding and output layer), with how many of its leading
    /// elements that is; `shard` itself when the shapes agree or the tensor is no vocabulary
    /// table (the reader then names a real mismatch); nil when the checkpoint holds none of it.
    static func clipped(_ shard: TensorShard, toSaved saved: [Int]) -> (shard: TensorShard, count: Int)? {
        let global = shard.globalShape
        guard saved != global, isVocabularyTable(shard.name), saved.count == global.count, saved.count > 1,
              Array(saved.dropFirst()) == Array(global.dropFirst())
        else { return (shard, shard.elementCount) }
        // The rows the checkpoint holds are a prefix of the block, so their elements are a
        // prefix of the block's flat order.
        let width = shard.blockShape.dropFirst().reduce(1, *)
        let rows = max(0, min(shard.blockShape[0], saved[0] - shard.offset[0]))
        let wanted = shard.flatRange ?? 0..<shard.blockElementCount
        let upper = min(wanted.upperBound, rows * width)
        guard wanted.lowerBound < upper else { return nil }
        var cut = shard
        cut.globalShape = saved
        cut.blockShape[0] = rows
        cut.flatRange = wanted.lowerBound == 0 && upper == rows * width ? nil : wanted.lowerBound..<upper
        return (cut, upper - wanted.lowerBound)
    }

    /// The vocabulary-padded tables (and their optimizer state).
    static func isVocabularyTable(_ name: String) -> Bool {
        name.hasSuffix("embedding.word_embeddings.weight") || name.hasSuffix("output_layer.weight")
    }
}
