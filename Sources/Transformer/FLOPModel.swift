extension LinearSite {
    /// Shape of this site's weight, [output rows p, input columns d].
    public func shape(_ c: BertConfig) -> (rows: Int, columns: Int) {
        switch self {
        case .intermediate: (c.intermediateSize, c.hiddenSize)
        case .output: (c.hiddenSize, c.intermediateSize)
        case .query, .key, .value, .attentionOutput: (c.hiddenSize, c.hiddenSize)
        }
    }
}

/// The encoder's GEMM arithmetic in FLOPs (2·m·n·k per product): the one cost model of the planner, the step
/// benchmark and the methods' step costs. Elementwise work is not counted. Every term is a sum over sequences (the
/// encoder runs a micro-batch unpadded), so a micro-batch of mixed lengths costs the sum of `batch: 1, length: Lₛ`.
public struct FLOPModel: Sendable {
    public let config: BertConfig
    /// Whether the last layer runs at the first tokens alone (`BertModel.firstTokenLastLayer`, a first-token head).
    public let firstTokenLastLayer: Bool
    public init(config: BertConfig, firstTokenLastLayer: Bool = false) {
        self.config = config
        self.firstTokenLastLayer = firstTokenLastLayer
    }

    /// The sites the first-token last layer computes at B rows instead of B·T (keys and values are never formed there;
    /// their weights' gradients still run at every token).
    static let firstTokenSites: [LinearSite] = [.query, .attentionOutput, .intermediate, .output]
    /// What one pass of those sites' products skips: 2·(N − B)·Σ p·d.
    func skippedDense(batch: Int, length: Int) -> Double {
        guard firstTokenLastLayer else { return 0 }
        let weights = Self.firstTokenSites.reduce(0.0) { let s = $1.shape(config); return $0 + Double(s.rows * s.columns) }
        return 2 * Double(batch * length - batch) * weights
    }
    /// The last layer's key and value products at every token (2·N·Σ p·d), which the first-token last layer replaces.
    func keysAndValues(batch: Int, length: Int) -> Double {
        guard firstTokenLastLayer else { return 0 }
        return 2 * Double(batch * length) * [LinearSite.key, .value].reduce(0.0) { let s = $1.shape(config); return $0 + Double(s.rows * s.columns) }
    }
    /// The first-token last layer's attention in place of the last layer's at every query and of its keys and values
    /// (`BertModel.firstQueryAttentionForward`): U = W_kᵀq₀ and the context through W_v (2·B·H² each), the scores U·Xᵀ
    /// and X̄ = P'·X (2·A·H·N each).
    func firstQueryForward(batch: Int, length: Int) -> Double {
        guard firstTokenLastLayer else { return 0 }
        let (b, n, h, a) = (Double(batch), Double(batch * length), Double(config.hiddenSize), Double(config.numAttentionHeads))
        return 4 * b * h * h + 4 * a * h * n
    }
    /// Its backward: Y = W_vᵀdC₀ and dQ₀ (2·B·H² each), dP' and dS·X (2·A·H·N each), and, when the layer's input gradient
    /// is wanted, dSᵀ·U and P'ᵀ·Y into it (2·A·H·N each).
    func firstQueryBackward(batch: Int, length: Int, inputGradient: Bool) -> Double {
        guard firstTokenLastLayer else { return 0 }
        let (b, n, h, a) = (Double(batch), Double(batch * length), Double(config.hiddenSize), Double(config.numAttentionHeads))
        return 4 * b * h * h + (inputGradient ? 8 : 4) * a * h * n
    }
    /// The last layer's attention products at every query (what `firstQueryForward` replaces).
    func lastLayerAttention(batch: Int, length: Int) -> Double {
        guard firstTokenLastLayer else { return 0 }
        return attention(batch: batch, length: length) / layers
    }

