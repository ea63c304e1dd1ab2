/// Megatron's dynamic loss scaling for `--fp16`: the loss is multiplied by ``scale`` before the
/// backward; an iteration whose gradients overflow is skipped, and after `hysteresis` such
/// iterations the scale backs off; after `growthInterval` clean iterations it grows.
///
///     var scaler = DynamicLossScaler()             // 2³², window 1000, hysteresis 2
///     scaler.update(foundInf: !gradNorm.isFinite)
public struct DynamicLossScaler: Sendable, Equatable, Codable {
    public private(set) var scale: Double
    public let minScale: Double
    public let growthFactor: Double
    public let backoffFactor: Double
    public let growthInterval: Int
    public let hysteresis: Int
    private var growthTracker = 0
    private var hysteresisTracker: Int

    public init(initialScale: Double = 4_294_967_296, minScale: Double = 1, growthFactor: Double = 2,
                backoffFactor: Double = 0.5, growthInterval: Int = 1000, hysteresis: Int = 2) {
        scale = initialScale
        self.minScale = minScale
        self.growthFactor = growthFactor
        self.backoffFactor = backoffFactor
        self.growthInterval = growthInterval
        self.hysteresis = hysteresis
        hysteresisTracker = hysteresis
    }

    /// Records whether this iteration's gradients held an inf or NaN (and so were skipped).
    public mutating func update(foundInf: Bool) {
        if foundInf {
            growthTracker = 0
            hysteresisTracker -= 1
            if hysteresisTracker <= 0 { scale = max(scale * backoffFactor, minScale) }
        } else {
            growthTracker += 1
            if growthTracker == growthInterval {
                growthTracker = 0
                hysteresisTracker = hysteresis
                scale *= growthFactor
            }
        }
    }
}
