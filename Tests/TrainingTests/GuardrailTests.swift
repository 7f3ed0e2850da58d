import Foundation
import Numerics
import Privacy
import Testing
import Tokenizers
@testable import Training
import Transformer

func runMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite("privacy guardrails", .serialized)
struct PrivacyGuardrailTests {
    @Test("a private method with σ = 0 is refused before step 1 (only the testing switch allows it, and its record claims nothing)")
    func zeroNoise() throws {
        var c = configuration(.rgp)
        c.sigmaOverride = 0
        let directory = runDirectory()
        let message = runMessage { try trainer(c, root: try syntheticGLUE(), directory: directory).run() }
        #expect(message?.contains("σ = 0 adds no noise") == true, "\(message ?? "ran")")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state") && !FileManager.default.fileExists(atPath: directory + "/result.json"))
        var negative = configuration(.rgp)
        negative.sigmaOverride = -1
        #expect(runMessage { _ = try trainer(negative, root: try syntheticGLUE()) }?.contains("--sigma must be a positive number, got -1") == true)
    }

    @Test("a fixed σ that would overspend the target ε is refused before step 1; σ alone records what it spends")
    func sigmaAgainstTarget() throws {
        var c = configuration(.rgp)
        c.sigmaOverride = 0.3
        c.epsilon = 8
        let message = runMessage { try trainer(c, root: try syntheticGLUE()).run() }
        #expect(message?.contains("σ 0.3 spends ε") == true && message?.contains("above the target 8: refused before step 1") == true, "\(message ?? "ran")")
        c.epsilon = nil
        c.sigmaOverride = 1.5
        let result = try trainer(c, root: try syntheticGLUE()).run()
        #expect(result.epsilon == nil && (result.epsilon_spent ?? 0) > 0 && result.sigma == 1.5)
    }

    @Test("δ must lie in (0, 1) and below 1/N unless explicitly allowed, which the settings record")
    func delta() throws {
        for bad in [0.0, 1.0, -1e-5, .nan] {
            var c = configuration(.rgp)
            c.delta = bad
            #expect(runMessage { _ = try trainer(c, root: try syntheticGLUE()) }?.contains("--delta must lie in (0, 1)") == true)
        }
        var large = configuration(.rgp)
        large.delta = 0.05  // N = 64: 1/N = 0.0156
        #expect(runMessage { _ = try trainer(large, root: try syntheticGLUE()) }?.contains("is not below 1/N") == true)
        large.allowLargeDelta = true
        let result = try trainer(large, root: try syntheticGLUE()).run()
        #expect(result.settings.allowLargeDelta && result.settings.delta == 0.05 && result.epsilon_spent != nil)
    }

    @Test("a calibration no σ ≤ 10⁴ meets is refused with the reason")
    func unreachable() {
        var c = configuration(.rgp)
        c.epsilon = 0.001
        let message = runMessage { try trainer(c, root: try syntheticGLUE()).run() }
        #expect(message?.contains("no σ ≤ 10000 reaches ε 0.001") == true, "\(message ?? "ran")")
    }
}

