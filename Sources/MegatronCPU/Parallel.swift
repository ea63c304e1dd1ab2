import Dispatch

/// Runs `body(0)`, …, `body(count - 1)` concurrently on the shared Dispatch thread pool and
/// returns when all have finished. A single iteration runs inline, sparing the pool hand-off.
///
///     parallelFor(blocks) { i in process(block: i) }
func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    guard count > 0 else { return }
    if count == 1 {
        body(0)
        return
    }
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
}

/// A mutable pointer that `parallelFor` bodies may capture. Sendability is the caller's promise:
/// concurrent iterations must write disjoint elements.
///
///     let out = SendablePointer(buffer); parallelFor(n) { i in out[i] = Float(i) }
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>

    init(_ base: UnsafeMutablePointer<T>) { self.base = base }

    subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

/// A read-only pointer shared by the threads of one parallel op.
struct SendableConstPointer<T>: @unchecked Sendable {
    let base: UnsafePointer<T>

    init(_ base: UnsafePointer<T>) { self.base = base }
}
