/// Row-wise softmax with an optional key mask, as attention uses it.
public enum Softmax {
    /// y[r, j] = exp(x[r, j] − max) / Σ over unmasked j, for rows×columns x.
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
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            let mask = keyMask.map { $0 + ((firstRow + r) / rowsPerMask) * columns }
            var maximum = -Float.infinity
            if let mask {
                for j in 0..<columns where mask[j] != 0 { maximum = Swift.max(maximum, xr[j]) }
            } else {
                for j in 0..<columns { maximum = Swift.max(maximum, xr[j]) }
            }
            if maximum == -Float.infinity {  // fully masked row
                yr.update(repeating: 0, count: columns)
                continue
            }
            var sum: Float = 0
            if let mask {
                for j in 0..<columns {
                    let e = mask[j] != 0 ? _expf(xr[j] - maximum) : 0
                    yr[j] = e
                    sum += e
                }
            } else {
                for j in 0..<columns {
                    let e = _expf(xr[j] - maximum)
                    yr[j] = e
                    sum += e
                }
            }
            let inverse = 1 / sum
            for j in 0..<columns { yr[j] *= inverse }
        }
    }

    /// dx[r, j] = y[r, j] · (dy[r, j] − Σₖ dy[r, k] · y[r, k]). Masked entries have y = 0, so need no mask here.
    /// `dx` may alias `dy`.
    public static func backward(
        output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, rows: Int, columns: Int
    ) {
        for r in 0..<rows {
            let yr = y + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            var dot: Float = 0
            for j in 0..<columns { dot += dyr[j] * yr[j] }
            for j in 0..<columns { dxr[j] = yr[j] * (dyr[j] - dot) }
        }
    }
}
