import MegatronCPU
import MegatronData
import MegatronTraining
import Testing

@Suite("Learnable synthetic data and the loss-curve check")
struct LossCurveTests {
    @Test func patternSamplesAreArithmeticProgressions() throws {
        let data = PatternGPTDataset(vocabSize: 97, seqLength: 40, seed: 5, maxStride: 8)
        var strides = Set<Int>()
        for i in 0..<64 {
            let s = try data.sample(i).map(Int.init)
            #expect(s.count == 41)
            #expect(s.allSatisfy { (0..<97).contains($0) })
            let stride = (s[1] - s[0] + 97) % 97
            #expect((1...8).contains(stride))
            for t in 1..<s.count { #expect(s[t] == (s[t - 1] + stride) % 97) }
            strides.insert(stride)
        }
        #expect(strides.count == 8)  // every stride occurs in 64 samples
        #expect(try data.sample(3) == (try data.sample(3)))
        #expect(try data.sample(3) != (try PatternGPTDataset(vocabSize: 97, seqLength: 40, seed: 6).sample(3)))
    }

    /// A config small enough for a debug build: 2 layers, hidden 32, seq 16, vocab 64.
    static let smallFlags = [
        "--num-layers", "2", "--hidden-size", "32", "--num-attention-heads", "2",
        "--seq-length", "16", "--max-position-embeddings", "16", "--vocab-size", "64",
        "--micro-batch-size", "4", "--global-batch-size", "8", "--lr", "1e-2", "--lr-warmup-iters", "3",
        "--attention-dropout", "0", "--hidden-dropout", "0", "--seed", "7",
    ]

    @Test func curveFallsAndRecomputationFollowsIt() throws {
        let check = LossCurveCheck(iterations: 40, modelFlags: Self.smallFlags)
        let reference = try check.curve(on: CPUBackend(), extraFlags: [])
        #expect(reference.count == 40)
        // log(64) ≈ 4.16 at the start; the model must learn the progressions.
        #expect(reference[0] > 3.8)
        #expect(reference.last! < 0.6 * reference[0])
        let selective = try check.compare("cpu selective", on: CPUBackend(), extraFlags: ["--recompute-granularity", "selective"], reference: reference)
        #expect(selective.passed)
        #expect(selective.worstRelativeDifference < 1e-5)  // same arithmetic, same order
    }

    @Test func aDifferentCurveFails() throws {
        let check = LossCurveCheck(iterations: 10, modelFlags: Self.smallFlags)
        let reference = try check.curve(on: CPUBackend(), extraFlags: [])
        let faster = try check.compare("cpu, 10× lr", on: CPUBackend(), extraFlags: ["--lr", "1e-1"], reference: reference)
        #expect(!faster.passed)
        #expect(faster.description.hasPrefix("FAIL"))
    }
}
