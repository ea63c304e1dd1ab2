/// How a flag's value is written.
public enum FlagKind: Sendable, Equatable {
    /// A decimal integer, e.g. `--num-layers 12`.
    case int
    /// A decimal floating-point number, e.g. `--lr 3e-4`.
    case double
    /// One of a fixed set of strings (matched exactly, case included), e.g. `--normalization RMSNorm`.
    case choice([String])
    /// A switch: present means on (`--swiglu`). `--swiglu=false` and, in YAML, `swiglu: false`
    /// turn it off.
    case boolSwitch
    /// Free text such as a path, e.g. `--vocab-file gpt2/vocab.json`; `placeholder` names it in help.
    case text(placeholder: String)
    /// One or more values up to the next flag, e.g. `--data-path 0.3 a_text_document 0.7 b_text_document`
    /// (a YAML list, or one string split at spaces, in a config file).
    case list(placeholder: String)

    /// What a value must look like, for error messages: "an integer", "one of a, b, c", ...
    public var expectedForm: String {
        switch self {
        case .int: return "an integer"
        case .double: return "a number"
        case .choice(let values): return "one of " + values.joined(separator: ", ")
        case .boolSwitch: return "true or false"
        case .text(let placeholder): return "a \(placeholder.lowercased())"
        case .list(let placeholder): return "one or more \(placeholder.lowercased()) values"
        }
    }

    /// Placeholder shown after the flag in `--help`, e.g. `INT`, `FLOAT`, `{LayerNorm,RMSNorm}`;
    /// empty for switches.
    public var placeholder: String {
        switch self {
        case .int: return "INT"
        case .double: return "FLOAT"
        case .choice(let values): return "{" + values.joined(separator: ",") + "}"
        case .boolSwitch: return ""
        case .text(let placeholder): return placeholder
        case .list(let placeholder): return "\(placeholder) [\(placeholder) ...]"
        }
    }
}

/// The values a flag accepts once its value has parsed.
public enum FlagRange: Sendable, Equatable {
    /// Any value of the kind.
    case any
    /// Greater than zero (an integer: at least 1).
    case positive
    /// Zero or greater.
    case nonNegative
    /// A probability that excludes 1: `0 <= x < 1`.
    case unitHalfOpen
    /// A fraction: `0 <= x <= 1`.
    case unitClosed

    /// Whether `value` lies in the range.
    public func contains(_ value: Double) -> Bool {
        switch self {
        case .any: return true
        case .positive: return value > 0
        case .nonNegative: return value >= 0
        case .unitHalfOpen: return value >= 0 && value < 1
        case .unitClosed: return value >= 0 && value <= 1
        }
    }

    /// Whether `value` lies in the range.
    public func contains(_ value: Int) -> Bool {
        switch self {
        case .any: return true
        case .positive: return value > 0
        case .nonNegative: return value >= 0
        case .unitHalfOpen: return value == 0
        case .unitClosed: return value == 0 || value == 1
        }
    }

    /// The rule in words, for error messages: "must be at least 1", "must be in [0, 1)", ...
    public func requirement(for kind: FlagKind) -> String {
        switch self {
        case .any: return "any value"
        case .positive: return kind == .int ? "must be at least 1" : "must be greater than 0"
        case .nonNegative: return "must be 0 or greater"
        case .unitHalfOpen: return "must be in [0, 1)"
        case .unitClosed: return "must be in [0, 1]"
        }
    }
}

/// A parsed flag value, before it is stored into ``TrainingArguments``.
public enum FlagValue: Sendable, Equatable {
    /// The value of a ``FlagKind/int`` flag.
    case int(Int)
    /// The value of a ``FlagKind/double`` flag.
    case double(Double)
    /// The value of a ``FlagKind/choice(_:)`` flag (one of its choices).
    case string(String)
    /// The value of a ``FlagKind/boolSwitch`` flag.
    case bool(Bool)
    /// The values of a ``FlagKind/list(placeholder:)`` flag.
    case strings([String])
}

