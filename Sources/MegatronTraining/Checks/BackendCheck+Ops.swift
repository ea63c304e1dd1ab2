import Foundation
import MegatronTensor

extension BackendCheck {
    /// Runs every check with activations in `dtype` (fp32, bf16 or fp16); parameter gradients, norm
    /// statistics and losses stay fp32 as in training.
    /// `quick` keeps only the small, odd shapes (for tests on a slow machine); `full` adds the
    /// training-sized ones and attention up to s = 4096.
    public enum Coverage: Sendable { case quick, full }

    public func run(dtype: DType, coverage: Coverage = .full) throws -> [Result] {
        let full = coverage == .full
        let attentionLengths = full ? [1, 7, 64, 129, 512, 1024, 4096] : [1, 9]
        var results: [Result] = []
        var stream: UInt64 = 0
        func next() -> UInt64 { stream += 1; return stream }
        let d = device, r = reference

        // Elementwise.
        for n in full ? [1, 7, 1000, 65_543] : [1, 7, 1000] {
            let a = try random([n], dtype, stream: next()), b = try random([n], dtype, stream: next())
            let out = try output([n], dtype)
            try d.add(a.dev, b.dev, into: out.dev)
            try r.add(a.ref, b.ref, into: out.ref)
            results.append(try compare("add n=\(n) \(dtype)", [out], dtype))
            let y = try output([n], dtype, initial: b)
            try d.axpy(0.75, a.dev, y.dev)
            try r.axpy(0.75, a.ref, y.ref)
            results.append(try compare("axpy n=\(n) \(dtype)", [y], dtype))
            let ss = Float(try d.sumOfSquares(a.dev)), ssRef = Float(try r.sumOfSquares(a.ref))
            results.append(Result(name: "sumOfSquares n=\(n) \(dtype)", error: relativeError([ss], [ssRef]), tolerance: 1e-5))
            let drop = try output([n], dtype)
            try d.dropout(a.dev, into: drop.dev, probability: 0.3, seed: 77, offset: 5)
            try r.dropout(a.ref, into: drop.ref, probability: 0.3, seed: 77, offset: 5)
            results.append(try compare("dropout n=\(n) \(dtype)", [drop], dtype))
        }

        // GEMM in every transpose combination, odd sizes; weight gradients accumulate in fp32.
        for (m, n, k) in full ? [(1, 1, 1), (7, 13, 5), (129, 70, 257), (512, 768, 768)] : [(1, 1, 1), (7, 13, 5)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = try random(ta ? [k, m] : [m, k], dtype, stream: next())
                let b = try random(tb ? [n, k] : [k, n], dtype, stream: next())
                let c = try output([m, n], dtype)
                try d.gemm(a.dev, b.dev, into: c.dev, transposeA: ta, transposeB: tb)
                try r.gemm(a.ref, b.ref, into: c.ref, transposeA: ta, transposeB: tb)
                results.append(try compare("gemm \(m)×\(n)×\(k) \(ta ? "T" : "N")\(tb ? "T" : "N") \(dtype)", [c], dtype))
            }
            let a = try random([k, m], dtype, stream: next()), b = try random([k, n], dtype, stream: next())
            let acc = try output([m, n], .fp32, initial: try random([m, n], .fp32, stream: next()))
            try d.gemm(a.dev, b.dev, into: acc.dev, transposeA: true, transposeB: false, alpha: 1, beta: 1)
            try r.gemm(a.ref, b.ref, into: acc.ref, transposeA: true, transposeB: false, alpha: 1, beta: 1)
            results.append(try compare("gemm accumulate into fp32 \(m)×\(n)×\(k) \(dtype)", [acc], dtype))
        }

