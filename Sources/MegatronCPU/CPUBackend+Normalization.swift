import MegatronTensor

extension CPUBackend {
    public func layerNorm(
        _ x: Tensor, weight: Tensor, bias: Tensor?, epsilon: Float,
        into y: Tensor, mean: Tensor, rstd: Tensor
    ) throws {
        let (n, h) = (x.shape.leading, x.shape.last)
        try expectCount(weight, h, "layerNorm")
        if let bias { try expectCount(bias, h, "layerNorm") }
        try expectCount(y, x.count, "layerNorm")
        try expectCount(mean, n, "layerNorm")
        try expectCount(rstd, n, "layerNorm")
        let px = SendablePointer(try floats(x, "layerNorm")), py = SendablePointer(try floats(y, "layerNorm"))
        let pw = SendablePointer(try floats(weight, "layerNorm"))
        let pb = try bias.map { SendablePointer(try floats($0, "layerNorm")) }
        let pm = SendablePointer(try floats(mean, "layerNorm")), pr = SendablePointer(try floats(rstd, "layerNorm"))
        forEachRowBlock(n, block: rowBlock(columns: h)) { rows in
            for r in rows {
                let xr = px.base + r * h, yr = py.base + r * h
                var sum: Float = 0
                for j in 0..<h { sum += xr[j] }
                let mu = sum / Float(h)
                var sq: Float = 0
                for j in 0..<h { let d = xr[j] - mu; sq += d * d }
                let s = 1 / (sq / Float(h) + epsilon).squareRoot()
                for j in 0..<h { yr[j] = (xr[j] - mu) * s * pw[j] + (pb?[j] ?? 0) }
                pm[r] = mu
                pr[r] = s
            }
        }
    }

    public func layerNormBackward(
        _ dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
        dx: Tensor, dweight: Tensor, dbias: Tensor?
    ) throws {
        let (n, h) = (x.shape.leading, x.shape.last)
        try expectCount(dy, x.count, "layerNormBackward")
        try expectCount(dx, x.count, "layerNormBackward")
        try expectCount(dweight, h, "layerNormBackward")
        let pdy = SendablePointer(try floats(dy, "layerNormBackward")), px = SendablePointer(try floats(x, "layerNormBackward"))
        let pw = SendablePointer(try floats(weight, "layerNormBackward")), pdx = SendablePointer(try floats(dx, "layerNormBackward"))
        let pm = SendablePointer(try floats(mean, "layerNormBackward")), pr = SendablePointer(try floats(rstd, "layerNormBackward"))
        // dx rows are independent.
        forEachRowBlock(n, block: rowBlock(columns: h)) { rows in
            for r in rows {
                let xr = px.base + r * h, dyr = pdy.base + r * h, dxr = pdx.base + r * h
                let mu = pm[r], s = pr[r]
                var meanG: Float = 0, meanGX: Float = 0
                for j in 0..<h {
                    let g = dyr[j] * pw[j]
                    meanG += g
                    meanGX += g * (xr[j] - mu) * s
                }
                meanG /= Float(h)
                meanGX /= Float(h)
                for j in 0..<h {
                    let xhat = (xr[j] - mu) * s
                    dxr[j] += s * (dyr[j] * pw[j] - meanG - xhat * meanGX)
                }
            }
        }
        try columnSums(rows: n, cols: h, into: try floats(dweight, "layerNormBackward")) { r, acc in
            let xr = px.base + r * h, dyr = pdy.base + r * h
            let mu = pm[r], s = pr[r]
            for j in 0..<h { acc[j] += dyr[j] * (xr[j] - mu) * s }
        }
        if let dbias {
            try expectCount(dbias, h, "layerNormBackward")
            try biasBackward(dy.reshaped([n, h]), into: dbias)
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, epsilon: Float, into y: Tensor, rstd: Tensor) throws {
        let (n, h) = (x.shape.leading, x.shape.last)
        try expectCount(weight, h, "rmsNorm")
        try expectCount(y, x.count, "rmsNorm")
        try expectCount(rstd, n, "rmsNorm")
        let px = SendablePointer(try floats(x, "rmsNorm")), py = SendablePointer(try floats(y, "rmsNorm"))
        let pw = SendablePointer(try floats(weight, "rmsNorm")), pr = SendablePointer(try floats(rstd, "rmsNorm"))
        forEachRowBlock(n, block: rowBlock(columns: h)) { rows in
            for r in rows {
                let xr = px.base + r * h, yr = py.base + r * h
                var sq: Float = 0
                for j in 0..<h { sq += xr[j] * xr[j] }
                let s = 1 / (sq / Float(h) + epsilon).squareRoot()
                for j in 0..<h { yr[j] = xr[j] * s * pw[j] }
                pr[r] = s
            }
        }
    }

    public func rmsNormBackward(_ dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor, dx: Tensor, dweight: Tensor) throws {
        let (n, h) = (x.shape.leading, x.shape.last)
        try expectCount(dy, x.count, "rmsNormBackward")
        try expectCount(dx, x.count, "rmsNormBackward")
        try expectCount(dweight, h, "rmsNormBackward")
        let pdy = SendablePointer(try floats(dy, "rmsNormBackward")), px = SendablePointer(try floats(x, "rmsNormBackward"))
        let pw = SendablePointer(try floats(weight, "rmsNormBackward")), pdx = SendablePointer(try floats(dx, "rmsNormBackward"))
        let pr = SendablePointer(try floats(rstd, "rmsNormBackward"))
        forEachRowBlock(n, block: rowBlock(columns: h)) { rows in
            for r in rows {
                let xr = px.base + r * h, dyr = pdy.base + r * h, dxr = pdx.base + r * h
                let s = pr[r]
                var meanGX: Float = 0
                for j in 0..<h { meanGX += dyr[j] * pw[j] * xr[j] * s }
                meanGX /= Float(h)
                for j in 0..<h { dxr[j] += s * (dyr[j] * pw[j] - xr[j] * s * meanGX) }
            }
        }
        try columnSums(rows: n, cols: h, into: try floats(dweight, "rmsNormBackward")) { r, acc in
            let xr = px.base + r * h, dyr = pdy.base + r * h
            let s = pr[r]
            for j in 0..<h { acc[j] += dyr[j] * xr[j] * s }
        }
    }
}
