import CKernels

/// Row-wise softmax with an optional key mask, as attention uses it (the loops are CKernels' `rgp_softmax_*`, built
/// for AVX-512, AVX2 and baseline x86-64 with the same fixed-lane sums, so every instruction set gives the same bits).
public enum Softmax {
    /// y[r, j] = exp(x[r, j] − max) / Σ over unmasked j, for rows×columns x; exp in single precision (relative error
    /// within 3e-7), the sum over 16 fixed lanes.
    ///
    /// `keyMask` (optional) holds one row of `columns` flags per group of `rowsPerMask` consecutive rows
    /// (attention: scores [B, H, T, T], mask [B, T], rowsPerMask = H·T); a flag of 0 excludes that column.
    /// A row whose every column is masked yields zeros rather than NaN, and so does its gradient.
    /// `firstRow` is the index of row 0 within the masked whole (for callers that split rows across threads).
    /// `y` may alias `x`.
    public static func forward(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
        keyMask: UnsafePointer<Float>? = nil, rowsPerMask: Int = 1, firstRow: Int = 0
    ) {
        guard let keyMask else {
            rgp_softmax_forward(x, y, rows, columns, nil)
            return
        }
        precondition(rowsPerMask > 0, "rowsPerMask must be positive")
        var r = 0
        while r < rows {
            let group = (firstRow + r) / rowsPerMask
            let end = Swift.min(rows, (group + 1) * rowsPerMask - firstRow)
            rgp_softmax_forward(x + r * columns, y + r * columns, end - r, columns, keyMask + group * columns)
            r = end
        }
    }

    /// dx[r, j] = y[r, j] · (dy[r, j] − Σₖ dy[r, k] · y[r, k]), the dot product over the forward's 16 lanes. Masked
    /// entries have y = 0, so need no mask here. `dx` may alias `dy`.
    public static func backward(
        output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, rows: Int, columns: Int
    ) {
        rgp_softmax_backward(y, dy, dx, rows, columns)
    }
}
