import Foundation
import Numerics
import Privacy
import Storage
import Transformer

/// What a checkpoint holds besides the tensors (state/state.json).
struct SavedState: Codable {
    var step: Int
    var examplesSeen: Int
    var adamStep: Int
    var sigma: Double
    var epochs: [EpochRecord]
    var epochLosses: [Double]
    var shuffled: ShuffledSampler?
    var wallSeconds: Double
    /// The audit's canary signs and scores so far (audited runs).
    var audit: CanaryAudit.State?
}

/// The run directory: run.json (the configuration it holds), state/ (the last checkpoint, swapped in atomically),
/// metrics.jsonl, result.json and model/.
extension Trainer {
    var statePath: String { runDirectory + "/state" }

    /// A finished run's result, if this directory holds one with the same configuration.
    func existingResult() throws -> RunResult? {
        try checkConfiguration()
        let path = runDirectory + "/result.json"
        guard let data = FileManager.default.contents(atPath: path),
              let result = try? JSONDecoder().decode(RunResult.self, from: data), result.finished else { return nil }
        progress("[\(tag)] \(runDirectory) is already finished (accuracy \(format(result.accuracy, 4)))")
        return result
    }

    /// run.json: the settings' keys, plus "data" (the files read, with sizes and hashes).
    struct RunFile: Codable {
        var data: DataIdentity?
    }

    func checkConfiguration() throws {
        let path = runDirectory + "/run.json"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let saved = try? JSONDecoder().decode(TrainingConfiguration.self, from: data),
              let savedData = try? JSONDecoder().decode(RunFile.self, from: data) else {
            throw TrainingError("\(path): unreadable run configuration (written by another version? use another --out)")
        }
        if savedData.data != self.data.identity {
            throw TrainingError("\(runDirectory) holds a run on other data (\(path) records \(savedData.data?.files.map(\.path).joined(separator: ", ") ?? "none")"
                                + " with other sizes, hashes or subsets): use another --out")
        }
        if saved != configuration {
            let mirrorA = Mirror(reflecting: saved), mirrorB = Mirror(reflecting: configuration)
            let differing = zip(mirrorA.children, mirrorB.children).filter { "\($0.value)" != "\($1.value)" }.compactMap(\.0.label)
            throw TrainingError("\(runDirectory) holds a run with a different configuration (\(differing.joined(separator: ", "))); use another --out")
        }
    }

