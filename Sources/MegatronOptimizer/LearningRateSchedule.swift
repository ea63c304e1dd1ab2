import Foundation

/// How the learning rate decays after warm-up (Megatron's `--lr-decay-style`).
public enum LRDecayStyle: String, Sendable, CaseIterable {
    case constant, linear, cosine
    case inverseSquareRoot = "inverse-square-root"
    case wsd = "WSD"
}

/// The annealing shape of the WSD schedule's final phase (`--lr-wsd-decay-style`).
public enum WSDDecayStyle: String, Sendable, CaseIterable {
    case exponential, linear, cosine
    case minusSqrt = "minus_sqrt"
}

/// Megatron's `OptimizerParamScheduler` learning rate: linear warm-up from 0 to `maxLR`, then
/// the chosen decay to `minLR` at `decaySteps`, `minLR` after.
///
///     let s = try LearningRateSchedule(maxLR: 3e-4, minLR: 3e-5, warmupSteps: 100, decaySteps: 1000, style: .cosine)
///     let lr = s.learningRate(atStep: 500)
public struct LearningRateSchedule: Sendable, Equatable {
    public let maxLR: Double
    public let minLR: Double
    public let warmupSteps: Int
    public let decaySteps: Int
    public let style: LRDecayStyle
    public let wsdDecaySteps: Int
    public let wsdStyle: WSDDecayStyle

    public init(
        maxLR: Double, minLR: Double = 0, warmupSteps: Int = 0, decaySteps: Int, style: LRDecayStyle,
        wsdDecaySteps: Int? = nil, wsdStyle: WSDDecayStyle = .exponential
    ) throws(ScheduleError) {
        guard maxLR >= minLR, minLR >= 0 else { throw .invalid("--lr \(maxLR) must be ≥ --min-lr \(minLR) ≥ 0") }
        guard decaySteps > 0 else { throw .invalid("--lr-decay-iters \(decaySteps) must be positive") }
        guard warmupSteps >= 0, warmupSteps < decaySteps || style == .constant else {
            throw .invalid("--lr-warmup-iters \(warmupSteps) must be smaller than --lr-decay-iters \(decaySteps)")
        }
        if style == .wsd {
            guard let wsdDecaySteps else { throw .invalid("--lr-decay-style WSD needs --lr-wsd-decay-iters") }
            guard wsdDecaySteps > 0, wsdDecaySteps <= decaySteps else {
                throw .invalid("--lr-wsd-decay-iters \(wsdDecaySteps) must be in 1...\(decaySteps) (--lr-decay-iters)")
            }
        }
        self.maxLR = maxLR
        self.minLR = minLR
        self.warmupSteps = warmupSteps
        self.decaySteps = decaySteps
        self.style = style
        self.wsdDecaySteps = wsdDecaySteps ?? 0
        self.wsdStyle = wsdStyle
    }

    /// The learning rate after `step` completed steps (0 for the first step when warming up).
    public func learningRate(atStep step: Int) -> Double {
        if warmupSteps > 0, step <= warmupSteps {
            return maxLR * Double(step) / Double(warmupSteps)
        }
        if style == .constant { return maxLR }
        if step > decaySteps { return minLR }
        if style == .inverseSquareRoot {
            let lr = maxLR * Double(max(warmupSteps, 1)).squareRoot() / Double(max(step, 1)).squareRoot()
            return max(minLR, lr)
        }
        let ratio = Double(step - warmupSteps) / Double(decaySteps - warmupSteps)
        let coeff: Double
        switch style {
        case .linear: coeff = 1 - ratio
        case .cosine: coeff = 0.5 * (cos(Double.pi * ratio) + 1)
        case .wsd:
            let annealStart = decaySteps - wsdDecaySteps
            if step <= annealStart {
                coeff = 1
            } else {
                let r = Double(step - annealStart) / Double(wsdDecaySteps)
                switch wsdStyle {
                case .linear: coeff = 1 - r
                case .cosine: coeff = 0.5 * (cos(Double.pi * r) + 1)
                case .exponential: coeff = 2 * pow(0.5, r) - 1
                case .minusSqrt: coeff = 1 - r.squareRoot()
                }
            }
        case .constant, .inverseSquareRoot: coeff = 1  // returned above
        }
        return minLR + coeff * (maxLR - minLR)
    }
}

/// An inconsistent schedule; the message names the flags.
public enum ScheduleError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case let .invalid(m): m }
    }
}