        // Fused linear layers: bias and GeLU epilogues (odd widths take the unfused path).
        for (t, inF, outF) in full ? [(5, 7, 9), (64, 96, 128), (512, 768, 3072)] : [(5, 7, 9), (16, 24, 32)] {
            let x = try random([t, inF], dtype, stream: next())
            let w = try random([outF, inF], dtype, stream: next(), scale: 0.5)
            let bias = try random([outF], dtype, stream: next())
            let y = try output([t, outF], dtype)
            try d.linear(x.dev, weight: w.dev, bias: bias.dev, into: y.dev)
            try r.linear(x.ref, weight: w.ref, bias: bias.ref, into: y.ref)
            results.append(try compare("linear+bias \(t)×\(inF)→\(outF) \(dtype)", [y], dtype))
            for approximate in [true, false] {
                let kind = approximate ? "tanh" : "erf"
                let pre = try output([t, outF], dtype), act = try output([t, outF], dtype)
                try d.linearGeLU(x.dev, weight: w.dev, bias: bias.dev, preActivation: pre.dev, into: act.dev, approximate: approximate)
                try r.linearGeLU(x.ref, weight: w.ref, bias: bias.ref, preActivation: pre.ref, into: act.ref, approximate: approximate)
                results.append(try compare("linearGeLU (\(kind)) \(t)×\(inF)→\(outF) \(dtype)", [pre, act], dtype))
                // Backward through the GeLU in front of a layer [outF → inF]: dy [t, inF], weight [inF, outF].
                let dy = try random([t, inF], dtype, stream: next())
                let w2 = try random([inF, outF], dtype, stream: next(), scale: 0.5)
                let preIn = try random([t, outF], dtype, stream: next(), scale: 2)
                let dpre = try output([t, outF], dtype)
                try d.linearInputGradientThroughGeLU(dy.dev, weight: w2.dev, preActivation: preIn.dev, into: dpre.dev, approximate: approximate)
                try r.linearInputGradientThroughGeLU(dy.ref, weight: w2.ref, preActivation: preIn.ref, into: dpre.ref, approximate: approximate)
                results.append(try compare("linearInputGradientThroughGeLU (\(kind)) \(t)×\(inF)←\(outF) \(dtype)", [dpre], dtype))
            }
        }

