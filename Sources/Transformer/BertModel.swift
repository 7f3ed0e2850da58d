import Numerics

/// BERT encoder with pooler and classification head: forward and full backward, written by hand on the
/// numerics kernels, over buffers preallocated per batch shape.
///
/// Shapes: N = Σₛ Lₛ tokens of the B sequences (unpadded: each sequence's Lₛ rows one after another, `ExampleRows`), H
/// hidden, I intermediate, A heads of dₕ = H/A, C classes. Padding never enters the encoder: the linear maps,
/// LayerNorms and elementwise passes run on the N real tokens, and attention per (sequence, head) on its own Lₛ.
/// Post-LN layers as in BERT: h₁ = LN(x + Drop(Attn(x)·Woᵀ)), out = LN(h₁ + Drop(GELU(h₁·W₁ᵀ)·W₂ᵀ)).
public final class BertModel: @unchecked Sendable {
    public let config: BertConfig
    public let parameters: BertParameters
    /// What the classification head reads (`pooler` unless set: the checkpoint's dense + tanh on [CLS]).
    public var headInput: HeadInput = .pooler
    /// Dropout on (training) or off (evaluation).
    public var training = false
    /// Compute the last layer only where the head reads it, when the head reads the first token alone ([CLS] or the
    /// pooler, not `mean`): keys and values at every token, everything else at the first token of each sequence (B
    /// rows instead of B·T), forward and backward — the same logits and gradients for a sixth less arithmetic on a
    /// six-layer model. `Workspace.lastHiddenStates` then holds those B rows only.
    public var firstTokenLastLayer = false
    /// Whether a forward keeps what backward needs beyond the activations themselves: GELU's derivative in place of
    /// the feed-forward pre-activation (computed while erf is at hand, so backward multiplies instead of evaluating
    /// erf and exp again). Forward-only callers (evaluation) turn it off and save the derivative's exp; a backward
    /// after such a forward still works, from the pre-activation.
    public var preparesBackward = true
    /// Source of dropout masks (seeded, so runs are reproducible).
    public var dropoutGenerator = Xoshiro256(seed: 0)

    /// RoBERTa's `pooler` head is fairseq's classification head (dropout → dense → tanh → dropout → linear): one
    /// dropout more than BERT's pooler path.
    private var fairseqHead: Bool { config.family.isRoberta && headInput == .pooler }

    /// The pooler dense layer's input [B, H] in the last forward: the [CLS] state, after dropout in fairseq's head.
    public var poolerInput: Tensor? {
        guard let ws = workspace else { return nil }
        return fairseqHead ? ws.clsDropped : ws.cls
    }

    public private(set) var workspace: Workspace?
    private let pool = BufferPool()

    public init(parameters: BertParameters) {
        self.config = parameters.config
        self.parameters = parameters
    }

    /// Receives each encoder matrix's layer input x (R×in) and output gradient δ (R×out) during backward, and which
    /// rows are whose (every token, or one row a sequence where the first-token last layer ran), instead of the
    /// default dW += δᵀ·x (RGP computes per-example carrier gradients from them).
    public typealias WeightGradientHook = (_ site: LinearSite, _ layer: Int, _ input: UnsafePointer<Float>,
                                           _ outputGradient: UnsafePointer<Float>, _ rows: ExampleRows) -> Void

    /// Where a LayerNorm sits.
    public enum NormLocation: Sendable, Equatable {
        case embeddings
        case encoder(layer: Int, site: LayerNormSite)
    }

    /// Receives each LayerNorm's (location, output gradient dy [N, H], input x [N, H], mean and rstd [N], whose rows)
    /// during backward (DP-SGD computes per-example γ/β gradients from them).
    public typealias NormGradientHook = (_ location: NormLocation, _ outputGradient: UnsafePointer<Float>, _ input: UnsafePointer<Float>,
                                         _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, _ rows: ExampleRows) -> Void

    // MARK: Forward

    /// Runs the encoder, pooler and head; returns the logits [B, C] (a workspace buffer, valid until the next call).
    @discardableResult
    public func forward(_ batch: Batch) -> Tensor {
        let c = config, h = c.hiddenSize
        precondition(batch.length <= c.maxSequenceLength, "batch length \(batch.length) exceeds the \(c.maxSequenceLength) positions of the model")
        let ws = prepareWorkspace(batch)
        let n = ws.tokens, p = parameters

        // Embeddings of the real tokens: word + position + token type, LayerNorm, dropout.  [N, H]
        let word = p.embeddingTables.word!.data, position = p.embeddingTables.position!.data
        let type = p.embeddingTables.tokenType!.data
        for i in 0..<n {
            let row = ws.embeddingSum.data + i * h
            let w = word + Int(ws.inputIds[i]) * h, pos = position + Int(ws.positionIds[i]) * h, ty = type + Int(ws.tokenTypeIds[i]) * h
            for j in 0..<h { row[j] = w[j] + pos[j] + ty[j] }
        }
        LayerNorm.forward(ws.embeddingSum.data, gamma: p.embeddingNorm.weight!.data, beta: p.embeddingNorm.bias!.data,
                          into: ws.embeddingOutput.data, mean: ws.embeddingMean.data, rstd: ws.embeddingRstd.data,
                          rows: n, columns: h, eps: c.layerNormEps)
        dropout(ws.embeddingOutput, mask: ws.embeddingDropMask, p: c.hiddenDropoutProb)

        var input = ws.embeddingOutput
        ws.lastLayerFirstTokens = firstTokenLastLayer && headInput != .mean && c.numHiddenLayers > 0
        for l in 0..<c.numHiddenLayers {
            layerForward(l, input: input, ws: ws, batch: batch, firstTokens: ws.lastLayerFirstTokens && l == c.numHiddenLayers - 1)
            input = ws.layers[l].output
        }

        // Head input [B, H]: the pooler on [CLS] (position 0), [CLS] itself, or the mean over tokens; then dropout, head.
        let b = batch.size
        for s in 0..<b { (ws.cls.data + s * h).update(from: input.data + ws.clsRow(s) * h, count: h) }
        if headInput == .pooler && fairseqHead {
            // fairseq's classification head drops out the first token before its dense layer as well.
            ws.clsDropped.copy(from: ws.cls)
            dropout(ws.clsDropped, mask: ws.clsDropMask, p: c.hiddenDropoutProb)
        }
        Linear.forward(fairseqHead ? ws.clsDropped.data : ws.cls.data, weight: p.pooler.weight!.data, bias: p.pooler.bias!.data,
                       into: ws.pooled.data, rows: b, inputs: h, outputs: h)
        Tanh.forward(ws.pooled.data, into: ws.pooled.data, count: b * h)
        switch headInput {
        case .pooler: ws.headInput.copy(from: ws.pooled)
        case .cls: ws.headInput.copy(from: ws.cls)
        case .mean:
            // mean_s = Σ_{valid j} h_{s,j} / count_s  [B, H]
            ws.headInput.zero()
            for s in 0..<b {
                let row = ws.headInput.data + s * h, count = ws.sequences.count(s)
                for j in 0..<count { Elementwise.axpy(1, input.data + (ws.sequences.start(s) + j) * h, into: row, count: h) }
                Elementwise.scale(row, by: 1 / Float(Swift.max(count, 1)), count: h)
            }
        }
        dropout(ws.headInput, mask: ws.headDropMask, p: c.hiddenDropoutProb)
        Linear.forward(ws.headInput.data, weight: p.classifier.weight!.data, bias: p.classifier.bias!.data,
                       into: ws.logits.data, rows: b, inputs: h, outputs: parameters.classes)
        return ws.logits
    }

