import Foundation

/// Reading tokenizer files, with errors that name the file and, where it helps, the line.
enum TokenizerFiles {
    static func contents(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.file(path: path, message: "cannot be read")
        }
        return data
    }

    static func json(_ path: String) throws -> Any {
        let data = try contents(path)
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw TokenizerError.file(path: path, message: "is not valid JSON: \(error)")
        }
    }

    /// The file's lines, numbered from 1, without their line terminators.
    static func lines(_ path: String) throws -> [(number: Int, text: Substring)] {
        let data = try contents(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.file(path: path, message: "is not UTF-8")
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { i, line in
            (i + 1, line.hasSuffix("\r") ? line.dropLast() : line)
        }
    }

    /// A JSON object's field, or a `.file` error naming what is missing.
    static func field<T>(_ object: Any?, _ key: String, as: T.Type, path: String, in context: String) throws -> T {
        guard let dict = object as? [String: Any], let value = dict[key] as? T else {
            throw TokenizerError.file(path: path, message: "\(context) has no \(key) of type \(T.self)")
        }
        return value
    }
}
