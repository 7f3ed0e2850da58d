import Numerics
import Transformer

/// Per-example squared gradient norms for DP-SGD without materialising per-example gradients ("ghost" norms,
/// Goodfellow 2015; Li et al. 2021): for a linear layer, ‖δ_iᵀ·x_i‖²_F = ⟨x_i·x_iᵀ, δ_i·δ_iᵀ⟩ from two Lᵢ×Lᵢ Gram matrices
/// per example; biases and LayerNorms from per-example sums; single-row layers (pooler, head) as ‖δ_i‖²·‖x_i‖².
final class GhostNorms {
    let examples: Int
    private(set) var squares: [Double]
    private var gramInputs = Tensor(zeros: [0]), gramGradients = Tensor(zeros: [0])

    init(examples: Int) {
        self.examples = examples
        squares = [Double](repeating: 0, count: examples)
    }

    /// Weight and bias of a linear layer with input x [R, d] and output gradient δ [R, p], example i owning `rows`'
    /// rows of it: Gram matrices of Lᵢ×Lᵢ each.
    func linear(input x: UnsafePointer<Float>, outputGradient delta: UnsafePointer<Float>, inputs d: Int, outputs p: Int,
                rows: ExampleRows) {
        precondition(rows.examples == examples, "ghost norms of \(examples) examples given rows of \(rows.examples)")
        var gramStarts = [Int](), total = 0
        for i in 0..<examples {
            gramStarts.append(total)
            total += rows.count(i) * rows.count(i)
        }
        if gramInputs.count < total { (gramInputs, gramGradients) = (Tensor(zeros: [total]), Tensor(zeros: [total])) }
        // Examples are independent: split across the workers (each example's sums in the same order as alone), each
        // worker summing the bias gradient in its own p floats.
        nonisolated(unsafe) let (gramX, gramD) = (gramInputs.data, gramGradients.data)
        let biasSums = Tensor(zeros: [Swift.max(1, Parallel.workers) * p])
        squares.withUnsafeMutableBufferPointer { squares in
            nonisolated(unsafe) let squares = squares
            Parallel.forEachExample(rows) { i, worker in
                let t = rows.count(i), first = rows.start(i)
                let gx = gramX + gramStarts[i], gd = gramD + gramStarts[i]
                BLAS.gemm(transA: false, transB: true, m: t, n: t, k: d, a: x + first * d, lda: d, b: x + first * d, ldb: d,
                          c: gx, ldc: t)
                BLAS.gemm(transA: false, transB: true, m: t, n: t, k: p, a: delta + first * p, lda: p, b: delta + first * p,
                          ldb: p, c: gd, ldc: t)
                var weight = 0.0
                for k in 0..<(t * t) { weight += Double(gx[k]) * Double(gd[k]) }
                let biasSum = biasSums.data + worker * p
                biasSum.update(repeating: 0, count: p)
                for row in first..<(first + t) { Elementwise.axpy(1, delta + row * p, into: biasSum, count: p) }
                squares[i] += weight + Elementwise.sumOfSquares(biasSum, count: p)
            }
        }
    }