    /// One encoder layer. With `firstTokens` (`firstTokenLastLayer`: the last layer, whose other rows nothing reads)
    /// the query, attention output, LayerNorms and feed-forward run at the first token of each sequence alone, and
    /// attention reads every token through W_k and W_v without forming K and V (`firstQueryAttentionForward`).
    /// Output [N, H], or [B, H].
    private func layerForward(_ l: Int, input x: Tensor, ws: Workspace, batch: Batch, firstTokens: Bool) {
        let c = config, h = c.hiddenSize, inner = c.intermediateSize, n = ws.tokens
        let a = ws.layers[l], p = parameters
        let tensors = p.layers[l]
        func weight(_ s: LinearSite) -> UnsafeMutablePointer<Float> { tensors.weight(s)!.data }
        func bias(_ s: LinearSite) -> UnsafeMutablePointer<Float> { tensors.bias(s)!.data }
        // The rows computed past K and V, and their input: every token, or the first tokens gathered.  [R, H]
        let rows = firstTokens ? batch.size : n, rowInput = firstTokens ? ws.firstTokenInput : x
        if firstTokens {
            for s in 0..<batch.size { (rowInput.data + s * h).update(from: x.data + ws.sequences.start(s) * h, count: h) }
        }

        // Q [R, H]; K, V [N, H] (at the first tokens alone, attention through W_k and W_v without K and V).
        Linear.forward(rowInput.data, weight: weight(.query), bias: bias(.query), into: a.query.data, rows: rows, inputs: h, outputs: h)
        if firstTokens {
            firstQueryAttentionForward(l, input: x, ws: ws)
        } else {
            Linear.forward(x.data, weight: weight(.key), bias: bias(.key), into: a.key.data, rows: n, inputs: h, outputs: h)
            Linear.forward(x.data, weight: weight(.value), bias: bias(.value), into: a.value.data, rows: n, inputs: h, outputs: h)
            attentionForward(a, ws: ws)
        }

        // Output projection, dropout, residual, LayerNorm.  [R, H]
        Linear.forward(a.context.data, weight: weight(.attentionOutput), bias: bias(.attentionOutput),
                       into: a.preNorm1.data, rows: rows, inputs: h, outputs: h)
        dropout(a.preNorm1, adding: rowInput, mask: a.attentionDropMask, p: c.hiddenDropoutProb, count: rows * h)
        LayerNorm.forward(a.preNorm1.data, gamma: tensors.normWeight(.attention)!.data,
                          beta: tensors.normBias(.attention)!.data, into: a.hidden1.data,
                          mean: a.mean1.data, rstd: a.rstd1.data, rows: rows, columns: h, eps: c.layerNormEps)

        // Feed-forward: GELU(h₁·W₁ᵀ + b₁)·W₂ᵀ + b₂, dropout, residual, LayerNorm.  [R, I] → [R, H]
        // The bias is added in GELU's pass rather than broadcast into [R, I] before the product.
        Linear.forward(a.hidden1.data, weight: weight(.intermediate), bias: nil,
                       into: a.intermediate.data, rows: rows, inputs: h, outputs: inner)
        let keepDerivative = preparesBackward
        parallelRows(rows) { start, count in
            if keepDerivative {
                GELU.forwardKeepingDerivative(biasing: a.intermediate.data + start * inner, bias: bias(.intermediate),
                                              into: a.activated.data + start * inner, rows: count, columns: inner)
            } else {
                GELU.forward(biasing: a.intermediate.data + start * inner, bias: bias(.intermediate),
                             into: a.activated.data + start * inner, rows: count, columns: inner)
            }
        }
        a.intermediateIsDerivative = keepDerivative
        Linear.forward(a.activated.data, weight: weight(.output), bias: bias(.output), into: a.preNorm2.data,
                       rows: rows, inputs: inner, outputs: h)
        dropout(a.preNorm2, adding: a.hidden1, mask: a.outputDropMask, p: c.hiddenDropoutProb, count: rows * h)
        LayerNorm.forward(a.preNorm2.data, gamma: tensors.normWeight(.output)!.data,
                          beta: tensors.normBias(.output)!.data, into: a.output.data,
                          mean: a.mean2.data, rstd: a.rstd2.data, rows: rows, columns: h, eps: c.layerNormEps)
    }

    /// softmax(Q·Kᵀ/√dₕ)·V per sequence and head over the sequence's own Lₛ keys, reading heads in place from the
    /// unpadded queries, keys and values [N, A·dₕ].
    ///
    /// One (sequence, head) pair is one work item — scores, softmax, dropout and the product with V while its q×Lₛ
    /// block is in cache — and the items are split across the elementwise workers. The two products are
    /// `AttentionKernels`' where the head width allows (never threaded); otherwise OpenBLAS's, and then the items are
    /// split only when OpenBLAS runs both on the calling thread (larger ones stay threaded by OpenBLAS, item after item).
    private func attentionForward(_ a: Workspace.Layer, ws: Workspace) {
        let c = config, heads = c.numAttentionHeads, dh = c.headDimension, h = c.hiddenSize
        let layout = ws.attention, longest = ws.length
        let scale = 1 / Float(dh).squareRoot()
        let dropping = training && c.attentionProbsDropoutProb > 0
        // One key per layer; item i draws elements layout.scores(i) ..< + its block of the stream, so the masks do not
        // depend on which thread draws which head. They are kept as bits (as floats they would be a third of MiniLM's
        // activations at 32 × 128), so backward applies them twice without drawing Philox again.
        a.attentionDropoutKey = dropping ? dropoutGenerator.next() : 0
        // Our kernels (whole 16-float head widths) never thread; OpenBLAS's products may.
        let ownKernels = AttentionKernels.supports(headDimension: dh)
        let concurrently = ownKernels
            || (BLAS.runsOnCallingThread(transA: false, transB: true, m: layout.longestQueries, n: longest, k: dh)
                && BLAS.runsOnCallingThread(transA: false, transB: false, m: layout.longestQueries, n: dh, k: longest))
        let scratch = dropping ? ws.attentionScratch(block: layout.longestQueries * longest) : nil
        let keysTransposedCount = AttentionKernels.scratchCount(keys: longest, headDimension: dh)
        let keysTransposed = ownKernels ? ws.attentionTransposeScratch(block: keysTransposedCount) : nil
        BLAS.forEachItem(ws.batchSize * heads, concurrently: concurrently) { i, worker in
            let item = layout.item(i, heads: heads, rows: ws.sequences)
            let query = item.queryRow * h + item.head * dh, key = item.keyRow * h + item.head * dh
            let scores = a.probabilities.data + item.scores
            // Scores [q, Lₛ] = Q·Kᵀ/√dₕ, softmax over the sequence's keys.
            if let keysTransposed {
                AttentionKernels.scores(query: a.query.data + query, ldq: h, key: a.key.data + key, ldk: h,
                                        queries: item.queries, keys: item.keys, headDimension: dh, scale: scale,
                                        into: scores, scratch: keysTransposed.data + worker * keysTransposedCount)
            } else {
                BLAS.gemm(transA: false, transB: true, m: item.queries, n: item.keys, k: dh, alpha: scale,
                          a: a.query.data + query, lda: h, b: a.key.data + key, ldb: h, c: scores, ldc: item.keys)
            }
            Softmax.forward(scores, into: scores, rows: item.queries, columns: item.keys)
            var mixing = UnsafePointer(scores)
            if let scratch {
                let dropped = scratch.data + worker * layout.longestQueries * longest
                let bits = UnsafeMutableRawPointer(a.probabilityDropBits.data) + item.bits
                Dropout.drawBits(bits, count: item.block, probability: c.attentionProbsDropoutProb,
                                 key: a.attentionDropoutKey, offset: item.scores)
                Dropout.apply(scores, into: dropped, bits: bits, count: item.block, probability: c.attentionProbsDropoutProb)
                mixing = UnsafePointer(dropped)
            }
            // Context [q, dₕ] = P·V
            if ownKernels {
                AttentionKernels.mix(probabilities: mixing, rowStride: item.keys, value: a.value.data + key, ldv: h,
                                     rows: item.queries, keys: item.keys, headDimension: dh,
                                     into: a.context.data + query, ldo: h)
            } else {
                BLAS.gemm(transA: false, transB: false, m: item.queries, n: dh, k: item.keys, a: mixing, lda: item.keys,
                          b: a.value.data + key, ldb: h, c: a.context.data + query, ldc: h)
            }
        }
    }

