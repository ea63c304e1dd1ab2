import Dispatch
import Foundation

/// Megatron-LM's `tools/preprocess_data.py`: the documents of a jsonl file (gzip too),
/// tokenised, written per json key as `{outputPrefix}_{key}_document.{bin,idx}` — one sequence
/// per document, the end-of-document id appended with `appendEOD`. Documents are tokenised
/// `workers` at a time and written in input order, so the output bytes do not depend on
/// `workers`.
///
///     let options = Preprocessor.Options(input: "kjv.jsonl", jsonKeys: ["text"], outputPrefix: "data/kjv", appendEOD: true)
///     let totals = try Preprocessor.run(options, tokenizer: gpt2) { print($0) }
public enum Preprocessor {
    public struct Options: Sendable {
        public var input: String
        public var jsonKeys: [String]
        public var outputPrefix: String
        public var appendEOD: Bool
        public var workers: Int
        /// Documents between progress reports (Megatron's `--log-interval`).
        public var logInterval: Int

        public init(input: String, jsonKeys: [String] = ["text"], outputPrefix: String, appendEOD: Bool = false,
                    workers: Int = 1, logInterval: Int = 1000) {
            self.input = input
            self.jsonKeys = jsonKeys
            self.outputPrefix = outputPrefix
            self.appendEOD = appendEOD
            self.workers = workers
            self.logInterval = logInterval
        }

        /// The dataset prefix written for `key`.
        public func prefix(for key: String) -> String { "\(outputPrefix)_\(key)_document" }
    }

    /// Documents and input bytes done so far, and the time they took.
    public struct Progress: Sendable, CustomStringConvertible {
        public let documents: Int
        public let bytes: Int
        public let seconds: Double

        /// Megatron's progress line.
        public var description: String {
            let s = max(seconds, 1e-9)
            return String(format: "Processed %d documents (%.1f docs/s, %.2f MB/s).", documents, Double(documents) / s,
                          Double(bytes) / s / 1_048_576)
        }
    }

    /// Tokenises every document of `options.input` and writes the datasets; `report` gets a
    /// progress line every `logInterval` documents and the totals at the end.
    @discardableResult
    public static func run(_ options: Options, tokenizer: any Tokenizer, report: (Progress) -> Void = { _ in }) throws -> Progress {
        guard options.workers >= 1 else {
            throw PreprocessError.invalid("--workers must be at least 1 (got \(options.workers))")
        }
        guard !options.jsonKeys.isEmpty else { throw PreprocessError.invalid("--json-keys needs at least one key") }
        let eod: Int? = options.appendEOD ? try tokenizer.eod ?? { throw PreprocessError.invalid("--append-eod: this tokenizer has no end-of-document id") }() : nil
        let folder = URL(fileURLWithPath: options.outputPrefix).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw PreprocessError.invalid("--output-prefix \(options.outputPrefix): cannot create the folder \(folder.path) (\(error))")
        }
        let dtype = IndexedDType.optimal(vocabSize: tokenizer.vocabSize)
        let builders = try options.jsonKeys.map { try IndexedDatasetBuilder(prefix: options.prefix(for: $0), dtype: dtype) }
        let start = Date()
        var documents = 0, bytes = 0, nextReport = options.logInterval
        var iterator = JSONLines(path: options.input, keys: options.jsonKeys).makeIterator()
        let batchSize = 256 * options.workers
        while true {
            var batch: [JSONLines.Document] = []
            batch.reserveCapacity(batchSize)
            while batch.count < batchSize, let document = iterator.next() { batch.append(document) }
            if let error = iterator.error { throw error }
            guard !batch.isEmpty else { break }
            let encoded = try encode(batch, path: options.input, tokenizer: tokenizer, workers: options.workers, eod: eod)
            for (document, ids) in zip(batch, encoded) {
                for (builder, tokens) in zip(builders, ids) {
                    try builder.add(document: tokens, lengths: tokens.isEmpty ? [] : [tokens.count])
                }
                bytes += document.byteCount
            }
            documents += batch.count
            if options.logInterval > 0, documents >= nextReport {
                report(Progress(documents: documents, bytes: bytes, seconds: Date().timeIntervalSince(start)))
                nextReport = (documents / options.logInterval + 1) * options.logInterval
            }
        }
        for builder in builders { try builder.finish() }
        let totals = Progress(documents: documents, bytes: bytes, seconds: Date().timeIntervalSince(start))
        report(totals)
        return totals
    }

    /// Each document's ids per key (with the end-of-document id on non-empty ones), tokenised
    /// on `workers` threads, in input order. Text the tokenizer cannot read is an error naming
    /// the first such line of `path`.
    private static func encode(_ batch: [JSONLines.Document], path: String, tokenizer: any Tokenizer, workers: Int,
                               eod: Int?) throws -> [[[Int]]] {
        final class Results: @unchecked Sendable {
            // Sendable: each slot is written by exactly one iteration of concurrentPerform.
            var slots: [Result<[[Int]], any Error>]
            init(_ n: Int) { slots = Array(repeating: .success([]), count: n) }
        }
        let results = Results(batch.count)
        let chunk = (batch.count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in w * chunk..<min(batch.count, (w + 1) * chunk) {
                results.slots[i] = Result {
                    try batch[i].values.map { text in
                        var ids = try tokenizer.encode(text)
                        if let eod, !ids.isEmpty { ids.append(eod) }
                        return ids
                    }
                }
            }
        }
        return try zip(batch, results.slots).map { document, slot in
            do { return try slot.get() } catch {
                throw DataFileError.malformedLine(path: path, line: document.line, message: "\(error)")
            }
        }
    }
}

/// Preprocessing options that cannot work.
public enum PreprocessError: Error, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalid(message): message
        }
    }
}
