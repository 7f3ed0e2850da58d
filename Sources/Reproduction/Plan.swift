import Foundation
import GLUE
import Privacy
import Training
import Transformer

/// Published train/dev sizes (GLUE; train sizes as in the authors' code), used when a file is absent.
public enum PublishedSizes {
    public static func train(_ task: GLUETask) -> Int {
        switch task {
        case .sst2: 67_349
        case .qnli: 104_743
        case .qqp: 363_849
        case .mnli: 392_702
        }
    }

    /// Published rows of one of a task's files.
    public static func rows(_ task: GLUETask, file: String) -> Int {
        switch (task, file) {
        case (_, task.trainFile): train(task)
        case (.mnli, "dev_matched.tsv"): 9_815
        case (.mnli, "dev_mismatched.tsv"): 9_832
        case (.sst2, _): 872
        case (.qnli, _): 5_463
        case (.qqp, _): 40_430
        case (.mnli, _): 9_815
        }
    }

    /// Mean tokens per example with the uncased BERT WordPiece vocabulary, max length 128 (measured on
    /// ../shared/glue with HF BertTokenizerFast; the train and dev sets of a task have similar lengths except SST-2,
    /// whose train set is phrases).
    public static func meanTokens(_ task: GLUETask, train: Bool) -> Double {
        switch task {
        case .sst2: train ? 13.3 : 25.2
        case .qnli: 51.0
        case .qqp: 30.6
        case .mnli: 39.9
        }
    }
}

/// Where a cell stands.
public enum CellStatus: String, Sendable {
    /// Finished in the runs folder (its record is copied again, which is idempotent).
    case finished
    /// Not in the runs folder, but its finished record is in results/<profile>/runs (another machine's shard, an
    /// earlier sitting) and the planner was asked to skip recorded cells.
    case recorded
    case partial, pending

    /// Whether the cell needs no more training.
    public var isDone: Bool { self == .finished || self == .recorded }
}

/// A cell with its derived privacy and cost figures.
public struct PlannedCell: Sendable {
    public var cell: Cell
    public var trainSize: Int
    public var trainSizeSource: String
    public var devSize: Int
    /// q, T and steps per epoch (the same value the trainer derives for this cell).
    public var schedule: Schedule
    public var sigma: Double?
    /// The calibration that produced `sigma` (the trainer reuses σ only for an equal key).
    public var calibrationKey: PrivacyEngine.CalibrationKey?
    public var trainFLOPs: Double
    public var evalFLOPs: Double
    public var status: CellStatus

    public var sampleRate: Double { schedule.sampleRate }
    public var steps: Int { schedule.totalSteps }
    public var evaluations: Int { schedule.evaluations }
    public var expectedExamples: Double { Double(steps) * Double(cell.configuration.batchSize) }
    public var totalFLOPs: Double { trainFLOPs + evalFLOPs }
}

/// The checkpoint's shape for cost estimates: its config.json, or, when the checkpoint is not downloaded yet, the
/// published shape of the checkpoint the folder is named after (bert-base-uncased's for an unknown name).
func planningConfig(model: String) -> (config: BertConfig, source: String) {
    if let config = try? BertConfig.load(path: model + "/config.json") { return (config, model + "/config.json") }
    let name = URL(fileURLWithPath: model).lastPathComponent
    if let known = BertConfig.publishedShapes[name] {
        return (known, "\(name)'s published shape (\(model)/config.json not found)")
    }
    return (BertConfig.bertBase, "bert-base-uncased's published shape (\(model)/config.json not found)")
}

/// Makes the plan of a profile: sizes, q, T, σ per cell (calibrated with the profile's accountant), and cost.
public struct Planner {
    public var profile: Profile
    public var glueRoot: String?
    public var splitsDirectory: String
    public var runsDirectory: String
    public var recordsDirectory: String
    /// Treat a finished record in `recordsDirectory` as done (`--skip-recorded`): for grids assembled from several
    /// machines or sittings. Off by default, so a reproduction on a fresh clone runs every cell itself.
    public var skipRecorded = false
    var sigmaCache: [PrivacyEngine.CalibrationKey: Double] = [:]

    public init(profile: Profile, glueRoot: String?, splitsDirectory: String, runsDirectory: String, recordsDirectory: String) {
        self.profile = profile
        self.glueRoot = glueRoot
        self.splitsDirectory = splitsDirectory
        self.runsDirectory = runsDirectory
        self.recordsDirectory = recordsDirectory
    }

