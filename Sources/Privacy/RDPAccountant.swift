import Foundation

/// Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov 2017; Mironov, Talwar, Zhang 2019),
/// in log space so that small σ and large T neither overflow nor lose precision.
///
/// Assumes **Poisson sampling** with rate q and add/remove-one adjacency. Integer orders use the exact binomial
/// expansion; fractional orders the two-sided series of Mironov et al. (as Opacus and TF Privacy compute them).
public struct RDPAccountant: Sendable {
    /// How an RDP curve becomes (ε, δ).
    public enum Conversion: String, Sendable, CaseIterable {
        /// ε = RDP(α) + log((α−1)/α) − (log δ + log α)/(α−1) (Balle et al. 2020), as current Opacus and dp_accounting.
        case tight
        /// ε = RDP(α) + log(1/δ)/(α−1) (Mironov 2017), as the RGP authors' code.
        case classic
    }

    /// Opacus's default grid (1.1 to 10.9 in steps of 0.1, then 12 to 63) extended with larger orders for
    /// small-ε regimes.
    public static let defaultOrders: [Double] = {
        let fine: [Double] = (1..<100).map { 1 + Double($0) / 10 }
        let integers: [Double] = (12..<64).map { Double($0) }
        let large: [Double] = [80, 96, 128, 192, 256, 384, 512]
        return fine + integers + large
    }()

    /// The RGP authors' grid: 2.0 to 31.9 in steps of 0.1.
    public static let authorsOrders: [Double] = (0..<300).map { 2 + Double($0) / 10 }

    public var orders: [Double]
    public var conversion: Conversion

    public init(orders: [Double] = RDPAccountant.defaultOrders, conversion: Conversion = .tight) {
        self.orders = orders
        self.conversion = conversion
    }

    /// RDP of T compositions at each order.
    public func rdp(sigma: Double, sampleRate q: Double, steps: Int) -> [Double] {
        orders.map { Double(steps) * Self.rdpOneStep(q: q, sigma: sigma, alpha: $0) }
    }

    /// The smallest ε over the orders for the given δ, and the order attaining it.
    public func epsilon(sigma: Double, sampleRate q: Double, steps: Int, delta: Double) -> (epsilon: Double, order: Double) {
        precondition(delta > 0 && delta < 1, "δ must lie in (0, 1)")
        let curve = rdp(sigma: sigma, sampleRate: q, steps: steps)
        var best = (epsilon: Double.infinity, order: orders.first ?? 0)
        for (alpha, r) in zip(orders, curve) where alpha > 1 {
            let eps: Double
            switch conversion {
            case .classic: eps = r + log(1 / delta) / (alpha - 1)
            case .tight: eps = r + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1)
            }
            if eps < best.epsilon { best = (eps, alpha) }
        }
        return (Swift.max(0, best.epsilon), best.order)
    }

    /// RDP of one step of the sampled Gaussian mechanism at order α.
    static func rdpOneStep(q: Double, sigma: Double, alpha: Double) -> Double {
        if q == 0 { return 0 }
        if sigma == 0 { return .infinity }
        if q == 1 { return alpha / (2 * sigma * sigma) }
        if alpha.isInfinite { return .infinity }
        let logA = alpha == alpha.rounded() ? logAInteger(q: q, sigma: sigma, alpha: Int(alpha))
                                            : logAFractional(q: q, sigma: sigma, alpha: alpha)
        return logA / (alpha - 1)
    }

    static func logAInteger(q: Double, sigma: Double, alpha: Int) -> Double {
        var logA = -Double.infinity
        for i in 0...alpha {
            let logBinomial = lgamma(Double(alpha) + 1) - lgamma(Double(i) + 1) - lgamma(Double(alpha - i) + 1)
            let term = logBinomial + Double(i) * log(q) + Double(alpha - i) * log1p(-q)
                + Double(i * i - i) / (2 * sigma * sigma)
            logA = Special.logAdd(logA, term)
        }
        return logA
    }

    static func logAFractional(q: Double, sigma: Double, alpha: Double) -> Double {
        var logA0 = -Double.infinity, logA1 = -Double.infinity
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        var logAbsBinomial = 0.0, binomialSign = 1.0  // binom(α, 0) = 1
        var i = 0.0
        while true {
            let j = alpha - i
            let logT0 = logAbsBinomial + i * log(q) + j * log1p(-q)
            let logT1 = logAbsBinomial + j * log(q) + i * log1p(-q)
            let logE0 = log(0.5) + Special.logErfc((i - z0) / (2.0.squareRoot() * sigma))
            let logE1 = log(0.5) + Special.logErfc((z0 - j) / (2.0.squareRoot() * sigma))
            let logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0
            let logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
            if binomialSign > 0 {
                logA0 = Special.logAdd(logA0, logS0)
                logA1 = Special.logAdd(logA1, logS1)
            } else {
                logA0 = Special.logSub(logA0, logS0)
                logA1 = Special.logSub(logA1, logS1)
            }
            if Swift.max(logS0, logS1) < -30 || i > 10_000 { break }
            // binom(α, i+1) = binom(α, i) · (α − i)/(i + 1)
            let factor = (alpha - i) / (i + 1)
            if factor < 0 { binomialSign = -binomialSign }
            logAbsBinomial += log(abs(factor))
            i += 1
        }
        return Special.logAdd(logA0, logA1)
    }
}
