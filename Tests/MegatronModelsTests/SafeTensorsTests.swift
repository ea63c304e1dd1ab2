import Foundation
import MegatronCheckpoint
import Testing
import MegatronTensor

/// Assembles a safetensors file from a literal header (no padding, so the data buffer may be
/// unaligned — which is exactly what the reader must cope with) and raw buffer bytes.
private func makeFile(header: String, buffer: [UInt8], declaredLength: UInt64? = nil) -> Data {
    let headerBytes = Array(header.utf8)
    var data = Data()
    withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: headerBytes)
    data.append(contentsOf: buffer)
    return data
}

private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

@Suite("SafeTensors")
struct SafeTensorsTests {
    @Test("writer → reader round trip preserves names, shapes, values, metadata")
    func roundTrip() throws {
        var writer = SafeTensorsWriter(metadata: ["format": "pt", "note": "quote \" and \\ and\nnewline"])
        let weights: [Float] = [1.5, -2.25, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, 3.1415927]
        writer.add("layer.weight", floats: weights, shape: [2, 3])
        writer.add("ids", int32s: [0, -1, .max, .min], shape: [4])
        writer.add("scalar", floats: [42], shape: [])
        writer.add("empty", floats: [], shape: [0, 5])
        writer.add("ünïcode/name", floats: [7], shape: [1, 1])
        let data = try writer.serialized()

        // Header padded to 8 bytes so the data buffer starts aligned.
        let headerLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        #expect(headerLength % 8 == 0)
        #expect(Int(8 + headerLength) + (6 + 4 + 1 + 1) * 4 == data.count)

        let file = try SafeTensorsFile(data: data)
        #expect(file.metadata == ["format": "pt", "note": "quote \" and \\ and\nnewline"])
        // File order; the empty tensor ties with the next one at the same offset and sorts by name.
        #expect(file.names == ["layer.weight", "ids", "scalar", "empty", "ünïcode/name"])
        #expect(file.entries["layer.weight"]?.shape == [2, 3])
        #expect(file.entries["layer.weight"]?.dtype == "F32")
        #expect(file.entries["layer.weight"]?.byteRange == Int(8 + headerLength)..<Int(8 + headerLength + 24))
        #expect(try file.floats("layer.weight") == weights)
        #expect(try file.int32s("ids") == [0, -1, .max, .min])
        #expect(try file.floats("ids") == [0, -1, Float(Int32.max), Float(Int32.min)])
        #expect(file.entries["scalar"]?.shape == [])
        #expect(try file.floats("scalar") == [42])
        #expect(try file.floats("empty") == [])
        #expect(try file.floats("ünïcode/name") == [7])
        #expect(try file.rawBytes("scalar") == Data(littleEndianBytes([Float(42).bitPattern])))

        // Serialization is deterministic.
        #expect(try writer.serialized() == data)
    }