/// The groups flags are listed under in `--help` and the Markdown table.
/// The raw value is the heading.
public enum FlagSection: String, Sendable, CaseIterable {
    /// Model shape and architecture choices.
    case model = "Model"
    /// Dropout, weight decay, gradient clipping.
    case regularization = "Regularization"
    /// Batch sizes, iterations, seed.
    case training = "Training"
    /// The learning-rate schedule.
    case learningRate = "Learning rate"
    /// bf16 and fp16 training, loss scaling.
    case mixedPrecision = "Mixed precision"
    /// The optimizer and its hyperparameters.
    case optimizer = "Optimizer"
    /// Logging and evaluation intervals.
    case logging = "Logging and evaluation"
    /// Where training data comes from.
    case data = "Data"
    /// Data parallelism: gradient reduction and the distributed optimizer.
    case distributed = "Distributed"
    /// Saving and loading checkpoints.
    case checkpointing = "Checkpointing"
    /// Flags swift-megatron adds; Megatron-LM has none of them.
    case swiftMegatron = "swift-megatron (not in Megatron-LM)"
}

/// One command-line flag: its name, kind, range, help, default, and where it is stored in
/// ``TrainingArguments``. The same entry serves `--flag value`, `--flag=value`, the
/// `flag:`/`flag_name:` key of a `--config` YAML file, `--help`, and the README table.
public struct Flag: Sendable {
    /// The name without dashes, as Megatron-LM spells it: `"num-layers"`.
    public let name: String
    /// How the value is written.
    public let kind: FlagKind
    /// Which parsed values are accepted.
    public let range: FlagRange
    /// Where the flag is listed in help.
    public let section: FlagSection
    /// One-paragraph help. Flags of our own (not Megatron-LM's) say "swift-megatron".
    public let help: String
    /// The default as shown in help: taken from `TrainingArguments()`, `"none"` when unset.
    public let defaultDescription: String
    /// True for flags swift-megatron adds that Megatron-LM's `pretrain_gpt.py` does not have.
    public let isSwiftMegatronExtension: Bool

    let binding: Binding

    /// Where in ``TrainingArguments`` the value goes.
    enum Binding: Sendable {
        case int(WritableKeyPath<TrainingArguments, Int> & Sendable)
        case optionalInt(WritableKeyPath<TrainingArguments, Int?> & Sendable)
        case double(WritableKeyPath<TrainingArguments, Double> & Sendable)
        case optionalDouble(WritableKeyPath<TrainingArguments, Double?> & Sendable)
        case string(WritableKeyPath<TrainingArguments, String> & Sendable)
        case optionalString(WritableKeyPath<TrainingArguments, String?> & Sendable)
        case strings(WritableKeyPath<TrainingArguments, [String]> & Sendable)
        case bool(WritableKeyPath<TrainingArguments, Bool> & Sendable)

        func read(from arguments: TrainingArguments) -> FlagValue? {
            switch self {
            case .int(let path): return .int(arguments[keyPath: path])
            case .optionalInt(let path): return arguments[keyPath: path].map(FlagValue.int)
            case .double(let path): return .double(arguments[keyPath: path])
            case .optionalDouble(let path): return arguments[keyPath: path].map(FlagValue.double)
            case .string(let path): return .string(arguments[keyPath: path])
            case .optionalString(let path): return arguments[keyPath: path].map(FlagValue.string)
            case .strings(let path): return arguments[keyPath: path].isEmpty ? nil : .strings(arguments[keyPath: path])
            case .bool(let path): return .bool(arguments[keyPath: path])
            }
        }
    }

    /// The command-line spelling: `"--num-layers"`.
    public var flag: String { "--" + name }
    /// The snake_case YAML key: `"num_layers"` (`"num-layers"` is accepted too).
    public var snakeCaseName: String { String(name.map { $0 == "-" ? "_" : $0 }) }

