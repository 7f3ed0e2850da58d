import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GLUE
import Privacy
import Reproduction
import Testing
import Training

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func profile(_ json: String) throws -> Profile {
    try Profile.decode(Data(json.utf8), path: "test.json")
}

let minimalProfile = """
{"name": "t", "description": "d", "model": "m", "split": "standin", "tasks": ["sst2", "mnli"], "seeds": [0, 1],
 "delta": 1e-5, "accountant": "rdp",
 "rows": [{"method": "full"}, {"method": "rgp", "epsilons": [1, 8]}],
 "settings": [
   {"source": "all", "lr": 0.001, "batch_size": 10, "clip": 0.5},
   {"task": "sst2", "source": "sst2", "batch_size": 20, "epochs": 2},
   {"method": "full", "source": "full", "lr": 0.0002},
   {"task": "sst2", "method": "rgp", "source": "sst2 rgp", "lr": 0.003}
 ]}
"""

/// A finished run record with the fields the tables read.
func record(task: GLUETask, method: TrainingMethod, epsilon: Double?, seed: UInt64, accuracy: Double, f1: Double? = nil) throws -> RunResult {
    var json: [String: Any] = [
        "schema": 1, "task": task.rawValue, "method": method.rawValue, "model": "models/all-MiniLM-L6-v2", "seed": seed,
        "accuracy": accuracy, "best_accuracy": accuracy, "best_epoch": 1, "best_accuracy_note": "",
        "sample_rate": 0.01, "steps": 67, "examples_seen": 66_900, "sampling": method.isPrivate ? "poisson" : "shuffled",
        "batch_size": 1000, "epochs": 1, "lr": 0.003, "max_length": 128, "seeded_noise": false, "wall_seconds": 600,
        "git_commit": "", "train_data": "\(task.directoryName)/train.tsv", "train_examples": 67_349, "split": "standin",
        "epochs_log": [], "finished": true,
    ]
    if let epsilon {
        json["epsilon"] = epsilon
        json["epsilon_spent"] = epsilon * 0.999
        json["delta"] = 1e-5
        json["sigma"] = 0.8
        json["accountant"] = "prv"
        json["accountant_assumptions"] = "PRV (test)"
        json["clip"] = 0.1
    }
    if task == .mnli { json["accuracy_matched"] = accuracy }
    if let f1 { json["f1"] = f1 }
    return try JSONDecoder().decode(RunResult.self, from: JSONSerialization.data(withJSONObject: json))
}

