import ArgumentParser
import Distributed
import MPIBackend
import Foundation
import GLUE
import Reproduction
import Training

/// `rgp reproduce`: the grid of a profile, its plan and cost, its tables and plot.
struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a profile's grid (experiments/<profile>.json): plan with σ and cost first, then every cell, then tables and plot.",
        discussion: """
        Finished cells are skipped and interrupted ones resume (run directories under runs/<profile>/). Each finished cell's \
        record is copied to results/<profile>/runs/, and results/<profile>/ gets table.md, table.csv, table.tex, \
        published.csv, details.md and accuracy-vs-epsilon.svg. --shard i/n runs every n-th cell (for job arrays); \
        --tables-only rebuilds the tables from the committed records. A reproduction runs every cell itself and overwrites \
        the records (git diff shows what changed); --skip-recorded instead counts a cell whose finished record is already \
        in results/<profile>/runs as done (grids assembled from several machines or sittings).
        """
    )
    @Option(help: "Profile name (experiments/<name>.json) or path.") var profile: String = "offline"
    @Option(help: "Folder of the profiles.") var experiments: String = "experiments"
    @Option(help: "GLUE root (default: $RGP_GLUE_DIR).") var data: String?
    @Option(help: "Folder of the stand-in split index files.") var splitsDirectory: String = "experiments/splits"
    @Option(help: "Run directories (default runs/<profile>).") var runs: String?
    @Option(help: "Tables and records (default results/<profile>).") var results: String?
    @Option(help: "Run one part of the grid: i/n.") var shard: String?
    @Option(help: "Run only this task's cells (repeatable; e.g. re-running one column). Tables still cover the whole grid.")
    var task: [GLUETask] = []
    @Option(help: "Run only this method's cells (repeatable; e.g. re-running one row). Tables still cover the whole grid.")
    var method: [TrainingMethod] = []
    @Option(help: "Run only the private cells at this ε (repeatable). Tables still cover the whole grid.")
    var epsilon: [Double] = []
    @Flag(help: "Print the plan (σ per cell, cost estimate) and stop.") var planOnly = false
    @Flag(help: "Only rebuild the tables and plot from the records.") var tablesOnly = false
    @Flag(help: "Count cells with a finished record in results/<profile>/runs as done (grids from several machines).") var skipRecorded = false
    @Flag(help: "Keep each cell's fine-tuned checkpoint in its run directory (for rgp evaluate; 90 MB per MiniLM cell).") var saveModels = false
    @Option(help: "GFLOP/s the machine sustains with --threads cores, for the cost estimate (default: measured here).") var gflops: Double?
    @Option(help: "Cores per process (under mpirun: per rank): elementwise workers and split GEMMs (Parallel.use).") var threads: Int = 2
    @Option(help: "With --plan-only: each cell's wall time when it runs across this many nodes (one MPI rank per core).")
    var nodes: Int?
    @Option(help: "With --nodes: cores per node.") var coresPerNode: Int?

    func validate() throws {
        guard (nodes == nil) == (coresPerNode == nil) else { throw ValidationError("--nodes and --cores-per-node go together") }
        if let nodes, let coresPerNode, nodes < 1 || coresPerNode < 1 {
            throw ValidationError("--nodes and --cores-per-node must be at least 1, got \(nodes) and \(coresPerNode)")
        }
    }

    /// The cluster a plan's wall times are for, if asked.
    var cluster: ClusterLayout? {
        guard let nodes, let coresPerNode else { return nil }
        return ClusterLayout(nodes: nodes, coresPerNode: coresPerNode)
    }

    func run() throws {
        do { try execute() } catch let error as ReproductionError { throw ValidationError(error.description) }
    }

    func execute() throws {
        let profile = try Profile.load(self.profile, experimentsDirectory: experiments)
        let layout = GridLayout(runsDirectory: runs ?? "runs/\(profile.name)", resultsDirectory: results ?? "results/\(profile.name)")
        if tablesOnly {
            let grid = try writeTables(profile: profile, layout: layout)
            print("\(layout.resultsDirectory): tables and plot from \(grid.records.count) of \(grid.cells.count) cells"
                  + (grid.missing.isEmpty ? "" : " (not yet run: \(grid.missing.count))")
                  + (grid.stale.isEmpty ? "" : "; \(grid.stale.count) records left out, made with other settings: \(grid.stale.joined(separator: ", "))"))
            return
        }
        try useThreads(threads)
        // Under mpirun every rank runs the grid's cells together; rank 0 prints and writes.
        if !planOnly { MPIBackend.startIfLaunched() }
        let communicator = Job.communicator
        let shard = try self.shard.map(Shard.init(parsing:))
        let root = data ?? ProcessInfo.processInfo.environment["RGP_GLUE_DIR"]
        var throughput = ThroughputAssumption.measuredHere
        if let gflops { throughput = ThroughputAssumption(gflops: gflops, source: "given by --gflops", cores: threads) }
        if let unknown = task.first(where: { !profile.tasks.contains($0) }) {
            throw ValidationError("--task \(unknown.rawValue): the profile's tasks are \(profile.tasks.map(\.rawValue).joined(separator: ", "))")
        }
        let cells = profile.cells().enumerated().filter { shard?.contains(position: $0.offset) ?? true }.map(\.element)
            .filter { (task.isEmpty || task.contains($0.task)) && (method.isEmpty || method.contains($0.method)) }
            .filter { epsilon.isEmpty || $0.configuration.epsilon.map(epsilon.contains) == true }
        var planner = Planner(profile: profile, glueRoot: root, splitsDirectory: splitsDirectory,
                              runsDirectory: layout.runsDirectory, recordsDirectory: layout.recordsDirectory)
        planner.skipRecorded = skipRecorded
        // Rank 0 calibrates and prints; the other ranks take σ from rank 0 when each cell starts.
        let planned = planner.plan(cells, calibrate: communicator.isRoot) { line in
            if communicator.isRoot { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        if communicator.isRoot { print(renderPlan(planned, profile: profile, throughput: throughput, shard: shard?.description, cluster: cluster)) }
        if planOnly { return }
        try checkInputs(profile: profile, root: root)
        let runner = GridRunner(profile: profile, layout: layout, glueRoot: root ?? "", splitsDirectory: splitsDirectory)
        runner.savesModels = saveModels
        let failures = runner.run(planned, throughput: throughput)
        guard communicator.isRoot else { return }
        let grid = try runner.writeTables()
        print("\(layout.resultsDirectory): table.md, table.csv, table.tex, published.csv, details.md, accuracy-vs-epsilon.svg "
              + "(\(grid.records.count) of \(grid.cells.count) cells recorded)")
        if !failures.isEmpty {
            throw ValidationError("\(failures.count) cell(s) failed:\n" + failures.map { "  \($0.0): \($0.1)" }.joined(separator: "\n"))
        }
    }

    /// Fails early, before any cell starts, when the checkpoint or the data are missing.
    func checkInputs(profile: Profile, root: String?) throws {
        guard FileManager.default.fileExists(atPath: profile.model + "/config.json") else {
            let name = profile.model.split(separator: "/").last.map(String.init) ?? profile.model
            throw ValidationError("\(profile.model)/config.json not found: convert the checkpoint first (bash data-scripts/fetch_model.sh \(name))")
        }
        guard let root else {
            throw ValidationError("no GLUE data folder: pass --data GLUE_ROOT or set RGP_GLUE_DIR (offline: ../shared/glue)")
        }
        for task in profile.tasks {
            let files: [String]
            switch (profile.split, task) {
            case (.official, _), (.standin, .sst2): files = [task.trainFile] + task.devFiles
            case (.standin, .mnli): files = ["dev_matched.tsv", "dev_mismatched.tsv"]
            case (.standin, _): files = ["dev.tsv"]
            }
            for file in files {
                let path = "\(root)/\(task.directoryName)/\(file)"
                if !FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + ".zst") {
                    throw ValidationError("\(path) not found: the \(profile.name) profile needs it"
                                          + (profile.split == .official ? " (download GLUE: python3 data-scripts/download_glue.py --out \(root))" : ""))
                }
            }
        }
    }
}
