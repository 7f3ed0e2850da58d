import Distributed
import Foundation
import GLUE
import Numerics
import Privacy
import Testing
import Tokenizers
import Training
import Transformer

func configuration(_ method: TrainingMethod) -> TrainingConfiguration {
    var c = TrainingConfiguration(task: .sst2, method: method, model: tinyDirectory, batchSize: 16, epochs: 2, learningRate: 3e-3)
    c.maxLength = 32  // as the data below is tokenized; the tiny model has 64 positions
    c.seededNoise = true
    c.seed = 5
    c.sampling = .poisson
    c.accountant = .rdp
    if method.isPrivate {
        c.epsilon = 8
        c.clip = 0.5
    }
    return c
}

func trainer(_ c: TrainingConfiguration, root: String, directory: String = runDirectory()) throws -> Trainer {
    let tokenizer = try loadTokenizer(directory: tinyDirectory)
    let data = try TaskData.load(task: .sst2, root: root, split: .official, tokenizer: tokenizer, maxLength: 32,
                                 maxTrain: nil, splitsDirectory: "")
    let t = try Trainer(configuration: c, runDirectory: directory, data: data, tokenizer: tokenizer)
    t.progress = { _ in }
    return t
}

func parameterArrays(_ t: Trainer) -> [String: [Float]] {
    Dictionary(uniqueKeysWithValues: t.model.parameters.names.map { ($0, t.model.parameters[$0].array) })
}

@Suite("trainer", .serialized)
struct TrainerTests {
    @Test("a tiny end-to-end run lowers the training loss (full fine-tuning)")
    func lossDecreases() throws {
        var c = configuration(.full)
        c.epochs = 6
        c.sampling = .shuffled
        let result = try trainer(c, root: try syntheticGLUE()).run()
        let losses = result.epochs_log.map(\.trainLossNotPrivate)
        #expect(losses.count == 6)
        #expect(losses.last! < 0.8 * losses.first!, "\(losses)")
    }

    @Test("RGP with σ = 0 and C = ∞ gives exactly the low-rank update")
    func rgpWithoutNoiseIsLowRank() throws {
        let root = try syntheticGLUE()
        var private_ = configuration(.rgp)
        private_.sigmaOverride = 0
        private_.clip = 1e30
        let a = try trainer(private_, root: root)
        a.allowsZeroNoiseForTesting = true
        let record = try a.run()
        #expect(record.epsilon_spent == nil && record.privacy_note?.contains("NOT private") == true)
        let b = try trainer(configuration(.lowrank), root: root)
        try b.run()
        #expect(parameterArrays(a) == parameterArrays(b))
        #expect(a.step == b.step && a.step > 0)
    }

