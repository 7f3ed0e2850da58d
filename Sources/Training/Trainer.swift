import Foundation
import GLUE
import Numerics
import Privacy
import RGP
import Storage
import Tokenizers
import Transformer

/// Dev-set metrics after an epoch.
public struct Evaluation: Codable, Sendable, Equatable {
    /// Accuracy on the primary dev set (MNLI: matched), in [0, 1].
    public var accuracy: Double
    /// MNLI only, official split: accuracy on dev_mismatched.
    public var accuracyMismatched: Double?
    /// QQP only: F1 of the duplicate class.
    public var f1: Double?
}

/// One line of the per-epoch log.
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var step: Int
    public var examplesSeen: Int
    public var epsilonSpent: Double?
    public var evaluation: Evaluation
    /// Mean training loss over the epoch's steps: computed on private data, NOT differentially private.
    public var trainLossNotPrivate: Double
}

/// Why a run could not start or go on.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The data of one run: training examples and the dev sets it reports.
public struct TaskData {
    public var train: [EncodedExample]
    /// (name, examples): the primary dev set first.
    public var dev: [(name: String, examples: [EncodedExample])]
    public var trainDescription: String

    public init(train: [EncodedExample], dev: [(name: String, examples: [EncodedExample])], trainDescription: String) {
        self.train = train
        self.dev = dev
        self.trainDescription = trainDescription
    }

    /// Loads and tokenizes the task's files under `root` for the chosen split.
    /// With `devOnly`, the training split is not read (evaluation); the first dev set stands in for it.
    public static func load(task: GLUETask, root: String, split: SplitChoice, tokenizer: any Tokenizer, maxLength: Int,
                            maxTrain: Int?, maxDev: Int? = nil, splitsDirectory: String, devOnly: Bool = false) throws -> TaskData {
        func file(_ name: String) throws -> [Example] {
            try GLUELoader.load(task, path: GLUELoader.path(root: root, task: task, file: name)).examples
        }
        var train: [Example], dev: [(String, [Example])], description: String
        switch (split, task) {
        case (.official, _), (.standin, .sst2):
            train = devOnly ? [] : try file(task.trainFile)
            dev = try task.devFiles.map { ($0, try file($0)) }
            description = "\(task.directoryName)/\(task.trainFile)"
        case (.standin, .mnli):
            train = try file("dev_mismatched.tsv")
            dev = [("dev_matched.tsv", try file("dev_matched.tsv"))]
            description = "MNLI/dev_mismatched.tsv (stand-in: no train set offline)"
        case (.standin, .qnli), (.standin, .qqp):
            let all = try file("dev.tsv")
            let trainIndices = try readIndices("\(splitsDirectory)/\(task.rawValue)-train.txt", count: all.count)
            let devIndices = try readIndices("\(splitsDirectory)/\(task.rawValue)-dev.txt", count: all.count)
            train = trainIndices.map { all[$0] }
            dev = [("dev.tsv[held-out 20%]", devIndices.map { all[$0] })]
            description = "\(task.directoryName)/dev.tsv[80% by \(task.rawValue)-train.txt] (stand-in: no train set offline)"
        }
        if devOnly, let first = dev.first { train = Array(first.1.prefix(1)) }
        if let maxDev {
            dev = dev.map { $0.1.count > maxDev ? ($0.0 + ", first \(maxDev)", Array($0.1.prefix(maxDev))) : $0 }
        }
        if let maxTrain, maxTrain < train.count {
            train = Array(train.prefix(maxTrain))
            description += ", first \(maxTrain)"
        }
        return TaskData(train: encodeExamples(train, tokenizer: tokenizer, maxLength: maxLength),
                        dev: dev.map { ($0.0, encodeExamples($0.1, tokenizer: tokenizer, maxLength: maxLength)) },
                        trainDescription: description)
    }