    /// Parses a command-line value (`text` as typed) and checks its range.
    /// Errors name this flag, e.g. "invalid value 'x' for '--num-layers': expected an integer".
    public func parse(_ text: String) throws(ArgumentError) -> FlagValue {
        let value: FlagValue
        switch kind {
        case .int:
            guard let parsed = Int(text) else {
                throw .invalidValue(flag: flag, value: text, expected: kind.expectedForm)
            }
            value = .int(parsed)
        case .double:
            guard let parsed = Double(text), parsed.isFinite else {
                throw .invalidValue(flag: flag, value: text, expected: "a finite number")
            }
            value = .double(parsed)
        case .choice(let allowed):
            guard allowed.contains(text) else {
                throw .invalidValue(flag: flag, value: text, expected: kind.expectedForm)
            }
            value = .string(text)
        case .boolSwitch:
            switch text.lowercased() {
            case "true", "yes", "on", "1": value = .bool(true)
            case "false", "no", "off", "0": value = .bool(false)
            default:
                throw .invalidValue(
                    flag: flag, value: text,
                    expected: "no value (it is a switch), or =true / =false")
            }
        case .text:
            value = .string(text)
        case .list:
            value = .strings([text])
        }
        guard isInRange(value) else {
            throw .valueOutOfRange(flag: flag, value: text, requirement: range.requirement(for: kind))
        }
        return value
    }

    /// Whether an already-typed value satisfies ``range``.
    public func isInRange(_ value: FlagValue) -> Bool {
        switch value {
        case .int(let i): return range.contains(i)
        case .double(let d): return d.isFinite && range.contains(d)
        case .string, .bool, .strings: return true
        }
    }

    /// Stores `value` into `arguments`. A value of the wrong case for this flag
    /// (e.g. `.string` for `--num-layers`) is converted where lossless (`.int` into a
    /// `Double` field) and otherwise ignored; values from ``parse(_:)`` always fit.
    public func apply(_ value: FlagValue, to arguments: inout TrainingArguments) {
        switch (binding, value) {
        case let (.int(path), .int(v)): arguments[keyPath: path] = v
        case let (.optionalInt(path), .int(v)): arguments[keyPath: path] = v
        case let (.double(path), .double(v)): arguments[keyPath: path] = v
        case let (.double(path), .int(v)): arguments[keyPath: path] = Double(v)
        case let (.optionalDouble(path), .double(v)): arguments[keyPath: path] = v
        case let (.optionalDouble(path), .int(v)): arguments[keyPath: path] = Double(v)
        case let (.string(path), .string(v)): arguments[keyPath: path] = v
        case let (.optionalString(path), .string(v)): arguments[keyPath: path] = v
        case let (.strings(path), .strings(v)): arguments[keyPath: path] = v
        case let (.bool(path), .bool(v)): arguments[keyPath: path] = v
        default: break
        }
    }

    /// The flag's current value in `arguments`; nil when an optional field is unset.
    public func value(in arguments: TrainingArguments) -> FlagValue? {
        binding.read(from: arguments)
    }

    /// `value` as help shows it: `12`, `1e-05`, `cosine`, `on`/`off`, or `none` for nil.
    public static func display(_ value: FlagValue?) -> String {
        switch value {
        case nil: return "none"
        case .int(let v)?: return String(v)
        case .double(let v)?: return "\(v)"
        case .string(let v)?: return v
        case .bool(let v)?: return v ? "on" : "off"
        case .strings(let v)?: return v.joined(separator: " ")
        }
    }

    // MARK: Building entries

    private init(
        name: String, kind: FlagKind, range: FlagRange, section: FlagSection, help: String,
        extension isExtension: Bool, binding: Binding
    ) {
        self.name = name
        self.kind = kind
        self.range = range
        self.section = section
        self.help = help
        self.isSwiftMegatronExtension = isExtension
        self.binding = binding
        self.defaultDescription = Flag.display(binding.read(from: TrainingArguments()))
    }

