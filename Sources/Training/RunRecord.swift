import Foundation
import GLUE
import Privacy
import RGP

/// One line of the per-epoch log (metrics.jsonl) and of result.json's `epochs_log`.
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var step: Int
    public var examplesSeen: Int
    public var epsilonSpent: Double?
    public var evaluation: Evaluation
    /// Mean training loss over the epoch's steps: computed on private data, NOT differentially private.
    public var trainLossNotPrivate: Double

    public init(epoch: Int, step: Int, examplesSeen: Int, epsilonSpent: Double?, evaluation: Evaluation, trainLossNotPrivate: Double) {
        self.epoch = epoch
        self.step = step
        self.examplesSeen = examplesSeen
        self.epsilonSpent = epsilonSpent
        self.evaluation = evaluation
        self.trainLossNotPrivate = trainLossNotPrivate
    }

    enum CodingKeys: String, CodingKey {
        case epoch, step, examplesSeen = "examples_seen", epsilonSpent = "epsilon_spent", evaluation
        case trainLossNotPrivate = "train_loss_not_private"
    }
    enum LegacyKeys: String, CodingKey { case examplesSeen, epsilonSpent, trainLossNotPrivate }

    /// Reads snake_case (schema 2) and the camelCase of schema-1 records.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), legacy = try decoder.container(keyedBy: LegacyKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        step = try c.decode(Int.self, forKey: .step)
        examplesSeen = try c.decodeIfPresent(Int.self, forKey: .examplesSeen) ?? legacy.decode(Int.self, forKey: .examplesSeen)
        epsilonSpent = try c.decodeIfPresent(Double.self, forKey: .epsilonSpent) ?? legacy.decodeIfPresent(Double.self, forKey: .epsilonSpent)
        evaluation = try c.decode(Evaluation.self, forKey: .evaluation)
        trainLossNotPrivate = try c.decodeIfPresent(Double.self, forKey: .trainLossNotPrivate)
            ?? legacy.decode(Double.self, forKey: .trainLossNotPrivate)
    }
}

/// `result.json`, schema 2: the run's settings (exactly run.json) under "settings", and what the run produced.
/// Schema-1 records (settings as flat keys, camelCase epoch logs) still read.
public struct RunResult: Codable, Sendable {
    public static let currentSchema = 2
    public var schema = RunResult.currentSchema
    public var settings: TrainingConfiguration
    /// Final-epoch dev accuracy in [0, 1] (MNLI: matched).
    public var accuracy: Double
    public var accuracy_matched: Double?
    public var accuracy_mismatched: Double?
    public var f1: Double?
    /// Best dev accuracy over epochs and its epoch: selected on dev, so optimistic.
    public var best_accuracy: Double
    public var best_epoch: Int
    public var best_accuracy_note = "selected on the dev set (optimistic)"
    public var epsilon_spent: Double?
    /// The noise multiplier σ the run used (calibrated, or the fixed `settings.sigma`).
    public var sigma: Double?
    public var sample_rate: Double
    public var steps: Int
    public var examples_seen: Int
    public var accountant_assumptions: String?
    public var sampling_note: String?
    /// Set only when a test forced σ = 0 in a private method: the run is not private.
    public var privacy_note: String?
    /// Scale of the head's per-example gradients inside the joint clip, as the method applied it.
    public var head_scale: Double?
    /// How the checkpoint's weights were verified (manifest.json's SHA-256, or not).
    public var model_integrity: String?
    /// The checkpoint's family (bert, roberta, xlm-roberta) and what the classification head computed.
    public var model_type: String?
    public var head_description: String?
    /// How the run was spread: processes (MPI ranks) × threads each. The result does not depend on it beyond summation
    /// order (and dropout masks), so a run may resume under another layout.
    public var parallelism: String?
    public var wall_seconds: Double
    public var git_commit: String
    public var train_data: String
    public var train_examples: Int
    /// Dev sets evaluated and their sizes (a smoke run may use only the first examples of each).
    public var dev_examples: [String: Int]?
    /// Fraction of per-example gradients that the clip scaled down: computed on private data, so no longer written
    /// (the local log shows it per epoch, marked not DP); read from schema-1 records.
    public var clipped_fraction: Double?
    /// The final evaluation's share of each predicted class on the primary dev set (a collapse shows as one near 1).
    public var predicted_share: [Double]?
    /// The share of the primary dev set's most frequent label: the accuracy of predicting one class.
    public var dev_majority_share: Double?
    /// ‖W_T − W₀‖_F per reparametrized matrix (every method that trains them), by canonical name.
    public var update_norms: [String: Double]?
    public var epochs_log: [EpochRecord]
    public var finished: Bool
    /// The one-run audit (audited runs): canaries, guesses, ε lower bound at 95% beside the claimed ε.
    public var audit: OneRunAudit.Outcome?

