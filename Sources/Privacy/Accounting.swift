/// Which accountant a run uses, and how it converts to (ε, δ).
public enum AccountantKind: String, Sendable, CaseIterable, Codable {
    /// Rényi DP with the tight conversion over a dense grid of orders.
    case rdp
    /// Privacy-loss random variables (Gopi et al. 2021): the upper end of the numerical bound.
    case prv
    /// Rényi DP as the RGP authors' code computes it: the classic conversion ε = RDP(α) + log(1/δ)/(α−1) over
    /// their orders 2.0–31.9 (looser than `rdp`; for profiles that mirror their published runs).
    case rdpClassic = "rdp-classic"
}

/// Inputs an accountant cannot take, each with what was expected.
public struct AccountingError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The ε a run reports for given (σ, q, T, δ): the accountant's bound (PRV: the upper end of its interval).
///
/// Inputs are checked before any work: σ > 0 and finite, q in (0, 1], 1 ≤ T ≤ `maximumSteps`, δ in (0, 1), ε_err
/// in (0, 1]; PRV also refuses a composition whose grid would exceed `PRVAccountant.maximumDomainPoints`, with the
/// memory it would have needed (small σ and large T grow it as T^1.5/σ²).
public struct PrivacyAccounting: Sendable {
    /// The largest T the accountants take (the paper profile's largest cell has T ≈ 1000).
    public static let maximumSteps = 10_000_000
    /// Calibration searches σ in (0, `maximumSigma`]; a target no σ in it reaches is refused.
    public static let maximumSigma = 1e4

    public var kind: AccountantKind
    public var conversion: RDPAccountant.Conversion
    public var prvEpsilonError: Double
    /// RDP orders searched (the dense default, or the RGP authors' 2.0–31.9 grid).
    public var rdpOrders: [Double] = RDPAccountant.defaultOrders

    /// `rdpClassic` fixes the conversion (classic) and the orders (the authors'), whatever is passed.
    public init(kind: AccountantKind, conversion: RDPAccountant.Conversion = .tight, prvEpsilonError: Double = 0.01) {
        self.kind = kind
        self.conversion = kind == .rdpClassic ? .classic : conversion
        self.prvEpsilonError = prvEpsilonError
        if kind == .rdpClassic { rdpOrders = RDPAccountant.authorsOrders }
    }

    /// Throws when (σ, q, T, δ) lie outside what this accounting takes, saying which input and why.
    public func validate(sigma: Double, sampleRate: Double, steps: Int, delta: Double) throws {
        guard sigma.isFinite, sigma > 0 else { throw AccountingError("σ must be a positive number, got \(sigma)") }
        guard sampleRate.isFinite, sampleRate > 0, sampleRate <= 1 else {
            throw AccountingError("the sample rate q must lie in (0, 1], got \(sampleRate)")
        }
        guard steps >= 0, steps <= Self.maximumSteps else {
            throw AccountingError("steps must lie in 0...\(Self.maximumSteps), got \(steps)")
        }
        guard delta.isFinite, delta > 0, delta < 1 else { throw AccountingError("δ must lie in (0, 1), got \(delta)") }
        if kind == .prv {
            guard prvEpsilonError.isFinite, prvEpsilonError > 0, prvEpsilonError <= 1 else {
                throw AccountingError("the PRV ε error must lie in (0, 1], got \(prvEpsilonError)")
            }
            if steps == 0 { return }
            let prv = PRVAccountant(epsilonError: prvEpsilonError)
            let points = prv.domainPoints(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta)
            guard points <= Double(PRVAccountant.maximumDomainPoints) else {
                let bytes = prv.estimatedBytes(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta)
                throw AccountingError(String(format: "PRV at σ %g, q %g, T %d, ε_err %g needs a grid of %.3g points (about %@ of memory), "
                                             + "above its limit of %d: use --accountant rdp, a larger --epsilon-error, or a larger σ",
                                             sigma, sampleRate, steps, prvEpsilonError, points, Self.bytesText(bytes),
                                             PRVAccountant.maximumDomainPoints))
            }
        }
    }

    static func bytesText(_ bytes: Double) -> String {
        !bytes.isFinite ? "unbounded" : bytes >= 1e12 ? String(format: "%.0f TB", bytes / 1e12) : bytes >= 1e9
            ? String(format: "%.1f GB", bytes / 1e9) : String(format: "%.0f MB", bytes / 1e6)
    }

    /// The bound a run may claim; throws for inputs outside `validate`'s domain.
    public func epsilon(sigma: Double, sampleRate: Double, steps: Int, delta: Double) throws -> Double {
        try validate(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta)
        if steps == 0 { return 0 }
        switch kind {
        case .rdp, .rdpClassic:
            return RDPAccountant(orders: rdpOrders, conversion: conversion).epsilon(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta).epsilon
        case .prv:
            return PRVAccountant(epsilonError: prvEpsilonError).epsilon(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta).upper
        }
    }

    /// Human-readable statement of what this accounting assumes, for run records.
    public var description: String {
        switch kind {
        case .rdp: "RDP (Poisson-subsampled Gaussian, add/remove adjacency, \(conversion.rawValue) conversion)"
        case .rdpClassic: "RDP as the RGP authors' code (Poisson-subsampled Gaussian, add/remove adjacency, classic conversion, orders 2.0–31.9)"
        case .prv: "PRV (Gopi et al. 2021; Poisson-subsampled Gaussian, add/remove adjacency, upper bound at ε_err \(prvEpsilonError))"
        }
    }

    /// The smallest σ (to `relativeTolerance`) whose ε for (q, T, δ) is at most `targetEpsilon`, by bisection; the
    /// returned σ is the upper end of the final bracket, so its ε never exceeds the target. The search stays in
    /// (0, `maximumSigma`]; a σ the accountant cannot evaluate (PRV's grid limit) counts as missing the target, which
    /// can only raise σ. A target that no σ ≤ `maximumSigma` reaches is an error.
    public func sigma(targetEpsilon: Double, sampleRate: Double, steps: Int, delta: Double,
                      relativeTolerance: Double = 1e-4) throws -> Double {
        guard targetEpsilon.isFinite, targetEpsilon > 0 else {
            throw AccountingError("the target ε must be a positive number, got \(targetEpsilon)")
        }
        try validate(sigma: 1, sampleRate: sampleRate, steps: 0, delta: delta)
        guard steps >= 1, steps <= Self.maximumSteps else { throw AccountingError("steps must lie in 1...\(Self.maximumSteps), got \(steps)") }
        func meets(_ sigma: Double) -> Bool {
            guard let eps = try? epsilon(sigma: sigma, sampleRate: sampleRate, steps: steps, delta: delta) else { return false }
            return eps <= targetEpsilon
        }
        var high = 1.0
        while !meets(high) {
            high *= 2
            if high > Self.maximumSigma {
                throw AccountingError(String(format: "no σ ≤ %g reaches ε %g at q %g, T %d, δ %g (\(description))",
                                             Self.maximumSigma, targetEpsilon, sampleRate, steps, delta))
            }
        }
        var low = high / 2
        while low > 1e-3 && meets(low) { (high, low) = (low, low / 2) }
        while (high - low) / high > relativeTolerance {
            let middle = (low + high) / 2
            if meets(middle) { high = middle } else { low = middle }
        }
        return high
    }
}