    /// An integer flag stored in a non-optional field.
    static func int(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, Int> & Sendable,
        _ section: FlagSection, range: FlagRange = .nonNegative, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .int, range: range, section: section, help: help,
             extension: ours, binding: .int(path))
    }

    /// An integer flag with no default (`None` in Megatron-LM).
    static func int(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, Int?> & Sendable,
        _ section: FlagSection, range: FlagRange = .positive, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .int, range: range, section: section, help: help,
             extension: ours, binding: .optionalInt(path))
    }

    /// A floating-point flag stored in a non-optional field.
    static func double(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, Double> & Sendable,
        _ section: FlagSection, range: FlagRange = .nonNegative, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .double, range: range, section: section, help: help,
             extension: ours, binding: .double(path))
    }

    /// A floating-point flag with no default.
    static func double(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, Double?> & Sendable,
        _ section: FlagSection, range: FlagRange = .nonNegative, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .double, range: range, section: section, help: help,
             extension: ours, binding: .optionalDouble(path))
    }

    /// A string flag restricted to `choices`.
    static func choice(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, String> & Sendable,
        _ choices: [String], _ section: FlagSection, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .choice(choices), range: .any, section: section, help: help,
             extension: ours, binding: .string(path))
    }

    /// A text flag (a path, a name) stored in an optional field.
    static func text(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, String?> & Sendable,
        placeholder: String, _ section: FlagSection, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .text(placeholder: placeholder), range: .any, section: section, help: help,
             extension: ours, binding: .optionalString(path))
    }

    /// A text flag with a default.
    static func text(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, String> & Sendable,
        placeholder: String, _ section: FlagSection, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .text(placeholder: placeholder), range: .any, section: section, help: help,
             extension: ours, binding: .string(path))
    }

    /// A flag taking one or more values (Megatron's `nargs='*'`), stored in an array.
    static func list(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, [String]> & Sendable,
        placeholder: String, _ section: FlagSection, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .list(placeholder: placeholder), range: .any, section: section, help: help,
             extension: ours, binding: .strings(path))
    }

    /// A switch (`store_true` in Megatron-LM).
    static func toggle(
        _ name: String, _ path: WritableKeyPath<TrainingArguments, Bool> & Sendable,
        _ section: FlagSection, ours: Bool = false, help: String
    ) -> Flag {
        Flag(name: name, kind: .boolSwitch, range: .any, section: section, help: help,
             extension: ours, binding: .bool(path))
    }
}

/// The declarative list of every flag `megatron train` accepts. It drives the
/// command-line parser, the `--config` YAML loader, ``TrainingArguments/helpText(command:)``
/// and ``TrainingArguments/markdownFlagTable()``.
///
/// Usage:
/// ```swift
/// for flag in FlagTable.standard.flags { print(flag.flag, flag.defaultDescription) }
/// let layers = FlagTable.standard.flag(named: "num_layers")   // the `--num-layers` entry
/// ```
public struct FlagTable: Sendable {
    /// The flags, in help order.
    public let flags: [Flag]
    private let indexByName: [String: Int]

    /// A table of `flags`; a later duplicate name is ignored by ``flag(named:)``.
    init(_ flags: [Flag]) {
        self.flags = flags
        var index: [String: Int] = [:]
        for (i, flag) in flags.enumerated() where index[flag.name] == nil {
            index[flag.name] = i
        }
        self.indexByName = index
    }

    /// The entry for `name`, written `num-layers` or `num_layers` (no leading dashes).
    public func flag(named name: String) -> Flag? {
        let canonical = String(name.map { $0 == "_" ? "-" : $0 })
        return indexByName[canonical].map { flags[$0] }
    }

    /// The known flag name (no dashes) closest to `name`, if one is plausibly meant.
    public func closestFlagName(to name: String) -> String? {
        closestArgumentName(to: name, among: flags.map(\.name))
    }

