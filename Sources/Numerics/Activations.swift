/// GELU in BERT's exact erf form: y = x · Φ(x) = ½ x (1 + erf(x / √2)).
public enum GELU {
    /// `y` may alias `x`.
    public static func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + _erff(v * 0.707_106_781_186_547_5))
        }
    }

    /// dx = dy · (Φ(x) + x · φ(x)), φ the standard normal density. `dx` may alias `dy`.
    public static func backward(
        input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            let v = x[i]
            let cdf = 0.5 * (1 + _erff(v * 0.707_106_781_186_547_5))
            let pdf = 0.398_942_280_401_432_7 * _expf(-0.5 * v * v)
            dx[i] = dy[i] * (cdf + v * pdf)
        }
    }
}

/// Hyperbolic tangent (BERT's pooler activation).
public enum Tanh {
    /// `y` may alias `x`.
    public static func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = _tanhf(x[i]) }
    }

    /// dx = dy · (1 − y²), from the saved output. `dx` may alias `dy`.
    public static func backward(
        output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
    }
}

/// Inverted dropout: kept elements are scaled by 1/(1 − p) so the expectation is unchanged.
public enum Dropout {
    /// Draws the mask (0 or 1/(1 − p) per element) from `generator` and applies it. With p = 0 the mask is all
    /// ones. `y` may alias `x`.
    public static func forward<G: RandomNumberGenerator>(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>,
        count: Int, probability p: Float, generator: inout G
    ) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        let keep = 1 / (1 - p)
        for i in 0..<count {
            mask[i] = p == 0 || generator.nextUnitFloat() >= p ? keep : 0
            y[i] = x[i] * mask[i]
        }
    }

    /// dx = dy · mask. `dx` may alias `dy`.
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, mask: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * mask[i] }
    }
}
