import Foundation
import Storage

/// BERT's tokenizer: the basic tokenizer (text cleanup, CJK split, optional lower-casing and accent
/// stripping, whitespace and punctuation split) followed by greedy longest-match-first WordPiece.
///
/// Matches Hugging Face's `BertTokenizerFast` (its Rust normalizer, pre-tokenizer and model): special tokens
/// written literally in the text (`[SEP]`, …) are recognised before normalisation, as added tokens are there.
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    public let template: PairTemplate
    public let padId: Int32
    public var vocabularySize: Int { pieces.count }

    private let vocabulary: [String: Int32]
    private let pieces: [String]
    private let unknownId: Int32
    private let lowercase: Bool
    private let stripAccents: Bool
    private let specialTokens: [(text: [Unicode.Scalar], id: Int32)]
    /// Words longer than this many characters become the unknown token, as in BERT.
    public static let maxCharactersPerWord = 100

    /// Names of the special tokens in the vocabulary.
    public struct SpecialTokens: Sendable {
        public var cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", unk = "[UNK]", mask = "[MASK]"
        public init() {}
    }

    /// Loads a `vocab.txt` (one piece per line, id = line number from 0).
    /// `stripAccents` defaults to `lowercase`, as in BERT.
    public init(vocabularyFile path: String, lowercase: Bool = true, stripAccents: Bool? = nil,
                specialTokens: SpecialTokens = SpecialTokens()) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TokenizerError.unreadable(path: path, reason: FileManager.default.isReadableFile(atPath: path)
                                            ? "not UTF-8 text" : Files.unreadableReason(path))
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(lines.count)
        for (index, piece) in lines.enumerated() {
            let piece = piece.hasSuffix("\r") ? String(piece.dropLast()) : piece
            if vocabulary[piece] == nil { vocabulary[piece] = Int32(index) }
        }
        func id(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else { throw TokenizerError.missingSpecialToken(token: token, path: path) }
            return id
        }
        self.vocabulary = vocabulary
        self.pieces = lines
        self.lowercase = lowercase
        self.stripAccents = stripAccents ?? lowercase
        self.unknownId = try id(specialTokens.unk)
        self.padId = try id(specialTokens.pad)
        self.template = .bert(cls: try id(specialTokens.cls), sep: try id(specialTokens.sep))
        let specials = [specialTokens.cls, specialTokens.sep, specialTokens.pad, specialTokens.unk, specialTokens.mask]
        self.specialTokens = try specials.map { (Array($0.unicodeScalars), try id($0)) }
            .sorted { $0.text.count > $1.text.count }
    }

    /// The piece for an id (for display and debugging).
    public func piece(_ id: Int32) -> String? { pieces.indices.contains(Int(id)) ? pieces[Int(id)] : nil }

    public func tokenize(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        let scalars = Array(text.unicodeScalars)
        var segmentStart = 0, i = 0
        while i < scalars.count {
            if scalars[i] == "[", let special = specialTokens.first(where: { matches($0.text, scalars, at: i) }) {
                tokenizeText(scalars[segmentStart..<i], into: &ids)
                ids.append(special.id)
                i += special.text.count
                segmentStart = i
            } else {
                i += 1
            }
        }
        tokenizeText(scalars[segmentStart..<scalars.count], into: &ids)
        return ids
    }

    private func matches(_ token: [Unicode.Scalar], _ text: [Unicode.Scalar], at start: Int) -> Bool {
        guard start + token.count <= text.count else { return false }
        for k in 0..<token.count where text[start + k] != token[k] { return false }
        return true
    }

    private func tokenizeText(_ raw: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        if raw.isEmpty { return }
        for word in preTokenize(normalize(raw)) { wordPiece(word, into: &ids) }
    }

    // Cleanup, CJK spacing, accent stripping and lower-casing, in the Rust BertNormalizer's order.
    private func normalize(_ raw: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(raw.count)
        var ascii = true
        for scalar in raw {
            if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                cleaned.append(" ")
            } else if Self.isCJK(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
                ascii = false
            } else {
                cleaned.append(scalar)
                if !scalar.isASCII { ascii = false }
            }
        }
        if stripAccents && !ascii {
            var string = String.UnicodeScalarView()
            string.append(contentsOf: cleaned)
            let decomposed = String(string).decomposedStringWithCanonicalMapping
            cleaned = decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        guard lowercase else { return cleaned }
        var lowered: [Unicode.Scalar] = []
        lowered.reserveCapacity(cleaned.count)
        for scalar in cleaned {
            if scalar.isASCII {
                lowered.append(scalar.value >= 65 && scalar.value <= 90 ? Unicode.Scalar(scalar.value + 32)! : scalar)
            } else {
                lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return lowered
    }

    // Splits on whitespace (dropped) and punctuation (each mark its own word).
    private func preTokenize(_ text: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        for (i, scalar) in text.enumerated() {
            if scalar.properties.isWhitespace {
                if start < i { words.append(text[start..<i]) }
                start = i + 1
            } else if Self.isPunctuation(scalar) {
                if start < i { words.append(text[start..<i]) }
                words.append(text[i...i])
                start = i + 1
            }
        }
        if start < text.count { words.append(text[start..<text.count]) }
        return words
    }

    private func wordPiece(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        if word.count > Self.maxCharactersPerWord {
            ids.append(unknownId)
            return
        }
        let chars = Array(word)
        var found: [Int32] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var match: Int32?
            while start < end {
                var candidate = String.UnicodeScalarView()
                if start > 0 { candidate.append(contentsOf: "##".unicodeScalars) }
                candidate.append(contentsOf: chars[start..<end])
                if let id = vocabulary[String(candidate)] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.append(unknownId)
                return
            }
            found.append(match)
            start = end
        }
        ids.append(contentsOf: found)
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