    /// Training-set size of a task under the profile's split: counted from the files when present.
    public func trainSize(_ task: GLUETask) -> (Int, String) {
        func rows(_ file: String) -> Int? {
            guard let root = glueRoot, let data = FileManager.default.contents(atPath: "\(root)/\(task.directoryName)/\(file)") else {
                return nil
            }
            var lines = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            if let last = data.last, last != 0x0A { lines += 1 }
            return lines - 1  // header
        }
        func lines(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).map { $0.split(separator: "\n").count }
        }
        let source = SplitFiles(task: task, split: profile.split, splitsDirectory: splitsDirectory).train
        if let indexFile = source.indexFile { return lines(indexFile).map { ($0, indexFile) } ?? (0, "\(indexFile) missing") }
        return rows(source.file).map { ($0, "\(task.directoryName)/\(source.file)") }
            ?? (PublishedSizes.rows(task, file: source.file), "published size (\(task.directoryName)/\(source.file) not found)")
    }

    /// Dev examples one evaluation reads (published sizes; the stand-ins' index files).
    func devSize(_ task: GLUETask) -> Int {
        SplitFiles(task: task, split: profile.split, splitsDirectory: splitsDirectory).dev.reduce(0) { total, source in
            total + (source.indexFile.map { path in
                (try? String(contentsOfFile: path, encoding: .utf8)).map { $0.split(separator: "\n").count } ?? 0
            } ?? PublishedSizes.rows(task, file: source.file))
        }
    }

    public func status(_ cell: Cell) -> CellStatus {
        func isFinished(_ path: String) -> Bool {
            guard let data = FileManager.default.contents(atPath: path) else { return false }
            return (try? JSONDecoder().decode(RunResult.self, from: data))?.finished ?? false
        }
        let directory = "\(runsDirectory)/\(cell.id)"
        if isFinished(directory + "/result.json") { return .finished }
        if FileManager.default.fileExists(atPath: directory + "/state") || FileManager.default.fileExists(atPath: directory + "/state.old") {
            return .partial
        }
        // A record counts only as a run of the cell as the profile now defines it (a changed profile re-runs its cells).
        if skipRecorded, let data = FileManager.default.contents(atPath: "\(recordsDirectory)/\(cell.id).result.json"),
           let record = try? JSONDecoder().decode(RunResult.self, from: data), cell.isFinishedRun(record) {
            return .recorded
        }
        return .pending
    }

    /// Plans every cell; `calibrate` computes σ for the private cells (seconds per distinct (ε, q, T)).
    public mutating func plan(_ cells: [Cell], calibrate: Bool, progress: (String) -> Void = { _ in }) -> [PlannedCell] {
        let flops = FLOPModel(config: planningConfig(model: profile.model).config)
        var planned: [PlannedCell] = []
        for cell in cells {
            let c = cell.configuration
            var (n, source) = trainSize(c.task)
            if let maxTrain = c.maxTrain, maxTrain < n { n = maxTrain; source += ", first \(maxTrain)" }
            // A missing split file plans as one example (the run itself will refuse it).
            let schedule = Schedule(trainSize: Swift.max(n, 1), batchSize: Swift.min(c.batchSize, Swift.max(n, 1)),
                                    epochs: c.epochs, sampling: c.sampling)
            var sigma: Double?, key: PrivacyEngine.CalibrationKey?
            if c.method.isPrivate, let epsilon = c.epsilon {
                let k = PrivacyEngine.CalibrationKey(targetEpsilon: epsilon, delta: c.delta, schedule: schedule, accountant: c.accountant)
                key = k
                if let cached = sigmaCache[k] {
                    sigma = cached
                } else if calibrate {
                    progress("calibrating σ for \(cell.id): ε \(formatNumber(epsilon)), q \(String(format: "%.6f", k.sampleRate)), T \(k.steps)…")
                    do {
                        let value = try PrivacyEngine.noiseMultiplier(for: k)
                        sigmaCache[k] = value
                        sigma = value
                    } catch {
                        progress("\(cell.id): \(error)")
                    }
                }
            }
            let steps = schedule.totalSteps
            let trainTokens = PublishedSizes.meanTokens(c.task, train: !(profile.split == .standin && c.task != .sst2))
            let devTokens = PublishedSizes.meanTokens(c.task, train: false)
            let facts = c.method.facts
            let examples = facts.trainsOnFrozenFeatures ? Double(n) : Double(steps) * Double(c.batchSize)
            let trainFLOPs = examples * trainTokens * flops.forwardPerToken(length: trainTokens) * facts.forwardPassesPerExample
            let devSets = profile.split == .standin || c.task != .mnli ? 1 : 2
            let dev = c.maxDev.map { Swift.min($0 * devSets, devSize(c.task)) } ?? devSize(c.task)
            let evalFLOPs = Double(schedule.evaluations) * Double(dev) * devTokens * flops.forwardPerToken(length: devTokens)
            planned.append(PlannedCell(cell: cell, trainSize: n, trainSizeSource: source, devSize: dev, schedule: schedule,
                                       sigma: sigma, calibrationKey: key, trainFLOPs: trainFLOPs, evalFLOPs: evalFLOPs,
                                       status: status(cell)))
        }
        return planned
    }
}