    /// Every flag of Megatron-LM's `pretrain_gpt.py` that swift-megatron implements,
    /// plus swift-megatron's own (``Flag/isSwiftMegatronExtension``).
    public static let standard = FlagTable([
        // MARK: Model
        .int("num-layers", \.numLayers, .model, help: "Number of transformer layers."),
        .int("hidden-size", \.hiddenSize, .model, help: "Transformer hidden size."),
        .int("num-attention-heads", \.numAttentionHeads, .model,
             help: "Number of transformer attention heads."),
        .toggle("group-query-attention", \.groupQueryAttention, .model,
                help: "Use grouped-query attention (key/value heads shared by groups of query heads)."),
        .int("num-query-groups", \.numQueryGroups, .model,
             help: "Number of key/value groups with --group-query-attention; must divide "
                + "--num-attention-heads."),
        .int("ffn-hidden-size", \.ffnHiddenSize, .model,
             help: "Hidden size of the MLP; 4 x --hidden-size when not given."),
        .int("kv-channels", \.kvChannels, .model,
             help: "Size of each attention head's projections; --hidden-size / "
                + "--num-attention-heads when not given."),
        .int("seq-length", \.seqLength, .model, help: "Maximum sequence length to train on."),
        .int("max-position-embeddings", \.maxPositionEmbeddings, .model,
             help: "Number of position embeddings (the largest sequence length the model supports)."),
        .choice("normalization", \.normalization, ["LayerNorm", "RMSNorm"], .model,
                help: "Normalization layer to use."),
        .double("norm-epsilon", \.normEpsilon, .model, range: .positive,
                help: "Epsilon added to the variance in the normalization layers."),
        .toggle("swiglu", \.swiglu, .model,
                help: "Use a gated linear unit with SiLU (SwiGLU) in the MLP instead of GeLU."),
        .toggle("openai-gelu", \.openaiGelu, .model,
                help: "Use OpenAI's tanh approximation of GeLU."),
        .choice("position-embedding-type", \.positionEmbeddingType,
                ["learned_absolute", "rope", "none"], .model,
                help: "Position embedding: learned absolute embeddings, rotary (RoPE), or none."),
        .int("rotary-base", \.rotaryBase, .model, range: .positive,
             help: "Base of the rotary embedding frequencies."),
        .int("make-vocab-size-divisible-by", \.makeVocabSizeDivisibleBy, .model, range: .positive,
             help: "Pad the vocabulary size to a multiple of this value."),
        .toggle("untie-embeddings-and-output-weights", \.untieEmbeddingsAndOutputWeights, .model,
                help: "Give the output layer its own weights instead of sharing the input embedding."),
        .toggle("disable-bias-linear", \.disableBiasLinear, .model,
                help: "Leave out the bias of the linear layers in attention and MLP."),
        .double("init-method-std", \.initMethodStd, .model, range: .positive,
                help: "Standard deviation of the normal distribution weights are initialised from."),
        .int("vocab-size", \.vocabSize, .model,
             help: "Vocabulary size (before padding), for data without a tokenizer such as --mock-data."),

        // MARK: Regularization
        .double("hidden-dropout", \.hiddenDropout, .regularization, range: .unitHalfOpen,
                help: "Dropout probability of the transformer hidden state."),
        .double("attention-dropout", \.attentionDropout, .regularization, range: .unitHalfOpen,
                help: "Dropout probability of the attention weights."),
        .double("weight-decay", \.weightDecay, .regularization,
                help: "Weight decay coefficient (decoupled, as in AdamW)."),
        .double("clip-grad", \.clipGrad, .regularization,
                help: "Clip gradients to this global L2 norm; 0 disables clipping."),

        // MARK: Training
        .int("micro-batch-size", \.microBatchSize, .training,
             help: "Batch size of one forward/backward pass; the global batch is accumulated "
                + "from micro batches."),
        .int("global-batch-size", \.globalBatchSize, .training,
             help: "Batch size of one optimizer step; --micro-batch-size when not given."),
        .int("train-iters", \.trainIters, .training, range: .nonNegative,
             help: "Number of iterations (optimizer steps) to train for."),
        .int("seed", \.seed, .training,
             help: "Random seed for initialisation, dropout and data."),
        .choice("recompute-granularity", \.recomputeGranularity, ["none", "selective", "full"], .training,
                help: "Recompute activations in the backward instead of keeping them: selective (the MLP "
                    + "activation; attention never keeps its scores) or full (whole layers). Megatron "
                    + "spells the default by omitting the flag."),

        // MARK: Mixed precision
        .toggle("bf16", \.bf16, .mixedPrecision,
                help: "Train in bfloat16: bf16 weights and activations, fp32 master weights, optimizer "
                    + "state and gradients (CUDA only)."),
        .toggle("fp16", \.fp16, .mixedPrecision,
                help: "Train in float16 with dynamic loss scaling; fp32 master weights, optimizer state "
                    + "and gradients (CUDA only)."),
        .toggle("accumulate-allreduce-grads-in-fp32", \.accumulateAllreduceGradsInFp32, .mixedPrecision,
                help: "Accumulate and reduce gradients in fp32 (always the case here; accepted for "
                    + "compatibility)."),
        .double("loss-scale", \.lossScale, .mixedPrecision, range: .positive,
                help: "A static loss scale for --fp16 instead of the dynamic one."),
        .double("initial-loss-scale", \.initialLossScale, .mixedPrecision, range: .positive,
                help: "Initial dynamic loss scale for --fp16."),
        .double("min-loss-scale", \.minLossScale, .mixedPrecision, range: .positive,
                help: "Smallest dynamic loss scale."),
        .int("loss-scale-window", \.lossScaleWindow, .mixedPrecision, range: .positive,
             help: "Clean iterations before the dynamic loss scale doubles."),
        .int("hysteresis", \.hysteresis, .mixedPrecision, range: .positive,
             help: "Overflowing iterations tolerated before the dynamic loss scale halves."),

        // MARK: Learning rate
        .double("lr", \.lr, .learningRate,
                help: "Peak learning rate, reached after warmup and then decayed."),
        .double("min-lr", \.minLr, .learningRate,
                help: "Minimum learning rate the decay stops at."),
        .choice("lr-decay-style", \.lrDecayStyle,
                ["constant", "linear", "cosine", "inverse-square-root", "WSD"], .learningRate,
                help: "Learning rate decay function."),
        .int("lr-warmup-iters", \.lrWarmupIters, .learningRate,
             help: "Iterations of linear learning rate warmup."),
        .double("lr-warmup-fraction", \.lrWarmupFraction, .learningRate, range: .unitClosed,
                help: "Warmup as a fraction of --lr-decay-iters (instead of --lr-warmup-iters)."),
        .int("lr-decay-iters", \.lrDecayIters, .learningRate,
             help: "Iterations to decay the learning rate over; --train-iters when not given."),
        .choice("lr-wsd-decay-style", \.lrWsdDecayStyle,
                ["exponential", "linear", "cosine", "minus_sqrt"], .learningRate,
                help: "Decay function of the final phase of the WSD schedule."),
        .int("lr-wsd-decay-iters", \.lrWsdDecayIters, .learningRate, range: .nonNegative,
             help: "Iterations of the decay phase of the WSD schedule."),

        // MARK: Optimizer
        .choice("optimizer", \.optimizer, ["adam"], .optimizer,
                help: "Optimizer (Adam with decoupled weight decay)."),
        .double("adam-beta1", \.adamBeta1, .optimizer, range: .unitHalfOpen,
                help: "Adam coefficient for the running average of the gradient."),
        .double("adam-beta2", \.adamBeta2, .optimizer, range: .unitHalfOpen,
                help: "Adam coefficient for the running average of the squared gradient."),
        .double("adam-eps", \.adamEps, .optimizer, range: .positive,
                help: "Term added to Adam's denominator for numerical stability."),

        // MARK: Logging and evaluation
        .int("log-interval", \.logInterval, .logging, range: .positive,
             help: "Iterations between training log lines."),
        .int("eval-interval", \.evalInterval, .logging, range: .positive,
             help: "Iterations between evaluations on the validation set."),
        .int("eval-iters", \.evalIters, .logging,
             help: "Iterations of each evaluation."),

        // MARK: Data
        .toggle("mock-data", \.mockData, .data,
                help: "Train on synthetic random tokens instead of a dataset."),
        .list("data-path", \.dataPath, placeholder: "PATH", .data,
              help: "Dataset prefixes (`PREFIX.bin`/`PREFIX.idx`), each optionally preceded by its blending weight: "
                + "`PREFIX` or `W1 PREFIX1 W2 PREFIX2 …`."),
        .text("split", \.split, placeholder: "SPLIT", .data,
              help: "Proportions of the documents of --data-path for training, validation and test, e.g. `969,30,1`."),
        .list("train-data-path", \.trainDataPath, placeholder: "PATH", .data,
              help: "Training dataset prefixes (optionally weighted), instead of splitting --data-path."),
        .list("valid-data-path", \.validDataPath, placeholder: "PATH", .data,
              help: "Validation dataset prefixes (optionally weighted), instead of splitting --data-path."),
        .list("test-data-path", \.testDataPath, placeholder: "PATH", .data,
              help: "Test dataset prefixes (optionally weighted), instead of splitting --data-path."),
        .text("data-cache-path", \.dataCachePath, placeholder: "DIR", .data,
              help: "Where the GPT dataset index arrays are cached (default: PREFIX/cache/GPTDataset_indices beside each corpus)."),
        .text("tokenizer-type", \.tokenizerType, placeholder: "TYPE", .data,
              help: "GPT2BPETokenizer, TikTokenizer, HuggingFaceTokenizer, SentencePieceTokenizer or NullTokenizer."),
        .text("vocab-file", \.vocabFile, placeholder: "FILE", .data,
              help: "The tokenizer's vocabulary (GPT-2's vocab.json; tiktoken's rank file; HF's tokenizer.json)."),
        .text("merge-file", \.mergeFile, placeholder: "FILE", .data, help: "GPT-2 BPE merges (merges.txt)."),
        .text("tokenizer-model", \.tokenizerModel, placeholder: "FILE", .data,
              help: "SentencePiece model file (or HF tokenizer.json / tiktoken rank file)."),
        .text("tiktoken-pattern", \.tiktokenPattern, placeholder: "PATTERN", .data,
              help: "TikTokenizer's pre-tokenizer: `v1` (Megatron's), or tiktoken's `gpt2` or `cl100k`."),
        .toggle("eod-mask-loss", \.eodMaskLoss, .data, help: "Leave end-of-document tokens out of the loss."),
        .toggle("reset-position-ids", \.resetPositionIds, .data, help: "Restart position ids after each end-of-document token."),
        .toggle("reset-attention-mask", \.resetAttentionMask, .data,
                help: "Keep attention within documents: no token attends across an end-of-document token."),

        // MARK: Checkpointing
        .text("save", \.save, placeholder: "DIR", .checkpointing,
              help: "Directory to save checkpoints to (`DIR/iter_0000100/`, `DIR/latest_checkpointed_iteration.txt`)."),
        .int("save-interval", \.saveInterval, .checkpointing,
             help: "Iterations between checkpoint saves (with --save; a last one is saved when training ends)."),
        .text("load", \.load, placeholder: "DIR", .checkpointing,
              help: "Directory to resume from: its latest checkpoint, or --ckpt-step's; any parallel layout loads it."),
        .int("ckpt-step", \.ckptStep, .checkpointing, range: .nonNegative, help: "Checkpoint iteration to load instead of the latest."),
        .toggle("no-load-optim", \.noLoadOptim, .checkpointing, help: "Do not load the optimizer state (Adam moments) from the checkpoint."),
        .toggle("no-load-rng", \.noLoadRng, .checkpointing, help: "Do not load the random state: dropout follows this run's --seed."),
        .toggle("no-save-optim", \.noSaveOptim, .checkpointing, help: "Do not save the optimizer state."),
        .toggle("finetune", \.finetune, .checkpointing,
                help: "Load the weights only: iteration 0, no optimizer or random state, data from the start."),
        .toggle("async-save", \.asyncSave, .checkpointing,
                help: "Write checkpoints on a background thread while training goes on (the next save or the exit waits)."),
        .int("exit-interval", \.exitInterval, .checkpointing, help: "Stop (after saving, with --save) once the iteration is a multiple of this."),
        .int("keep-last-checkpoints", \.keepLastCheckpoints, .checkpointing, ours: true,
             help: "swift-megatron only: keep only the newest N checkpoints in --save (never the one the tracker names)."),

        // MARK: Distributed
        .int("tensor-model-parallel-size", \.tensorModelParallelSize, .distributed, range: .positive,
             help: "Degree of tensor model parallelism."),
        .int("pipeline-model-parallel-size", \.pipelineModelParallelSize, .distributed, range: .positive,
             help: "Degree of pipeline model parallelism."),
        .int("num-layers-per-virtual-pipeline-stage", \.numLayersPerVirtualPipelineStage, .distributed,
             help: "Layers per virtual pipeline stage: the interleaved 1F1B schedule."),
        .int("num-virtual-stages-per-pipeline-rank", \.numVirtualStagesPerPipelineRank, .distributed,
             help: "Model chunks per pipeline rank: the interleaved 1F1B schedule."),
        .int("microbatch-group-size-per-virtual-pipeline-stage", \.microbatchGroupSizePerVirtualPipelineStage, .distributed,
             help: "Consecutive micro-batches a virtual stage runs in the interleaved schedule (default: the pipeline size)."),
        .int("decoder-first-pipeline-num-layers", \.decoderFirstPipelineNumLayers, .distributed,
             help: "Layers of the first pipeline stage when the stages are uneven."),
        .int("decoder-last-pipeline-num-layers", \.decoderLastPipelineNumLayers, .distributed,
             help: "Layers of the last pipeline stage when the stages are uneven."),
        .int("context-parallel-size", \.contextParallelSize, .distributed, range: .positive,
             help: "Degree of context parallelism."),
        .int("expert-model-parallel-size", \.expertModelParallelSize, .distributed, range: .positive,
             help: "Degree of expert model parallelism."),
        .toggle("sequence-parallel", \.sequenceParallel, .distributed,
                help: "Enable sequence parallel optimization (with tensor parallelism)."),
        .toggle("use-distributed-optimizer", \.useDistributedOptimizer, .distributed,
                help: "Shard the fp32 master weights and optimizer state over the data-parallel ranks "
                    + "(reduce-scatter the gradients, all-gather the updated parameters)."),
        .toggle("overlap-grad-reduce", \.overlapGradReduce, .distributed,
                help: "Overlap the data-parallel gradient reduction with the backward, in buckets."),
        .int("ddp-bucket-size", \.ddpBucketSize, .distributed, range: .positive,
             help: "Elements per data-parallel gradient bucket (default max(40M, 1M × data-parallel size))."),
        .toggle("overlap-param-gather", \.overlapParamGather, .distributed,
                help: "With --use-distributed-optimizer: overlap the all-gather of the updated parameters with the "
                    + "next forward, bucket by bucket."),
        .int("distributed-timeout-minutes", \.distributedTimeoutMinutes, .distributed, range: .positive,
             help: "Minutes a rank waits for the others (rendezvous and collectives) before stopping with an error "
                + "naming the missing rank."),

        // MARK: swift-megatron
        .choice("model", \.model, ["custom"] + ModelPreset.allCases.map(\.rawValue), .swiftMegatron, ours: true,
                help: "swift-megatron only: start from a named model and batch preset (its values "
                    + "apply before --config files and flags, which override them)."),
        .choice("device", \.device, ["auto", "cpu", "cuda"], .swiftMegatron, ours: true,
                help: "swift-megatron only: where to run; auto picks CUDA when a GPU is present, "
                    + "else the CPU."),
        .int("bench-iters", \.benchIters, .swiftMegatron, range: .positive, ours: true,
             help: "swift-megatron only: iterations timed by `megatron bench`."),
        .int("bench-warmup", \.benchWarmup, .swiftMegatron, ours: true,
             help: "swift-megatron only: untimed warmup iterations before `megatron bench` "
                + "starts timing."),
        .toggle("bench-profile", \.benchProfile, .swiftMegatron, ours: true,
                help: "swift-megatron only: after the timed iterations, run one more with every GPU "
                    + "kernel timed and print the time per kernel."),
    ])
}
