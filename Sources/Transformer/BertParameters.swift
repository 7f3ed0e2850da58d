import Foundation
import Numerics

/// The groups of parameters a backward pass can be asked to produce gradients for.
public struct ParameterGroups: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Word, position and token-type embeddings (and not their LayerNorm).
    public static let embeddings = ParameterGroups(rawValue: 1)
    /// Q, K, V, attention-output, FFN-in and FFN-out weight matrices of every layer.
    public static let encoderWeights = ParameterGroups(rawValue: 2)
    /// The biases of those matrices.
    public static let encoderBiases = ParameterGroups(rawValue: 4)
    /// Every LayerNorm's γ and β, the embeddings' included.
    public static let layerNorms = ParameterGroups(rawValue: 8)
    /// The pooler's dense layer.
    public static let pooler = ParameterGroups(rawValue: 16)
    /// The classification head's weight and bias.
    public static let classifier = ParameterGroups(rawValue: 32)
    public static let all: ParameterGroups = [.embeddings, .encoderWeights, .encoderBiases, .layerNorms, .pooler, .classifier]
}

/// The six reparametrizable matrices of a BERT layer.
public enum LinearSite: Int, CaseIterable, Sendable, Codable {
    case query, key, value, attentionOutput, intermediate, output

    /// Canonical name prefix (without `.weight`/`.bias`) in layer `layer`.
    public func name(layer: Int) -> String {
        let base = "encoder.layer.\(layer)."
        switch self {
        case .query: return base + "attention.self.query"
        case .key: return base + "attention.self.key"
        case .value: return base + "attention.self.value"
        case .attentionOutput: return base + "attention.output.dense"
        case .intermediate: return base + "intermediate.dense"
        case .output: return base + "output.dense"
        }
    }
}

/// Every tensor of a BERT encoder with pooler and classification head, by canonical name (Hugging Face BertModel
/// names without the `bert.` prefix, plus `classifier.weight`/`classifier.bias`).
///
/// Also used for gradients, holding only the tensors of the requested groups.
public final class BertParameters: @unchecked Sendable {
    public let config: BertConfig
    public let classes: Int
    public let tensors: [String: Tensor]
    /// Names in a fixed order (embeddings, layers, pooler, classifier).
    public let names: [String]

    /// Canonical names, shapes and groups of every parameter.
    public static func layout(config c: BertConfig, classes: Int) -> [(name: String, shape: [Int], group: ParameterGroups)] {
        let h = c.hiddenSize
        var out: [(String, [Int], ParameterGroups)] = [
            ("embeddings.word_embeddings.weight", [c.vocabSize, h], .embeddings),
            ("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h], .embeddings),
            ("embeddings.token_type_embeddings.weight", [c.typeVocabSize, h], .embeddings),
            ("embeddings.LayerNorm.weight", [h], .layerNorms),
            ("embeddings.LayerNorm.bias", [h], .layerNorms),
        ]
        for l in 0..<c.numHiddenLayers {
            for site in LinearSite.allCases {
                let (rows, columns) = site.shape(c)
                out.append((site.name(layer: l) + ".weight", [rows, columns], .encoderWeights))
                out.append((site.name(layer: l) + ".bias", [rows], .encoderBiases))
            }
            for norm in LayerNormSite.allCases {
                out.append((norm.name(layer: l) + ".weight", [h], .layerNorms))
                out.append((norm.name(layer: l) + ".bias", [h], .layerNorms))
            }
        }
        out += [("pooler.dense.weight", [h, h], .pooler), ("pooler.dense.bias", [h], .pooler),
                ("classifier.weight", [classes, h], .classifier), ("classifier.bias", [classes], .classifier)]
        return out
    }

    /// Zero tensors for the given groups. `contiguous`: every tensor is a view into one buffer (`storage`), in
    /// `names` order, so the whole set is one operand (a flat gradient for the privacy engine, one all-reduce).
    /// `extraCapacity` floats follow the tensors in `storage` (a contiguous store's trailing segment, e.g. an audit's
    /// canary slice).
    public init(config: BertConfig, classes: Int, groups: ParameterGroups = .all, contiguous: Bool = false, extraCapacity: Int = 0) {
        self.config = config
        self.classes = classes
        var tensors: [String: Tensor] = [:]
        var names: [String] = []
        let entries = Self.layout(config: config, classes: classes).filter { groups.contains($0.group) }
        let storage = contiguous ? Tensor(zeros: [entries.reduce(0) { $0 + $1.shape.reduce(1, *) } + extraCapacity]) : nil
        var offset = 0
        for entry in entries {
            tensors[entry.name] = storage?.view(offset: offset, shape: entry.shape) ?? Tensor(zeros: entry.shape)
            offset += entry.shape.reduce(1, *)
            names.append(entry.name)
        }
        self.tensors = tensors
        self.names = names
        self.storage = storage
        layers = (0..<config.numHiddenLayers).map { LayerTensors(layer: $0, tensors: tensors) }
        embeddingTables = (tensors["embeddings.word_embeddings.weight"], tensors["embeddings.position_embeddings.weight"],
                           tensors["embeddings.token_type_embeddings.weight"])
        embeddingNorm = (tensors["embeddings.LayerNorm.weight"], tensors["embeddings.LayerNorm.bias"])
        pooler = (tensors["pooler.dense.weight"], tensors["pooler.dense.bias"])
        classifier = (tensors["classifier.weight"], tensors["classifier.bias"])
    }

    /// The one buffer behind every tensor, when made `contiguous`.
    public let storage: Tensor?

    /// Typed handles to every layer's tensors, resolved once (nil where this store does not hold the tensor): the
    /// model's forward and backward read these instead of building names on the hot path.
    public let layers: [LayerTensors]
    /// The embedding tables and their LayerNorm, the pooler and the head (nil where not held).
    public let embeddingTables: (word: Tensor?, position: Tensor?, tokenType: Tensor?)
    public let embeddingNorm: (weight: Tensor?, bias: Tensor?)
    public let pooler: (weight: Tensor?, bias: Tensor?)
    public let classifier: (weight: Tensor?, bias: Tensor?)

    /// The tensor called `name`; a programming error if absent.
    public subscript(_ name: String) -> Tensor {
        guard let tensor = tensors[name] else { preconditionFailure("no parameter \(name)") }
        return tensor
    }

    /// The tensor called `name`, if this store holds it.
    public func optional(_ name: String) -> Tensor? { tensors[name] }

    /// Sets every tensor to zero.
    public func zero() { for t in tensors.values { t.zero() } }

    /// Total number of floats held.
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }

