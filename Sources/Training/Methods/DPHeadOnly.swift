import Numerics
import Privacy
import Transformer

extension TrainingMethod {
    /// DP training of the classification head alone on frozen features.
    public static let dphead = TrainingMethod(registering: "dphead")
}

/// DP head-only: the floor RGP must beat. Frozen pooled features of the training set, computed once; per-example
/// head gradients through the privacy engine.
public final class DPHeadOnly: TrainingMethodPlugin {
    public static let description = MethodDescription(
        name: .dphead, displayName: "DP head-only", summary: "DP training of the classifier head alone on frozen features (private)",
        isPrivate: true, usesCarriers: false, tableOrder: 3, plotColor: "#7f7f7f", plotMarker: "diamond", legendOrder: 2,
        forwardPassesPerExample: 1, trainsOnFrozenFeatures: true)

    public static func stepFLOPs(config: BertConfig, batch: Int, length: Int, rank: Int, head: HeadInput) -> Double {
        let f = FLOPModel(config: config)
        return f.forward(batch: batch, length: length)
    }

    let context: MethodContext
    let layout: FlatLayout
    let sum: Tensor
    let perExample = GrowingBuffer()
    var features: Tensor?
    public let trainableNames = ["classifier.weight", "classifier.bias"]

    /// The head alone is clipped, with the run's head scale (as inside RGP).
    public var headScale: Double? { context.configuration.headScale }

    public init(context: MethodContext) {
        self.context = context
        // The head alone, scaled as inside RGP's joint clip, so both clip the head alike.
        layout = context.engine.layout([FlatSegment(size: context.headSize, scale: Float(context.configuration.headScale))])
        sum = Tensor(zeros: [layout.size])
    }

    /// Frozen head inputs of every training example (evaluation mode: no dropout), computed once; under P processes
    /// each computes its share of the rows and the rows are summed across them (every other rank's rows are zero).
    func trainingFeatures() -> Tensor {
        if let features { return features }
        let model = context.model, data = context.data.train, h = context.config.hiddenSize
        let result = Tensor(zeros: [data.count, h])
        model.training = false
        model.preparesBackward = false  // the encoder is frozen: no backward ever runs through it
        let communicator = context.engine.communicator
        for micro in context.share(microBatches(Array(data.indices), of: data, tokenBudget: context.configuration.microBatchTokens)) {
            model.forward(makeBatch(micro, of: data, padId: context.tokenizer.padId))
            let features = model.workspace!.headInput
            for (row, index) in micro.enumerated() { (result.data + index * h).update(from: features.data + row * h, count: h) }
        }
        communicator.sumToAll(result.data, count: result.count)
        features = result
        return result
    }

    public func step(_ batch: [Int], step: Int) -> Double {
        let features = trainingFeatures(), indices = context.engine.communicator.share(of: batch)
        let h = context.config.hiddenSize, b = indices.count, classes = context.classes
        let parameters = context.model.parameters
        sum.zero()
        var loss: Float = 0
        if b > 0 {
            let inputs = Tensor(zeros: [b, h]), logits = Tensor(zeros: [b, classes])
            for (row, index) in indices.enumerated() { (inputs.data + row * h).update(from: features.data + index * h, count: h) }
            Linear.forward(inputs.data, weight: parameters["classifier.weight"].data, bias: parameters["classifier.bias"].data,
                           into: logits.data, rows: b, inputs: h, outputs: classes)
            let labels = indices.map { Int32(context.data.train[$0].label) }
            var probabilities = [Float](repeating: 0, count: b * classes), dlogits = probabilities
            loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: b, classes: classes, probabilities: &probabilities)
            CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: b, classes: classes, scale: 1, into: &dlogits)
            let block = perExample.reserve(b * layout.size)
            context.headGradients(dlogits: dlogits, input: inputs.data, examples: b, into: block.data)
            context.engine.accumulate(block.data, examples: b, layout: layout, into: sum.data)
        }
        context.engine.release(sum.data, layout: layout, step: step)
        context.adam.beginStep()
        context.updateHead(gradient: sum.data, learningRate: context.learningRate(step: step))
        return batch.isEmpty ? 0 : Double(loss) / Double(batch.count)
    }
}
