import Distributed
import Foundation
import Numerics
import Privacy
import Storage
import Tokenizers
import Transformer

/// Why a run could not start or go on.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs one configuration to completion, resumably: the loop (sample → method step → ε reading → evaluation at epoch
/// ends → checkpoint) and nothing else. The method (Methods/) does the step; the privacy engine samples, clips,
/// noises and accounts; Checkpointing.swift saves, restores and writes the records.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let runDirectory: String
    public let context: MethodContext
    public let method: any TrainingMethodPlugin
    public let evaluator: Evaluator
    public var model: BertModel { context.model }
    /// Every parameter as fine-tuning started (W₀), read again from the checkpoint: the trainer itself keeps only what
    /// its method needs (`context.initial`). For tests and tools that compare a run's end with its start.
    public func initialParameters() throws -> BertParameters {
        try Self.loadCheckpoint(configuration, weights: weights).parameters
    }
    /// The weights file the trainer was given instead of its checkpoint folder's own, if any.
    let weights: SafeTensorsFile?
    /// Whether this trainer's parameters are shared with the other thread ranks of its process (rank 0 writes them).
    public let sharesParameters: Bool
    public var engine: PrivacyEngine { context.engine }
    public var schedule: Schedule { context.schedule }
    public var data: TaskData { context.data }
    public var sigma: Double { engine.sigma }
    /// Steps taken.
    public internal(set) var step = 0
    public internal(set) var examplesSeen = 0
    public internal(set) var epochs: [EpochRecord] = []
    var epochLosses: [Double] = []
    var wallSecondsBefore = 0.0
    var lastEpsilon: Double?
    /// Called with each progress line.
    public var progress: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Save a resumable checkpoint every this many steps, if set (tests), else every `checkpointSeconds` of wall time;
    /// always at every epoch end.
    public var checkpointEvery: Int?
    public var checkpointSeconds = 300.0
    /// Stop after this many steps of this invocation (tests simulate a killed run with it).
    public var stopAfterSteps: Int?
    /// Write the fine-tuned checkpoint to RUN_DIR/model/ when the run finishes (`rgp evaluate` reads it). Grid cells
    /// skip it unless asked: a MiniLM checkpoint is 90 MB, and the tables need only the records.
    public var exportsModel = true
    /// Tests only: let a private method run with σ = 0 (its record then says it is not private and claims no ε).
    public var allowsZeroNoiseForTesting: Bool {
        get { engine.allowsZeroNoiseForTesting }
        set { engine.allowsZeroNoiseForTesting = newValue }
    }
    /// σ already calibrated by the caller (the grid planner), used when its key is this run's.
    public var knownSigma: (key: PrivacyEngine.CalibrationKey, sigma: Double)?

    /// The checkpoint a trainer for `c` starts from (the head initialised from the run's seed where the file has none).
    /// Thread ranks load it once and pass it to every rank's trainer as `sharedParameters`.
    public static func loadCheckpoint(_ c: TrainingConfiguration, weights: SafeTensorsFile? = nil) throws -> Checkpoint {
        try Checkpoint.load(directory: c.model, classes: c.task.labels.count, classifierSeed: c.seed, weights: weights)
    }

    /// `weights`: the model folder's weights file already parsed (`Checkpoint.weightsFile(in:)`), when one process
    /// trains several runs from the same checkpoint. `communicator`: this trainer's rank among the job's (MPI
    /// processes, or a `ThreadGroup`'s threads).
    /// `sharedParameters`: for thread ranks, the checkpoint from `loadCheckpoint`, one for all the ranks of the process;
    /// rank 0 alone writes its parameters (updates, restores) and holds Adam's moments, and every step ends in a
    /// collective, so no rank reads them mid-update. Without it the trainer loads its own copy (an MPI rank must).
    public init(configuration c: TrainingConfiguration, runDirectory: String, data: TaskData, tokenizer: any Tokenizer,
                weights: SafeTensorsFile? = nil, communicator: any Communicator = Job.communicator,
                sharedParameters: Checkpoint? = nil) throws {
        self.configuration = c
        self.runDirectory = runDirectory
        let classes = c.task.labels.count
        try c.validate()
        guard !data.train.isEmpty else { throw TrainingError("no training examples") }
        guard c.batchSize >= 1, c.batchSize <= data.train.count else {
            throw TrainingError("batch size \(c.batchSize) must lie in 1...\(data.train.count) (the training set)")
        }
        let checkpoint = try sharedParameters ?? Self.loadCheckpoint(c, weights: weights)
        guard checkpoint.parameters.classes == classes else {
            throw TrainingError("\(c.model): shared parameters with \(checkpoint.parameters.classes) classes for a \(classes)-class task")
        }
        sharesParameters = sharedParameters != nil && communicator.size > 1
        try checkCompatibility(tokenizer: tokenizer, config: checkpoint.config, maxLength: c.maxLength, model: c.model)
        modelIntegrity = checkpoint.integrity
        if c.head == .pooler && checkpoint.config.poolerTrained == false && !checkpoint.config.family.isRoberta {
            throw TrainingError("\(c.model): its pooler was never trained (config.json: pooler_trained false, a sentence-transformers "
                                + "checkpoint): use --head cls (the authors' head) or --head mean")
        }
        let model = BertModel(parameters: checkpoint.parameters)
        model.headInput = c.head
        model.firstTokenLastLayer = true  // the same logits and gradients; a method that needs every row turns it off
        // W₀ of the encoder's matrices: for carriers from the weights' history (every rank), and for the record's
        // update norms ‖W − W₀‖ (rank 0, which writes it). Embeddings, biases and the head are never needed again.
        var initial: BertParameters?
        if c.carrierSource == .history || communicator.isRoot {
            let start = BertParameters(config: checkpoint.config, classes: classes, groups: .encoderWeights)
            for name in start.names { start[name].copy(from: checkpoint.parameters[name]) }
            initial = start
        }
        self.weights = weights
        let isPrivate = c.method.isPrivate
        let noise: PrivacyEngine.NoiseChoice = c.sigmaOverride.map { .noiseMultiplier($0, target: isPrivate ? c.epsilon : nil) }
            ?? (isPrivate ? c.epsilon.map { .targetEpsilon($0) } ?? .none : .none)
        let engine: PrivacyEngine
        do {
            engine = try PrivacyEngine(schedule: c.schedule(trainSize: data.train.count), isPrivate: isPrivate, clip: c.clip,
                                       delta: c.delta, noise: noise, accountant: c.accountant, seed: c.seed,
                                       seededRandomness: c.seededNoise, allowsLargeDelta: c.allowLargeDelta)
        } catch let error as PrivacyEngine.RefusedError {
            throw TrainingError("\(c.method.rawValue): \(error.description)")
        }
        engine.communicator = communicator
        if let canaries = c.auditCanaries { try engine.enableAudit(canaries: canaries) }
        context = MethodContext(configuration: c, model: model, initial: initial, data: data, tokenizer: tokenizer, engine: engine)
        method = try c.method.plugin.init(context: context)
        if sharesParameters && !communicator.isRoot { context.adam.appliesUpdates = false }
        evaluator = Evaluator(model: model, tokenizer: tokenizer, task: c.task, microBatchTokens: c.microBatchTokens)
    }

    var tag: String { "\(configuration.method.rawValue) \(configuration.task.rawValue)" }
    /// How the checkpoint's weights were verified (recorded).
    let modelIntegrity: String
    /// The exclusive lock on the run directory, held while `run()` runs.
    var lock: RunDirectoryLock?

    /// Trains (or resumes) to the last step, evaluating after every epoch; writes result.json and the fine-tuned
    /// model. Returns the result.
    @discardableResult
    ///
    /// Under P processes (MPI) every rank runs this loop on its share of each batch; rank 0 alone locks the run
    /// directory, calibrates σ, prints, evaluates and writes, and the others follow its decisions (finished or not, σ).
    /// A rank that throws must end the job (the commands call `Communicator.abort`), since the others wait for it.
    public func run() throws -> RunResult {
        let communicator = engine.communicator, isRoot = communicator.isRoot
        if !isRoot { progress = { _ in } }
        if isRoot {
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
            lock = try RunDirectoryLock(directory: runDirectory)
        }
        defer { lock = nil }
        let finished = isRoot ? try existingResult() : nil
        if communicator.broadcast([finished == nil ? 0 : 1])[0] == 1 {
            if let finished { return finished }
            guard let data = FileManager.default.contents(atPath: runDirectory + "/result.json"),
                  let result = try? JSONDecoder().decode(RunResult.self, from: data) else {
                throw TrainingError("rank \(communicator.rank): \(runDirectory)/result.json is finished on rank 0 but unreadable here")
            }
            return result
        }
        if isRoot { try prepareRunDirectory() }
        let resumed = try restoreState()
        if resumed {
            progress("[\(tag)] resumed at step \(step)/\(schedule.totalSteps)")
        } else if isRoot {
            do {
                try engine.calibrate(known: knownSigma) { [progress, tag] in progress("[\(tag)] \($0)") }
            } catch {
                throw TrainingError("\(tag): \(error)")
            }
        }
        engine.shareSigma()
        if communicator.size > 1 {
            progress("[\(tag)] \(communicator.description): each clips its share of every batch; rank 0 samples, adds the noise once and writes")
        }
        let c = configuration
        progress("[\(tag)] N \(data.train.count), B \(c.batchSize), q \(format(schedule.sampleRate, 6)), T \(schedule.totalSteps) steps"
                 + (c.method.isPrivate ? ", σ \(format(sigma, 4)) for ε \(c.epsilon.map { format($0, 2) } ?? "-"), δ \(c.delta) (\(engine.accounting.description))" : ""))
        let clock = ContinuousClock(), started = clock.now
        var stepsThisInvocation = 0
        var windowStart = clock.now, windowExamples = 0, lastSave = clock.now
        let totalSteps = schedule.totalSteps
        while step < totalSteps {
            if let stop = stopAfterSteps, stepsThisInvocation >= stop { return try partialResult() }
            let indices = engine.sample(step: step)
            let loss = takeStep(indices, step: step)
            step += 1
            stepsThisInvocation += 1
            examplesSeen += indices.count
            windowExamples += indices.count
            epochLosses.append(loss)
            let elapsed = seconds(clock.now - windowStart)
            let rate = Double(windowExamples) / Swift.max(elapsed, 1e-9)
            let endOfEpoch = schedule.endsEpoch(afterStep: step)
            // About twenty progress readings of ε per run (each costs an accountant evaluation), and every epoch end.
            let reading = totalSteps >= 20 && step % (totalSteps / 20) == 0
            if isRoot && (reading || endOfEpoch) { lastEpsilon = try engine.epsilonSpent(afterSteps: step) ?? lastEpsilon }
            if endOfEpoch && !isRoot {
                epochLosses = []
                _ = engine.takeNormStatistics()
            }
            if endOfEpoch && communicator.size > 1 {
                // Every rank applies the same released update, so the parameters must agree bit for bit; a rank that
                // drifted (a bug, or different kernels) stops the job here rather than training a different model.
                guard communicator.agree(on: parameterDigest()) else {
                    throw TrainingError("rank \(communicator.rank): parameters differ from rank 0's after step \(step): stopping the job")
                }
            }
            if endOfEpoch && isRoot {
                let record = EpochRecord(epoch: epochs.count + 1, step: step, examplesSeen: examplesSeen,
                                         epsilonSpent: c.method.isPrivate ? lastEpsilon : nil, evaluation: evaluator.evaluate(data.dev),
                                         trainLossNotPrivate: epochLosses.reduce(0, +) / Double(Swift.max(1, epochLosses.count)))
                epochs.append(record)
                epochLosses = []
                try appendMetrics(record)
                let share = record.evaluation.predictedShare.map { " | predicted class shares " + $0.map { format($0, 3) }.joined(separator: "/") } ?? ""
                let norms = engine.takeNormStatistics().map {
                    " | clipped \(format(100 * $0.clippedFraction, 1))% of per-example norms, median ‖g‖ \(format($0.medianNorm, 4)) (private data, not DP)"
                } ?? ""
                progress("[\(tag)] epoch \(record.epoch): dev accuracy \(format(record.evaluation.accuracy, 4))\(share)\(norms)")
            }
            let remaining = Double(totalSteps - step) * Double(c.batchSize) / Swift.max(rate, 1e-9)
            progress("[\(tag)] step \(step)/\(totalSteps) epoch \(format(Double(step) / Double(schedule.stepsPerEpoch), 2)) | "
                     + "\(format(rate, 0)) ex/s | ETA \(duration(remaining)) | loss \(format(loss, 4)) (private data, not DP)"
                     + (c.method.isPrivate ? " | ε \(lastEpsilon.map { format($0, 3) } ?? "…")/\(format(c.epsilon ?? 0, 2))" : "")
                     + (epochs.last.map { " | dev acc \(format($0.evaluation.accuracy, 4))" } ?? ""))
            let due = checkpointEvery.map { step % $0 == 0 } ?? (seconds(clock.now - lastSave) >= checkpointSeconds)
            // The last step needs no resumable state: finish() writes the result and model next, and nothing of an
            // unfinished run is ever published, so a crash here only repeats unpublished steps.
            if isRoot && (endOfEpoch || due) && step < totalSteps {
                lastSave = clock.now
                wallSecondsBefore += seconds(clock.now - started)
                try saveState()
                wallSecondsBefore -= seconds(clock.now - started)
            }
            if elapsed > 30 { (windowStart, windowExamples) = (clock.now, 0) }
        }
        let wall = wallSecondsBefore + seconds(clock.now - started)
        return isRoot ? try finish(wallSeconds: wall) : try makeResult(wallSeconds: wall, finished: true)
    }

    /// One step of the method on this rank's share of `indices`; the summed loss over ranks. The sum is a collective
    /// that rank 0 joins only after its update, so no rank starts the next step on parameters being written (with
    /// shared parameters) or before every rank has updated.
    public func takeStep(_ indices: [Int], step: Int) -> Double {
        engine.communicator.sum(method.step(indices, step: step))
    }

    /// A digest of every trained parameter's bits (ranks compare theirs).
    func parameterDigest() -> UInt64 {
        var digest = Digest()
        for name in method.trainableNames {
            let p = model.parameters[name]
            digest.add(p.data, bytes: p.count * MemoryLayout<Float>.stride)
        }
        return digest.value
    }
}

