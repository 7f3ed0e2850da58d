import RGP
import Transformer

extension TrainingMethod {
    /// Reparametrized gradient perturbation.
    public static let rgp = TrainingMethod(registering: "rgp")
}

/// RGP: per-example gradients on the low-rank carriers of every reparametrized matrix and on the head, clipped
/// jointly, noised, reconstructed into updates of W.
public final class RGPFineTuning: TrainingMethodPlugin {
    public static let description = MethodDescription(
        name: .rgp, displayName: "RGP", summary: "reparametrized gradient perturbation (private)",
        isPrivate: true, usesCarriers: true, tableOrder: 4, plotColor: "#1f77b4", plotMarker: "circle", legendOrder: 0,
        forwardPassesPerExample: 2, trainsOnFrozenFeatures: false)

    public static func stepFLOPs(config: BertConfig, batch: Int, length: Int, rank: Int, head: HeadInput) -> Double {
        let f = FLOPModel(config: config, firstTokenLastLayer: head != .mean)
        return f.forward(batch: batch, length: length) + f.backwardData(batch: batch, length: length, embeddingsFrozen: true)
            + f.carrierGradients(batch: batch, length: length, rank: rank)
    }

    let carrierStep: CarrierStep
    public var trainableNames: [String] { carrierStep.trainableNames }
    public var headScale: Double? { carrierStep.context.configuration.headScale }

    public init(context: MethodContext) throws { carrierStep = try CarrierStep(context: context) }
    public func step(_ indices: [Int], step: Int) -> Double { carrierStep.step(indices, step: step) }
}
