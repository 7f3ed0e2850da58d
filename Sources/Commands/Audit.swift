import ArgumentParser
import Foundation
import Privacy

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The one-run privacy audit (Steinke, Nasr, Jagielski 2023); audited training runs use rgp finetune --audit-canaries.",
        subcommands: [AuditSimulate.self]
    )
}

struct AuditSimulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Runs the Gaussian mechanism on canaries alone for T steps and audits it: tests the audit itself, in seconds."
    )
    @Option(parsing: .unconditional, help: "Noise multiplier σ (0: no noise).") var sigma: Double
    @Option(parsing: .unconditional, help: "Sampling rate q.") var sampleRate: Double
    @Option(parsing: .unconditional, help: "Steps T.") var steps: Int
    @Option(parsing: .unconditional, help: "Canaries m.") var canaries: Int = 1000
    @Option(parsing: .unconditional, help: "Seed (the simulation's noise and canaries are seeded).") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "δ.") var delta: Double = 1e-5
    @Option(help: "Accountant for the claimed ε: rdp or prv.") var accountant: AccountantKind = .rdp
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let result = try AuditSimulation.run(sigma: sigma, sampleRate: sampleRate, steps: steps, canaries: canaries, seed: seed,
                                             delta: delta, accountant: accountant)
        if json {
            try printJSON(result)
        } else {
            let o = result.outcome
            print(String(format: "σ %g, q %g, T %d, m %d: ε lower bound %.4f (95%%; %d of %d guesses right, k₊ %d) against claimed ε %@",
                         sigma, result.sample_rate, steps, canaries, o.epsilon_lower_bound, o.correct, o.guesses, o.best_guess.positives,
                         result.claimed_epsilon.map { String(format: "%.4f", $0) } ?? "— (σ = 0: no privacy)"))
        }
    }
}
