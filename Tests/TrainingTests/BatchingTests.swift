import Numerics
import Testing
import Training

/// Examples of the given lengths (token ids are irrelevant to the cutting).
private func examples(_ lengths: [Int]) -> [EncodedExample] {
    lengths.map { EncodedExample(ids: [Int32](repeating: 1, count: $0), types: [Int32](repeating: 0, count: $0), label: 0) }
}

/// What a cutting costs under `microBatches`' objective: padded positions plus the overhead per micro-batch.
private func cost(_ batches: [[Int]], _ data: [EncodedExample], overhead: Int) -> Int {
    batches.reduce(0) { total, batch in total + (batch.map { data[$0].ids.count }.max() ?? 0) * batch.count + overhead }
}

/// The cheapest cutting of the length-sorted examples into contiguous runs, by trying all 2ⁿ⁻¹ of them.
private func bruteForceCost(_ lengths: [Int], budget: Int, maxExamples: Int, overhead: Int) -> Int {
    let sorted = lengths.sorted(by: >), n = sorted.count
    var best = Int.max
    for mask in 0..<(1 << (n - 1)) {
        var total = 0, start = 0, feasible = true
        for end in 1...n where end == n || mask & (1 << (end - 1)) != 0 {
            let count = end - start, padded = sorted[start] * count
            if count > 1 && (padded > budget || count > maxExamples) { feasible = false; break }
            total += padded + overhead
            start = end
        }
        if feasible { best = min(best, total) }
    }
    return best
}

@Suite struct MicroBatchTests {
    @Test func everyExampleOnceWithinBudgetLongestFirst() {
        var generator = Xoshiro256(seed: 3)
        let lengths = (0..<700).map { _ in 3 + Int(generator.next() % 90) } + [300]  // one longer than the budget
        let data = examples(lengths)
        let indices = Array(data.indices).shuffled(using: &generator)
        let batches = microBatches(indices, of: data, tokenBudget: 512, maxExamples: 40)
        #expect(batches.flatMap { $0 }.sorted() == Array(data.indices))
        for batch in batches {
            let longest = batch.map { lengths[$0] }.max() ?? 0
            #expect(batch.count == 1 || (longest * batch.count <= 512 && batch.count <= 40))
            #expect(batch.map { lengths[$0] } == batch.map { lengths[$0] }.sorted(by: >))
        }
        let firsts = batches.map { lengths[$0[0]] }
        #expect(firsts == firsts.sorted(by: >))
        #expect(batches.first == [700])  // the 300-token example stands alone
    }

    @Test func cuttingIsOptimalAgainstBruteForce() {
        var generator = Xoshiro256(seed: 9)
        for trial in 0..<60 {
            let n = 1 + trial % 11
            let lengths = (0..<n).map { _ in 1 + Int(generator.next() % 40) }
            let (budget, maxExamples, overhead) = (60 + Int(generator.next() % 100), 2 + trial % 5, [0, 7, 30, 200][trial % 4])
            let data = examples(lengths)
            let batches = microBatches(Array(data.indices), of: data, tokenBudget: budget, maxExamples: maxExamples,
                                       overheadTokens: overhead)
            #expect(cost(batches, data, overhead: overhead)
                    == bruteForceCost(lengths, budget: budget, maxExamples: maxExamples, overhead: overhead),
                    "lengths \(lengths) budget \(budget) max \(maxExamples) overhead \(overhead)")
        }
    }

    /// One long sentence among short ones: filling to the budget would pad a run of short ones to its length.
    @Test func longSequenceDoesNotPadItsNeighbours() {
        let lengths = [64] + [Int](repeating: 8, count: 400)
        let data = examples(lengths)
        let batches = microBatches(Array(data.indices), of: data, tokenBudget: 4096, overheadTokens: 256)
        #expect(batches.first == [0])
        let positions = batches.reduce(0) { $0 + ($1.map { lengths[$0] }.max() ?? 0) * $1.count }
        #expect(positions == lengths.reduce(0, +))  // no padding at all
        #expect(microBatches([], of: data, tokenBudget: 4096).isEmpty)
    }
}