@Suite struct ProfileTests {
    @Test func committedProfilesLoad() throws {
        for name in ["paper", "paper-roberta", "paper-roberta-large", "offline", "smoke"] {
            let p = try Profile.load(name, experimentsDirectory: repositoryRoot + "/experiments")
            #expect(p.name == name)
            #expect(!p.cells().isEmpty)
            for cell in p.cells() { #expect(!cell.sources.isEmpty) }
        }
    }

    @Test func layersApplyInOrderAndMatchTaskAndMethod() throws {
        let cells = try profile(minimalProfile).cells()
        // 2 tasks × (1 + 2) rows × 2 seeds, ordered task, row, ε, seed.
        #expect(cells.count == 12)
        #expect(cells.map(\.id).prefix(6) == ["sst2-full-seed0", "sst2-full-seed1", "sst2-rgp-eps1-seed0", "sst2-rgp-eps1-seed1",
                                              "sst2-rgp-eps8-seed0", "sst2-rgp-eps8-seed1"])
        let sst2Full = cells[0].configuration, sst2RGP = cells[4].configuration, mnliRGP = cells[10].configuration
        #expect(sst2Full.batchSize == 20 && sst2Full.learningRate == 2e-4 && sst2Full.epochs == 2 && sst2Full.epsilon == nil)
        #expect(sst2Full.sampling == .shuffled)
        #expect(sst2RGP.batchSize == 20 && sst2RGP.learningRate == 3e-3 && sst2RGP.epsilon == 8 && sst2RGP.sampling == .poisson)
        #expect(mnliRGP.batchSize == 10 && mnliRGP.learningRate == 1e-3 && mnliRGP.epochs == 30 && mnliRGP.seed == 0)
        #expect(mnliRGP.clip == 0.5 && mnliRGP.accountant == .rdp && mnliRGP.split == .standin && mnliRGP.delta == 1e-5)
        #expect(cells[4].sources == ["all", "sst2", "sst2 rgp"])
    }

    @Test("a settings layer may name lists of tasks and methods (the pair tasks' private rows); an empty list is refused")
    func layersMatchLists() throws {
        let layer = "{\"task\": [\"mnli\"], \"method\": [\"rgp\", \"dpsgd\"], \"source\": \"lists\", \"batch_size\": 77}"
        let json = minimalProfile.replacingOccurrences(of: "\"lr\": 0.003}\n ]}", with: "\"lr\": 0.003},\n   " + layer + "\n ]}")
        #expect(json != minimalProfile)
        let cells = try profile(json).cells()
        let mnliRGP = try #require(cells.first { $0.id == "mnli-rgp-eps8-seed0" })
        let mnliFull = try #require(cells.first { $0.id == "mnli-full-seed0" })
        let sst2RGP = try #require(cells.first { $0.id == "sst2-rgp-eps8-seed0" })
        #expect(mnliRGP.configuration.batchSize == 77 && mnliRGP.sources.last == "lists")
        #expect(mnliFull.configuration.batchSize == 10 && sst2RGP.configuration.batchSize == 20)
        let empty = json.replacingOccurrences(of: "[\"rgp\", \"dpsgd\"]", with: "[]")
        #expect(throws: (any Error).self) { try profile(empty) }
    }

    @Test("a row may run on some tasks only and with its own seeds; the table row adds them up")
    func rowTasksAndSeeds() throws {
        let json = minimalProfile.replacingOccurrences(
            of: "{\"method\": \"rgp\", \"epsilons\": [1, 8]}",
            with: "{\"method\": \"rgp\", \"epsilons\": [8], \"tasks\": [\"sst2\"], \"seeds\": [0, 1, 2]}, "
                + "{\"method\": \"rgp\", \"epsilons\": [8], \"tasks\": [\"mnli\"], \"seeds\": [0]}")
        let ids = try profile(json).cells().map(\.id)
        #expect(ids == ["sst2-full-seed0", "sst2-full-seed1", "sst2-rgp-eps8-seed0", "sst2-rgp-eps8-seed1", "sst2-rgp-eps8-seed2",
                        "mnli-full-seed0", "mnli-full-seed1", "mnli-rgp-eps8-seed0"])
        let foreign = json.replacingOccurrences(of: "\"tasks\": [\"mnli\"]", with: "\"tasks\": [\"qqp\"]")
        #expect(throws: ReproductionError.self) { try profile(foreign) }
        let overlapping = json.replacingOccurrences(of: "\"tasks\": [\"mnli\"]", with: "\"tasks\": [\"sst2\"]")
        #expect(throws: ReproductionError.self) { try profile(overlapping) }  // sst2-rgp-eps8-seed0 twice
    }

    /// The offline SST-2 RGP cell is exactly the configuration of `rgp-sst2 --split standin --method rgp --epsilon 8
    /// --batch-size 1000 --epochs 1 --clip 0.5 --lr 1e-3 --head cls --lr-schedule polynomial`, so runs started by hand
    /// resume under the grid.
    @Test func offlineCellMatchesTheCommandLine() throws {
        let p = try Profile.load("offline", experimentsDirectory: repositoryRoot + "/experiments")
        let cell = try #require(p.cells().first { $0.id == "sst2-rgp-eps8-seed0" })
        var expected = TrainingConfiguration.authorsDefaults(task: .sst2, method: .rgp, model: "models/all-MiniLM-L6-v2")
        expected.split = .standin
        expected.epsilon = 8
        expected.batchSize = 1000
        expected.epochs = 1
        expected.clip = 0.5
        expected.learningRate = 1e-3
        expected.head = .cls
        expected.lrSchedule = .polynomial
        #expect(cell.configuration == expected)
        // Two seeds where the claims rest on differences between rows: SST-2's RGP rows and RGP (N.P.).
        let ids = Set(p.cells().map(\.id))
        #expect(ids.isSuperset(of: ["sst2-rgp-eps1-seed1", "sst2-rgp-eps2-seed1", "sst2-rgp-eps8-seed1", "sst2-lowrank-seed1"]))
        #expect(!ids.contains("qnli-rgp-eps8-seed1") && ids.contains("qnli-rgp-eps8-seed0"))
    }

    @Test func badProfilesNameTheProblem() throws {
        func message(_ json: String) -> String {
            do { _ = try profile(json); return "" } catch { return "\(error)" }
        }
        let unknown = minimalProfile.replacingOccurrences(of: "\"epochs\": 2", with: "\"epoch\": 2")
        #expect(message(unknown).contains("test.json: settings[1].epoch: unknown key"))
        let noEpsilons = minimalProfile.replacingOccurrences(of: "{\"method\": \"rgp\", \"epsilons\": [1, 8]}", with: "{\"method\": \"rgp\"}")
        #expect(message(noEpsilons).contains("rows[1] (rgp) is private: expected \"epsilons\""))
        let wrongType = minimalProfile.replacingOccurrences(of: "\"batch_size\": 20", with: "\"batch_size\": \"20\"")
        #expect(message(wrongType).contains("test.json: settings[1].batch_size: expected Int"))
        let negative = minimalProfile.replacingOccurrences(of: "\"clip\": 0.5", with: "\"clip\": -1")
        #expect(message(negative).contains("settings[0].clip must be positive"))
        let badMethod = minimalProfile.replacingOccurrences(of: "{\"method\": \"full\"}", with: "{\"method\": \"fullest\"}")
        #expect(message(badMethod).contains("test.json: rows[0].method"))
    }
}