    /// x = Drop(x) + residual on the first `count` elements, in one pass where dropout is on (its mask kept as bytes
    /// in `mask`, as `dropout` keeps it), a plain add where it is off.
    private func dropout(_ x: Tensor, adding residual: Tensor, mask: Tensor, p: Float, count: Int) {
        guard training && p > 0 else {
            Elementwise.add(x.data, residual.data, into: x.data, count: count)
            return
        }
        let kept = UnsafeMutableRawPointer(mask.data).assumingMemoryBound(to: UInt8.self)
        Dropout.forward(x.data, adding: residual.data, into: x.data, kept: kept, count: count, probability: p,
                        generator: &dropoutGenerator)
    }

    /// Dropout on the first `count` elements of x (all of them by default), its mask kept as bytes in `mask`.
    private func dropout(_ x: Tensor, mask: Tensor, p: Float, count: Int? = nil) {
        guard training && p > 0 else { return }
        let kept = UnsafeMutableRawPointer(mask.data).assumingMemoryBound(to: UInt8.self)
        Dropout.forward(x.data, into: x.data, kept: kept, count: count ?? x.count, probability: p, generator: &dropoutGenerator)
    }

    // MARK: Backward

    /// Backpropagates `dlogits` [B, C] from the last forward. Adds parameter gradients into `gradients` for the
    /// tensors it holds (allocate it with the groups you need); encoder weight gradients go to `weightHook`
    /// instead when one is given. Input gradients are always computed through every layer that some requested
    /// parameter lies below.
    public func backward(dlogits: UnsafePointer<Float>, gradients g: BertParameters, weightHook: WeightGradientHook? = nil,
                         normHook: NormGradientHook? = nil) {
        guard let ws = workspace else { preconditionFailure("backward before forward") }
        let c = config, h = c.hiddenSize, b = ws.batchSize, n = ws.tokens, p = parameters
        let needsEncoder = !g.tensors.keys.allSatisfy { $0.hasPrefix("classifier.") || $0.hasPrefix("pooler.") }
            || weightHook != nil || normHook != nil

        // Head: dHeadInput = dlogits·Wc; dWc += dlogitsᵀ·headInput; dbc += Σ dlogits.
        Linear.backward(outputGradient: dlogits, input: ws.headInput.data, weight: p.classifier.weight!.data,
                        inputGradient: ws.gradHead.data, weightGradient: g.classifier.weight?.data,
                        biasGradient: g.classifier.bias?.data, rows: b, inputs: h, outputs: p.classes)
        let poolerWanted = g.pooler.weight != nil && headInput == .pooler
        guard poolerWanted || needsEncoder else { return }
        dropoutBackward(ws.gradHead, mask: ws.headDropMask, p: c.hiddenDropoutProb)
        var gradOutput = ws.gradA, gradInput = ws.gradB
        gradOutput.zero()
        switch headInput {
        case .pooler:
            Tanh.backward(output: ws.pooled.data, outputGradient: ws.gradHead.data, into: ws.gradHead.data, count: b * h)
            Linear.backward(outputGradient: ws.gradHead.data, input: fairseqHead ? ws.clsDropped.data : ws.cls.data,
                            weight: p.pooler.weight!.data, inputGradient: ws.gradCLS.data, weightGradient: g.pooler.weight?.data,
                            biasGradient: g.pooler.bias?.data, rows: b, inputs: h, outputs: h)
            guard needsEncoder else { return }
            if fairseqHead { dropoutBackward(ws.gradCLS, mask: ws.clsDropMask, p: c.hiddenDropoutProb) }
            // Only [CLS] rows of the last layer receive gradient.  [N, H] ([B, H] when it ran on those rows alone)
            for s in 0..<b { (gradOutput.data + ws.clsRow(s) * h).update(from: ws.gradCLS.data + s * h, count: h) }
        case .cls:
            ws.gradCLS.copy(from: ws.gradHead)
            for s in 0..<b { (gradOutput.data + ws.clsRow(s) * h).update(from: ws.gradCLS.data + s * h, count: h) }
        case .mean:
            // Every row of sequence s receives dHead_s / Lₛ.
            for s in 0..<b {
                let count = ws.sequences.count(s), scale = 1 / Float(Swift.max(count, 1))
                for j in 0..<count {
                    Elementwise.axpy(scale, ws.gradHead.data + s * h, into: gradOutput.data + (ws.sequences.start(s) + j) * h, count: h)
                }
            }
        }

        // With the embeddings frozen (RGP, low-rank, DP-SGD's encoder weights), nothing reads the first layer's input
        // gradient: its Q, K, V products into it are skipped (2% of an RGP step's FLOPs on MiniLM).
        let wantsEmbeddingNorm = g.embeddingNorm.weight != nil
        let wantsTables = g.embeddingTables.word != nil
        let wantsEmbeddingGradient = wantsEmbeddingNorm || wantsTables || normHook != nil
        for l in stride(from: c.numHiddenLayers - 1, through: 0, by: -1) {
            let input = l == 0 ? ws.embeddingOutput : ws.layers[l - 1].output
            let inputGradient = l > 0 || wantsEmbeddingGradient ? gradInput : nil
            layerBackward(l, input: input, gradOutput: gradOutput, gradInput: inputGradient, ws: ws, gradients: g,
                          hook: weightHook, normHook: normHook, firstTokens: ws.lastLayerFirstTokens && l == c.numHiddenLayers - 1)
            swap(&gradOutput, &gradInput)
        }

        // Embeddings: dropout, LayerNorm, then scatter into the tables.
        guard wantsEmbeddingGradient else { return }
        dropoutBackward(gradOutput, mask: ws.embeddingDropMask, p: c.hiddenDropoutProb)
        normHook?(.embeddings, gradOutput.data, ws.embeddingSum.data, ws.embeddingMean.data, ws.embeddingRstd.data, ws.sequences)
        LayerNorm.backward(outputGradient: gradOutput.data, input: ws.embeddingSum.data, gamma: p.embeddingNorm.weight!.data,
                           mean: ws.embeddingMean.data, rstd: ws.embeddingRstd.data, inputGradient: gradInput.data,
                           gammaGradient: g.embeddingNorm.weight?.data,
                           betaGradient: g.embeddingNorm.bias?.data, rows: n, columns: h)
        if wantsTables {
            let word = g.embeddingTables.word!.data, position = g.embeddingTables.position!.data
            let type = g.embeddingTables.tokenType!.data
            for i in 0..<n {
                let row = gradInput.data + i * h
                Elementwise.axpy(1, row, into: word + Int(ws.inputIds[i]) * h, count: h)
                Elementwise.axpy(1, row, into: position + Int(ws.positionIds[i]) * h, count: h)
                Elementwise.axpy(1, row, into: type + Int(ws.tokenTypeIds[i]) * h, count: h)
            }
        }
    }

