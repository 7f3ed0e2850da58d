import CFFTW
import Foundation

/// Numerical accountant by privacy-loss-random-variable composition (Gopi, Lee, Wutschitz 2021) for the
/// Poisson-subsampled Gaussian mechanism, with its error stated.
///
/// Assumes **Poisson sampling** with rate q and add/remove-one adjacency; both directions (remove: P = mixture vs
/// Q = N(0, σ²); add: the reverse) are composed and the larger ε is reported. Per direction:
/// 1. the single-step loss is discretised on a grid of mesh h, each cell's mass placed at its centre and the whole
///    grid shifted so the discrete mean equals the true mean (computed by quadrature);
/// 2. the T-fold composition is one FFT, a T-th power, and one inverse FFT (FFTW) on a circular domain wide enough
///    that the tails it wraps hold less than δ_err/4 each (upper tail bounded through RDP, lower tail by
///    Maurer's inequality, or through RDP for the add direction);
/// 3. the discretisation error of the sum is at most ε_err except with probability δ_err/2 (Hoeffding, as the
///    per-step errors are independent, zero-mean and bounded by h), which sets h = ε_err / √(2T·ln(4/δ_err)).
/// So the true ε(δ) lies in [ε̃(δ + δ_err) − ε_err, ε̃(δ − δ_err) + ε_err], where ε̃ is the composed discrete curve;
/// `upper` is what a run reports.
public struct PRVAccountant: Sendable {
    /// The error interval around the estimate.
    public struct Report: Sendable, Equatable {
        public var lower: Double
        public var estimate: Double
        public var upper: Double
    }

    /// ε_err: half-width in ε of the discretisation error (Opacus's default 0.01).
    public var epsilonError: Double
    /// δ_err; nil means δ/1000 (Opacus's default).
    public var deltaError: Double?

    public init(epsilonError: Double = 0.01, deltaError: Double? = nil) {
        self.epsilonError = epsilonError
        self.deltaError = deltaError
    }

    /// Grid points a composition may hold (2²²: about 170 MB of buffers, seconds of work); inputs needing more are
    /// refused. The paper profile's cells need about 2²⁰ (T ≈ 1000, ε_err 0.01).
    public static let maximumDomainPoints = 1 << 22

    /// Bytes per grid point of one composition (the single-step grid, its spectrum and the composed curve's tables).
    static let bytesPerPoint = 40

    /// Grid points the larger of the two directions' compositions needs for these inputs (computed, not allocated).
    public func domainPoints(sigma: Double, sampleRate q: Double, steps: Int, delta: Double) -> Double {
        let deltaError = self.deltaError ?? delta / 1000
        return [Direction.remove, .add].map { direction -> Double in
            let d = Composition.domain(direction: direction, sigma: sigma, q: q, steps: steps, epsilonError: epsilonError,
                                       deltaError: deltaError)
            let points = (d.high - d.low) / d.mesh + 1
            return points.isFinite ? exp2(ceil(log2(points))) : .infinity
        }.max() ?? .infinity
    }

    /// The memory a composition for these inputs would take, in bytes (an estimate, before anything is allocated).
    public func estimatedBytes(sigma: Double, sampleRate q: Double, steps: Int, delta: Double) -> Double {
        domainPoints(sigma: sigma, sampleRate: q, steps: steps, delta: delta) * Double(Self.bytesPerPoint)
    }

    public func epsilon(sigma: Double, sampleRate q: Double, steps: Int, delta: Double) -> Report {
        precondition(sigma > 0 && q > 0 && q <= 1 && steps >= 1 && delta > 0 && delta < 1)
        let deltaError = self.deltaError ?? delta / 1000
        precondition(deltaError < delta, "δ_err must be smaller than δ")
        var result = Report(lower: 0, estimate: 0, upper: 0)
        for direction in [Direction.remove, .add] {
            let composed = Composition(direction: direction, sigma: sigma, q: q, steps: steps,
                                       epsilonError: epsilonError, deltaError: deltaError)
            let estimate = composed.epsilon(delta: delta)
            let upper = composed.epsilon(delta: delta - deltaError) + epsilonError
            let lower = Swift.max(0, composed.epsilon(delta: delta + deltaError) - epsilonError)
            result.estimate = Swift.max(result.estimate, estimate)
            result.upper = Swift.max(result.upper, upper)
            result.lower = Swift.max(result.lower, lower)
        }
        return result
    }