@Suite struct ShardTests {
    @Test func shardsPartitionTheGrid() throws {
        let count = 28
        var seen = [Int](repeating: 0, count: count)
        for i in 1...5 {
            let shard = try Shard(parsing: "\(i)/5")
            for p in 0..<count where shard.contains(position: p) { seen[p] += 1 }
        }
        #expect(seen.allSatisfy { $0 == 1 })
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            #expect(throws: ReproductionError.self) { try Shard(parsing: bad) }
        }
    }

    @Test("paper-roberta mirrors the authors' README: B 2000, C 10, 50 epochs, classic RDP; SST-2 ε 8 gets their σ 1.1015 (±1e-3)")
    func paperRobertaSigma() throws {
        let p = try Profile.load("paper-roberta", experimentsDirectory: repositoryRoot + "/experiments")
        #expect(p.accountant == .rdpClassic)
        let sst2 = try #require(p.cells().first { $0.id == "sst2-rgp-eps8-seed0" })
        var planner = Planner(profile: p, glueRoot: nil, splitsDirectory: repositoryRoot + "/experiments/splits",
                              runsDirectory: "/nonexistent", recordsDirectory: "/nonexistent")
        let planned = try #require(planner.plan([sst2], calibrate: true).first)
        let c = planned.cell.configuration
        #expect(c.batchSize == 2000 && c.clip == 10 && c.epochs == 50 && c.learningRate == 3e-4 && planned.steps == 1650)
        let authors = try #require(p.publishedSigma(for: c))
        let sigma = try #require(planned.sigma)
        #expect(abs(sigma - authors.sigma) <= 1e-3, "σ \(sigma) vs the authors' \(authors.sigma)")
        // The same cell under the tight conversion needs less noise: the accountant choice is what reproduces theirs.
        let tight = try PrivacyAccounting(kind: .rdp).sigma(targetEpsilon: 8, sampleRate: planned.sampleRate, steps: 1650, delta: 1e-5)
        #expect(tight < sigma - 0.01)
        let text = renderPlan([planned], profile: p, throughput: .measuredHere, shard: nil)
        #expect(text.contains("σ authors") && text.contains("beside the authors' 1.1015"))
    }

    @Test func planStepsFollowTheTrainerFormula() throws {
        let p = try Profile.load("offline", experimentsDirectory: repositoryRoot + "/experiments")
        var planner = Planner(profile: p, glueRoot: nil, splitsDirectory: repositoryRoot + "/experiments/splits",
                              runsDirectory: "/nonexistent", recordsDirectory: "/nonexistent")
        let planned = planner.plan(p.cells(), calibrate: false)
        func steps(_ id: String) -> Int? { planned.first { $0.cell.id == id }?.steps }
        // T = epochs·⌊N/B⌋: SST-2 1·⌊67349/1000⌋; the pair tasks' private rows QQP 3·⌊12000/256⌋, QNLI 6·⌊4370/256⌋,
        // MNLI 3·⌊9832/256⌋; their RGP (N.P.) rows QQP 3·⌊12000/64⌋, QNLI 6·⌊4370/64⌋; full on QQP ⌊0.6·⌊12000/32⌋⌋.
        #expect(steps("sst2-rgp-eps8-seed0") == 67)
        #expect(steps("qqp-rgp-eps8-seed0") == 138)
        #expect(steps("qnli-rgp-eps8-seed0") == 102)
        #expect(steps("mnli-rgp-eps8-seed0") == 114)
        #expect(steps("qqp-lowrank-seed0") == 561)
        #expect(steps("qnli-lowrank-seed0") == 408)
        #expect(steps("qqp-full-seed0") == 225)
        #expect(steps("sst2-full-seed0") == 526)
        #expect(steps("sst2-lowrank-seed1") == 263)
        #expect(planned.allSatisfy { $0.status == .pending && $0.totalFLOPs > 0 })
    }
}