    // Settings as the tables print them (nil where the method has no such setting).
    public var isPrivate: Bool { settings.method.isPrivate }
    public var task: String { settings.task.rawValue }
    public var method: String { settings.method.rawValue }
    public var model: String { settings.model }
    /// Target ε (private runs).
    public var epsilon: Double? { isPrivate ? settings.epsilon : nil }
    public var delta: Double? { isPrivate ? settings.delta : nil }
    public var clip: Double? { isPrivate ? settings.clip : nil }
    public var accountant: String? { isPrivate ? settings.accountant.rawValue : nil }
    public var sampling: String { settings.sampling.rawValue }
    public var batch_size: Int { settings.batchSize }
    public var epochs: Double { settings.epochs }
    public var lr: Double { settings.learningRate }
    public var seeded_noise: Bool { settings.seededNoise }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schema, settings, accuracy, accuracy_matched, accuracy_mismatched, f1, best_accuracy, best_epoch, best_accuracy_note
        case epsilon_spent, sigma, sample_rate, steps, examples_seen, accountant_assumptions, sampling_note, privacy_note, head_scale
        case predicted_share, dev_majority_share, model_integrity, model_type, head_description, parallelism, wall_seconds, git_commit, train_data, train_examples, dev_examples, clipped_fraction, update_norms, epochs_log, finished
        case audit
    }

    public init(settings: TrainingConfiguration, accuracy: Double, accuracy_matched: Double?, accuracy_mismatched: Double?,
                f1: Double?, best_accuracy: Double, best_epoch: Int, epsilon_spent: Double?, sigma: Double?, sample_rate: Double,
                steps: Int, examples_seen: Int, accountant_assumptions: String?, sampling_note: String?, head_scale: Double?,
                model_integrity: String?, wall_seconds: Double, git_commit: String, train_data: String, train_examples: Int, dev_examples: [String: Int]?,
                update_norms: [String: Double]?, epochs_log: [EpochRecord], finished: Bool,
                audit: OneRunAudit.Outcome? = nil) {
        self.settings = settings
        self.accuracy = accuracy
        self.accuracy_matched = accuracy_matched
        self.accuracy_mismatched = accuracy_mismatched
        self.f1 = f1
        self.best_accuracy = best_accuracy
        self.best_epoch = best_epoch
        self.epsilon_spent = epsilon_spent
        self.sigma = sigma
        self.sample_rate = sample_rate
        self.steps = steps
        self.examples_seen = examples_seen
        self.accountant_assumptions = accountant_assumptions
        self.sampling_note = sampling_note
        self.head_scale = head_scale
        self.model_integrity = model_integrity
        self.wall_seconds = wall_seconds
        self.git_commit = git_commit
        self.train_data = train_data
        self.train_examples = train_examples
        self.dev_examples = dev_examples
        self.update_norms = update_norms
        self.epochs_log = epochs_log
        self.finished = finished
        self.audit = audit
        predicted_share = epochs_log.last?.evaluation.predictedShare
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let schema = try c.decode(Int.self, forKey: .schema)
        switch schema {
        case 1: settings = try LegacySettings(from: decoder).settings
        case 2: settings = try c.decode(TrainingConfiguration.self, forKey: .settings)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.schema], debugDescription:
                "result schema \(schema) is newer than this program reads (1 or \(Self.currentSchema))"))
        }
        self.schema = schema
        accuracy = try c.decode(Double.self, forKey: .accuracy)
        accuracy_matched = try c.decodeIfPresent(Double.self, forKey: .accuracy_matched)
        accuracy_mismatched = try c.decodeIfPresent(Double.self, forKey: .accuracy_mismatched)
        f1 = try c.decodeIfPresent(Double.self, forKey: .f1)
        best_accuracy = try c.decode(Double.self, forKey: .best_accuracy)
        best_epoch = try c.decode(Int.self, forKey: .best_epoch)
        best_accuracy_note = try c.decodeIfPresent(String.self, forKey: .best_accuracy_note) ?? best_accuracy_note
        epsilon_spent = try c.decodeIfPresent(Double.self, forKey: .epsilon_spent)
        sigma = try c.decodeIfPresent(Double.self, forKey: .sigma)
        sample_rate = try c.decode(Double.self, forKey: .sample_rate)
        steps = try c.decode(Int.self, forKey: .steps)
        examples_seen = try c.decode(Int.self, forKey: .examples_seen)
        accountant_assumptions = try c.decodeIfPresent(String.self, forKey: .accountant_assumptions)
        sampling_note = try c.decodeIfPresent(String.self, forKey: .sampling_note)
        privacy_note = try c.decodeIfPresent(String.self, forKey: .privacy_note)
        head_scale = try c.decodeIfPresent(Double.self, forKey: .head_scale)
        model_integrity = try c.decodeIfPresent(String.self, forKey: .model_integrity)
        model_type = try c.decodeIfPresent(String.self, forKey: .model_type)
        head_description = try c.decodeIfPresent(String.self, forKey: .head_description)
        parallelism = try c.decodeIfPresent(String.self, forKey: .parallelism)
        wall_seconds = try c.decode(Double.self, forKey: .wall_seconds)
        git_commit = try c.decode(String.self, forKey: .git_commit)
        train_data = try c.decode(String.self, forKey: .train_data)
        train_examples = try c.decode(Int.self, forKey: .train_examples)
        dev_examples = try c.decodeIfPresent([String: Int].self, forKey: .dev_examples)
        clipped_fraction = try c.decodeIfPresent(Double.self, forKey: .clipped_fraction)
        predicted_share = try c.decodeIfPresent([Double].self, forKey: .predicted_share)
        dev_majority_share = try c.decodeIfPresent(Double.self, forKey: .dev_majority_share)
        update_norms = try c.decodeIfPresent([String: Double].self, forKey: .update_norms)
        epochs_log = try c.decode([EpochRecord].self, forKey: .epochs_log)
        finished = try c.decode(Bool.self, forKey: .finished)
        audit = try c.decodeIfPresent(OneRunAudit.Outcome.self, forKey: .audit)
    }
}

