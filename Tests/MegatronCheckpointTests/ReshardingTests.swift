import Foundation
import MegatronCheckpoint
import MegatronParallel
import XCTest
import MegatronTensor

/// Tensors saved by four thread ranks in one layout read back in another, compared byte for
/// byte with a slice of the global tensor taken element by element.
final class ReshardingTests: XCTestCase {
    let weight = GlobalTensor("layers.0.weight", "F32", [8, 12], seed: 21)
    let cube = GlobalTensor("layers.0.qkv", "BF16", [4, 6, 5], seed: 22)
    let flat = GlobalTensor("layers.0.fc2", "F16", [6, 10], seed: 23)
    let bias = GlobalTensor("layers.0.bias", "I64", [12], seed: 24)
    let scalar = GlobalTensor("loss_scale", "F32", [], seed: 25)

    /// What rank r saves: row blocks of the weight, column blocks (dim 1) of the cube, uneven
    /// flat ranges of the fc2 block split as the distributed optimizer does (two of them cutting
    /// a row block), the bias and scalar written once by ranks 0 and 3.
    func savedShards(rank r: Int) -> [ShardData] {
        var pieces = [weight.piece([2 * r, 0], [2, 12])]
        // cube: dimension 1 split as 2, 1, 2, 1 columns.
        let cuts = [0, 2, 3, 5, 6]
        pieces.append(cube.piece([0, cuts[r], 0], [4, cuts[r + 1] - cuts[r], 5]))
        // fc2: rows 0..<3 as one block cut at element 7 and 19 (rank 0: 0..<7, rank 1: 7..<19,
        // rank 2: 19..<30), rows 3..<6 as one flat piece of rank 3.
        let ranges = [0..<7, 7..<19, 19..<30]
        pieces.append(r < 3 ? flat.piece([0, 0], [3, 10], flat: ranges[r]) : flat.piece([3, 0], [3, 10]))
        if r == 0 { pieces.append(bias.piece([0], [12])) }
        if r == 3 { pieces.append(scalar.whole) }
        let tensors = [weight, cube, flat, bias, scalar]
        return pieces.map { piece in tensors.first { $0.name == piece.name }!.data(piece) }
    }

    /// What rank r reads: other layouts of the same tensors.
    func targets(rank r: Int) -> [TensorShard] {
        [
            weight.piece([0, 3 * r], [8, 3]),                     // column blocks
            weight.piece([1, 2], [5, 7], flat: r..<(r + 20)),     // a flat range of an odd block
            weight.whole,
            cube.piece([r, 0, 0], [1, 6, 5]),                     // row blocks along dim 0
            cube.piece([0, 1, 1], [4, 4, 3], flat: 5..<37),
            cube.whole,
            flat.piece([0, 5 * (r % 2)], [6, 5]),                 // flat-saved, read as blocks
            flat.piece([0, 0], [6, 10], flat: (7 * r)..<(7 * r + 25)),
            flat.whole,
            bias.piece([3 * r], [3]),
            scalar.whole,
            TensorShard(name: cube.name, dtype: cube.dtype, globalShape: cube.shape, offset: [0, 0, 0], blockShape: [4, 0, 5]),
        ]
    }

    func testFourRanksSaveOneLayoutAndReadAnother() throws {
        let root = try temporaryDirectory()
        let shards = (0..<4).map(savedShards)
        let targets = (0..<4).map(targets)
        let tensors = [weight, cube, flat, bias, scalar]
        assertNoErrors(runRanks(4) { rank, group in
            try CheckpointSaver(directory: root, group: group).save(iteration: 1, shards: shards[rank])
            let reader = try CheckpointReader(directory: root)
            for target in targets[rank] {
                let tensor = tensors.first { $0.name == target.name }!
                try expectEqual(try reader.read(target), tensor.bytes(of: target), "rank \(rank) reading \(target)")
            }
        })
        XCTAssertEqual(try listing(root.appendingPathComponent("iter_0000001")),
                       ["index.json"] + (0..<4).map { "rank_0000\($0).safetensors" })
    }

