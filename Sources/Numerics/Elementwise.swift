import CKernels

/// Small elementwise kernels that the layers compose (residual adds, scaling, reductions).
public enum Elementwise {
    /// y = a + b (split across the elementwise workers). `y` may alias either input.
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        Parallel.chunks(count) { start, n in rgp_add(a + start, b + start, y + start, n) }
    }

    /// y = a · b (split across the elementwise workers). `y` may alias either input.
    public static func multiply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        Parallel.chunks(count) { start, n in rgp_multiply(a + start, b + start, y + start, n) }
    }

    /// y = a − b (split across the elementwise workers). `y` may alias either input.
    public static func subtract(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        Parallel.chunks(count) { start, n in
            let (a, b, y) = (a + start, b + start, y + start)
            for i in 0..<n { y[i] = a[i] - b[i] }
        }
    }

    /// Whether any of x's elements is not zero (a NaN counts), stopping at the first.
    public static func hasNonzero(_ x: UnsafePointer<Float>, count: Int) -> Bool {
        var i = 0
        while i < count {
            let end = Swift.min(i + 4096, count)
            var bits: UInt32 = 0  // sign bits dropped: −0 is zero
            for j in i..<end { bits |= x[j].bitPattern & 0x7fff_ffff }
            if bits != 0 { return true }
            i = end
        }
        return false
    }

    /// y += alpha · x.
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// x *= alpha.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
        for i in 0..<count { x[i] *= alpha }
    }

    /// Σ x², accumulated in double precision (norms for clipping must not lose small terms): blocks of 1,024 summed over
    /// 16 fixed lanes in float (CKernels), the block sums in double.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        rgp_sum_of_squares(x, count)
    }
}

/// Per-example outer-product sums, the shape of per-example weight gradients without a GEMM call per example.
public enum Segmented {
    /// Rank-1 low-rank gradients per example i of `rows`, from one pass over its rows of x [rows, d] (row stride `ldx`)
    /// and δ [rows, p] (`ldd`): outLeft_i = Σ_t (x_t·right)·δ_t [p] (written) and outRight_i = Σ_t (δ_t·left)·x_t [d]
    /// (written, or added when `accumulateRight`), example i's at i·`outStride`. The same sums as the two GEMVs x·Rᵀ,
    /// δ·L and the two `outerProductSums` after them, reading x and δ once instead of twice (dot products over 16
    /// fixed lanes).
    public static func rankOneCarrierSums(
        x: UnsafePointer<Float>, ldx: Int, d: Int, delta: UnsafePointer<Float>, ldd: Int, p: Int,
        left: UnsafePointer<Float>, right: UnsafePointer<Float>, rows: ExampleRows,
        outLeft: UnsafeMutablePointer<Float>, outRight: UnsafeMutablePointer<Float>, outStride: Int, accumulateRight: Bool
    ) {
        rows.offsets.withUnsafeBufferPointer { offsets in
            nonisolated(unsafe) let offsets = offsets.baseAddress!
            Parallel.forEachExample(rows, minimumExamples: 8) { i, _ in
                rgp_rank1_carrier_sums(x, ldx, d, delta, ldd, p, left, right, i, 1, offsets, outLeft, outRight, outStride,
                                       accumulateRight ? 1 : 0)
            }
        }
    }

    /// For each example i of `rows`:
    /// out_i[k, j] = Σ_{t ∈ rows of i} a[t, k] · b[t, j], with a [rows, r] (row stride `lda`) and b [rows, d] (`ldb`).
    /// out_i is [r, d] row-major at `out + i·outStride`, or [d, r] when `transposed`. Written when `accumulate`
    /// is false, added otherwise.
    public static func outerProductSums(
        a: UnsafePointer<Float>, lda: Int, r: Int, b: UnsafePointer<Float>, ldb: Int, d: Int,
        rows: ExampleRows, out: UnsafeMutablePointer<Float>, outStride: Int,
        transposed: Bool = false, accumulate: Bool = false
    ) {
        rows.offsets.withUnsafeBufferPointer { offsets in
            nonisolated(unsafe) let offsets = offsets.baseAddress!
            Parallel.forEachExample(rows, minimumExamples: 8) { i, _ in
                rgp_outer_product_sums(a, lda, r, b, ldb, d, i, 1, offsets, out, outStride, transposed ? 1 : 0,
                                       accumulate ? 1 : 0)
            }
        }
    }
}
