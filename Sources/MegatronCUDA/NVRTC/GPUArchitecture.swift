/// An NVRTC compilation target: `sm_90` (CUBIN for one architecture), `sm_90a` (with
/// architecture-specific features such as wgmma), or `compute_90` (PTX the driver compiles).
///
///     let arch = context.device.architecture   // sm_90
///     let portable = GPUArchitecture(major: 8, minor: 0)
public struct GPUArchitecture: Hashable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    /// "" or "a" (architecture-specific) or "f" (family-specific).
    public let suffix: String

    public init(major: Int, minor: Int, suffix: String = "") {
        self.major = major
        self.minor = minor
        self.suffix = suffix
    }

    public init(_ capability: ComputeCapability, suffix: String = "") {
        self.init(major: capability.major, minor: capability.minor, suffix: suffix)
    }

    /// Parses "sm_90", "sm_90a", "90" or "9.0".
    public init?(_ text: String) {
        var body = Substring(text)
        if body.hasPrefix("sm_") { body = body.dropFirst(3) }
        if let dot = body.firstIndex(of: "."), let major = Int(body[..<dot]), let minor = Int(body[body.index(after: dot)...]) {
            self.init(major: major, minor: minor)
            return
        }
        let digits = body.prefix { $0.isNumber }
        let suffix = body.dropFirst(digits.count)
        guard let number = Int(digits), number >= 10, suffix.allSatisfy({ $0.isLetter }) else { return nil }
        self.init(major: number / 10, minor: number % 10, suffix: String(suffix))
    }

    /// 90 for sm_90.
    public var number: Int { major * 10 + minor }
    /// `sm_90` / `sm_90a`: the real architecture.
    public var realName: String { "sm_\(number)\(suffix)" }
    /// `compute_90` / `compute_90a`: the virtual architecture.
    public var virtualName: String { "compute_\(number)\(suffix)" }
    public var description: String { realName }
}
