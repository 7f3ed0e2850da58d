import Foundation
import Testing
@testable import Privacy

@Suite("one-run audit, simulated", .serialized)
struct AuditSimulationTests {
    static let q = 0.015, steps = 200, m = 1000, delta = 1e-5, seeds: [UInt64] = Array(1...20)

    func bounds(sigma: Double, faults: MechanismFaults = MechanismFaults()) throws -> [Double] {
        try Self.seeds.map { seed in
            try AuditSimulation.run(sigma: sigma, sampleRate: Self.q, steps: Self.steps, canaries: Self.m, seed: seed,
                                    delta: Self.delta, accountant: .rdp, faults: faults).outcome.epsilon_lower_bound
        }
    }

    func sigma(for epsilon: Double) throws -> Double {
        try PrivacyAccounting(kind: .rdp).sigma(targetEpsilon: epsilon, sampleRate: Self.q, steps: Self.steps, delta: Self.delta)
    }

    @Test("at σ calibrated for ε = 8 every ε_lb ≤ 8 and the median is at least 1")
    func honest() throws {
        let values = try bounds(sigma: try sigma(for: 8)).sorted()
        #expect(values.allSatisfy { $0 <= 8 })
        #expect(values[values.count / 2] >= 1.0, "median \(values[values.count / 2])")
    }

    @Test("with σ = 0 every ε_lb is at least 4.2 (near the bound's ceiling at m = 1000)")
    func noNoise() throws {
        let values = try bounds(sigma: 0)
        #expect(values.allSatisfy { $0 >= 4.2 })
    }

    @Test("a claim of ε = 2 with the noise scaled by 0.1, or with clipping skipped, is caught: every ε_lb > 2")
    func faults() throws {
        let sigma2 = try sigma(for: 2)
        let weak = try bounds(sigma: sigma2, faults: MechanismFaults(noiseScale: 0.1))
        let unclipped = try bounds(sigma: sigma2, faults: MechanismFaults(skipCanaryClipping: true))
        let honest = try bounds(sigma: sigma2)
        #expect(weak.allSatisfy { $0 > 2 })
        #expect(unclipped.allSatisfy { $0 > 2 })
        #expect(honest.allSatisfy { $0 <= 2 })
    }
}
