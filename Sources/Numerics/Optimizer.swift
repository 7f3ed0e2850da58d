import CKernels

/// A gradient of a rows×columns matrix given as A·B + C·D (A, C [rows, rank], B, D [rank, columns], row-major) and
/// never written out: RGP's reconstructed update.
public struct LowRankGradient: @unchecked Sendable {
    public let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>, d: UnsafePointer<Float>
    public let rank: Int
    public init(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>, d: UnsafePointer<Float>, rank: Int) {
        (self.a, self.b, self.c, self.d, self.rank) = (a, b, c, d, rank)
    }
}

/// Adam's elementwise step in CKernels (`rgp_adam*`): vectorised per instruction set, operation for operation the
/// scalar arithmetic m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g·g, θ −= step·m / (√(v / c₂) + ε), so the same bits on every
/// one; split across the workers by rows.
public enum AdamKernel {
    public struct Settings: Sendable {
        public var beta1: Float, beta2: Float, epsilon: Float
        /// The learning rate over the first moment's bias correction.
        public var stepSize: Float
        /// The second moment's bias correction 1 − β₂ᵗ.
        public var correction2: Float
        public init(beta1: Float, beta2: Float, epsilon: Float, stepSize: Float, correction2: Float) {
            (self.beta1, self.beta2, self.epsilon, self.stepSize, self.correction2) = (beta1, beta2, epsilon, stepSize, correction2)
        }
    }

    /// One step on `count` elements from a dense gradient.
    public static func step(parameter: UnsafeMutablePointer<Float>, first: UnsafeMutablePointer<Float>,
                            second: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, count: Int, settings s: Settings) {
        let chunk = 4096
        nonisolated(unsafe) let (p, m, v, g) = (parameter, first, second, gradient)
        Parallel.rows((count + chunk - 1) / chunk, minimumRows: 16) { start, chunks in
            let begin = start * chunk, end = Swift.min((start + chunks) * chunk, count)
            rgp_adam(p + begin, m + begin, v + begin, g + begin, end - begin, s.beta1, s.beta2, s.epsilon, s.stepSize,
                     s.correction2)
        }
    }

    /// One step on a rows×columns parameter from a low-rank gradient, each gradient row formed in two rows of scratch
    /// (A·B's and C·D's, then their sum) and used at once (the rows×columns gradient is never stored).
    public static func step(parameter: UnsafeMutablePointer<Float>, first: UnsafeMutablePointer<Float>,
                            second: UnsafeMutablePointer<Float>, gradient g: LowRankGradient, rows: Int, columns: Int,
                            settings s: Settings) {
        nonisolated(unsafe) let (p, m, v) = (parameter, first, second)
        Parallel.rows(rows, minimumRows: 64) { start, count in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * columns) { scratch in
                rgp_adam_low_rank(p, m, v, start, count, columns, g.rank, g.a, g.b, g.c, g.d, s.beta1, s.beta2, s.epsilon,
                                  s.stepSize, s.correction2, scratch.baseAddress!)
            }
        }
    }
}
