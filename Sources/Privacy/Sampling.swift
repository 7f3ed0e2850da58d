import Foundation

/// How logical batches are drawn; recorded in every run.
public enum SamplingKind: String, Sendable, Codable, CaseIterable {
    /// Each example independently with probability q (what the accountants assume).
    case poisson
    /// A shuffled permutation cut into fixed-size batches, as the RGP authors' code does; the reported ε is then
    /// not a proven bound.
    case shuffled
}

/// Poisson sampling: each of N examples joins the batch independently with probability q.
///
/// Batch sizes vary (an empty batch is possible and must still be noised); sums are divided by the expected size qN.
public struct PoissonSampler: Sendable {
    public let population: Int
    public let rate: Double

    public init(population: Int, rate: Double) {
        precondition(population > 0 && rate > 0 && rate <= 1)
        self.population = population
        self.rate = rate
    }

    /// Expected batch size B = qN.
    public var expectedBatchSize: Double { rate * Double(population) }

    /// One batch, by geometric skips (each gap ~ Geometric(q)), indices ascending.
    public func sample<G: RandomNumberGenerator>(using generator: inout G) -> [Int] {
        if rate == 1 { return Array(0..<population) }
        var batch: [Int] = []
        batch.reserveCapacity(Int(expectedBatchSize * 1.2) + 8)
        let logComplement = log1p(-rate)
        var index = -1
        while true {
            let u = Double((generator.next() >> 11) + 1) * 0x1p-53  // (0, 1]
            let skip = (log(u) / logComplement).rounded(.down)  // P(skip ≥ k) = (1 − q)^k
            if Double(index) + skip + 1 >= Double(population) { break }
            index += Int(skip) + 1
            batch.append(index)
        }
        return batch
    }
}

/// Shuffled fixed-size batches: each epoch a fresh permutation cut into exactly ⌊N/B⌋ full batches of B (the N mod B
/// left over are skipped that epoch), so an epoch is ⌊N/B⌋ steps as the schedule counts them and every batch is divided
/// by its true size.
public struct ShuffledSampler: Sendable, Codable {
    public let population: Int
    public let batchSize: Int
    public private(set) var permutation: [Int]
    public private(set) var position: Int

    public init(population: Int, batchSize: Int) {
        precondition(population > 0 && batchSize > 0 && batchSize <= population)
        self.population = population
        self.batchSize = batchSize
        self.permutation = []
        self.position = 0
    }

    /// The next batch; starts a new permutation when the epoch is exhausted.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> [Int] {
        if position + batchSize > permutation.count {
            permutation = Array(0..<population)
            permutation.shuffle(using: &generator)
            position = 0
        }
        let end = position + batchSize
        defer { position = end }
        return Array(permutation[position..<end])
    }
}