    @Test("write(to:) and init(contentsOf:) go through the file system")
    func fileRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")

        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1, 2, 3, 4], shape: [2, 2])
        try writer.write(to: url)
        // Overwriting an existing file works (atomic replace).
        writer.add("b", floats: [5], shape: [1])
        try writer.write(to: url)

        let file = try SafeTensorsFile(contentsOf: url)
        #expect(try file.floats("w") == [1, 2, 3, 4])
        #expect(try file.floats("b") == [5])
        #expect(file.metadata.isEmpty)
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"])
    }

    @Test("hand-built header: BF16, F16, F64, I64, U8, U16 decode correctly from unaligned offsets")
    func handBuiltDTypes() throws {
        // bf16: 1.0 = 0x3F80, -2.5 = 0xC020, 0x3E20 = 0.15625, +inf = 0x7F80
        let bf16: [UInt16] = [0x3F80, 0xC020, 0x3E20, 0x7F80]
        // f16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal = 0x0001 (2^-24),
        // 0.333251953125 = 0x3555, -0 = 0x8000
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x8000]
        let f64: [UInt64] = [(0.5 as Double).bitPattern, (-1e10 as Double).bitPattern]
        let i64: [Int64] = [-3, 1 << 31 - 1, -(1 << 31)]
        let u8: [UInt8] = [0, 255]
        let u16: [UInt16] = [65535]
        var buffer: [UInt8] = []
        var offsets: [String] = []
        for chunk in [littleEndianBytes(bf16), littleEndianBytes(f16), littleEndianBytes(f64),
                      littleEndianBytes(i64), u8, littleEndianBytes(u16)] {
            offsets.append("[\(buffer.count),\(buffer.count + chunk.count)]")
            buffer += chunk
        }
        // The header is deliberately left unpadded with an odd length so every tensor below
        // starts at an odd file offset, exercising the unaligned loads.
        let header = """
            {"a":{"dtype":"BF16","shape":[2,2],"data_offsets":\(offsets[0])},\
            "b":{"dtype":"F16","shape":[6],"data_offsets":\(offsets[1])},\
            "c":{"dtype":"F64","shape":[2],"data_offsets":\(offsets[2])},\
            "d":{"dtype":"I64","shape":[3],"data_offsets":\(offsets[3])},\
            "e":{"dtype":"U8","shape":[2],"data_offsets":\(offsets[4])},\
            "f":{"dtype":"U16","shape":[1,1],"data_offsets":\(offsets[5])},\
            "__metadata__":{"k":"v"}}
            """
        let padded = header.utf8.count % 2 == 0 ? header + " " : header
        #expect((8 + padded.utf8.count) % 2 == 1, "data buffer must start at an odd offset")
        let file = try SafeTensorsFile(data: makeFile(header: padded, buffer: buffer))

        #expect(file.metadata == ["k": "v"])
        #expect(try file.floats("a") == [1.0, -2.5, 0.15625, .infinity])
        let halves = try file.floats("b")
        #expect(halves[0..<5] == [1.0, -2.0, 65504, 0x1p-24, 0.333251953125])
        #expect(halves[5] == 0 && halves[5].sign == .minus)
        #expect(try file.floats("c") == [0.5, -1e10])
        #expect(try file.int32s("d") == [-3, .max, .min])
        #expect(try file.floats("d") == [-3, 2147483648, -2147483648])
        #expect(try file.floats("e") == [0, 255])
        #expect(try file.int32s("e") == [0, 255])
        #expect(try file.floats("f") == [65535])
        #expect(file.entries["f"]?.shape == [1, 1])
    }

    #if !(os(macOS) && arch(x86_64))  // Float16 is unavailable on Intel macOS.
    @Test("every F16 bit pattern decodes like Swift's Float16")
    func allHalfPatterns() throws {
        let patterns = (0...UInt16.max).map { $0 }
        var writer = SafeTensorsWriter()
        writer.add("h", rawBytes: Data(littleEndianBytes(patterns)), dtype: "F16", shape: [patterns.count])
        let decoded = try SafeTensorsFile(data: writer.serialized()).floats("h")
        #expect(decoded.count == 65536)
        var mismatches = 0
        for (bits, value) in zip(patterns, decoded) {
            let expected = Float(Float16(bitPattern: bits))
            let same = expected.isNaN ? value.isNaN : expected.bitPattern == value.bitPattern
            if !same { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
    #endif

    // MARK: Corrupt input

    @Test("fewer than 8 bytes → truncatedHeader")
    func tooShort() {
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: Data([1, 0, 0])) }
        guard case .truncatedHeader(_, 3, nil) = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
    }

    @Test("declared header length past end of file → truncatedHeader")
    func headerPastEnd() {
        let data = makeFile(header: "{}", buffer: [], declaredLength: 50)
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: data) }
        guard case .truncatedHeader(_, 10, 50) = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
    }

    @Test("absurd header length → headerTooLarge")
    func headerTooLarge() {
        let data = makeFile(header: "{}", buffer: [], declaredLength: .max)
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: data) }
        guard case .headerTooLarge = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
    }

    @Test("file truncated inside the data buffer → offsetsOutOfRange")
    func truncatedData() throws {
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1, 2, 3, 4], shape: [4])
        let data = try writer.serialized().dropLast(3)
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: data) }
        guard case .offsetsOutOfRange("<memory>", "w", [0, 16], 13) = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
    }

    @Test("offsets past the end, reversed, or malformed → offsetsOutOfRange")
    func offsetsOutOfRange() {
        for offsets in ["[0,8]", "[4,0]", "[-4,0]", "[0]", "[0,4,8]"] {
            let data = makeFile(
                header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":\#(offsets)}}"#, buffer: [0, 0, 0, 0])
            let error = #expect(throws: SafeTensorsError.self, "offsets \(offsets)") { try SafeTensorsFile(data: data) }
            guard case .offsetsOutOfRange(_, "x", _, 4) = error else {
                Issue.record("offsets \(offsets): wrong error: \(String(describing: error))")
                continue
            }
        }
    }

    @Test("shape × dtype size disagreeing with the byte range → sizeMismatch")
    func shapeMismatch() {
        let data = makeFile(
            header: #"{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#, buffer: Array(repeating: 0, count: 16))
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: data) }
        guard case .sizeMismatch(_, "x", "F32", [2, 3], 24, 16) = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("'x'") == true)
    }

    @Test("overflowing or negative shapes are rejected, not trapped on")
    func hostileShapes() {
        for shape in ["[4611686018427387904,4]", "[-1,-4]", "[99999999999999999999999]"] {
            let data = makeFile(
                header: #"{"x":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,16]}}"#,
                buffer: Array(repeating: 0, count: 16))
            let error = #expect(throws: SafeTensorsError.self, "shape \(shape)") { try SafeTensorsFile(data: data) }
            guard case .badJSON = error else {
                Issue.record("shape \(shape): wrong error: \(String(describing: error))")
                continue
            }
        }
    }

    @Test("overlapping tensors → overlappingOffsets")
    func overlapping() {
        let data = makeFile(
            header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            buffer: Array(repeating: 0, count: 8))
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: data) }
        guard case .overlappingOffsets(_, "b", "a") = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
    }

    @Test("malformed JSON, wrong structure, non-string metadata → badJSON")
    func badJSON() {
        let headers = [
            "{\"x\":",  // not JSON
            "[]",  // not an object
            #"{"x":{"dtype":"F32","shape":[1]}}"#,  // missing data_offsets
            #"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,  // fractional dim
            #"{"__metadata__":{"n":1}}"#,  // metadata values must be strings
        ]
        for header in headers {
            let error = #expect(throws: SafeTensorsError.self, "\(header)") {
                try SafeTensorsFile(data: makeFile(header: header, buffer: [0, 0, 0, 0]))
            }
            guard case .badJSON = error else {
                Issue.record("\(header): wrong error: \(String(describing: error))")
                continue
            }
        }
        var invalidUTF8 = makeFile(header: "{\"\u{e9}\":1}", buffer: [])
        invalidUTF8[10] = 0xFF
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: invalidUTF8) }
    }

    @Test("accessor errors: unknown tensor, unsupported dtype, I64 out of Int32 range")
    func accessorErrors() throws {
        let header = #"{"flag":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},"big":{"dtype":"I64","shape":[2],"data_offsets":[2,18]},"f":{"dtype":"F32","shape":[],"data_offsets":[18,22]}}"#
        let buffer: [UInt8] = [1, 0] + littleEndianBytes([Int64(5), Int64(1) << 40]) + littleEndianBytes([Float(1).bitPattern])
        let file = try SafeTensorsFile(data: makeFile(header: header, buffer: buffer))

        let unknown = #expect(throws: SafeTensorsError.self) { try file.floats("nope") }
        guard case .unknownTensor(_, "nope", 3) = unknown else {
            Issue.record("wrong error: \(String(describing: unknown))")
            return
        }
        let dtype = #expect(throws: SafeTensorsError.self) { try file.floats("flag") }
        guard case .unsupportedDType(_, "flag", "BOOL", _) = dtype else {
            Issue.record("wrong error: \(String(describing: dtype))")
            return
        }
        let floatAsInt = #expect(throws: SafeTensorsError.self) { try file.int32s("f") }
        guard case .unsupportedDType(_, "f", "F32", _) = floatAsInt else {
            Issue.record("wrong error: \(String(describing: floatAsInt))")
            return
        }
        let range = #expect(throws: SafeTensorsError.self) { try file.int32s("big") }
        guard case .valueOutOfRange(_, "big", 1, "1099511627776", "Int32") = range else {
            Issue.record("wrong error: \(String(describing: range))")
            return
        }
        #expect(try file.rawBytes("flag") == Data([1, 0]))
        #expect(try file.floats("big") == [5, 1_099_511_627_776])
    }

    @Test("writer rejects duplicate/reserved names and count/shape mismatches")
    func writerErrors() {
        var duplicate = SafeTensorsWriter()
        duplicate.add("w", floats: [1], shape: [1])
        duplicate.add("w", floats: [2], shape: [1])
        let dupError = #expect(throws: SafeTensorsError.self) { try duplicate.serialized() }
        guard case .invalidTensor("w", _) = dupError else {
            Issue.record("wrong error: \(String(describing: dupError))")
            return
        }

        var reserved = SafeTensorsWriter()
        reserved.add("__metadata__", floats: [1], shape: [1])
        #expect(throws: SafeTensorsError.self) { try reserved.serialized() }

        var mismatch = SafeTensorsWriter()
        mismatch.add("m", int32s: [1, 2, 3], shape: [2, 2])
        let sizeError = #expect(throws: SafeTensorsError.self) { try mismatch.serialized() }
        guard case .sizeMismatch("<writer>", "m", "I32", [2, 2], 16, 12) = sizeError else {
            Issue.record("wrong error: \(String(describing: sizeError))")
            return
        }
    }

    @Test("I/O failures → io")
    func ioErrors() {
        let missing = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/x.safetensors")
        let readError = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: missing) }
        guard case .io(let path, _) = readError, path == missing.path else {
            Issue.record("wrong error: \(String(describing: readError))")
            return
        }
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1], shape: [1])
        let writeError = #expect(throws: SafeTensorsError.self) { try writer.write(to: missing) }
        guard case .io = writeError else {
            Issue.record("wrong error: \(String(describing: writeError))")
            return
        }
    }

    @Test("randomly corrupted files throw or parse, never crash")
    func fuzz() throws {
        var writer = SafeTensorsWriter(metadata: ["a": "b"])
        writer.add("x", floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        writer.add("y", int32s: [7, 8], shape: [2])
        let original = try writer.serialized()
        var rng = SplitMix64(seed: 1234)
        for _ in 0..<2000 {
            var data = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let index = Int.random(in: 0..<data.count, using: &rng)
                data[index] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) {
                data = data.prefix(Int.random(in: 0...data.count, using: &rng))
            }
            guard let file = try? SafeTensorsFile(data: data) else { continue }
            for name in file.entries.keys {
                _ = try? file.floats(name)
                _ = try? file.int32s(name)
                _ = try? file.rawBytes(name)
            }
        }
    }

    @Test("Data slices with a non-zero start index parse correctly")
    func sliceInput() throws {
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [9, 8], shape: [2])
        let padded = Data([0xAA, 0xBB, 0xCC]) + (try writer.serialized())
        let slice = padded[3...]
        #expect(slice.startIndex == 3)
        let file = try SafeTensorsFile(data: slice)
        #expect(try file.floats("w") == [9, 8])
        #expect(try file.rawBytes("w") == Data(littleEndianBytes([Float(9).bitPattern, Float(8).bitPattern])))
    }
}