        for (rows, cols) in full ? [(1, 1), (5, 7), (300, 768), (64, 50304)] : [(1, 1), (5, 7), (3, 64)] {
            let x = try random([rows, cols], dtype, stream: next(), scale: 2)
            let w = try random([cols], dtype, stream: next()), bias = try random([cols], dtype, stream: next())
            let dy = try random([rows, cols], dtype, stream: next())
            let y = try output([rows, cols], dtype, initial: x)
            try d.addBias(bias.dev, to: y.dev)
            try r.addBias(bias.ref, to: y.ref)
            results.append(try compare("addBias \(rows)×\(cols) \(dtype)", [y], dtype))
            let db = try output([cols], .fp32, initial: try random([cols], .fp32, stream: next()))
            try d.biasBackward(dy.dev, into: db.dev)
            try r.biasBackward(dy.ref, into: db.ref)
            results.append(try compare("biasBackward \(rows)×\(cols) \(dtype)", [db], dtype))

            guard cols <= 8192 else { continue }
            // LayerNorm and RMSNorm, forward and backward (dx accumulates onto a random start).
            let ln = try output([rows, cols], dtype), mean = try output([rows], .fp32), rstd = try output([rows], .fp32)
            try d.layerNorm(x.dev, weight: w.dev, bias: bias.dev, epsilon: 1e-5, into: ln.dev, mean: mean.dev, rstd: rstd.dev)
            try r.layerNorm(x.ref, weight: w.ref, bias: bias.ref, epsilon: 1e-5, into: ln.ref, mean: mean.ref, rstd: rstd.ref)
            results.append(try compare("layerNorm \(rows)×\(cols) \(dtype)", [ln, mean, rstd], dtype))
            let dx = try output([rows, cols], dtype, initial: try random([rows, cols], dtype, stream: next()))
            let dw = try output([cols], .fp32, initial: try random([cols], .fp32, stream: next()))
            let dbn = try output([cols], .fp32, initial: try random([cols], .fp32, stream: next()))
            try d.layerNormBackward(dy.dev, x: x.dev, weight: w.dev, mean: mean.dev, rstd: rstd.dev, dx: dx.dev, dweight: dw.dev, dbias: dbn.dev)
            try r.layerNormBackward(dy.ref, x: x.ref, weight: w.ref, mean: mean.ref, rstd: rstd.ref, dx: dx.ref, dweight: dw.ref, dbias: dbn.ref)
            results.append(try compare("layerNormBackward \(rows)×\(cols) \(dtype)", [dx, dw, dbn], dtype))
            let rms = try output([rows, cols], dtype), rrstd = try output([rows], .fp32)
            try d.rmsNorm(x.dev, weight: w.dev, epsilon: 1e-5, into: rms.dev, rstd: rrstd.dev)
            try r.rmsNorm(x.ref, weight: w.ref, epsilon: 1e-5, into: rms.ref, rstd: rrstd.ref)
            results.append(try compare("rmsNorm \(rows)×\(cols) \(dtype)", [rms, rrstd], dtype))
            let rdx = try output([rows, cols], dtype, initial: dx)
            let rdw = try output([cols], .fp32, initial: dw)
            try d.rmsNormBackward(dy.dev, x: x.dev, weight: w.dev, rstd: rrstd.dev, dx: rdx.dev, dweight: rdw.dev)
            try r.rmsNormBackward(dy.ref, x: x.ref, weight: w.ref, rstd: rrstd.ref, dx: rdx.ref, dweight: rdw.ref)
            results.append(try compare("rmsNormBackward \(rows)×\(cols) \(dtype)", [rdx, rdw], dtype))
            // The residual add fused with each norm: x becomes x + residual in place.
            let residual = try random([rows, cols], dtype, stream: next())
            let sumLN = try output([rows, cols], dtype, initial: x), fusedLN = try output([rows, cols], dtype)
            let fMean = try output([rows], .fp32), fRstd = try output([rows], .fp32)
            try d.residualLayerNorm(sumLN.dev, residual: residual.dev, weight: w.dev, bias: bias.dev, epsilon: 1e-5,
                                    into: fusedLN.dev, mean: fMean.dev, rstd: fRstd.dev)
            try r.residualLayerNorm(sumLN.ref, residual: residual.ref, weight: w.ref, bias: bias.ref, epsilon: 1e-5,
                                    into: fusedLN.ref, mean: fMean.ref, rstd: fRstd.ref)
            results.append(try compare("residualLayerNorm \(rows)×\(cols) \(dtype)", [sumLN, fusedLN, fMean, fRstd], dtype))
            let sumRMS = try output([rows, cols], dtype, initial: x), fusedRMS = try output([rows, cols], dtype)
            let fRRstd = try output([rows], .fp32)
            try d.residualRMSNorm(sumRMS.dev, residual: residual.dev, weight: w.dev, epsilon: 1e-5, into: fusedRMS.dev, rstd: fRRstd.dev)
            try r.residualRMSNorm(sumRMS.ref, residual: residual.ref, weight: w.ref, epsilon: 1e-5, into: fusedRMS.ref, rstd: fRRstd.ref)
            results.append(try compare("residualRMSNorm \(rows)×\(cols) \(dtype)", [sumRMS, fusedRMS, fRRstd], dtype))

            // Activations.
            for approximate in [false, true] {
                let g = try output([rows, cols], dtype), dg = try output([rows, cols], dtype)
                try d.gelu(x.dev, into: g.dev, approximate: approximate)
                try r.gelu(x.ref, into: g.ref, approximate: approximate)
                try d.geluBackward(dy.dev, x: x.dev, into: dg.dev, approximate: approximate)
                try r.geluBackward(dy.ref, x: x.ref, into: dg.ref, approximate: approximate)
                results.append(try compare("gelu\(approximate ? " tanh" : "") fwd+bwd \(rows)×\(cols) \(dtype)", [g, dg], dtype))
            }
            if cols % 2 == 0 {
                let s = try output([rows, cols / 2], dtype), dsw = try output([rows, cols], dtype)
                let dys = try random([rows, cols / 2], dtype, stream: next())
                try d.swiglu(x.dev, into: s.dev)
                try r.swiglu(x.ref, into: s.ref)
                try d.swigluBackward(dys.dev, x: x.dev, into: dsw.dev)
                try r.swigluBackward(dys.ref, x: x.ref, into: dsw.ref)
                results.append(try compare("swiglu fwd+bwd \(rows)×\(cols) \(dtype)", [s, dsw], dtype))
            }
        }

        // Embedding.
        for (n, vocab, h) in full ? [(5, 7, 3), (2048, 50304, 768)] : [(5, 7, 3)] {
            let table = try random([vocab, h], dtype, stream: next()), tokens = try ids(n, below: vocab, stream: next())
            let out = try output([n, h], dtype)
            try d.embedding(tokens.dev, table: table.dev, into: out.dev)
            try r.embedding(tokens.ref, table: table.ref, into: out.ref)
            results.append(try compare("embedding \(n) of \(vocab)×\(h) \(dtype)", [out], dtype))
            let dout = try random([n, h], dtype, stream: next())
            let dtable = try output([vocab, h], .fp32, initial: try random([vocab, h], .fp32, stream: next()))
            try d.embeddingBackward(tokens.dev, dout: dout.dev, into: dtable.dev)
            try r.embeddingBackward(tokens.ref, dout: dout.ref, into: dtable.ref)
            results.append(try compare("embeddingBackward \(n) of \(vocab)×\(h) \(dtype)", [dtable], dtype))
        }

