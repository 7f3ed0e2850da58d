import Numerics
import Testing

@Suite("attention kernels")
struct AttentionKernelTests {
    /// Shapes off every block edge: queries past whole row groups (8, then the tail's 4, 2 and 1), keys past whole 32- and 16-column
    /// blocks, head widths 16 (one 16-wide block), 32, 48 (a 32 and a 16) and 64; rows of Q, K, V strided as heads
    /// inside wider activations.
    static let shapes: [(queries: Int, keys: Int, dh: Int)] = [
        (1, 1, 16), (3, 5, 16), (8, 32, 32), (13, 19, 32), (9, 33, 48), (17, 47, 64), (128, 128, 32), (1, 70, 64),
        (15, 15, 32), (22, 22, 32), (6, 7, 16),
    ]

    @Test("scores = scale·Q·Kᵀ against a double-precision loop; any split of the queries gives the same bits")
    func scores() {
        for (index, (queries, keys, dh)) in Self.shapes.enumerated() {
            let ld = dh * 3 + 5, scale: Float = 0.17
            let q = randomValues(queries * ld, seed: 200 + UInt64(index)), k = randomValues(keys * ld, seed: 300 + UInt64(index))
            // The scratch the kernel asks for and a guard after it that must survive.
            let scratchCount = AttentionKernels.scratchCount(keys: keys, headDimension: dh)
            var scratch = [Float](repeating: .nan, count: scratchCount + 64)
            for g in scratchCount..<scratch.count { scratch[g] = 1234 }
            var out = [Float](repeating: .nan, count: queries * keys)
            out.withUnsafeMutableBufferPointer { o in
                scratch.withUnsafeMutableBufferPointer { s in
                    AttentionKernels.scores(query: q, ldq: ld, key: k, ldk: ld, queries: queries, keys: keys, headDimension: dh,
                                            scale: scale, into: o.baseAddress!, scratch: s.baseAddress!)
                }
            }
            var expected = [Double](repeating: 0, count: queries * keys)
            for i in 0..<queries {
                for j in 0..<keys {
                    var sum = 0.0
                    for c in 0..<dh { sum += Double(q[i * ld + c]) * Double(k[j * ld + c]) }
                    expected[i * keys + j] = Double(scale) * sum
                }
            }
            #expect(maxAbsDifference(out, expected) < 2e-6 * Double(dh), "scores \(queries)×\(keys)×\(dh)")
            #expect(scratch[scratchCount...].allSatisfy { $0 == 1234 }, "scratch stays within scratchCount, \(queries)×\(keys)×\(dh)")
            // One query per call (the one-row path) gives the same bits as the row groups.
            var single = [Float](repeating: .nan, count: queries * keys)
            for i in 0..<queries {
                single.withUnsafeMutableBufferPointer { o in
                    scratch.withUnsafeMutableBufferPointer { s in
                        q.withUnsafeBufferPointer { qp in
                            AttentionKernels.scores(query: qp.baseAddress! + i * ld, ldq: ld, key: k, ldk: ld, queries: 1, keys: keys,
                                                    headDimension: dh, scale: scale, into: o.baseAddress! + i * keys,
                                                    scratch: s.baseAddress!)
                        }
                    }
                }
            }
            #expect(single.map(\.bitPattern) == out.map(\.bitPattern), "scores one row at a time \(queries)×\(keys)×\(dh)")
        }
    }

    @Test("context = scale·P·V, P plain or transposed, against a double-precision loop, written only in the head's columns; any split of the rows gives the same bits")
    func mix() {
        for (index, (queries, keys, dh)) in Self.shapes.enumerated() {
            for transposed in [false, true] {
                // Plain: P [queries, keys] row-major (the forward's P·V, backward's dS·K). Transposed: rows are keys and
                // the contraction runs over queries, P read from the same [queries, keys] block (backward's Pᵀ·dC, dSᵀ·Q).
                let rows = transposed ? keys : queries, inner = transposed ? queries : keys
                let rowStride = transposed ? 1 : keys, columnStride = transposed ? keys : 1
                let ldv = dh * 2 + 3, ldo = dh + 7, scale: Float = transposed ? 0.3 : 1
                let p = randomValues(queries * keys, seed: 400 + UInt64(index)), v = randomValues(inner * ldv, seed: 500 + UInt64(index))
                var out = [Float](repeating: 9, count: rows * ldo)
                out.withUnsafeMutableBufferPointer { o in
                    AttentionKernels.mix(probabilities: p, rowStride: rowStride, columnStride: columnStride, value: v, ldv: ldv,
                                         rows: rows, keys: inner, headDimension: dh, scale: scale, into: o.baseAddress!, ldo: ldo)
                }
                var expected = [Double](repeating: 9, count: rows * ldo)
                for r in 0..<rows {
                    for c in 0..<dh {
                        var sum = 0.0
                        for j in 0..<inner { sum += Double(p[r * rowStride + j * columnStride]) * Double(v[j * ldv + c]) }
                        expected[r * ldo + c] = Double(scale) * sum
                    }
                }
                let label = "mix \(rows)×\(inner)×\(dh) transposed \(transposed)"
                #expect(maxAbsDifference(out, expected) < 2e-6 * Double(inner), "\(label)")
                var single = [Float](repeating: 9, count: rows * ldo)
                for r in 0..<rows {
                    single.withUnsafeMutableBufferPointer { o in
                        p.withUnsafeBufferPointer { pp in
                            AttentionKernels.mix(probabilities: pp.baseAddress! + r * rowStride, rowStride: rowStride,
                                                 columnStride: columnStride, value: v, ldv: ldv, rows: 1, keys: inner,
                                                 headDimension: dh, scale: scale, into: o.baseAddress! + r * ldo, ldo: ldo)
                        }
                    }
                }
                #expect(single.map(\.bitPattern) == out.map(\.bitPattern), "\(label), one row at a time")
            }
        }
    }

    @Test("head widths that are not whole vectors are left to BLAS")
    func supportedWidths() {
        #expect(AttentionKernels.supports(headDimension: 32) && AttentionKernels.supports(headDimension: 64))
        #expect(!AttentionKernels.supports(headDimension: 8) && !AttentionKernels.supports(headDimension: 40))
    }
}
