/// Layer normalisation over the last dimension: y = (x − μ) / √(σ² + eps) · γ + β.
public enum LayerNorm {
    /// x, y: rows×columns; gamma, beta: columns; mean, rstd: rows (saved for backward). `y` may alias `x`.
    public static func forward(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, eps: Float
    ) {
        let n = Float(columns)
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            var sum: Float = 0
            for j in 0..<columns { sum += xr[j] }
            let mu = sum / n
            var squares: Float = 0
            for j in 0..<columns {
                let d = xr[j] - mu
                squares += d * d
            }
            let s = 1 / (squares / n + eps).squareRoot()
            mean[r] = mu
            rstd[r] = s
            for j in 0..<columns { yr[j] = (xr[j] - mu) * s * gamma[j] + beta[j] }
        }
    }

    /// dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)) with ĝ = dy · γ, written (or added, when
    /// `accumulateInput`) into dx; dγ += Σ dy · x̂ and dβ += Σ dy when those buffers are given.
    /// `dx` may alias `dy` only when not accumulating.
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        inputGradient dx: UnsafeMutablePointer<Float>, accumulateInput: Bool = false,
        gammaGradient: UnsafeMutablePointer<Float>? = nil, betaGradient: UnsafeMutablePointer<Float>? = nil,
        rows: Int, columns: Int
    ) {
        let n = Float(columns)
        for r in 0..<rows {
            let xr = x + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            let mu = mean[r], s = rstd[r]
            var sumG: Float = 0, sumGX: Float = 0
            for j in 0..<columns {
                let g = dyr[j] * gamma[j]
                sumG += g
                sumGX += g * (xr[j] - mu) * s
            }
            let meanG = sumG / n, meanGX = sumGX / n
            if let gammaGradient {
                for j in 0..<columns { gammaGradient[j] += dyr[j] * (xr[j] - mu) * s }
            }
            if let betaGradient {
                for j in 0..<columns { betaGradient[j] += dyr[j] }
            }
            if accumulateInput {
                for j in 0..<columns {
                    dxr[j] += s * (dyr[j] * gamma[j] - meanG - (xr[j] - mu) * s * meanGX)
                }
            } else {
                for j in 0..<columns {
                    dxr[j] = s * (dyr[j] * gamma[j] - meanG - (xr[j] - mu) * s * meanGX)
                }
            }
        }
    }
}
