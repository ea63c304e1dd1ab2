import Foundation

/// The documents of a jsonl file (one JSON object per line; gzip-compressed files too), as
/// Megatron's `tools/preprocess_data.py` reads them: the string value of each of `keys`.
///
///     for try document in JSONLines(path: "corpus.jsonl", keys: ["text"]) { … document["text"] … }
public struct JSONLines: Sequence {
    public let path: String
    public let keys: [String]

    public init(path: String, keys: [String]) {
        self.path = path
        self.keys = keys
    }

    /// One line's values for the keys, in `keys` order, its 1-based line number and its size.
    public struct Document: Sendable {
        public let line: Int
        public let values: [String]
        /// Bytes of the line in the (decompressed) input.
        public let byteCount: Int
    }

    public func makeIterator() -> Iterator { Iterator(path: path, keys: keys) }

    /// Reads the file in 1 MiB chunks; `next()` returns nil at the end and stores an error in
    /// ``error`` instead of returning a document when the file or a line is bad.
    public struct Iterator: IteratorProtocol {
        let path: String
        let keys: [String]
        private var reader: GzipReader?
        private var pending: [UInt8] = []
        private var start = 0
        private var line = 0
        private var finished = false
        /// Why iteration stopped early (nil after a complete file).
        public private(set) var error: DataFileError?

        init(path: String, keys: [String]) {
            self.path = path
            self.keys = keys
            do { reader = try GzipReader(path: path) } catch { self.error = error; finished = true }
        }

        public mutating func next() -> Document? {
            while !finished {
                if let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    let bytes = pending[start..<newline]
                    start = newline + 1
                    line += 1
                    if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }  // blank line
                    return parse(bytes)
                }
                do {
                    pending.removeFirst(start)
                    start = 0
                    if let chunk = try reader?.read(maxBytes: 1 << 20) {
                        pending += chunk
                    } else if !pending.isEmpty {
                        pending.append(UInt8(ascii: "\n"))  // a last line without a newline
                    } else {
                        finished = true
                    }
                } catch {
                    self.error = error
                    finished = true
                }
            }
            return nil
        }

        private mutating func parse(_ bytes: ArraySlice<UInt8>) -> Document? {
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(bytes))
            } catch {
                return fail("not valid JSON (expected one JSON object per line)")
            }
            guard let dictionary = object as? [String: Any] else { return fail("expected a JSON object") }
            var values: [String] = []
            for key in keys {
                guard let value = dictionary[key] else { return fail("no key \"\(key)\" (--json-keys)") }
                guard let text = value as? String else { return fail("the value of \"\(key)\" is not a string") }
                values.append(text)
            }
            return Document(line: line, values: values, byteCount: bytes.count + 1)
        }

        private mutating func fail(_ message: String) -> Document? {
            error = .malformedLine(path: path, line: line, message: message)
            finished = true
            return nil
        }
    }
}