/// The sustained throughput the cost estimate assumes, in GFLOP/s of the model arithmetic counted above, and why.
public struct ThroughputAssumption: Sendable {
    public var gflops: Double
    public var source: String
    /// Cores that sustained it (for core-hours).
    public var cores: Int

    public init(gflops: Double, source: String, cores: Int) {
        self.gflops = gflops
        self.source = source
        self.cores = cores
    }

    /// Measured on the development machine (2 cores): the offline profile's cells, total counted FLOPs over total
    /// wall time (see README, "Reproducing the tables").
    public static let measuredHere = ThroughputAssumption(
        gflops: 52, source: "sustained by the offline grid on 2 cores here: 0.439 PFLOP counted in 2.32 h of cell wall time over its 28 cells (2026-11-30)", cores: 2)
}

/// A cluster a plan estimates wall times for: every cell runs as one MPI job across all its cores (one rank per core).
public struct ClusterLayout: Sendable {
    public var nodes: Int
    public var coresPerNode: Int
    /// Throughput per rank relative to one process alone (communication, stragglers), measured here with 2 ranks on
    /// one node (`rgp bench workload` under mpirun); across nodes it is an assumption, not a measurement.
    public var scalingEfficiency: Double
    public var source: String

    public init(nodes: Int, coresPerNode: Int, scalingEfficiency: Double = ClusterLayout.measuredEfficiency,
                source: String = ClusterLayout.measuredSource) {
        self.nodes = nodes
        self.coresPerNode = coresPerNode
        self.scalingEfficiency = scalingEfficiency
        self.source = source
    }

    /// 2 ranks × 1 thread over 1 rank × 1 thread, SST-2 RGP workload on this 2-core machine: median 1.88× of 7
    /// interleaved rounds (results/bench/mpi-workload.md), so 0.94 per rank.
    public static let measuredEfficiency = 0.94
    public static let measuredSource = "2 ranks on one 2-core machine here gave 1.88× one rank, median of 7 rounds; across nodes an assumption, not measured"

    public var cores: Int { nodes * coresPerNode }

    /// Seconds for `flops` at `perCoreGFLOPs` on every core, scaled by the efficiency.
    public func seconds(flops: Double, perCoreGFLOPs: Double) -> Double {
        flops / (perCoreGFLOPs * 1e9 * Double(cores) * scalingEfficiency)
    }
}

