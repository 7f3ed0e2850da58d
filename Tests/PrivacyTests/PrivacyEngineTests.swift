import Foundation
import Numerics
import Testing
@testable import Privacy

@Suite("schedule")
struct ScheduleTests {
    @Test("T = epochs·⌊N/B⌋, q = B/N, evaluations at every epoch end and at a last step mid-epoch")
    func derivation() {
        let s = Schedule(trainSize: 67_349, batchSize: 1000, epochs: 3, sampling: .poisson)
        #expect(s.stepsPerEpoch == 67 && s.totalSteps == 201 && s.sampleRate == 1000.0 / 67_349.0 && s.evaluations == 3)
        let half = Schedule(trainSize: 100, batchSize: 16, epochs: 1.5, sampling: .shuffled)
        #expect(half.stepsPerEpoch == 6 && half.totalSteps == 9 && half.evaluations == 2)
        #expect(half.endsEpoch(afterStep: 6) && half.endsEpoch(afterStep: 9) && !half.endsEpoch(afterStep: 7))
        #expect(Schedule(trainSize: 10, batchSize: 16, epochs: 0.1, sampling: .poisson).totalSteps == 1)
    }
}

@Suite("privacy engine")
struct PrivacyEngineTests {
    func engine(isPrivate: Bool, clip: Double = 1, noise: PrivacyEngine.NoiseChoice = .noiseMultiplier(1, target: nil)) -> PrivacyEngine {
        try! PrivacyEngine(schedule: Schedule(trainSize: 100, batchSize: 4, epochs: 1, sampling: .poisson), isPrivate: isPrivate,
                      clip: clip, delta: 1e-5, noise: noise, accountant: .rdp, seed: 1, seededRandomness: true)
    }

    @Test("accumulate clips each example jointly over all segments (with their scales) and sums: a Float64 reference")
    func accumulateMatchesReference() throws {
        let layout = FlatLayout([FlatSegment(size: 3), FlatSegment(size: 5, scale: 0.1), FlatSegment(size: 2)])
        let b = 4, clip = 1.0
        var generator = Xoshiro256(seed: 3)
        // Group-major: segment g is a [b, size_g] block at b·offset_g.
        let values = (0..<(b * layout.size)).map { _ in Float(generator.nextGaussian()) * (generator.next() % 2 == 0 ? 0.05 : 2) }
        var buffer = values, sum = [Float](repeating: 0, count: layout.size)
        let e = engine(isPrivate: true, clip: clip)
        buffer.withUnsafeMutableBufferPointer { p in sum.withUnsafeMutableBufferPointer { e.accumulate(p.baseAddress!, examples: b, layout: layout, into: $0.baseAddress!) } }

        var expected = [Double](repeating: 0, count: layout.size), clipped = 0
        for i in 0..<b {
            var row: [Double] = []
            for (segment, offset) in zip(layout.segments, layout.offsets) {
                for k in 0..<segment.size { row.append(Double(segment.scale) * Double(values[b * offset + i * segment.size + k])) }
            }
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > clip { clipped += 1 }
            let factor = min(1, clip / norm)
            for k in 0..<row.count { expected[k] += factor * row[k] }
        }
        for k in 0..<layout.size { #expect(abs(Double(sum[k]) - expected[k]) < 1e-5, "coordinate \(k)") }
        let statistics = try #require(e.takeNormStatistics())
        #expect(statistics.clippedFraction == Double(clipped) / Double(b) && clipped > 0 && clipped < b)
    }

    @Test("a non-private engine neither clips nor adds noise: release divides by the expected batch size exactly")
    func nonPrivateRelease() throws {
        let e = engine(isPrivate: false)
        #expect(try e.clip == .infinity && e.epsilonSpent(afterSteps: 10) == nil)
        var sum: [Float] = [4, -8, 1]
        sum.withUnsafeMutableBufferPointer { e.release($0.baseAddress!, layout: FlatLayout([FlatSegment(size: 3)]), step: 0) }
        #expect(sum == [1, -2, 0.25])
    }

    @Test("σ is calibrated once per key: a σ calibrated elsewhere is reused only for the same (ε, δ, q, T, accountant)")
    func calibration() throws {
        let e = engine(isPrivate: true, noise: .targetEpsilon(8))
        let key = try #require(e.calibrationKey)
        try e.calibrate(known: (key, 0.777))
        #expect(e.sigma == 0.777)
        var other = key
        other.steps += 1
        try e.calibrate(known: (other, 0.777))
        #expect(try e.sigma == PrivacyEngine.noiseMultiplier(for: key) && e.sigma != 0.777)
        #expect(try #require(try e.epsilonSpent(afterSteps: key.steps)) <= 8)
        #expect(try e.epsilonSpent(afterSteps: key.steps) == RDPAccountant().epsilon(sigma: e.sigma, sampleRate: 0.04, steps: key.steps, delta: 1e-5).epsilon)
    }
}

@Suite("accountant inputs")
struct AccountantInputTests {
    func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("σ ≤ 0 or NaN, ε_err 0, absurd T and PRV grids beyond the memory limit are refused at once, with the reason")
    func refusals() {
        let prv = PrivacyAccounting(kind: .prv)
        for sigma in [0, -1, Double.nan] {
            #expect(message { _ = try prv.epsilon(sigma: sigma, sampleRate: 0.01, steps: 100, delta: 1e-5) }?.contains("σ must be a positive number") == true)
        }
        let clock = ContinuousClock(), start = clock.now
        let small = message { _ = try prv.epsilon(sigma: 0.01, sampleRate: 0.01, steps: 100, delta: 1e-5) }
        #expect(small?.contains("needs a grid of") == true && small?.contains("use --accountant rdp") == true, "\(small ?? "computed")")
        #expect(clock.now - start < .seconds(5))
        let zeroError = PrivacyAccounting(kind: .prv, prvEpsilonError: 0)
        #expect(message { _ = try zeroError.epsilon(sigma: 1, sampleRate: 0.01, steps: 100, delta: 1e-5) }?.contains("ε error must lie in (0, 1]") == true)
        #expect(message { _ = try prv.epsilon(sigma: 1, sampleRate: 0.01, steps: 1_000_000_000, delta: 1e-5) }?.contains("steps must lie in") == true)
        #expect(message { _ = try prv.epsilon(sigma: 1, sampleRate: 0.01, steps: 10, delta: 0) }?.contains("δ must lie in (0, 1)") == true)
    }