    /// γ and β of a LayerNorm: per example Σ_t dy_t ⊙ x̂_t and Σ_t dy_t over its rows.
    func layerNorm(outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                   rstd: UnsafePointer<Float>, columns h: Int, rows: ExampleRows) {
        // Per worker: Σ dy ⊙ x̂ and Σ dy in double, h each.
        let workers = Swift.max(1, Parallel.workers)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: workers * 2 * h)
        defer { sums.deallocate() }
        nonisolated(unsafe) let scratch = sums
        squares.withUnsafeMutableBufferPointer { squares in
            nonisolated(unsafe) let squares = squares
            Parallel.forEachExample(rows) { i, worker in
                let gamma = scratch + worker * 2 * h, beta = gamma + h
                gamma.update(repeating: 0, count: 2 * h)
                for row in rows.start(i)..<(rows.start(i) + rows.count(i)) {
                    let g = dy + row * h, v = x + row * h, mu = mean[row], s = rstd[row]
                    for j in 0..<h {
                        gamma[j] += Double(g[j] * (v[j] - mu) * s)
                        beta[j] += Double(g[j])
                    }
                }
                var gammaSquares = 0.0, betaSquares = 0.0
                for j in 0..<h { gammaSquares += gamma[j] * gamma[j] }
                for j in 0..<h { betaSquares += beta[j] * beta[j] }
                squares[i] += gammaSquares + betaSquares
            }
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
    BookKeepingClipper(keeping: false).perExampleSquares(model: model, dlogits: dlogits, classes: classes)
}

/// DP-SGD's per-example clipping with one backward ("book-keeping", Bu, Wang, Zha & Karypis 2023). The backward that
/// yields the ghost norms also keeps every trainable layer's output gradient δ; once the clip factors c are known, the
/// clipped sum Σ_i c_i·g_i of each tensor comes from those δ, example i's rows scaled by c_i, and the forward's stored
/// inputs: dW += (c⊙δ)ᵀ·x, one GEMM per layer, the product a second backward would form, without that backward's
/// input gradients (attention, GELU, LayerNorm, dropout). Costs one copy of every δ of a micro-batch (N·Σ outputs
/// floats); the kept inputs are the model's activations, valid until its next forward.
public final class BookKeepingClipper {
    private struct KeptLinear { var gradient: Tensor; var input: UnsafePointer<Float>; var inputs: Int; var outputs: Int; var rows: ExampleRows }
    private struct KeptNorm { var gradient: Tensor; var input, mean, rstd: UnsafePointer<Float>; var rows: ExampleRows }
    private let keeping: Bool
    /// Keyed by layer · |sites| + site.
    private var linear: [Int: KeptLinear] = [:]
    /// Keyed by 0 (embeddings) or 1 + layer · |sites| + site.
    private var norms: [Int: KeptNorm] = [:]
    private var examples = 0

    /// `keeping: false` computes the norms only (nothing is kept; `addClippedSum` is then unavailable).
    public init(keeping: Bool = true) { self.keeping = keeping }

    /// Per-example squared gradient norms of the model's last forward (as `perExampleGradientSquares`), keeping
    /// what `addClippedSum` needs.
    public func perExampleSquares(model: BertModel, dlogits: [Float], classes: Int) -> [Double] {
        guard let ws = model.workspace else { preconditionFailure("forward first") }
        let c = model.config, h = c.hiddenSize
        examples = ws.batchSize
        let ghost = GhostNorms(examples: examples)
        let none = BertParameters(config: c, classes: classes, groups: [])
        let sites = LinearSite.allCases.count, normSites = LayerNormSite.allCases.count
        model.backward(dlogits: dlogits, gradients: none, weightHook: { site, layer, x, delta, rows in
            let shape = site.shape(c)
            ghost.linear(input: x, outputGradient: delta, inputs: shape.columns, outputs: shape.rows, rows: rows)
            guard self.keeping else { return }
            let key = layer * sites + site.rawValue
            let kept = Self.copy(delta, count: rows.rows * shape.rows, reusing: self.linear[key]?.gradient)
            self.linear[key] = KeptLinear(gradient: kept, input: x, inputs: shape.columns, outputs: shape.rows, rows: rows)
        }, normHook: { location, dy, x, mean, rstd, rows in
            ghost.layerNorm(outputGradient: dy, input: x, mean: mean, rstd: rstd, columns: h, rows: rows)
            guard self.keeping else { return }
            let key: Int
            switch location {
            case .embeddings: key = 0
            case .encoder(let layer, let site): key = 1 + layer * normSites + site.rawValue
            }
            let kept = Self.copy(dy, count: rows.rows * h, reusing: self.norms[key]?.gradient)
            self.norms[key] = KeptNorm(gradient: kept, input: x, mean: mean, rstd: rstd, rows: rows)
        })
        // The pooler is trained only when it feeds the head.
        if model.headInput == .pooler, let input = model.poolerInput {
            ghost.singleRow(input: input.data, outputGradient: ws.poolerGradient.data, inputs: h, outputs: h)
        }
        dlogits.withUnsafeBufferPointer {
            ghost.singleRow(input: ws.headInput.data, outputGradient: $0.baseAddress!, inputs: h, outputs: classes)
        }
        return ghost.squares
    }

