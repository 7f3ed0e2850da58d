import Distributed
import Foundation
import Numerics

/// One segment of the privacy engine's flat buffers: `size` floats per example, scaled by `scale` inside the joint
/// clip (the RGP authors scale the classifier head's per-example gradients by 1/10).
public struct FlatSegment: Sendable, Equatable {
    public var size: Int
    public var scale: Float
    public init(size: Int, scale: Float = 1) {
        self.size = size
        self.scale = scale
    }
}

/// How a step's per-example quantities are laid out in one contiguous buffer.
///
/// Per-example buffer of a micro-batch of b examples: segment g is a contiguous [b, size_g] block starting at
/// b·offset_g (so each segment's rows are one GEMV operand). Sum buffer: segment g at offset_g, D floats in all —
/// the one buffer a step reduces across processes.
public struct FlatLayout: Sendable, Equatable {
    public let segments: [FlatSegment]
    /// Start of each segment in the sum buffer (and, times b, in the per-example buffer).
    public let offsets: [Int]
    /// D: floats per example, and the length of the sum.
    public let size: Int
    /// The last segment is the audit's reserved canary slice (`PrivacyEngine.layout(_:)` appends it): real rows
    /// leave it zero, and the engine neither reads nor clips their part of it.
    public let hasAuditSlice: Bool

    public init(_ segments: [FlatSegment], auditSlice: Int? = nil) {
        self.segments = segments + (auditSlice.map { [FlatSegment(size: $0)] } ?? [])
        var offsets: [Int] = [], total = 0
        for s in self.segments { offsets.append(total); total += s.size }
        self.offsets = offsets
        size = total
        hasAuditSlice = auditSlice != nil
    }

    /// The segments real examples fill (all but the audit slice).
    var realSegments: Int { segments.count - (hasAuditSlice ? 1 : 0) }
}

/// Model-free differential privacy for one training run: it owns the sampler, the per-example clip with segment
/// scales, the Gaussian mechanism with its generator, σ and the accountant.
///
/// Each step: `sample` draws the logical batch; the method computes per-example quantities into one flat buffer and
/// hands them to `accumulate` (clip jointly, sum), or hands per-example norms to `clipFactors` (ghost clipping) and
/// sums itself; `release` adds N(0, σ²C²) to the flat sum and divides by the expected batch size. Non-private runs
/// use the same path with C = ∞ and no noise, so σ = 0 reproduces a low-rank step bit for bit.
///
/// σ is calibrated only in `noiseMultiplier(…)`, and ε spent is computed only in `epsilonSpent(afterSteps:)`.
public final class PrivacyEngine {
    /// What decides σ: a noise multiplier given outright (with the target it must not exceed, if any), or a target ε
    /// to calibrate for. Non-private runs have none.
    public enum NoiseChoice: Sendable, Equatable {
        case none
        case noiseMultiplier(Double, target: Double?)
        case targetEpsilon(Double)

        /// The ε the run promises not to exceed, if any.
        public var target: Double? {
            switch self {
            case .none: nil
            case .noiseMultiplier(_, let target): target
            case .targetEpsilon(let epsilon): epsilon
            }
        }
    }

    /// Why a private run is refused before it starts.
    public struct RefusedError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// The inputs of one σ calibration; a σ calibrated elsewhere (the grid planner) is reused only for equal keys.
    public struct CalibrationKey: Sendable, Hashable {
        public var targetEpsilon: Double
        public var delta: Double
        public var sampleRate: Double
        public var steps: Int
        public var accountant: AccountantKind
        public init(targetEpsilon: Double, delta: Double, schedule: Schedule, accountant: AccountantKind) {
            self.targetEpsilon = targetEpsilon
            self.delta = delta
            self.sampleRate = schedule.sampleRate
            self.steps = schedule.totalSteps
            self.accountant = accountant
        }
    }

    public let schedule: Schedule
    public let isPrivate: Bool
    /// C; infinite for non-private runs.
    public let clip: Double
    public let delta: Double
    public let noise: NoiseChoice
    public let accounting: PrivacyAccounting
    /// The noise multiplier σ in force (0 until `calibrate`, and for non-private runs).
    public internal(set) var sigma: Double = 0
    /// Shuffled sampling's position in its permutation (saved in checkpoints).
    public var shuffled: ShuffledSampler?
    /// The per-example norms since the last `takeNormStatistics()`: a local diagnostic computed on private data, NOT
    /// differentially private.
    var recentNorms: [Double] = []

