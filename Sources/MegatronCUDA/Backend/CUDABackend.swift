import MegatronTensor
import Synchronization

/// The GPU implementation of ``MegatronTensor/Backend``: every op is a kernel of
/// ``KernelSources`` (compiled with NVRTC on first use) or a cuBLASLt matmul, queued on the
/// context's legacy default stream, so work is ordered with the synchronous copies of
/// ``CUDAContext`` and with the caching allocator.
///
///     let backend = try CUDABackend(device: 0)
///     let x = try backend.tensor([1, 2, 3, 4], shape: [2, 2], dtype: .bf16)
///     print(try backend.download(x))
public final class CUDABackend: Backend {
    public let context: CUDAContext
    public let kernels: ModuleCache
    public let blas: CUBLASLt
    public let device: Device
    public let name: String
    /// The stream every op is queued on (the legacy default stream).
    let stream: CUDAStream
    /// Multiprocessor count (launch heuristics).
    let multiprocessors: Int
    /// Per-kernel GPU timing, off unless started (`megatron bench --bench-profile`).
    public let profiler: KernelProfiler
    private let sources: [String: String]
    private let functions = Mutex<[String: CUDAFunction]>([:])
    /// Functions whose dynamic shared memory limit has been raised.
    private let sharedConfigured = Mutex<Set<String>>([])
    /// Pinned slots that make uploads asynchronous on `stream`.
    private let staging: UploadStaging

