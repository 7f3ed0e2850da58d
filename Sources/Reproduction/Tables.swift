import Foundation
import GLUE
import Storage
import Training

/// A column of the results table.
public enum Column: String, CaseIterable, Sendable {
    case mnliMatched = "mnli_m", mnliMismatched = "mnli_mm", qnli, qqp, qqpF1 = "qqp_f1", sst2, average

    public var title: String {
        switch self {
        case .mnliMatched: "MNLI-m"
        case .mnliMismatched: "MNLI-mm"
        case .qnli: "QNLI"
        case .qqp: "QQP acc"
        case .qqpF1: "QQP F1"
        case .sst2: "SST-2"
        case .average: "Avg."
        }
    }

    var task: GLUETask? {
        switch self {
        case .mnliMatched, .mnliMismatched: .mnli
        case .qnli: .qnli
        case .qqp, .qqpF1: .qqp
        case .sst2: .sst2
        case .average: nil
        }
    }

    /// The metric of a run record in percent, if the record has it.
    func value(_ r: RunResult) -> Double? {
        switch self {
        case .mnliMatched: (r.accuracy_matched ?? r.accuracy) * 100
        case .mnliMismatched: r.accuracy_mismatched.map { $0 * 100 }
        case .qnli, .qqp, .sst2: r.accuracy * 100
        case .qqpF1: r.f1.map { $0 * 100 }
        case .average: nil
        }
    }
}

/// Mean and sample standard deviation over seeds.
public struct Aggregate: Sendable, Equatable {
    public var mean: Double
    public var std: Double?
    public var count: Int

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        count = values.count
        mean = values.reduce(0, +) / Double(count)
        if count > 1 {
            let m = mean
            std = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(count - 1)).squareRoot()
        }
    }

    public func text(digits: Int = 1, plusMinus: String = " ± ") -> String {
        String(format: "%.\(digits)f", mean) + (std.map { plusMinus + String(format: "%.\(digits)f", $0) } ?? "")
    }
}

/// The finished run records of a profile's grid, read from results/<profile>/runs/<cell id>.result.json.
public struct ResultsGrid: Sendable {
    public var profile: Profile
    public var cells: [Cell]
    public var records: [String: RunResult]

    /// Audited runs of a cell's configuration kept beside the grid (results/<profile>/audits/<cell id>.result.json):
    /// shown in the details' audit table, not in the accuracy tables.
    public var auditRecords: [String: RunResult] = [:]
    /// Cells whose record on disk was made with other settings than the profile now gives the cell (the profile
    /// changed since): left out of the tables, never mixed in under the new settings' label.
    public var stale: [String] = []

    public init(profile: Profile, recordsDirectory: String) throws {
        self.profile = profile
        cells = profile.cells()
        records = [:]
        let audits = (recordsDirectory as NSString).deletingLastPathComponent + "/audits"
        for cell in cells {
            for (directory, isAudit) in [(recordsDirectory, false), (audits, true)] {
                let path = "\(directory)/\(cell.id).result.json"
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                do {
                    let record = try JSONDecoder().decode(RunResult.self, from: data)
                    guard record.finished else { continue }
                    guard cell.isFinishedRun(record, audited: isAudit) else {
                        stale.append(isAudit ? "audits/\(cell.id)" : cell.id)
                        continue
                    }
                    if isAudit { auditRecords[cell.id] = record } else { records[cell.id] = record }
                } catch {
                    throw ReproductionError("\(path): not a run record (\(error))")
                }
            }
        }
    }

    public init(profile: Profile, records: [String: RunResult]) {
        self.profile = profile
        cells = profile.cells()
        self.records = records
    }

    public var rows: [RowKey] { Array(Set(cells.map(\.rowKey))).sorted() }

    func records(row: RowKey, task: GLUETask) -> [RunResult] {
        cells.filter { $0.rowKey == row && $0.task == task }.compactMap { records[$0.id] }
    }

    /// In the offline stand-in, MNLI trains on dev_mismatched: its column holds no dev number.
    public var mismatchedIsTraining: Bool { profile.split == .standin }

    public func aggregate(row: RowKey, column: Column) -> Aggregate? {
        if column == .average {
            let parts: [Column] = [.mnliMatched, .qnli, .qqp, .sst2]
            let means = parts.compactMap { aggregate(row: row, column: $0)?.mean }
            guard means.count == parts.count else { return nil }
            return Aggregate([means.reduce(0, +) / Double(means.count)])
        }
        guard let task = column.task else { return nil }
        return Aggregate(records(row: row, task: task).compactMap(column.value))
    }

