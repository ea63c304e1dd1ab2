import Synchronization

/// Page-locked staging for host → device uploads: values are copied into one of a few pinned
/// slots and the device copy is queued on the op stream, so an upload (a micro-batch's tokens,
/// say) neither waits for the queued kernels to finish, as a synchronous copy from pageable
/// memory does, nor stalls the kernels that follow it. A slot is reused only after the copy
/// queued from it has run (its event).
///
///     let staging = UploadStaging(context: context, slots: 4)
///     try staging.upload(tokens, to: DevicePointer(tensor.address), on: stream)
final class UploadStaging: @unchecked Sendable {
    // @unchecked: the slots are only touched under `state`'s lock.
    private struct Slot {
        var buffer: PinnedHostBuffer?
        let copied: CUDAEvent
    }

    /// Bigger uploads are not staged: 16 MiB covers a micro-batch of 2M tokens with its masks.
    static let largestStagedUpload = 16 << 20

    private let context: CUDAContext
    private let state: Mutex<(slots: [Slot], next: Int)>

    init(context: CUDAContext, slots: Int = 4) throws(CUDAError) {
        self.context = context
        var made: [Slot] = []
        for _ in 0..<slots { made.append(Slot(buffer: nil, copied: try context.makeEvent(timing: false))) }
        state = Mutex((made, 0))
    }

    /// Queues the upload of `values` to `destination` on `stream`; `values` may change as soon
    /// as this returns.
    func upload<T: BitwiseCopyable>(_ values: [T], to destination: DevicePointer, on stream: CUDAStream) throws {
        let byteCount = values.count * MemoryLayout<T>.stride
        guard byteCount > 0 else { return }
        try state.withLock { state throws in
            let i = state.next
            state.next = (i + 1) % state.slots.count
            // The copy last queued from this slot must have read it before it is overwritten.
            try state.slots[i].copied.synchronize()
            if (state.slots[i].buffer?.byteCount ?? 0) < byteCount {
                state.slots[i].buffer = nil
                state.slots[i].buffer = try PinnedHostBuffer(context: context, byteCount: byteCount)
            }
            let staging = state.slots[i].buffer!.bytes
            values.withUnsafeBytes { staging.copyMemory(from: $0) }
            try stream.copy(from: UnsafeRawBufferPointer(rebasing: staging[0..<byteCount]), to: destination)
            try state.slots[i].copied.record(on: stream)
        }
    }
}
