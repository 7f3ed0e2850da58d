import Numerics
import Transformer

extension TrainingMethod {
    /// Ordinary fine-tuning of every parameter (non-private).
    public static let full = TrainingMethod(registering: "full")
}

/// Full (N.P.): the mean gradient of every parameter, Adam. The privacy engine only samples its batches.
public final class FullFineTuning: TrainingMethodPlugin {
    public static let description = MethodDescription(
        name: .full, displayName: "Full", summary: "ordinary fine-tuning of every parameter (non-private)",
        isPrivate: false, usesCarriers: false, tableOrder: 0, plotColor: "#2ca02c", plotMarker: "dash", legendOrder: 3,
        forwardPassesPerExample: 3, trainsOnFrozenFeatures: false)

    public static func stepFLOPs(config: BertConfig, batch: Int, length: Int, rank: Int, head: HeadInput) -> Double {
        let f = FLOPModel(config: config, firstTokenLastLayer: head != .mean)
        return f.forward(batch: batch, length: length) + f.backwardData(batch: batch, length: length) + f.weightGradients(batch: batch, length: length)
    }

    let context: MethodContext
    public let trainableNames: [String]
    let gradients: BertParameters

    public var headScale: Double? { nil }

    public init(context: MethodContext) {
        self.context = context
        trainableNames = BertParameters.layout(config: context.config, classes: context.classes).map(\.name)
        // One buffer, so that P processes sum their gradients in one reduction.
        gradients = BertParameters(config: context.config, classes: context.classes, contiguous: true)
    }

    public func step(_ indices: [Int], step: Int) -> Double {
        let model = context.model
        gradients.zero()
        var lossSum = 0.0
        for micro in context.beginStep(indices, step: step) {
            let (loss, dlogits) = context.forwardLoss(micro, scale: 1 / Float(Swift.max(1, indices.count)))
            lossSum += loss
            model.backward(dlogits: dlogits, gradients: gradients)
        }
        context.engine.communicator.sumToAll(gradients.storage!.data, count: gradients.storage!.count)
        context.adam.beginStep()
        let lr = context.learningRate(step: step)
        for name in trainableNames {
            context.adam.update(name, parameter: model.parameters[name], gradient: gradients[name].data, learningRate: lr)
        }
        return lossSum / Double(Swift.max(1, indices.count))
    }
}