    /// Steps, examples seen and σ of a row's cells for a task (the seeds share them; the first record's are shown).
    public func runFigures(row: RowKey, task: GLUETask) -> (steps: Int, examples: Int, sigma: Double?)? {
        records(row: row, task: task).first.map { ($0.steps, $0.examples_seen, $0.sigma) }
    }

    public var missing: [String] { cells.filter { records[$0.id] == nil }.map(\.id) }

    /// Numbers that say nothing or contradict each other, found in the records themselves: a cell predicting one class
    /// for at least 90% of its dev set, QQP F1 of 0, a cell at or below its dev set's majority class, a non-private
    /// row below a private one, and a private method whose seed means fall as ε grows by more than one seed std.
    public func warnings() -> [String] {
        var out: [String] = []
        func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        for cell in cells {
            guard let r = records[cell.id] else { continue }
            if let top = r.predicted_share?.max(), top >= 0.9 {
                out.append("\(cell.id) predicts one class for \(percent(top)) of its dev set (collapsed)")
            }
            if cell.task == .qqp, r.f1 == 0 { out.append("\(cell.id) has QQP F1 0 (never predicts a duplicate)") }
            if let majority = r.dev_majority_share, r.accuracy <= majority + 0.005 {
                out.append("\(cell.id) is at or below the majority class (\(percent(r.accuracy)) against \(percent(majority)))")
            }
        }
        for task in profile.tasks {
            guard let column = Column.allCases.first(where: { $0.task == task && $0 != .qqpF1 && $0 != .mnliMismatched }) else { continue }
            let measured = rows.compactMap { row in aggregate(row: row, column: column).map { (row, $0) } }
            for (open, a) in measured where !open.method.isPrivate {
                for (closed, b) in measured where closed.method.isPrivate && b.mean > a.mean {
                    out.append("\(task.rawValue): \(open.label) (\(a.text())) is below \(closed.label) (\(b.text()))")
                }
            }
            let byMethod = Dictionary(grouping: measured.filter { $0.0.epsilon != nil }, by: { $0.0.method.rawValue })
            for (_, series) in byMethod {
                let sorted = series.sorted { ($0.0.epsilon ?? 0) < ($1.0.epsilon ?? 0) }
                for (low, high) in zip(sorted, sorted.dropFirst()) {
                    let spread = Swift.max(low.1.std ?? 0, high.1.std ?? 0)
                    if low.1.mean > high.1.mean + spread {
                        out.append("\(task.rawValue): \(low.0.label) (\(low.1.text())) above \(high.0.label) (\(high.1.text())) by more than a seed std: not monotone in ε")
                    }
                }
            }
        }
        return out
    }
}

func compactCount(_ n: Int) -> String {
    if n >= 1_000_000 { return String(format: "%.1fM", Double(n) / 1e6) }
    if n >= 10_000 { return String(format: "%.0fk", Double(n) / 1e3) }
    if n >= 1_000 { return String(format: "%.1fk", Double(n) / 1e3) }
    return "\(n)"
}

// MARK: Rendering

/// Markdown, CSV and LaTeX renderings of a grid.
public struct TableRenderer {
    public var grid: ResultsGrid

    public init(grid: ResultsGrid) { self.grid = grid }

    var profile: Profile { grid.profile }

    func cellText(row: RowKey, column: Column, markdown: Bool) -> String {
        if column == .mnliMismatched && grid.mismatchedIsTraining { return markdown ? "train†" : "train$^\\dagger$" }
        guard let aggregate = grid.aggregate(row: row, column: column) else { return markdown ? "—" : "--" }
        var text = aggregate.text(plusMinus: markdown ? " ± " : " $\\pm$ ")
        if markdown, column != .average, column != .qqpF1, let task = column.task, let figures = grid.runFigures(row: row, task: task) {
            text += "<br><sub>T \(figures.steps) · \(compactCount(figures.examples)) ex"
                + (figures.sigma.map { String(format: " · σ %.2f", $0) } ?? "") + "</sub>"
        }
        return text
    }

