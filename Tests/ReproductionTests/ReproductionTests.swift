import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GLUE
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
        for name in ["paper", "offline", "smoke"] {
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

    /// The offline SST-2 RGP cell is exactly the configuration of `rgp-sst2 --split standin --method rgp --epsilon 8
    /// --batch-size 1000 --epochs 1 --clip 0.1 --lr 3e-3`, so runs started by hand resume under the grid.
    @Test func offlineCellMatchesTheCommandLine() throws {
        let p = try Profile.load("offline", experimentsDirectory: repositoryRoot + "/experiments")
        let cell = try #require(p.cells().first { $0.id == "sst2-rgp-eps8-seed0" })
        var expected = TrainingConfiguration.authorsDefaults(task: .sst2, method: .rgp, model: "models/all-MiniLM-L6-v2")
        expected.split = .standin
        expected.epsilon = 8
        expected.batchSize = 1000
        expected.epochs = 1
        expected.clip = 0.1
        expected.learningRate = 3e-3
        #expect(cell.configuration == expected)
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

    @Test func planStepsFollowTheTrainerFormula() throws {
        let p = try Profile.load("offline", experimentsDirectory: repositoryRoot + "/experiments")
        var planner = Planner(profile: p, glueRoot: nil, splitsDirectory: repositoryRoot + "/experiments/splits",
                              runsDirectory: "/nonexistent", recordsDirectory: "/nonexistent")
        let planned = planner.plan(p.cells(), calibrate: false)
        func steps(_ id: String) -> Int? { planned.first { $0.cell.id == id }?.steps }
        // T = epochs·⌊N/B⌋: SST-2 1·⌊67349/1000⌋, QQP ⌊0.35·⌊12000/256⌋⌋, QNLI 1·⌊4370/256⌋, MNLI ⌊0.43·⌊9832/256⌋⌋.
        #expect(steps("sst2-rgp-eps8-seed0") == 67)
        #expect(steps("qqp-rgp-eps8-seed0") == 16)
        #expect(steps("qnli-rgp-eps8-seed0") == 17)
        #expect(steps("mnli-rgp-eps8-seed0") == 16)
        #expect(steps("sst2-full-seed0") == 526)
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
    }
}
