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

/// Length-bucketed micro-batches: the examples sorted by length (longest first) and cut so that each micro-batch,
/// padded to its own longest sequence, holds at most `tokenBudget` positions and `maxExamples` examples.
public func microBatches(_ indices: [Int], of examples: [EncodedExample], tokenBudget: Int, maxExamples: Int = 512) -> [[Int]] {
    let sorted = indices.sorted { examples[$0].ids.count > examples[$1].ids.count }
    var batches: [[Int]] = []
    var current: [Int] = []
    var longest = 0
    for index in sorted {
        let length = examples[index].ids.count
        let newLongest = Swift.max(longest, length)
        if !current.isEmpty && (newLongest * (current.count + 1) > tokenBudget || current.count >= maxExamples) {
            batches.append(current)
            current = []
            longest = 0
        }
        current.append(index)
        longest = Swift.max(longest, length)
    }
    if !current.isEmpty { batches.append(current) }
    return batches
}

/// A padded batch of the given examples.
public func makeBatch(_ indices: [Int], of examples: [EncodedExample], padId: Int32) -> Batch {
    Batch(sequences: indices.map { examples[$0].ids }, tokenTypes: indices.map { examples[$0].types }, padId: padId)
}
