import MegatronTensor

/// The reference backend: every op in plain Swift on the host, threaded over rows where it pays,
/// GEMM through a system BLAS when one is installed (see ``CPUGEMM``).
///
/// Compute ops take fp32 tensors; bf16, fp16 and the integer types are storage formats here,
/// converted by ``copy(_:to:)``, ``upload(_:to:)`` and ``download(_:)``.
///
///     let backend = CPUBackend()
///     let x = try backend.tensor([1, 2, 3, 4], shape: [2, 2])
public final class CPUBackend: Backend {
    public let device = Device.cpu
    private let allocator = HostAllocator()

    public init() {}

    /// Bytes held by live tensors, the peak of that, and bytes cached for reuse.
    public var memoryStatistics: (live: Int, peak: Int, cached: Int) { allocator.statistics }

    /// Returns cached (unused) blocks to the system.
    public func emptyCache() { allocator.emptyCache() }

    public var name: String {
        if let blas = CPUGEMM.blasDescription, CPUGEMM.preferred == .blas { "cpu (\(blas))" } else { "cpu (Swift SIMD GEMM)" }
    }

    public func empty(_ shape: Shape, dtype: DType) throws -> Tensor {
        guard shape.dims.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument(op: "empty", message: "negative dimension in \(shape)")
        }
        let (address, size) = allocator.allocate(byteCount: shape.count * dtype.byteSize)
        let allocator = self.allocator
        let storage = Storage(address: address, byteCount: size, device: .cpu) { allocator.release($0, size: size) }
        return Tensor(storage: storage, shape: shape, dtype: dtype)
    }

    public func fill(_ tensor: Tensor, _ value: Float) throws {
        try checkDevice(tensor, "fill")
        switch tensor.dtype {
        case .fp32: tensor.address.assumingMemoryBound(to: Float.self).update(repeating: value, count: tensor.count)
        case .bf16: tensor.address.assumingMemoryBound(to: UInt16.self).update(repeating: HalfPrecision.bf16Bits(value), count: tensor.count)
        case .fp16: tensor.address.assumingMemoryBound(to: UInt16.self).update(repeating: HalfPrecision.fp16Bits(value), count: tensor.count)
        case .int32: tensor.address.assumingMemoryBound(to: Int32.self).update(repeating: Int32(value), count: tensor.count)
        case .int64: tensor.address.assumingMemoryBound(to: Int64.self).update(repeating: Int64(value), count: tensor.count)
        case .uint16: tensor.address.assumingMemoryBound(to: UInt16.self).update(repeating: UInt16(value), count: tensor.count)
        }
    }

    public func upload(_ values: [Float], to tensor: Tensor) throws {
        try checkDevice(tensor, "upload")
        guard values.count == tensor.count else {
            throw TensorError.shapeMismatch(op: "upload", expected: "\(values.count) elements", got: tensor.shape)
        }
        guard tensor.dtype.isFloatingPoint else { throw TensorError.unsupportedDType(op: "upload([Float])", dtype: tensor.dtype, backend: "cpu") }
        values.withUnsafeBufferPointer { src in storeFloats(src.baseAddress!, count: src.count, into: tensor) }
    }

    public func upload(_ values: [Int32], to tensor: Tensor) throws {
        try checkDevice(tensor, "upload")
        guard values.count == tensor.count else {
            throw TensorError.shapeMismatch(op: "upload", expected: "\(values.count) elements", got: tensor.shape)
        }
        if tensor.dtype == .uint16, let bad = values.firstIndex(where: { UInt16(exactly: $0) == nil }) {
            throw TensorError.invalidArgument(op: "upload", message: "value \(values[bad]) at \(bad) does not fit uint16")
        }
        guard [.int32, .int64, .uint16].contains(tensor.dtype) else {
            throw TensorError.unsupportedDType(op: "upload([Int32])", dtype: tensor.dtype, backend: "cpu")
        }
        values.withUnsafeBufferPointer { src in
            for i in src.indices {
                switch tensor.dtype {
                case .int64: tensor.address.assumingMemoryBound(to: Int64.self)[i] = Int64(src[i])
                case .uint16: tensor.address.assumingMemoryBound(to: UInt16.self)[i] = UInt16(truncatingIfNeeded: src[i])
                default: tensor.address.assumingMemoryBound(to: Int32.self)[i] = src[i]
                }
            }
        }
    }

    public func download(_ tensor: Tensor) throws -> [Float] {
        try checkDevice(tensor, "download")
        return [Float](unsafeUninitializedCapacity: tensor.count) { buffer, initialized in
            loadFloats(tensor, into: buffer.baseAddress!)
            initialized = tensor.count
        }
    }

    public func copy(_ source: Tensor, to destination: Tensor) throws {
        try checkDevice(source, "copy")
        try checkDevice(destination, "copy")
        guard source.count == destination.count else {
            throw TensorError.shapeMismatch(op: "copy", expected: "\(source.count) elements", got: destination.shape)
        }
        if source.dtype == destination.dtype {
            destination.address.copyMemory(from: source.address, byteCount: source.byteCount)
            return
        }
        guard source.dtype.isFloatingPoint, destination.dtype.isFloatingPoint else {
            throw TensorError.dtypeMismatch(op: "copy", expected: source.dtype, got: destination.dtype)
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: source.count)
        defer { scratch.deallocate() }
        loadFloats(source, into: scratch)
        storeFloats(scratch, count: source.count, into: destination)
    }

    public func synchronize() throws {}

    // MARK: conversions

    private func loadFloats(_ t: Tensor, into dst: UnsafeMutablePointer<Float>) {
        let n = t.count
        switch t.dtype {
        case .fp32: dst.update(from: t.address.assumingMemoryBound(to: Float.self), count: n)
        case .bf16:
            let p = t.address.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { dst[i] = HalfPrecision.float(bf16Bits: p[i]) }
        case .fp16:
            let p = t.address.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { dst[i] = HalfPrecision.float(fp16Bits: p[i]) }
        case .int32:
            let p = t.address.assumingMemoryBound(to: Int32.self)
            for i in 0..<n { dst[i] = Float(p[i]) }
        case .int64:
            let p = t.address.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { dst[i] = Float(p[i]) }
        case .uint16:
            let p = t.address.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { dst[i] = Float(p[i]) }
        }
    }

    private func storeFloats(_ src: UnsafePointer<Float>, count n: Int, into t: Tensor) {
        switch t.dtype {
        case .fp32: t.address.assumingMemoryBound(to: Float.self).update(from: src, count: n)
        case .bf16:
            let p = t.address.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { p[i] = HalfPrecision.bf16Bits(src[i]) }
        case .fp16:
            let p = t.address.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { p[i] = HalfPrecision.fp16Bits(src[i]) }
        case .int32, .int64, .uint16:
            break  // callers check the dtype is floating point
        }
    }
}

