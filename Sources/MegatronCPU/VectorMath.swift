/// Vectorised fp32 transcendental functions for the hot loops (softmax, cross-entropy,
/// activations). Scalar libm calls cost 10–20 ns each; the cross-entropy over a 50k vocabulary
/// takes hundreds of millions per step.
enum VectorMath {
    typealias V = SIMD8<Float>

    /// eˣ with Cephes' expf reduction and polynomial: relative error under 2 ulp on
    /// [−87.3, 88.7]; exactly 0 below (so masked −∞ scores vanish), +∞ above.
    @inline(__always)
    static func exp(_ x: V) -> V {
        // Out-of-range lanes compute garbage exponents and are overwritten at the end.
        let tooSmall = x .< -87.33654, tooLarge = x .> 88.72283
        let xc = x
        // n = round(x·log2 e) by the 1.5·2²³ trick: adding it leaves n in the low mantissa
        // bits, all in plain vector arithmetic (the generic SIMD rounding and int conversions
        // run lane by lane).
        let magic = V(repeating: 12_582_912)
        let shifted = xc * 1.442_695_04 + magic
        let fx = shifted - magic
        var r = xc - fx * 0.693_359_375
        r = r + fx * 2.121_944_40e-4
        let z = r * r
        var y = V(repeating: 1.987_569_150_0e-4)
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * z + r + 1
        // 2ⁿ as two factors 2ᵃ·2ᵇ so that n = −126…128 never leaves the normal exponent range.
        let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let a = n &>> 1, b = n &- a
        let p1 = unsafeBitCast((a &+ 127) &<< 23, to: V.self)
        let p2 = unsafeBitCast((b &+ 127) &<< 23, to: V.self)
        var result = y * p1 * p2
        result.replace(with: 0, where: tooSmall)
        result.replace(with: .infinity, where: tooLarge)
        return result
    }

    /// tanh(x) = 1 − 2/(e²ˣ + 1): within a few ulp of libm away from 0, and exact at ±∞.
    @inline(__always)
    static func tanh(_ x: V) -> V {
        // Near 0, 1 − 2/(e²ˣ + 1) cancels; the odd series x − x³/3 + 2x⁵/15 is exact to fp32 there.
        let x2 = x * x
        let series = x * (1 - x2 * (1.0 / 3 - x2 * (2.0 / 15)))
        var t = 1 - 2 / (exp(2 * x) + 1)
        t.replace(with: series, where: x2 .< 0.0025)
        return t
    }

    /// `out[i] = f(x[i])` over the index range, eight lanes at a time (the tail padded with zeros).
    @inline(__always)
    static func map(_ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>, _ f: (V) -> V) {
        var i = range.lowerBound
        while i &+ 8 <= range.upperBound {
            UnsafeMutableRawPointer(out + i).storeBytes(of: f(UnsafeRawPointer(x + i).loadUnaligned(as: V.self)), as: V.self)
            i &+= 8
        }
        if i < range.upperBound {
            var v = V.zero
            for j in 0..<(range.upperBound - i) { v[j] = x[i + j] }
            let r = f(v)
            for j in 0..<(range.upperBound - i) { out[i + j] = r[j] }
        }
    }

    /// Scalar eˣ through the vector path (same rounding as the vector loops).
    @inline(__always)
    static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// `out[i] = exp(x[i] − shift)` for i < n; returns Σ out[i] (accumulated in fp32 lanes).
    @inline(__always)
    static func expShifted(_ x: UnsafePointer<Float>, _ n: Int, shift: Float, into out: UnsafeMutablePointer<Float>?) -> Float {
        var acc = V.zero
        var i = 0
        let s = V(repeating: shift)
        while i &+ 8 <= n {
            let e = exp(UnsafeRawPointer(x + i).loadUnaligned(as: V.self) - s)
            if let out { UnsafeMutableRawPointer(out + i).storeBytes(of: e, as: V.self) }
            acc += e
            i &+= 8
        }
        var total = acc.sum()
        while i < n {
            let e = exp(x[i] - shift)
            out?[i] = e
            total += e
            i &+= 1
        }
        return total
    }

    /// max of x[0..<n] (−∞ for n = 0).
    @inline(__always)
    static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = V(repeating: -.infinity)
        var i = 0
        while i &+ 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
            m.replace(with: v, where: v .> m)
            i &+= 8
        }
        var result = m.max()
        while i < n {
            result = Swift.max(result, x[i])
            i &+= 1
        }
        return result
    }
}
