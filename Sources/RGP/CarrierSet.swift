import Numerics
import Transformer

/// The reparametrized matrices of a BERT encoder and their carrier groups: Q, K, V, attention output, FFN in and FFN
/// out of every layer, each with its own carrier pair, or (fused, as the authors' code) Q, K and V stacked under one.
public final class CarrierSet {
    public let groups: [CarrierGroup]
    public let fusedQKV: Bool
    /// groupIndex[layer][site] → index into `groups`.
    private let groupIndex: [[Int]]

    public init(config: BertConfig, rank: Int, fusedQKV: Bool) {
        self.fusedQKV = fusedQKV
        let stacks: [[LinearSite]] = fusedQKV
            ? [[.query, .key, .value], [.attentionOutput], [.intermediate], [.output]]
            : LinearSite.allCases.map { [$0] }
        var groups: [CarrierGroup] = []
        var index: [[Int]] = []
        for layer in 0..<config.numHiddenLayers {
            var row = [Int](repeating: -1, count: LinearSite.allCases.count)
            for members in stacks {
                for site in members { row[site.rawValue] = groups.count }
                groups.append(CarrierGroup(layer: layer, members: members, config: config, rank: rank))
            }
            index.append(row)
        }
        self.groups = groups
        groupIndex = index
    }

    /// The group that carries `site` of `layer`.
    public func group(layer: Int, site: LinearSite) -> CarrierGroup {
        groups[groupIndex[layer][site.rawValue]]
    }
}