        // A vocabulary shard (tensor parallelism): rows 37..<137 of 300, ids over the whole
        // vocabulary, so most fall outside the shard (zero rows, no gradient).
        for h in [7, 64] {
            let (n, start, rows, vocab) = (200, 37, 100, 300)
            let table = try random([rows, h], dtype, stream: next()), tokens = try ids(n, below: vocab, stream: next())
            let out = try output([n, h], dtype)
            try d.embedding(tokens.dev, table: table.dev, vocabStart: start, vocabSize: vocab, into: out.dev)
            try r.embedding(tokens.ref, table: table.ref, vocabStart: start, vocabSize: vocab, into: out.ref)
            results.append(try compare("embedding shard \(start)..<\(start + rows) of \(vocab), \(n)×\(h) \(dtype)", [out], dtype))
            let dout = try random([n, h], dtype, stream: next())
            let dtable = try output([rows, h], .fp32, initial: try random([rows, h], .fp32, stream: next()))
            try d.embeddingBackward(tokens.dev, dout: dout.dev, vocabStart: start, vocabSize: vocab, into: dtable.dev)
            try r.embeddingBackward(tokens.ref, dout: dout.ref, vocabStart: start, vocabSize: vocab, into: dtable.ref)
            results.append(try compare("embeddingBackward shard \(start)..<\(start + rows) of \(vocab), \(n)×\(h) \(dtype)", [dtable], dtype))
        }

        // Cross-entropy over a padded vocabulary.
        for (n, vocab) in full ? [(3, 11), (1024, 50304)] : [(3, 11)] {
            let logits = try random([n, vocab], dtype, stream: next(), scale: 4), targets = try ids(n, below: vocab, stream: next())
            let losses = try output([n], .fp32)
            try d.crossEntropy(logits.dev, targets: targets.dev, losses: losses.dev)
            try r.crossEntropy(logits.ref, targets: targets.ref, losses: losses.ref)
            results.append(try compare("crossEntropy \(n)×\(vocab) \(dtype)", [losses], dtype))
            let dloss = try random([n], .fp32, stream: next())
            let dl = try output([n, vocab], dtype)
            try d.crossEntropyBackward(logits.dev, targets: targets.dev, dloss: dloss.dev, into: dl.dev)
            try r.crossEntropyBackward(logits.ref, targets: targets.ref, dloss: dloss.ref, into: dl.ref)
            results.append(try compare("crossEntropyBackward \(n)×\(vocab) \(dtype)", [dl], dtype))
            // Fused, in place: the logits become their gradient.
            let fusedLosses = try output([n], .fp32)
            let inPlace = try output([n, vocab], dtype, initial: logits)
            try d.crossEntropyFused(inPlace.dev, targets: targets.dev, weights: dloss.dev, losses: fusedLosses.dev)
            try r.crossEntropyFused(inPlace.ref, targets: targets.ref, weights: dloss.ref, losses: fusedLosses.ref)
            results.append(try compare("crossEntropyFused \(n)×\(vocab) \(dtype)", [fusedLosses, inPlace], dtype))
        }

