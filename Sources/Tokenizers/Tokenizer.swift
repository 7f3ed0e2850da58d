/// Token ids and segment ids for one model input, special tokens included.
public struct Encoding: Equatable, Sendable {
    public var inputIds: [Int32]
    public var tokenTypeIds: [Int32]
    public init(inputIds: [Int32], tokenTypeIds: [Int32]) {
        self.inputIds = inputIds
        self.tokenTypeIds = tokenTypeIds
    }
}

/// Where the special tokens go around one or two segments.
public enum PairTemplate: Sendable, Equatable {
    /// `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`; segment ids 0 for A, 1 for B (BERT, ALBERT).
    case bert(cls: Int32, sep: Int32)
    /// `<s> A </s>` and `<s> A </s></s> B </s>`; every segment id 0 (RoBERTa, XLM-R).
    case roberta(bos: Int32, eos: Int32)
    /// Raw ids, no special tokens (a bare SentencePiece model); a pair is A followed by B.
    case none

    /// Special tokens the template adds for one segment or a pair.
    public func addedTokens(pair: Bool) -> Int {
        switch self {
        case .bert: pair ? 3 : 2
        case .roberta: pair ? 4 : 2
        case .none: 0
        }
    }

    func apply(_ a: [Int32], _ b: [Int32]?) -> Encoding {
        switch self {
        case let .bert(cls, sep):
            var ids = [cls] + a + [sep]
            var types = [Int32](repeating: 0, count: ids.count)
            if let b {
                ids += b + [sep]
                types += [Int32](repeating: 1, count: b.count + 1)
            }
            return Encoding(inputIds: ids, tokenTypeIds: types)
        case let .roberta(bos, eos):
            var ids = [bos] + a + [eos]
            if let b { ids += [eos] + b + [eos] }
            return Encoding(inputIds: ids, tokenTypeIds: [Int32](repeating: 0, count: ids.count))
        case .none:
            let ids = a + (b ?? [])
            return Encoding(inputIds: ids, tokenTypeIds: [Int32](repeating: 0, count: ids.count))
        }
    }
}

/// Text to token ids, as a checkpoint's own tokenizer does it.
public protocol Tokenizer: Sendable {
    /// Ids of `text` without special tokens.
    func tokenize(_ text: String) -> [Int32]
    /// The checkpoint's special-token layout.
    var template: PairTemplate { get }
    /// Id used to pad batches.
    var padId: Int32 { get }
    /// Number of ids in the vocabulary.
    var vocabularySize: Int { get }
}

extension Tokenizer {
    /// Encodes one segment or a pair with special tokens, truncated to `maxLength` ids in total.
    ///
    /// Truncation is Hugging Face's `longest_first` as its Rust tokenizers implement it: when only the longer
    /// segment must shrink it keeps `maxLength − added − shorter` ids; when both must, the first gets
    /// ⌊budget/2⌋ (the shorter, on ties the first) and the other the rest.
    public func encode(_ a: String, pair b: String? = nil, maxLength: Int? = nil) -> Encoding {
        var first = tokenize(a)
        var second = b.map(tokenize)
        if let maxLength {
            let budget = Swift.max(0, maxLength - template.addedTokens(pair: second != nil))
            if var other = second {
                Self.truncateLongestFirst(&first, &other, budget: budget)
                second = other
            } else if first.count > budget {
                first.removeLast(first.count - budget)
            }
        }
        return template.apply(first, second)
    }

    static func truncateLongestFirst(_ a: inout [Int32], _ b: inout [Int32], budget: Int) {
        guard a.count + b.count > budget else { return }
        let swapped = a.count > b.count
        var (short, long) = swapped ? (b.count, a.count) : (a.count, b.count)
        long = short > budget ? short : Swift.max(short, budget - short)
        if short + long > budget {
            short = budget / 2
            long = short + budget % 2
        }
        let (keepA, keepB) = swapped ? (long, short) : (short, long)
        if a.count > keepA { a.removeLast(a.count - keepA) }
        if b.count > keepB { b.removeLast(b.count - keepB) }
    }
}

/// Why a tokenizer could not be built.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case noTokenizer(directory: String)
    case unreadable(path: String, reason: String)
    case invalidConfig(path: String, reason: String)
    case missingSpecialToken(token: String, path: String)
    case sentencePiece(path: String, reason: String)

    public var description: String {
        switch self {
        case let .noTokenizer(directory):
            "\(directory): no tokenizer found (expected config.json with a tokenizer block, a vocab.txt, or one .model file)"
        case let .unreadable(path, reason): "\(path): cannot read: \(reason)"
        case let .invalidConfig(path, reason): "\(path): \(reason)"
        case let .missingSpecialToken(token, path): "\(path): special token \(token) is not in the vocabulary"
        case let .sentencePiece(path, reason): "\(path): SentencePiece: \(reason)"
        }
    }
}
