import Foundation
import Testing
import MegatronTraining

/// Writes `contents` to a fresh file under the temporary directory and returns its path.
private func temporaryYAML(_ contents: String, name: String = "config.yaml") throws -> String {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("megatron-args-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try contents.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

private func removeTemporary(_ path: String) {
    try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
}

/// The error `parse` throws for `args`, or nil if it succeeds.
private func parseError(_ args: [String]) -> ArgumentError? {
    do {
        _ = try TrainingArguments.parse(args)
        return nil
    } catch {
        return error
    }
}

@Suite("Argument parsing")
struct ArgumentParsingTests {
    // MARK: Defaults

    @Test func defaultsMatchMegatron() throws {
        let args = try TrainingArguments.parse([])
        #expect(args == TrainingArguments())
        #expect(args.numLayers == nil)
        #expect(args.hiddenSize == nil)
        #expect(args.numQueryGroups == nil)
        #expect(args.normalization == "LayerNorm")
        #expect(args.normEpsilon == 1e-5)
        #expect(args.positionEmbeddingType == "learned_absolute")
        #expect(args.rotaryBase == 10000)
        #expect(args.makeVocabSizeDivisibleBy == 128)
        #expect(args.hiddenDropout == 0.1)
        #expect(args.attentionDropout == 0.1)
        #expect(args.initMethodStd == 0.02)
        #expect(args.minLr == 0.0)
        #expect(args.lrDecayStyle == "linear")
        #expect(args.lrWarmupIters == 0)
        #expect(args.lrWsdDecayStyle == "exponential")
        #expect(args.weightDecay == 0.01)
        #expect(args.clipGrad == 1.0)
        #expect(args.adamBeta1 == 0.9)
        #expect(args.adamBeta2 == 0.999)
        #expect(args.adamEps == 1e-8)
        #expect(args.optimizer == "adam")
        #expect(args.seed == 1234)
        #expect(args.logInterval == 100)
        #expect(args.evalInterval == 1000)
        #expect(args.evalIters == 100)
        #expect(args.device == "auto")
        #expect(args.benchIters == 10)
        #expect(args.benchWarmup == 2)
        #expect(!args.swiglu && !args.mockData && !args.groupQueryAttention && !args.disableBiasLinear)
    }

    @Test func helpDefaultsComeFromTheStruct() throws {
        let table = FlagTable.standard
        #expect(table.flag(named: "num-layers")?.defaultDescription == "none")
        #expect(table.flag(named: "norm-epsilon")?.defaultDescription == "1e-05")
        #expect(table.flag(named: "lr-decay-style")?.defaultDescription == "linear")
        #expect(table.flag(named: "swiglu")?.defaultDescription == "off")
        #expect(table.flag(named: "seed")?.defaultDescription == "1234")
    }

    // MARK: Each kind

    @Test func parsesEachKind() throws {
        let args = try TrainingArguments.parse([
            "--num-layers", "12",
            "--lr", "3e-4",
            "--normalization", "RMSNorm",
            "--swiglu",
            "--hidden-dropout", "0",
            "--lr-warmup-fraction", "0.01",
        ])
        #expect(args.numLayers == 12)
        #expect(args.lr == 3e-4)
        #expect(args.normalization == "RMSNorm")
        #expect(args.swiglu)
        #expect(args.hiddenDropout == 0)
        #expect(args.lrWarmupFraction == 0.01)
    }

    @Test func equalsForm() throws {
        let args = try TrainingArguments.parse([
            "--hidden-size=768", "--min-lr=1e-5", "--lr-decay-style=cosine", "--mock-data=true",
            "--swiglu=false",
        ])
        #expect(args.hiddenSize == 768)
        #expect(args.minLr == 1e-5)
        #expect(args.lrDecayStyle == "cosine")
        #expect(args.mockData)
        #expect(!args.swiglu)
    }

    @Test func lastOccurrenceWins() throws {
        let args = try TrainingArguments.parse(["--seed", "1", "--seed=7", "--swiglu", "--swiglu=false"])
        #expect(args.seed == 7)
        #expect(!args.swiglu)
    }

    @Test func valueMayStartWithSingleDash() {
        // Parsed as the value, then rejected by the range check, not as a missing value.
        #expect(parseError(["--min-lr", "-0.5"])
            == .valueOutOfRange(flag: "--min-lr", value: "-0.5", requirement: "must be 0 or greater"))
    }

    @Test func everyFlagStoresIntoItsOwnField() throws {
        let defaults = TrainingArguments()
        var names = Set<String>()
        for flag in FlagTable.standard.flags {
            #expect(names.insert(flag.name).inserted, "duplicate flag \(flag.name)")
            let text: String
            switch flag.kind {
            case .int: text = "3"
            case .double: text = "0.5"
            case .choice(let allowed): text = allowed.last ?? ""
            case .boolSwitch: text = "true"
            case .text, .list: text = "some/path"
            }
            var args = defaults
            let value = try flag.parse(text)
            flag.apply(value, to: &args)
            #expect(flag.value(in: args) == value, "\(flag.flag)")
            if flag.value(in: defaults) != value {
                #expect(args != defaults, "\(flag.flag) changed nothing")
            }
            // Via the command line too.
            let parsed = try TrainingArguments.parse(
                flag.kind == .boolSwitch ? [flag.flag] : ["\(flag.flag)=\(text)"])
            #expect(flag.value(in: parsed) == value, "\(flag.flag)")
        }
    }

    @Test func ourFlagsSayTheyAreOurs() {
        let ours = FlagTable.standard.flags.filter(\.isSwiftMegatronExtension).map(\.name)
        #expect(Set(ours) == ["model", "device", "bench-iters", "bench-warmup", "bench-profile", "keep-last-checkpoints"])
        for flag in FlagTable.standard.flags {
            #expect(flag.help.contains("swift-megatron") == flag.isSwiftMegatronExtension, "\(flag.flag)")
        }
    }

    // MARK: YAML

    @Test func yamlWithDashedKeys() throws {
        let path = try temporaryYAML("""
            num-layers: 24
            hidden-size: 1024
            lr: 1.5e-4
            adam-eps: 1e-6
            lr-decay-style: cosine
            swiglu: true
            position-embedding-type: rope
            """)
        defer { removeTemporary(path) }
        let args = try TrainingArguments.parse(["--config", path])
        #expect(args.numLayers == 24)
        #expect(args.hiddenSize == 1024)
        #expect(args.lr == 1.5e-4)
        #expect(args.adamEps == 1e-6)
        #expect(args.lrDecayStyle == "cosine")
        #expect(args.swiglu)
        #expect(args.positionEmbeddingType == "rope")
    }

    @Test func yamlWithSnakeCaseKeys() throws {
        let path = try temporaryYAML("""
            # A Megatron-style config.
            num_layers: 2
            num_attention_heads: 4
            micro_batch_size: 8
            weight_decay: 0
            normalization: "RMSNorm"
            untie_embeddings_and_output_weights: yes
            mock_data: false
            lr_decay_iters: null
            """)
        defer { removeTemporary(path) }
        let args = try TrainingArguments.parse(["--config=\(path)"])
        #expect(args.numLayers == 2)
        #expect(args.numAttentionHeads == 4)
        #expect(args.microBatchSize == 8)
        #expect(args.weightDecay == 0)
        #expect(args.normalization == "RMSNorm")
        #expect(args.untieEmbeddingsAndOutputWeights)
        #expect(!args.mockData)
        #expect(args.lrDecayIters == nil)
    }

    @Test func commandLineOverridesYAMLWhateverTheOrder() throws {
        let path = try temporaryYAML("num_layers: 24\nseed: 5\nswiglu: true\nlr: 0.001\n")
        defer { removeTemporary(path) }
        let before = try TrainingArguments.parse(["--num-layers", "6", "--swiglu=false", "--config", path])
        #expect(before.numLayers == 6)
        #expect(!before.swiglu)
        #expect(before.seed == 5)
        #expect(before.lr == 0.001)
        let after = try TrainingArguments.parse(["--config", path, "--num-layers=6", "--lr", "0.5"])
        #expect(after.numLayers == 6)
        #expect(after.lr == 0.5)
        #expect(after.swiglu)
    }

    @Test func laterConfigFilesOverrideEarlierOnes() throws {
        let first = try temporaryYAML("num-layers: 2\nseed: 1\n")
        let second = try temporaryYAML("num-layers: 3\n")
        defer { removeTemporary(first); removeTemporary(second) }
        let args = try TrainingArguments.parse(["--config", first, "--config", second])
        #expect(args.numLayers == 3)
        #expect(args.seed == 1)
    }

    @Test func emptyYAMLSetsNothing() throws {
        let path = try temporaryYAML("# nothing here\n")
        defer { removeTemporary(path) }
        #expect(try TrainingArguments.parse(["--config", path]) == TrainingArguments())
    }

    // MARK: Command-line errors

    @Test func unknownFlagSuggestsClosest() {
        let error = parseError(["--num-layer", "2"])
        #expect(error == .unknownFlag("--num-layer", suggestion: "--num-layers"))
        #expect(error?.description == "unknown flag '--num-layer'; did you mean '--num-layers'?")
        #expect(parseError(["--hiden-size=4"])?.description.contains("did you mean '--hidden-size'?") == true)
        #expect(parseError(["--swilgu"])?.description.contains("did you mean '--swiglu'?") == true)
        #expect(parseError(["--lr-warmup", "3"])?.description.contains("'--lr-warmup-iters'") == true)
        // Megatron-LM's parser takes dashes only; the suggestion shows the right spelling.
        #expect(parseError(["--make_vocab_size_divisible_by", "64"])
            == .unknownFlag("--make_vocab_size_divisible_by", suggestion: "--make-vocab-size-divisible-by"))
        #expect(parseError(["-num-layers", "2"])
            == .unknownFlag("-num-layers", suggestion: "--num-layers"))
        #expect(parseError(["--tensor-model-parallel-sizes", "2"]) != nil)
        #expect(parseError(["--zzzzzz"]) == .unknownFlag("--zzzzzz", suggestion: nil))
        #expect(parseError(["--zzzzzz"])?.description == "unknown flag '--zzzzzz'")
    }

    @Test func missingValue() {
        let atEnd = parseError(["--num-layers"])
        #expect(atEnd == .missingValue(flag: "--num-layers", expected: "an integer"))
        #expect(atEnd?.description.contains("'--num-layers'") == true)
        #expect(parseError(["--lr", "--swiglu"]) == .missingValue(flag: "--lr", expected: "a number"))
        #expect(parseError(["--hidden-size="]) == .missingValue(flag: "--hidden-size", expected: "an integer"))
        #expect(parseError(["--config"]) == .missingValue(flag: "--config", expected: "a YAML file path"))
    }

    @Test func unparsableValues() {
        let int = parseError(["--num-layers", "twelve"])
        #expect(int == .invalidValue(flag: "--num-layers", value: "twelve", expected: "an integer"))
        #expect(int?.description == "invalid value 'twelve' for '--num-layers': expected an integer")
        #expect(parseError(["--num-layers", "1.5"]) != nil)
        #expect(parseError(["--lr", "fast"])?.description.contains("'fast'") == true)
        #expect(parseError(["--lr", "nan"])?.description.contains("a finite number") == true)
        let choice = parseError(["--lr-decay-style", "cosin"])
        #expect(choice?.description.contains("'--lr-decay-style'") == true)
        #expect(choice?.description.contains("one of constant, linear, cosine, inverse-square-root, WSD") == true)
        #expect(parseError(["--normalization", "rmsnorm"]) != nil)  // exact match, as in Megatron-LM
        #expect(parseError(["--swiglu=maybe"])?.description.contains("'--swiglu'") == true)
    }

    @Test func valuesOutOfRange() {
        let negative = parseError(["--hidden-size", "-8"])
        #expect(negative == .valueOutOfRange(flag: "--hidden-size", value: "-8", requirement: "must be at least 1"))
        #expect(negative?.description == "value '-8' for '--hidden-size' is out of range: must be at least 1")
        #expect(parseError(["--num-layers", "0"]) != nil)
        #expect(parseError(["--hidden-dropout", "1"])?.description.contains("must be in [0, 1)") == true)
        #expect(parseError(["--attention-dropout=-0.1"]) != nil)
        #expect(parseError(["--adam-beta2", "1.0"]) != nil)
        #expect(parseError(["--lr-warmup-fraction", "1.5"])?.description.contains("[0, 1]") == true)
        #expect(parseError(["--log-interval", "0"]) != nil)
        #expect(parseError(["--norm-epsilon", "0"]) != nil)
        #expect(parseError(["--lr", "-1"]) != nil)
        #expect(parseError(["--lr-warmup-fraction", "1"]) == nil)
        #expect(parseError(["--train-iters", "0"]) == nil)
    }

    @Test func positionalArgumentsAreRejected() {
        let error = parseError(["--num-layers", "2", "gpt.yaml"])
        #expect(error == .unexpectedPositional("gpt.yaml"))
        #expect(error?.description.contains("'gpt.yaml'") == true)
        #expect(parseError(["--swiglu", "true"]) == .unexpectedPositional("true"))
        #expect(parseError(["-3"]) == .unexpectedPositional("-3"))
    }

    @Test func helpIsRequested() {
        #expect(parseError(["--num-layers", "2", "--help"]) == .helpRequested)
        #expect(parseError(["-h"]) == .helpRequested)
    }

    // MARK: Config-file errors

    @Test func configFileNotFound() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID()).yaml").path
        let error = parseError(["--config", path])
        #expect(error == .configFileNotFound(path: path))
        #expect(error?.description.contains(path) == true)
    }

    @Test func configNotYAML() throws {
        let path = try temporaryYAML("num-layers: [1, 2\nhidden-size: : :\n")
        defer { removeTemporary(path) }
        guard case .configNotYAML(let errorPath, _)? = parseError(["--config", path]) else {
            Issue.record("expected configNotYAML")
            return
        }
        #expect(errorPath == path)
    }

    @Test func configNotAMapping() throws {
        let path = try temporaryYAML("- num-layers\n- 12\n")
        defer { removeTemporary(path) }
        let error = parseError(["--config", path])
        #expect(error == .configNotMapping(path: path, found: "a list"))
        #expect(error?.description.contains("mapping") == true)
        let scalar = try temporaryYAML("just words\n")
        defer { removeTemporary(scalar) }
        if case .configNotMapping? = parseError(["--config", scalar]) {} else {
            Issue.record("expected configNotMapping for a scalar document")
        }
    }

    @Test func configUnknownKeySuggestsInTheFilesSpelling() throws {
        let snake = try temporaryYAML("num_layer: 2\n")
        let dashed = try temporaryYAML("num-atention-heads: 2\n")
        defer { removeTemporary(snake); removeTemporary(dashed) }
        let error = parseError(["--config", snake])
        #expect(error == .configUnknownKey(path: snake, key: "num_layer", suggestion: "num_layers"))
        #expect(error?.description.contains(snake) == true)
        #expect(error?.description.contains("did you mean 'num_layers'?") == true)
        #expect(parseError(["--config", dashed])
            == .configUnknownKey(path: dashed, key: "num-atention-heads", suggestion: "num-attention-heads"))
    }

    @Test func configWrongTypes() throws {
        let cases: [(String, String)] = [
            ("num-layers: twelve\n", "an integer"),
            ("num-layers: \"12\"\n", "an integer"),
            ("num-layers: 1.5\n", "an integer"),
            ("lr: fast\n", "a number"),
            ("swiglu: 1\n", "true or false"),
            ("swiglu: \"true\"\n", "true or false"),
            ("normalization: BatchNorm\n", "one of LayerNorm, RMSNorm"),
            ("hidden-size: [1, 2]\n", "an integer"),
            ("seed: {a: 1}\n", "an integer"),
        ]
        for (yaml, expected) in cases {
            let path = try temporaryYAML(yaml)
            defer { removeTemporary(path) }
            let error = parseError(["--config", path])
            guard case .configInvalidValue(let errorPath, let key, _, _)? = error else {
                Issue.record("expected configInvalidValue for \(yaml), got \(String(describing: error))")
                continue
            }
            #expect(errorPath == path)
            #expect(!key.isEmpty)
            let message = error?.description ?? ""
            #expect(message.contains(path), "\(message)")
            #expect(message.contains("'\(key)'"), "\(message)")
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test func configValueOutOfRange() throws {
        let path = try temporaryYAML("hidden_dropout: 1.5\n")
        defer { removeTemporary(path) }
        let error = parseError(["--config", path])
        guard case .configValueOutOfRange(let errorPath, let key, _, let requirement)? = error else {
            Issue.record("expected configValueOutOfRange, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(key == "hidden_dropout")
        #expect(requirement == "must be in [0, 1)")
    }

    @Test func configDuplicateSpellings() throws {
        let path = try temporaryYAML("num-layers: 2\nnum_layers: 3\n")
        defer { removeTemporary(path) }
        #expect(parseError(["--config", path]) == .configDuplicateKey(path: path, key: "num_layers"))
    }

    @Test func configIsADirectory() throws {
        let path = try temporaryYAML("")
        defer { removeTemporary(path) }
        let directory = (path as NSString).deletingLastPathComponent
        if case .configFileUnreadable? = parseError(["--config", directory]) {} else {
            Issue.record("expected configFileUnreadable for a directory")
        }
    }

    // MARK: Help and README table

    @Test func helpListsEveryFlag() {
        let help = TrainingArguments.helpText()
        #expect(help.hasPrefix("usage: megatron train"))
        #expect(help.contains("--config FILE.yaml"))
        for flag in FlagTable.standard.flags {
            #expect(help.contains(flag.flag), "\(flag.flag) missing from help")
        }
        #expect(help.contains("{LayerNorm,RMSNorm}"))
        #expect(help.contains("(default: 1234)"))
        #expect(TrainingArguments.helpText(command: "megatron bench").hasPrefix("usage: megatron bench"))
    }

    @Test func markdownTableListsEveryFlag() {
        let markdown = TrainingArguments.markdownFlagTable()
        let lines = markdown.split(separator: "\n").map(String.init)
        #expect(lines.first == "| Flag | Value | Default | Description |")
        // Header, separator, --config, then one row per flag.
        #expect(lines.count == FlagTable.standard.flags.count + 3)
        for flag in FlagTable.standard.flags {
            #expect(lines.contains { $0.hasPrefix("| `\(flag.flag)` |") }, "\(flag.flag) missing from table")
        }
        for line in lines {
            #expect(line.hasPrefix("|") && line.hasSuffix("|"))
        }
        #expect(lines.contains { $0.hasPrefix("| `--device` |") && $0.contains("swift-megatron") })
    }
}

@Suite("Path and list flags")
struct PathAndListFlagTests {
    @Test func listFlagsTakeEveryValueUpToTheNextFlag() throws {
        let args = try TrainingArguments.parse(["--data-path", "0.3", "a_text_document", "0.7", "b_text_document", "--split", "98,2,0",
                                                "--vocab-file", "gpt2/vocab.json", "--num-layers", "3"])
        #expect(args.dataPath == ["0.3", "a_text_document", "0.7", "b_text_document"])
        #expect(args.split == "98,2,0")
        #expect(args.vocabFile == "gpt2/vocab.json")
        #expect(args.numLayers == 3)
        #expect(try TrainingArguments.parse(["--data-path=one"]).dataPath == ["one"])
        #expect(throws: ArgumentError.self) { try TrainingArguments.parse(["--data-path", "--split", "1,0,0"]) }
    }

    @Test func configFilesTakeListsAsYAMLListsOrSpacedStrings() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("data-\(UUID().uuidString).yaml").path
        try "data-path: [0.5, a, 0.5, b]\ntrain_data_path: x y\ntokenizer-type: GPT2BPETokenizer\n".write(toFile: path, atomically: true, encoding: .utf8)
        let args = try TrainingArguments.parse(["--config", path])
        #expect(args.dataPath == ["0.5", "a", "0.5", "b"])
        #expect(args.trainDataPath == ["x", "y"])
        #expect(args.tokenizerType == "GPT2BPETokenizer")
    }
}
