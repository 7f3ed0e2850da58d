import Distributed
import Foundation
import GLUE
import Storage
import Tokenizers
import Training
import Transformer

/// One part of a grid split across machines: cells whose position p (0-based) has p mod count = index − 1.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    /// Parses "i/n" with 1 ≤ i ≤ n.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 1, i <= n else {
            throw ReproductionError("--shard: expected i/n with 1 ≤ i ≤ n (e.g. 2/8), got \"\(text)\"")
        }
        (index, count) = (i, n)
    }

    public func contains(position: Int) -> Bool { position % count == index - 1 }
    public var description: String { "\(index)/\(count)" }
}

/// Where a profile's runs, records and tables live.
public struct GridLayout: Sendable {
    /// Run directories (checkpoints, state; never committed): runs/<profile>/<cell id>/.
    public var runsDirectory: String
    /// Tables and plot: results/<profile>/.
    public var resultsDirectory: String
    /// Small run records (committed): results/<profile>/runs/<cell id>.{result.json,metrics.jsonl,run.json}.
    public var recordsDirectory: String { resultsDirectory + "/runs" }

    public init(runsDirectory: String, resultsDirectory: String) {
        self.runsDirectory = runsDirectory
        self.resultsDirectory = resultsDirectory
    }
}

/// Runs the cells of a profile one after another, skipping finished ones and resuming interrupted ones; copies each
/// finished cell's record into results/<profile>/runs/ and rewrites the tables after every cell.
public final class GridRunner {
    public let profile: Profile
    public let layout: GridLayout
    public let glueRoot: String
    public let splitsDirectory: String
    public var progress: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Keep each cell's fine-tuned checkpoint in its run directory (off by default: the tables need only the records).
    public var savesModels = false
    var tokenizer: (any Tokenizer)?
    var weightsCache: (model: String, file: SafeTensorsFile)?
    var dataCache: [String: TaskData] = [:]

    public init(profile: Profile, layout: GridLayout, glueRoot: String, splitsDirectory: String) {
        self.profile = profile
        self.layout = layout
        self.glueRoot = glueRoot
        self.splitsDirectory = splitsDirectory
    }

    /// The checkpoint's parsed weights, read once for all the cells that start from it.
    func weights(for c: TrainingConfiguration) throws -> SafeTensorsFile {
        if let cached = weightsCache, cached.model == c.model { return cached.file }
        let file = try Checkpoint.weightsFile(in: c.model)
        weightsCache = (c.model, file)
        return file
    }

    func data(for c: TrainingConfiguration) throws -> TaskData {
        let key = "\(c.task.rawValue)|\(c.maxLength)|\(c.maxTrain ?? -1)|\(c.maxDev ?? -1)"
        if let cached = dataCache[key] { return cached }
        if tokenizer == nil { tokenizer = try loadTokenizer(directory: profile.model) }
        let loaded = try TaskData.load(task: c.task, root: glueRoot, split: c.split, tokenizer: tokenizer!, maxLength: c.maxLength,
                                       maxTrain: c.maxTrain, maxDev: c.maxDev, splitsDirectory: splitsDirectory)
        dataCache = [key: loaded]  // one task at a time: the grid is ordered by task
        return loaded
    }

    /// Runs the planned cells; returns the ids of the cells that failed, each with its error.
    /// Under P processes (mpirun) every rank runs every cell together (each cell's batches split across them); rank 0
    /// alone prints and writes records and tables, and a failing cell ends the job (the other ranks wait for it).
    public func run(_ planned: [PlannedCell], throughput: ThroughputAssumption) -> [(String, String)] {
        let communicator = Job.communicator
        if !communicator.isRoot { progress = { _ in } }
        var failures: [(String, String)] = []
        let clock = ContinuousClock(), started = clock.now
        var flopsDone = 0.0
        let flopsTotal = planned.filter { !$0.status.isDone }.reduce(0) { $0 + $1.totalFLOPs }
        for (position, p) in planned.enumerated() {
            let cell = p.cell
            let tag = "[\(position + 1)/\(planned.count) \(cell.id)]"
            if p.status == .recorded {
                progress("\(tag) recorded in \(layout.recordsDirectory); skipped")
                continue
            }
            do {
                let runDirectory = "\(layout.runsDirectory)/\(cell.id)"
                let trainer = try Trainer(configuration: cell.configuration, runDirectory: runDirectory,
                                          data: try data(for: cell.configuration), tokenizer: tokenizer!,
                                          weights: try weights(for: cell.configuration))
                trainer.progress = { [progress] line in progress("\(tag) \(line)") }
                trainer.exportsModel = savesModels
                if let key = p.calibrationKey, let sigma = p.sigma { trainer.knownSigma = (key, sigma) }
                try trainer.run()
                if communicator.isRoot {
                    try copyRecord(cell)
                    try writeTables()
                }
            } catch {
                let text = "\(error)"
                if communicator.size > 1 {
                    FileHandle.standardError.write(Data("rank \(communicator.rank) of \(communicator.size): \(tag) failed: \(text)\n".utf8))
                    communicator.abort(code: 1)
                }
                progress("\(tag) FAILED: \(text)")
                failures.append((cell.id, text))
            }
            if !p.status.isDone {
                flopsDone += p.totalFLOPs
                let elapsed = Double((clock.now - started).components.seconds)
                let rate = flopsDone / Swift.max(elapsed, 1)
                let left = (flopsTotal - flopsDone) / Swift.max(rate, 1)
                progress(String(format: "grid %@: %d/%d cells, %@ elapsed, about %@ left (%.1f GFLOP/s sustained; the plan assumed %.0f)",
                                profile.name, position + 1, planned.count, duration(elapsed), duration(left), rate / 1e9, throughput.gflops))
            }
        }
        return failures
    }

    /// Copies a finished run's small files (result, per-epoch metrics, configuration) into the records folder.
    public func copyRecord(_ cell: Cell) throws {
        let source = "\(layout.runsDirectory)/\(cell.id)"
        try FileManager.default.createDirectory(atPath: layout.recordsDirectory, withIntermediateDirectories: true)
        for (file, suffix) in [("result.json", "result.json"), ("metrics.jsonl", "metrics.jsonl"), ("run.json", "run.json")] {
            guard let data = FileManager.default.contents(atPath: source + "/" + file) else { continue }
            try Files.writeAtomically(data, to: "\(layout.recordsDirectory)/\(cell.id).\(suffix)")
        }
    }

    /// Renders table.md, table.csv, published.csv, table.tex, details.md and accuracy-vs-epsilon.svg from the records.
    @discardableResult
    public func writeTables() throws -> ResultsGrid {
        try Reproduction.writeTables(profile: profile, layout: layout)
    }
}

/// Renders a profile's tables and plot from its records folder.
@discardableResult
public func writeTables(profile: Profile, layout: GridLayout) throws -> ResultsGrid {
    let grid = try ResultsGrid(profile: profile, recordsDirectory: layout.recordsDirectory)
    let renderer = TableRenderer(grid: grid)
    try FileManager.default.createDirectory(atPath: layout.resultsDirectory, withIntermediateDirectories: true)
    let outputs: [(String, String)] = [
        ("table.md", renderer.markdown()), ("table.csv", renderer.csv()), ("published.csv", renderer.publishedCSV()),
        ("table.tex", renderer.latex()), ("details.md", renderer.details()), ("accuracy-vs-epsilon.svg", accuracyPlotSVG(grid)),
    ]
    for (name, text) in outputs {
        try Files.writeAtomically(Data(text.utf8), to: layout.resultsDirectory + "/" + name)
    }
    return grid
}