    /// One encoder layer's backward (with `firstTokens` as its forward ran: `gradOutput` then holds [B, H] at the first
    /// tokens, and the weight hook sees B rows for the query, attention output and feed-forward, N for keys and
    /// values); `gradInput` nil when nothing needs the gradient of the layer's input.
    private func layerBackward(_ l: Int, input x: Tensor, gradOutput: Tensor, gradInput: Tensor?, ws: Workspace,
                               gradients g: BertParameters, hook: WeightGradientHook?, normHook: NormGradientHook?,
                               firstTokens: Bool) {
        let c = config, h = c.hiddenSize, inner = c.intermediateSize, b = ws.batchSize
        let a = ws.layers[l], tensors = parameters.layers[l], grads = g.layers[l]
        // The rows past K and V: every token's, or one a sequence.
        let owners = firstTokens ? ws.firstTokens : ws.sequences
        let rows = owners.rows, rowInput = firstTokens ? ws.firstTokenInput : x
        func linearBackward(_ s: LinearSite, input: Tensor, outputGradient: Tensor, inputGradient: Tensor?, accumulate: Bool,
                            rows: ExampleRows, inputs: Int, outputs: Int) {
            Linear.backward(outputGradient: outputGradient.data, input: input.data, weight: tensors.weight(s)!.data,
                            inputGradient: inputGradient?.data, accumulateInput: accumulate,
                            weightGradient: hook == nil ? grads.weight(s)?.data : nil,
                            biasGradient: grads.bias(s)?.data, rows: rows.rows, inputs: inputs, outputs: outputs)
            hook?(s, l, input.data, outputGradient.data, rows)
        }

        // out = LN₂(pre₂), pre₂ = h₁ + Drop(FFN).  dpre₂ is dh₁'s residual part, written straight into gradHidden1, and
        // through dropout (out of place, into gradPre) dFFN.  [R, H]
        let gradPre = ws.gradPre, gradHidden1 = ws.gradHidden1
        normHook?(.encoder(layer: l, site: .output), gradOutput.data, a.preNorm2.data, a.mean2.data, a.rstd2.data, owners)
        LayerNorm.backward(outputGradient: gradOutput.data, input: a.preNorm2.data, gamma: tensors.normWeight(.output)!.data,
                           mean: a.mean2.data, rstd: a.rstd2.data, inputGradient: gradHidden1.data,
                           gammaGradient: grads.normWeight(.output)?.data,
                           betaGradient: grads.normBias(.output)?.data, rows: rows, columns: h)
        let gradFeedForward = dropoutBackward(gradHidden1, into: gradPre, mask: a.outputDropMask, p: c.hiddenDropoutProb,
                                              count: rows * h)
        // FFN out: dActivated = dFFN·W₂.  [R, I]
        linearBackward(.output, input: a.activated, outputGradient: gradFeedForward, inputGradient: ws.gradIntermediate,
                       accumulate: false, rows: owners, inputs: inner, outputs: h)
        parallelRows(rows) { start, count in
            let gradient = ws.gradIntermediate.data + start * inner, kept = a.intermediate.data + start * inner
            if a.intermediateIsDerivative {
                GELU.backward(derivative: kept, outputGradient: gradient, into: gradient, count: count * inner)
            } else {
                GELU.backward(input: kept, outputGradient: gradient, into: gradient, count: count * inner)
            }
        }
        // FFN in: dh₁ += dInter·W₁.
        linearBackward(.intermediate, input: a.hidden1, outputGradient: ws.gradIntermediate, inputGradient: gradHidden1,
                       accumulate: true, rows: owners, inputs: h, outputs: inner)

        // h₁ = LN₁(pre₁), pre₁ = x + Drop(Attn·Woᵀ).  dpre₁ → dx (residual: written straight into gradInput, or with
        // `firstTokens` into gradPre and copied to each sequence's first row) and, through dropout, dAttnOut.
        normHook?(.encoder(layer: l, site: .attention), gradHidden1.data, a.preNorm1.data, a.mean1.data, a.rstd1.data, owners)
        let residual = firstTokens ? nil : gradInput
        let gradPreNorm1 = residual ?? gradPre
        LayerNorm.backward(outputGradient: gradHidden1.data, input: a.preNorm1.data,
                           gamma: tensors.normWeight(.attention)!.data, mean: a.mean1.data, rstd: a.rstd1.data,
                           inputGradient: gradPreNorm1.data, gammaGradient: grads.normWeight(.attention)?.data,
                           betaGradient: grads.normBias(.attention)?.data, rows: rows, columns: h)
        if let gradInput, firstTokens {
            gradInput.zero()
            for s in 0..<b { (gradInput.data + ws.sequences.start(s) * h).update(from: gradPre.data + s * h, count: h) }
        }
        let gradAttentionOutput = dropoutBackward(gradPreNorm1, into: gradPre, mask: a.attentionDropMask,
                                                  p: c.hiddenDropoutProb, count: rows * h)
        linearBackward(.attentionOutput, input: a.context, outputGradient: gradAttentionOutput, inputGradient: ws.gradContext,
                       accumulate: false, rows: owners, inputs: h, outputs: h)

        // Q, K, V: dx += dQ·Wq + dK·Wk + dV·Wv. With `firstTokens` the keys' and values' part of dx comes from the
        // attention backward itself (no H×H product per token), their weights still see δ_K, δ_V at every token, and
        // dQ·Wq [B, H] goes through gradPre (free again) to each sequence's first row.
        if firstTokens {
            firstQueryAttentionBackward(l, input: x, gradInput: gradInput, ws: ws)
            linearBackward(.query, input: rowInput, outputGradient: ws.gradQuery, inputGradient: gradInput == nil ? nil : gradPre,
                           accumulate: false, rows: owners, inputs: h, outputs: h)
            if let gradInput {
                for s in 0..<b { Elementwise.axpy(1, gradPre.data + s * h, into: gradInput.data + ws.sequences.start(s) * h, count: h) }
            }
        } else {
            attentionBackward(a, ws: ws)
            linearBackward(.query, input: x, outputGradient: ws.gradQuery, inputGradient: gradInput, accumulate: true,
                           rows: ws.sequences, inputs: h, outputs: h)
        }
        linearBackward(.key, input: x, outputGradient: ws.gradKey, inputGradient: firstTokens ? nil : gradInput, accumulate: true,
                       rows: ws.sequences, inputs: h, outputs: h)
        linearBackward(.value, input: x, outputGradient: ws.gradValue, inputGradient: firstTokens ? nil : gradInput,
                       accumulate: true, rows: ws.sequences, inputs: h, outputs: h)
    }

