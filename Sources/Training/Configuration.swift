import GLUE
import Privacy
import RGP
import Transformer

/// Learning-rate schedules (no warmup: the authors run with warmup ratio 0).
public enum LRSchedule: String, Sendable, Codable, CaseIterable {
    /// lr·(1 − t/T): to 0 at the last step.
    case linear
    case constant
    /// lr·max(0, 1 − t/H) with horizon H = `lr_decay_steps` (default 4000): at T ≈ 1000 it ends near 0.75·lr.
    case polynomial

    /// The rate at step t (0-based) of T steps.
    public func rate(peak: Double, step t: Int, steps: Int, horizon: Int?) -> Double {
        switch self {
        case .linear: peak * (1 - Double(t) / Double(steps))
        case .constant: peak
        case .polynomial: peak * Swift.max(0, 1 - Double(t) / Double(horizon ?? 4000))
        }
    }
}

/// Which files a task trains and evaluates on.
public enum SplitChoice: String, Sendable, Codable, CaseIterable {
    /// train.tsv for training; dev (MNLI: matched and mismatched) for evaluation.
    case official
    /// Offline stand-ins for missing train sets: MNLI trains on dev_mismatched and evaluates dev_matched; QNLI and
    /// QQP split dev 80/20 by the committed index files in experiments/splits/. SST-2 is unaffected.
    case standin
}