// MARK: - argument checking shared by the op files

extension CPUBackend {
    /// The fp32 elements of a CPU tensor, after checking device and dtype.
    func floats(_ t: Tensor, _ op: String) throws -> UnsafeMutablePointer<Float> {
        try checkDevice(t, op)
        try t.expect(.fp32, op)
        return t.address.assumingMemoryBound(to: Float.self)
    }

    /// The int32 elements of a CPU tensor, after checking device and dtype.
    func int32s(_ t: Tensor, _ op: String) throws -> UnsafeMutablePointer<Int32> {
        try checkDevice(t, op)
        try t.expect(.int32, op)
        return t.address.assumingMemoryBound(to: Int32.self)
    }

    /// Throws unless every id in `ids` lies in `0..<bound` (token ids, targets). The scan is a
    /// separate non-throwing loop: Swift 6.3's optimiser miscompiled a `throw` inside these loops.
    func checkIndices(_ ids: UnsafeMutablePointer<Int32>, count: Int, bound: Int, what: String, _ op: String) throws {
        var bad = -1
        for i in 0..<count where ids[i] < 0 || Int(ids[i]) >= bound {
            bad = i
            break
        }
        guard bad < 0 else {
            throw TensorError.invalidArgument(op: op, message: "\(what) \(ids[bad]) at position \(bad) is outside 0..<\(bound)")
        }
    }
}
