import ArgumentParser
import Privacy

struct AccountantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accountant",
        abstract: "Privacy accounting for the Poisson-subsampled Gaussian mechanism (add/remove adjacency).",
        subcommands: [EpsilonCommand.self, SigmaCommand.self]
    )
}

extension AccountantKind: ExpressibleByArgument {}
extension RDPAccountant.Conversion: ExpressibleByArgument {}

struct AccountingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Sampling rate q = B/N.") var sampleRate: Double
    @Option(parsing: .unconditional, help: "Number of steps T.") var steps: Int
    @Option(parsing: .unconditional, help: "δ.") var delta: Double
    @Option(help: "rdp or prv.") var accountant: AccountantKind = .prv
    @Option(help: "RDP → (ε, δ) conversion: tight or classic (the RGP authors').") var conversion: RDPAccountant.Conversion = .tight
    @Option(help: "RDP orders: default (dense, 1.1–512) or authors (2.0–31.9 by 0.1).") var orders: String = "default"
    @Option(parsing: .unconditional, help: "PRV: ε error half-width.") var epsilonError: Double = 0.01
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard sampleRate > 0 && sampleRate <= 1 else { throw ValidationError("--sample-rate must lie in (0, 1], got \(sampleRate)") }
        guard steps >= 1 && steps <= PrivacyAccounting.maximumSteps else {
            throw ValidationError("--steps must lie in 1...\(PrivacyAccounting.maximumSteps), got \(steps)")
        }
        guard delta > 0 && delta < 1 else { throw ValidationError("--delta must lie in (0, 1), got \(delta)") }
        guard epsilonError > 0 && epsilonError <= 1 else { throw ValidationError("--epsilon-error must lie in (0, 1], got \(epsilonError)") }
        guard ["default", "authors"].contains(orders) else { throw ValidationError("--orders must be default or authors") }
    }

    /// The accounting these options describe.
    var accounting: PrivacyAccounting {
        var accounting = PrivacyAccounting(kind: accountant, conversion: conversion, prvEpsilonError: epsilonError)
        if accountant != .rdpClassic { accounting.rdpOrders = rdp.orders }
        return accounting
    }

    var rdp: RDPAccountant {
        if accountant == .rdpClassic { return RDPAccountant(orders: RDPAccountant.authorsOrders, conversion: .classic) }
        return RDPAccountant(orders: orders == "authors" ? RDPAccountant.authorsOrders : RDPAccountant.defaultOrders,
                             conversion: conversion)
    }
}

struct EpsilonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "epsilon", abstract: "ε spent by (σ, q, T, δ).")
    @Option(parsing: .unconditional, help: "Noise multiplier σ.") var sigma: Double
    @OptionGroup var options: AccountingOptions

    func validate() throws {
        guard sigma.isFinite && sigma > 0 else { throw ValidationError("--sigma must be a positive number, got \(sigma)") }
        do {
            try options.accounting.validate(sigma: sigma, sampleRate: options.sampleRate, steps: options.steps, delta: options.delta)
        } catch let error as AccountingError {
            throw ValidationError(error.description)
        }
    }

    struct PRVOutput: Encodable { var epsilon, estimate, error, lower: Double; var accountant = "prv" }
    struct RDPOutput: Encodable { var epsilon, order: Double; var accountant = "rdp"; var conversion: String }

    func run() throws {
        switch options.accountant {
        case .rdp, .rdpClassic:
            let rdp = options.rdp
            let result = rdp.epsilon(sigma: sigma, sampleRate: options.sampleRate, steps: options.steps, delta: options.delta)
            if options.json {
                try printJSON(RDPOutput(epsilon: result.epsilon, order: result.order, accountant: options.accountant.rawValue,
                                        conversion: rdp.conversion.rawValue))
            } else {
                print("ε = \(result.epsilon) (RDP, \(rdp.conversion.rawValue) conversion, order \(result.order))")
            }
        case .prv:
            let report = PRVAccountant(epsilonError: options.epsilonError)
                .epsilon(sigma: sigma, sampleRate: options.sampleRate, steps: options.steps, delta: options.delta)
            if options.json {
                try printJSON(PRVOutput(epsilon: report.upper, estimate: report.estimate,
                                        error: options.epsilonError, lower: report.lower))
            } else {
                print("ε ≤ \(report.upper) (PRV upper bound; estimate \(report.estimate), lower \(report.lower))")
            }
        }
    }
}

struct SigmaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sigma", abstract: "Smallest σ meeting (ε, δ) for q and T.")
    @Option(parsing: .unconditional, help: "Target ε.") var epsilon: Double
    @OptionGroup var options: AccountingOptions

    struct Output: Encodable { var sigma, epsilon: Double; var accountant: String }

    func run() throws {
        guard epsilon.isFinite && epsilon > 0 else { throw ValidationError("--epsilon must be a positive number, got \(epsilon)") }
        let accounting = options.accounting
        let sigma: Double, achieved: Double
        do {
            sigma = try accounting.sigma(targetEpsilon: epsilon, sampleRate: options.sampleRate, steps: options.steps,
                                         delta: options.delta)
            achieved = try accounting.epsilon(sigma: sigma, sampleRate: options.sampleRate, steps: options.steps, delta: options.delta)
        }
        if options.json {
            try printJSON(Output(sigma: sigma, epsilon: achieved, accountant: options.accountant.rawValue))
        } else {
            print("σ = \(sigma) gives ε = \(achieved) ≤ \(epsilon) (\(accounting.description))")
        }
    }
}
