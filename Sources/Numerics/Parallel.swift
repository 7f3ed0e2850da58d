import Dispatch

/// Splitting elementwise work across cores (OpenBLAS threads the GEMMs itself).
public enum Parallel {
    /// Number of workers for elementwise kernels.
    nonisolated(unsafe) public static var workers = 2

    /// Calls `body(start, count)` on disjoint row ranges covering 0..<rows, on up to `workers` threads when there are
    /// at least `minimumRows` rows. `body` must only touch its own rows.
    public static func rows(_ rows: Int, minimumRows: Int = 256, _ body: (Int, Int) -> Void) {
        let workers = rows >= minimumRows ? Swift.max(1, Parallel.workers) : 1
        if workers == 1 {
            body(0, rows)
            return
        }
        let chunk = (rows + workers - 1) / workers
        withoutActuallyEscaping(body) { escapable in
            nonisolated(unsafe) let work = escapable
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let start = w * chunk
                if start < rows { work(start, Swift.min(chunk, rows - start)) }
            }
        }
    }
}

extension BLAS {
    /// Calls `body(i)` for every i in 0..<count, the items split across `Parallel.workers` threads: for many small
    /// independent GEMMs (attention's per-head products), which OpenBLAS runs on one thread each (its small-matrix
    /// kernels), one after another, leaving the other cores idle. OpenBLAS's thread count is left alone: it is
    /// process-wide, and a GEMM's last bits depend on it.
    public static func concurrently(_ count: Int, _ body: (Int) -> Void) {
        Parallel.rows(count, minimumRows: 2) { start, n in
            for i in start..<(start + n) { body(i) }
        }
    }
}
