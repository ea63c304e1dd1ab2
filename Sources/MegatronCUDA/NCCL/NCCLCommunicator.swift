import CCUDA
import MegatronTensor
import Synchronization

/// Layer 3: an NCCL communicator for one rank on one device; destroyed on deinit.
///
/// Collectives are queued on the given stream and return at once. Buffers are device
/// pointers; counts are elements of `dtype`.
///
///     // every rank, with the id rank 0 made and shared:
///     let comm = try NCCLCommunicator(context: context, uniqueID: id, rank: rank, size: worldSize)
///     try comm.allReduce(send: grads, receive: grads, count: n, dtype: .fp32, stream: stream)
public final class NCCLCommunicator: @unchecked Sendable {
    // Sendable: the handle is immutable. NCCL allows one communicator to be used from one thread
    // at a time; a rank owns its communicator.
    public let context: CUDAContext
    public let library: NCCLLibrary
    public let rank: Int
    public let size: Int
    let comm: ncclComm_t
    private let aborted = Atomic<Bool>(false)

    /// Joins the communicator `uniqueID` as `rank` of `size` (blocks until every rank has joined).
    public init(
        context: CUDAContext, uniqueID: NCCLUniqueID, rank: Int, size: Int, library: NCCLLibrary? = nil
    ) throws(CUDAError) {
        let library = try NCCLLibrary.given(library)
        guard size > 0, rank >= 0, rank < size else {
            throw .invalidArgument(op: "ncclCommInitRank", message: "rank \(rank) of \(size)")
        }
        try context.makeCurrent()
        var comm: ncclComm_t?
        // ncclUniqueId goes BY VALUE (a 128-byte struct), as nccl.h declares it.
        try library.check(
            library.require(library.symbols.ncclCommInitRank, "ncclCommInitRank")(&comm, Int32(size), uniqueID.cValue, Int32(rank)),
            "ncclCommInitRank(rank \(rank) of \(size), device \(context.device.ordinal))")
        guard let comm else {
            throw .nccl(call: "ncclCommInitRank returned no communicator", result: library.resultCode(3), detail: nil)
        }
        self.context = context
        self.library = library
        self.rank = rank
        self.size = size
        self.comm = comm
    }

    private init(context: CUDAContext, library: NCCLLibrary, rank: Int, size: Int, comm: ncclComm_t) {
        self.context = context
        self.library = library
        self.rank = rank
        self.size = size
        self.comm = comm
    }

    /// The communicator of the members that pass the same `color` (every member of this one
    /// must call it, in the same order), in which this member is `rank` of `size`
    /// (`ncclCommSplit`, NCCL ≥ 2.18; the caller knows the layout).
    ///
    ///     let tp = try world.split(color: rank / 2, rank: rank % 2, size: 2)   // pairs of adjacent ranks
    public func split(color: Int, rank: Int, size: Int) throws(CUDAError) -> NCCLCommunicator {
        guard size > 0, rank >= 0, rank < size else {
            throw .invalidArgument(op: "ncclCommSplit", message: "rank \(rank) of \(size)")
        }
        try context.makeCurrent()
        var child: ncclComm_t?
        try library.check(
            library.require(library.symbols.ncclCommSplit, "ncclCommSplit")(comm, Int32(color), Int32(rank), &child, nil),
            "ncclCommSplit(color \(color), rank \(rank) of \(size))", comm: comm)
        guard let child else {
            throw .nccl(call: "ncclCommSplit returned no communicator", result: library.resultCode(3), detail: nil)
        }
        return NCCLCommunicator(context: context, library: library, rank: rank, size: size, comm: child)
    }

    /// Takes part in a split that makes groups this member is in none of (`NCCL_SPLIT_NOCOLOR`;
    /// Megatron's embedding group on a middle pipeline stage): every member of this communicator
    /// calls ``split(color:rank:size:)`` or this, in the same order.
    public func splitExcluded() throws(CUDAError) {
        try context.makeCurrent()
        var child: ncclComm_t?
        try library.check(
            library.require(library.symbols.ncclCommSplit, "ncclCommSplit")(comm, -1, Int32(rank), &child, nil),
            "ncclCommSplit(no color, rank \(rank) of \(size))", comm: comm)
        if let child { _ = library.symbols.ncclCommDestroy?(child) }   // NCCL returns none for no color
    }

    /// One communicator per context, all in this process (`ncclCommInitAll`); rank i uses
    /// `contexts[i]`.
    public static func makeAll(contexts: [CUDAContext], library: NCCLLibrary? = nil) throws(CUDAError) -> [NCCLCommunicator] {
        let library = try NCCLLibrary.given(library)
        guard !contexts.isEmpty else { return [] }
        var comms = [ncclComm_t?](repeating: nil, count: contexts.count)
        let devices = contexts.map { Int32($0.device.ordinal) }
        try contexts[0].makeCurrent()
        try library.check(
            library.require(library.symbols.ncclCommInitAll, "ncclCommInitAll")(&comms, Int32(contexts.count), devices),
            "ncclCommInitAll(devices \(devices))")
        var result: [NCCLCommunicator] = []
        for (rank, comm) in comms.enumerated() {
            guard let comm else {
                throw .nccl(call: "ncclCommInitAll returned no communicator for rank \(rank)", result: library.resultCode(3), detail: nil)
            }
            result.append(NCCLCommunicator(context: contexts[rank], library: library, rank: rank, size: contexts.count, comm: comm))
        }
        return result
    }

