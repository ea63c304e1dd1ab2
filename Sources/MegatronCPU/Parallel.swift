import Dispatch

/// Runs `body(i)` for every i in `0..<count` on all cores and returns when all are done.
func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count == 1 { body(0); return }
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
}

/// A pointer the threads of one parallel op may share: each thread touches its own elements,
/// and `parallelFor` returns only after all of them finish.
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>

    init(_ base: UnsafeMutablePointer<T>) { self.base = base }

    subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}