    enum Direction { case remove, add }

    /// The T-fold composition of one direction's discretised privacy loss.
    struct Composition {
        var values: [Double]       // loss at each retained grid point
        var masses: [Double]       // its probability
        var infiniteMass: Double   // probability of losses beyond the domain, counted as +∞
        var suffixMass: [Double] = []      // Σ_{j ≥ i} m_j
        var suffixWeighted: [Double] = []  // Σ_{j ≥ i} m_j e^{−v_j}

        /// The composed domain [low, high] and mesh h of one direction (no allocation: also the memory estimate).
        static func domain(direction: Direction, sigma: Double, q: Double, steps: Int, epsilonError: Double,
                           deltaError: Double) -> (low: Double, high: Double, mesh: Double) {
            let loss = Loss(direction: direction, mu: 1 / sigma, q: q)
            let t = Double(steps)
            let mesh = epsilonError / (2 * t * log(4 / deltaError)).squareRoot()
            let tailProbability = deltaError / 4

            // Composed domain [low, high].
            let rdp = RDPAccountant(orders: RDPAccountant.defaultOrders, conversion: .classic)
            let high = rdp.epsilon(sigma: sigma, sampleRate: q, steps: steps, delta: tailProbability).epsilon + 1
            let moments = loss.moments()
            let low: Double
            switch direction {
            case .remove:
                // Two bounds on P(S ≤ −s), the higher (tighter) domain edge wins:
                // Maurer: S − E S ≤ −s with probability ≤ exp(−s² / (2 T E[(Y − b)²])), Y ≥ b = log(1 − q) (finite
                // for q < 1); and for any q, P(S ≤ −s) = P(p ≤ e^{−s} q) ≤ e^{−s}, the T-step densities' ratio being
                // e^S. At q = 1 (full batch, b = −∞) only the second holds.
                let universal = -log(1 / tailProbability)
                let spread = (2 * t * moments.secondAboutLowerBound * log(1 / tailProbability)).squareRoot()
                let maurer = t * moments.mean - spread
                low = (maurer.isFinite ? Swift.max(maurer, universal) : universal) - 1
            case .add:
                // P_Q(Y' ≤ −s) ≤ exp((λ−1)·D_λ(P‖Q) − λ s) for λ > 1, D from the RDP curve.
                let curve = rdp.rdp(sigma: sigma, sampleRate: q, steps: steps)
                var bound = Double.infinity
                for (lambda, d) in zip(rdp.orders, curve) where lambda > 1 {
                    bound = Swift.min(bound, ((lambda - 1) * d + log(1 / tailProbability)) / lambda)
                }
                low = -bound - 1
            }
            return (low, high, mesh)
        }