        // Vocabulary-parallel cross-entropy over two shards: every target lies in one shard and
        // outside the other. Each step gets the reference's result of the step before, so it is
        // checked alone.
        for (n, shard) in full ? [(3, 11), (7, 1000), (1024, 25152)] : [(3, 11)] {
            let vocab = 2 * shard
            let targets = try ids(n, below: vocab, stream: next())
            let shards = try (0..<2).map { _ in try random([n, shard], dtype, stream: next(), scale: 4) }
            var gathered: [Float] = []
            for (k, logits) in shards.enumerated() {
                let partials = try output([n, 3], .fp32)
                try d.crossEntropyPartials(logits.dev, targets: targets.dev, vocabStart: k * shard, vocabSize: vocab, into: partials.dev)
                try r.crossEntropyPartials(logits.ref, targets: targets.ref, vocabStart: k * shard, vocabSize: vocab, into: partials.ref)
                results.append(try compare("crossEntropyPartials \(n)×\(shard), shard \(k) of \(vocab) \(dtype)", [partials], dtype))
                gathered += try r.download(partials.ref)
            }
            let partials = try pair(gathered, [2, n, 3])
            let lse = try output([n], .fp32), losses = try output([n], .fp32)
            try d.crossEntropyCombine(partials.dev, lse: lse.dev, losses: losses.dev)
            try r.crossEntropyCombine(partials.ref, lse: lse.ref, losses: losses.ref)
            results.append(try compare("crossEntropyCombine 2×\(n)", [lse, losses], .fp32))
            let lseIn = try pair(try r.download(lse.ref), [n]), weights = try random([n], .fp32, stream: next())
            for (k, logits) in shards.enumerated() {
                let dl = try output([n, shard], dtype)
                try d.crossEntropyShardBackward(logits.dev, targets: targets.dev, vocabStart: k * shard, lse: lseIn.dev,
                                                weights: weights.dev, into: dl.dev)
                try r.crossEntropyShardBackward(logits.ref, targets: targets.ref, vocabStart: k * shard, lse: lseIn.ref,
                                                weights: weights.ref, into: dl.ref)
                // In place: the logits become their gradient.
                let inPlace = try output([n, shard], dtype, initial: logits)
                try d.crossEntropyShardBackward(inPlace.dev, targets: targets.dev, vocabStart: k * shard, lse: lseIn.dev,
                                                weights: weights.dev, into: inPlace.dev)
                try r.crossEntropyShardBackward(inPlace.ref, targets: targets.ref, vocabStart: k * shard, lse: lseIn.ref,
                                                weights: weights.ref, into: inPlace.ref)
                results.append(try compare("crossEntropyShardBackward \(n)×\(shard), shard \(k) of \(vocab) \(dtype)", [dl, inPlace], dtype))
            }
        }

        // Attention layout, RoPE and causal attention with grouped queries.
        for s in attentionLengths {
            for (batch, nq, ng, hd) in full ? [(2, 4, 2, 64), (1, 8, 8, 128)] : [(2, 4, 2, 8)] where s * batch * nq <= 4096 * 8 {
                let qkv = try random([s, batch, (nq + 2 * ng) * hd], dtype, stream: next())
                let q = try output([s, batch, nq, hd], dtype), k = try output([s, batch, ng, hd], dtype), v = try output([s, batch, ng, hd], dtype)
                try d.splitQKV(qkv.dev, q: q.dev, k: k.dev, v: v.dev)
                try r.splitQKV(qkv.ref, q: q.ref, k: k.ref, v: v.ref)
                results.append(try compare("splitQKV s=\(s) b=\(batch) \(nq)/\(ng)×\(hd) \(dtype)", [q, k, v], dtype))
                try d.rope(q.dev, base: 10000, inverse: false)
                try r.rope(q.ref, base: 10000, inverse: false)
                results.append(try compare("rope s=\(s) \(nq)×\(hd) \(dtype)", [q], dtype))
                let merged = try output(qkv.dev.shape, dtype)
                try d.mergeQKV(q: q.dev, k: k.dev, v: v.dev, into: merged.dev)
                try r.mergeQKV(q: q.ref, k: k.ref, v: v.ref, into: merged.ref)
                results.append(try compare("mergeQKV s=\(s) \(dtype)", [merged], dtype))
                let scale = 1 / Float(hd).squareRoot()
                for dropout in [Float(0), 0.1] {
                    let out = try output(q.dev.shape, dtype), lse = try output([batch, nq, s], .fp32)
                    try d.attention(q: q.dev, k: k.dev, v: v.dev, into: out.dev, lse: lse.dev, scale: scale, dropout: dropout, seed: 3, segments: nil)
                    try r.attention(q: q.ref, k: k.ref, v: v.ref, into: out.ref, lse: lse.ref, scale: scale, dropout: dropout, seed: 3, segments: nil)
                    results.append(try compare("attention s=\(s) b=\(batch) \(nq)/\(ng)×\(hd) p=\(dropout) \(dtype)", [out, lse], dtype))
                    let dout = try random(q.dev.shape, dtype, stream: next())
                    let dq = try output(q.dev.shape, dtype), dk = try output(k.dev.shape, dtype), dv = try output(v.dev.shape, dtype)
                    try d.attentionBackward(dout.dev, q: q.dev, k: k.dev, v: v.dev, out: out.dev, lse: lse.dev,
                                            dq: dq.dev, dk: dk.dev, dv: dv.dev, scale: scale, dropout: dropout, seed: 3, segments: nil)
                    try r.attentionBackward(dout.ref, q: q.ref, k: k.ref, v: v.ref, out: out.ref, lse: lse.ref,
                                            dq: dq.ref, dk: dk.ref, dv: dv.ref, scale: scale, dropout: dropout, seed: 3, segments: nil)
                    results.append(try compare("attentionBackward s=\(s) b=\(batch) \(nq)/\(ng)×\(hd) p=\(dropout) \(dtype)", [dq, dk, dv], dtype))
                }
            }
        }