    /// `read(_:into:)` fills a caller's buffer (a tensor's memory) with the same bytes.
    func testReadingIntoACallersBuffer() throws {
        let root = try temporaryDirectory()
        let shards = (0..<4).map(savedShards)
        assertNoErrors(runRanks(4) { rank, group in
            try CheckpointSaver(directory: root, group: group).save(iteration: 1, shards: shards[rank])
        })
        let reader = try CheckpointReader(directory: root)
        let target = cube.piece([1, 2, 0], [3, 4, 5])
        var buffer = [UInt8](repeating: 0, count: target.byteCount)
        try buffer.withUnsafeMutableBytes { try reader.read(target, into: $0) }
        XCTAssertEqual(Data(buffer), cube.bytes(of: target))
        XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try reader.read(cube.whole, into: $0) })
    }

    /// Random layouts: each tensor cut into a random grid of blocks, some blocks cut again into
    /// random flat ranges, some pieces saved twice, spread over 4 ranks; then random blocks and
    /// flat ranges read back. Seeds are printed in failures so one can be replayed.
    func testRandomLayoutsRoundTrip() throws {
        let dtypes = ["F32", "BF16", "I64", "U8"]
        for seed in UInt64(1)...60 {
            var rng = SplitMix64(seed: seed)
            let rank = Int.random(in: 0...4, using: &rng)
            let shape = (0..<rank).map { _ in Int.random(in: 1...7, using: &rng) }
            let tensor = GlobalTensor("t\(seed)", dtypes.randomElement(using: &rng)!, shape, seed: seed * 1000)
            let pieces = randomCover(of: tensor, using: &rng)
            var perRank = [[ShardData]](repeating: [], count: 4)
            var keys = [Set<String>](repeating: [], count: 4)
            for piece in pieces {
                // A rank can't hold one piece twice; replicas go to another rank.
                var owner = Int.random(in: 0..<4, using: &rng)
                while !keys[owner].insert("\(piece.offset)\(String(describing: piece.flatRange))").inserted { owner = (owner + 1) % 4 }
                perRank[owner].append(tensor.data(piece))
            }
            let targets = (0..<12).map { _ in randomPiece(of: tensor, using: &rng) } + [tensor.whole]
            let root = try temporaryDirectory()
            let shards = perRank
            assertNoErrors(runRanks(4) { rank, group in
                try CheckpointSaver(directory: root, group: group).save(iteration: Int(seed), shards: shards[rank])
            })
            let reader = try CheckpointReader(directory: root)
            for target in targets {
                XCTAssertEqual(try reader.read(target), tensor.bytes(of: target), "seed \(seed): \(target) from \(pieces)")
            }
        }
    }

    /// A cover of the tensor: a random grid, each block whole or cut into flat ranges, and
    /// about one piece in five duplicated (a replica written twice).
    func randomCover(of tensor: GlobalTensor, using rng: inout SplitMix64) -> [TensorShard] {
        var cutsPerDim: [[Int]] = []
        for extent in tensor.shape {
            let inner = (1..<max(extent, 1)).filter { _ in Bool.random(using: &rng) }
            cutsPerDim.append([0] + inner + [extent])
        }
        var pieces: [TensorShard] = []
        var cell = [Int](repeating: 0, count: tensor.shape.count)
        while true {
            let offset = cell.indices.map { cutsPerDim[$0][cell[$0]] }
            let block = cell.indices.map { cutsPerDim[$0][cell[$0] + 1] - cutsPerDim[$0][cell[$0]] }
            let count = block.reduce(1, *)
            if count > 1, Bool.random(using: &rng) {
                var cuts = [0] + (1..<count).filter { _ in Int.random(in: 0..<3, using: &rng) == 0 } + [count]
                cuts = Array(Set(cuts)).sorted()
                for (a, b) in zip(cuts, cuts.dropFirst()) { pieces.append(tensor.piece(offset, block, flat: a..<b)) }
            } else {
                pieces.append(tensor.piece(offset, block))
            }
            var d = cell.count - 1
            while d >= 0 {
                cell[d] += 1
                if cell[d] < cutsPerDim[d].count - 1 { break }
                cell[d] = 0
                d -= 1
            }
            if d < 0 { break }
        }
        return pieces + pieces.filter { _ in Int.random(in: 0..<5, using: &rng) == 0 }
    }

    /// A random non-empty block of the tensor, half the time a random flat range of it.
    func randomPiece(of tensor: GlobalTensor, using rng: inout SplitMix64) -> TensorShard {
        let offset = tensor.shape.map { Int.random(in: 0..<$0, using: &rng) }
        let block = zip(tensor.shape, offset).map { Int.random(in: 1...($0 - $1), using: &rng) }
        let count = block.reduce(1, *)
        guard Bool.random(using: &rng) else { return tensor.piece(offset, block) }
        let start = Int.random(in: 0..<count, using: &rng)
        return tensor.piece(offset, block, flat: start..<Int.random(in: (start + 1)...count, using: &rng))
    }
}