    @Test("calibration refuses unreachable or infinite targets instead of looping")
    func calibrationBounds() {
        let rdp = PrivacyAccounting(kind: .rdp)
        #expect(message { _ = try rdp.sigma(targetEpsilon: 0.005, sampleRate: 0.01, steps: 100, delta: 1e-5) }?.contains("no σ ≤ 10000 reaches ε 0.005") == true)
        #expect(message { _ = try rdp.sigma(targetEpsilon: .infinity, sampleRate: 0.01, steps: 100, delta: 1e-5) }?.contains("target ε must be a positive number") == true)
        #expect(message { _ = try rdp.sigma(targetEpsilon: 0, sampleRate: 0.01, steps: 100, delta: 1e-5) } != nil)
    }

    @Test("the engine refuses private settings that would claim privacy the run does not get")
    func engineRefusals() {
        let schedule = Schedule(trainSize: 1000, batchSize: 10, epochs: 1, sampling: .poisson)
        func refusal(delta: Double = 1e-5, clip: Double = 1, noise: PrivacyEngine.NoiseChoice, allow: Bool = false) -> String? {
            message { _ = try PrivacyEngine(schedule: schedule, isPrivate: true, clip: clip, delta: delta, noise: noise, accountant: .rdp,
                                           seed: 0, seededRandomness: true, allowsLargeDelta: allow) }
        }
        #expect(refusal(noise: .none)?.contains("needs a privacy budget") == true)
        #expect(refusal(delta: 0.001, noise: .targetEpsilon(8))?.contains("is not below 1/N") == true)
        #expect(refusal(delta: 0.001, noise: .targetEpsilon(8), allow: true) == nil)
        #expect(refusal(delta: 1, noise: .targetEpsilon(8))?.contains("δ must lie in (0, 1)") == true)
        #expect(refusal(clip: 0, noise: .targetEpsilon(8))?.contains("clip C must be a positive number") == true)
        #expect(refusal(noise: .targetEpsilon(-1))?.contains("ε must be a positive number") == true)
    }
}
