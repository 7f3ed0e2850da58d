import Foundation
import GLUE
import Numerics
import Testing
import Tokenizers
import Training
import Transformer

@Suite("evaluator")
struct EvaluatorTests {
    /// 90 examples of 3 to 40 random tokens (so micro-batches hold sequences of many lengths, and some an odd count).
    private func examples() -> [EncodedExample] {
        var generator = Xoshiro256(seed: 5)
        return (0..<90).map { i in
            let length = 3 + Int(generator.next() % 38)
            let ids = [Int32(2)] + (1..<length).map { _ in Int32(10 + generator.next() % 60) }
            return EncodedExample(ids: ids, types: ids.map { _ in 0 }, label: i % 2)
        }
    }

    @Test("predicting on 2 or 3 replicas, one per core, gives the single model's predictions, and follows its weights")
    func replicasPredictAsTheModel() throws {
        let checkpoint = try Checkpoint.load(directory: tinyDirectory, classes: 2)
        checkpoint.parameters.initialiseClassifier(seed: 3, std: 1)  // a head that tells the examples apart
        let tokenizer = try loadTokenizer(directory: tinyDirectory)
        let model = BertModel(parameters: checkpoint.parameters)
        model.firstTokenLastLayer = true
        let data = examples()
        // A budget of 300 tokens: several micro-batches, the last a short one.
        let single = Evaluator(model: model, tokenizer: tokenizer, task: .sst2, microBatchTokens: 300, replicas: 1)
        #expect(single.replicas == nil)
        let expected = single.predictions(data)
        #expect(Set(expected).count == 2, "a model predicting one class would not tell the orders apart")
        for count in [2, 3] {
            let replicated = Evaluator(model: model, tokenizer: tokenizer, task: .sst2, microBatchTokens: 300, replicas: count)
            #expect(replicated.replicas?.models.count == count)
            #expect(replicated.predictions(data) == expected, "\(count) replicas")
        }
        // The replicas read the model's parameters, not a copy: a changed head changes their predictions too.
        let replicated = Evaluator(model: model, tokenizer: tokenizer, task: .sst2, microBatchTokens: 300, replicas: 2)
        let classifierBias = try #require(checkpoint.parameters.classifier.bias)
        classifierBias.data[1] += 100
        #expect(replicated.predictions(data) == [Int](repeating: 1, count: data.count))
        #expect(single.predictions(data) == [Int](repeating: 1, count: data.count))
    }
}