    /// Adds Σ_i factors[i]·g_i into every tensor `gradients` holds, g_i being example i's gradient in the backward of
    /// the last `perExampleSquares` (same model, no forward in between). Scales the kept δ in place: call once.
    public func addClippedSum(factors: [Float], model: BertModel, dlogits: [Float], classes: Int, into g: BertParameters) {
        precondition(keeping && factors.count == examples, "addClippedSum after perExampleSquares on the same micro-batch")
        guard let ws = model.workspace else { preconditionFailure("forward first") }
        let c = model.config, h = c.hiddenSize, p = model.parameters
        let sites = LinearSite.allCases.count, normSites = LayerNormSite.allCases.count
        let single = ExampleRows(examples: examples, length: 1)
        func scaleExamples(_ x: UnsafeMutablePointer<Float>, rows: ExampleRows, columns: Int) {
            nonisolated(unsafe) let x = x
            Parallel.forEachExample(rows, minimumExamples: rows.rows > examples ? 2 : 256) { i, _ in
                guard factors[i] != 1 else { return }
                Elementwise.scale(x + rows.start(i) * columns, by: factors[i], count: rows.count(i) * columns)
            }
        }
        for (key, kept) in linear {
            let layer = key / sites, site = LinearSite.allCases[key % sites], target = g.layers[layer]
            guard target.weight(site) != nil || target.bias(site) != nil else { continue }
            scaleExamples(kept.gradient.data, rows: kept.rows, columns: kept.outputs)
            Linear.backward(outputGradient: kept.gradient.data, input: kept.input, weight: p.layers[layer].weight(site)!.data,
                            inputGradient: nil, weightGradient: target.weight(site)?.data,
                            biasGradient: target.bias(site)?.data, rows: kept.rows.rows, inputs: kept.inputs, outputs: kept.outputs)
        }
        for (key, kept) in norms {
            let gamma: Tensor?, beta: Tensor?
            if key == 0 {
                (gamma, beta) = g.embeddingNorm
            } else {
                let site = LayerNormSite.allCases[(key - 1) % normSites], target = g.layers[(key - 1) / normSites]
                (gamma, beta) = (target.normWeight(site), target.normBias(site))
            }
            guard gamma != nil || beta != nil else { continue }
            scaleExamples(kept.gradient.data, rows: kept.rows, columns: h)
            LayerNorm.parameterGradients(outputGradient: kept.gradient.data, input: kept.input, mean: kept.mean,
                                         rstd: kept.rstd, gammaGradient: gamma?.data, betaGradient: beta?.data,
                                         rows: kept.rows.rows, columns: h)
        }
        if model.headInput == .pooler, g.pooler.weight != nil || g.pooler.bias != nil, let input = model.poolerInput {
            let scaled = Self.copy(ws.poolerGradient.data, count: examples * h, reusing: nil)
            scaleExamples(scaled.data, rows: single, columns: h)
            Linear.backward(outputGradient: scaled.data, input: input.data, weight: p.pooler.weight!.data, inputGradient: nil,
                            weightGradient: g.pooler.weight?.data, biasGradient: g.pooler.bias?.data,
                            rows: examples, inputs: h, outputs: h)
        }
        var scaled = dlogits
        scaled.withUnsafeMutableBufferPointer { d in
            scaleExamples(d.baseAddress!, rows: single, columns: classes)
            Linear.backward(outputGradient: d.baseAddress!, input: ws.headInput.data, weight: p.classifier.weight!.data,
                            inputGradient: nil, weightGradient: g.classifier.weight?.data,
                            biasGradient: g.classifier.bias?.data, rows: examples, inputs: h, outputs: classes)
        }
    }

    /// `count` floats from `source` into `buffer` when it is large enough, else into a new one.
    private static func copy(_ source: UnsafePointer<Float>, count: Int, reusing buffer: Tensor?) -> Tensor {
        let target = buffer.flatMap { $0.count >= count ? $0 : nil } ?? Tensor(zeros: [count])
        nonisolated(unsafe) let (from, to) = (source, target.data)
        Parallel.chunks(count) { start, n in (to + start).update(from: from + start, count: n) }
        return target
    }
}
