import Foundation

/// Why ``TrainingArguments/parse(_:)`` rejected its input. Every case carries what a
/// person needs to fix the command line or config file; ``description`` is the message
/// to print (the same text is also `localizedDescription`).
///
/// Usage:
/// ```swift
/// do { args = try TrainingArguments.parse(argv) }
/// catch .helpRequested { print(TrainingArguments.helpText()) }
/// catch { print("error: \(error)"); exit(2) }
/// ```
public enum ArgumentError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// `--help` or `-h` was given; print ``TrainingArguments/helpText(command:)`` and stop.
    case helpRequested
    /// A flag not in ``FlagTable/standard``; `suggestion` is the closest known flag
    /// (with its leading `--`), if one is close enough.
    case unknownFlag(String, suggestion: String?)
    /// A flag that takes a value came last, or was followed by another flag.
    /// `expected` describes the value, e.g. "an integer".
    case missingValue(flag: String, expected: String)
    /// The value given to a flag does not parse as its kind.
    /// `expected` is e.g. "an integer", "a number", "one of constant, linear, cosine, ...".
    case invalidValue(flag: String, value: String, expected: String)
    /// The value parsed but lies outside the flag's allowed range;
    /// `requirement` is e.g. "must be at least 1" or "must be in [0, 1)".
    case valueOutOfRange(flag: String, value: String, requirement: String)
    /// A bare word where a `--flag` was expected (the parser takes no positional arguments).
    case unexpectedPositional(String)
    /// The file given to `--config` does not exist.
    case configFileNotFound(path: String)
    /// The file given to `--config` exists but could not be read as UTF-8 text.
    case configFileUnreadable(path: String, reason: String)
    /// The `--config` file is not valid YAML; `reason` is the YAML parser's message.
    case configNotYAML(path: String, reason: String)
    /// The `--config` file's top level is not a mapping of flag names to values;
    /// `found` names what it is instead (e.g. "a list").
    case configNotMapping(path: String, found: String)
    /// A key of the `--config` file is not a known flag (written `num-layers` or `num_layers`);
    /// `suggestion` is the closest known key, in the spelling the file used.
    case configUnknownKey(path: String, key: String, suggestion: String?)
    /// A key appears twice in the `--config` file (e.g. as `num-layers` and `num_layers`).
    case configDuplicateKey(path: String, key: String)
    /// A `--config` value has the wrong YAML type or does not parse as the flag's kind.
    /// `value` describes what was found, e.g. `"12" (a quoted string)`.
    case configInvalidValue(path: String, key: String, value: String, expected: String)
    /// A `--config` value parsed but lies outside the flag's allowed range.
    case configValueOutOfRange(path: String, key: String, value: String, requirement: String)

    /// The message to show the user.
    public var description: String {
        switch self {
        case .helpRequested:
            return "help requested"
        case let .unknownFlag(flag, suggestion):
            var message = "unknown flag '\(flag)'"
            if let suggestion { message += "; did you mean '\(suggestion)'?" }
            return message
        case let .missingValue(flag, expected):
            return "flag '\(flag)' needs a value: expected \(expected)"
        case let .invalidValue(flag, value, expected):
            return "invalid value '\(value)' for '\(flag)': expected \(expected)"
        case let .valueOutOfRange(flag, value, requirement):
            return "value '\(value)' for '\(flag)' is out of range: \(requirement)"
        case let .unexpectedPositional(word):
            return "unexpected positional argument '\(word)'; every argument must be a '--flag' "
                + "(values follow their flag, as in '--num-layers 12' or '--num-layers=12')"
        case let .configFileNotFound(path):
            return "config file '\(path)' not found"
        case let .configFileUnreadable(path, reason):
            return "config file '\(path)' could not be read: \(reason)"
        case let .configNotYAML(path, reason):
            return "config file '\(path)' is not valid YAML: \(reason)"
        case let .configNotMapping(path, found):
            return "config file '\(path)' must be a YAML mapping of flag names to values "
                + "(e.g. 'num-layers: 12'), but its top level is \(found)"
        case let .configUnknownKey(path, key, suggestion):
            var message = "config file '\(path)': unknown key '\(key)'"
            if let suggestion { message += "; did you mean '\(suggestion)'?" }
            return message
        case let .configDuplicateKey(path, key):
            return "config file '\(path)': key '\(key)' is given more than once"
        case let .configInvalidValue(path, key, value, expected):
            return "config file '\(path)': key '\(key)' has value \(value); expected \(expected)"
        case let .configValueOutOfRange(path, key, value, requirement):
            return "config file '\(path)': value \(value) of key '\(key)' is out of range: \(requirement)"
        }
    }

    /// Same as ``description``.
    public var errorDescription: String? { description }
}

// MARK: - Closest-name suggestions

/// Optimal-string-alignment (restricted Damerau–Levenshtein) distance: insertions,
/// deletions, substitutions and swaps of adjacent characters each cost 1.
func argumentEditDistance(_ a: String, _ b: String) -> Int {
    let s = Array(a), t = Array(b)
    if s.isEmpty { return t.count }
    if t.isEmpty { return s.count }
    // Three rolling rows: i-2, i-1, i.
    var twoBack = [Int](repeating: 0, count: t.count + 1)
    var previous = Array(0...t.count)
    var current = [Int](repeating: 0, count: t.count + 1)
    for i in 1...s.count {
        current[0] = i
        for j in 1...t.count {
            let cost = s[i - 1] == t[j - 1] ? 0 : 1
            var best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, s[i - 1] == t[j - 2], s[i - 2] == t[j - 1] {
                best = min(best, twoBack[j - 2] + 1)
            }
            current[j] = best
        }
        (twoBack, previous, current) = (previous, current, twoBack)
    }
    return previous[t.count]
}

/// The candidate closest to `name`, or nil when none is plausibly what was meant.
///
/// Names are compared lower-cased with `_` read as `-`. A candidate qualifies when its
/// edit distance is at most a third of the longer name (at least 1, at most 4), or, failing
/// that, when `name` is a prefix of it (e.g. `lr-warmup` → `lr-warmup-iters`); ties go to
/// the earlier candidate.
func closestArgumentName(to name: String, among candidates: [String]) -> String? {
    func normalized(_ s: String) -> String {
        String(s.lowercased().map { $0 == "_" ? "-" : $0 })
    }
    let wanted = normalized(name)
    guard !wanted.isEmpty else { return nil }
    var best: String? = nil
    var bestDistance = Int.max
    for candidate in candidates {
        let distance = argumentEditDistance(wanted, normalized(candidate))
        let limit = min(4, max(1, max(wanted.count, candidate.count) / 3))
        if distance <= limit, distance < bestDistance {
            best = candidate
            bestDistance = distance
        }
    }
    if let best { return best }
    // An unambiguous-enough abbreviation: the shortest candidate it starts.
    return candidates
        .filter { normalized($0).hasPrefix(wanted) && wanted.count >= 2 }
        .min { $0.count < $1.count }
}
