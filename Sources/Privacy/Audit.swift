import Foundation

/// The one-run privacy audit of Steinke, Nasr and Jagielski (NeurIPS 2023, "Privacy Auditing with One (1) Training
/// Run"): from how many of r membership guesses about m canaries were right, the largest ε that an (ε, δ)-DP claim
/// could have and still make that many right guesses likely (p ≥ α). What it returns is an empirical **lower** bound on
/// the ε of the mechanism that ran: a bug that removes noise or skips clipping shows as ε_lb above the claimed ε.
public enum OneRunAudit {
    /// log C(n, k) from a table of log k!, built once per size.
    struct LogFactorials {
        let values: [Double]
        init(upTo n: Int) {
            var values = [Double](repeating: 0, count: n + 1)
            for k in stride(from: 2, through: n, by: 1) { values[k] = values[k - 1] + log(Double(k)) }
            self.values = values
        }
        func logBinomial(_ n: Int, _ k: Int) -> Double { values[n] - values[k] - values[n - k] }
    }

    /// p-value of the hypothesis "(ε, δ)-DP" given v correct of r guesses about m canaries:
    /// P[Bin(r, q') ≥ v] + 2·m·δ·max_{i=1..v} P[v−i ≤ Bin(r, q') < v] / i, with q' = e^ε/(1 + e^ε) (capped at 1).
    public static func pValue(canaries m: Int, guesses r: Int, correct v: Int, epsilon: Double, delta: Double) -> Double {
        pValue(canaries: m, guesses: r, correct: v, epsilon: epsilon, delta: delta, table: LogFactorials(upTo: r))
    }

    static func pValue(canaries m: Int, guesses r: Int, correct v: Int, epsilon: Double, delta: Double, table: LogFactorials) -> Double {
        guard r > 0, v > 0 else { return 1 }
        // log q' and log(1 − q') without cancellation.
        let logQ = -log1p(exp(-epsilon)), logNotQ = -log1p(exp(epsilon))
        func pmf(_ j: Int) -> Double { exp(table.logBinomial(r, j) + Double(j) * logQ + Double(r - j) * logNotQ) }
        var beta = 0.0
        for j in v...r { beta += pmf(j) }
        if delta == 0 { return Swift.min(beta, 1) }
        var best = 0.0, cumulative = 0.0
        for i in 1...v {
            cumulative += pmf(v - i)
            best = Swift.max(best, cumulative / Double(i))
        }
        return Swift.min(beta + best * delta * 2 * Double(m), 1)
    }

    /// The largest ε whose claim the observation (v of r right, m canaries) rejects at level `significance`, or
    /// `atLeast` when none above it is rejected. Bisection to 1e-9.
    public static func epsilonLowerBound(canaries m: Int, guesses r: Int, correct v: Int, significance: Double, delta: Double,
                                         atLeast low: Double = 0) -> Double {
        let table = LogFactorials(upTo: r)
        func p(_ epsilon: Double, _ delta: Double) -> Double { pValue(canaries: m, guesses: r, correct: v, epsilon: epsilon, delta: delta, table: table) }
        // Not rejected even without δ at the floor: nothing above it is rejected either (p grows with ε and δ).
        if p(low, 0) > significance || p(low, delta) >= significance { return low }
        var lo = low, hi = Swift.max(1.0, 2 * low)
        while p(hi, delta) < significance {
            (lo, hi) = (hi, hi * 2)
            if hi > 1e4 { return lo }
        }
        for _ in 0..<200 where hi - lo > 1e-9 {
            let middle = (lo + hi) / 2
            if p(middle, delta) < significance { lo = middle } else { hi = middle }
        }
        return lo
    }

