import CKernels
import Foundation
import Numerics
import Privacy
import Testing

@Suite("secure noise, mechanism, clipping, samplers")
struct MechanismTests {
    @Test("the generator's Gaussians have mean 0 and variance 1 within statistical bounds")
    func gaussianMoments() {
        var generator = PrivacyRandom(testingSeed: 1)
        let n = 400_000
        var sum = 0.0, squares = 0.0
        for _ in 0..<n {
            let x = generator.nextGaussian()
            sum += x
            squares += x * x
        }
        let mean = sum / Double(n), variance = squares / Double(n) - mean * mean
        // Standard errors: 1/√n for the mean, √(2/n) for the variance; allow 5 of them.
        #expect(abs(mean) < 5 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 5 * (2 / Double(n)).squareRoot())
    }

    @Test("seeded generators repeat; secure ones are keyed by the OS and never repeat or claim to be seeded")
    func seeding() {
        var a = PrivacyRandom(testingSeed: 7), b = PrivacyRandom(testingSeed: 7), c = PrivacyRandom(testingSeed: 8)
        let sa = (0..<4).map { _ in a.next() }, sb = (0..<4).map { _ in b.next() }, sc = (0..<4).map { _ in c.next() }
        #expect(sa == sb && sa != sc && a.isSeeded)
        var s1 = PrivacyRandom(), s2 = PrivacyRandom()
        #expect(!s1.isSeeded && !s2.isSeeded)
        #expect((0..<4).map { _ in s1.next() } != (0..<4).map { _ in s2.next() })
        // Keystream blocks are refilled without repeating (block boundary at 8192 words).
        var long = PrivacyRandom(testingSeed: 9)
        let first = (0..<8192).map { _ in long.next() }, second = (0..<8192).map { _ in long.next() }
        #expect(first != second)
    }