@Suite struct TableTests {
    func grid() throws -> ResultsGrid {
        let p = try profile(minimalProfile)
        var records: [String: RunResult] = [:]
        records["sst2-full-seed0"] = try record(task: .sst2, method: .full, epsilon: nil, seed: 0, accuracy: 0.90)
        records["sst2-full-seed1"] = try record(task: .sst2, method: .full, epsilon: nil, seed: 1, accuracy: 0.92)
        records["sst2-rgp-eps8-seed0"] = try record(task: .sst2, method: .rgp, epsilon: 8, seed: 0, accuracy: 0.80)
        records["mnli-rgp-eps8-seed1"] = try record(task: .mnli, method: .rgp, epsilon: 8, seed: 1, accuracy: 0.60)
        return ResultsGrid(profile: p, records: records)
    }

    @Test("a record made with other settings than the profile now gives its cell is left out, and said so")
    func staleRecordsAreLeftOut() throws {
        let p = try profile(minimalProfile)
        let cell = try #require(p.cells().first { $0.id == "sst2-rgp-eps8-seed0" })
        let directory = NSTemporaryDirectory() + "/stale-\(UUID().uuidString)/runs"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var current = try record(task: .sst2, method: .rgp, epsilon: 8, seed: 0, accuracy: 0.80)
        current.settings = cell.configuration
        current.schema = RunResult.currentSchema
        var older = current
        older.settings.clip = 0.1  // the profile's clip before it changed
        try JSONEncoder().encode(current).write(to: URL(fileURLWithPath: directory + "/sst2-rgp-eps8-seed0.result.json"))
        try JSONEncoder().encode(older).write(to: URL(fileURLWithPath: directory + "/sst2-full-seed0.result.json"))
        let grid = try ResultsGrid(profile: p, recordsDirectory: directory)
        #expect(grid.records.keys.sorted() == ["sst2-rgp-eps8-seed0"])
        #expect(grid.stale == ["sst2-full-seed0"])
        #expect(TableRenderer(grid: grid).markdown().contains("other settings than the profile now gives (left out): sst2-full-seed0"))
    }

