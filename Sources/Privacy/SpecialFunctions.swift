import Foundation

/// Numerically careful helpers shared by the accountants (all in double precision).
enum Special {
    /// log(eᵃ + eᵇ) without overflow.
    static func logAdd(_ a: Double, _ b: Double) -> Double {
        if a == -.infinity { return b }
        if b == -.infinity { return a }
        let (hi, lo) = a > b ? (a, b) : (b, a)
        return hi + log1p(exp(lo - hi))
    }

    /// log(eᵃ − eᵇ) for a ≥ b; −∞ when they are equal.
    static func logSub(_ a: Double, _ b: Double) -> Double {
        precondition(a >= b || b == -.infinity, "logSub of a larger term")
        if b == -.infinity { return a }
        if a == b { return -.infinity }
        let d = b - a  // < 0
        return a + (d > -0.693 ? log(-expm1(d)) : log1p(-exp(d)))
    }

    /// log erfc(x), accurate far into the tail where erfc underflows.
    static func logErfc(_ x: Double) -> Double {
        if x < 20 { return log(erfc(x)) }
        // Asymptotic series: erfc(x) ≈ e^{−x²}/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸)).
        let r = 1 / (x * x)
        let series = 1 - r / 2 + 3 * r * r / 4 - 15 * r * r * r / 8 + 105 * r * r * r * r / 16
        return -x * x - log(x) - 0.5 * log(Double.pi) + log(series)
    }

    /// Standard normal CDF Φ(x), accurate in both tails.
    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}