    /// The share of per-example norms above C and their median since the last call (for the local log only: computed
    /// on private data, NOT differentially private); nil when the run does not clip.
    public func takeNormStatistics() -> (clippedFraction: Double, medianNorm: Double)? {
        defer { recentNorms = [] }
        guard clip.isFinite, !recentNorms.isEmpty else { return nil }
        let sorted = recentNorms.sorted()
        return (Double(sorted.filter { $0 > clip }.count) / Double(sorted.count), sorted[sorted.count / 2])
    }
    let seed: UInt64
    var secureRandom: PrivacyRandom?
    /// The one-run audit's canaries, when the run is audited.
    public private(set) var audit: CanaryAudit?
    /// Faults injected by tests of the audit (internal: no command reaches them).
    var faults = MechanismFaults()

    /// Starts a one-run audit with m canaries (before step 1); their signs come from the privacy generator.
    public func enableAudit(canaries m: Int, magnitude: Double = 10) throws {
        guard isPrivate else { throw RefusedError("an audit needs a private method") }
        guard m >= 10, m <= 1_000_000 else { throw RefusedError("--audit-canaries must lie in 10...1000000, got \(m)") }
        audit = withRandom(step: 0, salt: 6) { CanaryAudit(count: m, magnitude: magnitude, generator: &$0) }
    }

    /// A method's flat layout from its segments, with the audit's canary slice appended when the run is audited.
    public func layout(_ segments: [FlatSegment]) -> FlatLayout {
        FlatLayout(segments, auditSlice: audit?.count)
    }

    /// The processes this run spans (the job's, set at startup): rank 0 samples, noises and releases; every rank
    /// clips its share. A single process unless started under MPI.
    public var communicator: any Communicator = Job.communicator

    /// σ = 0 in a private run, for tests that compare a private method without noise to its non-private twin and
    /// for the privacy audit's broken-run check. Never set from the command line; a record of such a run says it is
    /// not private and claims no ε.
    public var allowsZeroNoiseForTesting = false
    /// δ ≥ 1/N was allowed explicitly (`--allow-large-delta`); recorded.
    public let allowsLargeDelta: Bool

    /// Checks the privacy settings before anything runs. `seededRandomness`: sampling and noise from a per-step
    /// seeded generator (tests only; never a privacy claim).
    public init(schedule: Schedule, isPrivate: Bool, clip: Double, delta: Double, noise: NoiseChoice, accountant: AccountantKind,
                seed: UInt64, seededRandomness: Bool, allowsLargeDelta: Bool = false) throws {
        if isPrivate {
            guard delta.isFinite, delta > 0, delta < 1 else { throw RefusedError("δ must lie in (0, 1), got \(delta)") }
            let inverseN = 1 / Double(schedule.trainSize)
            if delta >= inverseN && !allowsLargeDelta {
                throw RefusedError(String(format: "δ = %g is not below 1/N = %.3g (N = %d): a mechanism that publishes one "
                                          + "example's data outright would meet it; use a smaller --delta, or pass "
                                          + "--allow-large-delta to run anyway (recorded)", delta, inverseN, schedule.trainSize))
            }
            guard clip.isFinite, clip > 0 else { throw RefusedError("the clip C must be a positive number, got \(clip)") }
            switch noise {
            case .none:
                throw RefusedError("a private method needs a privacy budget: give --epsilon (σ is calibrated) or --sigma")
            case .targetEpsilon(let epsilon):
                guard epsilon.isFinite, epsilon > 0 else { throw RefusedError("ε must be a positive number, got \(epsilon)") }
            case .noiseMultiplier(let sigma, let target):
                guard sigma.isFinite, sigma >= 0 else { throw RefusedError("σ must be a positive number, got \(sigma)") }
                if let target, !(target.isFinite && target > 0) { throw RefusedError("ε must be a positive number, got \(target)") }
            }
        }
        self.allowsLargeDelta = allowsLargeDelta
        self.schedule = schedule
        self.isPrivate = isPrivate
        self.clip = isPrivate ? clip : .infinity
        self.delta = delta
        self.noise = noise
        self.accounting = PrivacyAccounting(kind: accountant)
        self.seed = seed
        if schedule.sampling == .shuffled { shuffled = ShuffledSampler(population: schedule.trainSize, batchSize: schedule.batchSize) }
        if !seededRandomness { secureRandom = PrivacyRandom() }
    }

    // MARK: σ and ε

    /// The one σ calibration: the smallest σ whose ε after the schedule's T steps is at most the target (PRV: its
    /// upper bound), rounded up.
    public static func noiseMultiplier(for key: CalibrationKey) throws -> Double {
        try PrivacyAccounting(kind: key.accountant).sigma(targetEpsilon: key.targetEpsilon, sampleRate: key.sampleRate,
                                                          steps: key.steps, delta: key.delta)
    }

