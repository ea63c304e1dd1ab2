import Foundation
import MegatronCPU
import MegatronOptimizer
import MegatronTensor
import Testing

@Suite("Learning-rate schedules")
struct ScheduleTests {
    @Test func warmupIsLinearFromZero() throws {
        let s = try LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, decaySteps: 110, style: .cosine)
        #expect(s.learningRate(atStep: 0) == 0)
        #expect(abs(s.learningRate(atStep: 5) - 5e-4) < 1e-15)
        #expect(s.learningRate(atStep: 10) == 1e-3)
    }

    @Test func decayStyles() throws {
        let (maxLR, minLR) = (1.0, 0.1)
        let linear = try LearningRateSchedule(maxLR: maxLR, minLR: minLR, warmupSteps: 0, decaySteps: 100, style: .linear)
        #expect(abs(linear.learningRate(atStep: 25) - (0.1 + 0.75 * 0.9)) < 1e-12)
        let cosine = try LearningRateSchedule(maxLR: maxLR, minLR: minLR, warmupSteps: 0, decaySteps: 100, style: .cosine)
        #expect(abs(cosine.learningRate(atStep: 50) - 0.55) < 1e-12)  // half-way: cos(π/2) = 0
        #expect(cosine.learningRate(atStep: 150) == minLR)
        let constant = try LearningRateSchedule(maxLR: maxLR, minLR: minLR, decaySteps: 100, style: .constant)
        #expect(constant.learningRate(atStep: 99) == maxLR)
        let isr = try LearningRateSchedule(maxLR: maxLR, minLR: minLR, warmupSteps: 4, decaySteps: 100, style: .inverseSquareRoot)
        #expect(abs(isr.learningRate(atStep: 16) - 0.5) < 1e-12)  // sqrt(4) / sqrt(16)
        #expect(isr.learningRate(atStep: 99) == max(minLR, 2 / 99.0.squareRoot()))
    }

    @Test func wsdHoldsThenAnneals() throws {
        for (style, atQuarter) in [(WSDDecayStyle.linear, 0.75), (.cosine, 0.5 * (cos(Double.pi / 4) + 1)),
                                   (.exponential, 2 * pow(0.5, 0.25) - 1), (.minusSqrt, 0.5)] {
            let s = try LearningRateSchedule(maxLR: 1, minLR: 0, warmupSteps: 0, decaySteps: 100, style: .wsd, wsdDecaySteps: 20, wsdStyle: style)
            #expect(s.learningRate(atStep: 80) == 1)
            #expect(abs(s.learningRate(atStep: 85) - atQuarter) < 1e-12, "\(style)")
        }
    }

    @Test func inconsistentSchedulesThrow() {
        #expect(throws: ScheduleError.self) { try LearningRateSchedule(maxLR: 1e-4, minLR: 1e-3, decaySteps: 10, style: .linear) }
        #expect(throws: ScheduleError.self) { try LearningRateSchedule(maxLR: 1, warmupSteps: 10, decaySteps: 10, style: .cosine) }
        #expect(throws: ScheduleError.self) { try LearningRateSchedule(maxLR: 1, decaySteps: 10, style: .wsd) }
    }
}

@Suite("AdamW and clipping")
struct AdamWTests {
    let b = CPUBackend()

    /// Two steps against PyTorch's AdamW update written out in double precision.
    @Test func matchesTheAdamWUpdate() throws {
        let p0: [Float] = [0.5, -1.25, 2.0, 0.75], g1: [Float] = [0.1, -0.2, 0.3, -0.4], g2: [Float] = [-0.05, 0.15, 0.25, 0.35]
        let params = try b.tensor(p0, shape: [4]), grads = try b.tensor(g1, shape: [4])
        var hp = AdamW.Hyperparameters()
        hp.weightDecay = 0.1
        hp.clipGrad = 0
        // The first two elements decay, the last two (a "bias") do not.
        let opt = try AdamW(params: params, grads: grads, decayRuns: [(0..<2, true), (2..<4, false)], hyperparameters: hp, backend: b)
        let lr = 0.01
        _ = try opt.step(lr: Float(lr))
        try b.upload(g2, to: grads)
        _ = try opt.step(lr: Float(lr))
        var expected: [Float] = []
        for i in 0..<4 {
            var (p, m, v) = (Double(p0[i]), 0.0, 0.0)
            let wd = i < 2 ? 0.1 : 0
            for (t, g) in [(1, Double(g1[i])), (2, Double(g2[i]))] {
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                let mhat = m / (1 - pow(0.9, Double(t))), vhat = v / (1 - pow(0.999, Double(t)))
                p = p * (1 - lr * wd) - lr * mhat / (vhat.squareRoot() + 1e-8)
            }
            expected.append(Float(p))
        }
        #expect(relativeError(try b.download(params), expected) < 1e-6)
        #expect(opt.steps == 2)
    }

    @Test func clipsToTheGlobalNorm() throws {
        let g = try b.tensor([3, 4], shape: [2])
        let norm = try GradientClipping.clip(g, maxNorm: 1, backend: b)
        #expect(norm == 5)
        #expect(relativeError(try b.download(g), [0.6, 0.8]) < 1e-6)
        let small = try b.tensor([0.3, 0.4], shape: [2])
        #expect(abs(try GradientClipping.clip(small, maxNorm: 1, backend: b) - 0.5) < 1e-7)
        #expect(try b.download(small) == [0.3, 0.4])
    }

    @Test func nonFiniteGradientSkipsTheUpdate() throws {
        let params = try b.tensor([1, 2], shape: [2]), grads = try b.tensor([.nan, 1], shape: [2])
        let opt = try AdamW(params: params, grads: grads, decayRuns: [(0..<2, true)], backend: b)
        let stats = try opt.step(lr: 0.1)
        #expect(stats.gradNorm.isNaN)
        #expect(try b.download(params) == [1, 2])
        #expect(opt.steps == 0)
    }
}

@Suite("Dynamic loss scaling")
struct LossScalerTests {
    @Test func backsOffAfterHysteresisAndGrowsAfterTheWindow() {
        var s = DynamicLossScaler(initialScale: 1024, growthInterval: 3, hysteresis: 2)
        s.update(foundInf: true)
        #expect(s.scale == 1024)  // first overflow only spends hysteresis
        s.update(foundInf: true)
        #expect(s.scale == 512)
        s.update(foundInf: true)
        #expect(s.scale == 256)  // hysteresis stays spent until the scale grows again
        for _ in 0..<3 { s.update(foundInf: false) }
        #expect(s.scale == 512)
        s.update(foundInf: true)
        #expect(s.scale == 512)  // hysteresis refilled by the growth
    }

    @Test func neverFallsBelowTheMinimum() {
        var s = DynamicLossScaler(initialScale: 2, minScale: 1, hysteresis: 1)
        for _ in 0..<5 { s.update(foundInf: true) }
        #expect(s.scale == 1)
    }

    @Test func megatronDefaults() {
        let s = DynamicLossScaler()
        #expect(s.scale == 4_294_967_296 && s.growthInterval == 1000 && s.hysteresis == 2 && s.minScale == 1)
    }
}