    /// Footnotes from the run records themselves (model, data, sampling, accountant, δ), then the profile's notes.
    public func footnotes() -> [String] {
        let all = grid.records.values
        var notes: [String] = []
        let models = Set(all.map(\.model)).sorted()
        let allSeeds = Set(grid.cells.map(\.configuration.seed)).sorted()
        let seeds = allSeeds.count > 1
            ? "mean ± sample std over seeds \(allSeeds.map(String.init).joined(separator: ", ")) where a cell has several"
            : "one seed (\(allSeeds.first ?? 0))"
        notes.append("Model: \(models.isEmpty ? profile.model : models.joined(separator: ", ")). Numbers are dev-set accuracy (%) of the final epoch, "
                     + "\(seeds); "
                     + "QQP also F1 of the duplicate class; Avg. = mean of MNLI-m, QNLI, QQP acc and SST-2.")
        for task in profile.tasks {
            let records = grid.cells.filter { $0.task == task }.compactMap { grid.records[$0.id] }
            guard let first = records.first else { continue }
            let evaluated = records.compactMap(\.dev_examples).first.map { sets in
                "; evaluated on " + sets.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            } ?? ""
            notes.append("\(task.directoryName) training data: \(first.train_data) (N = \(first.train_examples))\(evaluated).")
        }
        if grid.mismatchedIsTraining {
            notes.append("† Offline stand-in: MNLI trains on dev_mismatched, so there is no mismatched dev number; MNLI-m is dev_matched.")
        }
        let privateRecords = all.filter { $0.epsilon != nil }
        if let p = privateRecords.first {
            notes.append("Private rows: \(p.sampling == "poisson" ? "Poisson" : p.sampling) sampling; accountant \(p.accountant_assumptions ?? p.accountant ?? "?"); "
                         + "δ = \(Set(privateRecords.compactMap(\.delta)).sorted().map { String(format: "%g", $0) }.joined(separator: ", ")); "
                         + "σ calibrated so that the accountant's ε after the last step is at most the target "
                         + String(format: "(largest ε spent / target over the grid: %.5f).",
                                  privateRecords.compactMap { r in r.epsilon_spent.flatMap { s in r.epsilon.map { s / $0 } } }.max() ?? 0))
        }
        if let n = all.first(where: { $0.epsilon == nil }) {
            notes.append("Non-private rows: \(n.sampling) batches, no clipping or noise.")
        }
        if all.contains(where: \.seeded_noise) {
            notes.append("SEEDED (not secure) noise in at least one run: a test run, not a privacy claim.")
        }
        notes.append("T = steps, ex = examples seen, σ = noise multiplier (per cell: results/\(profile.name)/details.md).")
        notes.append(contentsOf: profile.notes)
        return notes
    }

    public func markdown() -> String {
        var out: [String] = []
        out.append("# Accuracy versus ε — profile `\(profile.name)`")
        out.append("")
        out.append(profile.description)
        out.append("")
        let columns = Column.allCases
        out.append("| Method | " + columns.map { $0.title + ($0 == .mnliMismatched && grid.mismatchedIsTraining ? "†" : "") }.joined(separator: " | ") + " |")
        out.append("|---|" + columns.map { _ in "---:" }.joined(separator: "|") + "|")
        for row in grid.rows {
            out.append("| \(row.label) | " + columns.map { cellText(row: row, column: $0, markdown: true) }.joined(separator: " | ") + " |")
        }
        out.append("")
        for note in footnotes() { out.append("- \(note)") }
        if !grid.missing.isEmpty { out.append("- Not yet run (—): \(grid.missing.joined(separator: ", ")).") }
        for warning in grid.warnings() { out.append("- **Check:** \(warning).") }
        if !grid.stale.isEmpty {
            out.append("- Records made with other settings than the profile now gives (left out): \(grid.stale.joined(separator: ", ")).")
        }
        if !profile.published.isEmpty {
            out.append("")
            out.append("## Published numbers (not ours; different models and data — for orientation only)")
            out.append("")
            out.append("| Source | ε | " + columns.map(\.title).joined(separator: " | ") + " |")
            out.append("|---|---:|" + columns.map { _ in "---:" }.joined(separator: "|") + "|")
            for p in profile.published {
                out.append("| \(p.label) | \(p.epsilon.map(formatNumber) ?? "—") | "
                           + columns.map { c in p.values[c.rawValue].map { String(format: "%.1f", $0) } ?? "" }.joined(separator: " | ") + " |")
            }
            out.append("")
            for p in profile.published { out.append("- \(p.label): \(p.citation)") }
        }
        out.append("")
        return out.joined(separator: "\n")
    }