    /// The calibration this run needs, if it calibrates.
    public var calibrationKey: CalibrationKey? {
        guard isPrivate, case .targetEpsilon(let epsilon) = noise else { return nil }
        return CalibrationKey(targetEpsilon: epsilon, delta: delta, schedule: schedule, accountant: accounting.kind)
    }

    /// Sets σ before step 1: the given multiplier, or a σ already calibrated for this very key, or a fresh calibration.
    /// A private run with σ = 0 is refused (unless `allowsZeroNoiseForTesting`), and so is a fixed σ whose ε after T
    /// steps would exceed the run's target.
    public func calibrate(known: (key: CalibrationKey, sigma: Double)? = nil, progress: (String) -> Void = { _ in }) throws {
        switch noise {
        case .none: sigma = 0
        case .noiseMultiplier(let value, let target):
            sigma = value
            guard isPrivate else { return }
            if value == 0 {
                guard allowsZeroNoiseForTesting else {
                    throw RefusedError("σ = 0 adds no noise: a private method needs σ > 0 (the non-private variants are full and lowrank)")
                }
                return
            }
            let spent = try accounting.epsilon(sigma: value, sampleRate: schedule.sampleRate, steps: schedule.totalSteps, delta: delta)
            if let target, spent > target {
                throw RefusedError(String(format: "σ %g spends ε %.4g over T = %d steps (q %.6g, δ %g, %@), above the target %g: "
                                          + "refused before step 1 (drop --sigma to calibrate σ for the target, or raise --epsilon)",
                                          value, spent, schedule.totalSteps, schedule.sampleRate, delta, accounting.kind.rawValue, target))
            }
        case .targetEpsilon:
            guard let key = calibrationKey else { return }
            if let known, known.key == key {
                sigma = known.sigma
            } else {
                progress("calibrating σ for ε \(key.targetEpsilon), δ \(delta), q \(String(format: "%.6f", key.sampleRate)), T \(key.steps)…")
                sigma = try Self.noiseMultiplier(for: key)
            }
        }
    }

    /// Restores σ from a checkpoint (a resumed run never recalibrates).
    public func restore(sigma: Double) { self.sigma = sigma }

    /// Whether this run adds noise with σ > 0 (a private run forced to σ = 0 in a test does not).
    public var isNoised: Bool { isPrivate && sigma > 0 }

    /// The one ε computation: the accountant's bound after `steps` steps at this run's σ and q; nil for non-private
    /// runs and for a test run forced to σ = 0.
    public func epsilonSpent(afterSteps steps: Int) throws -> Double? {
        guard isNoised else { return nil }
        return try accounting.epsilon(sigma: sigma, sampleRate: schedule.sampleRate, steps: steps, delta: delta)
    }

    // MARK: Randomness and sampling

    /// The generator for step `step`: the run's secure one, or a per-step seeded one in tests (`salt` separates the
    /// seeded streams of different draws within a step: 3 batch and noise, 5 canary sampling, 6 canary signs).
    public func withRandom<T>(step: Int, salt: UInt64 = 3, _ body: (inout PrivacyRandom) -> T) -> T {
        if var secure = secureRandom {
            defer { secureRandom = secure }
            return body(&secure)
        }
        var seeded = PrivacyRandom(testingSeed: StepSeed.derive(seed: seed, step: step, salt: salt))
        return body(&seeded)
    }

    /// The logical batch of step `step` (0-based): Poisson at rate q, or the next shuffled batch. One draw for the
    /// whole job: rank 0 draws from its generator and every rank receives that batch.
    public func sample(step: Int) -> [Int] {
        guard communicator.size > 1 else { return draw(step: step) }
        return communicator.broadcast(communicator.isRoot ? draw(step: step) : [])
    }

    /// σ as rank 0 has it (calibrated or restored there), on every rank.
    public func shareSigma() {
        guard communicator.size > 1 else { return }
        sigma = Double(bitPattern: UInt64(UInt(bitPattern: communicator.broadcast([Int(bitPattern: UInt(sigma.bitPattern))])[0])))
    }

    private func draw(step: Int) -> [Int] {
        if var sampler = shuffled {
            defer { shuffled = sampler }
            if isPrivate { return withRandom(step: step) { sampler.next(using: &$0) } }
            var generator = Xoshiro256(seed: StepSeed.derive(seed: seed, step: step, salt: 4))
            return sampler.next(using: &generator)
        }
        let sampler = PoissonSampler(population: schedule.trainSize, rate: schedule.sampleRate)
        return withRandom(step: step) { sampler.sample(using: &$0) }
    }

