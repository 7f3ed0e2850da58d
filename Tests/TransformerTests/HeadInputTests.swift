import Foundation
import Numerics
import Storage
import Testing
@testable import Transformer

@Suite("head inputs: [CLS] and masked mean")
struct HeadInputTests {
    /// Σ cross-entropy of a padded batch, in Float64 from the model's logits.
    func loss(_ model: BertModel, _ batch: Batch, _ labels: [Int32]) -> Double {
        let logits = model.forward(batch), c = model.parameters.classes
        var total = 0.0
        for s in 0..<batch.size {
            let row = (0..<c).map { Double(logits.data[s * c + $0]) }
            let top = row.max()!
            total += log(row.reduce(0) { $0 + exp($1 - top) }) + top - row[Int(labels[s])]
        }
        return total
    }

    @Test("the backward of the cls and mean heads matches central finite differences, and leaves the pooler without gradient",
          arguments: [HeadInput.cls, .mean])
    func gradients(head: HeadInput) throws {
        let (batch, labels) = try tinyBatch(try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors")))
        let model = BertModel(parameters: try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3).parameters)
        model.headInput = head
        let logits = model.forward(batch)
        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: 3, probabilities: &probabilities)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: 3, scale: 1, into: &dlogits)
        let gradients = BertParameters(config: model.config, classes: 3)
        model.backward(dlogits: dlogits, gradients: gradients)

        let probes: [(String, Int)] = [("classifier.weight", 5), ("encoder.layer.1.output.dense.weight", 17),
                                       ("encoder.layer.0.attention.self.query.weight", 40), ("encoder.layer.1.output.LayerNorm.weight", 3),
                                       ("embeddings.LayerNorm.bias", 2), ("encoder.layer.0.intermediate.dense.bias", 9)]
        for (name, index) in probes {
            let parameter = model.parameters[name], original = parameter.data[index], h: Float = 1e-2
            parameter.data[index] = original + h
            let up = loss(model, batch, labels)
            parameter.data[index] = original - h
            let down = loss(model, batch, labels)
            parameter.data[index] = original
            let numeric = (up - down) / (2 * Double(h)), analytic = Double(gradients[name].data[index])
            #expect(abs(numeric - analytic) <= 2e-3 + 2e-2 * abs(numeric), "\(head) \(name)[\(index)]: numeric \(numeric), analytic \(analytic)")
        }
        #expect(gradients["pooler.dense.weight"].array.allSatisfy { $0 == 0 }, "the pooler must not be trained by a \(head) head")
    }

    @Test("the mean head reads the attention-masked mean of the last layer; the cls head reads position 0")
    func forwardValues() throws {
        let (batch, _) = try tinyBatch(try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors")))
        let model = BertModel(parameters: try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3).parameters)
        model.headInput = .mean
        model.forward(batch)
        let ws = try #require(model.workspace)
        let expected = ws.maskedMean(), h = model.config.hiddenSize
        for s in 0..<batch.size {
            for j in 0..<h { #expect(abs(ws.headInput.data[s * h + j] - expected[s][j]) < 1e-5) }
        }
        model.headInput = .cls
        model.forward(batch)
        #expect(model.workspace!.headInput.array == model.workspace!.cls.array)
    }
}