    /// The first-token last layer's attention without keys and values: the first token's score against key j is
    /// q₀·(W_k x_j + b_k) = (W_kᵀ q₀)·x_j + q₀·b_k per head, whose second term is one constant a row, which softmax
    /// ignores; its context is W_v (Σ_j p'_j x_j) + b_v Σ_j p'_j. So per sequence and head one H-vector each way
    /// (U = W_k,aᵀ q₀,a and X̄ = P'·X) in place of two H×H products per token: 4·A·H FLOPs a token instead of 4·H²
    /// (1/32 on MiniLM), the same again in backward. U [B, A·H] is kept for backward; the scores, softmax, dropout bits and
    /// their stream offsets are `firstQueryAttention`'s, as `attentionForward` would have drawn them.
    private func firstQueryAttentionForward(_ l: Int, input x: Tensor, ws: Workspace) {
        let c = config, heads = c.numAttentionHeads, dh = c.headDimension, h = c.hiddenSize, b = ws.batchSize
        let a = ws.layers[l], tensors = parameters.layers[l], layout = ws.firstQueryAttention, longest = ws.length
        let keyWeight = tensors.weight(.key)!.data, valueWeight = tensors.weight(.value)!.data
        let valueBias = tensors.bias(.value)!.data
        let projected = ws.projectedQueries.data, mixed = ws.firstQueryScratch.data, mass = ws.headSums.data
        let scale = 1 / Float(dh).squareRoot(), p = c.attentionProbsDropoutProb
        let dropping = training && p > 0
        a.attentionDropoutKey = dropping ? dropoutGenerator.next() : 0
        // U[:, a] = Q₀[:, a]·W_k[rows of head a]  [B, H] per head.
        for head in 0..<heads {
            BLAS.gemm(transA: false, transB: false, m: b, n: h, k: dh, a: a.query.data + head * dh, lda: h,
                      b: keyWeight + head * dh * h, ldb: h, c: projected + head * h, ldc: heads * h)
        }
        let concurrently = BLAS.runsOnCallingThread(transA: false, transB: true, m: heads, n: longest, k: h)
            && BLAS.runsOnCallingThread(transA: false, transB: false, m: heads, n: h, k: longest)
        let scratch = dropping ? ws.attentionScratch(block: heads * longest) : nil
        BLAS.forEachItem(b, concurrently: concurrently) { s, worker in
            let keys = ws.sequences.count(s), inputs = x.data + ws.sequences.start(s) * h
            // Sₛ = Uₛ·Xₛᵀ/√dₕ [A, Lₛ] (head a's row where item (s, a) of the layout keeps its scores), softmax per head.
            let scores = a.probabilities.data + layout.scoreStarts[s]
            BLAS.gemm(transA: false, transB: true, m: heads, n: keys, k: h, alpha: scale, a: projected + s * heads * h, lda: h,
                      b: inputs, ldb: h, c: scores, ldc: keys)
            Softmax.forward(scores, into: scores, rows: heads, columns: keys)
            var mixing = UnsafePointer(scores)
            if let scratch {
                let dropped = scratch.data + worker * heads * longest
                for head in 0..<heads {
                    let item = layout.item(s * heads + head, heads: heads, rows: ws.sequences)
                    let bits = UnsafeMutableRawPointer(a.probabilityDropBits.data) + item.bits
                    Dropout.drawBits(bits, count: keys, probability: p, key: a.attentionDropoutKey, offset: item.scores)
                    Dropout.apply(scores + head * keys, into: dropped + head * keys, bits: bits, count: keys, probability: p)
                }
                mixing = UnsafePointer(dropped)
            }
            for head in 0..<heads {
                var total: Float = 0
                for j in 0..<keys { total += mixing[head * keys + j] }
                mass[s * heads + head] = total
            }
            // X̄ₛ = P'ₛ·Xₛ  [A, H]
            BLAS.gemm(transA: false, transB: false, m: heads, n: h, k: keys, a: mixing, lda: keys, b: inputs, ldb: h,
                      c: mixed + s * heads * h, ldc: h)
        }
        // Context[:, a] = X̄[:, a]·W_v[rows of head a]ᵀ + b_v,a·Σ_j p'_j  [B, dₕ] per head.
        for head in 0..<heads {
            BLAS.gemm(transA: false, transB: true, m: b, n: dh, k: h, a: mixed + head * h, lda: heads * h,
                      b: valueWeight + head * dh * h, ldb: h, c: a.context.data + head * dh, ldc: h)
        }
        for s in 0..<b {
            for head in 0..<heads {
                let row = a.context.data + s * h + head * dh, total = mass[s * heads + head]
                for t in 0..<dh { row[t] += valueBias[head * dh + t] * total }
            }
        }
    }

    /// The backward of `firstQueryAttentionForward` from dC₀ = `ws.gradContext` [B, H]: dQ₀ into `ws.gradQuery`
    /// [B, H]; the keys' and values' output gradients δ_K,j = dS_j·q₀/√dₕ and δ_V,j = p'_j·dC₀ (per head) written to
    /// `ws.gradKey`, `ws.gradValue` [N, H] for their weights; and their part of the input gradient added into
    /// `gradInput` as dSᵀ·U/√dₕ + P'ᵀ·Y, Y = W_v,aᵀ dC₀,a per head — again no H×H product per token.
    private func firstQueryAttentionBackward(_ l: Int, input x: Tensor, gradInput: Tensor?, ws: Workspace) {
        let c = config, heads = c.numAttentionHeads, dh = c.headDimension, h = c.hiddenSize, b = ws.batchSize
        let a = ws.layers[l], tensors = parameters.layers[l], layout = ws.firstQueryAttention, longest = ws.length
        let keyWeight = tensors.weight(.key)!.data, valueWeight = tensors.weight(.value)!.data
        let keyBias = tensors.bias(.key)!.data, valueBias = tensors.bias(.value)!.data
        let projected = ws.projectedQueries.data, carried = ws.firstQueryScratch.data, weighted = ws.firstQueryScratch2.data
        let biasTerms = ws.headSums.data, scoreTotals = ws.headSums2.data
        let gradContext = ws.gradContext.data, query = a.query.data
        let scale = 1 / Float(dh).squareRoot(), p = c.attentionProbsDropoutProb
        let dropping = training && p > 0
        let bits = UnsafeRawPointer(a.probabilityDropBits.data)
        // Y[:, a] = dC₀[:, a]·W_v[rows of head a]  [B, H] per head, and dC₀,a·b_v,a: V's bias in every dP'_j.
        for head in 0..<heads {
            BLAS.gemm(transA: false, transB: false, m: b, n: h, k: dh, a: gradContext + head * dh, lda: h,
                      b: valueWeight + head * dh * h, ldb: h, c: carried + head * h, ldc: heads * h)
        }
        for s in 0..<b {
            for head in 0..<heads {
                var total: Float = 0
                for t in 0..<dh { total += gradContext[s * h + head * dh + t] * valueBias[head * dh + t] }
                biasTerms[s * heads + head] = total
            }
        }
        let concurrently = BLAS.runsOnCallingThread(transA: false, transB: true, m: heads, n: longest, k: h)
            && BLAS.runsOnCallingThread(transA: false, transB: false, m: heads, n: h, k: longest)
            && BLAS.runsOnCallingThread(transA: true, transB: false, m: longest, n: h, k: heads)
        let scratch = dropping ? ws.attentionScratch(block: heads * longest) : nil
        nonisolated(unsafe) let gradKey = ws.gradKey.data, gradValue = ws.gradValue.data
        BLAS.forEachItem(b, concurrently: concurrently) { s, worker in
            let keys = ws.sequences.count(s), start = ws.sequences.start(s), inputs = x.data + start * h
            let probabilities = a.probabilities.data + layout.scoreStarts[s]
            let gradScores = ws.gradProbabilities.data + layout.scoreStarts[s]
            var mixing = UnsafePointer(probabilities)
            if let scratch {
                let dropped = scratch.data + worker * heads * longest
                for head in 0..<heads {
                    let item = layout.item(s * heads + head, heads: heads, rows: ws.sequences)
                    Dropout.apply(probabilities + head * keys, into: dropped + head * keys, bits: bits + item.bits, count: keys,
                                  probability: p)
                }
                mixing = UnsafePointer(dropped)
            }
            // dP' = Yₛ·Xₛᵀ + dC₀·b_v  [A, Lₛ]; δ_V,j = p'_j·dC₀ per head  [Lₛ, H]
            BLAS.gemm(transA: false, transB: true, m: heads, n: keys, k: h, a: carried + s * heads * h, lda: h, b: inputs, ldb: h,
                      c: gradScores, ldc: keys)
            for head in 0..<heads {
                let bias = biasTerms[s * heads + head]
                for j in 0..<keys { gradScores[head * keys + j] += bias }
            }
            for j in 0..<keys {
                for head in 0..<heads {
                    let w = mixing[head * keys + j], source = gradContext + s * h + head * dh
                    let row = gradValue + (start + j) * h + head * dh
                    for t in 0..<dh { row[t] = w * source[t] }
                }
            }
            // Through dropout and softmax to dS [A, Lₛ].
            if dropping {
                for head in 0..<heads {
                    let item = layout.item(s * heads + head, heads: heads, rows: ws.sequences)
                    Dropout.apply(gradScores + head * keys, into: gradScores + head * keys, bits: bits + item.bits, count: keys,
                                  probability: p)
                }
            }
            Softmax.backward(output: probabilities, outputGradient: gradScores, into: gradScores, rows: heads, columns: keys)
            // Zₛ = dSₛ·Xₛ [A, H] for dQ₀, and Σ_j dS_j (K's bias term of dQ₀); δ_K,j = dS_j·q₀/√dₕ per head.
            BLAS.gemm(transA: false, transB: false, m: heads, n: h, k: keys, a: gradScores, lda: keys, b: inputs, ldb: h,
                      c: weighted + s * heads * h, ldc: h)
            for head in 0..<heads {
                var total: Float = 0
                for j in 0..<keys { total += gradScores[head * keys + j] }
                scoreTotals[s * heads + head] = total
            }
            for j in 0..<keys {
                for head in 0..<heads {
                    let w = scale * gradScores[head * keys + j], source = query + s * h + head * dh
                    let row = gradKey + (start + j) * h + head * dh
                    for t in 0..<dh { row[t] = w * source[t] }
                }
            }
            // dXₛ += dSₛᵀ·Uₛ/√dₕ + P'ₛᵀ·Yₛ  [Lₛ, H]
            if let gradInput {
                let rows = gradInput.data + start * h
                BLAS.gemm(transA: true, transB: false, m: keys, n: h, k: heads, alpha: scale, a: gradScores, lda: keys,
                          b: projected + s * heads * h, ldb: h, beta: 1, c: rows, ldc: h)
                BLAS.gemm(transA: true, transB: false, m: keys, n: h, k: heads, a: mixing, lda: keys,
                          b: carried + s * heads * h, ldb: h, beta: 1, c: rows, ldc: h)
            }
        }
        // dQ₀[:, a] = (Z[:, a]·W_k[rows of head a]ᵀ + b_k,a·Σ_j dS_j)/√dₕ  [B, dₕ] per head.
        for head in 0..<heads {
            BLAS.gemm(transA: false, transB: true, m: b, n: dh, k: h, alpha: scale, a: weighted + head * h, lda: heads * h,
                      b: keyWeight + head * dh * h, ldb: h, c: ws.gradQuery.data + head * dh, ldc: h)
        }
        for s in 0..<b {
            for head in 0..<heads {
                let row = ws.gradQuery.data + s * h + head * dh, total = scale * scoreTotals[s * heads + head]
                for t in 0..<dh { row[t] += keyBias[head * dh + t] * total }
            }
        }
    }

