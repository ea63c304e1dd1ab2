import Foundation
import MegatronCheckpoint

/// Hugging Face's JSON as Python writes it: `config.json` and `model.safetensors.index.json`
/// keep `"hidden_size": 32` and `"rope_theta": 10000.0` apart (``JSONValue`` decodes integers
/// and fractional numbers into different cases), and are written back as `json.dumps` would.
///
///     let value = try JSONDecoder().decode(JSONValue.self, from: data)
///     let text = value.pythonJSON()      // json.dumps(value, indent=2, sort_keys=True) + "\n"
extension JSONValue {
    /// The value for a Float setting, written as its shortest decimal (`1e-05`, not `9.99999974e-06`).
    static func float(_ value: Float) -> JSONValue { .double(Double("\(value)") ?? Double(value)) }

    /// A short rendering for error messages: the JSON text on one line.
    var brief: String {
        switch self {
        case .null: "null"
        case let .bool(b): b ? "true" : "false"
        case let .int(i): "\(i)"
        case let .double(d): Self.number(d)
        case let .string(s): Self.quoted(s)
        case let .array(a): "[" + a.map(\.brief).joined(separator: ", ") + "]"
        case let .object(o): "{" + o.keys.sorted().map { "\(Self.quoted($0)): \((o[$0] ?? .null).brief)" }.joined(separator: ", ") + "}"
        }
    }

    /// The text Python's `json.dumps(value, indent=2, sort_keys=True) + "\n"` writes, which is
    /// how `transformers` writes `config.json` and the shard index.
    func pythonJSON() -> String {
        var out = ""
        write(into: &out, indent: 0)
        return out + "\n"
    }

    private func write(into out: inout String, indent: Int) {
        let pad = String(repeating: " ", count: indent + 2), close = String(repeating: " ", count: indent)
        switch self {
        case let .array(a) where !a.isEmpty:
            out += "[\n"
            for (i, v) in a.enumerated() {
                out += pad
                v.write(into: &out, indent: indent + 2)
                out += i + 1 < a.count ? ",\n" : "\n"
            }
            out += close + "]"
        case let .object(o) where !o.isEmpty:
            out += "{\n"
            let keys = o.keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
            for (i, k) in keys.enumerated() {
                out += pad + Self.quoted(k) + ": "
                (o[k] ?? .null).write(into: &out, indent: indent + 2)
                out += i + 1 < keys.count ? ",\n" : "\n"
            }
            out += close + "}"
        case .array: out += "[]"
        case .object: out += "{}"
        default: out += brief
        }
    }

    /// Python's `repr` of a float: the shortest round-tripping decimal, `.0` on whole numbers,
    /// exponent form below 1e-4 and from 1e16 (`1e-05`, `1e+16`), which is what Swift prints too.
    private static func number(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return "\(d)"
    }

    /// A JSON string literal with non-ASCII characters escaped, as Python's `ensure_ascii`.
    private static func quoted(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return out + "\""
    }
}
