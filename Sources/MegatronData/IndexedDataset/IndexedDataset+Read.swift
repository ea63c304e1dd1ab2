/// Integer types a token can be widened into (Int32 for ``TokenSequences``, Int64 for
/// ``IndexedDataset/wideTokens(sequence:offset:count:)``).
protocol TokenInteger: FixedWidthInteger & SignedInteger {}
extension Int32: TokenInteger {}
extension Int64: TokenInteger {}

extension IndexedDataset {
    /// Checks the range, then converts element by element straight from the mapping.
    func read<T: TokenInteger>(sequence: Int, offset: Int, count: Int?) throws(IndexedDatasetError) -> [T] {
        guard sequence >= 0, sequence < sequenceCount else {
            throw .tokenRangeOutOfBounds(sequence: sequence, offset: offset, count: count, sequenceCount: sequenceCount, sequenceLength: nil)
        }
        let length = Int(sequenceLengths[sequence])
        let n = count ?? (length - offset)
        guard offset >= 0, n >= 0, offset <= length, n <= length - offset else {
            throw .tokenRangeOutOfBounds(sequence: sequence, offset: offset, count: count, sequenceCount: sequenceCount, sequenceLength: length)
        }
        let start = sequenceByteOffset(sequence) + offset * dtype.size
        switch dtype {
        case .uint8: return try convert(UInt8.self, start, n)
        case .int8: return try convert(Int8.self, start, n)
        case .int16: return try convert(Int16.self, start, n)
        case .uint16: return try convert(UInt16.self, start, n)
        case .int32: return try convert(Int32.self, start, n)
        case .int64: return try convert(Int64.self, start, n)
        case .float32: return try convertFloat(UInt32.self, Float.init(bitPattern:), start, n)
        case .float64: return try convertFloat(UInt64.self, Double.init(bitPattern:), start, n)
        }
    }

    private func convert<S: FixedWidthInteger, T: TokenInteger>(_: S.Type, _ start: Int, _ n: Int) throws(IndexedDatasetError) -> [T] {
        var out = [T](); out.reserveCapacity(n)
        for i in 0..<n {
            let at = start + i * MemoryLayout<S>.size
            let value = bin.load(S.self, at: at)
            guard let token = T(exactly: value) else {
                throw .tokenNotRepresentable(path: bin.path, offset: at, value: "\(value)", dtype: dtype)
            }
            out.append(token)
        }
        return out
    }

    /// Floats are stored as their IEEE bits; only integral values that fit `T` convert.
    private func convertFloat<Bits: FixedWidthInteger, F: BinaryFloatingPoint, T: TokenInteger>(
        _: Bits.Type, _ make: (Bits) -> F, _ start: Int, _ n: Int
    ) throws(IndexedDatasetError) -> [T] {
        var out = [T](); out.reserveCapacity(n)
        for i in 0..<n {
            let at = start + i * MemoryLayout<Bits>.size
            let value = make(bin.load(Bits.self, at: at))
            guard let token = T(exactly: value) else {
                throw .tokenNotRepresentable(path: bin.path, offset: at, value: "\(value)", dtype: dtype)
            }
            out.append(token)
        }
        return out
    }
}
