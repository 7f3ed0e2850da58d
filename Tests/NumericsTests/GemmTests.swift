@testable import Numerics
import Testing

/// Naive triple loop in Float64, indexing the stored (row-major) operands directly.
func referenceGemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: [Float], lda: Int,
    b: [Float], ldb: Int, beta: Double, c: [Float], ldc: Int
) -> [Double] {
    var result = c.doubles
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let aip = transA ? a[p * lda + i] : a[i * lda + p]
                let bpj = transB ? b[j * ldb + p] : b[p * ldb + j]
                sum += Double(aip) * Double(bpj)
            }
            result[i * ldc + j] = alpha * sum + beta * Double(c[i * ldc + j])
        }
    }
    return result
}

@Suite("GEMM")
struct GemmTests {
    @Test("every transpose combination on odd shapes, with padded leading dimensions",
          arguments: [(false, false), (false, true), (true, false), (true, true)])
    func transposes(transA: Bool, transB: Bool) {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 13, 29), (64, 1, 33), (1, 31, 2)] {
            let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 1
            let a = randomValues((transA ? k : m) * lda, seed: 1)
            let b = randomValues((transB ? n : k) * ldb, seed: 2)
            let c0 = randomValues(m * ldc, seed: 3)
            var c = c0
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75,
                                  a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                                  beta: -0.5, c: cp.baseAddress!, ldc: ldc)
                    }
                }
            }
            let expected = referenceGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda,
                                         b: b, ldb: ldb, beta: -0.5, c: c0, ldc: ldc)
            #expect(maxAbsDifference(c, expected) < 1e-5, "m \(m) n \(n) k \(k)")
        }
    }

    @Test("k = 0 scales C by beta")
    func emptyInner() {
        let c = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let a = Tensor(zeros: [2, 0]), b = Tensor(zeros: [0, 3])
        Tensor.matmul(a, b, into: c, beta: 2)
        #expect(c.array == [2, 4, 6, 8, 10, 12])
    }

    @Test("Tensor.matmul flattens leading dimensions")
    func tensorMatmul() {
        let a = Tensor(shape: [2, 3, 4], values: randomValues(24, seed: 4))
        let w = Tensor(shape: [5, 4], values: randomValues(20, seed: 5))
        let y = Tensor(zeros: [2, 3, 5])
        Tensor.matmul(a, w, transposeB: true, into: y)
        let expected = referenceGemm(transA: false, transB: true, m: 6, n: 5, k: 4, alpha: 1, a: a.array, lda: 4,
                                     b: w.array, ldb: 4, beta: 0, c: y.array, ldc: 5)
        #expect(maxAbsDifference(y.array, expected) < 1e-5)
    }

    @Test("batched GEMM over heads read in place from [B, T, H·dₕ]",
          arguments: [(false, true), (true, false)])  // the shape-compatible pairs for T×dₕ blocks
    func batchedStrided(transA: Bool, transB: Bool) {
        let sequences = 3, heads = 4, t = 5, dh = 3, width = heads * dh
        let q = randomValues(sequences * t * width, seed: 6), k = randomValues(sequences * t * width, seed: 7)
        let inPlace = BLAS.BatchLayout(outer: t * width, inner: dh, innerCount: heads)
        // Square per-head blocks (T×dₕ read as stored); op shapes follow from the transposes.
        let m = transA ? dh : t, kk = transA ? t : dh, n = transB ? t : dh
        var c = [Float](repeating: 0, count: sequences * heads * m * n)
        let layoutC = BLAS.BatchLayout(stride: m * n)
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.batchedGemm(transA: transA, transB: transB, m: m, n: n, k: kk, batch: sequences * heads,
                                     alpha: 0.5, a: qp.baseAddress!, lda: width, layoutA: inPlace,
                                     b: kp.baseAddress!, ldb: width, layoutB: inPlace,
                                     c: cp.baseAddress!, ldc: n, layoutC: layoutC)
                }
            }
        }
        for s in 0..<sequences {
            for h in 0..<heads {
                let offset = s * t * width + h * dh
                let expected = referenceGemm(
                    transA: transA, transB: transB, m: m, n: n, k: kk, alpha: 0.5,
                    a: Array(q[offset...]), lda: width, b: Array(k[offset...]), ldb: width, beta: 0,
                    c: [Float](repeating: 0, count: m * n), ldc: n)
                let got = Array(c[((s * heads + h) * m * n)..<((s * heads + h + 1) * m * n)])
                #expect(maxAbsDifference(got, expected) < 1e-5, "sequence \(s) head \(h)")
            }
        }
    }
}

@Suite("OpenBLAS kernel choice")
struct KernelChoiceTests {
    typealias Features = BLASKernels.CPUFeatures

    @Test("a fallback to narrower kernels than the CPU runs is corrected; a fitting or user-facing choice is kept")
    func betterCoreType() {
        let avx512 = Features(avx512: true, avx2: true), avx2 = Features(avx512: false, avx2: true)
        let old = Features(avx512: false, avx2: false)
        // Emerald Rapids under OpenBLAS 0.3.21: Prescott chosen on an AVX-512 CPU.
        #expect(BLASKernels.betterCoreType(than: "Prescott", on: avx512) == "SkylakeX")
        #expect(BLASKernels.betterCoreType(than: "Haswell", on: avx512) == "SkylakeX")
        #expect(BLASKernels.betterCoreType(than: "Sandybridge", on: avx2) == "Haswell")
        #expect(BLASKernels.betterCoreType(than: "Prescott", on: avx2) == "Haswell")
        #expect(BLASKernels.betterCoreType(than: "SkylakeX", on: avx512) == nil)
        #expect(BLASKernels.betterCoreType(than: "Cooperlake", on: avx512) == nil)
        #expect(BLASKernels.betterCoreType(than: "Haswell", on: avx2) == nil)
        #expect(BLASKernels.betterCoreType(than: "Zen", on: avx512) == nil)
        #expect(BLASKernels.betterCoreType(than: "Prescott", on: old) == nil)
    }
}

