import Foundation

/// Megatron's training and validation log lines.
public enum IterationLog {
    /// The values of one `--log-interval` window.
    public struct Entry: Sendable {
        public var iteration: Int
        public var trainIters: Int
        public var consumedSamples: Int
        public var millisecondsPerIteration: Double
        public var tokensPerSecond: Double
        public var tflopsPerDevice: Double
        public var learningRate: Double
        public var globalBatchSize: Int
        public var loss: Double
        public var gradNorm: Double
        public var skippedIterations: Int
        public var nanIterations: Int
        /// Printed only when training in fp16.
        public var lossScale: Double?
    }

    /// ` [date] iteration       10/     100 | consumed samples: … | lm loss: 1.082345E+01 | …`
    public static func line(_ e: Entry, date: Date = Date()) -> String {
        " [\(timestamp(date))]"
            + " iteration \(pad(e.iteration, 8))/\(pad(e.trainIters, 8)) |"
            + " consumed samples: \(pad(e.consumedSamples, 12)) |"
            + " elapsed time per iteration (ms): \(String(format: "%.1f", e.millisecondsPerIteration)) |"
            + " throughput per GPU (TFLOP/s/GPU): \(String(format: "%.1f", e.tflopsPerDevice)) |"
            + " tokens per second: \(String(format: "%.0f", e.tokensPerSecond)) |"
            + " learning rate: \(scientific(e.learningRate)) |"
            + " global batch size: \(pad(e.globalBatchSize, 5)) |"
            + " lm loss: \(scientific(e.loss)) |"
            + (e.lossScale.map { " loss scale: \(String(format: "%.1f", $0)) |" } ?? "")
            + " grad norm: \(String(format: "%.3f", e.gradNorm)) |"
            + " number of skipped iterations: \(pad(e.skippedIterations, 3)) |"
            + " number of nan iterations: \(pad(e.nanIterations, 3)) |"
    }

    /// The boxed validation report with loss and perplexity; `point` is Megatron's prefix,
    /// e.g. `iteration 100` or `iteration 100 on test set`.
    public static func validation(at point: String, loss: Double) -> String {
        let body = " validation loss at \(point) | lm loss value: \(scientific(loss)) | lm loss PPL: \(scientific(exp(min(loss, 20)))) | "
        let rule = String(repeating: "-", count: body.count + 1)
        return "\(rule)\n\(body)\n\(rule)"
    }

    /// Python's `{:.6E}`: mantissa with six decimals, exponent with sign and at least two digits.
    public static func scientific(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "NAN" : (x > 0 ? "INF" : "-INF") }
        return String(format: "%.6E", x)
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }

    static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: date)
    }
}
