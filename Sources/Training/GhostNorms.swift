import Numerics
import Transformer

/// Per-example squared gradient norms for DP-SGD without materialising per-example gradients ("ghost" norms,
/// Goodfellow 2015; Li et al. 2021): for a linear layer, ‖δ_iᵀ·x_i‖²_F = ⟨x_i·x_iᵀ, δ_i·δ_iᵀ⟩ from two T×T Gram matrices
/// per example; biases and LayerNorms from per-example sums; single-row layers (pooler, head) as ‖δ_i‖²·‖x_i‖².
final class GhostNorms {
    let examples: Int, length: Int
    private(set) var squares: [Double]
    private var gramInputs: Tensor, gramGradients: Tensor

    init(examples: Int, length: Int) {
        self.examples = examples
        self.length = length
        squares = [Double](repeating: 0, count: examples)
        gramInputs = Tensor(zeros: [examples * length * length])
        gramGradients = Tensor(zeros: [examples * length * length])
    }

    /// Weight and bias of a linear layer with input x [B·T, d] and output gradient δ [B·T, p].
    func linear(input x: UnsafePointer<Float>, outputGradient delta: UnsafePointer<Float>, inputs d: Int, outputs p: Int) {
        let t = length
        BLAS.batchedGemm(transA: false, transB: true, m: t, n: t, k: d, batch: examples, a: x, lda: d,
                         layoutA: .init(stride: t * d), b: x, ldb: d, layoutB: .init(stride: t * d),
                         c: gramInputs.data, ldc: t, layoutC: .init(stride: t * t))
        BLAS.batchedGemm(transA: false, transB: true, m: t, n: t, k: p, batch: examples, a: delta, lda: p,
                         layoutA: .init(stride: t * p), b: delta, ldb: p, layoutB: .init(stride: t * p),
                         c: gramGradients.data, ldc: t, layoutC: .init(stride: t * t))
        var biasSum = [Float](repeating: 0, count: p)
        for i in 0..<examples {
            var weight = 0.0
            let gx = gramInputs.data + i * t * t, gd = gramGradients.data + i * t * t
            for k in 0..<(t * t) { weight += Double(gx[k]) * Double(gd[k]) }
            biasSum.withUnsafeMutableBufferPointer { sum in
                sum.update(repeating: 0)
                for row in 0..<t { Elementwise.axpy(1, delta + (i * t + row) * p, into: sum.baseAddress!, count: p) }
            }
            squares[i] += weight + biasSum.withUnsafeBufferPointer { Elementwise.sumOfSquares($0.baseAddress!, count: p) }
        }
    }

    /// γ and β of a LayerNorm: per example Σ_t dy_t ⊙ x̂_t and Σ_t dy_t.
    func layerNorm(outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                   rstd: UnsafePointer<Float>, columns h: Int) {
        var gamma = [Double](repeating: 0, count: h), beta = [Double](repeating: 0, count: h)
        for i in 0..<examples {
            for j in 0..<h { (gamma[j], beta[j]) = (0, 0) }
            for row in (i * length)..<((i + 1) * length) {
                let g = dy + row * h, v = x + row * h, mu = mean[row], s = rstd[row]
                for j in 0..<h {
                    gamma[j] += Double(g[j] * (v[j] - mu) * s)
                    beta[j] += Double(g[j])
                }
            }
            squares[i] += gamma.reduce(0) { $0 + $1 * $1 } + beta.reduce(0) { $0 + $1 * $1 }
        }
    }

    /// A dense layer applied to one row per example (pooler, head): weight ‖δ_i‖²‖x_i‖², bias ‖δ_i‖².
    func singleRow(input x: UnsafePointer<Float>, outputGradient delta: UnsafePointer<Float>, inputs d: Int, outputs p: Int) {
        for i in 0..<examples {
            let g = Elementwise.sumOfSquares(delta + i * p, count: p), v = Elementwise.sumOfSquares(x + i * d, count: d)
            squares[i] += g * v + g
        }
    }
}

/// Per-example squared gradient norms over DP-SGD's trainable set (every parameter but the embedding tables) for the
/// micro-batch of the model's last forward, by one backward pass that forms no per-example gradient.
public func perExampleGradientSquares(model: BertModel, dlogits: [Float], classes: Int) -> [Double] {
    guard let ws = model.workspace else { preconditionFailure("forward first") }
    let c = model.config
    let norms = GhostNorms(examples: ws.batchSize, length: ws.length)
    let none = BertParameters(config: c, classes: classes, groups: [])
    model.backward(dlogits: dlogits, gradients: none, weightHook: { site, _, x, delta, _ in
        let shape = site.shape(c)
        norms.linear(input: x, outputGradient: delta, inputs: shape.columns, outputs: shape.rows)
    }, normHook: { _, dy, x, mean, rstd in
        norms.layerNorm(outputGradient: dy, input: x, mean: mean, rstd: rstd, columns: c.hiddenSize)
    })
    // The pooler is trained only when it feeds the head.
    if model.headInput == .pooler {
        norms.singleRow(input: ws.cls.data, outputGradient: ws.poolerGradient.data, inputs: c.hiddenSize, outputs: c.hiddenSize)
    }
    dlogits.withUnsafeBufferPointer {
        norms.singleRow(input: ws.headInput.data, outputGradient: $0.baseAddress!, inputs: c.hiddenSize, outputs: classes)
    }
    return norms.squares
}