    @Test("W₀ is kept as the encoder's matrices alone; initialParameters() reads back the whole start")
    func initialKeptAsEncoderMatrices() throws {
        var c = configuration(.rgp)
        c.carrierSource = .history
        let history = try trainer(c, root: try syntheticGLUE())
        let kept = try #require(history.context.initial)
        let start = try history.initialParameters()
        #expect(Set(kept.names) == Set(start.names.filter { BertParameters.group(of: $0, config: start.config, classes: 2) == .encoderWeights }))
        #expect(!kept.names.isEmpty)
        // With carriers from the weights, only rank 0 keeps W₀ (for the record's update norms).
        let tokenizer = try loadTokenizer(directory: tinyDirectory)
        let ranks = ThreadGroup(size: 2).communicators()
        for (communicator, keeps) in [(ranks[0], true), (ranks[1], false)] {
            let t = try Trainer(configuration: configuration(.rgp), runDirectory: runDirectory(), data: history.data,
                                tokenizer: tokenizer, communicator: communicator)
            #expect((t.context.initial != nil) == keeps, "rank \(communicator.rank)")
        }
        for name in start.names {  // before a step, the model is W₀ (the head from the same seeded initialisation)
            #expect(history.model.parameters[name].array == start[name].array, "\(name)")
            if kept.names.contains(name) { #expect(kept[name].array == start[name].array, "\(name)") }
        }
    }

    @Test("a private RGP run leaves every non-trainable parameter bit-identical and records its ε correctly")
    func frozenAndEpsilon() throws {
        let directory = runDirectory()
        let t = try trainer(configuration(.rgp), root: try syntheticGLUE(), directory: directory)
        let result = try t.run()
        var changed = 0
        let initial = try t.initialParameters()
        for name in t.model.parameters.names {
            let trainable = name.hasPrefix("classifier.") || (name.hasSuffix(".weight") && !name.contains("LayerNorm")
                && !name.hasPrefix("embeddings.") && !name.hasPrefix("pooler."))
            if trainable {
                if t.model.parameters[name].array != initial[name].array { changed += 1 }
            } else {
                #expect(t.model.parameters[name].array == initial[name].array, "\(name) changed")
            }
        }
        #expect(changed == 2 * 6 + 2)
        // The record's ‖W − W₀‖ of every reparametrized matrix, from the W₀ rank 0 keeps.
        let norms = try #require(result.update_norms)
        #expect(norms.count == 2 * 6)
        for (name, norm) in norms {
            let now = t.model.parameters[name], start = initial[name]
            let expected = (0..<now.count).reduce(0.0) { $0 + pow(Double(now.data[$1] - start.data[$1]), 2) }.squareRoot()
            #expect(norm > 0 && abs(norm - expected) <= 1e-12 * expected, "\(name)")
        }
        let recomputed = RDPAccountant().epsilon(sigma: try #require(result.sigma), sampleRate: result.sample_rate,
                                                 steps: result.steps, delta: try #require(result.delta)).epsilon
        #expect(try #require(result.epsilon_spent) == recomputed)
        #expect(recomputed <= 8)
        #expect(result.seeded_noise)
        let stored = try JSONDecoder().decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/result.json")))
        #expect(stored.epsilon_spent == result.epsilon_spent && stored.schema == RunResult.currentSchema)
        #expect(FileManager.default.fileExists(atPath: directory + "/model/model.safetensors"))
    }

    @Test("a run killed mid-way and resumed ends with the same parameters and ε as an uninterrupted one")
    func resume() throws {
        let root = try syntheticGLUE()
        let uninterrupted = try trainer(configuration(.rgp), root: root)
        let expected = try uninterrupted.run()

        let directory = runDirectory()
        let first = try trainer(configuration(.rgp), root: root, directory: directory)
        first.checkpointEvery = 1
        first.stopAfterSteps = 3
        let partial = try first.run()
        #expect(!partial.finished && first.step == 3)
        let second = try trainer(configuration(.rgp), root: root, directory: directory)
        nonisolated(unsafe) var lines: [String] = []
        second.progress = { lines.append($0) }
        let resumed = try second.run()
        // It continued from the checkpoint: no step before 4 ran again.
        #expect(lines.contains { $0.contains("resumed at step 3/") })
        #expect(lines.filter { $0.contains("] step ") }.count == expected.steps - 3)
        #expect(resumed.finished && resumed.steps == expected.steps)
        #expect(parameterArrays(second) == parameterArrays(uninterrupted))
        #expect(resumed.epsilon_spent == expected.epsilon_spent)

        var other = configuration(.rgp)
        other.learningRate = 1e-2
        #expect(throws: TrainingError.self) { try trainer(other, root: root, directory: directory).run() }
    }
}

@Suite("DP-SGD trainer", .serialized)
struct DPSGDTrainerTests {
    @Test("a DP-SGD run trains everything but the embedding tables, and the pooler only when the head reads it, within its ε",
          arguments: [HeadInput.cls, .mean, .pooler])
    func embeddingsFrozen(head: HeadInput) throws {
        var c = configuration(.dpsgd)
        c.head = head
        let t = try trainer(c, root: try syntheticGLUE())
        let result = try t.run()
        let initial = try t.initialParameters()
        for name in t.model.parameters.names {
            let same = t.model.parameters[name].array == initial[name].array
            let frozen = (name.hasPrefix("embeddings.") && !name.contains("LayerNorm")) || (name.hasPrefix("pooler.") && head != .pooler)
            #expect(same == frozen, "\(name)")
        }
        #expect(try #require(result.epsilon_spent) <= 8)
    }
}