    func prepareRunDirectory() throws {
        try checkConfiguration()
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(configuration)) as? [String: Any] else { return }
        if let identity = data.identity { object["data"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(identity)) }
        try Files.writeAtomically(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
                                  to: runDirectory + "/run.json")
    }

    /// Cuts metrics.jsonl back to the epochs a checkpoint at `step` had logged: lines a killed run wrote after its
    /// last checkpoint belong to steps that will run again.
    func truncateMetrics(toStep step: Int) throws {
        let path = runDirectory + "/metrics.jsonl"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            guard let record = try? JSONDecoder().decode(EpochRecord.self, from: Data(line.utf8)) else { return false }
            return record.step <= step
        }
        let text = kept.map { $0 + "\n" }.joined()
        if text.utf8.count != data.count { try Files.writeAtomically(Data(text.utf8), to: path) }
    }

    /// Restores the last checkpoint, if any; true when resumed.
    func restoreState() throws -> Bool {
        var directory = statePath
        if !FileManager.default.fileExists(atPath: directory + "/state.json") {
            directory = statePath + ".old"  // a crash between the two renames of saveState
            if !FileManager.default.fileExists(atPath: directory + "/state.json") {
                if engine.communicator.isRoot { try truncateMetrics(toStep: 0) }
                return false
            }
        }
        guard let data = FileManager.default.contents(atPath: directory + "/state.json") else { return false }
        let state = try JSONDecoder().decode(SavedState.self, from: data)
        let file = try SafeTensorsFile(path: directory + "/tensors.safetensors")
        var first: [String: Tensor] = [:], second: [String: Tensor] = [:]
        // Shared parameters are rank 0's to write; the collectives after the restore wait for it.
        let writes = !sharesParameters || engine.communicator.isRoot
        for name in method.trainableNames where writes {
            let parameter = model.parameters[name]
            let values = try file.floats(name)
            guard values.count == parameter.count else { throw TrainingError("\(file.path): \(name) has the wrong size") }
            values.withUnsafeBufferPointer { parameter.data.update(from: $0.baseAddress!, count: values.count) }
            if file.entries["adam.m." + name] != nil {
                first[name] = Tensor(shape: parameter.shape, values: try file.floats("adam.m." + name))
                second[name] = Tensor(shape: parameter.shape, values: try file.floats("adam.v." + name))
            }
        }
        context.adam.restore(step: state.adamStep, first: first, second: second)
        step = state.step
        if engine.communicator.isRoot { try truncateMetrics(toStep: state.step) }
        examplesSeen = state.examplesSeen
        engine.restore(sigma: state.sigma)
        epochs = state.epochs
        epochLosses = state.epochLosses
        engine.shuffled = state.shuffled
        wallSecondsBefore = state.wallSeconds
        if let saved = state.audit {
            guard let audit = engine.audit, audit.count == saved.included.count else {
                throw TrainingError("\(statePath): its audit state does not match this run's --audit-canaries")
            }
            audit.restore(saved)
        }
        return true
    }

    /// Writes parameters, optimizer and counters into state.tmp, then swaps it in: a crash leaves the old state or
    /// the new one, never a mix, and a resumed run never repeats (or skips) a step whose ε it counted.
    func saveState() throws {
        let temporary = statePath + ".tmp", old = statePath + ".old"
        let fm = FileManager.default
        try? fm.removeItem(atPath: temporary)
        try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        var entries: [(String, [Int], UnsafeBufferPointer<Float>)] = []
        let adam = context.adam
        for name in method.trainableNames {
            let p = model.parameters[name]
            entries.append((name, p.shape, UnsafeBufferPointer(start: p.data, count: p.count)))
            if let m = adam.firstMoments[name], let v = adam.secondMoments[name] {
                entries.append(("adam.m." + name, m.shape, UnsafeBufferPointer(start: m.data, count: m.count)))
                entries.append(("adam.v." + name, v.shape, UnsafeBufferPointer(start: v.data, count: v.count)))
            }
        }
        try Files.writeAtomically(Data(safeTensorsBytes(entries.map { ($0.0, $0.1, $0.2) })), to: temporary + "/tensors.safetensors")
        let state = SavedState(step: step, examplesSeen: examplesSeen, adamStep: adam.step, sigma: sigma, epochs: epochs,
                               epochLosses: epochLosses, shuffled: engine.shuffled, wallSeconds: wallSecondsBefore,
                               audit: engine.audit?.state)
        try Files.writeAtomically(try JSONEncoder().encode(state), to: temporary + "/state.json")
        try? fm.removeItem(atPath: old)
        if fm.fileExists(atPath: statePath) { try fm.moveItem(atPath: statePath, toPath: old) }
        try fm.moveItem(atPath: temporary, toPath: statePath)
        try? fm.removeItem(atPath: old)
    }

    func appendMetrics(_ record: EpochRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(record)
        line.append(0x0A)
        let path = runDirectory + "/metrics.jsonl"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        try handle.close()
    }

    func makeResult(wallSeconds: Double, finished: Bool) throws -> RunResult {
        let c = configuration, last = epochs.last?.evaluation, facts = c.method.facts
        let best = epochs.enumerated().max { $0.element.evaluation.accuracy < $1.element.evaluation.accuracy }
        let isPrivate = facts.isPrivate
        var updateNorms: [String: Double]?
        let trained = Set(method.trainableNames)
        if trained.contains(LinearSite.query.name(layer: 0) + ".weight"), let initial = context.initial {
            var norms: [String: Double] = [:]
            for l in 0..<model.config.numHiddenLayers {
                for site in LinearSite.allCases {
                    let name = site.name(layer: l) + ".weight"
                    let now = model.parameters[name], start = initial[name]
                    var total = 0.0
                    for i in 0..<now.count { let d = Double(now.data[i] - start.data[i]); total += d * d }
                    norms[name] = total.squareRoot()
                }
            }
            updateNorms = norms
        }
        let devLabels = data.dev.first?.examples.map(\.label) ?? []
        let majority = devLabels.isEmpty ? nil
            : Double(Dictionary(grouping: devLabels, by: { $0 }).values.map(\.count).max() ?? 0) / Double(devLabels.count)
        var result = RunResult(
            settings: c, accuracy: last?.accuracy ?? 0,
            accuracy_matched: c.task == .mnli ? last?.accuracy : nil,
            accuracy_mismatched: last?.accuracyMismatched, f1: last?.f1,
            best_accuracy: best?.element.evaluation.accuracy ?? 0, best_epoch: (best?.offset ?? -1) + 1,
            epsilon_spent: try engine.epsilonSpent(afterSteps: step),
            sigma: isPrivate ? sigma : nil, sample_rate: schedule.sampleRate, steps: step, examples_seen: examplesSeen,
            accountant_assumptions: isPrivate ? engine.accounting.description : nil,
            sampling_note: isPrivate && c.sampling == .shuffled
                ? "shuffled fixed-size batches: the reported ε assumes Poisson sampling and is not a proven bound" : nil,
            head_scale: method.headScale,
            model_integrity: modelIntegrity, wall_seconds: wallSeconds, git_commit: gitCommit(),
            train_data: data.trainDescription, train_examples: data.train.count,
            dev_examples: Dictionary(data.dev.map { ($0.name, $0.examples.count) }, uniquingKeysWith: { a, _ in a }),
            update_norms: updateNorms, epochs_log: epochs, finished: finished,
            audit: try engine.audit.map { audit in
                var outcome = audit.outcome(sigma: sigma, delta: c.delta)
                outcome.claimed_epsilon = try engine.epsilonSpent(afterSteps: step)
                return outcome
            })
        result.dev_majority_share = majority
        result.model_type = model.config.family.rawValue
        result.head_description = HeadInput.describe(configuration.head, family: model.config.family)
        result.parallelism = "\(engine.communicator.description) × \(BLAS.threads) thread\(BLAS.threads == 1 ? "" : "s") each"
        return result
    }

    func partialResult() throws -> RunResult {
        try makeResult(wallSeconds: wallSecondsBefore, finished: false)
    }

    func finish(wallSeconds: Double) throws -> RunResult {
        var result = try makeResult(wallSeconds: wallSeconds, finished: true)
        if configuration.method.isPrivate {
            if engine.isNoised {
                // Every private record states ε spent, σ, q, T, δ and the accountant, within its target, or is not written.
                guard let spent = result.epsilon_spent, spent.isFinite, let sigma = result.sigma, sigma > 0,
                      result.delta != nil, result.accountant != nil, result.steps > 0 else {
                    throw TrainingError("\(tag): a private record needs ε spent, σ, q, T, δ and the accountant: refusing to write it")
                }
                if let target = configuration.epsilon, spent > target + 1e-9 {
                    throw TrainingError("\(tag): ε spent \(spent) exceeds the target \(target): refusing to write the result")
                }
            } else {
                guard engine.allowsZeroNoiseForTesting else { throw TrainingError("\(tag): a private run without noise: refusing to write it") }
                result.privacy_note = "σ = 0 forced by a test: this run is NOT private and claims no ε"
            }
        }
        if exportsModel { try exportModel() }
        try Files.writeAtomically(try recordEncoder().encode(result), to: runDirectory + "/result.json")
        progress("[\(tag)] done: dev accuracy \(format(result.accuracy, 4))"
                 + (result.epsilon_spent.map { spent in
                     configuration.sigmaOverride.map { ", ε spent \(format(spent, 3)) at the given σ \(format($0, 4))" }
                         ?? ", ε spent \(format(spent, 3)) ≤ \(format(configuration.epsilon ?? 0, 2))"
                 } ?? "")
                 + ", \(result.steps) steps, \(result.examples_seen) examples, \(format(wallSeconds, 0)) s")
        return result
    }

    /// The config.json key of an exported model that names the head input it was trained with.
    public static let exportedHeadKey = "rgp_head"

    /// The fine-tuned checkpoint for `rgp evaluate`: RUN_DIR/model/ with config.json, the tokenizer's files (WordPiece
    /// vocab.txt, byte-level BPE vocab.json + merges.txt, or a SentencePiece .model), weights under canonical names.
    func exportModel() throws {
        let fm = FileManager.default
        let directory = runDirectory + "/model", temporary = runDirectory + "/model.tmp"
        try? fm.removeItem(atPath: temporary)
        try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        for name in (try? fm.contentsOfDirectory(atPath: configuration.model)) ?? []
        where ["config.json", "vocab.txt", "vocab.json", "merges.txt"].contains(name) || name.hasSuffix(".model") {
            try fm.copyItem(atPath: configuration.model + "/" + name, toPath: temporary + "/" + name)
        }
        // The head the weights were trained with, so that `rgp evaluate` reads the same input.
        let configPath = temporary + "/config.json"
        if var object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath)))) as? [String: Any] {
            object[Self.exportedHeadKey] = configuration.head.rawValue
            try Files.writeAtomically(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
                                      to: configPath)
        }
        let p = model.parameters
        let bytes = safeTensorsBytes(p.names.map { name in
            (name, p[name].shape, UnsafeBufferPointer(start: p[name].data, count: p[name].count))
        })
        try Files.writeAtomically(Data(bytes), to: temporary + "/model.safetensors")
        try? fm.removeItem(atPath: directory)
        try fm.moveItem(atPath: temporary, toPath: directory)
    }
}

/// Pretty-printed, sorted keys: run.json and result.json diff cleanly.
func recordEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return encoder
}

/// The commit of the working tree the binary runs in (empty when not in a git checkout).
func gitCommit() -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "rev-parse", "HEAD"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return "" }
    process.waitUntilExit()
    return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
}
