import Foundation
import GLUE
import Testing
import Tokenizers
import Training
import Transformer

/// The tiny random RoBERTa (unconverted Hugging Face folder, byte-level BPE trained on SST-2 text).
let tinyRobertaDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("TransformerTests/Fixtures/tiny-roberta").path

/// A learnable synthetic SST-2 folder in English words the BPE knows: label 1 iff the sentence contains "great".
func syntheticWordsGLUE() throws -> String {
    try syntheticGLUE(vocabulary: ["the", "film", "story", "a", "is", "and", "of", "it", "with", "movie", "long", "plot", "actors",
                                   "its", "old", "new", "some", "this", "that", "very"], marker: "great", seed: 21)
}

@Suite("tiny RoBERTa end to end", .serialized)
struct RobertaTrainingTests {
    func run(_ method: TrainingMethod, head: HeadInput, epochs: Double, root: String) throws -> (Trainer, RunResult) {
        var c = TrainingConfiguration(task: .sst2, method: method, model: tinyRobertaDirectory, batchSize: 16, epochs: epochs,
                                      learningRate: 3e-3)
        c.maxLength = 32
        c.seededNoise = true
        c.seed = 3
        c.head = head
        c.accountant = .rdp
        c.sampling = method.isPrivate ? .poisson : .shuffled
        if method.isPrivate {
            c.epsilon = 8
            c.clip = 0.5
        }
        let tokenizer = try loadTokenizer(directory: tinyRobertaDirectory)
        let data = try TaskData.load(task: .sst2, root: root, split: .official, tokenizer: tokenizer, maxLength: 32, maxTrain: nil,
                                     splitsDirectory: "")
        let t = try Trainer(configuration: c, runDirectory: runDirectory(), data: data, tokenizer: tokenizer)
        t.progress = { _ in }
        return (t, try t.run())
    }

    @Test("full fine-tuning learns through RoBERTa's positions and BPE (loss falls, dev accuracy above chance)")
    func fullLearns() throws {
        let (_, result) = try run(.full, head: .cls, epochs: 6, root: try syntheticWordsGLUE())
        let losses = result.epochs_log.map(\.trainLossNotPrivate)
        #expect(losses.last! < 0.8 * losses.first!, "\(losses)")
        #expect(result.accuracy > 0.6, "dev accuracy \(result.accuracy)")
        #expect(result.model_type == "roberta")
    }

    @Test("rgp (authors' head) and dpsgd (fairseq's head) train a tiny RoBERTa within ε; the record names model and head",
          arguments: [(TrainingMethod.rgp, HeadInput.cls), (.dpsgd, .pooler)])
    func privateRuns(method: TrainingMethod, head: HeadInput) throws {
        let (t, result) = try run(method, head: head, epochs: 2, root: try syntheticWordsGLUE())
        #expect(result.finished && result.steps == 8)
        #expect(try #require(result.epsilon_spent) <= 8)
        #expect(result.model_type == "roberta")
        #expect(result.head_description == HeadInput.describe(head, family: .roberta))
        #expect(result.epochs_log.allSatisfy { $0.trainLossNotPrivate.isFinite })
        // The head and the reparametrized matrices moved; the embedding tables did not.
        let initial = try t.initialParameters()
        for name in ["classifier.weight", "encoder.layer.0.attention.self.query.weight", "encoder.layer.1.output.dense.weight"] {
            #expect(t.model.parameters[name].array != initial[name].array, "\(name)")
        }
        #expect(t.model.parameters["embeddings.word_embeddings.weight"].array == initial["embeddings.word_embeddings.weight"].array)
        // fairseq's head trains its dense layer (fresh on a pretrained RoBERTa); the authors' head leaves it alone.
        let denseMoved = t.model.parameters["pooler.dense.weight"].array != initial["pooler.dense.weight"].array
        #expect(denseMoved == (head == .pooler))
    }
}
