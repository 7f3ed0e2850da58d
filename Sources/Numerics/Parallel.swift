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
