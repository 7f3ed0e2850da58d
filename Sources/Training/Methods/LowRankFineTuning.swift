import RGP
import Transformer

extension TrainingMethod {
    /// RGP's low-rank updates without clipping or noise (non-private).
    public static let lowrank = TrainingMethod(registering: "lowrank")
}

/// RGP (N.P.): the carrier step with C = ∞ and no noise (the privacy engine of a non-private run).
public final class LowRankFineTuning: TrainingMethodPlugin {
    public static let description = MethodDescription(
        name: .lowrank, displayName: "RGP", summary: "RGP's low-rank updates without clipping or noise (non-private)",
        isPrivate: false, usesCarriers: true, tableOrder: 1, plotColor: "#ff7f0e", plotMarker: "dash", legendOrder: 4,
        forwardPassesPerExample: 2, trainsOnFrozenFeatures: false)

    public static func stepFLOPs(config: BertConfig, batch: Int, length: Int, rank: Int, head: HeadInput) -> Double {
        RGPFineTuning.stepFLOPs(config: config, batch: batch, length: length, rank: rank, head: head)
    }

    let carrierStep: CarrierStep
    public var trainableNames: [String] { carrierStep.trainableNames }
    public var headScale: Double? { carrierStep.context.configuration.headScale }

    public init(context: MethodContext) throws { carrierStep = try CarrierStep(context: context) }
    public func step(_ indices: [Int], step: Int) -> Double { carrierStep.step(indices, step: step) }
}
