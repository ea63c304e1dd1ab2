import Foundation
import Synchronization

/// Stops a rank whose NCCL collectives stop completing: every collective leaves an event
/// behind it on its stream, and a background thread checks once a second that the oldest
/// unfinished one is younger than the timeout (Megatron's `--distributed-timeout-minutes`) and
/// that NCCL reports no asynchronous error (a peer that died). Otherwise it ends the process
/// with an error naming the collective — so a missing or hung peer never leaves the other ranks
/// waiting forever (`megatron launch` then stops the rest).
///
///     let watchdog = NCCLWatchdog(communicator: comm, group: "dp", timeout: 600)
///     try watchdog.track("all-reduce", after: stream)
final class NCCLWatchdog: Sendable {
    private struct Pending {
        let collective: String
        let event: CUDAEvent
        let since: Date
    }

    private let communicator: NCCLCommunicator
    /// Further communicators of the group whose asynchronous errors are checked too (a
    /// pipeline group's second point-to-point channel).
    private let others: [NCCLCommunicator]
    private let group: String
    private let timeout: Double
    private let pending = Mutex<[Pending]>([])
    /// False once stopped: no check runs after ``stopAll()`` returns.
    private let running = Mutex(true)
    /// Every watchdog of the process, for ``stopAll()``.
    private static let all = Mutex<[NCCLWatchdog]>([])

    init(communicator: NCCLCommunicator, others: [NCCLCommunicator] = [], group: String, timeout: Double) {
        self.communicator = communicator
        self.others = others
        self.group = group
        self.timeout = timeout
        let thread = Thread { [weak self] in
            while let self {
                self.check()
                Thread.sleep(forTimeInterval: 1)
            }
        }
        thread.start()
        Self.all.withLock { $0.append(self) }
    }

    /// Stops every watchdog's checks (waiting for one in progress): call before the process
    /// exits, since NCCL's and the driver's exit-time teardown must not race a check.
    static func stopAll() {
        for watchdog in all.withLock({ $0 }) { watchdog.running.withLock { $0 = false } }
    }

    /// Watches the collective just queued on `stream`.
    func track(_ collective: String, after stream: CUDAStream) throws {
        let event = try communicator.context.makeEvent(timing: false)
        try event.record(on: stream)
        pending.withLock { $0.append(Pending(collective: collective, event: event, since: Date())) }
    }

    private func check() {
        running.withLock { running in
            if running { checkNow() }
        }
    }

    private func checkNow() {
        let oldest: Pending? = pending.withLock { list in
            while let first = list.first, (try? first.event.isComplete()) == true { list.removeFirst() }
            return list.first
        }
        do {
            try communicator.checkAsyncError()
            for other in others { try other.checkAsyncError() }
        } catch {
            stop("\(oldest?.collective ?? "NCCL") on group \(group): \(error)")
        }
        if let oldest, Date().timeIntervalSince(oldest.since) > timeout {
            stop("\(oldest.collective) on group \(group) (rank \(communicator.rank) of \(communicator.size)) did not complete "
                 + "within \(Int(timeout)) s (--distributed-timeout-minutes): a peer rank is missing or hung")
        }
    }

    /// Reports, then ends the process at once: `ncclCommAbort` and exit-time handlers can block
    /// behind the hung collective (seen on H100s: the abort freed the kernels but never
    /// returned), and the operating system releases the GPU and the peers' connections anyway.
    private func stop(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        _exit(1)
    }
}