    @Test("with zero gradients the noised mean has per-coordinate std σC/B (χ² test, significance 1e-6)")
    func mechanismScale() {
        let count = 200_000, sigma = 1.3, clip = 0.5, batch = 250.0
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: count)
        var generator = PrivacyRandom(testingSeed: 3)
        GaussianMechanism.privatize(sum: buffer, count: count, sigma: sigma, clip: clip, expectedBatchSize: batch, generator: &generator)
        let expectedVariance = pow(sigma * clip / batch, 2)
        let statistic = (0..<count).reduce(0.0) { $0 + Double(buffer[$1]) * Double(buffer[$1]) } / expectedVariance
        // χ²(n) ≈ N(n, 2n) for large n; |z| < 4.89 is two-sided significance 1e-6.
        let z = (statistic - Double(count)) / (2 * Double(count)).squareRoot()
        #expect(abs(z) < 4.89, "z = \(z)")
        let mean = (0..<count).reduce(0.0) { $0 + Double(buffer[$1]) } / Double(count)
        #expect(abs(mean) < 4.89 * (expectedVariance / Double(count)).squareRoot())
        // Neighbouring coordinates share Box–Muller draws (cosine and sine outputs): they must stay uncorrelated.
        // Under independence the sample correlation of n pairs is ≈ N(0, 1/n).
        let pairs = count / 2
        let products = (0..<pairs).reduce(0.0) { $0 + Double(buffer[2 * $1]) * Double(buffer[2 * $1 + 1]) }
        let correlation = products / Double(pairs) / expectedVariance
        #expect(abs(correlation) * Double(pairs).squareRoot() < 4.89, "correlation \(correlation)")
    }

    @Test("a large tensor's noise, drawn in chunks from child streams: the same for any thread count, σC/B per coordinate, chunks independent")
    func chunkedNoise() {
        let chunk = GaussianMechanism.chunkSize, count = 3 * chunk + 1001, sigma = 0.9, clip = 0.5, batch = 64.0
        func draw(workers: Int, seed: UInt64) -> [Float] {
            let saved = Parallel.workers
            Parallel.workers = workers
            defer { Parallel.workers = saved }
            var values = [Float](repeating: 0, count: count)
            var generator = PrivacyRandom(testingSeed: seed)
            values.withUnsafeMutableBufferPointer {
                GaussianMechanism.privatize(sum: $0.baseAddress!, count: count, sigma: sigma, clip: clip,
                                            expectedBatchSize: batch, generator: &generator)
            }
            return values
        }
        let one = draw(workers: 1, seed: 21), two = draw(workers: 2, seed: 21)
        #expect(one.map(\.bitPattern) == two.map(\.bitPattern))
        #expect(draw(workers: 2, seed: 22) != two)
        let variance = pow(sigma * clip / batch, 2)
        let statistic = one.reduce(0.0) { $0 + Double($1) * Double($1) } / variance
        let z = (statistic - Double(count)) / (2 * Double(count)).squareRoot()
        #expect(abs(z) < 4.89, "z = \(z)")
        // Chunk k against chunk k + 1, coordinate by coordinate: uncorrelated (children keyed apart), and never equal.
        for k in 0..<2 {
            let products = (0..<chunk).reduce(0.0) { $0 + Double(one[k * chunk + $1]) * Double(one[(k + 1) * chunk + $1]) }
            let correlation = products / Double(chunk) / variance
            #expect(abs(correlation) * Double(chunk).squareRoot() < 4.89, "chunks \(k), \(k + 1): correlation \(correlation)")
            #expect(one[(k * chunk)..<(k * chunk + 100)] != one[((k + 1) * chunk)..<((k + 1) * chunk + 100)])
        }
    }

    @Test("the mechanism's batched Box–Muller (vector libm) is the scalar definition within 4 ulp, from the same keystream words")
    func batchedBoxMuller() {
        // The keystream read in bulk is the keystream read word by word, across a block refill (8192 words a block).
        var bulk = PrivacyRandom(testingSeed: 31), single = PrivacyRandom(testingSeed: 31)
        var words = [UInt64](repeating: 0, count: 20_003)
        words.withUnsafeMutableBufferPointer { bulk.fill($0.baseAddress!, count: 5) }
        words.withUnsafeMutableBufferPointer { bulk.fill($0.baseAddress! + 5, count: 19_998) }
        #expect(words == (0..<20_003).map { _ in single.next() })
        #expect(bulk.next() == single.next())
        // Edge words: u1 at its smallest (2⁻⁵³, radius ≈ 8.57) and 1 (radius 0); u2 at 0 and just below 1.
        let edges: [UInt64] = [0, 0, .max, .max, 0, .max, .max, 0, 1 << 11, 1 << 63]
        let pairs = (words.count - 1) / 2 + edges.count / 2
        let all = edges + words
        var normals = [Double](repeating: .nan, count: 2 * pairs)
        rgp_box_muller(all, &normals, pairs)
        var worst = 0.0
        for i in 0..<pairs {
            // The scalar definition (Numerics' nextGaussianPair) on the same two words.
            var replay = Replay(words: [all[2 * i], all[2 * i + 1]])
            let (c, s) = replay.nextGaussianPair()
            for (got, want) in [(normals[2 * i], c), (normals[2 * i + 1], s)] {
                // ≤ 4 ulp of each factor: relative to the radius, since cos and sin pass through 0.
                let radius = (c * c + s * s).squareRoot()
                worst = max(worst, abs(got - want) / max(radius, .leastNormalMagnitude))
            }
        }
        #expect(worst < 8 * Double.ulpOfOne, "worst relative error \(worst)")
        #expect(abs(normals[0] - (-2 * log(0x1p-53)).squareRoot()) < 1e-14 && normals[2] == 0 && normals[3] == 0)
    }

    /// Replays given words as a generator (for the scalar Box–Muller on chosen inputs).
    struct Replay: RandomNumberGenerator {
        var words: [UInt64]
        var position = 0
        mutating func next() -> UInt64 {
            defer { position += 1 }
            return words[position]
        }
    }

    @Test("clipping: norm ≤ C unchanged, above C scaled to exactly C, jointly over groups with their scales")
    func clipping() {
        // Three examples, two groups (sizes 3 and 2); the second group scaled by 1/10.
        var a: [Float] = [0.1, 0.2, 0.2,  3, 4, 0,  0, 0, 0]
        var b: [Float] = [0, 0,  0, 0,  0, 0]
        let clip = 1.0
        a.withUnsafeMutableBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in
                let groups = [PerExampleGroup(gradients: ap.baseAddress!, size: 3),
                              PerExampleGroup(gradients: bp.baseAddress!, size: 2, scale: 0.1)]
                let norms = Clipping.jointNorms(groups, batch: 3)
                #expect(abs(norms[0] - 0.3) < 1e-6 && abs(norms[1] - 5) < 1e-6 && norms[2] == 0)
                let factors = Clipping.factors(norms: norms, clip: clip)
                #expect(factors[0] == 1 && factors[2] == 1)
                var sum = [Float](repeating: 0, count: 3)
                Clipping.clippedSum(groups[0], factors: factors, into: &sum)
                // Example 0 unchanged, example 1 scaled to norm exactly 1: (0.6, 0.8, 0).
                #expect(abs(sum[0] - 0.7) < 1e-6 && abs(sum[1] - 1.0) < 1e-6 && abs(sum[2] - 0.2) < 1e-6)
                let clippedNorm = Double(factors[1]) * norms[1]
                #expect(abs(clippedNorm - clip) < 1e-6)
            }
        }
        // The group scale enters the joint norm: g = (0; 10, 0) with scale 0.1 has norm 1.
        var c: [Float] = [0], d: [Float] = [10, 0]
        c.withUnsafeMutableBufferPointer { cp in
            d.withUnsafeMutableBufferPointer { dp in
                let norms = Clipping.jointNorms([PerExampleGroup(gradients: cp.baseAddress!, size: 1),
                                                 PerExampleGroup(gradients: dp.baseAddress!, size: 2, scale: 0.1)], batch: 1)
                #expect(abs(norms[0] - 1) < 1e-6)
            }
        }
    }

    @Test("Poisson inclusion frequencies match q; batch sizes vary around qN")
    func poisson() {
        let sampler = PoissonSampler(population: 1000, rate: 0.05)
        var generator = PrivacyRandom(testingSeed: 4)
        var counts = [Int](repeating: 0, count: 1000)
        let rounds = 4000
        var sizes: Set<Int> = []
        for _ in 0..<rounds {
            let batch = sampler.sample(using: &generator)
            #expect(batch == batch.sorted() && Set(batch).count == batch.count)
            sizes.insert(batch.count)
            for i in batch { counts[i] += 1 }
        }
        let total = Double(counts.reduce(0, +))
        #expect(abs(total / Double(rounds * 1000) - 0.05) < 5 * (0.05 * 0.95 / Double(rounds * 1000)).squareRoot())
        // Each example: Binomial(4000, 0.05), sd ≈ 13.8; allow 5.5 sd (over 1000 examples).
        #expect(counts.allSatisfy { abs(Double($0) - 200) < 5.5 * 13.8 })
        #expect(counts[0] > 0 && counts[999] > 0, "both ends of the index range are reachable")
        #expect(sizes.count > 10)
        #expect(sampler.expectedBatchSize == 50)
    }

    @Test("the shuffled sampler yields exactly ⌊N/B⌋ full batches per epoch, no example twice within an epoch")
    func shuffled() {
        var sampler = ShuffledSampler(population: 103, batchSize: 10)
        var generator = PrivacyRandom(testingSeed: 5)
        var firstEpoch: [Int] = []
        for epoch in 0..<3 {
            var seen: [Int] = []
            for _ in 0..<10 {  // ⌊103/10⌋ = 10 steps per epoch
                let batch = sampler.next(using: &generator)
                #expect(batch.count == 10)
                seen += batch
            }
            #expect(Set(seen).count == 100 && seen.allSatisfy { (0..<103).contains($0) })
            if epoch == 0 { firstEpoch = seen } else { #expect(seen != firstEpoch, "a fresh permutation each epoch") }
        }
        var exact = ShuffledSampler(population: 100, batchSize: 10)
        var covered: [Int] = []
        for _ in 0..<10 { covered += exact.next(using: &generator) }
        #expect(covered.sorted() == Array(0..<100))
    }
}
