import Foundation
import Numerics
import Privacy
import Testing
import Tokenizers
import Training
import Transformer
@testable import RGP

let tinyDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("TransformerTests/Fixtures/tiny").path

func tinyModel() throws -> BertModel {
    BertModel(parameters: try Checkpoint.load(directory: tinyDirectory, classes: 3).parameters)
}

/// Three examples of different lengths (padded in the batch), ids within the tiny vocabulary.
let sequences: [[Int32]] = [[2, 17, 43, 8, 91, 3], [2, 55, 3], [2, 12, 13, 14, 15, 16, 17, 3]]
let labels: [Int32] = [0, 2, 1]

func batch(_ rows: [Int]) -> Batch {
    Batch(sequences: rows.map { sequences[$0] }, tokenTypes: rows.map { sequences[$0].map { _ in 0 } }, padId: 0)
}

/// dlogits of the summed per-example losses.
func summedLossGradient(_ model: BertModel, _ rows: [Int]) -> [Float] {
    let logits = model.forward(batch(rows))
    let y = rows.map { labels[$0] }
    var p = [Float](repeating: 0, count: logits.count), d = p
    CrossEntropy.forward(logits: logits.data, labels: y, rows: rows.count, classes: 3, probabilities: &p)
    CrossEntropy.backward(probabilities: p, labels: y, rows: rows.count, classes: 3, scale: 1, into: &d)
    return d
}

/// Per-example carrier gradients of every group for the examples `rows`, computed in one batch (unpadded inside).
func perExampleCarriers(_ model: BertModel, _ groups: [CarrierGroup], _ rows: [Int]) -> [[Float]] {
    let dlogits = summedLossGradient(model, rows)
    let ws = model.workspace!
    let b = ws.batchSize
    for g in groups { g.beginMicroBatch(examples: b, tokens: ws.tokens) }
    model.backward(dlogits: dlogits, gradients: BertParameters(config: model.config, classes: 3, groups: [])) { site, layer, x, delta, rows in
        for g in groups where g.layer == layer { g.accumulate(site: site, input: x, outputGradient: delta, rows: rows) }
    }
    return groups.map { Array(UnsafeBufferPointer(start: $0.perExample.data, count: b * $0.perExampleSize)) }
}

