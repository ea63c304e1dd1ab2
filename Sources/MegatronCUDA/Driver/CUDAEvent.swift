import CCUDA

/// A CUDA event: a point in a stream to wait for or time.
///
///     let start = try context.makeEvent(), end = try context.makeEvent()
///     try start.record(on: stream); /* work */ try end.record(on: stream)
///     let ms = try end.elapsedMilliseconds(since: start)
public final class CUDAEvent: @unchecked Sendable {
    // Sendable: the handle is immutable; the driver's event calls are thread-safe.
    public let context: CUDAContext
    let handle: CUevent

    init(context: CUDAContext, timing: Bool) throws(CUDAError) {
        self.context = context
        try context.makeCurrent()
        handle = try context.driver.createEvent(flags: UInt32(timing ? CCUDA_EVENT_DEFAULT : CCUDA_EVENT_DISABLE_TIMING))
    }

    deinit {
        try? context.makeCurrent()
        try? context.driver.destroyEvent(handle)
    }

    /// Records the event at the current end of `stream`.
    public func record(on stream: CUDAStream) throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.recordEvent(handle, on: stream.handle)
    }

    /// Blocks until the recorded work has run.
    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.synchronizeEvent(handle)
    }

    /// Whether the recorded work has run.
    public func isComplete() throws(CUDAError) -> Bool {
        try context.makeCurrent()
        return try context.driver.queryEvent(handle)
    }

    /// Milliseconds from `start` to this event (both recorded with timing; waits for this one).
    public func elapsedMilliseconds(since start: CUDAEvent) throws(CUDAError) -> Float {
        try synchronize()
        return try context.driver.elapsedTime(from: start.handle, to: handle)
    }
}
