import Foundation
import Yams

extension TrainingArguments {
    /// The command-line spelling of the config-file flag.
    public static let configFlag = "--config"

    /// Parses Megatron-LM-style training flags (without the program or subcommand name).
    ///
    /// Accepted forms:
    /// - `--flag value` and `--flag=value` for integer, number and choice flags
    ///   (a value may start with a single `-`, as in `--seed -1`, but not with `--`);
    /// - `--switch` alone for switches (`--swiglu`), or `--switch=true|false`;
    /// - `--config FILE.yaml` (or `--config=FILE.yaml`): a YAML mapping whose keys are flag
    ///   names written `num-layers` or `num_layers`, with typed values (`num-layers: 12`,
    ///   `lr: 3.0e-4`, `normalization: RMSNorm`, `swiglu: true`; `null` keeps the default).
    ///   Several `--config` files apply in order. Flags given on the command line override
    ///   every config file, wherever they stand relative to `--config`;
    /// - `--help` / `-h` anywhere: throws ``ArgumentError/helpRequested``.
    ///
    /// A flag given twice keeps its last value. Only each value's own range is checked here
    /// (sizes positive, dropout in [0, 1), ...); relations between flags are checked later.
    ///
    /// Usage:
    /// ```swift
    /// let args = try TrainingArguments.parse(["--config", "gpt.yaml", "--num-layers=24", "--swiglu"])
    /// ```
    public static func parse(_ args: [String]) throws(ArgumentError) -> TrainingArguments {
        try parse(args, table: .standard)
    }

    /// ``parse(_:)`` against a given flag table.
    static func parse(_ args: [String], table: FlagTable) throws(ArgumentError) -> TrainingArguments {
        if args.contains(where: { $0 == "--help" || $0 == "-h" }) {
            throw .helpRequested
        }

        // First pass: read the command line into config paths and typed assignments.
        var configPaths: [String] = []
        var assignments: [(Flag, FlagValue)] = []
        var index = 0
        while index < args.count {
            let token = args[index]
            index += 1

            guard token.hasPrefix("-"), token.count > 1, Double(token) == nil else {
                throw .unexpectedPositional(token)
            }
            guard token.hasPrefix("--"), token.count > 2 else {
                // `-x`, `-num-layers`, or a lone `--`: not a flag this parser knows.
                let bare = String(token.drop { $0 == "-" })
                throw .unknownFlag(token, suggestion: table.closestFlagName(to: bare).map { "--" + $0 })
            }

            let body = token.dropFirst(2)
            let name: String
            var inlineValue: String? = nil
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                inlineValue = String(body[body.index(after: equals)...])
            } else {
                name = String(body)
            }

            /// The value after `--flag`: the `=` part, or the next argument unless it is a flag.
            func takeValue(for flagName: String, expected: String) throws(ArgumentError) -> String {
                if let inlineValue {
                    guard !inlineValue.isEmpty else {
                        throw .missingValue(flag: flagName, expected: expected)
                    }
                    return inlineValue
                }
                guard index < args.count, !args[index].hasPrefix("--") else {
                    throw .missingValue(flag: flagName, expected: expected)
                }
                defer { index += 1 }
                return args[index]
            }

            if "--" + name == configFlag {
                configPaths.append(try takeValue(for: configFlag, expected: "a YAML file path"))
                continue
            }
            guard let flag = table.flag(named: name), flag.name == name else {
                // Underscores are accepted in YAML keys only, as Megatron-LM's own parser
                // does not take them; the suggestion points at the dashed spelling.
                let suggestion = table.closestFlagName(to: name).map { "--" + $0 }
                throw .unknownFlag("--" + name, suggestion: suggestion)
            }
            if flag.kind == .boolSwitch, inlineValue == nil {
                assignments.append((flag, .bool(true)))
                continue
            }
            if case .list = flag.kind {
                // Megatron's nargs='*': every argument up to the next flag.
                var values = [try takeValue(for: flag.flag, expected: flag.kind.expectedForm)]
                while inlineValue == nil, index < args.count, !args[index].hasPrefix("--") {
                    values.append(args[index])
                    index += 1
                }
                assignments.append((flag, .strings(values)))
                continue
            }
            let text = try takeValue(for: flag.flag, expected: flag.kind.expectedForm)
            assignments.append((flag, try flag.parse(text)))
        }

