import Foundation
import Numerics
import Privacy
import Testing
import Tokenizers
import Training
import Transformer

@Suite("DP head-only", .serialized)
struct DPHeadTests {
    @Test("it changes the classifier head and nothing else, within its ε, and records the head scale it applied")
    func onlyTheHead() throws {
        let t = try trainer(configuration(.dphead), root: try syntheticGLUE())
        let result = try t.run()
        let initial = try t.initialParameters()
        for name in t.model.parameters.names {
            let same = t.model.parameters[name].array == initial[name].array
            #expect(same == !name.hasPrefix("classifier."), "\(name)")
        }
        #expect(try #require(result.epsilon_spent) <= 8)
        #expect(result.head_scale == 0.1)  // as inside RGP's joint clip
        #expect(t.method.trainableNames == ["classifier.weight", "classifier.bias"])
    }

    /// One full-batch step with σ = 0 and no effective clip is one Adam step on the scaled mean head gradient over the
    /// frozen [CLS] features: θ₁ = θ₀ − lr·sĝ/(|sĝ| + ε) element-wise, s the head scale,
    /// ĝ = (1/B)·Σ_i (softmax(W·x_i + b) − y_i) ⊗ [x_i, 1].
    @Test("a full-batch step without noise or clipping equals Adam's first step on the mean head gradient (Float64 reference)")
    func firstStepMatchesReference() throws {
        let root = try syntheticGLUE()
        var c = configuration(.dphead)
        c.sigmaOverride = 0
        c.clip = 1e30
        c.sampling = .shuffled
        c.batchSize = 64
        c.epochs = 1
        let t = try trainer(c, root: root)
        t.allowsZeroNoiseForTesting = true
        let weight0 = t.model.parameters["classifier.weight"].array.map(Double.init)
        let bias0 = t.model.parameters["classifier.bias"].array.map(Double.init)
        try t.run()

        // The reference: frozen pooled features of every training example, from a fresh copy of the checkpoint.
        let model = BertModel(parameters: try Checkpoint.load(directory: tinyDirectory, classes: 2, classifierSeed: c.seed).parameters)
        #expect(c.head == .cls)
        let h = model.config.hiddenSize, classes = 2, examples = t.data.train
        var gradWeight = [Double](repeating: 0, count: classes * h), gradBias = [Double](repeating: 0, count: classes)
        for example in examples {
            model.forward(Batch(sequences: [example.ids], tokenTypes: [example.types], padId: 0))
            let x = (0..<h).map { Double(model.workspace!.cls.data[$0]) }  // the default head reads [CLS]
            let logits = (0..<classes).map { k in bias0[k] + (0..<h).reduce(0.0) { $0 + weight0[k * h + $1] * x[$1] } }
            let top = logits.max()!, z = logits.map { exp($0 - top) }, total = z.reduce(0, +)
            for k in 0..<classes {
                let g = z[k] / total - (k == example.label ? 1 : 0)
                for j in 0..<h { gradWeight[k * h + j] += g * x[j] / 64 }
                gradBias[k] += g / 64
            }
        }
        let lr = c.learningRate
        // The head scale multiplies each per-example head gradient inside the clip, hence the released mean too.
        let scale = c.headScale
        func adamFirstStep(_ p: Double, _ g: Double) -> Double { p - lr * scale * g / (abs(scale * g) + 1e-6) }
        let weight1 = t.model.parameters["classifier.weight"].array, bias1 = t.model.parameters["classifier.bias"].array
        var worst = 0.0
        for i in 0..<weight1.count { worst = max(worst, abs(Double(weight1[i]) - adamFirstStep(weight0[i], gradWeight[i]))) }
        for i in 0..<bias1.count { worst = max(worst, abs(Double(bias1[i]) - adamFirstStep(bias0[i], gradBias[i]))) }
        // lr·|ĝ|/(|ĝ|+ε) is ≈ lr wherever |ĝ| ≫ 1e-6: a relative error of 1e-3 in ĝ moves θ₁ by ≪ lr·1e-3.
        #expect(worst < 1e-5 * lr * 100, "max |θ₁ − reference| = \(worst)")
        #expect(t.step == 1)
    }
}
