import Foundation
import MegatronCheckpoint

/// Typed access to the keys of a parsed JSON object, throwing ``HFDirectoryError`` errors that
/// name the file and the key.
///
///     let r = try HFConfigReader(data: bytes, file: "/models/llama/config.json")
///     let hidden = try r.int("hidden_size")
struct HFConfigReader {
    let object: [String: JSONValue]
    let file: String

    init(data: Data, file: String) throws(HFDirectoryError) {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .badJSON(file: file, reason: Self.reason(error))
        }
        guard case let .object(object) = value else {
            throw .badJSON(file: file, reason: "the top level is \(value.brief.prefix(40)), not an object")
        }
        self.init(object: object, file: file)
    }

    init(object: [String: JSONValue], file: String) {
        self.object = object
        self.file = file
    }

    /// True when the key is absent or JSON null.
    func isNull(_ key: String) -> Bool {
        guard let v = object[key] else { return true }
        return v == .null
    }

    func value(_ key: String) throws(HFDirectoryError) -> JSONValue {
        guard let v = object[key], v != .null else { throw .missingKey(file: file, key: key) }
        return v
    }

    func int(_ key: String) throws(HFDirectoryError) -> Int {
        switch try value(key) {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && abs(d) < 0x1p53: return Int(d)
        case let v: throw .unsupportedValue(file: file, key: key, value: v.brief, expected: "an integer")
        }
    }

    func int(_ key: String, default fallback: Int?) throws(HFDirectoryError) -> Int? {
        isNull(key) ? fallback : try int(key)
    }

    func positiveInt(_ key: String) throws(HFDirectoryError) -> Int {
        let v = try int(key)
        guard v > 0 else { throw .unsupportedValue(file: file, key: key, value: "\(v)", expected: "a positive integer") }
        return v
    }

    func double(_ key: String) throws(HFDirectoryError) -> Double {
        switch try value(key) {
        case let .int(i): return Double(i)
        case let .double(d): return d
        case let v: throw .unsupportedValue(file: file, key: key, value: v.brief, expected: "a number")
        }
    }

    func float(_ key: String, default fallback: Float) throws(HFDirectoryError) -> Float {
        isNull(key) ? fallback : Float(try double(key))
    }

    func bool(_ key: String, default fallback: Bool) throws(HFDirectoryError) -> Bool {
        if isNull(key) { return fallback }
        guard case let .bool(b) = try value(key) else {
            throw .unsupportedValue(file: file, key: key, value: try value(key).brief, expected: "true or false")
        }
        return b
    }

    func string(_ key: String) throws(HFDirectoryError) -> String {
        guard case let .string(s) = try value(key) else {
            throw .unsupportedValue(file: file, key: key, value: try value(key).brief, expected: "a string")
        }
        return s
    }

    /// Throws unless the key is absent or holds `expected` (a setting this package cannot vary).
    func require(_ key: String, equals expected: JSONValue, because reason: String) throws(HFDirectoryError) {
        guard let v = object[key], v != .null else { return }
        guard v == expected else {
            throw .unsupportedValue(file: file, key: key, value: v.brief, expected: "\(expected.brief) (\(reason))")
        }
    }

    /// The nested object at `key` (for `rope_parameters`), or nil when absent or null.
    func nested(_ key: String) throws(HFDirectoryError) -> HFConfigReader? {
        guard let v = object[key], v != .null else { return nil }
        guard case let .object(o) = v else {
            throw .unsupportedValue(file: file, key: key, value: v.brief, expected: "an object")
        }
        return HFConfigReader(object: o.mapKeys { "\(key).\($0)" }, file: file)
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case let DecodingError.dataCorrupted(context):
            context.underlyingError.map { "\($0)" } ?? context.debugDescription
        default: "\(error)"
        }
    }
}

private extension Dictionary where Key == String {
    /// The same values under renamed keys (so nested keys read as `rope_parameters.rope_type`).
    func mapKeys(_ transform: (String) -> String) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}
