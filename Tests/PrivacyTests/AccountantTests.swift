import Foundation
import CFFTW
@testable import Privacy
import Testing

func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / abs(b) }

@Suite("accountants against published vectors")
struct AccountantVectorTests {
    @Test("RDP: Opacus's σ 1.5, q 0.04, T 2250, δ 1e-5 gives ε ≈ 7.3291 (within 0.5%)")
    func rdpOpacus() {
        let eps = RDPAccountant().epsilon(sigma: 1.5, sampleRate: 0.04, steps: 2250, delta: 1e-5).epsilon
        #expect(relative(eps, 7.3291) < 0.005, "ε = \(eps)")
    }

    @Test("PRV: the same setting gives ε ≈ 6.7774 (within 1%), with an interval around the estimate")
    func prvOpacus() {
        let report = PRVAccountant().epsilon(sigma: 1.5, sampleRate: 0.04, steps: 2250, delta: 1e-5)
        #expect(relative(report.upper, 6.7774) < 0.01, "\(report)")
        #expect(report.lower <= report.estimate && report.estimate <= report.upper)
        #expect(report.upper - report.lower < 0.05)
    }

    /// Exact ε(δ) of the Gaussian mechanism with μ = √T/σ (Balle & Wang 2018, Theorem 8):
    /// δ = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2), solved for ε by scipy's brentq (xtol 1e-14).
    static let fullBatchGaussian: [(sigma: Double, steps: Int, delta: Double, epsilon: Double)] = [
        (1, 1, 1e-5, 4.377178095681225), (2, 10, 1e-5, 7.511275900744781),
        (0.7, 1, 1e-6, 7.37264272847407), (5, 100, 1e-5, 9.997256146434298),
    ]

    @Test("PRV at q = 1 (full batch) is the exact Gaussian mechanism: estimate within 1e-5, exact ε inside [lower, upper]",
          .timeLimit(.minutes(1)), arguments: 0..<4)
    func prvFullBatch(index: Int) {
        let v = Self.fullBatchGaussian[index]
        let report = PRVAccountant().epsilon(sigma: v.sigma, sampleRate: 1, steps: v.steps, delta: v.delta)
        #expect(relative(report.estimate, v.epsilon) < 1e-5, "\(report) against \(v.epsilon)")
        #expect(report.lower <= v.epsilon && v.epsilon <= report.upper, "\(report) against \(v.epsilon)")
    }

    @Test("classic RDP with the authors' orders reproduces σ 1.1015 for SST-2 (N 67,349, B 2000, T 1650, ε 8)")
    func classicAuthorsSigma() throws {
        var accounting = PrivacyAccounting(kind: .rdp, conversion: .classic)
        accounting.rdpOrders = RDPAccountant.authorsOrders
        let sigma = try accounting.sigma(targetEpsilon: 8, sampleRate: 2000.0 / 67_349, steps: 1650, delta: 1e-5)
        #expect(relative(sigma, 1.1015) < 0.005, "σ = \(sigma)")
    }

    @Test("PRV calibration for q 0.0297, T 990, ε 8 gives σ within 1% of 0.875")
    func prvSigma() throws {
        let sigma = try PrivacyAccounting(kind: .prv).sigma(targetEpsilon: 8, sampleRate: 0.0297, steps: 990, delta: 1e-5)
        #expect(relative(sigma, 0.875) < 0.01, "σ = \(sigma)")
    }

    @Test("edge cases: q = 1 is the plain Gaussian; no steps spend nothing")
    func edges() throws {
        // Full-batch Gaussian: RDP(α) = α/(2σ²) exactly.
        let curve = RDPAccountant(orders: [2, 8]).rdp(sigma: 2, sampleRate: 1, steps: 3)
        let expected: [Double] = [0.75, 3]  // 3 steps · α/(2·4)
        #expect(curve == expected)
        #expect(try PrivacyAccounting(kind: .prv).epsilon(sigma: 1, sampleRate: 0.1, steps: 0, delta: 1e-5) == 0)
        // Small σ and large T must not overflow to NaN.
        let eps = RDPAccountant().epsilon(sigma: 0.3, sampleRate: 0.5, steps: 100_000, delta: 1e-5).epsilon
        #expect(eps.isFinite && eps > 100)
    }
}

@Suite("accountant properties")
struct AccountantPropertyTests {
    @Test("ε decreases in σ and increases in q and T", arguments: [AccountantKind.rdp, .prv])
    func monotone(kind: AccountantKind) throws {
        let accounting = PrivacyAccounting(kind: kind)
        func eps(_ sigma: Double, _ q: Double, _ t: Int) -> Double {
            (try? accounting.epsilon(sigma: sigma, sampleRate: q, steps: t, delta: 1e-5)) ?? .nan
        }
        #expect(eps(0.8, 0.02, 300) > eps(1.0, 0.02, 300))
        #expect(eps(1.0, 0.02, 300) > eps(1.3, 0.02, 300))
        #expect(eps(1.0, 0.03, 300) > eps(1.0, 0.02, 300))
        #expect(eps(1.0, 0.02, 600) > eps(1.0, 0.02, 300))
    }

    @Test("PRV never claims more than RDP would allow by much, and tracks it below")
    func prvBelowRDP() throws {
        let rdp = try PrivacyAccounting(kind: .rdp).epsilon(sigma: 1.0, sampleRate: 0.01, steps: 1000, delta: 1e-5)
        let prv = try PrivacyAccounting(kind: .prv).epsilon(sigma: 1.0, sampleRate: 0.01, steps: 1000, delta: 1e-5)
        #expect(prv < rdp)
        #expect(prv > 0.7 * rdp)
    }

    @Test("the accountant's FFTs run on two threads at once: 2 × 300 plans, each inverse(forward(x)) = n·x")
    func fftConcurrent() {
        let worstPerThread = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2)
        worstPerThread.initialize(repeating: 0)
        defer { worstPerThread.deallocate() }
        nonisolated(unsafe) let worst = worstPerThread
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for round in 0..<300 {
                let n = 64 + (round * 37 + thread * 101) % 2000
                let input = UnsafeMutablePointer<Double>.allocate(capacity: n)
                let spectrum = UnsafeMutablePointer<fftw_complex>.allocate(capacity: n / 2 + 1)
                let output = UnsafeMutablePointer<Double>.allocate(capacity: n)
                defer { input.deallocate(); spectrum.deallocate(); output.deallocate() }
                for i in 0..<n { input[i] = sin(Double(i * (thread + 1))) }
                RealFFT.forward(input, spectrum, count: n)
                RealFFT.inverse(spectrum, output, count: n)
                for i in 0..<n { worst[thread] = max(worst[thread], abs(output[i] / Double(n) - input[i])) }
            }
        }
        #expect(worst.allSatisfy { $0 < 1e-12 }, "largest round-trip error \(Array(worst))")
    }

    @Test("calibration round-trips: ε(σ*) ≤ target, and 0.1% less noise overshoots", arguments: [AccountantKind.rdp, .prv])
    func roundTrip(kind: AccountantKind) throws {
        let accounting = PrivacyAccounting(kind: kind)
        let sigma = try accounting.sigma(targetEpsilon: 3, sampleRate: 0.01, steps: 500, delta: 1e-5)
        #expect(try accounting.epsilon(sigma: sigma, sampleRate: 0.01, steps: 500, delta: 1e-5) <= 3)
        #expect(try accounting.epsilon(sigma: sigma * 0.999, sampleRate: 0.01, steps: 500, delta: 1e-5) > 3)
    }
}
