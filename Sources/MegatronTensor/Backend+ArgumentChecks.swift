/// Argument checks every backend's ops share, so a mismatch reads the same on any device.
extension Backend {
    /// Throws unless `t` lives on this backend's device.
    public func checkDevice(_ t: Tensor, _ op: String) throws {
        guard t.device == device else { throw TensorError.deviceMismatch(op: op, expected: device, got: t.device) }
    }

    /// Throws unless `t` holds exactly `count` elements.
    public func expectCount(_ t: Tensor, _ count: Int, _ op: String) throws {
        guard t.count == count else { throw TensorError.shapeMismatch(op: op, expected: "\(count) elements", got: t.shape) }
    }

    /// Throws unless a table of `rows` rows starting at `start` lies within a vocabulary of `size`.
    public func checkShard(_ start: Int, _ rows: Int, of size: Int, _ op: String) throws {
        guard start >= 0, start + rows <= size else {
            throw TensorError.invalidArgument(op: op, message: "vocabulary shard \(start)..<\(start + rows) lies outside 0..<\(size)")
        }
    }
}