/// The settings of a schema-1 result.json, which wrote them as flat keys (nil where the method had no such setting).
struct LegacySettings: Decodable {
    var settings: TrainingConfiguration

    enum Keys: String, CodingKey {
        case task, method, model, seed, epsilon, delta, clip, batch_size, epochs, lr, max_length, rank, carrier_source
        case power_iterations, reconstruction, fused_qkv, head_scale, accountant, sampling, split, seeded_noise
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        var s = TrainingConfiguration(task: try c.decode(GLUETask.self, forKey: .task),
                                      method: try c.decode(TrainingMethod.self, forKey: .method),
                                      model: try c.decode(String.self, forKey: .model),
                                      batchSize: try c.decode(Int.self, forKey: .batch_size),
                                      epochs: try c.decode(Double.self, forKey: .epochs),
                                      learningRate: try c.decode(Double.self, forKey: .lr))
        s.seed = try c.decode(UInt64.self, forKey: .seed)
        s.epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon)
        s.delta = try c.decodeIfPresent(Double.self, forKey: .delta) ?? s.delta
        s.clip = try c.decodeIfPresent(Double.self, forKey: .clip) ?? s.clip
        s.maxLength = try c.decode(Int.self, forKey: .max_length)
        s.rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? s.rank
        s.carrierSource = try c.decodeIfPresent(CarrierSource.self, forKey: .carrier_source) ?? s.carrierSource
        s.powerIterations = try c.decodeIfPresent(Int.self, forKey: .power_iterations) ?? s.powerIterations
        s.reconstruction = try c.decodeIfPresent(Reconstruction.self, forKey: .reconstruction) ?? s.reconstruction
        s.fusedQKV = try c.decodeIfPresent(Bool.self, forKey: .fused_qkv) ?? s.fusedQKV
        s.headScale = try c.decodeIfPresent(Double.self, forKey: .head_scale) ?? s.headScale  // dphead's 1 was what it applied
        s.accountant = try c.decodeIfPresent(AccountantKind.self, forKey: .accountant) ?? s.accountant
        s.sampling = try c.decode(SamplingKind.self, forKey: .sampling)
        s.split = try c.decode(SplitChoice.self, forKey: .split)
        s.seededNoise = try c.decode(Bool.self, forKey: .seeded_noise)
        s.head = .pooler  // every schema-1 run read the pooler
        settings = s
    }
}