        init(direction: Direction, sigma: Double, q: Double, steps: Int, epsilonError: Double, deltaError: Double) {
            let loss = Loss(direction: direction, mu: 1 / sigma, q: q)
            let t = Double(steps)
            let (low, high, mesh) = Self.domain(direction: direction, sigma: sigma, q: q, steps: steps,
                                                epsilonError: epsilonError, deltaError: deltaError)
            let moments = loss.moments()
            let size = 1 << Int(ceil(log2((high - low) / mesh + 1)))
            let lowIndex = Int(floor(low / mesh))

            // Single step: cell k ∈ [kMin, kMax] holds P((k − ½)h < Y ≤ (k + ½)h), placed at k·h.
            let kMin = loss.lowerSupport.isFinite ? Swift.max(lowIndex, Int(floor(loss.lowerSupport / mesh))) : lowIndex
            let kMax = Swift.min(lowIndex + size - 1, Int(ceil(Swift.min(loss.upperSupport, high) / mesh)))
            var single = [Double](repeating: 0, count: size)
            var discreteMean = 0.0, retained = 0.0
            var previous = loss.cdfAndSurvival((Double(kMin) - 0.5) * mesh)
            var belowDomain = previous.cdf  // mass under the first cell: moved up into it (pessimistic)
            for k in kMin...kMax {
                let next = loss.cdfAndSurvival((Double(k) + 0.5) * mesh)
                // Difference the smaller side for relative accuracy in both tails.
                var mass = next.cdf < 0.5 ? next.cdf - previous.cdf : previous.survival - next.survival
                mass = Swift.max(0, mass) + belowDomain
                belowDomain = 0
                single[((k % size) + size) % size] += mass
                discreteMean += mass * Double(k) * mesh
                retained += mass
                previous = next
            }
            let infiniteSingle = Swift.max(0, previous.survival)
            let shift = moments.mean - discreteMean / Swift.max(retained, 1e-300)

            // T-fold composition by FFT: pmf_T = IFFT(FFT(pmf)^T).
            let spectrumCount = size / 2 + 1
            let input = fftw_alloc_real(size)!, spectrum = fftw_alloc_complex(spectrumCount)!
            defer { fftw_free(input); fftw_free(spectrum) }
            for i in 0..<size { input[i] = single[i] }
            RealFFT.forward(input, spectrum, count: size)
            for i in 0..<spectrumCount {
                let (re, im) = spectrum[i]
                let magnitude = (re * re + im * im).squareRoot()
                if magnitude == 0 {
                    spectrum[i] = (0, 0)
                    continue
                }
                let power = exp(t * log(magnitude)), angle = t * atan2(im, re)
                spectrum[i] = (power * cos(angle), power * sin(angle))
            }
            RealFFT.inverse(spectrum, input, count: size)

            values = []
            masses = []
            values.reserveCapacity(size)
            masses.reserveCapacity(size)
            for offset in 0..<size {
                let k = lowIndex + offset
                let mass = input[((k % size) + size) % size] / Double(size)
                if mass > 0 {
                    values.append(Double(k) * mesh + t * shift)
                    masses.append(mass)
                }
            }
            infiniteMass = -expm1(t * log1p(-infiniteSingle))
            suffixMass = [Double](repeating: 0, count: values.count + 1)
            suffixWeighted = [Double](repeating: 0, count: values.count + 1)
            for i in stride(from: values.count - 1, through: 0, by: -1) {
                suffixMass[i] = suffixMass[i + 1] + masses[i]
                suffixWeighted[i] = suffixWeighted[i + 1] + masses[i] * exp(-values[i])
            }
        }

        /// δ̃(ε) = E[(1 − e^{ε − Y})₊] over the composed discrete loss, plus the mass at +∞.
        /// With the values ascending, δ̃(ε) = M(ε) − e^ε·S(ε) from suffix sums M = Σ_{v>ε} m and S = Σ_{v>ε} m·e^{−v},
        /// so each evaluation is a binary search.
        func delta(epsilon: Double) -> Double {
            var low = 0, high = values.count  // first index with value > ε
            while low < high {
                let middle = (low + high) / 2
                if values[middle] > epsilon { high = middle } else { low = middle + 1 }
            }
            if low == values.count { return infiniteMass }
            let total = suffixMass[low] - exp(epsilon) * suffixWeighted[low]
            return Swift.max(0, total) + infiniteMass
        }

        /// The smallest ε with δ̃(ε) ≤ δ, by bisection (δ̃ decreases in ε).
        func epsilon(delta target: Double) -> Double {
            if delta(epsilon: 0) <= target { return 0 }
            var low = 0.0, high = Swift.max(1.0, values.last ?? 1)
            while delta(epsilon: high) > target { high *= 2 }
            for _ in 0..<60 where high - low > 1e-9 {
                let middle = (low + high) / 2
                if delta(epsilon: middle) > target { low = middle } else { high = middle }
            }
            return high
        }
    }

    /// The single-step privacy loss of one direction, with μ = 1/σ (unit sensitivity).
    struct Loss {
        var direction: Direction
        var mu: Double
        var q: Double