    deinit {
        guard !aborted.load(ordering: .acquiring) else { return }  // ncclCommAbort freed it
        try? context.makeCurrent()
        _ = library.symbols.ncclCommDestroy?(comm)
    }

    private func type(_ dtype: DType, _ op: String) throws(CUDAError) -> ncclDataType_t {
        guard let type = dtype.ncclDataType else {
            throw .invalidArgument(op: op, message: "NCCL has no \(dtype) type")
        }
        return type
    }

    /// `receive = reduce(send)` over all ranks (in place when the pointers are equal).
    public func allReduce(
        send: DevicePointer, receive: DevicePointer, count: Int, dtype: DType, op: NCCLReduction = .sum, stream: CUDAStream
    ) throws(CUDAError) {
        let f = try library.require(library.symbols.ncclAllReduce, "ncclAllReduce")
        try context.makeCurrent()
        try library.check(f(send.address, receive.address, count, type(dtype, "ncclAllReduce"), op.rawValue, comm, stream.handle),
                          "ncclAllReduce(\(count) \(dtype), rank \(rank) of \(size))", comm: comm)
    }

    /// Every rank receives `root`'s `count` elements.
    public func broadcast(
        send: DevicePointer, receive: DevicePointer, count: Int, dtype: DType, root: Int, stream: CUDAStream
    ) throws(CUDAError) {
        let f = try library.require(library.symbols.ncclBroadcast, "ncclBroadcast")
        try context.makeCurrent()
        try library.check(f(send.address, receive.address, count, type(dtype, "ncclBroadcast"), Int32(root), comm, stream.handle),
                          "ncclBroadcast(\(count) \(dtype), root \(root), rank \(rank) of \(size))", comm: comm)
    }

    /// Rank r receives block r (of `receiveCount` elements) of the reduction of `send`
    /// (`size · receiveCount` elements).
    public func reduceScatter(
        send: DevicePointer, receive: DevicePointer, receiveCount: Int, dtype: DType, op: NCCLReduction = .sum,
        stream: CUDAStream
    ) throws(CUDAError) {
        let f = try library.require(library.symbols.ncclReduceScatter, "ncclReduceScatter")
        try context.makeCurrent()
        try library.check(
            f(send.address, receive.address, receiveCount, type(dtype, "ncclReduceScatter"), op.rawValue, comm, stream.handle),
            "ncclReduceScatter(\(receiveCount) \(dtype) per rank, rank \(rank) of \(size))", comm: comm)
    }

    /// `receive` (`size · sendCount` elements) gets every rank's `send`, in rank order.
    public func allGather(
        send: DevicePointer, receive: DevicePointer, sendCount: Int, dtype: DType, stream: CUDAStream
    ) throws(CUDAError) {
        let f = try library.require(library.symbols.ncclAllGather, "ncclAllGather")
        try context.makeCurrent()
        try library.check(f(send.address, receive.address, sendCount, type(dtype, "ncclAllGather"), comm, stream.handle),
                          "ncclAllGather(\(sendCount) \(dtype) per rank, rank \(rank) of \(size))", comm: comm)
    }

    /// Point-to-point send to `peer` (pair with the peer's ``receive(into:count:dtype:from:stream:)``;
    /// wrap both directions in ``NCCLLibrary/group(_:)`` to avoid deadlock).
    public func send(_ buffer: DevicePointer, count: Int, dtype: DType, to peer: Int, stream: CUDAStream) throws(CUDAError) {
        let f = try library.require(library.symbols.ncclSend, "ncclSend")
        try context.makeCurrent()
        try library.check(f(buffer.address, count, type(dtype, "ncclSend"), Int32(peer), comm, stream.handle),
                          "ncclSend(\(count) \(dtype), rank \(rank) → \(peer))", comm: comm)
    }

    /// Point-to-point receive from `peer`.
    public func receive(into buffer: DevicePointer, count: Int, dtype: DType, from peer: Int, stream: CUDAStream) throws(CUDAError) {
        let f = try library.require(library.symbols.ncclRecv, "ncclRecv")
        try context.makeCurrent()
        try library.check(f(buffer.address, count, type(dtype, "ncclRecv"), Int32(peer), comm, stream.handle),
                          "ncclRecv(\(count) \(dtype), rank \(rank) ← \(peer))", comm: comm)
    }

    /// Throws the communicator's asynchronous error, if any (a peer failed, a timeout …).
    public func checkAsyncError() throws(CUDAError) {
        guard let get = library.symbols.ncclCommGetAsyncError else { return }
        var asyncError: ncclResult_t = 0
        try library.check(get(comm, &asyncError), "ncclCommGetAsyncError", comm: comm)
        try library.check(asyncError, "NCCL asynchronous error (rank \(rank) of \(size))", comm: comm)
    }

    /// Aborts in-flight operations (after an error, so the process can exit without hanging).
    public func abort() {
        guard !aborted.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = library.symbols.ncclCommAbort?(comm)
    }
}