        // Attention within documents (--reset-attention-mask): segment ids [b, s] with documents
        // of random lengths (one-token ones, ones crossing and spanning tiles, so that rows meet
        // wholly masked key tiles); every kernel family: fp32 FMA (d 64/128, generic d 80),
        // tensor cores for bf16/fp16 d 64 and 128 with s ≥ 128 (several query and key tiles).
        let segmentShapes = full
            ? [(7, 2, 4, 2, 64), (300, 2, 4, 2, 64), (257, 1, 8, 2, 128), (129, 2, 4, 1, 80), (1024, 1, 4, 4, 128), (512, 2, 2, 1, 64)]
            : [(9, 2, 4, 2, 8), (40, 1, 2, 1, 8)]
        for (s, batch, nq, ng, hd) in segmentShapes {
            let segments = try segmentIDs(s: s, batch: batch, stream: next())
            let q = try random([s, batch, nq, hd], dtype, stream: next())
            let k = try random([s, batch, ng, hd], dtype, stream: next()), v = try random([s, batch, ng, hd], dtype, stream: next())
            let scale = 1 / Float(hd).squareRoot()
            let shape = "s=\(s) b=\(batch) \(nq)/\(ng)×\(hd)"
            for dropout in [Float(0), 0.1] {
                let out = try output(q.dev.shape, dtype), lse = try output([batch, nq, s], .fp32)
                try d.attention(q: q.dev, k: k.dev, v: v.dev, into: out.dev, lse: lse.dev, scale: scale, dropout: dropout, seed: 4,
                                segments: segments.dev)
                try r.attention(q: q.ref, k: k.ref, v: v.ref, into: out.ref, lse: lse.ref, scale: scale, dropout: dropout, seed: 4,
                                segments: segments.ref)
                results.append(try compare("attention segments \(shape) p=\(dropout) \(dtype)", [out, lse], dtype))
                let dout = try random(q.dev.shape, dtype, stream: next())
                let dq = try output(q.dev.shape, dtype), dk = try output(k.dev.shape, dtype), dv = try output(v.dev.shape, dtype)
                try d.attentionBackward(dout.dev, q: q.dev, k: k.dev, v: v.dev, out: out.dev, lse: lse.dev,
                                        dq: dq.dev, dk: dk.dev, dv: dv.dev, scale: scale, dropout: dropout, seed: 4, segments: segments.dev)
                try r.attentionBackward(dout.ref, q: q.ref, k: k.ref, v: v.ref, out: out.ref, lse: lse.ref,
                                        dq: dq.ref, dk: dk.ref, dv: dv.ref, scale: scale, dropout: dropout, seed: 4, segments: segments.ref)
                results.append(try compare("attentionBackward segments \(shape) p=\(dropout) \(dtype)", [dq, dk, dv], dtype))
            }
        }

        // AdamW over fp32 masters.
        for n in full ? [7, 100_003] : [7] {
            let p = try output([n], .fp32, initial: try random([n], .fp32, stream: next()))
            let g = try random([n], .fp32, stream: next())
            let m = try output([n], .fp32, initial: try random([n], .fp32, stream: next(), scale: 0.1))
            let vv = try output([n], .fp32, initial: try random([n], .fp32, stream: next(), scale: 0.01, nonNegative: true))
            try d.adamW(params: p.dev, grads: g.dev, m: m.dev, v: vv.dev, lr: 1e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, step: 3)
            try r.adamW(params: p.ref, grads: g.ref, m: m.ref, v: vv.ref, lr: 1e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, step: 3)
            results.append(try compare("adamW n=\(n)", [p, m, vv], .fp32))
        }
        return results
    }
}