    /// The backward of `attentionForward`, one (sequence, head) pair per work item as there: first dP, dropout,
    /// softmax and dQ, then dV and dK (products with a transposed P or dS). `AttentionKernels`' products where the head
    /// width allows, the items split across the workers; otherwise OpenBLAS's, each pass concurrent only where its
    /// products run on the calling thread (OpenBLAS threads the transposed ones at sizes where it does not thread the others).
    private func attentionBackward(_ a: Workspace.Layer, ws: Workspace) {
        let c = config, heads = c.numAttentionHeads, dh = c.headDimension, h = c.hiddenSize
        let layout = ws.attention, longest = ws.length, items = ws.batchSize * heads
        let scale = 1 / Float(dh).squareRoot()
        let dropping = training && c.attentionProbsDropoutProb > 0, p = c.attentionProbsDropoutProb
        let bits = UnsafeRawPointer(a.probabilityDropBits.data)
        let ownKernels = AttentionKernels.supports(headDimension: dh)
        let first = ownKernels
            || (BLAS.runsOnCallingThread(transA: false, transB: true, m: layout.longestQueries, n: longest, k: dh)
                && BLAS.runsOnCallingThread(transA: false, transB: false, m: layout.longestQueries, n: dh, k: longest))
        let valuesTransposedCount = AttentionKernels.scratchCount(keys: longest, headDimension: dh)
        let valuesTransposed = ownKernels ? ws.attentionTransposeScratch(block: valuesTransposedCount) : nil
        BLAS.forEachItem(items, concurrently: first) { i, worker in
            let item = layout.item(i, heads: heads, rows: ws.sequences)
            let query = item.queryRow * h + item.head * dh, key = item.keyRow * h + item.head * dh
            let probabilities = a.probabilities.data + item.scores, gradScores = ws.gradProbabilities.data + item.scores
            // dP = dC·Vᵀ [q, Lₛ], through dropout (the forward's mask bits) and softmax to dS
            if let valuesTransposed {
                AttentionKernels.scores(query: ws.gradContext.data + query, ldq: h, key: a.value.data + key, ldk: h,
                                        queries: item.queries, keys: item.keys, headDimension: dh, scale: 1,
                                        into: gradScores, scratch: valuesTransposed.data + worker * valuesTransposedCount)
            } else {
                BLAS.gemm(transA: false, transB: true, m: item.queries, n: item.keys, k: dh, a: ws.gradContext.data + query,
                          lda: h, b: a.value.data + key, ldb: h, c: gradScores, ldc: item.keys)
            }
            if dropping { Dropout.apply(gradScores, into: gradScores, bits: bits + item.bits, count: item.block, probability: p) }
            Softmax.backward(output: probabilities, outputGradient: gradScores, into: gradScores, rows: item.queries, columns: item.keys)
            // dQ = dS·K/√dₕ [q, dₕ]
            if ownKernels {
                AttentionKernels.mix(probabilities: gradScores, rowStride: item.keys, value: a.key.data + key, ldv: h,
                                     rows: item.queries, keys: item.keys, headDimension: dh, scale: scale,
                                     into: ws.gradQuery.data + query, ldo: h)
            } else {
                BLAS.gemm(transA: false, transB: false, m: item.queries, n: dh, k: item.keys, alpha: scale, a: gradScores,
                          lda: item.keys, b: a.key.data + key, ldb: h, c: ws.gradQuery.data + query, ldc: h)
            }
        }
        let second = ownKernels || BLAS.runsOnCallingThread(transA: true, transB: false, m: longest, n: dh, k: layout.longestQueries)
        let scratch = dropping ? ws.attentionScratch(block: layout.longestQueries * longest) : nil
        BLAS.forEachItem(items, concurrently: second) { i, worker in
            let item = layout.item(i, heads: heads, rows: ws.sequences)
            let query = item.queryRow * h + item.head * dh, key = item.keyRow * h + item.head * dh
            var mixing = UnsafePointer(a.probabilities.data + item.scores)
            if let scratch {
                let dropped = scratch.data + worker * layout.longestQueries * longest
                Dropout.apply(mixing, into: dropped, bits: bits + item.bits, count: item.block, probability: p)
                mixing = UnsafePointer(dropped)
            }
            // dV = Pᵀ·dC ; dK = dSᵀ·Q/√dₕ  [Lₛ, dₕ]
            let gradScores = UnsafePointer(ws.gradProbabilities.data + item.scores)
            if ownKernels {
                AttentionKernels.mix(probabilities: mixing, rowStride: 1, columnStride: item.keys, value: ws.gradContext.data + query,
                                     ldv: h, rows: item.keys, keys: item.queries, headDimension: dh,
                                     into: ws.gradValue.data + key, ldo: h)
                AttentionKernels.mix(probabilities: gradScores, rowStride: 1, columnStride: item.keys, value: a.query.data + query,
                                     ldv: h, rows: item.keys, keys: item.queries, headDimension: dh, scale: scale,
                                     into: ws.gradKey.data + key, ldo: h)
            } else {
                BLAS.gemm(transA: true, transB: false, m: item.keys, n: dh, k: item.queries, a: mixing, lda: item.keys,
                          b: ws.gradContext.data + query, ldb: h, c: ws.gradValue.data + key, ldc: h)
                BLAS.gemm(transA: true, transB: false, m: item.keys, n: dh, k: item.queries, alpha: scale,
                          a: gradScores, lda: item.keys, b: a.query.data + query, ldb: h, c: ws.gradKey.data + key, ldc: h)
            }
        }
    }