/// The plan as text: one line per cell, then totals and the compute estimate.
public func renderPlan(_ planned: [PlannedCell], profile: Profile, throughput: ThroughputAssumption, shard: String?,
                       cluster: ClusterLayout? = nil) -> String {
    var lines: [String] = []
    let shape = planningConfig(model: profile.model)
    lines.append("profile \(profile.name): \(profile.description)")
    lines.append("model \(profile.model) (\(shape.config.numHiddenLayers) layers, hidden \(shape.config.hiddenSize), from \(shape.source)); "
                 + "split \(profile.split.rawValue); seeds \(profile.seeds.map(String.init).joined(separator: ", ")); "
                 + "δ \(profile.delta); accountant \(profile.accountant.rawValue)" + (shard.map { "; shard \($0)" } ?? ""))
    let authorsColumn = !profile.publishedSigmas.isEmpty
    let perCore = throughput.gflops / Double(throughput.cores)
    let clusterColumn = cluster.map { ["wall on \($0.nodes)×\($0.coresPerNode)"] } ?? []
    let header = ["cell", "N", "B", "q", "epochs", "T", "examples", "lr", "C", "σ"] + (authorsColumn ? ["σ authors"] : []) + ["PFLOP"]
        + clusterColumn + ["status"]
    var table: [[String]] = [header]
    var sigmaChecks: [String] = []
    for p in planned {
        let c = p.cell.configuration
        let authors = profile.publishedSigma(for: c)
        if let authors, let sigma = p.sigma {
            sigmaChecks.append(String(format: "σ check: %@ σ %.4f beside the authors' %.4f (difference %.4f; %@)", p.cell.id, sigma,
                                      authors.sigma, abs(sigma - authors.sigma), authors.citation))
        }
        let authorsCell = authorsColumn ? [authors.map { String(format: "%.4f", $0.sigma) } ?? ""] : []
        table.append([p.cell.id, "\(p.trainSize)", "\(c.batchSize)", String(format: "%.5f", p.sampleRate), formatNumber(c.epochs),
                      "\(p.steps)", c.method.facts.trainsOnFrozenFeatures ? "\(p.trainSize) (features) + \(Int(p.expectedExamples))" : "\(Int(p.expectedExamples))",
                      String(format: "%g", c.learningRate), c.method.isPrivate ? formatNumber(c.clip) : "-",
                      p.sigma.map { String(format: "%.4f", $0) } ?? (c.method.isPrivate ? "?" : "-")] + authorsCell
                     + [String(format: "%.4f", p.totalFLOPs / 1e15)]
                     + (cluster.map { [duration($0.seconds(flops: p.totalFLOPs, perCoreGFLOPs: perCore))] } ?? [])
                     + [p.status.rawValue])
    }
    let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
    for row in table {
        lines.append(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
            .joined(separator: "  "))
    }
    lines += sigmaChecks
    let total = planned.reduce(0) { $0 + $1.totalFLOPs }
    let remaining = planned.filter { !$0.status.isDone }.reduce(0) { $0 + $1.totalFLOPs }
    let hours = { (flops: Double) in flops / (throughput.gflops * 1e9) / 3600 }
    let time = { (flops: Double) -> String in
        let h = hours(flops)
        return h >= 1 ? String(format: "%.1f h", h) : String(format: "%.0f min", (h * 60).rounded(.up))
    }
    lines.append(String(format: "%d cells (%d finished); %.2f PFLOP of model arithmetic in all, %.2f PFLOP still to run",
                        planned.count, planned.filter { $0.status.isDone }.count, total / 1e15, remaining / 1e15))
    lines.append(String(format: "estimate at %.0f GFLOP/s (%@): %@ for the whole grid, %@ still to run",
                        throughput.gflops, throughput.source, time(total), time(remaining)))
    if hours(total) > 48 {
        lines.append(String(format: "  = %.0f machine-days like this one, or about %.0fk core-hours at %.0f GFLOP/s per core; "
                            + "the largest cell alone is %.0f core-hours. Split it with --shard i/n (experiments/slurm-paper.sh).",
                            hours(total) / 24, hours(total) * Double(throughput.cores) / 1000, throughput.gflops / Double(throughput.cores),
                            hours(planned.map(\.totalFLOPs).max() ?? 0) * Double(throughput.cores)))
    }
    if let cluster {
        let total = cluster.seconds(flops: planned.reduce(0) { $0 + $1.totalFLOPs }, perCoreGFLOPs: perCore)
        let largest = cluster.seconds(flops: planned.map(\.totalFLOPs).max() ?? 0, perCoreGFLOPs: perCore)
        lines.append(String(format: "on %d nodes × %d cores, every cell one MPI job over all %d cores (one rank per core, "
                            + "--threads 1) at %.1f GFLOP/s per core × efficiency %.2f (%@): %@ for the whole grid cell after "
                            + "cell; the largest cell %@. Cells are independent: k such allocations side by side divide the grid's time by k.",
                            cluster.nodes, cluster.coresPerNode, cluster.cores, perCore, cluster.scalingEfficiency, cluster.source,
                            duration(total), duration(largest)))
    }
    return lines.joined(separator: "\n")
}
