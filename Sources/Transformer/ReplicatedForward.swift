import Numerics

/// A batch's forward as P independent shares on P cores: one `BertModel` per share, all over the same parameters (no
/// copy of the weights), each share's products on its own core, instead of every product split across the cores.
/// Sequence i goes to replica i mod P (length-sorted batches then give each about the same tokens); the logits come
/// back in batch order. The encoder treats every sequence independently, so the logits are the single model's up to
/// the rounding of products of other shapes.
public final class ReplicatedForward {
    public let models: [BertModel]

    /// `configure` sets each replica's head input, mode and first-token last layer. The replicas run forward only
    /// (`preparesBackward` off).
    public init(parameters: BertParameters, replicas: Int, configure: (BertModel) -> Void = { _ in }) {
        precondition(replicas >= 1, "at least one replica")
        models = (0..<replicas).map { _ in
            let model = BertModel(parameters: parameters)
            model.preparesBackward = false
            configure(model)
            return model
        }
    }

    /// Logits [B, C] in batch order.
    public func forward(_ batch: Batch) -> [Float] {
        let p = models.count, classes = models[0].parameters.classes
        let shares = (0..<p).map { r in Array(stride(from: r, to: batch.size, by: p)) }
        var logits = [Float](repeating: 0, count: batch.size * classes)
        logits.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out.baseAddress!
            let models = self.models
            Parallel.forEachInterleaved(p) { r, _ in
                guard !shares[r].isEmpty else { return }
                let result = models[r].forward(batch.rows(shares[r]))
                for (k, row) in shares[r].enumerated() {
                    (out + row * classes).update(from: result.data + k * classes, count: classes)
                }
            }
        }
        return logits
    }
}