        /// Support: remove losses lie in [log(1 − q), ∞); add losses in (−∞, −log(1 − q)].
        var lowerSupport: Double { direction == .remove ? log1p(-q) : -.infinity }
        var upperSupport: Double { direction == .remove ? .infinity : -log1p(-q) }

        /// P(Y ≤ t) and P(Y > t), each computed directly so that neither tail loses precision.
        func cdfAndSurvival(_ t: Double) -> (cdf: Double, survival: Double) {
            switch direction {
            case .remove:
                // Y = log(1 − q + q e^{μX − μ²/2}), X ~ (1 − q) N(0, 1) + q N(μ, 1).
                if t <= log1p(-q) { return (0, 1) }
                let z = log1p(expm1(t) / q), x = z / mu + mu / 2
                let cdf = (1 - q) * Special.normalCDF(x) + q * Special.normalCDF(x - mu)
                let survival = (1 - q) * Special.normalCDF(-x) + q * Special.normalCDF(mu - x)
                return (cdf, survival)
            case .add:
                // Y' = −log(1 − q + q e^{μX − μ²/2}), X ~ N(0, 1): Y' ≤ t ⇔ X ≥ z'/μ + μ/2.
                if t >= -log1p(-q) { return (1, 0) }
                let z = log1p(expm1(-t) / q), x = z / mu + mu / 2
                return (Special.normalCDF(-x), Special.normalCDF(x))
            }
        }

        /// E[Y] and E[(Y − b)²] with b the lower support (remove only), by composite Simpson quadrature over x.
        func moments() -> (mean: Double, secondAboutLowerBound: Double) {
            let lowerX = -40.0, upperX = 40.0 + mu, intervals = 400_000
            let h = (upperX - lowerX) / Double(intervals)
            let b = direction == .remove ? log1p(-q) : 0
            var mean = 0.0, second = 0.0
            for i in 0...intervals {
                let x = lowerX + Double(i) * h
                let weight = (i == 0 || i == intervals) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0)
                // log(1 − q + q e^{μx − μ²/2}) without overflow.
                let l = Special.logAdd(log1p(-q), log(q) + mu * x - mu * mu / 2)
                let phi0 = exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
                let density: Double, y: Double
                switch direction {
                case .remove:
                    let phi1 = exp(-0.5 * (x - mu) * (x - mu)) / (2 * Double.pi).squareRoot()
                    density = (1 - q) * phi0 + q * phi1
                    y = l
                case .add:
                    density = phi0
                    y = -l
                }
                mean += weight * density * y
                second += weight * density * (y - b) * (y - b)
            }
            return (mean * h / 3, second * h / 3)
        }
    }
}

/// Real-input FFTs on FFTW that may run on several threads at once.
///
/// FFTW's planner keeps global state: only `fftw_execute` is thread-safe, so making or destroying plans on two threads
/// at once corrupts the heap (seen as crashes when accountants ran in parallel tests). Plans are made and destroyed
/// under one lock; the transforms themselves run unlocked.
enum RealFFT {
    private static let plannerLock = NSLock()

    /// spectrum[0 ..< n/2+1] = DFT(input[0 ..< n]), unnormalised.
    static func forward(_ input: UnsafeMutablePointer<Double>, _ spectrum: UnsafeMutablePointer<fftw_complex>, count n: Int) {
        let plan = plannerLock.withLock { fftw_plan_dft_r2c_1d(Int32(n), input, spectrum, UInt32(FFTW_ESTIMATE)) }
        fftw_execute(plan)
        plannerLock.withLock { fftw_destroy_plan(plan) }
    }

    /// output[0 ..< n] = n · IDFT(spectrum[0 ..< n/2+1]) (FFTW's unnormalised inverse; `spectrum` is overwritten).
    static func inverse(_ spectrum: UnsafeMutablePointer<fftw_complex>, _ output: UnsafeMutablePointer<Double>, count n: Int) {
        let plan = plannerLock.withLock { fftw_plan_dft_c2r_1d(Int32(n), spectrum, output, UInt32(FFTW_ESTIMATE)) }
        fftw_execute(plan)
        plannerLock.withLock { fftw_destroy_plan(plan) }
    }
}
