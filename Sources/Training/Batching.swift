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

/// Length-bucketed micro-batches: the examples sorted by length (longest first, ties in the order given) and cut into
/// runs so that each micro-batch, padded to its own longest sequence, holds at most `tokenBudget` positions (a single
/// longer example stands alone) and `maxExamples` examples.
///
/// The cuts minimise padded positions plus `overheadTokens` per micro-batch (dynamic programming over the sorted
/// lengths), not the greedy fill-to-budget: filling to budget puts a long sequence's padding on every shorter one
/// beside it (SST-2's mean length is 13 tokens with a tail to 66; greedy cuts of batch 1000 left 26% of the
/// positions as padding). `overheadTokens` prices a micro-batch's fixed cost in token positions, so the cuts stop
/// where a smaller, less efficient micro-batch would cost more than the padding it saves.
public func microBatches(_ indices: [Int], of examples: [EncodedExample], tokenBudget: Int, maxExamples: Int = 512,
                         overheadTokens: Int = MicroBatching.overheadTokens) -> [[Int]] {
    let sorted = indices.indices.sorted {
        let (a, b) = (examples[indices[$0]].ids.count, examples[indices[$1]].ids.count)
        return a != b ? a > b : $0 < $1
    }.map { indices[$0] }
    let lengths = sorted.map { examples[$0].ids.count }
    let n = sorted.count
    // cost[j]: the cheapest cutting of the first j; start[j]: where its last micro-batch starts.
    var cost = [Int](repeating: .max, count: n + 1), start = [Int](repeating: 0, count: n + 1)
    cost[0] = 0
    for j in stride(from: 1, through: n, by: 1) {
        var i = j - 1
        while i >= 0 {
            let count = j - i, padded = lengths[i] * count  // lengths[i] is the run's longest
            if count > 1 && (padded > tokenBudget || count > maxExamples) { break }
            let candidate = cost[i] + padded + overheadTokens
            if candidate < cost[j] { (cost[j], start[j]) = (candidate, i) }
            i -= 1
        }
    }
    var batches: [[Int]] = []
    var end = n
    while end > 0 {
        batches.append(Array(sorted[start[end]..<end]))
        end = start[end]
    }
    return batches.reversed()
}

/// The micro-batch cutting's price of one micro-batch in padded token positions (see `microBatches`).
public enum MicroBatching {
    /// Measured with `rgp bench workload --bucket-overhead` on SST-2 (results/bench/bucket-overhead.md).
    nonisolated(unsafe) public static var overheadTokens = 256
}

/// A padded batch of the given examples.
public func makeBatch(_ indices: [Int], of examples: [EncodedExample], padId: Int32) -> Batch {
    Batch(sequences: indices.map { examples[$0].ids }, tokenTypes: indices.map { examples[$0].types }, padId: padId)
}
