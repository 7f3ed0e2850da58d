import Foundation

/// Seconds in a `Duration`.
public func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

/// 8 → "8", 0.5 → "0.5", 1e-05 → "1e-05": settings and ε in labels, ids and tables.
public func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(format: "%g", value)
}

/// A number with a fixed count of decimals ("nan"/"inf" as Swift prints them).
public func format(_ value: Double, _ digits: Int) -> String {
    if !value.isFinite { return "\(value)" }
    return String(format: "%.\(digits)f", value)
}

/// "0m42s", "3m07s", "2h05m"; "?" for an unknown duration. The one duration format of logs, plans and tables.
public func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) : String(format: "%dm%02ds", s / 60, s % 60)
}
