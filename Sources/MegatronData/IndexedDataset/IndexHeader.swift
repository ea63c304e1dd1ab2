/// The fixed 34-byte head of an `.idx` file and where its three arrays lie, checked against the
/// file size before anything reads an array (so later unchecked loads stay in bounds).
struct IndexHeader: Equatable {
    static let magic: [UInt8] = Array("MMIDIDX".utf8) + [0, 0]
    static let version: UInt64 = 1
    /// Bytes before the arrays: magic 9 + version 8 + dtype 1 + two counts 8 each.
    static let size = 34

    let dtype: IndexedDType
    let sequenceCount: Int
    /// Entries in the document-index array: documents + 1.
    let documentIndexCount: Int

    var lengthsOffset: Int { Self.size }
    var pointersOffset: Int { Self.size + 4 * sequenceCount }
    var documentIndicesOffset: Int { Self.size + 12 * sequenceCount }

    /// Parses and checks the header of `file`; its arrays are then known to fit in the file.
    init(of file: MappedFile) throws(IndexedDatasetError) {
        let path = file.path
        func need(_ field: String, _ offset: Int, _ count: Int) throws(IndexedDatasetError) {
            if file.size < offset + count {
                throw .truncated(path: path, field: field, offset: offset, needed: count, fileSize: file.size)
            }
        }
        try need("magic", 0, 9)
        let magic = Array(file.bytes[0..<9])
        guard magic == Self.magic else { throw .badMagic(path: path, found: magic) }
        try need("version", 9, 8)
        let version = file.load(UInt64.self, at: 9)
        guard version == Self.version else { throw .unsupportedVersion(path: path, found: version) }
        try need("dtype code", 17, 1)
        let code = file.load(UInt8.self, at: 17)
        guard let dtype = IndexedDType(rawValue: code) else { throw .unknownDType(path: path, code: code) }
        try need("sequence and document counts", 18, 16)
        let n = file.load(UInt64.self, at: 18), d = file.load(UInt64.self, at: 26)

        // 34 + 12 N + 8 D in UInt64 with overflow checks: a flipped high bit in a count must
        // give an error, not a trap or a wrapped size that passes the check.
        let (n12, o1) = n.multipliedReportingOverflow(by: 12)
        let (d8, o2) = d.multipliedReportingOverflow(by: 8)
        let (arrays, o3) = n12.addingReportingOverflow(d8)
        let (required, o4) = arrays.addingReportingOverflow(UInt64(Self.size))
        let overflow = o1 || o2 || o3 || o4
        // Trailing bytes are allowed: multimodal datasets append an i8 mode per sequence.
        guard !overflow, required <= UInt64(file.size) else {
            throw .countsExceedFile(path: path, sequenceCount: n, documentCount: d,
                                    requiredBytes: overflow ? nil : required, fileSize: file.size)
        }
        self.dtype = dtype
        sequenceCount = Int(n)
        documentIndexCount = Int(d)
    }
}
