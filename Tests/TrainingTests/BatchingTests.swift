import Numerics
import Testing
import Training

/// Examples of the given lengths (token ids are irrelevant to the cutting).
private func examples(_ lengths: [Int]) -> [EncodedExample] {
    lengths.map { EncodedExample(ids: [Int32](repeating: 1, count: $0), types: [Int32](repeating: 0, count: $0), label: 0) }
}

/// The fewest micro-batches any cutting of the length-sorted examples into contiguous runs needs, by trying all 2ⁿ⁻¹.
private func bruteForceFewest(_ lengths: [Int], budget: Int, maxExamples: Int) -> Int {
    let sorted = lengths.sorted(by: >), n = sorted.count
    var best = Int.max
    for mask in 0..<(1 << (n - 1)) {
        var count = 0, start = 0, feasible = true
        for end in 1...n where end == n || mask & (1 << (end - 1)) != 0 {
            let examples = end - start, tokens = sorted[start..<end].reduce(0, +)
            if examples > 1 && (tokens > budget || examples > maxExamples) { feasible = false; break }
            count += 1
            start = end
        }
        if feasible { best = min(best, count) }
    }
    return best
}

@Suite struct MicroBatchTests {
    @Test func everyExampleOnceWithinBudgetLongestFirst() {
        var generator = Xoshiro256(seed: 3)
        let lengths = (0..<700).map { _ in 3 + Int(generator.next() % 90) } + [600]  // one longer than the budget
        let data = examples(lengths)
        let indices = Array(data.indices).shuffled(using: &generator)
        let batches = microBatches(indices, of: data, tokenBudget: 512, maxExamples: 40)
        #expect(batches.flatMap { $0 }.sorted() == Array(data.indices))
        for batch in batches {
            let tokens = batch.reduce(0) { $0 + lengths[$1] }
            #expect(batch.count == 1 || (tokens <= 512 && batch.count <= 40))
            #expect(batch.map { lengths[$0] } == batch.map { lengths[$0] }.sorted(by: >))
        }
        let firsts = batches.map { lengths[$0[0]] }
        #expect(firsts == firsts.sorted(by: >))
        #expect(batches.first == [700])  // the 600-token example stands alone
    }

    @Test func fewestMicroBatchesAgainstBruteForce() {
        var generator = Xoshiro256(seed: 9)
        for trial in 0..<60 {
            let n = 1 + trial % 11
            let lengths = (0..<n).map { _ in 1 + Int(generator.next() % 40) }
            let (budget, maxExamples) = (40 + Int(generator.next() % 100), 2 + trial % 5)
            let data = examples(lengths)
            let batches = microBatches(Array(data.indices), of: data, tokenBudget: budget, maxExamples: maxExamples)
            #expect(batches.count == bruteForceFewest(lengths, budget: budget, maxExamples: maxExamples),
                    "lengths \(lengths) budget \(budget) max \(maxExamples)")
            for batch in batches {
                #expect(batch.count == 1 || (batch.reduce(0) { $0 + lengths[$1] } <= budget && batch.count <= maxExamples))
            }
        }
    }

    /// Unpadded, a long sentence shares a micro-batch with short ones: the budget counts tokens, not padded positions.
    @Test func budgetCountsTokens() {
        let lengths = [64] + [Int](repeating: 8, count: 400)
        let data = examples(lengths)
        let batches = microBatches(Array(data.indices), of: data, tokenBudget: 4096)
        #expect(batches.count == 1)  // 3264 tokens; padded to 64 they would be 25,664 positions
        #expect(batches[0].first == 0)
        #expect(microBatches([], of: data, tokenBudget: 4096).isEmpty)
    }
}