    @Test("warnings name collapsed cells, cells at the majority class, non-private rows below private ones, ε out of order")
    func warnings() throws {
        let p = try profile(minimalProfile)
        var records: [String: RunResult] = [:]
        records["sst2-full-seed0"] = try record(task: .sst2, method: .full, epsilon: nil, seed: 0, accuracy: 0.70)
        records["sst2-rgp-eps8-seed0"] = try record(task: .sst2, method: .rgp, epsilon: 8, seed: 0, accuracy: 0.80)
        var collapsed = try record(task: .sst2, method: .rgp, epsilon: 1, seed: 0, accuracy: 0.85)
        collapsed.predicted_share = [0.95, 0.05]
        records["sst2-rgp-eps1-seed0"] = collapsed
        var majority = try record(task: .mnli, method: .rgp, epsilon: 8, seed: 0, accuracy: 0.355)
        majority.dev_majority_share = 0.354
        records["mnli-rgp-eps8-seed0"] = majority
        let warnings = ResultsGrid(profile: p, records: records).warnings()
        #expect(warnings.contains { $0.hasPrefix("sst2-rgp-eps1-seed0 predicts one class for 95.0%") })
        #expect(warnings.contains { $0.hasPrefix("mnli-rgp-eps8-seed0 is at or below the majority class") })
        #expect(warnings.contains { $0.hasPrefix("sst2: Full (N.P.) (70.0) is below RGP (ε = 8) (80.0)") })
        #expect(warnings.contains { $0.contains("RGP (ε = 1) (85.0) above RGP (ε = 8) (80.0)") && $0.hasSuffix("not monotone in ε") })
        // Within one seed std there is no warning: ε 1 at 80.5 ± 0.7 against ε 8 at 80.0.
        records["sst2-rgp-eps1-seed0"] = try record(task: .sst2, method: .rgp, epsilon: 1, seed: 0, accuracy: 0.80)
        records["sst2-rgp-eps1-seed1"] = try record(task: .sst2, method: .rgp, epsilon: 1, seed: 1, accuracy: 0.81)
        #expect(!ResultsGrid(profile: p, records: records).warnings().contains { $0.contains("monotone") })
    }

    @Test func aggregatesAreMeanAndSampleStd() throws {
        let a = try #require(Aggregate([80, 82]))
        #expect(a.mean == 81 && abs(a.std! - 2.0.squareRoot()) < 1e-12 && a.count == 2)
        #expect(Aggregate([75])?.std == nil)
        #expect(Aggregate([]) == nil)
        let g = try grid()
        let full = RowKey(method: .full, epsilon: nil)
        #expect(g.aggregate(row: full, column: .sst2)?.text() == "91.0 ± 1.4")
        #expect(g.aggregate(row: full, column: .qnli) == nil)
        // The average needs all four tasks.
        #expect(g.aggregate(row: full, column: .average) == nil)
    }

    @Test func markdownKeepsPublishedNumbersApartAndMarksTheTrainingSplit() throws {
        var g = try grid()
        g.profile.published = [try JSONDecoder().decode(PublishedResult.self, from: Data("""
            {"label": "RGP, RoBERTa-base", "citation": "Yu et al. 2021", "epsilon": 8, "values": {"sst2": 91.6}}
            """.utf8))]
        let text = TableRenderer(grid: g).markdown()
        let ours = try #require(text.components(separatedBy: "## Published").first)
        #expect(ours.contains("| Full (N.P.) | — | train† | — | — | — | 91.0 ± 1.4<br><sub>T 67 · 67k ex</sub> | — |"))
        #expect(ours.contains("| RGP (ε = 8) | 60.0<br><sub>T 67 · 67k ex · σ 0.80</sub> | train† |"))
        #expect(!ours.contains("91.6"))
        #expect(text.contains("| RGP, RoBERTa-base | 8 |") && text.contains("91.6"))
        #expect(text.contains("Not yet run (—): sst2-rgp-eps1-seed0"))
        #expect(text.contains("δ = 1e-05"))
    }

