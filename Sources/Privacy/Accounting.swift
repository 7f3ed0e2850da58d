/// Which accountant a run uses, and how it converts to (ε, δ).
public enum AccountantKind: String, Sendable, CaseIterable, Codable {
    case rdp, prv
}

/// The ε a run reports for given (σ, q, T, δ): the accountant's bound (PRV: the upper end of its interval).
public struct PrivacyAccounting: Sendable {
    public var kind: AccountantKind
    public var conversion: RDPAccountant.Conversion
    public var prvEpsilonError: Double
    /// RDP orders searched (the dense default, or the RGP authors' 2.0–31.9 grid).
    public var rdpOrders: [Double] = RDPAccountant.defaultOrders

    public init(kind: AccountantKind, conversion: RDPAccountant.Conversion = .tight, prvEpsilonError: Double = 0.01) {
        self.kind = kind
        self.conversion = conversion
        self.prvEpsilonError = prvEpsilonError
    }

    /// The bound a run may claim.
    public func epsilon(sigma: Double, sampleRate: Double, steps: Int, delta: Double) -> Double {
        if steps == 0 { return 0 }
        switch kind {
        case .rdp:
            return RDPAccountant(orders: rdpOrders, conversion: conversion).epsilon(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta).epsilon
        case .prv:
            return PRVAccountant(epsilonError: prvEpsilonError).epsilon(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta).upper
        }
    }

    /// Human-readable statement of what this accounting assumes, for run records.
    public var description: String {
        switch kind {
        case .rdp: "RDP (Poisson-subsampled Gaussian, add/remove adjacency, \(conversion.rawValue) conversion)"
        case .prv: "PRV (Gopi et al. 2021; Poisson-subsampled Gaussian, add/remove adjacency, upper bound at ε_err \(prvEpsilonError))"
        }
    }

    /// The smallest σ (to `relativeTolerance`) whose ε for (q, T, δ) is at most `targetEpsilon`, by bisection; the
    /// returned σ is the upper end of the final bracket, so its ε never exceeds the target.
    public func sigma(targetEpsilon: Double, sampleRate: Double, steps: Int, delta: Double,
                      relativeTolerance: Double = 1e-4) -> Double {
        precondition(targetEpsilon > 0)
        func eps(_ sigma: Double) -> Double { epsilon(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta) }
        var high = 1.0
        while eps(high) > targetEpsilon { high *= 2 }
        var low = high / 2
        while low > 1e-3 && eps(low) <= targetEpsilon { (high, low) = (low, low / 2) }
        while (high - low) / high > relativeTolerance {
            let middle = (low + high) / 2
            if eps(middle) > targetEpsilon { low = middle } else { high = middle }
        }
        return high
    }
}
