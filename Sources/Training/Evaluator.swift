import GLUE
import Numerics
import Tokenizers
import Transformer

/// Dev-set metrics after an epoch.
public struct Evaluation: Codable, Sendable, Equatable {
    /// Accuracy on the primary dev set (MNLI: matched), in [0, 1].
    public var accuracy: Double
    /// MNLI only, official split: accuracy on dev_mismatched.
    public var accuracyMismatched: Double?
    /// QQP only: F1 of the duplicate class.
    public var f1: Double?
    /// Fraction of the primary dev set predicted as each class (a collapse to one class shows as a share near 1).
    public var predictedShare: [Double]?

    public init(accuracy: Double, accuracyMismatched: Double? = nil, f1: Double? = nil, predictedShare: [Double]? = nil) {
        self.accuracy = accuracy
        self.accuracyMismatched = accuracyMismatched
        self.f1 = f1
        self.predictedShare = predictedShare
    }

    enum CodingKeys: String, CodingKey { case accuracy, accuracyMismatched = "accuracy_mismatched", f1, predictedShare = "predicted_share" }
    enum LegacyKeys: String, CodingKey { case accuracyMismatched }

    /// Reads snake_case (schema 2) and the camelCase of schema-1 records.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), legacy = try decoder.container(keyedBy: LegacyKeys.self)
        accuracy = try c.decode(Double.self, forKey: .accuracy)
        accuracyMismatched = try c.decodeIfPresent(Double.self, forKey: .accuracyMismatched)
            ?? legacy.decodeIfPresent(Double.self, forKey: .accuracyMismatched)
        f1 = try c.decodeIfPresent(Double.self, forKey: .f1)
        predictedShare = try c.decodeIfPresent([Double].self, forKey: .predictedShare)
    }
}

/// Predicts the dev sets of a task with a model and scores them: accuracy (MNLI: matched, plus mismatched when
/// evaluated), and F1 of the duplicate class for QQP.
public struct Evaluator {
    public let model: BertModel
    public let tokenizer: any Tokenizer
    public let task: GLUETask
    /// Tokens per micro-batch.
    public let microBatchTokens: Int
    /// One forward-only model per core over `model`'s parameters (no copy of the weights, so they see every update),
    /// each predicting its share of a micro-batch on its own core; nil on one core. Whole products on one core each
    /// beat every product split across the cores: the MiniLM 32×128 forward took 0.85 of the time
    /// (results/bench/spr.md).
    public let replicas: ReplicatedForward?

    /// `replicas`: how many cores predict side by side; by default `Parallel.workers`, or 1 inside a region (a thread
    /// rank, whose other cores are the other ranks').
    public init(model: BertModel, tokenizer: any Tokenizer, task: GLUETask, microBatchTokens: Int, replicas: Int? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.microBatchTokens = microBatchTokens
        let count = replicas ?? (Parallel.isInsideRegion ? 1 : Parallel.workers)
        self.replicas = count > 1 ? ReplicatedForward(parameters: model.parameters, replicas: count) : nil
    }

    /// A fine-tuned checkpoint for `task`: refused when it holds no trained head with the task's class count (a fresh
    /// random head would report a random model's accuracy).
    public static func trainedCheckpoint(directory: String, task: GLUETask) throws -> Checkpoint {
        let checkpoint = try Checkpoint.load(directory: directory, classes: task.labels.count, classifierSeed: 0)
        guard checkpoint.classifierLoaded else {
            throw TrainingError("\(directory) holds no trained classifier head for \(task.rawValue) (\(task.labels.count) classes): "
                                + "evaluate a run directory fine-tuned on this task (or its model/ folder)")
        }
        return checkpoint
    }

    /// The predicted class of every example (evaluation mode: no dropout).
    public func predictions(_ examples: [EncodedExample]) -> [Int] {
        let classes = task.labels.count
        var result = [Int](repeating: 0, count: examples.count)
        model.training = false
        let prepared = model.preparesBackward
        model.preparesBackward = false
        defer { model.preparesBackward = prepared }
        for replica in replicas?.models ?? [] {  // the model's head and last-layer settings, read at every call
            replica.training = false
            replica.headInput = model.headInput
            replica.firstTokenLastLayer = model.firstTokenLastLayer
        }
        for micro in microBatches(Array(examples.indices), of: examples, tokenBudget: microBatchTokens) {
            let batch = makeBatch(micro, of: examples, padId: tokenizer.padId)
            let logits = replicas.map { $0.forward(batch) } ?? Array(UnsafeBufferPointer(start: model.forward(batch).data, count: micro.count * classes))
            for (row, index) in micro.enumerated() {
                var best = 0
                for c in 1..<classes where logits[row * classes + c] > logits[row * classes + best] { best = c }
                result[index] = best
            }
        }
        return result
    }

    /// Metrics on `dev` (the primary set first; a second set is MNLI's mismatched).
    public func evaluate(_ dev: [(name: String, examples: [EncodedExample])]) -> Evaluation {
        let primary = dev[0].examples, predicted = predictions(primary), labels = primary.map(\.label)
        var evaluation = Evaluation(accuracy: Metrics.accuracy(predictions: predicted, labels: labels))
        let classes = task.labels.count
        evaluation.predictedShare = (0..<classes).map { c in Double(predicted.filter { $0 == c }.count) / Double(Swift.max(1, predicted.count)) }
        if task == .qqp { evaluation.f1 = Metrics.f1(predictions: predicted, labels: labels) }
        if dev.count > 1 {
            let second = dev[1].examples
            evaluation.accuracyMismatched = Metrics.accuracy(predictions: predictions(second), labels: second.map(\.label))
        }
        return evaluation
    }
}
