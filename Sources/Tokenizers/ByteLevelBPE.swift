import Foundation
import Synchronization

/// GPT-2/RoBERTa byte-level BPE, as Hugging Face's RobertaTokenizerFast applies it: RoBERTa's special tokens are split
/// out of the text first; the rest is cut by GPT-2's pre-tokenisation pattern, each piece's UTF-8 bytes are mapped to
/// printable characters (the byte-to-unicode table), and adjacent symbols are merged by rank until no merge applies.
///
/// Pre-tokenisation pattern (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`), scanned by
/// hand over Unicode scalars: letters are general category L*, numbers N*, whitespace the White_Space property.
public final class ByteLevelBPETokenizer: Tokenizer {
    public let template: PairTemplate
    public let padId: Int32
    public var vocabularySize: Int { vocabulary.count }

    let vocabulary: [String: Int32]
    /// Merge rank of each pair "left right" (lower merges first).
    let ranks: [String: Int]
    /// Special tokens found verbatim in text, longest first.
    let specialTokens: [(text: [Unicode.Scalar], id: Int32)]
    /// Byte b ↦ the printable character GPT-2 stands it for.
    let byteSymbols: [String]
    /// Pieces already merged (BPE per piece is the costly part; text repeats).
    private let cache = Mutex<[String: [Int32]]>([:])

    /// Reads a `vocab.json` (token → id) and a `merges.txt` ("left right" per line, most frequent first).
    public convenience init(vocabularyFile: String, mergesFile: String) throws {
        let vocabulary: [String: Int32]
        do {
            vocabulary = try JSONDecoder().decode([String: Int32].self, from: Data(contentsOf: URL(fileURLWithPath: vocabularyFile)))
        } catch {
            throw TokenizerError.unreadable(path: vocabularyFile, reason: "expected a JSON object of token → id (\(error))")
        }
        guard let text = try? String(contentsOfFile: mergesFile, encoding: .utf8) else {
            throw TokenizerError.unreadable(path: mergesFile, reason: "not a UTF-8 text file")
        }
        var merges: [(String, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidConfig(path: mergesFile, reason: "line \(index + 1): expected two symbols separated by one space, got \"\(line)\"")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocabulary: vocabulary, merges: merges, source: vocabularyFile)
    }

    /// A tokenizer from its vocabulary and merges; `<s>`, `</s>`, `<pad>` and `<unk>` must be in the vocabulary.
    public init(vocabulary: [String: Int32], merges: [(String, String)], source: String = "vocabulary") throws {
        func id(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else { throw TokenizerError.missingSpecialToken(token: token, path: source) }
            return id
        }
        template = .roberta(bos: try id("<s>"), eos: try id("</s>"))
        padId = try id("<pad>")
        self.vocabulary = vocabulary
        var ranks: [String: Int] = [:]
        for (rank, merge) in merges.enumerated() where ranks[merge.0 + " " + merge.1] == nil {
            ranks[merge.0 + " " + merge.1] = rank
        }
        self.ranks = ranks
        specialTokens = ["<s>", "</s>", "<pad>", "<unk>", "<mask>"].compactMap { token in
            vocabulary[token].map { (Array(token.unicodeScalars), $0) }
        }.sorted { $0.text.count > $1.text.count }
        byteSymbols = Self.byteToUnicode()
    }

    /// The byte table, for tests.
    public var byteSymbolsForTesting: [String] { byteSymbols }

    /// GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onwards in order.
    static func byteToUnicode() -> [String] {
        let printable = Set(Array(33...126) + Array(161...172) + Array(174...255))
        var next = 256
        return (0..<256).map { byte in
            if printable.contains(byte) { return String(Unicode.Scalar(UInt8(byte))) }
            defer { next += 1 }
            return String(Unicode.Scalar(UInt32(next))!)
        }
    }

    public func tokenize(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        var start = 0, i = 0
        // Special tokens first, verbatim; the text between them goes through pre-tokenisation and BPE.
        while i < scalars.count {
            if let special = specialTokens.first(where: { matches($0.text, in: scalars, at: i) }) {
                ids += encodePlain(scalars[start..<i])
                ids.append(special.id)
                i += special.text.count
                start = i
            } else {
                i += 1
            }
        }
        ids += encodePlain(scalars[start..<scalars.count])
        return ids
    }

    private func matches(_ token: [Unicode.Scalar], in scalars: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + token.count <= scalars.count else { return false }
        for (k, s) in token.enumerated() where scalars[i + k] != s { return false }
        return true
    }

    private func encodePlain(_ scalars: ArraySlice<Unicode.Scalar>) -> [Int32] {
        var ids: [Int32] = []
        for piece in Self.preTokenize(Array(scalars)) {
            var text = String.UnicodeScalarView()
            text.append(contentsOf: piece)
            ids += merge(String(text))
        }
        return ids
    }

    // MARK: Pre-tokenisation

    enum ScalarClass { case letter, number, space, other }

    static func classify(_ s: Unicode.Scalar) -> ScalarClass {
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The pieces GPT-2's pattern cuts `scalars` into, in order; together they are the whole input.
    static func preTokenize(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        let classes = scalars.map(classify)
        let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }
        var pieces: [ArraySlice<Unicode.Scalar>] = []
        var i = 0
        let n = scalars.count
        func run(from j: Int, while cls: ScalarClass) -> Int {
            var e = j
            while e < n && classes[e] == cls { e += 1 }
            return e
        }
        while i < n {
            // 's 't 're 've 'm 'll 'd
            if scalars[i] == "'", let c = contractions.first(where: { c in
                i + 1 + c.count <= n && zip(c, scalars[(i + 1)...]).allSatisfy { $0 == $1 }
            }) {
                pieces.append(scalars[i..<(i + 1 + c.count)])
                i += 1 + c.count
                continue
            }
            // An optional single U+0020 before a run of letters, numbers, or other non-space symbols.
            let body = scalars[i] == " " && i + 1 < n && classes[i + 1] != .space ? i + 1 : i
            if classes[body] != .space {
                let end = run(from: body, while: classes[body])
                pieces.append(scalars[i..<end])
                i = end
                continue
            }
            // Whitespace: the run, less its last scalar when a non-space follows (that one may lead the next piece).
            let end = run(from: i, while: .space)
            if end < n && end - i > 1 {
                pieces.append(scalars[i..<(end - 1)])
                i = end - 1
            } else {
                pieces.append(scalars[i..<end])
                i = end
            }
        }
        return pieces
    }

    // MARK: Merges

    /// Ids of one piece: its bytes as symbols, merged pair by pair, lowest rank first (ties: leftmost).
    func merge(_ piece: String) -> [Int32] {
        if let cached = cache.withLock({ $0[piece] }) { return cached }
        var symbols = piece.utf8.map { byteSymbols[Int($0)] }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for k in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[k] + " " + symbols[k + 1]], rank < (best?.rank ?? Int.max) { best = (rank, k) }
            }
            guard let best else { break }
            // Merge every occurrence of that pair, left to right.
            let left = symbols[best.index], right = symbols[best.index + 1]
            var merged: [String] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count && symbols[k] == left && symbols[k + 1] == right {
                    merged.append(left + right)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        let unknown = vocabulary["<unk>"] ?? padId
        let ids = symbols.map { vocabulary[$0] ?? unknown }
        cache.withLock { $0[piece] = ids }
        return ids
    }
}