/// Everything that determines a run, declared once: the command line fills it, profile layers override its keys,
/// run.json is it, and result.json embeds it under "settings". A run directory resumes only under an identical one.
///
/// Keys are snake_case everywhere (`batch_size`, `lr`, …; `sigma` is a fixed noise multiplier that replaces
/// calibration, `--sigma` on the command line).
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    public var task: GLUETask
    public var method: TrainingMethod
    public var model: String
    public var split: SplitChoice = .official
    public var seed: UInt64 = 0
    /// Target ε; nil for non-private methods.
    public var epsilon: Double?
    public var delta: Double = 1e-5
    public var clip: Double = 1
    /// Expected (Poisson) or fixed (shuffled) logical batch size B.
    public var batchSize: Int
    public var epochs: Double
    public var learningRate: Double
    public var maxLength: Int = 128
    public var rank: Int = 1
    public var carrierSource: CarrierSource = .weight
    public var powerIterations: Int = 1
    public var reconstruction: Reconstruction = .projection
    public var fusedQKV = false
    /// Scale of the classifier head's per-example gradients inside the joint clip (the authors use 0.1).
    public var headScale: Double = 0.1
    public var accountant: AccountantKind = .prv
    public var sampling: SamplingKind = .poisson
    /// Use only the first N training examples.
    public var maxTrain: Int?
    /// Evaluate on the first N examples of each dev set only (smoke runs; recorded in the result).
    public var maxDev: Int?
    /// Seeded (reproducible, NOT secure) noise and sampling: tests only; recorded in the result.
    public var seededNoise = false
    /// Padded positions per micro-batch.
    public var microBatchTokens: Int = 4096
    /// A fixed noise multiplier σ instead of calibrating it from ε; with a target ε too, a σ that would exceed it is
    /// refused before step 1.
    public var sigmaOverride: Double?
    /// Run with δ ≥ 1/N (refused otherwise); recorded.
    public var allowLargeDelta = false
    /// Audit the run with this many canaries (the one-run audit; private methods only).
    public var auditCanaries: Int?
    /// What the classification head reads: [CLS] (the authors' `--bert-pooler` head), the pooler, or the mean.
    public var head: HeadInput = .cls
    /// How the learning rate moves from its peak: linear to 0 over T, constant, or polynomial (power 1) to 0 over
    /// `lrDecaySteps` updates — the authors' effective schedule with 4000 and no warmup.
    public var lrSchedule: LRSchedule = .linear
    /// The polynomial schedule's horizon (default 4000, fairseq's total_num_update in the authors' runs).
    public var lrDecaySteps: Int?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case task, method, model, split, seed, epsilon, delta, clip, batchSize = "batch_size", epochs, learningRate = "lr"
        case maxLength = "max_length", rank, carrierSource = "carrier_source", powerIterations = "power_iterations"
        case reconstruction, fusedQKV = "fused_qkv", headScale = "head_scale", accountant, sampling
        case maxTrain = "max_train", maxDev = "max_dev", seededNoise = "seeded_noise", microBatchTokens = "micro_batch_tokens"
        case sigmaOverride = "sigma", allowLargeDelta = "allow_large_delta", auditCanaries = "audit_canaries", head
        case lrSchedule = "lr_schedule", lrDecaySteps = "lr_decay_steps"
    }

    /// Checks every number before anything is loaded; each message names the option.
    public func validate() throws {
        func positive(_ name: String, _ value: Double?) throws {
            if let value, !(value.isFinite && value > 0) { throw TrainingError("--\(name) must be a positive number, got \(value)") }
        }
        func atLeastOne(_ name: String, _ value: Int?) throws {
            if let value, value < 1 { throw TrainingError("--\(name) must be at least 1, got \(value)") }
        }
        try positive("epsilon", epsilon)
        try positive("clip", clip)
        try positive("epochs", epochs)
        try positive("lr", learningRate)
        try positive("head-scale", headScale)
        // σ = 0 passes here and is refused by the privacy engine (tests alone may force it).
        if let sigmaOverride, !(sigmaOverride.isFinite && sigmaOverride >= 0) {
            throw TrainingError("--sigma must be a positive number, got \(sigmaOverride)")
        }
        guard delta.isFinite, delta > 0, delta < 1 else { throw TrainingError("--delta must lie in (0, 1), got \(delta)") }
        try atLeastOne("batch-size", batchSize)
        try atLeastOne("max-length", maxLength)
        try atLeastOne("rank", rank)
        try atLeastOne("power-iterations", powerIterations)
        try atLeastOne("max-train", maxTrain)
        try atLeastOne("max-dev", maxDev)
        try atLeastOne("micro-batch-tokens", microBatchTokens)
        try atLeastOne("lr-decay-steps", lrDecaySteps)
        if let auditCanaries, !method.isPrivate || auditCanaries < 10 {
            throw TrainingError("--audit-canaries \(auditCanaries): an audit needs a private method and at least 10 canaries")
        }
    }

    /// The schedule this configuration runs on a training set of `trainSize` examples.
    public func schedule(trainSize: Int) -> Schedule {
        Schedule(trainSize: trainSize, batchSize: batchSize, epochs: epochs, sampling: sampling)
    }

    /// Every key is required except those added after schema 2 first shipped, which take the value earlier runs used:
    /// `allow_large_delta` false, `audit_canaries` none, `head` pooler (the only head before it became a setting).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decode(GLUETask.self, forKey: .task)
        method = try c.decode(TrainingMethod.self, forKey: .method)
        model = try c.decode(String.self, forKey: .model)
        split = try c.decode(SplitChoice.self, forKey: .split)
        seed = try c.decode(UInt64.self, forKey: .seed)
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon)
        delta = try c.decode(Double.self, forKey: .delta)
        clip = try c.decode(Double.self, forKey: .clip)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        epochs = try c.decode(Double.self, forKey: .epochs)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        maxLength = try c.decode(Int.self, forKey: .maxLength)
        rank = try c.decode(Int.self, forKey: .rank)
        carrierSource = try c.decode(CarrierSource.self, forKey: .carrierSource)
        powerIterations = try c.decode(Int.self, forKey: .powerIterations)
        reconstruction = try c.decode(Reconstruction.self, forKey: .reconstruction)
        fusedQKV = try c.decode(Bool.self, forKey: .fusedQKV)
        headScale = try c.decode(Double.self, forKey: .headScale)
        accountant = try c.decode(AccountantKind.self, forKey: .accountant)
        sampling = try c.decode(SamplingKind.self, forKey: .sampling)
        maxTrain = try c.decodeIfPresent(Int.self, forKey: .maxTrain)
        maxDev = try c.decodeIfPresent(Int.self, forKey: .maxDev)
        seededNoise = try c.decode(Bool.self, forKey: .seededNoise)
        microBatchTokens = try c.decode(Int.self, forKey: .microBatchTokens)
        sigmaOverride = try c.decodeIfPresent(Double.self, forKey: .sigmaOverride)
        allowLargeDelta = try c.decodeIfPresent(Bool.self, forKey: .allowLargeDelta) ?? false
        auditCanaries = try c.decodeIfPresent(Int.self, forKey: .auditCanaries)
        head = try c.decodeIfPresent(HeadInput.self, forKey: .head) ?? .pooler
        lrSchedule = try c.decodeIfPresent(LRSchedule.self, forKey: .lrSchedule) ?? .linear
        lrDecaySteps = try c.decodeIfPresent(Int.self, forKey: .lrDecaySteps)
    }

    public init(task: GLUETask, method: TrainingMethod, model: String, batchSize: Int, epochs: Double, learningRate: Double) {
        self.task = task
        self.method = method
        self.model = model
        self.batchSize = batchSize
        self.epochs = epochs
        self.learningRate = learningRate
    }

    /// The authors' latest per-task settings (README, *Where the settings come from*): B, C = 1, 30 epochs, lr 3e-4, rank 1, δ 1e-5, ε 8, PRV.
    public static func authorsDefaults(task: GLUETask, method: TrainingMethod, model: String) -> TrainingConfiguration {
        let batch: Int
        switch task {
        case .sst2: batch = 2000
        case .qnli: batch = 4000
        case .qqp: batch = 12000
        case .mnli: batch = 14000
        }
        var c = TrainingConfiguration(task: task, method: method, model: model, batchSize: batch, epochs: 30, learningRate: 3e-4)
        c.epsilon = method.isPrivate ? 8 : nil
        if !method.isPrivate { c.sampling = .shuffled }
        return c
    }
}