@Suite("inputs checked against the model", .serialized)
struct ModelInputTests {
    @Test("a max length beyond the position table, a vocabulary larger than the embedding table, or a rank above min(p, d) is refused")
    func tables() throws {
        var long = configuration(.rgp)
        long.maxLength = 100
        #expect(runMessage { _ = try trainer(long, root: try syntheticGLUE()) }?.contains("--max-length 100 exceeds the 64 positions of") == true)
        // RoBERTa: 66 position rows, two of them before the first token (padding_idx + 1), so 64 positions.
        let roberta = try BertConfig.load(path: tinyRobertaDirectory + "/config.json")
        let bpe = try loadTokenizer(directory: tinyRobertaDirectory)
        #expect(runMessage { try checkCompatibility(tokenizer: bpe, config: roberta, maxLength: 65, model: "tiny-roberta") }?
            .contains("--max-length 65 exceeds the 64 positions (66 rows less RoBERTa's offset of 2)") == true)
        #expect(runMessage { try checkCompatibility(tokenizer: bpe, config: roberta, maxLength: 64, model: "tiny-roberta") } == nil)
        // A BERT tokenizer (segment ids 0 and 1) with a one-token-type RoBERTa would index past its token-type table.
        let wordPiece = try loadTokenizer(directory: tinyDirectory)
        var small = roberta
        small.vocabSize = 5000
        #expect(runMessage { try checkCompatibility(tokenizer: wordPiece, config: small, maxLength: 32, model: "tiny-roberta") }?
            .contains("a BERT-style tokenizer") == true)

        let folder = runDirectory()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let words = (try String(contentsOfFile: tinyDirectory + "/vocab.txt", encoding: .utf8)).split(separator: "\n")
        let extended = words.map(String.init) + (0..<500).map { "extra\($0)" }
        try (extended.joined(separator: "\n") + "\n").write(toFile: folder + "/vocab.txt", atomically: true, encoding: .utf8)
        let big = try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt")
        let config = try BertConfig.load(path: tinyDirectory + "/config.json")
        #expect(runMessage { try checkCompatibility(tokenizer: big, config: config, maxLength: 32, model: tinyDirectory) }?
            .contains("the tokenizer has \(extended.count) tokens but the model only \(config.vocabSize) embedding rows") == true)

        var rank = configuration(.rgp)
        rank.rank = 999
        #expect(runMessage { _ = try trainer(rank, root: try syntheticGLUE()) }?.contains("--rank 999 exceeds") == true)
    }

    @Test("an empty dev set is an error, not accuracy 0")
    func emptyDev() throws {
        let root = try syntheticGLUE()
        try "sentence\tlabel\n".write(toFile: root + "/SST-2/dev.tsv", atomically: true, encoding: .utf8)
        #expect(runMessage { _ = try trainer(configuration(.full), root: root) }?.contains("the dev set has no examples") == true)
    }

    @Test("evaluating a checkpoint without a trained head for the task is refused")
    func headlessEvaluation() {
        let message = runMessage { _ = try Evaluator.trainedCheckpoint(directory: tinyDirectory, task: .sst2) }
        #expect(message?.contains("holds no trained classifier head for sst2 (2 classes)") == true, "\(message ?? "loaded")")
    }
}

@Suite("run directories", .serialized)
struct RunDirectoryTests {
    @Test("a second process in a run directory stops at once with a clear message")
    func lock() throws {
        let directory = runDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let held = try RunDirectoryLock(directory: directory)
        let message = runMessage { try trainer(configuration(.rgp), root: try syntheticGLUE(), directory: directory).run() }
        #expect(message?.contains("is in use by another rgp process") == true, "\(message ?? "ran")")
        _ = held
    }

    @Test("a partial run does not resume on other data")
    func otherData() throws {
        let directory = runDirectory()
        let first = try trainer(configuration(.rgp), root: try syntheticGLUE(), directory: directory)
        first.checkpointEvery = 1
        first.stopAfterSteps = 2
        try first.run()
        let other = try syntheticGLUE()
        let text = try String(contentsOfFile: other + "/SST-2/train.tsv", encoding: .utf8)
        try text.replacingOccurrences(of: "w1", with: "w2").write(toFile: other + "/SST-2/train.tsv", atomically: true, encoding: .utf8)
        let message = runMessage { try trainer(configuration(.rgp), root: other, directory: directory).run() }
        #expect(message?.contains("holds a run on other data") == true, "\(message ?? "ran")")
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/run.json"))) as? [String: Any]
        let files = (run?["data"] as? [String: Any])?["files"] as? [[String: Any]]
        #expect(files?.map { $0["path"] as? String } == ["SST-2/train.tsv", "SST-2/dev.tsv"])
    }

    @Test("metrics written after the last checkpoint are cut back on resume: every epoch is logged once")
    func metricsCutBack() throws {
        let root = try syntheticGLUE()
        let directory = runDirectory()
        let first = try trainer(configuration(.rgp), root: root, directory: directory)
        first.checkpointEvery = 3
        first.stopAfterSteps = 5  // epoch 1 ends at step 4 (logged); the last checkpoint is at step 4
        try first.run()
        // A kill between writing the next epoch's line and swapping state/ leaves a line for a step not checkpointed.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/metrics.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"epoch\":2,\"evaluation\":{\"accuracy\":0.5},\"examples_seen\":1,\"step\":8,\"train_loss_not_private\":1}\n".utf8))
        try handle.close()
        let result = try trainer(configuration(.rgp), root: root, directory: directory).run()
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let epochs = try lines.map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)).epoch }
        #expect(epochs == [1, 2] && result.epochs_log.map(\.epoch) == [1, 2], "\(epochs)")
    }
}