    /// The gradient through dropout, written into `destination` (when dropout is on) and returned; `gradient` itself
    /// when dropout is off, so that a caller never copies to keep the gradient before dropout.
    private func dropoutBackward(_ gradient: Tensor, into destination: Tensor, mask: Tensor, p: Float, count: Int) -> Tensor {
        guard training && p > 0 else { return gradient }
        let kept = UnsafeRawPointer(mask.data).assumingMemoryBound(to: UInt8.self)
        Dropout.backward(outputGradient: gradient.data, kept: kept, into: destination.data, count: count, probability: p)
        return destination
    }

    private func dropoutBackward(_ gradient: Tensor, mask: Tensor, p: Float, count: Int? = nil) {
        guard training && p > 0 else { return }
        let kept = UnsafeRawPointer(mask.data).assumingMemoryBound(to: UInt8.self)
        Dropout.backward(outputGradient: gradient.data, kept: kept, into: gradient.data, count: count ?? gradient.count,
                         probability: p)
    }

    // MARK: Workspace

    /// Allocates (and touches) the activation buffers of the largest micro-batch a run will give: `tokens` tokens
    /// in sequences of at most `longestSequence` — the most attention scores such a micro-batch can hold. A buffer
    /// that grows mid-run costs a fresh allocation the kernel must zero page by page (a fifth of a step's time when
    /// it happened in timed steps).
    public func reserveWorkspace(tokens: Int, longestSequence: Int) {
        let longest = Swift.max(1, Swift.min(longestSequence, tokens, config.maxSequenceLength))
        let sequence = [Int32](repeating: 0, count: longest)
        let count = Swift.max(1, tokens / longest)
        let previous = workspace
        _ = prepareWorkspace(Batch(sequences: [[Int32]](repeating: sequence, count: count),
                                   tokenTypes: [[Int32]](repeating: sequence, count: count), padId: 0))
        workspace = previous
    }

    private func prepareWorkspace(_ batch: Batch) -> Workspace {
        // Views into pooled buffers that only grow: micro-batches of varying shape reuse the same memory.
        let ws = Workspace(config: config, classes: parameters.classes, batch: batch, pool: pool)
        workspace = ws
        return ws
    }

    private func parallelRows(_ rows: Int, _ body: (Int, Int) -> Void) { Parallel.rows(rows, body) }

    /// Where each (sequence, head) work item of one attention pass reads and writes: its query and key rows, its
    /// q×Lₛ block of scores and its dropout bits. Item i is sequence i / A, head i % A.
    struct AttentionLayout {
        /// Per sequence: queries (Lₛ, or 1 at the first tokens alone), where its heads' score blocks start, and where
        /// their dropout bits start (bytes).
        let queries: [Int], scoreStarts: [Int], bitStarts: [Int]
        let scores: Int, bitBytes: Int, longestQueries: Int
        let firstTokens: Bool

        init(sequences: ExampleRows, heads: Int, firstTokens: Bool) {
            self.firstTokens = firstTokens
            var queries: [Int] = [], scoreStarts: [Int] = [], bitStarts: [Int] = []
            var scores = 0, bits = 0
            for s in 0..<sequences.examples {
                let keys = sequences.count(s), q = firstTokens ? 1 : keys
                queries.append(q)
                scoreStarts.append(scores)
                bitStarts.append(bits)
                scores += heads * q * keys
                bits += heads * Self.bitStride(block: q * keys)
            }
            (self.queries, self.scoreStarts, self.bitStarts) = (queries, scoreStarts, bitStarts)
            (self.scores, bitBytes, longestQueries) = (scores, bits, queries.max() ?? 0)
        }

        /// Bytes of dropout bits for one q×Lₛ block, rounded up to a cache line.
        static func bitStride(block: Int) -> Int { (Dropout.bitBytes(block) + 63) / 64 * 64 }

        struct Item { let head, queryRow, keyRow, queries, keys, block, scores, bits: Int }

        func item(_ i: Int, heads: Int, rows: ExampleRows) -> Item {
            let s = i / heads, head = i % heads, q = queries[s], keys = rows.count(s), block = q * keys
            return Item(head: head, queryRow: firstTokens ? s : rows.start(s), keyRow: rows.start(s), queries: q, keys: keys,
                        block: block, scores: scoreStarts[s] + head * block, bits: bitStarts[s] + head * Self.bitStride(block: block))
        }
    }

    /// Every activation of one forward pass and the scratch space of backward, for one micro-batch: B sequences of
    /// N tokens in all, unpadded.
    public final class Workspace: @unchecked Sendable {
        public final class Layer {
            let query, key, value, context, preNorm1, hidden1, preNorm2, output: Tensor
            /// Feed-forward pre-activation h₁·W₁ᵀ + b₁ (or GELU's derivative there, `intermediateIsDerivative`) and
            /// GELU of it.  [R, I]
            let intermediate, activated: Tensor
            let probabilities: Tensor
            /// Whether `intermediate` holds GELU's derivative (`preparesBackward`) rather than the pre-activation.
            var intermediateIsDerivative = false
            /// The key of this layer's attention-dropout stream in the last training forward.
            var attentionDropoutKey: UInt64 = 0
            /// The hidden dropouts' masks as bytes (`Dropout.forward(_:into:kept:…)`).
            let attentionDropMask, outputDropMask: Tensor
            let mean1, rstd1, mean2, rstd2: Tensor

            /// Attention-dropout bits of the last training forward (`AttentionLayout` says whose are where).
            let probabilityDropBits: Tensor

            init(_ l: Int, n: Int, h: Int, inner: Int, scores: Int, dropBitBytes: Int, pool: BufferPool) {
                func buffer(_ name: String, _ shape: [Int]) -> Tensor { pool.view("layer\(l).\(name)", shape) }
                (query, key, value, context) = (buffer("q", [n, h]), buffer("k", [n, h]), buffer("v", [n, h]), buffer("ctx", [n, h]))
                (preNorm1, hidden1, preNorm2, output) = (buffer("pre1", [n, h]), buffer("h1", [n, h]), buffer("pre2", [n, h]), buffer("out", [n, h]))
                (intermediate, activated) = (buffer("inter", [n, inner]), buffer("act", [n, inner]))
                probabilities = buffer("probs", [scores])
                probabilityDropBits = buffer("pbits", [(dropBitBytes + 3) / 4])
                (attentionDropMask, outputDropMask) = (buffer("amask", [byteFloats(n * h)]), buffer("omask", [byteFloats(n * h)]))
                (mean1, rstd1, mean2, rstd2) = (buffer("m1", [n]), buffer("r1", [n]), buffer("m2", [n]), buffer("r2", [n]))
            }

            /// Layer output [N, H] (last layer: the final hidden states).
            public var hiddenStates: Tensor { output }
        }

