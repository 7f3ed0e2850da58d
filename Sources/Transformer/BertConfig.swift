import Foundation

/// The Hugging Face BERT configuration fields the encoder uses.
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

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenDropoutProb = "hidden_dropout_prob"
        case attentionProbsDropoutProb = "attention_probs_dropout_prob"
    }

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

    public var headDimension: Int { hiddenSize / numAttentionHeads }

    /// Reads `config.json`, checking that the fields the encoder needs are present and consistent.
    public static func load(path: String) throws -> BertConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let config: BertConfig
        do {
            config = try JSONDecoder().decode(BertConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw CheckpointError.invalidConfig(path: path, reason: "missing field \"\(key.stringValue)\"")
        } catch {
            throw CheckpointError.invalidConfig(path: path, reason: "not a BERT config: \(error)")
        }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let activation = object["hidden_act"] as? String, activation != "gelu" {
            throw CheckpointError.invalidConfig(path: path, reason: "hidden_act \"\(activation)\" is not supported (expected gelu)")
        }
        guard config.hiddenSize % config.numAttentionHeads == 0 else {
            throw CheckpointError.invalidConfig(path: path, reason: "hidden_size \(config.hiddenSize) is not divisible by num_attention_heads \(config.numAttentionHeads)")
        }
        return config
    }
}
