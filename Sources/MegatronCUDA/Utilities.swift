/// Runs `body` through a standard-library API that throws untyped errors (such as
/// `Array.withUnsafeBytes`) and recovers the ``CUDAError`` it threw.
@inline(__always)
func rethrowingCUDAError<R>(_ body: () throws -> R) throws(CUDAError) -> R {
    do {
        return try body()
    } catch let error as CUDAError {
        throw error
    } catch {
        throw .invalidArgument(op: "internal", message: "unexpected error \(error)")
    }
}
