/// The split pattern a byte-level BPE applies before merging, implemented by hand over UTF-8
/// (Foundation's Regex is far too slow for tokenizing corpora). Each case reproduces its regex
/// exactly, lookahead and backtracking included.
///
///     PreTokenizer.gpt2.pieces("Hello world")   // ["Hello", " world"]
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// GPT-2's (tiktoken `r50k_base`/`p50k_base`, HF ByteLevel with `use_regex`):
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// tiktoken `cl100k_base`'s (also Llama 3's; tiktoken 0.14 spells it with possessive
    /// quantifiers, `\s++$` and `\s*[\r\n]`, which split identically):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case cl100k
    /// Megatron-LM's `--tiktoken-pattern v1` (`PATTERN_TIKTOKEN`, Tekken-style): cl100k's without
    /// the contractions and with one digit a piece:
    /// `[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`.
    /// (Its possessive quantifiers change nothing here: no alternative could backtrack into them.)
    /// Megatron's v2 (case-aware letter classes) is not implemented.
    case megatronV1

    /// The pieces of `text`, as the pattern's `findall` gives them.
    public func pieces(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { buf in
            var out: [String] = []
            forEachPiece(buf) { out.append(String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self)) }
            return out
        }
    }

    /// Calls `body` with the byte range of each piece of the UTF-8 text `buf`, in order.
    @inline(__always)
    func forEachPiece(_ buf: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        guard let base = buf.baseAddress else { return }
        let scanner = PieceScanner(p: base, n: buf.count)
        var i = 0
        while i < buf.count {
            let end: Int
            switch self {
            case .gpt2: end = scanner.gpt2(i)
            case .cl100k: end = scanner.cl100k(i, contractions: true, maxDigits: 3)
            case .megatronV1: end = scanner.cl100k(i, contractions: false, maxDigits: 1)
            }
            body(i..<end)
            i = end
        }
    }
}

/// Finds where the piece that starts at a byte offset ends (the text is valid UTF-8).
struct PieceScanner {
    let p: UnsafePointer<UInt8>
    let n: Int

    /// The class and UTF-8 length of the scalar at `i` (`i < n`).
    @inline(__always)
    func scalar(_ i: Int) -> (ScalarClass, Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (ScalarClass.ascii(b0), 1) }
        if b0 < 0xE0 { return (ScalarClass.of((b0 & 0x1F) << 6 | UInt32(p[i + 1]) & 0x3F), 2) }
        if b0 < 0xF0 {
            return (ScalarClass.of((b0 & 0x0F) << 12 | (UInt32(p[i + 1]) & 0x3F) << 6 | UInt32(p[i + 2]) & 0x3F), 3)
        }
        let v = (b0 & 0x07) << 18 | (UInt32(p[i + 1]) & 0x3F) << 12 | (UInt32(p[i + 2]) & 0x3F) << 6 | UInt32(p[i + 3]) & 0x3F
        return (ScalarClass.of(v), 4)
    }

    @inline(__always)
    func classAt(_ i: Int) -> ScalarClass? { i < n ? scalar(i).0 : nil }

    /// The end of the run of scalars of class `c` that starts at `i`.
    @inline(__always)
    func run(_ i: Int, _ c: ScalarClass) -> Int {
        var j = i
        while j < n {
            let (cj, len) = scalar(j)
            if cj != c { break }
            j += len
        }
        return j
    }

    /// `\s+(?!\S)|\s+` at `i` (a whitespace scalar): the whole run if it ends the text or is one
    /// scalar long, else the run less its last scalar (which then leads the next piece).
    @inline(__always)
    func whitespace(_ i: Int) -> Int {
        var j = i, last = i
        while j < n {
            let (c, len) = scalar(j)
            if !c.isWhitespace { break }
            last = j
            j += len
        }
        if j == n || last == i { return j }
        return last
    }

    /// The end of `'s|'t|'re|'ve|'m|'ll|'d` at `i` (p[i] is an apostrophe), or nil.
    @inline(__always)
    func contraction(_ i: Int, ignoreCase: Bool) -> Int? {
        guard i + 1 < n else { return nil }
        func lower(_ b: UInt8) -> UInt8 { ignoreCase && b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        let a = lower(p[i + 1])
        switch a {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return i + 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return i + 2 < n && lower(p[i + 2]) == UInt8(ascii: "e") ? i + 3 : nil
        case UInt8(ascii: "l"):
            return i + 2 < n && lower(p[i + 2]) == UInt8(ascii: "l") ? i + 3 : nil
        case 0xC5 where ignoreCase:
            // U+017F LATIN SMALL LETTER LONG S case-folds to "s" in the (?i) group.
            return i + 2 < n && p[i + 2] == 0xBF ? i + 3 : nil
        default: return nil
        }
    }

    func gpt2(_ i: Int) -> Int {
        let b = p[i]
        if b == UInt8(ascii: "'"), let end = contraction(i, ignoreCase: false) { return end }
        var c = scalar(i).0
        var start = i
        // ` ?X+`: a space joins a following run of letters, numbers or other symbols.
        if b == 0x20, i + 1 < n {
            let c2 = scalar(i + 1).0
            if !c2.isWhitespace { c = c2; start = i + 1 }
        }
        switch c {
        case .letter, .number, .other: return run(start, c)
        case .space, .newline: return whitespace(i)
        }
    }

    /// cl100k's pattern; without contractions and with `\p{N}` alone, Megatron's v1.
    @inline(__always)
    func cl100k(_ i: Int, contractions: Bool, maxDigits: Int) -> Int {
        let b = p[i]
        if contractions, b == UInt8(ascii: "'"), let end = contraction(i, ignoreCase: true) { return end }
        let (c, len) = scalar(i)
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if c == .letter { return run(i, .letter) }
        if (c == .other || c == .space), classAt(i + len) == .letter { return run(i + len, .letter) }
        // `\p{N}{1,3}`
        if c == .number {
            var j = i + len, k = 1
            while k < maxDigits, j < n {
                let (cj, lj) = scalar(j)
                if cj != .number { break }
                j += lj
                k += 1
            }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var start = -1
        if c == .other { start = i } else if b == 0x20, classAt(i + 1) == .other { start = i + 1 }
        if start >= 0 {
            var j = run(start, .other)
            while j < n, p[j] == 0x0A || p[j] == 0x0D { j += 1 }
            return j
        }
        // `\s*[\r\n]+`: through the last newline of the whitespace run, if it has one.
        var j = i, afterNewline = -1
        while j < n {
            let (cj, lj) = scalar(j)
            if !cj.isWhitespace { break }
            if cj == .newline { afterNewline = j + lj }
            j += lj
        }
        if afterNewline >= 0 { return afterNewline }
        return whitespace(i)
    }
}