        /// Sequences B.
        public let batchSize: Int
        /// The longest sequence's tokens.
        public let length: Int
        /// Rows of each sequence in every [N, ·] activation.
        public let sequences: ExampleRows
        /// One row a sequence: the rows of the first-token last layer's [B, ·] activations.
        public let firstTokens: ExampleRows
        /// Tokens N = Σₛ Lₛ.
        public var tokens: Int { sequences.rows }
        /// Per token (unpadded): word, segment and position-table row (BERT's j; RoBERTa's j + padding_idx + 1).
        let inputIds: [Int32], tokenTypeIds: [Int32], positionIds: [Int32]
        /// Attention over every query, and over the first token's alone.
        let attention, firstQueryAttention: AttentionLayout
        let embeddingSum, embeddingOutput, embeddingDropMask, embeddingMean, embeddingRstd: Tensor
        public let layers: [Layer]
        /// [CLS] rows of the last layer, pooler output, head input (after dropout), logits.
        public let cls, pooled, headInput, headDropMask, logits: Tensor
        /// [CLS] after the fairseq head's first dropout, and its mask (RoBERTa's `pooler` head only).
        let clsDropped, clsDropMask: Tensor
        let gradHead, gradCLS, gradA, gradB, gradPre, gradHidden1, gradIntermediate, gradContext: Tensor
        let gradQuery, gradKey, gradValue, gradProbabilities: Tensor
        /// Whether the last forward ran the last layer at the first tokens alone (`firstTokenLastLayer`), and the last
        /// layer's input at those tokens [B, H].
        var lastLayerFirstTokens = false
        let firstTokenInput: Tensor
        /// The first-token last layer's attention (`firstQueryAttentionForward`): U = W_k,aᵀ q₀,a per sequence and head
        /// [B, A·H] (forward to backward), two [B, A·H] scratch matrices, and two [B·A] per-head totals.
        let projectedQueries, firstQueryScratch, firstQueryScratch2, headSums, headSums2: Tensor
        private let pool: BufferPool

        /// One longest q×T block of attention probabilities after dropout per elementwise worker.
        func attentionScratch(block: Int) -> Tensor { pool.view("attention.dropped", [Swift.max(1, Parallel.workers) * block]) }

        /// One head's transposed keys (forward) or values (backward), `AttentionKernels.scratchCount` floats, per
        /// elementwise worker.
        func attentionTransposeScratch(block: Int) -> Tensor {
            pool.view("attention.transposed", [Swift.max(1, Parallel.workers) * block])
        }

        /// The tokens of each sequence are the leading positions its attention mask keeps (as `Batch` builds it).
        init(config c: BertConfig, classes: Int, batch: Batch, pool: BufferPool) {
            let b = batch.size, t = batch.length
            var lengths = [Int](repeating: 0, count: b)
            for s in 0..<b {
                var count = 0
                while count < t && batch.attentionMask[s * t + count] != 0 { count += 1 }
                precondition(count >= 1, "sequence \(s) of the batch has no tokens")
                precondition((count..<t).allSatisfy { batch.attentionMask[s * t + $0] == 0 },
                             "sequence \(s): the attention mask keeps a position after padding (tokens must come first)")
                lengths[s] = count
            }
            batchSize = b
            length = lengths.max() ?? 0
            sequences = ExampleRows(lengths: lengths)
            firstTokens = ExampleRows(examples: b, length: 1)
            var ids: [Int32] = [], types: [Int32] = [], positions: [Int32] = []
            for s in 0..<b {
                ids.append(contentsOf: batch.inputIds[(s * t)..<(s * t + lengths[s])])
                types.append(contentsOf: batch.tokenTypeIds[(s * t)..<(s * t + lengths[s])])
                positions.append(contentsOf: (0..<lengths[s]).map { Int32($0 + c.positionOffset) })
            }
            (inputIds, tokenTypeIds, positionIds) = (ids, types, positions)
            attention = AttentionLayout(sequences: sequences, heads: c.numAttentionHeads, firstTokens: false)
            firstQueryAttention = AttentionLayout(sequences: sequences, heads: c.numAttentionHeads, firstTokens: true)
            self.pool = pool
            let n = sequences.rows, h = c.hiddenSize
            func buffer(_ name: String, _ shape: [Int]) -> Tensor { pool.view(name, shape) }
            (embeddingSum, embeddingOutput, embeddingDropMask) = (buffer("esum", [n, h]), buffer("eout", [n, h]),
                                                                buffer("emask", [byteFloats(n * h)]))
            (embeddingMean, embeddingRstd) = (buffer("emean", [n]), buffer("erstd", [n]))
            layers = (0..<c.numHiddenLayers).map { [attention] l in
                Layer(l, n: n, h: h, inner: c.intermediateSize, scores: attention.scores, dropBitBytes: attention.bitBytes, pool: pool)
            }
            (cls, pooled, headInput, headDropMask) = (buffer("cls", [b, h]), buffer("pooled", [b, h]), buffer("head", [b, h]),
                                                     buffer("hmask", [byteFloats(b * h)]))
            logits = buffer("logits", [b, classes])
            (clsDropped, clsDropMask) = (buffer("clsd", [b, h]), buffer("clsmask", [byteFloats(b * h)]))
            (gradHead, gradCLS) = (buffer("ghead", [b, h]), buffer("gcls", [b, h]))
            (gradA, gradB, gradPre, gradHidden1) = (buffer("ga", [n, h]), buffer("gb", [n, h]), buffer("gpre", [n, h]), buffer("gh1", [n, h]))
            gradIntermediate = buffer("ginter", [n, c.intermediateSize])
            (gradContext, gradQuery, gradKey, gradValue) = (buffer("gctx", [n, h]), buffer("gq", [n, h]), buffer("gk", [n, h]), buffer("gv", [n, h]))
            gradProbabilities = buffer("gprobs", [attention.scores])
            firstTokenInput = buffer("firstx", [b, h])
            let perHead = b * c.numAttentionHeads
            (projectedQueries, firstQueryScratch, firstQueryScratch2) = (buffer("fq.u", [perHead, h]), buffer("fq.a", [perHead, h]),
                                                                         buffer("fq.b", [perHead, h]))
            (headSums, headSums2) = (buffer("fq.sa", [perHead]), buffer("fq.sb", [perHead]))
        }

        /// Row of sequence s's first token in the last layer's output: its first row, or row s when the last layer ran
        /// at the first tokens alone.
        func clsRow(_ s: Int) -> Int { lastLayerFirstTokens ? s : sequences.start(s) }

        /// After backward: the gradient of the pooler's pre-activation [B, H].
        public var poolerGradient: Tensor { gradHead }

        /// Final hidden states [N, H] (sequence s at `sequences.start(s)`), or [B, H] after a first-token last layer.
        public var lastHiddenStates: Tensor { layers.last?.output ?? embeddingOutput }

        /// Mean of the final hidden states over each sequence's tokens, [B, H] (`firstTokenLastLayer` off).
        public func maskedMean() -> [[Float]] {
            precondition(!lastLayerFirstTokens, "the mean over tokens after a forward that ran the last layer at the first tokens alone")
            let h = lastHiddenStates.columns
            return (0..<batchSize).map { s in
                var sum = [Float](repeating: 0, count: h)
                for i in 0..<sequences.count(s) {
                    let row = lastHiddenStates.data + (sequences.start(s) + i) * h
                    for j in 0..<h { sum[j] += row[j] }
                }
                return sum.map { $0 / Float(Swift.max(sequences.count(s), 1)) }
            }
        }
    }
}

/// Floats holding one byte per element of `count` (the hidden dropouts' kept masks).
func byteFloats(_ count: Int) -> Int { (count + 3) / 4 }

/// Named buffers that grow to the largest size asked for and hand out exactly-shaped views, so that batches of
/// varying shape reuse memory instead of allocating per call.
final class BufferPool: @unchecked Sendable {
    private var storage: [String: Tensor] = [:]

    func view(_ name: String, _ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        if let existing = storage[name], existing.count >= count { return existing.view(shape: shape) }
        let grown = Tensor(zeros: [Swift.max(count, (storage[name]?.count ?? 0) * 2)])
        storage[name] = grown
        return grown.view(shape: shape)
    }
}
