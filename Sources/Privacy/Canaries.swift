import Foundation
import Numerics

/// White-box canaries for the one-run audit, inside the privacy engine.
///
/// Each of m canaries gets S_i ∈ {−1, +1} from the engine's privacy generator when the audit starts (kept from the
/// scorer until the end). A canary with S_i = +1 takes part like a training example: Poisson-sampled at the run's q at
/// every step, its per-example row a Dirac λ·C·e_{j_i} (λ = 10, so a skipped clip shows) that goes through the same
/// joint clip, sum and Gaussian noise as real rows. Its coordinate j_i lies in a **reserved slice** of m coordinates
/// appended to the flat buffer: real examples' rows are zero there, so their gradients cannot mask a canary, and the
/// slice is released with the step's noise and then discarded (no update reads it). Per step and canary the released
/// coordinate in units of C, x_t, scores Y_i = Σ_t log(1 − q + q·exp((x_t − ½)/σ²)) (the per-step likelihood ratio of
/// "sampled" against "absent"); the plain sum Σ_t x_t is kept too.
public final class CanaryAudit {
    public struct State: Codable, Sendable {
        public var included: [Bool]
        public var likelihoodScores: [Double]
        public var sums: [Double]
        public var steps: Int
    }

    public let count: Int
    /// λ: the canary's row before clipping, in units of C.
    public let magnitude: Double
    public private(set) var state: State

    init(count: Int, magnitude: Double, generator: inout PrivacyRandom) {
        self.count = count
        self.magnitude = magnitude
        let included = (0..<count).map { _ in generator.next() & 1 == 1 }
        state = State(included: included, likelihoodScores: [Double](repeating: 0, count: count),
                      sums: [Double](repeating: 0, count: count), steps: 0)
    }

    public func restore(_ state: State) {
        precondition(state.included.count == count)
        self.state = state
    }

    /// The included canaries sampled at this step (rate q each).
    func sample(rate q: Double, generator: inout PrivacyRandom) -> [Int] {
        (0..<count).filter { state.included[$0] && Double(generator.next() >> 11) * 0x1p-53 < q }
    }

    /// Scores the released slice of one step: `released[i]` is canary i's coordinate of the noised, averaged sum.
    func record(released: UnsafePointer<Float>, expectedBatchSize: Double, clip: Double, sigma: Double, rate q: Double) {
        for i in 0..<count {
            let x = Double(released[i]) * expectedBatchSize / clip
            state.sums[i] += x
            if sigma > 0 {
                // log(1 − q + q·e^z), z = (x − ½)/σ², as a log-sum-exp.
                let a = log1p(-q), b = log(q) + (x - 0.5) / (sigma * sigma)
                state.likelihoodScores[i] += Swift.max(a, b) + log1p(exp(-abs(a - b)))
            }
        }
        state.steps += 1
    }

    /// The audit's outcome, over the grid fixed in advance: the likelihood-ratio score when σ > 0, else the sum.
    public func outcome(sigma: Double, delta: Double, significance: Double = 0.05) -> OneRunAudit.Outcome {
        let useLikelihood = sigma > 0
        return OneRunAudit.audit(scores: useLikelihood ? state.likelihoodScores : state.sums, included: state.included,
                                 grid: OneRunAudit.defaultGrid(canaries: count), significance: significance, delta: delta,
                                 scoreKind: useLikelihood ? "likelihood ratio Σ_t log(1 − q + q·exp((x_t − ½)/σ²))" : "sum Σ_t x_t (σ = 0)")
    }
}

/// Faults a test can inject to check that the audit catches them; never reachable from the command line.
struct MechanismFaults: Sendable {
    /// Multiply the noise's standard deviation by this.
    var noiseScale = 1.0
    /// Sum canary rows without clipping them.
    var skipCanaryClipping = false
}

/// The mechanism on canaries alone: T steps of a privacy engine whose flat buffer is only the canary slice (no
/// model), then the audit. Seconds per run; it tests the audit itself (`rgp audit simulate`).
public enum AuditSimulation {
    public struct Result: Sendable, Codable {
        public var outcome: OneRunAudit.Outcome
        public var sigma: Double
        public var sample_rate: Double
        public var steps: Int
        /// ε the accountant gives (σ, q, T, δ); nil at σ = 0.
        public var claimed_epsilon: Double?
    }

    public static func run(sigma: Double, sampleRate: Double, steps: Int, canaries m: Int, seed: UInt64, delta: Double,
                           accountant: AccountantKind = .rdp) throws -> Result {
        try run(sigma: sigma, sampleRate: sampleRate, steps: steps, canaries: m, seed: seed, delta: delta, accountant: accountant,
                faults: MechanismFaults())
    }

    static func run(sigma: Double, sampleRate: Double, steps: Int, canaries m: Int, seed: UInt64, delta: Double,
                    accountant: AccountantKind, faults: MechanismFaults) throws -> Result {
        guard sigma.isFinite, sigma >= 0 else { throw AccountingError("σ must be a non-negative number, got \(sigma)") }
        guard sampleRate > 0, sampleRate <= 1 else { throw AccountingError("the sample rate must lie in (0, 1], got \(sampleRate)") }
        guard steps >= 1, steps <= 1_000_000 else { throw AccountingError("steps must lie in 1...1000000, got \(steps)") }
        // N large enough that q = B/N matches the requested rate to 1e-6.
        let population = 1_000_000, batch = Swift.max(1, Int((sampleRate * Double(population)).rounded()))
        let schedule = Schedule(trainSize: population, batchSize: batch, epochs: Double(steps) / Double(population / batch),
                                sampling: .poisson)
        let engine = try PrivacyEngine(schedule: schedule, isPrivate: true, clip: 1, delta: delta,
                                       noise: .noiseMultiplier(sigma, target: nil), accountant: accountant, seed: seed,
                                       seededRandomness: true, allowsLargeDelta: true)  // N here is fictitious: no data set
        engine.allowsZeroNoiseForTesting = true
        engine.faults = faults
        try engine.calibrate()
        try engine.enableAudit(canaries: m)
        let layout = engine.layout([])
        var sum = [Float](repeating: 0, count: layout.size)
        for step in 0..<steps {
            for i in sum.indices { sum[i] = 0 }
            sum.withUnsafeMutableBufferPointer { engine.release($0.baseAddress!, layout: layout, step: step) }
        }
        let claimed = sigma > 0 ? try engine.accounting.epsilon(sigma: sigma, sampleRate: schedule.sampleRate, steps: steps, delta: delta) : nil
        return Result(outcome: engine.audit!.outcome(sigma: sigma, delta: delta), sigma: sigma, sample_rate: schedule.sampleRate,
                      steps: steps, claimed_epsilon: claimed)
    }
}
