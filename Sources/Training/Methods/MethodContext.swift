import Foundation
import Numerics
import Privacy
import Tokenizers
import Transformer

/// What every method's step works with: the model and its starting point, the data, the optimizer, the privacy
/// engine, and the pieces of a step that methods share (dropout seeding, length-bucketed micro-batches, the loss,
/// per-example head gradients, the head update).
public final class MethodContext {
    public let configuration: TrainingConfiguration
    public let model: BertModel
    /// The parameters fine-tuning started from (W₀).
    public let initial: BertParameters
    public let data: TaskData
    public let tokenizer: any Tokenizer
    public let engine: PrivacyEngine
    public let adam = Adam()
    public let classes: Int
    public var schedule: Schedule { engine.schedule }
    public var config: BertConfig { model.config }

    public init(configuration: TrainingConfiguration, model: BertModel, initial: BertParameters, data: TaskData,
                tokenizer: any Tokenizer, engine: PrivacyEngine) {
        self.configuration = configuration
        self.model = model
        self.initial = initial
        self.data = data
        self.tokenizer = tokenizer
        self.engine = engine
        classes = configuration.task.labels.count
    }

    /// A seed for one purpose at one step (salts: 1 carriers, 2 dropout; the engine uses 3 and 4).
    public func seed(step: Int, salt: UInt64) -> UInt64 { StepSeed.derive(seed: configuration.seed, step: step, salt: salt) }

    /// The learning rate at step `step` (0-based) under the run's schedule.
    public func learningRate(step: Int) -> Float {
        Float(configuration.lrSchedule.rate(peak: configuration.learningRate, step: step, steps: schedule.totalSteps,
                                            horizon: configuration.lrDecaySteps))
    }

    /// Training mode with this step's dropout seed, and the length-bucketed micro-batches of this process's share of
    /// the logical batch (all of it in a single process; every P-th example under P processes).
    ///
    /// Dropout masks are drawn per process in micro-batch order, so with dropout on, a run's masks (not its privacy)
    /// depend on the number of processes; with dropout off, P processes reproduce one up to summation order.
    public func beginStep(_ indices: [Int], step: Int) -> [[Int]] {
        model.training = true
        model.dropoutGenerator = Xoshiro256(seed: seed(step: step, salt: 2) &+ UInt64(engine.communicator.rank))
        return microBatches(share(of: indices), of: data.train, tokenBudget: configuration.microBatchTokens)
    }

    /// This process's part of a logical batch: all of it alone; under P processes every P-th example of the batch
    /// ordered by length, so that each rank gets as many tokens (and attention blocks) as the others and none waits
    /// long at the reduction.
    public func share(of indices: [Int]) -> [Int] {
        let communicator = engine.communicator
        guard communicator.size > 1 else { return indices }
        let byLength = indices.enumerated().sorted {
            let (a, b) = (data.train[$0.element].ids.count, data.train[$1.element].ids.count)
            return a != b ? a > b : $0.offset < $1.offset
        }.map(\.element)
        return communicator.share(of: byLength)
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

/// A buffer that grows to the largest size asked of it and is reused across steps (a step allocates nothing once warm).
struct GrowingBuffer {
    private(set) var tensor = Tensor(zeros: [0])
    mutating func reserve(_ count: Int) -> Tensor {
        if tensor.count < count { tensor = Tensor(zeros: [count]) }
        return tensor
    }
}
