import CKernels
import Dispatch
import Foundation

/// Splitting work across cores: elementwise kernels, independent small products, and (by default) the large GEMMs.
public enum Parallel {
    /// Number of workers for elementwise kernels.
    nonisolated(unsafe) public static var workers = 2

    /// Whether the calling thread runs inside a concurrent region of `Parallel` (where products are never split).
    public static var isInsideRegion: Bool { rgp_parallel_depth() > 0 }

    /// Uses `threads` cores. By default OpenBLAS runs on one thread and `BLAS.gemm` splits each large product into
    /// slabs of C, one per worker (`BLAS.splitsProducts`); OpenBLAS's own threading (`openBLASThreading`, or
    /// RGP_OPENBLAS_THREADING=1) is kept for comparison: at 2 threads its workers spin in `sched_yield` between
    /// calls while ours wait; split, the MiniLM 32×128 RGP step took about 0.82× the time and the SST-2 workload about
    /// the same (README, Benchmarks).
    public static func use(threads: Int, openBLASThreading: Bool = false) {
        let native = openBLASThreading || ProcessInfo.processInfo.environment["RGP_OPENBLAS_THREADING"] == "1"
        workers = threads
        BLAS.splitsProducts = threads > 1 && !native
        BLAS.threads = BLAS.splitsProducts ? 1 : threads
    }

    /// Calls `body(start, count)` on disjoint row ranges covering 0..<rows, on up to `workers` threads when there are
    /// at least `minimumRows` rows. `body` must only touch its own rows.
    public static func rows(_ rows: Int, minimumRows: Int = 256, _ body: (Int, Int) -> Void) {
        workerRows(rows, minimumRows: minimumRows) { _, start, count in body(start, count) }
    }

    /// As `rows`, and tells `body(worker, start, count)` which worker (0 ..< `workers`) runs the range, so that a
    /// caller can hand each worker its own scratch buffer.
    /// Inside a region (a worker of an enclosing split) it runs on the calling thread: the enclosing split already
    /// keeps every core busy.
    public static func workerRows(_ rows: Int, minimumRows: Int = 256, _ body: (Int, Int, Int) -> Void) {
        let workers = rows >= minimumRows && !isInsideRegion ? Swift.max(1, Parallel.workers) : 1
        if workers == 1 {
            body(0, 0, rows)
            return
        }
        let chunk = (rows + workers - 1) / workers
        nonisolated(unsafe) let counter = rgp_product_counter()
        concurrently(workers) { w in
            let start = w * chunk
            guard start < rows else { return }
            let depth = rgp_parallel_depth(), ownCounter = rgp_product_counter()
            rgp_set_parallel_depth(depth + 1)
            rgp_set_product_counter(counter)
            body(w, start, Swift.min(chunk, rows - start))
            rgp_set_product_counter(ownCounter)
            rgp_set_parallel_depth(depth)
        }
    }

    /// Whether regions run on the persistent spinning pool (`rgp_pool_run`); RGP_POOL=0 sends them to libdispatch's
    /// `concurrentPerform`, whose workers sleep as soon as a region ends (for comparison).
    nonisolated(unsafe) public static var usesPool = ProcessInfo.processInfo.environment["RGP_POOL"] != "0"

    /// Calls body(i) for every i in 0..<iterations at once and returns when all have returned: on the persistent pool
    /// of `rgp_pool_run` (index 0 on the calling thread), or libdispatch's threads when the pool is taken (another
    /// region running beside this one: a second thread rank, a test) or switched off. Which thread runs index i never
    /// changes what index i computes.
    public static func concurrently(_ iterations: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { escapable in
            nonisolated(unsafe) var work = escapable
            let pooled = usesPool && withUnsafeMutablePointer(to: &work) { pointer in
                rgp_pool_run(iterations, { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
                }, pointer) != 0
            }
            if !pooled {
                nonisolated(unsafe) let run = escapable
                DispatchQueue.concurrentPerform(iterations: iterations) { run($0) }
            }
        }
    }
}

extension Parallel {
    /// Calls `body(start, count)` on disjoint element ranges covering 0..<count for a pass that streams memory: split
    /// across the workers in pieces that are multiples of 64 elements (whole cache lines, whole dropout blocks) when
    /// there are at least `minimumCount` elements, on the calling thread otherwise.
    public static func chunks(_ count: Int, minimumCount: Int = 1 << 16, _ body: (Int, Int) -> Void) {
        guard count >= minimumCount, workers > 1 else {
            if count > 0 { body(0, count) }
            return
        }
        let lines = (count + 63) / 64
        rows(lines, minimumRows: 2) { start, n in
            let first = start * 64
            body(first, Swift.min(n * 64, count - first))
        }
    }
}

extension BLAS {
    /// Calls `body(i)` for every i in 0..<count: split across `Parallel.workers` threads when `concurrently`, in order
    /// on the calling thread otherwise. For many small independent GEMMs (attention's per-head products), which
    /// OpenBLAS runs on one thread each, one after another, leaving the other cores idle — pass
    /// `concurrently: BLAS.runsOnCallingThread(…)` for every GEMM in `body`: two threaded OpenBLAS calls at once
    /// oversubscribe the cores (BERT-base's attention ran 2.6× slower that way). OpenBLAS's thread count is left
    /// alone: it is process-wide, and some GEMMs' last bits depend on it.
    public static func forEachItem(_ count: Int, concurrently: Bool, _ body: (Int) -> Void) {
        forEachItem(count, concurrently: concurrently) { i, _ in body(i) }
    }

    /// As `forEachItem`, with `body(i, worker)`: the worker (0 ..< `Parallel.workers`) that runs item i, for
    /// per-worker scratch space.
    public static func forEachItem(_ count: Int, concurrently: Bool, _ body: (Int, Int) -> Void) {
        guard concurrently else {
            for i in 0..<count { body(i, 0) }
            return
        }
        // Interleaved, not in halves: attention's items are (sequence, head) pairs of sequences sorted by length, whose
        // cost grows with length², and interleaving hands each worker half of every sequence's heads.
        Parallel.forEachInterleaved(count, body)
    }

    /// Whether OpenBLAS (0.3.21's rules) computes this sgemm on the calling thread alone: with one thread configured;
    /// when m·n·k ≤ 65536·4 (interface/gemm.c runs such products unthreaded); or on its AVX-512 kernels through the
    /// "small matrix" path (m·n·k ≤ 100³, except transposed-A/plain-B products with m·n > 1200 or k < 32). A wrong
    /// answer costs speed, never correctness: a GEMM's result does not depend on other calls running beside it.
    public static func runsOnCallingThread(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
        if threads == 1 { return true }
        let mnk = Double(m) * Double(n) * Double(k)
        if mnk <= 65536 * 4 { return true }
        guard usesSmallMatrixKernels, mnk <= 1e6 else { return false }
        if transA && !transB && (m * n > 1200 || k < 32) { return false }
        return true
    }

    /// OpenBLAS's AVX-512 kernel families have the small-matrix sgemm path.
    static let usesSmallMatrixKernels = BLASKernels.avx512Cores.contains(BLASKernels.coreName.lowercased())
}
