import CKernels

/// Layer normalisation over the last dimension: y = (x − μ) / √(σ² + eps) · γ + β.
public enum LayerNorm {
    /// x, y: rows×columns; gamma, beta: columns; mean, rstd: rows (saved for backward). `y` may alias `x`.
    public static func forward(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, eps: Float
    ) {
        // Rows are independent: split across the workers (results equal the sequential pass).
        Parallel.rows(rows) { start, count in
            forwardRows(x, gamma: gamma, beta: beta, into: y, mean: mean, rstd: rstd, rows: start..<(start + count),
                        columns: columns, eps: eps)
        }
    }

    static func forwardRows(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Range<Int>, columns: Int, eps: Float
    ) {
        // In C per instruction set: the row sums over 16 lanes (a float sum in Swift is one serial chain).
        rgp_layer_norm_forward(x + rows.lowerBound * columns, gamma, beta, y + rows.lowerBound * columns,
                               mean + rows.lowerBound, rstd + rows.lowerBound, rows.count, columns, eps)
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
        // Without γ/β gradients (summed over rows) the rows are independent and split across the workers.
        if gammaGradient == nil && betaGradient == nil {
            Parallel.rows(rows) { start, count in
                backwardRows(outputGradient: dy, input: x, gamma: gamma, mean: mean, rstd: rstd, inputGradient: dx,
                             accumulateInput: accumulateInput, gammaGradient: nil, betaGradient: nil,
                             rows: start..<(start + count), columns: columns)
            }
        } else {
            backwardRows(outputGradient: dy, input: x, gamma: gamma, mean: mean, rstd: rstd, inputGradient: dx,
                         accumulateInput: accumulateInput, gammaGradient: gammaGradient, betaGradient: betaGradient,
                         rows: 0..<rows, columns: columns)
        }
    }

    /// dγ += Σ dy · x̂ and dβ += Σ dy alone (no input gradient): the same sums, in the same order, as `backward`.
    public static func parameterGradients(
        outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, gammaGradient: UnsafeMutablePointer<Float>?, betaGradient: UnsafeMutablePointer<Float>?,
        rows: Int, columns: Int
    ) {
        backwardRows(outputGradient: dy, input: x, gamma: nil, mean: mean, rstd: rstd, inputGradient: nil,
                     accumulateInput: false, gammaGradient: gammaGradient, betaGradient: betaGradient,
                     rows: 0..<rows, columns: columns)
    }

    /// Without `dx` (and then without γ) only the parameter sums.
    static func backwardRows(
        outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, gamma: UnsafePointer<Float>?,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        inputGradient dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool,
        gammaGradient: UnsafeMutablePointer<Float>?, betaGradient: UnsafeMutablePointer<Float>?,
        rows: Range<Int>, columns: Int
    ) {
        for r in rows where gammaGradient != nil || betaGradient != nil {
            let xr = x + r * columns, dyr = dy + r * columns
            let mu = mean[r], s = rstd[r]
            if let gammaGradient {
                for j in 0..<columns { gammaGradient[j] += dyr[j] * (xr[j] - mu) * s }
            }
            if let betaGradient {
                for j in 0..<columns { betaGradient[j] += dyr[j] }
            }
        }
        guard let dx, let gamma else { return }
        // In C per instruction set: the row sums over 16 lanes (a float sum in Swift is one serial chain).
        rgp_layer_norm_backward(dy + rows.lowerBound * columns, x + rows.lowerBound * columns, gamma, mean + rows.lowerBound,
                                rstd + rows.lowerBound, dx + rows.lowerBound * columns, rows.count, columns,
                                accumulateInput ? 1 : 0)
    }
}