    /// Group of a canonical name.
    public static func group(of name: String, config: BertConfig, classes: Int) -> ParameterGroups? {
        layout(config: config, classes: classes).first { $0.name == name }?.group
    }

    /// Gaussian N(0, std²) initialisation of the pooler's dense layer, bias zero: the dense layer of fairseq's
    /// classification head on RoBERTa, which a pretrained checkpoint does not hold.
    public func initialisePooler(seed: UInt64, std: Float = 0.02) {
        var generator = Xoshiro256(seed: seed)
        let weight = self["pooler.dense.weight"]
        for i in 0..<weight.count { weight.data[i] = std * Float(generator.nextGaussian()) }
        self["pooler.dense.bias"].zero()
    }

    /// Gaussian N(0, std²) initialisation of the classification head, bias zero (Hugging Face's default, std 0.02).
    public func initialiseClassifier(seed: UInt64, std: Float = 0.02) {
        var generator = Xoshiro256(seed: seed)
        let weight = self["classifier.weight"]
        for i in 0..<weight.count { weight.data[i] = std * Float(generator.nextGaussian()) }
        self["classifier.bias"].zero()
    }
}

/// The two LayerNorms of an encoder layer.
public enum LayerNormSite: Int, CaseIterable, Sendable {
    /// After attention's output projection and residual.
    case attention
    /// After the feed-forward block and residual.
    case output

    public func name(layer: Int) -> String {
        "encoder.layer.\(layer)." + (self == .attention ? "attention.output.LayerNorm" : "output.LayerNorm")
    }
}

/// One encoder layer's tensors in a parameter store, by site (nil where the store does not hold them).
public struct LayerTensors {
    private let weights: [Tensor?], biases: [Tensor?], normWeights: [Tensor?], normBiases: [Tensor?]

    init(layer: Int, tensors: [String: Tensor]) {
        weights = LinearSite.allCases.map { tensors[$0.name(layer: layer) + ".weight"] }
        biases = LinearSite.allCases.map { tensors[$0.name(layer: layer) + ".bias"] }
        normWeights = LayerNormSite.allCases.map { tensors[$0.name(layer: layer) + ".weight"] }
        normBiases = LayerNormSite.allCases.map { tensors[$0.name(layer: layer) + ".bias"] }
    }

    public func weight(_ site: LinearSite) -> Tensor? { weights[site.rawValue] }
    public func bias(_ site: LinearSite) -> Tensor? { biases[site.rawValue] }
    public func normWeight(_ site: LayerNormSite) -> Tensor? { normWeights[site.rawValue] }
    public func normBias(_ site: LayerNormSite) -> Tensor? { normBiases[site.rawValue] }
}
