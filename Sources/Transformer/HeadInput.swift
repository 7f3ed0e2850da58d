/// What the classification head reads from the encoder.
public enum HeadInput: String, Sendable, Codable, CaseIterable {
    /// The first token's last-layer state ([CLS]), as the RGP authors' code (`--bert-pooler`): dropout, one linear layer.
    case cls
    /// The checkpoint's pooler (dense + tanh on [CLS]); only where the pooler was trained (bert-base-uncased), not for
    /// sentence-transformers checkpoints such as all-MiniLM-L6-v2, whose pooler is untrained.
    case pooler
    /// The attention-masked mean of the last layer (what sentence-transformers models were trained for).
    case mean
}

extension HeadInput {
    /// What the head computes for a model family, as run records name it.
    public static func describe(_ head: HeadInput, family: ModelFamily) -> String {
        switch (head, family.isRoberta) {
        case (.cls, _): "first token → dropout → linear (the RGP authors' --bert-pooler head)"
        case (.pooler, false): "BERT pooler (dense + tanh on [CLS], from the checkpoint) → dropout → linear"
        case (.pooler, true): "fairseq classification head: first token → dropout → dense → tanh → dropout → linear"
        case (.mean, _): "attention-masked mean of the last layer → dropout → linear"
        }
    }
}
