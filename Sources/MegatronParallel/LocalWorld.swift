import Foundation
import MegatronTensor

/// The ranks of one process, as threads: the world behind ``LocalProcessGroup``s (CPU training
/// with several ranks, and every equivalence test). Collectives meet at rendezvous points keyed
/// by group and call number; a rank that fails or never arrives stops the others with an error
/// naming it, within `timeout`.
///
///     let world = LocalWorld(size: 2, timeout: 60)
///     try world.run { rank in
///         let dp = world.group(ranks: [0, 1], rank: rank, name: "dp")
///         try dp.allReduce(grads, op: .sum)
///     }
public final class LocalWorld: @unchecked Sendable {
    // Sendable: every mutable field is guarded by `condition`.
    public let size: Int
    /// Seconds a member waits for the others at a collective.
    public let timeout: Double

    /// One collective call of one group: what each member brought, and who has finished with it.
    final class Meeting {
        var arrived: [Int: Contribution] = [:]
        var finished = 0
    }

    struct Contribution {
        let input: Tensor?
        let output: Tensor?
        let arguments: [Int]   // counts, root … (checked to agree where they must)
    }

    /// A point-to-point message a sender left behind: a copy of its tensor.
    struct Message {
        let bytes: [UInt8]
        let shape: Shape
        let dtype: DType
    }

    private let condition = NSCondition()
    private var meetings: [String: Meeting] = [:]
    /// Messages not yet received, oldest first, per (group, sender, receiver, channel).
    private var mailboxes: [String: [Message]] = [:]
    private var failure: (rank: Int, message: String)?

    public init(size: Int, timeout: Double = 600) {
        precondition(size >= 1, "a world has at least one rank")
        self.size = size
        self.timeout = timeout
    }

    /// The calling rank's handle on the group made of `ranks` (global ranks, in group order).
    /// Every member creates it with the same list and name.
    public func group(ranks: [Int], rank: Int, name: String) throws -> LocalProcessGroup {
        guard !ranks.isEmpty, Set(ranks).count == ranks.count, ranks.allSatisfy({ (0..<size).contains($0) }) else {
            throw ParallelError.invalidArgument(collective: "group", group: name,
                                                message: "ranks \(ranks) are not distinct ranks of a world of \(size)")
        }
        guard let index = ranks.firstIndex(of: rank) else {
            throw ParallelError.invalidArgument(collective: "group", group: name, message: "rank \(rank) is not a member of \(ranks)")
        }
        return LocalProcessGroup(world: self, members: ranks, rank: index, name: name)
    }

    /// Runs `body(rank)` on `size` threads and waits for all of them. When one throws, the
    /// others stop at their next collective (``ParallelError/peerFailed(collective:group:rank:message:)``)
    /// and the first rank's own error is rethrown.
    public func run(_ body: @escaping @Sendable (Int) throws -> Void) throws {
        let done = DispatchGroup()
        let errors = LockedErrors()
        for rank in 0..<size {
            done.enter()
            let thread = Thread { [self] in
                defer { done.leave() }
                do {
                    try body(rank)
                } catch {
                    errors.record(rank: rank, error)
                    fail(rank: rank, message: "\(error)")
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        if let first = errors.first { throw first }
    }

    /// Marks the world failed because of `rank`: every waiting or later collective throws.
    public func fail(rank: Int, message: String) {
        condition.lock()
        if failure == nil { failure = (rank, message) }
        condition.broadcast()
        condition.unlock()
    }

    /// Meets the other members at `key` (`expected` holds their world ranks, by member index,
    /// for naming the missing in a timeout); `work` then runs with every contribution
    /// (each member reads the others' inputs and writes only its own output), and the member
    /// leaves once all have finished, so no input is reused while another member reads it.
    func meet(
        key: String, member: Int, expected: [Int], collective: String, group: String,
        _ contribution: Contribution, work: ([Int: Contribution]) throws -> Void
    ) throws {
        condition.lock()
        defer { condition.unlock() }
        let meeting = meetings[key] ?? Meeting()
        meetings[key] = meeting
        meeting.arrived[member] = contribution
        condition.broadcast()
        try waitUntil(key: key, collective: collective, group: group, expected: expected) { meeting.arrived.count == expected.count }
        let contributions = meeting.arrived
        condition.unlock()
        var workError: Error?
        do { try work(contributions) } catch { workError = error }
        condition.lock()
        meeting.finished += 1
        condition.broadcast()
        if meeting.finished == expected.count { meetings[key] = nil }
        if let workError {
            throw workError
        }
        try waitUntil(key: key, collective: collective, group: group, expected: expected) { meeting.finished == expected.count }
    }

    /// Leaves `message` at the end of mailbox `key` without waiting for its receiver (a failed
    /// world stops the sender too).
    func deposit(_ message: Message, key: String, collective: String, group: String) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure {
            throw ParallelError.peerFailed(collective: collective, group: group, rank: failure.rank, message: failure.message)
        }
        mailboxes[key, default: []].append(message)
        condition.broadcast()
    }

    /// Takes the oldest message of mailbox `key`, waiting for it until the timeout (naming
    /// `sender`, a world rank) or a failure in the world.
    func collect(key: String, sender: Int, collective: String, group: String) throws -> Message {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let message = mailboxes[key]?.first {
                mailboxes[key]!.removeFirst()
                if mailboxes[key]!.isEmpty { mailboxes[key] = nil }
                return message
            }
            if let failure {
                throw ParallelError.peerFailed(collective: collective, group: group, rank: failure.rank, message: failure.message)
            }
            if !condition.wait(until: deadline), mailboxes[key] == nil {
                throw ParallelError.timeout(collective: collective, group: group, missingRanks: [sender], seconds: timeout)
            }
        }
    }

    /// Waits (holding the lock on return) until `ready`, a failure, or the timeout.
    private func waitUntil(key: String, collective: String, group: String, expected: [Int], _ ready: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !ready() {
            if let failure {
                throw ParallelError.peerFailed(collective: collective, group: group, rank: failure.rank, message: failure.message)
            }
            if !condition.wait(until: deadline), !ready() {
                let present = Set(meetings[key]?.arrived.keys.map { $0 } ?? [])
                let missing = expected.indices.filter { !present.contains($0) }.map { expected[$0] }
                throw ParallelError.timeout(collective: collective, group: group, missingRanks: missing, seconds: timeout)
            }
        }
    }
}

/// The first error of each failing rank, in the order they happened (a rank that failed on its
/// own comes before those that stopped because of it).
private final class LockedErrors: @unchecked Sendable {
    // Sendable: guarded by `lock`.
    private let lock = NSLock()
    private var errors: [Error] = []

    func record(rank: Int, _ error: Error) {
        lock.lock()
        errors.append(error)
        lock.unlock()
    }

    var first: Error? {
        lock.lock()
        defer { lock.unlock() }
        return errors.first { !($0 is ParallelError) || !"\($0)".contains("failed:") } ?? errors.first
    }
}
