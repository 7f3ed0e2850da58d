import Foundation
import Testing
@testable import Privacy

/// Φ⁻¹ by bisection on erfc (no dependency): enough for deterministic normal scores.
func normalQuantile(_ p: Double) -> Double {
    var lo = -40.0, hi = 40.0
    for _ in 0..<200 {
        let mid = (lo + hi) / 2
        if 0.5 * erfc(-mid / 2.0.squareRoot()) < p { lo = mid } else { hi = mid }
    }
    return (lo + hi) / 2
}

/// n scores at the normal quantiles (i + ½)/n, shifted by μ (JAX Privacy's `_deterministic_normal`).
func deterministicNormal(_ mu: Double, _ n: Int) -> [Double] {
    (0..<n).map { normalQuantile((Double($0) + 0.5) / Double(n)) + mu }
}

@Suite("one-run audit bound")
struct AuditBoundTests {
    @Test("(m, r, v) = (1000, 100, 95) → 2.16518 and (1000, 200, 150) → 0.81997 at δ 1e-5, α 0.05 (reference vectors)")
    func counts() {
        let a = OneRunAudit.epsilonLowerBound(canaries: 1000, guesses: 100, correct: 95, significance: 0.05, delta: 1e-5)
        let b = OneRunAudit.epsilonLowerBound(canaries: 1000, guesses: 200, correct: 150, significance: 0.05, delta: 1e-5)
        #expect(abs(a - 2.16518) < 1e-5, "\(a)")
        #expect(abs(b - 0.81997) < 1e-5, "\(b)")
    }

    @Test("JAX Privacy's scores test: 10k in / 10k out normal-quantile scores shifted by μ, α 0.05, δ 1e-6",
          arguments: [(1.0, 1.13346), (2.0, 2.311945), (4.0, 4.395568)])
    func scores(mu: Double, expected: Double) {
        let epsilon = OneRunAudit.epsilonLowerBound(inScores: deterministicNormal(mu, 10_000), outScores: deterministicNormal(0, 10_000),
                                                    significance: 0.05, delta: 1e-6)
        #expect(abs(epsilon - expected) <= 1e-5 * expected, "ε_lb \(epsilon), expected \(expected)")
        #expect(OneRunAudit.epsilonLowerBound(inScores: deterministicNormal(0, 1000), outScores: deterministicNormal(0, 1000),
                                              significance: 0.05, delta: 1e-6) == 0)
    }

    @Test("the δ term is kept: dropping it would claim a larger lower bound")
    func deltaTerm() {
        let with = OneRunAudit.epsilonLowerBound(canaries: 1000, guesses: 500, correct: 500, significance: 0.05, delta: 1e-5)
        let without = OneRunAudit.epsilonLowerBound(canaries: 1000, guesses: 500, correct: 500, significance: 0.05, delta: 0)
        #expect(with < without, "with δ \(with), without \(without)")
    }
}
