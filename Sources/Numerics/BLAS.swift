import CBLAS
import CKernels
import Dispatch

/// Row-major GEMM and batched GEMM on OpenBLAS, plus control of its thread pool.
public enum BLAS {
    /// Number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(Swift.max(1, newValue))) }
    }

    /// The FLOPs (2·m·n·k) of every `gemm` that `body` runs on this thread or in the `Parallel` regions it opens, and
    /// none of other threads' (tests run concurrently): what the FLOP model is tested against.
    public static func countingProducts(_ body: () -> Void) -> Int {
        var total: Int64 = 0
        withUnsafeMutablePointer(to: &total) { counter in
            let saved = rgp_product_counter()
            rgp_set_product_counter(counter)
            body()
            rgp_set_product_counter(saved)
        }
        return Int(total)
    }

    /// OpenBLAS's build description (core type, threading), for benchmark reports.
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// C = alpha · op(A) · op(B) + beta · C, row-major.
    ///
    /// Shapes: op(A) is m×k, op(B) is k×n, C is m×n; `lda`, `ldb`, `ldc` are the row strides of A, B, C as
    /// stored (A is k×m when `transA`). Any dimension may be zero.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        rgp_count_product(Int64(2 * m * n * k))
        if k == 0 {
            scale(c, rows: m, columns: n, stride: ldc, by: beta)
            return
        }
        if splitsProducts && Parallel.workers > 1 && Double(m) * Double(n) * Double(k) >= splitMinimum
            && rgp_parallel_depth() == 0 {
            splitGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc)
            return
        }
        wholeGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
    }

    /// One `cblas_sgemm` call, threaded (or not) by OpenBLAS alone.
    @usableFromInline
    static func wholeGemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// With OpenBLAS on one thread (`Parallel.use(threads:)`): products of at least `splitMinimum` multiply-adds,
    /// outside any concurrent region, are split into slabs of C (rows when m ≥ n, else columns; multiples of 16), one
    /// per worker, each computed by single-threaded OpenBLAS: every element of C is the same dot product over k.
    nonisolated(unsafe) public static var splitsProducts = false
    /// OpenBLAS 0.3.21's own threading threshold (interface/gemm.c threads products above 65536·4 multiply-adds): with
    /// 4·10⁶ the mid-size products (RGP's per-example carrier products, 4096×384×1) ran on one core.
    public static let splitMinimum = 262_144.0

    @usableFromInline
    static func splitGemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let byRows = m >= n, extent = byRows ? m : n
        let parts = Swift.min(Parallel.workers, Swift.max(1, extent / 16))
        let chunk = ((extent + parts - 1) / parts + 15) / 16 * 16
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        Parallel.concurrently(parts) { part in
            let start = part * chunk
            guard start < extent else { return }
            let depth = rgp_parallel_depth()
            rgp_set_parallel_depth(depth + 1)
            defer { rgp_set_parallel_depth(depth) }
            let count = Swift.min(chunk, extent - start)
            let (pa, pb, pc) = byRows
                ? (transA ? a + start : a + start * lda, b, c + start * ldc)
                : (a, transB ? b + start * ldb : b + start, c + start)
            wholeGemm(transA: transA, transB: transB, m: byRows ? count : m, n: byRows ? n : count, k: k, alpha: alpha,
                      a: pa, lda: lda, b: pb, ldb: ldb, beta: beta, c: pc, ldc: ldc)
        }
    }

    /// y = alpha · op(A) · x + beta · y, row-major; A is m×n as stored (op(A) = Aᵀ, n×m, when `transA`). Counted as
    /// 2·m·n FLOPs, as `gemm` counts its products.
    @inlinable
    public static func gemv(
        transA: Bool, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        if m == 0 || n == 0 { return }
        rgp_count_product(Int64(2 * m * n))
        cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// The bare `cblas_sgemm` call (row-major, no transposed A, no shape checks): kept for one job, measuring the
    /// overhead of `gemm` and `batchedGemm` against it in `rgp bench gemm`.
    public static func bareSgemm(transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }

    @usableFromInline
    static func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int, by beta: Float) {
        for r in 0..<rows {
            let row = c + r * stride
            if beta == 0 {
                row.update(repeating: 0, count: columns)
            } else {
                for j in 0..<columns { row[j] *= beta }
            }
        }
    }

    /// Where the i-th matrix of a batch starts: `(i / innerCount) · outer + (i % innerCount) · inner` elements
    /// from the base. Two levels let attention address head h of sequence b inside a [B, T, H·dₕ] activation
    /// without transposing it to [B, H, T, dₕ].
    public struct BatchLayout: Sendable {
        public var outer: Int
        public var inner: Int
        public var innerCount: Int
        /// Matrices `stride` elements apart.
        public init(stride: Int) { (outer, inner, innerCount) = (stride, 0, 1) }
        /// Matrix (b, h) at `b · outer + h · inner`, with h in 0..<innerCount.
        public init(outer: Int, inner: Int, innerCount: Int) {
            precondition(innerCount >= 1)
            (self.outer, self.inner, self.innerCount) = (outer, inner, innerCount)
        }
        @inlinable public func offset(_ i: Int) -> Int { (i / innerCount) * outer + (i % innerCount) * inner }
    }

    /// `batch` independent GEMMs C_i = alpha · op(A_i) · op(B_i) + beta · C_i, each addressed by its layout.
    public static func batchedGemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, batch: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, layoutA: BatchLayout,
        b: UnsafePointer<Float>, ldb: Int, layoutB: BatchLayout,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, layoutC: BatchLayout
    ) {
        // Split products: the items run concurrently, each on one thread (no product is split inside a region).
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        forEachItem(batch, concurrently: splitsProducts && batch > 1) { i in
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                 a: a + layoutA.offset(i), lda: lda, b: b + layoutB.offset(i), ldb: ldb,
                 beta: beta, c: c + layoutC.offset(i), ldc: ldc)
        }
    }
}

extension Tensor {
    /// C = alpha · op(A) · op(B) + beta · C for tensors viewed as matrices (leading dimensions flattened).
    public static func matmul(
        _ a: Tensor, _ b: Tensor, transposeA transA: Bool = false, transposeB transB: Bool = false,
        into c: Tensor, alpha: Float = 1, beta: Float = 0
    ) {
        let (m, k) = transA ? (a.columns, a.rows) : (a.rows, a.columns)
        let (kb, n) = transB ? (b.columns, b.rows) : (b.rows, b.columns)
        precondition(k == kb, "matmul inner dimensions differ: \(a.shape) · \(b.shape)")
        precondition(c.rows == m && c.columns == n, "matmul output \(c.shape), expected [\(m), \(n)]")
        BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a.data, lda: a.columns, b: b.data, ldb: b.columns, beta: beta, c: c.data, ldc: n)
    }
}
