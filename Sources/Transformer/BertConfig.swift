import Foundation
import Storage

/// The encoder families that share BERT's architecture and differ in embeddings, names and vocabulary.
public enum ModelFamily: String, Codable, Sendable, CaseIterable {
    /// BERT: positions 0…T−1, two token types, `[CLS] A [SEP] B [SEP]`.
    case bert
    /// RoBERTa: positions offset by padding_idx + 1 (fairseq), one token type, byte-level BPE, `<s> A </s></s> B </s>`.
    case roberta
    /// XLM-R: RoBERTa's architecture with a SentencePiece vocabulary in fairseq's id order.
    case xlmRoberta = "xlm-roberta"

    /// Whether positions and token types follow fairseq's RoBERTa.
    public var isRoberta: Bool { self != .bert }
}

/// The Hugging Face BERT/RoBERTa configuration fields the encoder uses.
public struct BertConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var hiddenDropoutProb: Float
    public var attentionProbsDropoutProb: Float
    /// Whether the checkpoint's pooler was trained (the converter writes false for sentence-transformers checkpoints,
    /// whose pooler never saw a gradient); nil when unknown.
    public var poolerTrained: Bool?
    /// `model_type` as written in config.json (absent: BERT).
    public var modelType: String?
    /// `pad_token_id` (absent: 0 for BERT, 1 for RoBERTa and XLM-R).
    public var padTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenDropoutProb = "hidden_dropout_prob"
        case attentionProbsDropoutProb = "attention_probs_dropout_prob", poolerTrained = "pooler_trained"
        case modelType = "model_type", padTokenId = "pad_token_id"
    }

    /// The family `model_type` names (BERT when absent; `validate` refuses unknown names).
    public var family: ModelFamily { ModelFamily(rawValue: modelType ?? "bert") ?? .bert }

    /// The padding id of the vocabulary (and, for RoBERTa, the position row of padding).
    public var padId: Int { padTokenId ?? (family.isRoberta ? 1 : 0) }

    /// Position id of a sequence's first token: 0 for BERT; padding_idx + 1 for RoBERTa, whose fairseq positions
    /// count from there (`create_position_ids_from_input_ids`).
    public var positionOffset: Int { family.isRoberta ? padId + 1 : 0 }

    /// The longest input the position table covers.
    public var maxSequenceLength: Int { maxPositionEmbeddings - positionOffset }

    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12,
                hiddenDropoutProb: Float = 0.1, attentionProbsDropoutProb: Float = 0.1) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.hiddenDropoutProb = hiddenDropoutProb
        self.attentionProbsDropoutProb = attentionProbsDropoutProb
    }

    /// bert-base-uncased's shape (for benchmarks).
    public static let bertBase = BertConfig(vocabSize: 30522, hiddenSize: 768, numHiddenLayers: 12,
                                            numAttentionHeads: 12, intermediateSize: 3072)
    /// all-MiniLM-L6-v2's shape.
    public static let miniLM = BertConfig(vocabSize: 30522, hiddenSize: 384, numHiddenLayers: 6,
                                          numAttentionHeads: 12, intermediateSize: 1536)

    /// roberta-base's shape (for plans before the checkpoint is downloaded).
    public static let robertaBase: BertConfig = {
        var c = BertConfig(vocabSize: 50265, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072,
                           maxPositionEmbeddings: 514, typeVocabSize: 1, layerNormEps: 1e-5)
        c.modelType = ModelFamily.roberta.rawValue
        c.padTokenId = 1
        return c
    }()
    /// roberta-large's shape.
    public static let robertaLarge: BertConfig = {
        var c = robertaBase
        (c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.intermediateSize) = (1024, 24, 16, 4096)
        return c
    }()
    /// xlm-roberta-base's shape.
    public static let xlmRobertaBase: BertConfig = {
        var c = robertaBase
        c.vocabSize = 250002
        c.modelType = ModelFamily.xlmRoberta.rawValue
        return c
    }()

    /// Published shapes by checkpoint name, for plans made before a checkpoint is downloaded.
    public static let publishedShapes: [String: BertConfig] = [
        "bert-base-uncased": bertBase, "all-MiniLM-L6-v2": miniLM, "roberta-base": robertaBase, "roberta-large": robertaLarge,
        "xlm-roberta-base": xlmRobertaBase,
    ]

    public var headDimension: Int { hiddenSize / numAttentionHeads }

    /// Reads `config.json`, checking that the fields the encoder needs are present and consistent.
    public static func load(path: String) throws -> BertConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError.unreadable(path: path, reason: Files.unreadableReason(path))
        }
        let config: BertConfig
        do {
            config = try JSONDecoder().decode(BertConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw CheckpointError.invalidConfig(path: path, reason: "missing field \"\(key.stringValue)\"")
        } catch {
            throw CheckpointError.invalidConfig(path: path, reason: "not a BERT or RoBERTa config: \(error)")
        }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let activation = object["hidden_act"] as? String, activation != "gelu" {
            throw CheckpointError.invalidConfig(path: path, reason: "hidden_act \"\(activation)\" is not supported (expected gelu)")
        }
        try config.validate(path: path)
        return config
    }

    /// Limits no real BERT-family checkpoint comes near; beyond them config.json is refused before anything is sized
    /// from it.
    var limits: [(key: String, value: Int, maximum: Int)] {
        [("vocab_size", vocabSize, 1 << 24), ("hidden_size", hiddenSize, 1 << 16), ("num_hidden_layers", numHiddenLayers, 1024),
         ("num_attention_heads", numAttentionHeads, 1024), ("intermediate_size", intermediateSize, 1 << 18),
         ("max_position_embeddings", maxPositionEmbeddings, 1 << 20), ("type_vocab_size", typeVocabSize, 1 << 12)]
    }

    /// Every size positive and within `limits`, heads dividing the hidden size, ε and dropout rates in range.
    public func validate(path: String) throws {
        for (key, value, maximum) in limits {
            guard value >= 1, value <= maximum else {
                throw CheckpointError.invalidConfig(path: path, reason: "\(key) must lie in 1...\(maximum), got \(value)")
            }
        }
        if let modelType, ModelFamily(rawValue: modelType) == nil {
            throw CheckpointError.invalidConfig(path: path, reason: "model_type \"\(modelType)\" is not supported (expected "
                                                + ModelFamily.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        if let padTokenId, padTokenId < 0 || padTokenId >= vocabSize {
            throw CheckpointError.invalidConfig(path: path, reason: "pad_token_id \(padTokenId) lies outside the vocabulary of \(vocabSize)")
        }
        guard maxSequenceLength >= 1 else {
            throw CheckpointError.invalidConfig(path: path, reason: "max_position_embeddings \(maxPositionEmbeddings) leaves no position after "
                                                + "RoBERTa's offset of \(positionOffset) (padding_idx + 1)")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw CheckpointError.invalidConfig(path: path, reason: "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        guard layerNormEps.isFinite, layerNormEps > 0 else {
            throw CheckpointError.invalidConfig(path: path, reason: "layer_norm_eps must be a positive number, got \(layerNormEps)")
        }
        for (key, rate) in [("hidden_dropout_prob", hiddenDropoutProb), ("attention_probs_dropout_prob", attentionProbsDropoutProb)] {
            guard rate.isFinite, rate >= 0, rate < 1 else {
                throw CheckpointError.invalidConfig(path: path, reason: "\(key) must lie in [0, 1), got \(rate)")
            }
        }
    }
}
