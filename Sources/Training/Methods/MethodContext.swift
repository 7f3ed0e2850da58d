import Foundation
import Numerics
import Privacy
import Tokenizers
import Transformer

/// What every method's step works with: the model and its starting point, the data, the optimizer, the privacy
/// engine, and the pieces of a step that methods share (dropout seeding, micro-batches, the loss,
/// per-example head gradients, the head update).
public final class MethodContext {
    public let configuration: TrainingConfiguration
    public let model: BertModel
    /// The encoder's weight matrices as fine-tuning started (W₀), no other parameter: on every rank for carriers from
    /// the weights' history (`carrierSource == .history`, which needs W − W₀), and on rank 0 for the record's update
    /// norms; nil on the other ranks otherwise (a copy of the model less a rank).
    public let initial: BertParameters?
    public let data: TaskData
    public let tokenizer: any Tokenizer
    public let engine: PrivacyEngine
    public let adam = Adam()
    public let classes: Int
    public var schedule: Schedule { engine.schedule }
    public var config: BertConfig { model.config }

    public init(configuration: TrainingConfiguration, model: BertModel, initial: BertParameters?, data: TaskData,
                tokenizer: any Tokenizer, engine: PrivacyEngine) {
        self.configuration = configuration
        self.model = model
        self.initial = initial
        self.data = data
        self.tokenizer = tokenizer
        self.engine = engine
        classes = configuration.task.labels.count
        // A rank of P gets every P-th sequence of a length-sorted micro-batch: at most budget/P tokens and one sequence.
        let ranks = engine.communicator.size
        model.reserveWorkspace(tokens: ranks == 1 ? configuration.microBatchTokens : configuration.microBatchTokens / ranks + configuration.maxLength,
                               longestSequence: configuration.maxLength)
        let shortest = Swift.max(1, data.train.map(\.ids.count).min() ?? 1)
        let examples = Swift.min(microBatchExampleLimit, Swift.max(1, configuration.microBatchTokens / shortest))
        largestMicroBatch = (examples + ranks - 1) / ranks
    }

    /// The most examples one of this process's micro-batches can hold: the token budget over the shortest training
    /// example (at most `microBatchExampleLimit`), this rank's share of it. Per-example buffers are sized for it once,
    /// rather than grown — and their fresh pages faulted in — in whichever steps first meet a larger micro-batch.
    public let largestMicroBatch: Int

    /// A seed for one purpose at one step (salts: 1 carriers, 2 dropout; the engine uses 3 and 4).
    public func seed(step: Int, salt: UInt64) -> UInt64 { StepSeed.derive(seed: configuration.seed, step: step, salt: salt) }

    /// The learning rate at step `step` (0-based) under the run's schedule.
    public func learningRate(step: Int) -> Float {
        Float(configuration.lrSchedule.rate(peak: configuration.learningRate, step: step, steps: schedule.totalSteps,
                                            horizon: configuration.lrDecaySteps))
    }

    /// Training mode with this step's dropout seed, and the length-sorted micro-batches of this process's share of
    /// the logical batch (all of it in a single process).
    ///
    /// Dropout masks are drawn per process in micro-batch order, so with dropout on, a run's masks (not its privacy)
    /// depend on the number of processes; with dropout off, P processes reproduce one up to summation order.
    public func beginStep(_ indices: [Int], step: Int) -> [[Int]] {
        model.training = true
        model.dropoutGenerator = Xoshiro256(seed: seed(step: step, salt: 2) &+ UInt64(engine.communicator.rank))
        return share(microBatches(indices, of: data.train, tokenBudget: configuration.microBatchTokens))
    }

    /// This process's part of a batch's micro-batches: all of them alone; under P processes every P-th example of
    /// each (micro-batches are sorted by length), so every rank gets as many tokens as the others and pads as little
    /// as one process would. (Splitting the batch first and bucketing each half would leave each rank's buckets half
    /// as dense in length, with more padding: measured 1.56× instead of 2× for 2 ranks.)
    public func share(_ batches: [[Int]]) -> [[Int]] {
        let communicator = engine.communicator
        guard communicator.size > 1 else { return batches }
        return batches.map { communicator.share(of: $0) }.filter { !$0.isEmpty }
    }

    /// Forward on a micro-batch; returns the summed loss and dlogits = scale·(p − onehot).
    public func forwardLoss(_ micro: [Int], scale: Float) -> (Double, [Float]) {
        let batch = makeBatch(micro, of: data.train, padId: tokenizer.padId)
        let logits = model.forward(batch)
        let labels = micro.map { Int32(data.train[$0].label) }
        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        let loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: classes,
                                        probabilities: &probabilities)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: classes,
                              scale: scale, into: &dlogits)
        return (Double(loss), dlogits)
    }

    /// Floats of one example's head gradient: weight [C, H] then bias [C].
    public var headSize: Int { classes * config.hiddenSize + classes }

    /// Per-example head gradients [b, C·H + C] into `out`, from dlogits [b, C] and the head's input rows [b, H].
    public func headGradients(dlogits: [Float], input: UnsafePointer<Float>, examples b: Int, into out: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize, size = headSize
        for i in 0..<b {
            let row = out + i * size, x = input + i * h
            for c in 0..<classes {
                let g = dlogits[i * classes + c]
                for j in 0..<h { row[c * h + j] = g * x[j] }
                row[classes * h + c] = g
            }
        }
    }

    /// Adam on the head from its released gradient (weight then bias, `headSize` floats).
    public func updateHead(gradient: UnsafePointer<Float>, learningRate lr: Float) {
        let h = config.hiddenSize
        adam.update("classifier.weight", parameter: model.parameters["classifier.weight"], gradient: gradient, learningRate: lr)
        adam.update("classifier.bias", parameter: model.parameters["classifier.bias"], gradient: gradient + classes * h, learningRate: lr)
    }
}
