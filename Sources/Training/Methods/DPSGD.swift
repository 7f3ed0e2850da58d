import Numerics
import Privacy
import Transformer

extension TrainingMethod {
    /// Per-example clipping of every parameter but the embeddings, Gaussian noise.
    public static let dpsgd = TrainingMethod(registering: "dpsgd")
}

/// DP-SGD with ghost clipping and book-keeping: one backward for per-example gradient norms (never materialising
/// per-example gradients) that keeps each layer's output gradient, the engine's clip factors, then Σ_i c_i·g_i from
/// the kept gradients (`BookKeepingClipper`) into one contiguous gradient buffer that the engine noises.
public final class DPSGD: TrainingMethodPlugin {
    public static let description = MethodDescription(
        name: .dpsgd, displayName: "DP-SGD", summary: "DP-SGD on every parameter but the embeddings, ghost clipping (private)",
        isPrivate: true, usesCarriers: false, tableOrder: 2, plotColor: "#d62728", plotMarker: "square", legendOrder: 1,
        forwardPassesPerExample: 4, trainsOnFrozenFeatures: false)

    public static func stepFLOPs(config: BertConfig, batch: Int, length: Int, rank: Int, head: HeadInput) -> Double {
        let f = FLOPModel(config: config, firstTokenLastLayer: head != .mean)
        return f.forward(batch: batch, length: length) + f.backwardData(batch: batch, length: length)
            + f.ghostNorms(batch: batch, length: length) + f.weightGradients(batch: batch, length: length)
    }

    let context: MethodContext
    /// Every trained parameter's gradient, in one buffer (`storage`), one segment per tensor.
    let gradients: BertParameters
    let layout: FlatLayout
    let clipper = BookKeepingClipper()
    public var trainableNames: [String] { gradients.names }

    /// The head is not clipped on its own (DP-SGD clips it with every other parameter).
    public var headScale: Double? { nil }

    public init(context: MethodContext) {
        self.context = context
        // Everything but the embedding tables, and the pooler only when it feeds the head (nothing untrained is trained).
        var groups: ParameterGroups = [.encoderWeights, .encoderBiases, .layerNorms, .classifier]
        if context.model.headInput == .pooler { groups.insert(.pooler) }
        let layout = context.engine.layout(BertParameters.layout(config: context.config, classes: context.classes)
            .filter { groups.contains($0.group) }.map { FlatSegment(size: $0.shape.reduce(1, *)) })
        // One buffer: every gradient in `names` order, then the audit's canary slice (when audited).
        let gradients = BertParameters(config: context.config, classes: context.classes, groups: groups, contiguous: true,
                                       extraCapacity: layout.hasAuditSlice ? layout.segments.last!.size : 0)
        self.gradients = gradients
        self.layout = layout
    }

    public func step(_ indices: [Int], step: Int) -> Double {
        let model = context.model, classes = context.classes
        gradients.storage!.zero()
        var lossSum = 0.0
        for micro in context.beginStep(indices, step: step) {
            let (loss, dlogits) = context.forwardLoss(micro, scale: 1)
            lossSum += loss
            let norms = clipper.perExampleSquares(model: model, dlogits: dlogits, classes: classes).map { $0.squareRoot() }
            let factors = context.engine.clipFactors(norms: norms)
            clipper.addClippedSum(factors: factors, model: model, dlogits: dlogits, classes: classes, into: gradients)
        }
        context.engine.release(gradients.storage!.data, layout: layout, step: step)
        context.adam.beginStep()
        let lr = context.learningRate(step: step)
        for name in gradients.names {
            context.adam.update(name, parameter: model.parameters[name], gradient: gradients[name].data, learningRate: lr)
        }
        return lossSum / Double(Swift.max(1, indices.count))
    }
}