func maxAbs(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

@Suite("RGP carriers")
struct CarrierTests {
    func groups(_ model: BertModel, fused: Bool, rank: Int) -> [CarrierGroup] {
        var generator = Xoshiro256(seed: 1)
        let groups = CarrierSet(config: model.config, rank: rank, fusedQKV: fused).groups
        for g in groups {
            g.computeCarriers(parameters: model.parameters, initial: nil, source: .weight, iterations: 2, generator: &generator)
        }
        return groups
    }

    @Test("carriers are orthonormal (rank 1 and rank 3)", arguments: [1, 3])
    func orthonormal(rank: Int) throws {
        let model = try tinyModel()
        for g in groups(model, fused: false, rank: rank) {
            for (matrix, rows, columns) in [(g.left, g.rows, rank), (g.right, rank, g.columns)] {
                // Columns of L (P×r) and rows of R (r×d) are orthonormal.
                for i in 0..<rank {
                    for j in 0..<rank {
                        var dot: Float = 0
                        if matrix === g.left {
                            for k in 0..<rows { dot += matrix.data[k * columns + i] * matrix.data[k * columns + j] }
                        } else {
                            for k in 0..<columns { dot += matrix.data[i * columns + k] * matrix.data[j * columns + k] }
                        }
                        #expect(abs(dot - (i == j ? 1 : 0)) < 1e-4)
                    }
                }
            }
        }
    }

    /// The batch runs its last layer at the first tokens alone (`firstTokenLastLayer`) or at every token; the
    /// batch-size-1 reference always at every token.
    @Test("per-example carrier gradients equal a batch-size-1 loop (separate and fused Q/K/V, rank 2; last layer at every token or at the first tokens)",
          arguments: [false, true], [false, true])
    func perExampleMatchesLoop(fused: Bool, firstTokenLastLayer: Bool) throws {
        let model = try tinyModel()
        let carriers = groups(model, fused: fused, rank: 2)
        model.firstTokenLastLayer = firstTokenLastLayer
        let batched = perExampleCarriers(model, carriers, [0, 1, 2])
        model.firstTokenLastLayer = false
        for i in 0..<3 {
            let single = perExampleCarriers(model, carriers, [i])
            for (g, (all, one)) in zip(carriers, zip(batched, single)) {
                let size = g.perExampleSize
                let scale = max(one.map(abs).max() ?? 0, 1e-6)
                #expect(maxAbs(Array(all[(i * size)..<((i + 1) * size)]), one) / scale < 1e-4,
                        "layer \(g.layer) \(g.members) example \(i)")
            }
        }
    }

    @Test("with σ = 0 and no clip, the projection reconstruction is LLᵀG + GRᵀR − LLᵀGRᵀR of the true gradient")
    func projection() throws {
        let model = try tinyModel()
        let carriers = groups(model, fused: false, rank: 2)
        let perExample = perExampleCarriers(model, carriers, [0, 1, 2])
        // The true weight gradients of the summed loss, by the encoder's full backward.
        let dlogits = summedLossGradient(model, [0, 1, 2])
        let full = BertParameters(config: model.config, classes: 3, groups: .encoderWeights)
        model.backward(dlogits: dlogits, gradients: full)
        for (g, values) in zip(carriers, perExample) {
            g.sum.zero()
            for i in 0..<3 { for k in 0..<g.perExampleSize { g.sum.data[k] += values[i * g.perExampleSize + k] } }
            let name = g.members[0].name(layer: g.layer) + ".weight"
            let gradient = full[name]
            let update = Tensor(zeros: gradient.shape)
            g.reconstruct(.projection, into: [update])
            // Expected: P_L·G + G·P_R − P_L·G·P_R with P_L = L·Lᵀ, P_R = Rᵀ·R, in double precision.
            let (p, d, r) = (g.rows, g.columns, g.rank)
            func at(_ t: Tensor, _ i: Int, _ j: Int, _ cols: Int) -> Double { Double(t.data[i * cols + j]) }
            var lg = [Double](repeating: 0, count: r * d)  // Lᵀ·G
            for k in 0..<r { for j in 0..<d { for i in 0..<p { lg[k * d + j] += at(g.left, i, k, r) * at(gradient, i, j, d) } } }
            var gr = [Double](repeating: 0, count: p * r)  // G·Rᵀ
            for i in 0..<p { for k in 0..<r { for j in 0..<d { gr[i * r + k] += at(gradient, i, j, d) * at(g.right, k, j, d) } } }
            var lgr = [Double](repeating: 0, count: r * r)  // Lᵀ·G·Rᵀ
            for a in 0..<r { for b in 0..<r { for j in 0..<d { lgr[a * r + b] += lg[a * d + j] * at(g.right, b, j, d) } } }
            var worst = 0.0, scale = 1e-9
            for i in 0..<p {
                for j in 0..<d {
                    var e = 0.0
                    for k in 0..<r {
                        e += at(g.left, i, k, r) * lg[k * d + j] + gr[i * r + k] * at(g.right, k, j, d)
                        for b in 0..<r { e -= at(g.left, i, k, r) * lgr[k * r + b] * at(g.right, b, j, d) }
                    }
                    worst = max(worst, abs(e - Double(update.data[i * d + j])))
                    scale = max(scale, abs(e))
                }
            }
            #expect(worst / scale < 1e-4, "\(name)")
        }
    }

    @Test("the authors' reference sign differs from the projection by 2·L·Lᵀ·∂L·R")
    func referenceSign() throws {
        let model = try tinyModel()
        let g = groups(model, fused: false, rank: 1)[0]
        for i in 0..<g.sum.count { g.sum.data[i] = Float(i % 7) - 3 }
        let shape = model.parameters[g.members[0].name(layer: 0) + ".weight"].shape
        let a = Tensor(zeros: shape), b = Tensor(zeros: shape)
        g.reconstruct(.projection, into: [a])
        g.reconstruct(.reference, into: [b])
        #expect(maxAbs(a.array, b.array) > 1e-3)
    }

    @Test("history carriers fall back to W at t = 0 and follow W − W₀ afterwards")
    func historySource() throws {
        let model = try tinyModel(), initial = try tinyModel().parameters
        let g = CarrierGroup(layer: 0, members: [.query], config: model.config, rank: 1)
        var r1 = Xoshiro256(seed: 3), r2 = Xoshiro256(seed: 3)
        g.computeCarriers(parameters: model.parameters, initial: initial, source: .history, iterations: 1, generator: &r1)
        let fromHistoryAtZero = g.left.array
        g.computeCarriers(parameters: model.parameters, initial: nil, source: .weight, iterations: 1, generator: &r2)
        #expect(fromHistoryAtZero == g.left.array)
        // A rank-1 change u·vᵀ: the history carriers become ±u/‖u‖.
        let w = model.parameters["encoder.layer.0.attention.self.query.weight"]
        let (p, d) = (w.shape[0], w.shape[1])
        for i in 0..<p { for j in 0..<d { w.data[i * d + j] += Float(i + 1) * 1e-2 * Float(j % 3 + 1) } }
        var r3 = Xoshiro256(seed: 4)
        g.computeCarriers(parameters: model.parameters, initial: initial, source: .history, iterations: 1, generator: &r3)
        let norm = (1...p).reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        for i in 0..<p { #expect(abs(abs(Double(g.left.data[i])) - Double(i + 1) / norm) < 1e-4) }
    }
}

@Suite("DP-SGD ghost norms")
struct GhostNormTests {
    @Test("per-example norms equal those of explicitly computed per-example gradients (last layer at every token or at the first tokens)",
          arguments: [false, true])
    func matchesExplicit(firstTokenLastLayer: Bool) throws {
        let model = try tinyModel()
        model.firstTokenLastLayer = firstTokenLastLayer
        let dlogits = summedLossGradient(model, [0, 1, 2])
        let ghost = perExampleGradientSquares(model: model, dlogits: dlogits, classes: 3)
        for i in 0..<3 {
            let single = summedLossGradient(model, [i])
            let g = BertParameters(config: model.config, classes: 3,
                                   groups: [.encoderWeights, .encoderBiases, .layerNorms, .pooler, .classifier])
            model.backward(dlogits: single, gradients: g)
            let explicit = g.names.reduce(0.0) { $0 + Elementwise.sumOfSquares(g[$1].data, count: g[$1].count) }
            #expect(abs(ghost[i] - explicit) / explicit < 1e-4, "example \(i): ghost \(ghost[i]) explicit \(explicit)")
        }
    }
}

@Suite("DP-SGD book-keeping")
struct BookKeepingTests {
    /// Per-example gradients from the batch's own forward (dropout masks shared): dlogits kept on row i only.
    func perExampleGradients(_ model: BertModel, _ dlogits: [Float], groups: ParameterGroups) -> [BertParameters] {
        (0..<3).map { i in
            var only = [Float](repeating: 0, count: dlogits.count)
            for k in 0..<3 { only[i * 3 + k] = dlogits[i * 3 + k] }
            let g = BertParameters(config: model.config, classes: 3, groups: groups)
            model.backward(dlogits: only, gradients: g)
            return g
        }
    }

    @Test("one backward's kept gradients give the norms and Σ c_i·g_i of per-example backwards (dropout on; last layer at every token or at the first tokens)",
          arguments: [("tiny", HeadInput.cls), ("tiny", HeadInput.pooler), ("tiny-roberta", HeadInput.pooler)], [false, true])
    func matchesPerExample(fixture: (String, HeadInput), firstTokenLastLayer: Bool) throws {
        let (fixture, head) = fixture
        let directory = URL(fileURLWithPath: tinyDirectory).deletingLastPathComponent().appendingPathComponent(fixture).path
        // The fixtures have every dropout probability at 0: switch dropout on, so that an input read before dropout
        // (fairseq's head drops [CLS] before the pooler) shows.
        let checkpoint = try Checkpoint.load(directory: directory, classes: 3)
        var config = checkpoint.config
        (config.hiddenDropoutProb, config.attentionProbsDropoutProb) = (0.2, 0.2)
        let parameters = BertParameters(config: config, classes: 3)
        for name in parameters.names {
            parameters[name].data.update(from: checkpoint.parameters[name].data, count: parameters[name].count)
        }
        let model = BertModel(parameters: parameters)
        (model.headInput, model.training, model.dropoutGenerator) = (head, true, Xoshiro256(seed: 11))
        model.firstTokenLastLayer = firstTokenLastLayer
        var groups: ParameterGroups = [.encoderWeights, .encoderBiases, .layerNorms, .classifier]
        if head == .pooler { groups.insert(.pooler) }
        let dlogits = summedLossGradient(model, [0, 1, 2])
        let perExample = perExampleGradients(model, dlogits, groups: groups)
        let explicit = perExample.map { g in g.names.reduce(0.0) { $0 + Elementwise.sumOfSquares(g[$1].data, count: g[$1].count) } }

        let clipper = BookKeepingClipper()
        let squares = clipper.perExampleSquares(model: model, dlogits: dlogits, classes: 3)
        for i in 0..<3 {
            #expect(abs(squares[i] - explicit[i]) / explicit[i] < 1e-4, "example \(i): kept \(squares[i]) explicit \(explicit[i])")
        }
        // Clip at the middle norm: one example scaled down, two at factor 1 (the middle one exactly at C).
        let norms = explicit.map { $0.squareRoot() }
        let factors = Clipping.factors(norms: norms, clip: norms.sorted()[1])
        #expect(factors.filter { $0 < 0.999 }.count == 1)
        let sum = BertParameters(config: model.config, classes: 3, groups: groups)
        clipper.addClippedSum(factors: factors, model: model, dlogits: dlogits, classes: 3, into: sum)
        #expect(sum.names.count == perExample[0].names.count)
        for name in sum.names {
            let got = sum[name].array
            var expected = [Float](repeating: 0, count: got.count)
            for i in 0..<3 { for (k, v) in perExample[i][name].array.enumerated() { expected[k] += factors[i] * v } }
            let scale = max(expected.map(abs).max() ?? 0, 1e-12)
            let error = zip(got, expected).map { abs($0 - $1) }.max()! / scale
            if name.hasSuffix("attention.self.key.bias") {
                // Softmax ignores a per-row constant: exactly zero up to rounding on both sides.
                #expect(got.allSatisfy { abs($0) < 1e-6 }, "\(name)")
            } else {
                // Measured: at most 2.2e-7 (float rounding of the differently ordered sums).
                #expect(error <= 1e-5, "\(fixture) \(head) first tokens \(firstTokenLastLayer) \(name): scaled error \(error)")
            }
        }
    }
}