    static func readIndices(_ path: String, count: Int) throws -> [Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TrainingError("\(path): missing split index file (one row index per line)")
        }
        var result: [Int] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            guard let index = Int(line.trimmingCharacters(in: .whitespaces)), index >= 0, index < count else {
                throw TrainingError("\(path):\(n + 1): expected a row index in 0..<\(count), found \"\(line)\"")
            }
            result.append(index)
        }
        return result
    }
}

/// Runs one fine-tuning configuration to completion, resumably.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let runDirectory: String
    public let model: BertModel
    /// The parameters fine-tuning started from (W₀).
    public let initial: BertParameters
    let tokenizer: any Tokenizer
    let data: TaskData
    let classes: Int
    let trainableNames: [String]
    let adam = Adam()
    let groups: [CarrierGroup]
    let groupOfSite: [Int: CarrierGroup]
    public internal(set) var sigma: Double = 0
    public let sampleRate: Double
    public let expectedBatchSize: Double
    public let stepsPerEpoch: Int
    public let totalSteps: Int
    public internal(set) var step = 0
    public internal(set) var examplesSeen = 0
    public internal(set) var epochs: [EpochRecord] = []
    var shuffled: ShuffledSampler?
    var secureRandom: PrivacyRandom?
    var epochLosses: [Double] = []
    var wallSecondsBefore = 0.0
    var lastEpsilon: Double?
    var features: Tensor?  // dphead: frozen pooled features of the training set
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
    /// σ already calibrated by the caller for this run's (ε, q, T, δ, accountant) — the grid runner plans every
    /// cell first; used instead of calibrating again.
    public var calibratedSigma: Double?
    public let accounting: PrivacyAccounting
    public var modelSource: String { configuration.model }

    /// `weights`: the model folder's weights file already parsed (`Checkpoint.weightsFile(in:)`), when one process
    /// trains several runs from the same checkpoint.
    public init(configuration c: TrainingConfiguration, runDirectory: String, data: TaskData, tokenizer: any Tokenizer,
                weights: SafeTensorsFile? = nil) throws {
        self.configuration = c
        self.runDirectory = runDirectory
        self.data = data
        self.tokenizer = tokenizer
        classes = c.task.labels.count
        guard !data.train.isEmpty else { throw TrainingError("no training examples") }
        guard c.batchSize >= 1, c.batchSize <= data.train.count else {
            throw TrainingError("batch size \(c.batchSize) must lie in 1...\(data.train.count) (the training set)")
        }
        if c.method.isPrivate && c.epsilon == nil && c.sigmaOverride == nil {
            throw TrainingError("method \(c.method.rawValue) is private: give --epsilon")
        }
        let checkpoint = try Checkpoint.load(directory: c.model, classes: classes, classifierSeed: c.seed, weights: weights)
        model = BertModel(parameters: checkpoint.parameters)
        initial = BertParameters(config: checkpoint.config, classes: classes)
        for name in initial.names { initial[name].copy(from: checkpoint.parameters[name]) }

        let layout = BertParameters.layout(config: checkpoint.config, classes: classes)
        switch c.method {
        case .full: trainableNames = layout.map(\.name)
        case .rgp, .lowrank: trainableNames = layout.filter { $0.group == .encoderWeights || $0.group == .classifier }.map(\.name)
        case .dpsgd: trainableNames = layout.filter { $0.group != .embeddings }.map(\.name)
        case .dphead: trainableNames = ["classifier.weight", "classifier.bias"]
        }
        var groups: [CarrierGroup] = []
        if c.method.usesCarriers {
            for l in 0..<checkpoint.config.numHiddenLayers {
                let stacks: [[LinearSite]] = c.fusedQKV
                    ? [[.query, .key, .value], [.attentionOutput], [.intermediate], [.output]]
                    : LinearSite.allCases.map { [$0] }
                for members in stacks { groups.append(CarrierGroup(layer: l, members: members, config: checkpoint.config, rank: c.rank)) }
            }
        }
        self.groups = groups
        var map: [Int: CarrierGroup] = [:]
        for g in groups { for s in g.members { map[g.layer * 8 + s.rawValue] = g } }
        groupOfSite = map

        let n = data.train.count
        sampleRate = Double(c.batchSize) / Double(n)
        expectedBatchSize = Double(c.batchSize)
        stepsPerEpoch = Swift.max(1, n / c.batchSize)
        // T = epochs·⌊N/B⌋, so epochs end on whole steps.
        totalSteps = Swift.max(1, Int((c.epochs * Double(stepsPerEpoch)).rounded(.down)))
        accounting = PrivacyAccounting(kind: c.accountant)
        if c.sampling == .shuffled { shuffled = ShuffledSampler(population: n, batchSize: c.batchSize) }
        if !c.seededNoise { secureRandom = PrivacyRandom() }
    }

    // MARK: Run

    /// Trains (or resumes) to the last step, evaluating after every epoch; writes result.json and the fine-tuned
    /// model. Returns the result.
    @discardableResult
    public func run() throws -> RunResult {
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        if let finished = try existingResult() { return finished }
        try prepareRunDirectory()
        let resumed = try restoreState()
        if !resumed { calibrate() }
        if resumed { progress("[\(tag)] resumed at step \(step)/\(totalSteps)") }
        progress("[\(tag)] N \(data.train.count), B \(configuration.batchSize), q \(format(sampleRate, 6)), T \(totalSteps) steps"
                 + (configuration.method.isPrivate ? ", σ \(format(sigma, 4)) for ε \(configuration.epsilon.map { format($0, 2) } ?? "-"), δ \(configuration.delta) (\(accounting.description))" : ""))
        let clock = ContinuousClock(), started = clock.now
        var stepsThisInvocation = 0
        var windowStart = clock.now, windowExamples = 0, lastSave = clock.now
        while step < totalSteps {
            if let stop = stopAfterSteps, stepsThisInvocation >= stop { return try partialResult() }
            let indices = sampleIndices()
            let loss = try trainStep(indices)
            step += 1
            stepsThisInvocation += 1
            examplesSeen += indices.count
            windowExamples += indices.count
            epochLosses.append(loss)
            let elapsed = seconds(clock.now - windowStart)
            let rate = Double(windowExamples) / Swift.max(elapsed, 1e-9)
            let endOfEpoch = step % stepsPerEpoch == 0 || step == totalSteps
            // About twenty progress readings of ε per run (each costs an accountant evaluation), and every epoch end.
            let reading = totalSteps >= 20 && step % (totalSteps / 20) == 0
            if configuration.method.isPrivate && sigma > 0 && (reading || endOfEpoch) {
                lastEpsilon = accounting.epsilon(sigma: sigma, sampleRate: sampleRate, steps: step, delta: configuration.delta)
            }
            if endOfEpoch {
                let evaluation = evaluate()
                let record = EpochRecord(epoch: epochs.count + 1, step: step, examplesSeen: examplesSeen,
                                         epsilonSpent: configuration.method.isPrivate ? lastEpsilon : nil, evaluation: evaluation,
                                         trainLossNotPrivate: epochLosses.reduce(0, +) / Double(Swift.max(1, epochLosses.count)))
                epochs.append(record)
                epochLosses = []
                try appendMetrics(record)
            }
            let remaining = Double(totalSteps - step) * Double(configuration.batchSize) / Swift.max(rate, 1e-9)
            progress("[\(tag)] step \(step)/\(totalSteps) epoch \(format(Double(step) / Double(stepsPerEpoch), 2)) | "
                     + "\(format(rate, 0)) ex/s | ETA \(duration(remaining)) | loss \(format(loss, 4)) (private data, not DP)"
                     + (configuration.method.isPrivate ? " | ε \(lastEpsilon.map { format($0, 3) } ?? "…")/\(format(configuration.epsilon ?? 0, 2))" : "")
                     + (epochs.last.map { " | dev acc \(format($0.evaluation.accuracy, 4))" } ?? ""))
            let due = checkpointEvery.map { step % $0 == 0 } ?? (seconds(clock.now - lastSave) >= checkpointSeconds)
            // The last step needs no resumable state: finish() writes the result and model next, and nothing of an
            // unfinished run is ever published, so a crash here only repeats unpublished steps.
            if (endOfEpoch || due) && step < totalSteps {
                lastSave = clock.now
                wallSecondsBefore += seconds(clock.now - started)
                try saveState()
                wallSecondsBefore -= seconds(clock.now - started)
            }
            if elapsed > 30 { (windowStart, windowExamples) = (clock.now, 0) }
        }
        let wall = wallSecondsBefore + seconds(clock.now - started)
        return try finish(wallSeconds: wall)
    }

    var tag: String { "\(configuration.method.rawValue) \(configuration.task.rawValue)" }

    func calibrate() {
        if let override = configuration.sigmaOverride {
            sigma = override
        } else if configuration.method.isPrivate, let known = calibratedSigma {
            sigma = known
        } else if configuration.method.isPrivate, let epsilon = configuration.epsilon {
            progress("[\(tag)] calibrating σ for ε \(epsilon), δ \(configuration.delta), q \(format(sampleRate, 6)), T \(totalSteps)…")
            sigma = accounting.sigma(targetEpsilon: epsilon, sampleRate: sampleRate, steps: totalSteps, delta: configuration.delta)
        }
    }

    // MARK: Steps

    func derivedSeed(_ salt: UInt64) -> UInt64 {
        var mixer = SplitMix64(seed: configuration.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &* 0xD1B5_4A32_D192_ED03 &+ salt)
        return mixer.next()
    }

    /// The privacy generator for this step: the run's secure one, or a per-step seeded one in tests.
    func withPrivacyRandom<T>(_ body: (inout PrivacyRandom) -> T) -> T {
        if var secure = secureRandom {
            defer { secureRandom = secure }
            return body(&secure)
        }
        var seeded = PrivacyRandom(testingSeed: derivedSeed(3))
        return body(&seeded)
    }

    func sampleIndices() -> [Int] {
        if var sampler = shuffled {
            defer { shuffled = sampler }
            if configuration.method.isPrivate { return withPrivacyRandom { sampler.next(using: &$0) } }
            var generator = Xoshiro256(seed: derivedSeed(4))
            return sampler.next(using: &generator)
        }
        let sampler = PoissonSampler(population: data.train.count, rate: sampleRate)
        return withPrivacyRandom { sampler.sample(using: &$0) }
    }

    var learningRate: Float { Float(configuration.learningRate * (1 - Double(step) / Double(totalSteps))) }

    /// One logical batch; returns the mean training loss (not private).
    func trainStep(_ indices: [Int]) throws -> Double {
        switch configuration.method {
        case .full: return fullStep(indices)
        case .rgp, .lowrank: return carrierStep(indices)
        case .dphead: return headStep(indices)
        case .dpsgd: return dpsgdStep(indices)
        }
    }

    lazy var fullGradients = BertParameters(config: model.config, classes: classes)

    /// Training mode with this step's dropout seed, and the step's length-bucketed micro-batches.
    func beginStep(_ indices: [Int]) -> [[Int]] {
        model.training = true
        model.dropoutGenerator = Xoshiro256(seed: derivedSeed(2))
        return microBatches(indices, of: data.train, tokenBudget: configuration.microBatchTokens)
    }

    func fullStep(_ indices: [Int]) -> Double {
        fullGradients.zero()
        var lossSum = 0.0
        for micro in beginStep(indices) {
            let (loss, dlogits) = forwardLoss(micro, scale: 1 / Float(Swift.max(1, indices.count)))
            lossSum += loss
            model.backward(dlogits: dlogits, gradients: fullGradients)
        }
        adam.beginStep()
        for name in trainableNames {
            adam.update(name, parameter: model.parameters[name], gradient: fullGradients[name].data, learningRate: learningRate)
        }
        return lossSum / Double(Swift.max(1, indices.count))
    }

    /// Forward on a micro-batch; returns the summed loss and dlogits = scale·(p − onehot).
    func forwardLoss(_ micro: [Int], scale: Float) -> (Double, [Float]) {
        let batch = makeBatch(micro, of: data.train, padId: tokenizer.padId)
        let logits = model.forward(batch)
        let labels = micro.map { Int32(data.train[$0].label) }
        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        let loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: classes,
                                        probabilities: &probabilities)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: classes,
                              scale: scale, into: &dlogits)
        return (Double(loss), dlogits)
    }

    lazy var headSum = Tensor(zeros: [classes * model.config.hiddenSize + classes])
    var headPerExample = Tensor(zeros: [0])
    var clippedCount = 0, normCount = 0

    /// Per-example head gradients [b, C·H + C] from dlogits and the head's input rows.
    func headGradients(dlogits: [Float], input: UnsafePointer<Float>, examples b: Int) -> PerExampleGroup {
        let h = model.config.hiddenSize, size = classes * h + classes
        if headPerExample.count < b * size { headPerExample = Tensor(zeros: [b * size]) }
        for i in 0..<b {
            let row = headPerExample.data + i * size, x = input + i * h
            for c in 0..<classes {
                let g = dlogits[i * classes + c]
                for j in 0..<h { row[c * h + j] = g * x[j] }
                row[classes * h + c] = g
            }
        }
        return PerExampleGroup(gradients: headPerExample.data, size: size)
    }

    var clip: Double { configuration.method.isPrivate ? configuration.clip : .infinity }

    /// Clips the per-example groups jointly and adds them into `sums`.
    func clipAndAccumulate(_ perExample: [PerExampleGroup], into sums: [UnsafeMutablePointer<Float>], examples b: Int) {
        let factors: [Float]
        if clip.isFinite {
            let norms = Clipping.jointNorms(perExample, batch: b)
            factors = Clipping.factors(norms: norms, clip: clip)
            clippedCount += norms.filter { $0 > clip }.count
            normCount += b
        } else {
            factors = [Float](repeating: 1, count: b)
        }
        for (group, sum) in zip(perExample, sums) { Clipping.clippedSum(group, factors: factors, into: sum, accumulate: true) }
    }

    /// Noise (private methods) and division by the expected batch size.
    func finalize(_ sums: [(UnsafeMutablePointer<Float>, Int)]) {
        if configuration.method.isPrivate {
            withPrivacyRandom { generator in
                for (sum, count) in sums {
                    GaussianMechanism.privatize(sum: sum, count: count, sigma: sigma, clip: clip,
                                                expectedBatchSize: expectedBatchSize, generator: &generator)
                }
            }
        } else {
            // The mechanism's arithmetic without noise, so σ = 0 gives bit-identical updates.
            let inverse = 1 / expectedBatchSize
            for (sum, count) in sums { for i in 0..<count { sum[i] = Float(Double(sum[i]) * inverse) } }
        }
    }

    var updateBuffers: [String: Tensor] = [:]
    lazy var emptyGradients = BertParameters(config: model.config, classes: classes, groups: [])

    func carrierStep(_ indices: [Int]) -> Double {
        var carrierRandom = Xoshiro256(seed: derivedSeed(1))
        for g in groups {
            g.computeCarriers(parameters: model.parameters, initial: initial, source: configuration.carrierSource,
                              iterations: configuration.powerIterations, generator: &carrierRandom)
            g.sum.zero()
        }
        headSum.zero()
        var lossSum = 0.0
        let headScale = Float(configuration.headScale)
        for micro in beginStep(indices) {
            let (loss, dlogits) = forwardLoss(micro, scale: 1)
            lossSum += loss
            let ws = model.workspace!
            let b = ws.batchSize, t = ws.length
            for g in groups { g.beginMicroBatch(examples: b, tokens: b * t) }
            model.backward(dlogits: dlogits, gradients: emptyGradients) { [groupOfSite] site, layer, x, delta, _ in
                groupOfSite[layer * 8 + site.rawValue]?.accumulate(site: site, input: x, outputGradient: delta, examples: b, length: t)
            }
            var head = headGradients(dlogits: dlogits, input: ws.headInput.data, examples: b)
            head.scale = headScale
            let perExample = groups.map { PerExampleGroup(gradients: $0.perExample.data, size: $0.perExampleSize) } + [head]
            clipAndAccumulate(perExample, into: groups.map(\.sum.data) + [headSum.data], examples: b)
        }
        finalize(groups.map { ($0.sum.data, $0.sum.count) } + [(headSum.data, headSum.count)])
        adam.beginStep()
        let lr = learningRate
        for g in groups {
            let updates = g.members.map { site in updateBuffer(site.name(layer: g.layer) + ".weight") }
            g.reconstruct(configuration.reconstruction, into: updates)
            for (site, update) in zip(g.members, updates) {
                let name = site.name(layer: g.layer) + ".weight"
                adam.update(name, parameter: model.parameters[name], gradient: update.data, learningRate: lr)
            }
        }
        updateHead(lr)
        return lossSum / Double(Swift.max(1, indices.count))
    }

    /// A reused ΔW buffer per reparametrized matrix (reconstruction overwrites it), so a step allocates nothing.
    func updateBuffer(_ name: String) -> Tensor {
        if let buffer = updateBuffers[name] { return buffer }
        let buffer = Tensor(zeros: model.parameters[name].shape)
        updateBuffers[name] = buffer
        return buffer
    }

    func updateHead(_ lr: Float) {
        let h = model.config.hiddenSize
        adam.update("classifier.weight", parameter: model.parameters["classifier.weight"], gradient: headSum.data, learningRate: lr)
        adam.update("classifier.bias", parameter: model.parameters["classifier.bias"], gradient: headSum.data + classes * h, learningRate: lr)
    }

    /// Frozen pooled features of every training example (evaluation mode), computed once.
    func trainingFeatures() -> Tensor {
        if let features { return features }
        let h = model.config.hiddenSize
        let result = Tensor(zeros: [data.train.count, h])
        model.training = false
        for micro in microBatches(Array(data.train.indices), of: data.train, tokenBudget: configuration.microBatchTokens) {
            model.forward(makeBatch(micro, of: data.train, padId: tokenizer.padId))
            let pooled = model.workspace!.pooled
            for (row, index) in micro.enumerated() { (result.data + index * h).update(from: pooled.data + row * h, count: h) }
        }
        features = result
        return result
    }

    func headStep(_ indices: [Int]) -> Double {
        let features = trainingFeatures(), h = model.config.hiddenSize, b = indices.count
        headSum.zero()
        guard b > 0 else {
            finalize([(headSum.data, headSum.count)])
            adam.beginStep()
            updateHead(learningRate)
            return 0
        }
        let inputs = Tensor(zeros: [b, h]), logits = Tensor(zeros: [b, classes])
        for (row, index) in indices.enumerated() { (inputs.data + row * h).update(from: features.data + index * h, count: h) }
        Linear.forward(inputs.data, weight: model.parameters["classifier.weight"].data, bias: model.parameters["classifier.bias"].data,
                       into: logits.data, rows: b, inputs: h, outputs: classes)
        let labels = indices.map { Int32(data.train[$0].label) }
        var probabilities = [Float](repeating: 0, count: b * classes), dlogits = probabilities
        let loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: b, classes: classes, probabilities: &probabilities)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: b, classes: classes, scale: 1, into: &dlogits)
        let head = headGradients(dlogits: dlogits, input: inputs.data, examples: b)
        clipAndAccumulate([head], into: [headSum.data], examples: b)
        finalize([(headSum.data, headSum.count)])
        adam.beginStep()
        updateHead(learningRate)
        return Double(loss) / Double(b)
    }

    lazy var dpsgdGradients = BertParameters(config: model.config, classes: classes,
                                             groups: [.encoderWeights, .encoderBiases, .layerNorms, .pooler, .classifier])

    /// DP-SGD with ghost clipping: a first backward for per-example norms, a second with each example's loss
    /// weighted by its clip factor, which yields Σ_i c_i·g_i exactly.
    func dpsgdStep(_ indices: [Int]) -> Double {
        dpsgdGradients.zero()
        var lossSum = 0.0
        for micro in beginStep(indices) {
            let (loss, dlogits) = forwardLoss(micro, scale: 1)
            lossSum += loss
            let norms = perExampleGradientSquares(model: model, dlogits: dlogits, classes: classes).map { $0.squareRoot() }
            let factors = Clipping.factors(norms: norms, clip: clip)
            clippedCount += norms.filter { $0 > clip }.count
            normCount += norms.count
            var scaled = dlogits
            for i in 0..<factors.count { for k in 0..<classes { scaled[i * classes + k] *= factors[i] } }
            model.backward(dlogits: scaled, gradients: dpsgdGradients)
        }
        finalize(dpsgdGradients.names.map { (dpsgdGradients[$0].data, dpsgdGradients[$0].count) })
        adam.beginStep()
        for name in dpsgdGradients.names {
            adam.update(name, parameter: model.parameters[name], gradient: dpsgdGradients[name].data, learningRate: learningRate)
        }
        return lossSum / Double(Swift.max(1, indices.count))
    }

    // MARK: Evaluation

    /// Accuracy (and F1 for QQP, mismatched accuracy for official MNLI) on the dev sets.
    public func evaluate() -> Evaluation {
        func predictions(_ examples: [EncodedExample]) -> [Int] {
            var result = [Int](repeating: 0, count: examples.count)
            model.training = false
            for micro in microBatches(Array(examples.indices), of: examples, tokenBudget: configuration.microBatchTokens) {
                let logits = model.forward(makeBatch(micro, of: examples, padId: tokenizer.padId))
                for (row, index) in micro.enumerated() {
                    var best = 0
                    for c in 1..<classes where logits.data[row * classes + c] > logits.data[row * classes + best] { best = c }
                    result[index] = best
                }
            }
            return result
        }
        let primary = data.dev[0].examples, predicted = predictions(primary), labels = primary.map(\.label)
        var evaluation = Evaluation(accuracy: Metrics.accuracy(predictions: predicted, labels: labels))
        if configuration.task == .qqp { evaluation.f1 = Metrics.f1(predictions: predicted, labels: labels) }
        if data.dev.count > 1 {
            let second = data.dev[1].examples
            evaluation.accuracyMismatched = Metrics.accuracy(predictions: predictions(second), labels: second.map(\.label))
        }
        return evaluation
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

func format(_ value: Double, _ digits: Int) -> String {
    if !value.isFinite { return "\(value)" }
    return String(format: "%.\(digits)f", value)
}

func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
}

extension Trainer {
    /// Runs `count` training steps on the fixed batch `indices` (after one warm-up step) and returns the median
    /// seconds per step; parameters change as in training. For benchmarks.
    public func benchmarkSteps(_ count: Int, indices: [Int]) throws -> Double {
        if configuration.method.isPrivate && sigma == 0 { sigma = configuration.sigmaOverride ?? 1 }
        _ = try trainStep(indices)
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<count {
            let start = clock.now
            _ = try trainStep(indices)
            samples.append(seconds(clock.now - start))
        }
        return samples.sorted()[samples.count / 2]
    }
}
