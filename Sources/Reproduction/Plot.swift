import Foundation
import GLUE
import Training

/// Accuracy against ε, one panel per task: RGP as a line over its ε values (error bars = sample std over seeds),
/// DP-SGD and DP head-only as points, the non-private rows as dashed horizontal references. Plain SVG.
public func accuracyPlotSVG(_ grid: ResultsGrid) -> String {
    let panels: [(Column, String)] = grid.profile.tasks.map { task in
        switch task {
        case .mnli: (.mnliMatched, "MNLI-m")
        case .qnli: (.qnli, "QNLI")
        case .qqp: (.qqp, "QQP (accuracy)")
        case .sst2: (.sst2, "SST-2")
        }
    }
    var usesMajority = false
    let panelWidth = 300.0, panelHeight = 240.0, margin = (left: 52.0, right: 14.0, top: 34.0, bottom: 44.0)
    let legendHeight = 56.0
    let width = Double(panels.count) * panelWidth, height = panelHeight + legendHeight + 30
    let rows = grid.rows
    let epsilons = Set(rows.compactMap(\.epsilon)).sorted()
    let (minE, maxE) = (epsilons.first ?? 1, epsilons.last ?? 8)
    let logLow = log(minE) - 0.35, logHigh = log(Swift.max(maxE, minE * 1.01)) + 0.35

    struct Style { var color: String; var marker: String; var label: String }
    func style(_ method: TrainingMethod) -> Style {
        let facts = method.facts
        return Style(color: facts.plotColor, marker: facts.plotMarker, label: facts.legendLabel)
    }
    let byLegendOrder = TrainingMethod.allCases.sorted { $0.facts.legendOrder < $1.facts.legendOrder }
    func marker(_ kind: String, _ x: Double, _ y: Double, _ color: String) -> String {
        switch kind {
        case "square": return String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%@\"/>", x - 4, y - 4, color)
        case "diamond": return String(format: "<path d=\"M %.1f %.1f l 5 5 l -5 5 l -5 -5 z\" fill=\"%@\"/>", x, y - 5, color)
        default: return String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"/>", x, y, color)
        }
    }

    var svg: [String] = []
    svg.append(String(format: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">", width, height, width, height))
    svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
    svg.append(String(format: "<text x=\"%.0f\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">Dev accuracy versus ε — profile %@ (%@)</text>",
                      width / 2, grid.profile.name, grid.profile.model.split(separator: "/").last.map(String.init) ?? grid.profile.model))
    for (index, (column, title)) in panels.enumerated() {
        let x0 = Double(index) * panelWidth + margin.left, y0 = 24 + margin.top
        let w = panelWidth - margin.left - margin.right, h = panelHeight - margin.top - margin.bottom
        var values: [Double] = []
        for row in rows { if let a = grid.aggregate(row: row, column: column) { values.append(a.mean - (a.std ?? 0)); values.append(a.mean + (a.std ?? 0)) } }
        // The reference a collapsed model reaches: the dev set's majority-class share where records state it (QQP and
        // MNLI are unbalanced), else uniform chance.
        let majority = column.task.flatMap { task in
            grid.cells.filter { $0.task == task }.compactMap { grid.records[$0.id]?.dev_majority_share }.first
        }
        let chance = majority.map { $0 * 100 } ?? 100 / Double(column.task?.labels.count ?? 2)
        if majority != nil { usesMajority = true }
        var low = (Swift.min(values.min() ?? chance, chance) - 3) / 5, high = ((values.max() ?? 100) + 3) / 5
        low = Swift.max(0, low.rounded(.down) * 5)
        high = Swift.min(100, high.rounded(.up) * 5)
        if high - low < 10 { low = Swift.max(0, high - 10) }
        func px(_ e: Double) -> Double { x0 + (log(e) - logLow) / (logHigh - logLow) * w }
        func py(_ v: Double) -> Double { y0 + h - (v - low) / (high - low) * h }
        svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\">%@</text>", x0 + w / 2, y0 - 10, title))
        svg.append(String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>", x0, y0, w, h))
        let tickStep = (high - low) > 30 ? 10.0 : 5.0
        var tick = (low / tickStep).rounded(.up) * tickStep
        while tick <= high + 1e-9 {
            svg.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", x0, py(tick), x0 + w, py(tick)))
            svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>", x0 - 5, py(tick) + 4, tick))
            tick += tickStep
        }
        for e in epsilons {
            svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>", px(e), y0 + h + 15, formatNumber(e)))
        }
        svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">ε (log scale)</text>", x0 + w / 2, y0 + h + 32))
        if index == 0 {
            svg.append(String(format: "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">accuracy (%%)</text>", x0 - 36, y0 + h / 2))
        }
        svg.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"2 3\"/>", x0, py(chance), x0 + w, py(chance)))
        if values.isEmpty {
            svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#999\">not run yet</text>", x0 + w / 2, y0 + h / 2))
        }
        for row in rows where row.epsilon == nil {
            guard let a = grid.aggregate(row: row, column: column) else { continue }
            let s = style(row.method)
            svg.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>", x0, py(a.mean), x0 + w, py(a.mean), s.color))
        }
        for method in byLegendOrder where method.isPrivate {
            let points = rows.filter { $0.method == method }.compactMap { row -> (Double, Aggregate)? in
                guard let e = row.epsilon, let a = grid.aggregate(row: row, column: column) else { return nil }
                return (e, a)
            }
            let s = style(method)
            if points.count > 1 {
                svg.append("<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\" points=\""
                           + points.map { String(format: "%.1f,%.1f", px($0.0), py($0.1.mean)) }.joined(separator: " ") + "\"/>")
            }
            for (e, a) in points {
                if let std = a.std {
                    svg.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\"/>", px(e), py(a.mean - std), px(e), py(a.mean + std), s.color))
                }
                svg.append(marker(s.marker, px(e), py(a.mean), s.color))
            }
        }
    }
    let legendY = panelHeight + 40
    var legendX = margin.left
    for method in byLegendOrder where rows.contains(where: { $0.method == method }) {
        let s = style(method)
        if s.marker == "dash" {
            svg.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>", legendX, legendY, legendX + 24, legendY, s.color))
        } else {
            svg.append(marker(s.marker, legendX + 12, legendY, s.color))
        }
        svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>", legendX + 30, legendY + 4, s.label))
        legendX += 130
    }
    svg.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"2 3\"/>", legendX, legendY, legendX + 24, legendY))
    svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>", legendX + 30, legendY + 4,
                      usesMajority ? "majority class (else uniform chance)" : "uniform chance"))
    let seeds = grid.profile.seeds.count
    svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">Final-epoch dev accuracy; %@; δ = %g; %@ accountant. Per-cell steps, examples seen and σ: table.md.</text>",
                      margin.left, legendY + 24, seeds > 1 ? "mean ± std over \(seeds) seeds" : "one seed", grid.profile.delta, grid.profile.accountant.rawValue.uppercased()))
    svg.append("</svg>")
    return svg.joined(separator: "\n") + "\n"
}