    // MARK: Clip, sum, noise

    /// min(1, C/‖g_i‖) per example (ghost clipping: the method turns norms into a weighted sum itself).
    public func clipFactors(norms: [Double]) -> [Float] {
        guard clip.isFinite else { return [Float](repeating: 1, count: norms.count) }
        recentNorms += norms
        return Clipping.factors(norms: norms, clip: clip)
    }

    /// Clips the b per-example rows of `perExample` jointly over all segments (each scaled) and adds them into `sum`.
    public func accumulate(_ perExample: UnsafeMutablePointer<Float>, examples b: Int, layout: FlatLayout,
                           into sum: UnsafeMutablePointer<Float>) {
        let groups = zip(layout.segments.prefix(layout.realSegments), layout.offsets).map { segment, offset in
            PerExampleGroup(gradients: perExample + b * offset, size: segment.size, scale: segment.scale)
        }
        let factors = clipFactors(norms: clip.isFinite ? Clipping.jointNorms(groups, batch: b) : [Double](repeating: 0, count: b))
        for (group, offset) in zip(groups, layout.offsets) {
            Clipping.clippedSum(group, factors: factors, into: sum + offset, accumulate: true)
        }
    }

    /// The released update of step `step`: the audit's sampled canary rows clipped and added (audited runs), noise
    /// N(0, σ²C²) added to `sum` (private runs) and division by the expected batch size, segment by segment; then the
    /// canaries score the released slice.
    ///
    /// Under P processes: the ranks' clipped sums are added on rank 0, which alone adds canaries and noise (drawn once,
    /// from its generator) and divides; every rank then receives that released update, bit for bit.
    public func release(_ sum: UnsafeMutablePointer<Float>, layout: FlatLayout, step: Int) {
        guard communicator.size > 1 else { return releaseHere(sum, layout: layout, step: step) }
        communicator.reduceSum(sum, count: layout.size)
        if communicator.isRoot { releaseHere(sum, layout: layout, step: step) }
        communicator.broadcast(sum, count: layout.size)
    }

    private func releaseHere(_ sum: UnsafeMutablePointer<Float>, layout: FlatLayout, step: Int) {
        let slice = layout.hasAuditSlice ? layout.offsets[layout.segments.count - 1] : nil
        if let audit, let slice {
            addCanaryRows(audit, into: sum + slice, step: step)
        }
        if isPrivate {
            let scale = faults.noiseScale
            withRandom(step: step) { generator in
                for (segment, offset) in zip(layout.segments, layout.offsets) {
                    GaussianMechanism.privatize(sum: sum + offset, count: segment.size, sigma: sigma * scale, clip: clip,
                                                expectedBatchSize: schedule.expectedBatchSize, generator: &generator)
                }
            }
        } else {
            // The mechanism's arithmetic without noise, so σ = 0 gives bit-identical updates.
            let inverse = 1 / schedule.expectedBatchSize
            for i in 0..<layout.size { sum[i] = Float(Double(sum[i]) * inverse) }
        }
        if let audit, let slice {
            audit.record(released: sum + slice, expectedBatchSize: schedule.expectedBatchSize, clip: clip, sigma: sigma,
                         rate: schedule.sampleRate)
        }
    }

    /// The sampled canaries' rows, each λ·C at its own slice coordinate, through the same joint clip and clipped sum
    /// as real rows. Their rows are zero outside the slice, so norm and sum over the slice alone are exact.
    func addCanaryRows(_ audit: CanaryAudit, into slice: UnsafeMutablePointer<Float>, step: Int) {
        let sampled = withRandom(step: step, salt: 5) { audit.sample(rate: schedule.sampleRate, generator: &$0) }
        guard !sampled.isEmpty else { return }
        let m = audit.count, k = sampled.count
        var rows = [Float](repeating: 0, count: k * m)
        for (row, canary) in sampled.enumerated() { rows[row * m + canary] = Float(audit.magnitude * clip) }
        rows.withUnsafeMutableBufferPointer { buffer in
            let group = PerExampleGroup(gradients: buffer.baseAddress!, size: m)
            let factors = faults.skipCanaryClipping ? [Float](repeating: 1, count: k)
                : Clipping.factors(norms: Clipping.jointNorms([group], batch: k), clip: clip)
            Clipping.clippedSum(group, factors: factors, into: slice, accumulate: true)
        }
    }
}