        // Second pass: config files first, then the command line on top.
        var result = TrainingArguments()
        if let (_, value) = assignments.last(where: { $0.0.name == "model" }), case .string(let name) = value,
           let preset = ModelPreset(rawValue: name) {
            try applyConfig(yaml: preset.yaml, path: "preset \(name)", to: &result, table: table)
        }
        for path in configPaths {
            try applyConfigFile(atPath: path, to: &result, table: table)
        }
        for (flag, value) in assignments {
            flag.apply(value, to: &result)
        }
        return result
    }

    /// Reads a `--config` YAML file and stores its values into `arguments`.
    ///
    /// The file must hold one YAML mapping (an empty file sets nothing). Keys are flag
    /// names without dashes, `num-layers` or `num_layers`. Values must have the flag's type:
    /// an integer for integer flags; an integer or float for number flags (`3.0e-4`,
    /// `1e-5` and `3e-4` all work); a plain or quoted string from the allowed list for
    /// choice flags; a YAML bool for switches. `null` (or an empty value) leaves the field
    /// as it was.
    ///
    /// Usage: `try TrainingArguments.applyConfigFile(atPath: "gpt.yaml", to: &args)`
    public static func applyConfigFile(
        atPath path: String, to arguments: inout TrainingArguments
    ) throws(ArgumentError) {
        try applyConfigFile(atPath: path, to: &arguments, table: .standard)
    }

    static func applyConfigFile(
        atPath path: String, to arguments: inout TrainingArguments, table: FlagTable
    ) throws(ArgumentError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .configFileNotFound(path: path)
        }
        guard !isDirectory.boolValue else {
            throw .configFileUnreadable(path: path, reason: "it is a directory")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .configFileUnreadable(path: path, reason: "not readable as UTF-8 text (\(error))")
        }
        try applyConfig(yaml: text, path: path, to: &arguments, table: table)
    }

    /// Applies YAML text (the contents of a config file named `path`, used in messages).
    static func applyConfig(
        yaml text: String, path: String, to arguments: inout TrainingArguments, table: FlagTable
    ) throws(ArgumentError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw .configNotYAML(path: path, reason: String(describing: error))
        }
        guard let root else { return }  // empty document: nothing to set
        guard case .mapping(let mapping) = root else {
            throw .configNotMapping(path: path, found: describe(root))
        }

        var seen: [String: String] = [:]  // canonical flag name -> key as written
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw .configUnknownKey(path: path, key: describe(keyNode), suggestion: nil)
            }
            let key = keyScalar.string
            guard let flag = table.flag(named: key) else {
                let suggestion = table.closestFlagName(to: key).map { name in
                    // Suggest in the spelling the file uses.
                    key.contains("_") && !key.contains("-")
                        ? String(name.map { $0 == "-" ? "_" : $0 }) : name
                }
                throw .configUnknownKey(path: path, key: key, suggestion: suggestion)
            }
            if seen[flag.name] != nil {
                throw .configDuplicateKey(path: path, key: key)
            }
            seen[flag.name] = key

            guard let value = try configValue(valueNode, for: flag, key: key, path: path) else {
                continue  // null: keep the current value
            }
            guard flag.isInRange(value) else {
                throw .configValueOutOfRange(
                    path: path, key: key, value: describe(valueNode),
                    requirement: flag.range.requirement(for: flag.kind))
            }
            flag.apply(value, to: &arguments)
        }
    }

    /// The typed value of a YAML node for `flag`; nil for YAML null.
    private static func configValue(
        _ node: Node, for flag: Flag, key: String, path: String
    ) throws(ArgumentError) -> FlagValue? {
        func wrongType(_ expected: String? = nil) -> ArgumentError {
            .configInvalidValue(
                path: path, key: key, value: describe(node),
                expected: expected ?? flag.kind.expectedForm)
        }
        if case .list = flag.kind, case .sequence(let items) = node {
            var values: [String] = []
            for item in items {
                guard case .scalar(let scalar) = item else { throw wrongType() }
                values.append(scalar.string)
            }
            return .strings(values)
        }
        guard case .scalar(let scalar) = node else { throw wrongType() }
        let tag = node.tag.rawValue
        if tag == Tag.Name.null.rawValue { return nil }

        switch flag.kind {
        case .int:
            guard tag == Tag.Name.int.rawValue, let v = Int.construct(from: scalar) else {
                throw wrongType()
            }
            return .int(v)
        case .double:
            if tag == Tag.Name.int.rawValue, let v = Int.construct(from: scalar) {
                return .double(Double(v))
            }
            guard tag == Tag.Name.float.rawValue, let v = Double.construct(from: scalar) else {
                throw wrongType()
            }
            guard v.isFinite else { throw wrongType("a finite number") }
            return .double(v)
        case .choice(let allowed):
            guard tag == Tag.Name.str.rawValue, allowed.contains(scalar.string) else {
                throw wrongType()
            }
            return .string(scalar.string)
        case .boolSwitch:
            guard tag == Tag.Name.bool.rawValue, let v = Bool.construct(from: scalar) else {
                throw wrongType("a YAML bool (true or false)")
            }
            return .bool(v)
        case .text:
            return .string(scalar.string)
        case .list:
            return .strings(scalar.string.split(separator: " ").map(String.init))
        }
    }

    /// A YAML node in words, for messages: `"12" (a quoted string)`, `abc (a string)`, `a list`.
    private static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            let tag = node.tag.rawValue
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            let type: String
            switch tag {
            case Tag.Name.int.rawValue: type = "an integer"
            case Tag.Name.float.rawValue: type = "a float"
            case Tag.Name.bool.rawValue: type = "a bool"
            case Tag.Name.null.rawValue: type = "null"
            case Tag.Name.str.rawValue: type = quoted ? "a quoted string" : "a string"
            default: type = tag
            }
            return "'\(scalar.string)' (\(type))"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    // MARK: - Help

    /// `--help` text: a usage line, then every flag of ``FlagTable/standard`` by section
    /// with its value placeholder, help and default.
    ///
    /// Usage: `print(TrainingArguments.helpText(command: "megatron train"))`
    public static func helpText(command: String = "megatron train") -> String {
        let table = FlagTable.standard
        let width = 100
        let helpColumn = 36
        var lines: [String] = [
            "usage: \(command) [--config FILE.yaml] [--FLAG VALUE | --FLAG=VALUE | --SWITCH]...",
            "",
        ]
        lines += wrap(text:
            "Flags follow Megatron-LM's pretrain_gpt.py. Values may also come from a YAML mapping "
                + "given with --config, whose keys are flag names written num-layers or num_layers "
                + "(a YAML bool for switches); flags on the command line override the file. "
                + "Switches take no value; --SWITCH=false turns one off.",
            width: width)

        func entry(_ left: String, _ help: String, default defaultText: String? = nil) {
            var words = help.split(separator: " ").map(String.init)
            if let defaultText { words.append("(default: \(defaultText))") }  // never split
            let helpLines = wrap(words, width: width - helpColumn)
            var first = "  " + left
            if first.count + 2 > helpColumn {
                lines.append(first)
                first = ""
            }
            let pad = String(repeating: " ", count: helpColumn - first.count)
            for (i, line) in helpLines.enumerated() {
                if i == 0 {
                    lines.append(first + pad + line)
                } else {
                    lines.append(String(repeating: " ", count: helpColumn) + line)
                }
            }
        }

        lines += ["", "Configuration:"]
        entry("\(configFlag) FILE.yaml", "Read flag values from this YAML file (may be given more than once).")
        entry("-h, --help", "Show this help.")
        for section in FlagSection.allCases {
            let flags = table.flags.filter { $0.section == section }
            guard !flags.isEmpty else { continue }
            lines += ["", "\(section.rawValue):"]
            for flag in flags {
                let left = flag.kind.placeholder.isEmpty ? flag.flag : "\(flag.flag) \(flag.kind.placeholder)"
                entry(left, flag.help, default: flag.defaultDescription)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A GitHub-flavoured Markdown table of every flag (plus `--config`) for the README:
    /// columns Flag, Value, Default, Description; one row per flag, in help order.
    ///
    /// Usage: `try TrainingArguments.markdownFlagTable().write(toFile: "FLAGS.md", atomically: true, encoding: .utf8)`
    public static func markdownFlagTable() -> String {
        func cell(_ text: String) -> String {
            text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
        }
        var rows = [
            "| Flag | Value | Default | Description |",
            "| --- | --- | --- | --- |",
            "| `\(configFlag)` | YAML file path | none | Read flag values from a YAML mapping "
                + "(keys `num-layers` or `num_layers`); command-line flags override it. |",
        ]
        for flag in FlagTable.standard.flags {
            let value: String
            switch flag.kind {
            case .int:
                switch flag.range {
                case .positive: value = "integer ≥ 1"
                case .nonNegative: value = "integer ≥ 0"
                default: value = "integer"
                }
            case .double:
                switch flag.range {
                case .positive: value = "number > 0"
                case .nonNegative: value = "number ≥ 0"
                case .unitHalfOpen: value = "number in [0, 1)"
                case .unitClosed: value = "number in [0, 1]"
                case .any: value = "number"
                }
            case .choice(let allowed):
                value = allowed.map { "`\($0)`" }.joined(separator: ", ")
            case .boolSwitch:
                value = "switch"
            case .text(let placeholder):
                value = placeholder.lowercased()
            case .list(let placeholder):
                value = "one or more: \(placeholder.lowercased())"
            }
            let defaultText = flag.kind == .boolSwitch || flag.defaultDescription == "none"
                ? flag.defaultDescription : "`\(flag.defaultDescription)`"
            rows.append("| `\(flag.flag)` | \(cell(value)) | \(cell(defaultText)) | \(cell(flag.help)) |")
        }
        return rows.joined(separator: "\n") + "\n"
    }

    /// Greedy word wrap of `text` to `width` columns.
    private static func wrap(text: String, width: Int) -> [String] {
        wrap(text.split(separator: " ").map(String.init), width: width)
    }

    /// Greedy wrap of `words` to `width` columns (a word longer than `width` gets its own line).
    private static func wrap(_ words: [String], width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in words {
            if current.isEmpty {
                current = word
            } else if current.count + 1 + word.count <= width {
                current += " " + word
            } else {
                lines.append(current)
                current = word
            }
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }
}
