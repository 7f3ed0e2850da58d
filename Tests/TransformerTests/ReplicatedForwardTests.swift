import Numerics
import Testing
import Transformer

@Suite("forward as replicas over the same weights")
struct ReplicatedForwardTests {
    @Test("2 and 3 replicas give the single model's logits on a padded batch, in batch order", arguments: [2, 3])
    func sameLogits(replicas: Int) throws {
        let checkpoint = try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3)
        let step = try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors"))
        let (batch, _) = try tinyBatch(step)
        let single = BertModel(parameters: checkpoint.parameters)
        let expected = single.forward(batch).array
        let replicated = ReplicatedForward(parameters: checkpoint.parameters, replicas: replicas)
        #expect(replicated.models.allSatisfy { $0.parameters === checkpoint.parameters })
        let logits = replicated.forward(batch)
        #expect(logits.count == expected.count)
        #expect(zip(logits, expected).map { abs($0 - $1) }.max() ?? 1 <= 1e-5)
        // A batch of one sequence leaves the other replicas idle.
        let one = batch.rows([batch.size - 1])
        #expect(zip(replicated.forward(one), single.forward(one).array).map { abs($0 - $1) }.max() ?? 1 <= 1e-5)
    }
}