@Suite("independent small GEMMs on both cores")
struct ItemParallelTests {
    @Test("every item runs exactly once, concurrently or not, and a product equals the lone call's bit for bit")
    func forEachItem() {
        let (m, n, k, count) = (16, 8, 24, 50)
        let a = randomValues(count * m * k, seed: 3), b = randomValues(count * k * n, seed: 4)
        var alone = [Float](repeating: 0, count: count * m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                alone.withUnsafeMutableBufferPointer { pc in
                    for i in 0..<count {
                        BLAS.gemm(transA: false, transB: false, m: m, n: n, k: k, a: pa.baseAddress! + i * m * k, lda: k,
                                  b: pb.baseAddress! + i * k * n, ldb: n, c: pc.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
        for concurrently in [false, true] {
            let out = UnsafeMutablePointer<Float>.allocate(capacity: count * m * n)
            let visits = UnsafeMutablePointer<Int>.allocate(capacity: count)
            visits.initialize(repeating: 0, count: count)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    BLAS.forEachItem(count, concurrently: concurrently) { i in
                        visits[i] += 1
                        BLAS.gemm(transA: false, transB: false, m: m, n: n, k: k, a: pa.baseAddress! + i * m * k, lda: k,
                                  b: pb.baseAddress! + i * k * n, ldb: n, c: out + i * m * n, ldc: n)
                    }
                }
            }
            #expect(Array(UnsafeBufferPointer(start: visits, count: count)) == [Int](repeating: 1, count: count))
            #expect(Array(UnsafeBufferPointer(start: out, count: count * m * n)).map(\.bitPattern) == alone.map(\.bitPattern))
            out.deallocate()
            visits.deallocate()
        }
    }

    @Test("products below OpenBLAS's threading threshold count as single-threaded; large ones do not when it has threads")
    func callingThreadRule() {
        #expect(BLAS.runsOnCallingThread(transA: false, transB: true, m: 64, n: 64, k: 64))  // 262,144
        #expect(BLAS.runsOnCallingThread(transA: true, transB: false, m: 32, n: 32, k: 32))
        if BLAS.threads > 1 {
            #expect(!BLAS.runsOnCallingThread(transA: false, transB: false, m: 1024, n: 1024, k: 1024))
            #expect(!BLAS.runsOnCallingThread(transA: true, transB: false, m: 128, n: 64, k: 128))  // TN, m·n > 1200
        }
    }
}

@Suite("large products split across the workers")
struct SplitProductTests {
    @Test("a product split into slabs of C equals the unsplit call bit for bit (rows or columns, every transpose)",
          arguments: [(false, false), (false, true), (true, false), (true, true)])
    func splitEqualsWhole(transA: Bool, transB: Bool) {
        // The production setting (OpenBLAS on one thread; every test that sets threads sets this one): OpenBLAS's own
        // threading does change last bits (about 0.6% of these elements), the split must not.
        Parallel.use(threads: 2)
        // m ≥ n splits rows, m < n columns; sizes off multiples of 16, padded leading dimensions, alpha and beta.
        for (m, n, k) in [(517, 301, 97), (129, 700, 64)] {
            let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 1
            let a = randomValues((transA ? k : m) * lda, seed: 5), b = randomValues((transB ? n : k) * ldb, seed: 6)
            let c0 = randomValues(m * ldc, seed: 7)
            var whole = c0, split = c0
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    whole.withUnsafeMutableBufferPointer { pc in
                        BLAS.wholeGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: pa.baseAddress!,
                                       lda: lda, b: pb.baseAddress!, ldb: ldb, beta: -0.5, c: pc.baseAddress!, ldc: ldc)
                    }
                    split.withUnsafeMutableBufferPointer { pc in
                        BLAS.splitGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: pa.baseAddress!,
                                       lda: lda, b: pb.baseAddress!, ldb: ldb, beta: -0.5, c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
            let differing = zip(split, whole).filter { $0.bitPattern != $1.bitPattern }.count
            let worst = zip(split, whole).map { abs(Double($0) - Double($1)) / max(abs(Double($1)), 1e-30) }.max() ?? 0
            #expect(differing == 0, "m \(m) n \(n) k \(k): \(differing) elements differ, worst relative \(worst)")
            // Padding columns of C untouched.
            for i in 0..<m { #expect(split[i * ldc + n].bitPattern == c0[i * ldc + n].bitPattern) }
        }
    }

    @Test("a region's threads know they are inside one (so products there are not split again); the caller is not")
    func regionDepth() {
        #expect(!Parallel.isInsideRegion)
        let inside = UnsafeMutablePointer<Bool>.allocate(capacity: 2)
        inside.initialize(repeating: false, count: 2)
        Parallel.workerRows(2, minimumRows: 2) { worker, _, _ in inside[worker] = Parallel.isInsideRegion }
        #expect(Parallel.workers < 2 || (inside[0] && inside[1]))
        #expect(!Parallel.isInsideRegion)
        inside.deallocate()
    }
}