    @Test func csvLatexAndSVGAreWellFormed() throws {
        let renderer = TableRenderer(grid: try grid())
        let csv = renderer.csv().split(separator: "\n")
        #expect(csv.first?.hasPrefix("profile,row,method,epsilon,column,mean,std,seeds,steps,examples_seen,sigma") == true)
        #expect(csv.contains { $0.hasPrefix("t,Full (N.P.),full,,sst2,91.0000,1.4142,2,67,66900,") })
        #expect(!csv.contains { $0.contains("mnli_mm") })  // the training split has no dev number
        let tex = renderer.latex()
        for needle in ["\\toprule", "\\midrule", "\\bottomrule", "RGP ($\\varepsilon$ = 8)", "91.0 $\\pm$ 1.4", "train$^\\dagger$"] {
            #expect(tex.contains(needle), "\(needle)")
        }
        #expect(!tex.contains("±") && !tex.contains("ε"))
        let svg = accuracyPlotSVG(try grid())
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "the plot is not well-formed XML")
        #expect(svg.contains("SST-2") && svg.contains("<circle"))
        #expect(svg.contains("uniform chance") && !svg.contains("majority class"))
        // Records that state their dev set's majority share draw that line instead.
        var withMajority = try grid()
        for (id, var r) in withMajority.records {
            r.dev_majority_share = 0.632
            withMajority.records[id] = r
        }
        let majoritySVG = accuracyPlotSVG(withMajority)
        #expect(majoritySVG.contains("majority class") && majoritySVG != svg)
    }
}

/// A tiny grid on the random tiny BERT of the transformer fixtures and a synthetic SST-2 folder.
@Suite("grid runner", .serialized)
struct GridRunnerTests {
    let tinyModel = repositoryRoot + "/Tests/TransformerTests/Fixtures/tiny"