    /// One line per row and column, with the run figures a reader needs to judge the number.
    public func csv() -> String {
        var out = ["profile,row,method,epsilon,column,mean,std,seeds,steps,examples_seen,sigma,sample_rate,delta,accountant,sampling,train_data,model"]
        for row in grid.rows {
            for column in Column.allCases {
                if column == .mnliMismatched && grid.mismatchedIsTraining { continue }
                guard let aggregate = grid.aggregate(row: row, column: column) else { continue }
                let records = column.task.map { grid.records(row: row, task: $0) } ?? []
                let first = records.first
                let fields: [String] = [
                    profile.name, row.label, row.method.rawValue, row.epsilon.map(formatNumber) ?? "",
                    column.rawValue, String(format: "%.4f", aggregate.mean), aggregate.std.map { String(format: "%.4f", $0) } ?? "",
                    "\(aggregate.count)", first.map { "\($0.steps)" } ?? "", first.map { "\($0.examples_seen)" } ?? "",
                    first?.sigma.map { String(format: "%.6g", $0) } ?? "", first.map { String(format: "%.6g", $0.sample_rate) } ?? "",
                    first?.delta.map { String(format: "%g", $0) } ?? "", first?.accountant ?? "", first?.sampling ?? "",
                    first?.train_data ?? "", first?.model ?? "",
                ]
                out.append(fields.map(csvField).joined(separator: ","))
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    public func publishedCSV() -> String {
        var out = ["source,citation,epsilon," + Column.allCases.map(\.rawValue).joined(separator: ",")]
        for p in profile.published {
            out.append(([p.label, p.citation, p.epsilon.map(formatNumber) ?? ""]
                        + Column.allCases.map { c in p.values[c.rawValue].map { String(format: "%.1f", $0) } ?? "" })
                .map(csvField).joined(separator: ","))
        }
        return out.joined(separator: "\n") + "\n"
    }

    public func latex() -> String {
        let columns = Column.allCases
        var out: [String] = []
        out.append("% Generated by `rgp reproduce --profile \(profile.name)`; needs \\usepackage{booktabs}.")
        out.append("\\begin{table}[t]")
        out.append("\\centering\\small")
        out.append("\\begin{tabular}{l" + String(repeating: "r", count: columns.count) + "}")
        out.append("\\toprule")
        out.append("Method & " + columns.map { latexEscape($0.title) + ($0 == .mnliMismatched && grid.mismatchedIsTraining ? "$^\\dagger$" : "") }
            .joined(separator: " & ") + " \\\\")
        out.append("\\midrule")
        var previous: TrainingMethod?
        for row in grid.rows {
            // A rule between the non-private rows and the private ones.
            if let previous, !previous.isPrivate, row.method.isPrivate { out.append("\\midrule") }
            previous = row.method
            let label = latexEscape(row.label)
            out.append(label + " & " + columns.map { cellText(row: row, column: $0, markdown: false) }.joined(separator: " & ") + " \\\\")
        }
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
        out.append("\\caption{Dev accuracy (\\%) versus $\\varepsilon$, profile \\texttt{\(latexEscape(profile.name))}. "
                   + footnotes().map(latexEscape).joined(separator: " ") + "}")
        out.append("\\end{table}")
        if !profile.published.isEmpty {
            out.append("")
            out.append("% Published numbers, kept apart from ours.")
            out.append("\\begin{table}[t]")
            out.append("\\centering\\small")
            out.append("\\begin{tabular}{lr" + String(repeating: "r", count: columns.count) + "}")
            out.append("\\toprule")
            out.append("Published & $\\varepsilon$ & " + columns.map { latexEscape($0.title) }.joined(separator: " & ") + " \\\\")
            out.append("\\midrule")
            for p in profile.published {
                out.append(latexEscape(p.label) + " & " + (p.epsilon.map(formatNumber) ?? "--") + " & "
                           + columns.map { c in p.values[c.rawValue].map { String(format: "%.1f", $0) } ?? "" }.joined(separator: " & ") + " \\\\")
            }
            out.append("\\bottomrule")
            out.append("\\end{tabular}")
            out.append("\\caption{Published numbers (not produced by this suite): "
                       + profile.published.map { latexEscape("\($0.label): \($0.citation)") }.joined(separator: "; ") + ".}")
            out.append("\\end{table}")
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Every cell with its run figures: the numbers behind each table entry.
    public func details() -> String {
        var out = ["# Run details — profile `\(profile.name)`", "",
                   "| Cell | Train data | N | B | q | Epochs | T | Examples seen | C | lr | σ | ε spent / target | Dev acc | Best (epoch) | Wall |",
                   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for cell in grid.cells {
            guard let r = grid.records[cell.id] else {
                out.append("| \(cell.id) | not run | | | | | | | | | | | | | |")
                continue
            }
            let budget = r.epsilon.map { e in (r.epsilon_spent.map { String(format: "%.3f", $0) } ?? "?") + " / " + formatNumber(e) } ?? "—"
            out.append("| \(cell.id) | \(r.train_data) | \(r.train_examples) | \(r.batch_size) | \(String(format: "%.5f", r.sample_rate)) | "
                       + "\(formatNumber(r.epochs)) | \(r.steps) | \(r.examples_seen) | \(r.clip.map(formatNumber) ?? "—") | \(String(format: "%g", r.lr)) | "
                       + "\(r.sigma.map { String(format: "%.4f", $0) } ?? "—") | \(budget) | \(String(format: "%.4f", r.accuracy))"
                       + (r.f1.map { String(format: " (F1 %.4f)", $0) } ?? "")
                       + " | \(String(format: "%.4f", r.best_accuracy)) (\(r.best_epoch)) | \(duration(r.wall_seconds)) |")
        }
        let shares = grid.cells.compactMap { cell in grid.records[cell.id].flatMap { r in r.predicted_share.map { (cell.id, $0) } } }
        if !shares.isEmpty {
            out.append("")
            out.append("Predicted-class share on the primary dev set (final epoch): a row whose largest share is near 1 predicts one class.")
            out.append("")
            out.append("| Cell | Shares by class | Largest |")
            out.append("|---|---|---:|")
            for (id, share) in shares {
                out.append("| \(id) | \(share.map { String(format: "%.3f", $0) }.joined(separator: " / ")) | \(String(format: "%.3f", share.max() ?? 0)) |")
            }
        }
        let audited = grid.cells.compactMap { cell in grid.records[cell.id].flatMap { r in r.audit.map { (cell.id, $0) } } }
            + grid.cells.compactMap { cell in
                grid.auditRecords[cell.id].flatMap { r in
                    r.audit.map { ("\(cell.id) (separate audited run, audits/\(cell.id).result.json: dev acc \(String(format: "%.4f", r.accuracy)))", $0) }
                }
            }
        if !audited.isEmpty {
            out.append("")
            out.append("One-run audits (Steinke, Nasr, Jagielski 2023): canaries in a reserved slice of the privacy engine's buffer; "
                       + "ε lower bound at 95% confidence beside the claimed ε.")
            out.append("")
            out.append("| Cell | Canaries | Guesses | Correct | ε lower bound (95%) | Claimed ε | Score |")
            out.append("|---|---:|---:|---:|---:|---:|---|")
            for (id, a) in audited {
                out.append("| \(id) | \(a.canaries) | \(a.guesses) | \(a.correct) | \(String(format: "%.3f", a.epsilon_lower_bound)) | "
                           + "\(a.claimed_epsilon.map { String(format: "%.3f", $0) } ?? "—") | \(a.score) |")
            }
        }
        let total = grid.records.values.reduce(0) { $0 + $1.wall_seconds }
        out.append("")
        out.append("Total wall time of the recorded runs: \(duration(total)). Best accuracy is selected on the dev set (optimistic); the tables use the final epoch.")
        return out.joined(separator: "\n") + "\n"
    }
}

func csvField(_ text: String) -> String {
    text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}

func latexEscape(_ text: String) -> String {
    var out = ""
    for ch in text {
        switch ch {
        case "\\": out += "\\textbackslash{}"
        case "&", "%", "$", "#", "_", "{", "}": out += "\\" + String(ch)
        case "~": out += "\\textasciitilde{}"
        case "^": out += "\\textasciicircum{}"
        case "±": out += "$\\pm$"
        case "ε": out += "$\\varepsilon$"
        case "†": out += "$^\\dagger$"
        case "≥": out += "$\\ge$"
        case "→": out += "$\\to$"
        case "∞": out += "$\\infty$"
        case "σ": out += "$\\sigma$"
        case "δ": out += "$\\delta$"
        case "≤": out += "$\\le$"
        case "—": out += "---"
        case "–": out += "--"
        case "·": out += "$\\cdot$"
        case "×": out += "$\\times$"
        case "⌊": out += "$\\lfloor$"
        case "⌋": out += "$\\rfloor$"
        default: out.append(ch)
        }
    }
    return out
}