    /// ε lower bound from attack scores of held-in and held-out canaries, as JAX Privacy's `CanaryScoreAuditor
    /// .epsilon_one_run` computes it (one-sided): every threshold on the Pareto frontier of (false negatives, true
    /// negatives) counts is a hypothesis "in = score ≥ threshold", with a Bonferroni correction over them.
    public static func epsilonLowerBound(inScores: [Double], outScores: [Double], significance: Double, delta: Double) -> Double {
        precondition(!inScores.isEmpty && !outScores.isEmpty)
        let inSorted = inScores.sorted(), outSorted = outScores.sorted()
        let thresholds = Array(Set(inScores + outScores)).sorted() + [.infinity]
        func countBelow(_ sorted: [Double], _ t: Double) -> Int {
            var lo = 0, hi = sorted.count
            while lo < hi { let mid = (lo + hi) / 2; if sorted[mid] < t { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        var points = thresholds.map { (fn: countBelow(inSorted, $0), tn: countBelow(outSorted, $0)) }
        // Pareto frontier: repeatedly drop points weakly dominated by their neighbours (a non-positive turn).
        while points.count > 2 {
            var keep = [true]
            for i in 1..<(points.count - 1) {
                let a = points[i - 1], b = points[i], c = points[i + 1]
                let first: Int = (b.tn - a.tn) * (c.fn - b.fn)
                let second: Int = (c.tn - b.tn) * (b.fn - a.fn)
                keep.append(first - second > 0)
            }
            keep.append(true)
            if !keep.contains(false) { break }
            points = zip(points, keep).filter(\.1).map(\.0)
        }
        let positives = inScores.count, negatives = outScores.count, m = positives + negatives
        let alpha = significance / Double(points.count)
        // Highest precision first, so most thresholds are ruled out by the precision test below.
        func precision(_ c: (tp: Int, fp: Int)) -> Double { Double(c.tp) / Double(c.tp + c.fp) }
        let counts: [(tp: Int, fp: Int)] = points.map { (tp: positives - $0.fn, fp: negatives - $0.tn) }
        let candidates = counts.filter { $0.tp + $0.fp > 0 }.sorted { precision($0) > precision($1) }
        var best = 0.0
        for c in candidates {
            let r = c.tp + c.fp
            // A threshold whose raw precision is at most e^ε/(1+e^ε) cannot reject a larger ε.
            if Double(c.tp) / Double(r) <= 1 / (1 + exp(-best)) { continue }
            best = Swift.max(best, epsilonLowerBound(canaries: m, guesses: r, correct: c.tp, significance: alpha, delta: delta, atLeast: best))
        }
        return best
    }

    /// Guesses fixed before the audit: +1 for the k₊ highest scores, −1 for the k₋ lowest.
    public struct Guess: Sendable, Codable, Equatable {
        public var positives: Int
        public var negatives: Int
        public init(positives: Int, negatives: Int) {
            self.positives = positives
            self.negatives = negatives
        }
    }

    /// The outcome of an audit over a fixed grid of guesses.
    public struct Outcome: Sendable, Codable, Equatable {
        /// ε lower bound at confidence 1 − significance (Bonferroni over the grid).
        public var epsilon_lower_bound: Double
        public var canaries: Int
        public var guesses: Int
        public var correct: Int
        public var best_guess: Guess
        public var grid: [Guess]
        public var significance: Double
        public var delta: Double
        public var score: String
        /// The ε the run claims (its accountant's ε spent), beside the lower bound.
        public var claimed_epsilon: Double?
    }

    /// The grid (k₊, k₋) used for m canaries, fixed in advance: one-sided (k₋ = 0, as JAX Privacy's auditor), k₊ at
    /// 2.5, 5, 10, 20, 30, 40 and 45% of m (about half the canaries are in, and most of them are sampled at least once
    /// in a run of T ≈ 1/q steps or more). Seven hypotheses keep the Bonferroni penalty small: at m = 1000 a 42-point
    /// two-sided grid caps the bound at 3.65 even when every guess is right, seven points at about 4.4.
    public static func defaultGrid(canaries m: Int) -> [Guess] {
        var grid: [Guess] = []
        for fraction in [0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45] {
            let g = Guess(positives: Swift.max(1, Int((fraction * Double(m)).rounded())), negatives: 0)
            if g.positives <= m, !grid.contains(g) { grid.append(g) }
        }
        return grid
    }

    /// Audits scores of m canaries whose membership is `included` (S_i = +1), over a grid of guesses fixed in advance.
    public static func audit(scores: [Double], included: [Bool], grid: [Guess], significance: Double, delta: Double,
                             scoreKind: String) -> Outcome {
        precondition(scores.count == included.count && !grid.isEmpty)
        let m = scores.count
        // Rank by score; ties broken by index, which the scorer does not relate to membership.
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let alpha = significance / Double(grid.count)
        var best = Outcome(epsilon_lower_bound: 0, canaries: m, guesses: 0, correct: 0, best_guess: grid[0], grid: grid,
                           significance: significance, delta: delta, score: scoreKind)
        for guess in grid where guess.positives + guess.negatives <= m {
            let correctPlus = order.prefix(guess.positives).filter { included[$0] }.count
            let correctMinus = order.suffix(guess.negatives).filter { !included[$0] }.count
            let r = guess.positives + guess.negatives, v = correctPlus + correctMinus
            let epsilon = epsilonLowerBound(canaries: m, guesses: r, correct: v, significance: alpha, delta: delta)
            if epsilon > best.epsilon_lower_bound || best.guesses == 0 {
                (best.epsilon_lower_bound, best.guesses, best.correct, best.best_guess) = (epsilon, r, v, guess)
            }
        }
        return best
    }
}