    func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
    }

    func syntheticSST2() throws -> String {
        let root = temporary("glue")
        try FileManager.default.createDirectory(atPath: root + "/SST-2", withIntermediateDirectories: true)
        func rows(_ count: Int) -> String {
            "sentence\tlabel\n" + (0..<count).map { i in
                (i % 2 == 0 ? "w7 " : "") + "w\(10 + i % 50) w\(20 + i % 30) \t\(i % 2 == 0 ? 1 : 0)"
            }.joined(separator: "\n") + "\n"
        }
        try rows(48).write(toFile: root + "/SST-2/train.tsv", atomically: true, encoding: .utf8)
        try rows(16).write(toFile: root + "/SST-2/dev.tsv", atomically: true, encoding: .utf8)
        return root
    }

    func tinyProfile() throws -> Profile {
        try profile("""
        {"name": "tiny", "description": "runner test", "model": "\(tinyModel)", "split": "official", "tasks": ["sst2"],
         "seeds": [0], "delta": 1e-5, "accountant": "rdp",
         "rows": [{"method": "full"}, {"method": "rgp", "epsilons": [8]}],
         "settings": [{"source": "test", "batch_size": 8, "epochs": 1, "max_length": 16, "clip": 0.5, "lr": 0.003}]}
        """)
    }

    func plan(_ p: Profile, _ cells: [Cell], _ layout: GridLayout, root: String, skipRecorded: Bool = false) -> [PlannedCell] {
        var planner = Planner(profile: p, glueRoot: root, splitsDirectory: "", runsDirectory: layout.runsDirectory,
                              recordsDirectory: layout.recordsDirectory)
        planner.skipRecorded = skipRecorded
        return planner.plan(cells, calibrate: true)
    }

    @Test("runs every cell, records it, writes the tables; a second run skips finished cells")
    func runsRecordsAndSkips() throws {
        let p = try tinyProfile(), root = try syntheticSST2()
        let layout = GridLayout(runsDirectory: temporary("runs"), resultsDirectory: temporary("results"))
        let runner = GridRunner(profile: p, layout: layout, glueRoot: root, splitsDirectory: "")
        runner.progress = { _ in }
        let first = plan(p, p.cells(), layout, root: root)
        #expect(first.map(\.status) == [.pending, .pending])
        #expect(first[0].steps == 6 && first[1].sigma != nil)
        #expect(runner.run(first, throughput: .measuredHere).isEmpty)
        for cell in p.cells() {
            for suffix in ["result.json", "metrics.jsonl", "run.json"] {
                #expect(FileManager.default.fileExists(atPath: "\(layout.recordsDirectory)/\(cell.id).\(suffix)"), "\(cell.id).\(suffix)")
            }
        }
        // Fine-tuned checkpoints are kept only when asked (--save-models).
        #expect(!FileManager.default.fileExists(atPath: layout.runsDirectory + "/sst2-full-seed0/model"))
        let grid = try ResultsGrid(profile: p, recordsDirectory: layout.recordsDirectory)
        #expect(grid.missing.isEmpty)
        let rgp = try #require(grid.records["sst2-rgp-eps8-seed0"])
        #expect(rgp.sigma == first[1].sigma && rgp.epsilon_spent! <= 8 && rgp.steps == 6)
        for file in ["table.md", "table.csv", "table.tex", "published.csv", "details.md", "accuracy-vs-epsilon.svg"] {
            #expect(FileManager.default.fileExists(atPath: layout.resultsDirectory + "/" + file), "\(file)")
        }
        let before = try String(contentsOfFile: layout.runsDirectory + "/sst2-rgp-eps8-seed0/result.json", encoding: .utf8)

        let second = plan(p, p.cells(), layout, root: root)
        #expect(second.map(\.status) == [.finished, .finished])
        #expect(runner.run(second, throughput: .measuredHere).isEmpty)
        let after = try String(contentsOfFile: layout.runsDirectory + "/sst2-rgp-eps8-seed0/result.json", encoding: .utf8)
        #expect(before == after, "a finished cell was run again")

        // Records but no runs folder (a fresh clone, another machine's shard): re-run by default; skipped on request.
        try FileManager.default.removeItem(atPath: layout.runsDirectory)
        #expect(plan(p, p.cells(), layout, root: root).map(\.status) == [.pending, .pending])
        let third = plan(p, p.cells(), layout, root: root, skipRecorded: true)
        #expect(third.map(\.status) == [.recorded, .recorded])
        #expect(runner.run(third, throughput: .measuredHere).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: layout.runsDirectory + "/sst2-full-seed0"), "a recorded cell was run again")

        // A record made under other settings (the profile changed since) does not count as done.
        let path = layout.recordsDirectory + "/sst2-full-seed0.result.json"
        var changed = try JSONDecoder().decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        changed.settings.learningRate *= 2
        try JSONEncoder().encode(changed).write(to: URL(fileURLWithPath: path))
        #expect(plan(p, p.cells(), layout, root: root, skipRecorded: true).map(\.status) == [.pending, .recorded])
    }

    @Test("a shard runs only its own cells")
    func shardRunsItsCells() throws {
        let p = try tinyProfile(), root = try syntheticSST2()
        let layout = GridLayout(runsDirectory: temporary("runs"), resultsDirectory: temporary("results"))
        let runner = GridRunner(profile: p, layout: layout, glueRoot: root, splitsDirectory: "")
        runner.progress = { _ in }
        let shard = try Shard(parsing: "2/2")
        let cells = p.cells().enumerated().filter { shard.contains(position: $0.offset) }.map(\.element)
        #expect(cells.map(\.id) == ["sst2-rgp-eps8-seed0"])
        #expect(runner.run(plan(p, cells, layout, root: root), throughput: .measuredHere).isEmpty)
        let grid = try ResultsGrid(profile: p, recordsDirectory: layout.recordsDirectory)
        #expect(grid.missing == ["sst2-full-seed0"])
        #expect(try String(contentsOfFile: layout.resultsDirectory + "/table.md", encoding: .utf8).contains("Not yet run (—): sst2-full-seed0"))
    }
}
