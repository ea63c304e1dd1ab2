/// ‖a − b‖ / ‖b‖ in double precision: the measure by which a kernel is checked against its
/// reference (fp32 paths under 1e-5, bf16 under 1e-2). NaN anywhere gives NaN, which fails
/// every `<` comparison; differing lengths give infinity.
///
///     #expect(relativeError(gpuOut, cpuOut) < 1e-5)
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count else { return .infinity }
    var num = 0.0, den = 0.0
    for i in a.indices {
        let d = Double(a[i]) - Double(b[i])
        num += d * d
        den += Double(b[i]) * Double(b[i])
    }
    return (num / max(den, .leastNonzeroMagnitude)).squareRoot()
}