/// Refuses a tokenizer or a maximum length that would index past the model's tables: every token id must have an
/// embedding row, and every position a position embedding.
public func checkCompatibility(tokenizer: any Tokenizer, config: BertConfig, maxLength: Int, model: String) throws {
    guard tokenizer.vocabularySize <= config.vocabSize else {
        throw TrainingError("\(model): the tokenizer has \(tokenizer.vocabularySize) tokens but the model only \(config.vocabSize) "
                            + "embedding rows (vocab_size): the vocabulary file does not belong to this checkpoint")
    }
    guard maxLength >= 1, maxLength <= config.maxSequenceLength else {
        let offset = config.positionOffset == 0 ? "" : " (\(config.maxPositionEmbeddings) rows less RoBERTa's offset of \(config.positionOffset))"
        throw TrainingError("--max-length \(maxLength) exceeds the \(config.maxSequenceLength) positions\(offset) of \(model)")
    }
    if case .bert = tokenizer.template, config.typeVocabSize < 2 {
        throw TrainingError("\(model): a BERT-style tokenizer ([CLS] A [SEP] B [SEP], segment ids 0 and 1) with a model of "
                            + "\(config.typeVocabSize) token type (model_type \(config.family.rawValue)): the tokenizer does not belong to this checkpoint")
    }
}

/// An exclusive `flock` on RUN_DIR/.lock for as long as the value lives: a second process training into the same
/// directory stops at once instead of interleaving checkpoints.
final class RunDirectoryLock {
    let descriptor: Int32

    init(directory: String) throws {
        let path = directory + "/.lock"
        descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw TrainingError("\(path): cannot create the run's lock file (\(String(cString: strerror(errno))))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw TrainingError("\(directory) is in use by another rgp process (its lock \(path) is held): wait for it, or use another --out")
        }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
