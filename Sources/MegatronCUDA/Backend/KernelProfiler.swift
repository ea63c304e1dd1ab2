import Foundation
import Synchronization

/// Per-kernel GPU times of a ``CUDABackend``: while enabled, every kernel launch and cuBLASLt
/// matmul is bracketed by two timing events, and ``report()`` sums the elapsed times per kernel
/// name. Events are recorded on the op stream, so the figures are GPU time, not host time.
///
///     backend.profiler.start()
///     _ = try trainer.step()
///     for row in try backend.profiler.report() { print(row) }
public final class KernelProfiler: Sendable {
    /// One kernel's share of the profiled work.
    public struct Row: Sendable, CustomStringConvertible {
        public let name: String
        public let calls: Int
        public let milliseconds: Double

        public var description: String {
            let mean = milliseconds * 1000 / Double(max(calls, 1))
            return String(format: "%@ %6d calls %10.3f ms %10.1f µs/call",
                          name.padding(toLength: 60, withPad: " ", startingAt: 0), calls, milliseconds, mean)
        }
    }

    private struct Pending {
        let name: String
        let start: CUDAEvent
        let end: CUDAEvent
    }

    private struct State {
        var enabled = false
        var pending: [Pending] = []
        var spare: [CUDAEvent] = []
    }

    private let context: CUDAContext
    private let state = Mutex(State())

    init(context: CUDAContext) { self.context = context }

    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Starts timing, dropping any earlier unreported records.
    public func start() {
        state.withLock { s in
            for p in s.pending { s.spare += [p.start, p.end] }
            s.pending.removeAll()
            s.enabled = true
        }
    }

    /// Runs `body` (one kernel or matmul queued on `stream`) between two events when enabled.
    func time(_ name: @autoclosure () -> String, on stream: CUDAStream, _ body: () throws -> Void) throws {
        guard isEnabled else { return try body() }
        let start = try event(), end = try event()
        try start.record(on: stream)
        try body()
        try end.record(on: stream)
        let pending = Pending(name: name(), start: start, end: end)
        state.withLock { $0.pending.append(pending) }
    }

    /// Stops timing, waits for the recorded work and returns the time per kernel name, longest first.
    public func report() throws -> [Row] {
        let pending = state.withLock { s -> [Pending] in
            s.enabled = false
            defer { s.pending.removeAll() }
            return s.pending
        }
        var totals: [String: (calls: Int, ms: Double)] = [:]
        for p in pending {
            let ms = Double(try p.end.elapsedMilliseconds(since: p.start))
            totals[p.name, default: (0, 0)].calls += 1
            totals[p.name, default: (0, 0)].ms += ms
        }
        state.withLock { s in for p in pending { s.spare += [p.start, p.end] } }
        return totals.map { Row(name: $0.key, calls: $0.value.calls, milliseconds: $0.value.ms) }
            .sorted { $0.milliseconds > $1.milliseconds }
    }

    private func event() throws -> CUDAEvent {
        if let reused = state.withLock({ $0.spare.popLast() }) { return reused }
        return try context.makeEvent(timing: true)
    }
}
