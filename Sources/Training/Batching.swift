import GLUE
import Tokenizers
import Transformer

/// One tokenized example.
public struct EncodedExample: Sendable {
    public var ids: [Int32]
    public var types: [Int32]
    public var label: Int
    public init(ids: [Int32], types: [Int32], label: Int) {
        (self.ids, self.types, self.label) = (ids, types, label)
    }
}

/// Tokenizes every example of a split (pairs with longest_first truncation to `maxLength`).
public func encodeExamples(_ examples: [Example], tokenizer: any Tokenizer, maxLength: Int) -> [EncodedExample] {
    examples.map { example in
        let encoding = tokenizer.encode(example.first, pair: example.second, maxLength: maxLength)
        return EncodedExample(ids: encoding.inputIds, types: encoding.tokenTypeIds, label: example.label)
    }
}

/// The most examples a trainer's micro-batch holds, however short they are.
public let microBatchExampleLimit = 512

/// Micro-batches of a logical batch: the examples sorted by length (longest first, ties in the order given) and cut
/// into the fewest runs of at most `tokenBudget` tokens and `maxExamples` examples each (a single longer example
/// stands alone).
///
/// The encoder runs a micro-batch unpadded (`BertModel`), so its cost is its tokens, whatever lengths share it, and
/// the fewest, fullest micro-batches are the cheapest (each has a fixed cost: the head, the per-micro-batch passes,
/// smaller products). The sorting is kept for the shares of several processes: every P-th example of a sorted
/// micro-batch gives each rank about the same tokens.
public func microBatches(_ indices: [Int], of examples: [EncodedExample], tokenBudget: Int,
                         maxExamples: Int = microBatchExampleLimit) -> [[Int]] {
    let sorted = indices.indices.sorted {
        let (a, b) = (examples[indices[$0]].ids.count, examples[indices[$1]].ids.count)
        return a != b ? a > b : $0 < $1
    }.map { indices[$0] }
    var batches: [[Int]] = [], current: [Int] = [], tokens = 0
    for index in sorted {
        let length = examples[index].ids.count
        if !current.isEmpty && (tokens + length > tokenBudget || current.count == maxExamples) {
            batches.append(current)
            (current, tokens) = ([], 0)
        }
        current.append(index)
        tokens += length
    }
    if !current.isEmpty { batches.append(current) }
    return batches
}

/// A padded batch of the given examples.
public func makeBatch(_ indices: [Int], of examples: [EncodedExample], padId: Int32) -> Batch {
    Batch(sequences: indices.map { examples[$0].ids }, tokenTypes: indices.map { examples[$0].types }, padId: padId)
}