    var layers: Double { Double(config.numHiddenLayers) }
    /// Σ p·d over one layer's six linear maps.
    var weightsPerLayer: Double { LinearSite.allCases.reduce(0) { let s = $1.shape(config); return $0 + Double(s.rows * s.columns) } }
    /// Σ (p + d) over one layer's six linear maps.
    var widthsPerLayer: Double { LinearSite.allCases.reduce(0) { let s = $1.shape(config); return $0 + Double(s.rows + s.columns) } }

    /// Forward FLOPs per token of a sequence of `length` tokens: the six linear maps of each layer plus attention
    /// (Q·Kᵀ and P·V, 4·h·length).
    public func forwardPerToken(length: Double) -> Double {
        layers * (2 * weightsPerLayer + 4 * Double(config.hiddenSize) * length)
    }

    /// Every linear map once over `batch` sequences of `length` tokens.
    public func dense(batch: Int, length: Int) -> Double { 2 * Double(batch * length) * weightsPerLayer * layers }
    /// Attention's two batched products over all heads.
    public func attention(batch: Int, length: Int) -> Double {
        4 * Double(batch * config.numAttentionHeads) * Double(length * length) * Double(config.headDimension) * layers
    }
    public func forward(batch: Int, length: Int) -> Double {
        dense(batch: batch, length: length) + attention(batch: batch, length: length)
            - skippedDense(batch: batch, length: length) - keysAndValues(batch: batch, length: length)
            - lastLayerAttention(batch: batch, length: length) + firstQueryForward(batch: batch, length: length)
    }
    /// Input gradients of every linear map, and attention's dP, dV, dQ, dK; without the first layer's Q, K, V
    /// products into its input when the embeddings are frozen (`BertModel.backward` skips them).
    public func backwardData(batch: Int, length: Int, embeddingsFrozen: Bool = false) -> Double {
        let h = Double(config.hiddenSize), n = Double(batch * length)
        // The first layer's products into its input: Q, K, V at every token, or, when it is also the first-token last
        // layer, the query's at B rows (its keys' and values' part is in `firstQueryBackward`).
        let frozen = !embeddingsFrozen ? 0 : firstTokenLastLayer && config.numHiddenLayers == 1
            ? 2 * Double(batch) * h * h : 2 * n * 3 * h * h
        let inputGradient = config.numHiddenLayers > 1 || !embeddingsFrozen
        return dense(batch: batch, length: length) + 2 * attention(batch: batch, length: length) - frozen
            - skippedDense(batch: batch, length: length) - keysAndValues(batch: batch, length: length)
            - 2 * lastLayerAttention(batch: batch, length: length)
            + firstQueryBackward(batch: batch, length: length, inputGradient: inputGradient)
    }
    /// Weight gradients of every linear map.
    public func weightGradients(batch: Int, length: Int) -> Double {
        dense(batch: batch, length: length) - skippedDense(batch: batch, length: length)
    }
    /// RGP's per-example carrier gradients: δ·L and x·Rᵀ (2N(p+d)r per matrix), then per-example sums of outer
    /// products (2N(p+d)r).
    public func carrierGradients(batch: Int, length: Int, rank: Int) -> Double {
        let skipped = firstTokenLastLayer
            ? 4 * Double(batch * length - batch) * Self.firstTokenSites.reduce(0.0) { let s = $1.shape(config); return $0 + Double(s.rows + s.columns) }
            : 0
        return 4 * Double(batch * length) * widthsPerLayer * Double(rank) * layers - skipped * Double(rank)
    }
    /// Ghost norms: two T×T Gram matrices per example and matrix (2·B·T²·(d + p)); 1×1 at the first-token last
    /// layer's sites.
    public func ghostNorms(batch: Int, length: Int) -> Double {
        let skipped = firstTokenLastLayer
            ? 2 * Double(batch) * Double(length * length - 1) * Self.firstTokenSites.reduce(0.0) { let s = $1.shape(config); return $0 + Double(s.rows + s.columns) }
            : 0
        return 2 * Double(batch) * Double(length * length) * widthsPerLayer * layers - skipped
    }
}
