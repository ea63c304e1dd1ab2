import Foundation
import MegatronTensor

extension CPUBackend {
    public func gelu(_ x: Tensor, into y: Tensor, approximate: Bool) throws {
        try expectCount(y, x.count, "gelu")
        let px = SendablePointer(try floats(x, "gelu")), py = SendablePointer(try floats(y, "gelu"))
        forEachRowBlock(x.count, block: 1 << 14) { r in
            if approximate {
                VectorMath.map(px.base, py.base, r) { Self.geluTanh($0).value }
            } else {
                for i in r { py[i] = Self.geluErf(px[i]).value }
            }
        }
    }

    public func geluBackward(_ dy: Tensor, x: Tensor, into dx: Tensor, approximate: Bool) throws {
        try expectCount(dy, x.count, "geluBackward")
        try expectCount(dx, x.count, "geluBackward")
        let px = SendablePointer(try floats(x, "geluBackward")), pdy = SendablePointer(try floats(dy, "geluBackward"))
        let pdx = SendablePointer(try floats(dx, "geluBackward"))
        forEachRowBlock(x.count, block: 1 << 14) { r in
            if approximate {
                VectorMath.map(px.base, pdx.base, r) { Self.geluTanh($0).derivative }
                for i in r { pdx[i] *= pdy[i] }
            } else {
                for i in r { pdx[i] = pdy[i] * Self.geluErf(px[i]).derivative }
            }
        }
    }

    /// Exact GeLU, x·Φ(x), and its derivative Φ(x) + x·φ(x).
    @inline(__always)
    static func geluErf(_ x: Float) -> (value: Float, derivative: Float) {
        let cdf = 0.5 * (1 + erf(x * 0.70710678118654752))
        let pdf = exp(-0.5 * x * x) * 0.39894228040143268
        return (x * cdf, cdf + x * pdf)
    }

    /// GPT-2's tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) and its derivative,
    /// eight lanes at a time.
    @inline(__always)
    static func geluTanh(_ x: SIMD8<Float>) -> (value: SIMD8<Float>, derivative: SIMD8<Float>) {
        let k: Float = 0.79788456080286536, c: Float = 0.044715
        let t = VectorMath.tanh(k * (x + c * x * x * x))
        let dinner = k * (1 + 3 * c * x * x)
        return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
    }

    public func swiglu(_ x: Tensor, into y: Tensor) throws {
        let (n, f) = (y.shape.leading, y.shape.last)
        try expectCount(x, n * 2 * f, "swiglu")
        let px = SendablePointer(try floats(x, "swiglu")), py = SendablePointer(try floats(y, "swiglu"))
        forEachRowBlock(n, block: rowBlock(columns: f)) { rows in
            for r in rows {
                let gate = px.base + r * 2 * f, up = gate + f, out = py.base + r * f
                for j in 0..<f {
                    let a = gate[j]
                    out[j] = a / (1 + exp(-a)) * up[j]
                }
            }
        }
    }

    public func swigluBackward(_ dy: Tensor, x: Tensor, into dx: Tensor) throws {
        let (n, f) = (dy.shape.leading, dy.shape.last)
        try expectCount(x, n * 2 * f, "swigluBackward")
        try expectCount(dx, n * 2 * f, "swigluBackward")
        let px = SendablePointer(try floats(x, "swigluBackward")), pdy = SendablePointer(try floats(dy, "swigluBackward"))
        let pdx = SendablePointer(try floats(dx, "swigluBackward"))
        forEachRowBlock(n, block: rowBlock(columns: f)) { rows in
            for r in rows {
                let gate = px.base + r * 2 * f, up = gate + f, g = pdy.base + r * f
                let dgate = pdx.base + r * 2 * f, dup = dgate + f
                for j in 0..<f {
                    let a = gate[j], sig = 1 / (1 + exp(-a))
                    dgate[j] = g[j] * up[j] * sig * (1 + a * (1 - sig))
                    dup[j] = g[j] * a * sig
                }
            }
        }
    }
}