    public init(device ordinal: Int = 0) throws {
        context = try CUDAContext.primary(device: ordinal)
        kernels = ModuleCache(context: context, compiler: try KernelCompiler.shared())
        blas = try CUBLASLt(context: context)
        device = .cuda(ordinal)
        name = "cuda:\(ordinal) (\(context.device.name))"
        stream = context.defaultStream
        multiprocessors = max(1, context.device.multiprocessorCount)
        profiler = KernelProfiler(context: context)
        staging = try UploadStaging(context: context)
        sources = Dictionary(KernelSources.all.map { ($0.name, $0.source) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: memory

    public func empty(_ shape: Shape, dtype: DType) throws -> Tensor {
        guard shape.dims.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument(op: "empty", message: "negative dimension in \(shape)")
        }
        return try context.allocator.makeTensor(shape, dtype: dtype)
    }

    public func fill(_ tensor: Tensor, _ value: Float) throws {
        try checkDevice(tensor, "fill")
        let n = tensor.count
        guard n > 0 else { return }
        let function: String
        switch tensor.dtype {
        case .fp32: function = "fill_f32"
        case .bf16: function = "fill_bf16"
        case .fp16: function = "fill_f16"
        case .int32: function = "fill_i32"
        case .uint16:
            try stream.memset16(DevicePointer(tensor.address), value: UInt16(value), count: n)
            return
        case .int64:
            try upload([Int64](repeating: Int64(value), count: n), raw: tensor)
            return
        }
        var args = KernelArguments()
        args.append(tensor)
        args.append(Int64(n))
        args.append(value)
        try launch("elementwise", function, flat: n, args)
    }

    public func upload(_ values: [Float], to tensor: Tensor) throws {
        try checkDevice(tensor, "upload")
        guard values.count == tensor.count else {
            throw TensorError.shapeMismatch(op: "upload", expected: "\(values.count) elements", got: tensor.shape)
        }
        switch tensor.dtype {
        case .fp32: try upload(values, raw: tensor)
        case .bf16: try upload(values.map { HalfPrecision.bf16Bits($0) }, raw: tensor)
        case .fp16: try upload(values.map { HalfPrecision.fp16Bits($0) }, raw: tensor)
        case .int32, .int64, .uint16:
            throw TensorError.unsupportedDType(op: "upload([Float])", dtype: tensor.dtype, backend: "cuda")
        }
    }

    public func upload(_ values: [Int32], to tensor: Tensor) throws {
        try checkDevice(tensor, "upload")
        guard values.count == tensor.count else {
            throw TensorError.shapeMismatch(op: "upload", expected: "\(values.count) elements", got: tensor.shape)
        }
        switch tensor.dtype {
        case .int32: try upload(values, raw: tensor)
        case .int64: try upload(values.map { Int64($0) }, raw: tensor)
        case .uint16:
            if let bad = values.firstIndex(where: { UInt16(exactly: $0) == nil }) {
                throw TensorError.invalidArgument(op: "upload", message: "value \(values[bad]) at \(bad) does not fit uint16")
            }
            try upload(values.map { UInt16(truncatingIfNeeded: $0) }, raw: tensor)
        case .fp32, .bf16, .fp16:
            throw TensorError.unsupportedDType(op: "upload([Int32])", dtype: tensor.dtype, backend: "cuda")
        }
    }

    public func download(_ tensor: Tensor) throws -> [Float] {
        try checkDevice(tensor, "download")
        let n = tensor.count
        let source = DevicePointer(tensor.address)
        guard n > 0 else { return [] }
        switch tensor.dtype {
        case .fp32: return try context.download(Float.self, count: n, from: source)
        case .bf16: return try context.download(UInt16.self, count: n, from: source).map { HalfPrecision.float(bf16Bits: $0) }
        case .fp16: return try context.download(UInt16.self, count: n, from: source).map { HalfPrecision.float(fp16Bits: $0) }
        case .int32: return try context.download(Int32.self, count: n, from: source).map { Float($0) }
        case .int64: return try context.download(Int64.self, count: n, from: source).map { Float($0) }
        case .uint16: return try context.download(UInt16.self, count: n, from: source).map { Float($0) }
        }
    }

    public func copy(_ source: Tensor, to destination: Tensor) throws {
        try checkDevice(source, "copy")
        try checkDevice(destination, "copy")
        guard source.count == destination.count else {
            throw TensorError.shapeMismatch(op: "copy", expected: "\(source.count) elements", got: destination.shape)
        }
        if source.dtype == destination.dtype {
            try stream.copy(from: DevicePointer(source.address), to: DevicePointer(destination.address), byteCount: source.byteCount)
            return
        }
        guard let s = Self.convertSuffix(source.dtype), let d = Self.convertSuffix(destination.dtype) else {
            throw TensorError.dtypeMismatch(op: "copy", expected: source.dtype, got: destination.dtype)
        }
        let n = source.count
        guard n > 0 else { return }
        var args = KernelArguments()
        args.append(source)
        args.append(destination)
        args.append(Int64(n))
        try launch("elementwise", "convert_\(s)_to_\(d)", flat: n, args)
    }

    public func synchronize() throws {
        try context.synchronize()
    }

    /// Frees cached (unused) device blocks.
    public func emptyCache() throws { try context.allocator.emptyCache() }

    private static func convertSuffix(_ dtype: DType) -> String? {
        switch dtype {
        case .fp32: "f32"
        case .bf16: "bf16"
        case .fp16: "f16"
        default: nil
        }
    }

    /// Small uploads (a micro-batch's tokens) are queued on the op stream through pinned
    /// staging, ordered with every kernel before and after without waiting for them; large
    /// one-off ones (initial weights) are copied synchronously rather than pinning their size.
    private func upload<T: BitwiseCopyable>(_ values: [T], raw tensor: Tensor) throws {
        if values.count * MemoryLayout<T>.stride <= UploadStaging.largestStagedUpload {
            try staging.upload(values, to: DevicePointer(tensor.address), on: stream)
        } else {
            try context.upload(values, to: DevicePointer(tensor.address))
        }
    }
}

// MARK: - launching and argument checking shared by the op files

extension CUDABackend {
    /// The kernel `function` of group `group` (a name of ``KernelSources/all``), compiled and
    /// loaded on first use and cached.
    func function(_ group: String, _ function: String) throws -> CUDAFunction {
        let key = group + "/" + function
        if let cached = functions.withLock({ $0[key] }) { return cached }
        guard let source = sources[group] else {
            throw TensorError.invalidArgument(op: function, message: "unknown kernel group \(group)")
        }
        let loaded = try kernels.function(function, source: source, name: group)
        return functions.withLock { functions in
            if let existing = functions[key] { return existing }
            functions[key] = loaded
            return loaded
        }
    }

    static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

    /// Dynamic shared memory a block may use without opting in.
    static let defaultSharedMemoryLimit = 48 * 1024

    /// Launches `function` of `group`; a grid with a zero dimension launches nothing. Above
    /// 48 KiB of dynamic shared memory the function's limit is raised first (once per function).
    func launch(
        _ group: String, _ name: String, grid: Dim3, block: Dim3, sharedBytes: Int = 0, _ args: KernelArguments
    ) throws {
        guard grid.x > 0, grid.y > 0, grid.z > 0 else { return }
        let f = try function(group, name)
        if sharedBytes > Self.defaultSharedMemoryLimit {
            let key = group + "/" + name
            let needed = sharedConfigured.withLock { $0.insert(key).inserted }
            if needed {
                let limit = context.device.maxSharedMemoryPerBlockOptIn
                guard sharedBytes <= limit else {
                    sharedConfigured.withLock { _ = $0.remove(key) }
                    throw TensorError.invalidArgument(
                        op: name, message: "needs \(sharedBytes) bytes of shared memory per block, the device allows \(limit)")
                }
                do {
                    try f.setMaxDynamicSharedMemory(sharedBytes)
                } catch {
                    sharedConfigured.withLock { _ = $0.remove(key) }
                    throw error
                }
            }
        }
        try profiler.time(name, on: stream) {
            try stream.launch(f, grid: grid, block: block, sharedMemoryBytes: sharedBytes, arguments: args)
        }
    }

    /// A *flat* launch over `n` elements: block 256, grid `clamp(⌈n / perBlock⌉, 1, 16·SMs)`.
    func launch(_ group: String, _ name: String, flat n: Int, perBlock: Int = 2048, _ args: KernelArguments) throws {
        guard n > 0 else { return }
        let blocks = min(max((n + perBlock - 1) / perBlock, 1), 16 * multiprocessors)
        try launch(group, name, grid: Dim3(x: blocks), block: 256, args)
    }

    /// A *row-tiled* launch over `[rows, width]`.
    func launch(_ group: String, _ name: String, rowTiled rows: Int, width: Int, _ args: KernelArguments) throws {
        guard rows > 0, width > 0 else { return }
        let units = (width + 7) / 8
        let bx = min(256, Self.roundUp(units, 32))
        let by = max(1, 256 / bx)
        let grid = Dim3(x: (units + bx - 1) / bx, y: min((rows + by - 1) / by, 65535))
        try launch(group, name, grid: grid, block: Dim3(x: bx, y: by), args)
    }

    /// A *row-group* launch over `[rows, width]`.
    func launch(_ group: String, _ name: String, rowGroup rows: Int, width: Int, _ args: KernelArguments) throws {
        guard rows > 0, width > 0 else { return }
        let units = (width + 7) / 8
        let bx = min(max(Self.roundUp((units + 3) / 4, 32), 32), 1024)
        let by = max(1, 256 / bx)
        let grid = Dim3(x: min((rows + by - 1) / by, Int(Int32.max)))
        try launch(group, name, grid: grid, block: Dim3(x: bx, y: by), args)
    }

    /// The *column-partials* split of `[rows, cols]`.
    func columnPartials(rows: Int, cols: Int) -> (tiles: Int, splits: Int, rowsPerSplit: Int) {
        let tiles = max(1, ((cols + 7) / 8 + 31) / 32)
        let splits = min(max(min((rows + 31) / 32, (4 * multiprocessors + tiles - 1) / tiles), 1), 65535)
        return (tiles, splits, (rows + splits - 1) / splits)
    }

    /// An fp32 scratch buffer of `count` floats from the caching allocator.
    func scratch(floats count: Int, _ label: String) throws -> DeviceBuffer {
        try context.allocator.allocate(byteCount: max(count, 1) * 4, label: label)
    }

    /// Runs `body` with a zeroed device `int` error flag and throws
    /// ``MegatronTensor/TensorError/invalidArgument(op:message:)`` when a kernel set it.
    func withErrorFlag(_ op: String, _ message: @autoclosure () -> String, _ body: (DevicePointer) throws -> Void) throws {
        let flag = try context.allocator.allocate(byteCount: 4, label: "\(op) error flag")
        try stream.memset32(flag.pointer, value: 0, count: 1)
        try body(flag.pointer)
        let value = try context.download(Int32.self, count: 1, from: flag.pointer)[0]
        guard value == 0 else { throw TensorError.invalidArgument(op: op, message: message()) }
    }

    /// `_f32` / `_bf16` / `_f16` kernel suffix of a compute dtype.
    func suffix(_ dtype: DType, _ op: String) throws -> String {
        switch dtype {
        case .fp32: "f32"
        case .bf16: "bf16"
        case .fp16: "f16"
        default: throw TensorError.unsupportedDType(op: op, dtype: dtype, backend: "cuda")
        }
    }

    /// Checks device and dtype.
    func expect(_ t: Tensor, _ dtype: DType, _ op: String) throws {
        try checkDevice(t, op)
        try t.expect(dtype, op)
    }

    /// Checks that every tensor is on this device with the same compute dtype (fp32, bf16 or fp16)
    /// and returns its kernel suffix.
    func computeSuffix(_ tensors: [Tensor], _ op: String) throws -> String {
        let dtype = tensors[0].dtype
        for t in tensors {
            try checkDevice(t, op)
            try t.expect(dtype, op)
        }
        return try suffix(dtype, op)
    }

    /// Checks that `value` fits a kernel's `int` argument.
    func int32(_ value: Int, _ what: String, _ op: String) throws -> Int32 {
        guard let v = Int32(exactly: value) else {
            throw TensorError.invalidArgument(op: op, message: "\(what) \(value) does not fit a 32-bit int")
        }
        return v
    }
}

