import Foundation
import CKernels
import Numerics
import Testing

// Float64 references, written independently of the kernels.
func referenceSoftmax(_ x: [Double], rows: Int, columns: Int, mask: [Double]?, rowsPerMask: Int) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for r in 0..<rows {
        let valid = (0..<columns).filter { mask == nil || mask![(r / rowsPerMask) * columns + $0] != 0 }
        guard let top = valid.map({ x[r * columns + $0] }).max() else { continue }
        let sum = valid.reduce(0.0) { $0 + exp(x[r * columns + $1] - top) }
        for j in valid { y[r * columns + j] = exp(x[r * columns + j] - top) / sum }
    }
    return y
}

func referenceLayerNorm(_ x: [Double], gamma: [Double], beta: [Double], rows: Int, columns: Int, eps: Double) -> [Double] {
    var y = x
    for r in 0..<rows {
        let row = x[(r * columns)..<((r + 1) * columns)]
        let mean = row.reduce(0, +) / Double(columns)
        let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(columns)
        for j in 0..<columns { y[r * columns + j] = (x[r * columns + j] - mean) / sqrt(variance + eps) * gamma[j] + beta[j] }
    }
    return y
}

func referenceGELU(_ x: [Double]) -> [Double] { x.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }

@Suite("softmax")
struct SoftmaxTests {
    let rows = 6, columns = 7, rowsPerMask = 3
    // Group 0 masks two columns; group 1 masks every column (a fully padded sequence).
    let mask: [Float] = [1, 0, 1, 1, 0, 1, 1] + [Float](repeating: 0, count: 7)

    @Test("forward matches the reference with partial and full masks")
    func forward() {
        let x = randomValues(rows * columns, seed: 10, scale: 4)
        var y = [Float](repeating: .nan, count: x.count)
        Softmax.forward(x, into: &y, rows: rows, columns: columns, keyMask: mask, rowsPerMask: rowsPerMask)
        let expected = referenceSoftmax(x.doubles, rows: rows, columns: columns, mask: mask.doubles, rowsPerMask: rowsPerMask)
        #expect(maxAbsDifference(y, expected) < 1e-6)
        #expect(y[0..<21].allSatisfy { !$0.isNaN })
        #expect(y[21...].allSatisfy { $0 == 0 }, "fully masked rows are zero, not NaN")
        #expect(abs(y[0..<7].reduce(0, +) - 1) < 1e-6)
        #expect(y[1] == 0 && y[4] == 0, "masked columns get no probability")
    }

    @Test("the vector path (16 lanes and a tail) and the backward match the reference on attention-sized rows")
    func attentionSizedRows() {
        for columns in [128, 133] {
            let rows = 5
            var mask = [Float](repeating: 1, count: columns)
            for j in stride(from: 90, to: columns, by: 1) { mask[j] = 0 }  // padded keys at the end
            let x = randomValues(rows * columns, seed: 13, scale: 6)
            let w = randomValues(rows * columns, seed: 14)
            var y = [Float](repeating: .nan, count: x.count), dx = y
            Softmax.forward(x, into: &y, rows: rows, columns: columns, keyMask: mask, rowsPerMask: rows)
            let expected = referenceSoftmax(x.doubles, rows: rows, columns: columns, mask: mask.doubles, rowsPerMask: rows)
            #expect(maxAbsDifference(y, expected) < 1e-6, "columns \(columns)")
            Softmax.backward(output: y, outputGradient: w, into: &dx, rows: rows, columns: columns)
            // dx = y·(w − Σ w·y) in double from the reference probabilities.
            var reference = [Double](repeating: 0, count: x.count)
            for r in 0..<rows {
                let row = (r * columns)..<((r + 1) * columns)
                let dot = row.reduce(0.0) { $0 + Double(w[$1]) * expected[$1] }
                for j in row { reference[j] = expected[j] * (Double(w[j]) - dot) }
            }
            #expect(maxAbsDifference(dx, reference) < 1e-6, "columns \(columns)")
        }
    }

    @Test("softmax's single-precision exp is within 3e-7 relative of libm's exp on [−87, 0], and clamps below")
    func singlePrecisionExp() {
        let count = 870_001
        let v = (0..<count).map { -87 * Float($0) / Float(count - 1) } + [0, -0.0, -1e-30, -87.5, -200, -.infinity]
        var y = [Float](repeating: .nan, count: v.count)
        rgp_exp_non_positive_float(v, &y, v.count)
        var worst = 0.0
        for i in 0..<count { worst = max(worst, abs(Double(y[i]) / Foundation.exp(Double(v[i])) - 1)) }
        #expect(worst < 3e-7, "exp error \(worst)")
        #expect(y[count] == 1 && y[count + 1] == 1 && y[count + 2] == 1, "e^0 and e^−0 are 1")
        #expect(y[(count + 3)...].allSatisfy { $0 == y[count - 1] && $0.isNormal }, "below −87 clamps to e^−87")
    }

    @Test("large logits do not overflow")
    func stability() {
        let x: [Float] = [1000, 1001, 999]
        var y = [Float](repeating: 0, count: 3)
        Softmax.forward(x, into: &y, rows: 1, columns: 3)
        let expected = referenceSoftmax([0, 1, -1], rows: 1, columns: 3, mask: nil, rowsPerMask: 1)
        #expect(maxAbsDifference(y, expected) < 1e-6)
    }

    @Test("backward matches finite differences, masked and fully masked rows included")
    func backward() {
        let x = randomValues(rows * columns, seed: 11, scale: 2)
        let w = randomValues(rows * columns, seed: 12)
        var y = [Float](repeating: 0, count: x.count), dx = y
        Softmax.forward(x, into: &y, rows: rows, columns: columns, keyMask: mask, rowsPerMask: rowsPerMask)
        Softmax.backward(output: y, outputGradient: w, into: &dx, rows: rows, columns: columns)
        let numeric = numericalGradient(of: {
            referenceSoftmax($0, rows: rows, columns: columns, mask: mask.doubles, rowsPerMask: rowsPerMask)
        }, at: x.doubles, weights: w.doubles)
        #expect(relativeError(dx, numeric) < 1e-5)
        #expect(dx[21...].allSatisfy { $0 == 0 })
    }
}

@Suite("layer norm")
struct LayerNormTests {
    let rows = 4, columns = 9, eps: Float = 1e-12

    @Test("forward at encoder widths (16-lane sums and a tail) against Float64: y, mean and rstd", arguments: [384, 389, 768])
    func forwardWide(columns: Int) {
        let rows = 37
        let x = randomValues(rows * columns, seed: 24, scale: 3).map { $0 + 5 }  // an offset: the mean matters
        let gamma = randomValues(columns, seed: 25), beta = randomValues(columns, seed: 26)
        var y = [Float](repeating: 0, count: x.count), mean = [Float](repeating: 0, count: rows), rstd = mean
        LayerNorm.forward(x, gamma: gamma, beta: beta, into: &y, mean: &mean, rstd: &rstd, rows: rows, columns: columns, eps: 1e-12)
        let reference = referenceLayerNorm(x.doubles, gamma: gamma.doubles, beta: beta.doubles, rows: rows, columns: columns, eps: 1e-12)
        #expect(maxAbsDifference(y, reference) < 2e-5)
        for r in 0..<rows {
            let row = x[(r * columns)..<((r + 1) * columns)].map(Double.init)
            let mu = row.reduce(0, +) / Double(columns)
            let variance = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(columns)
            #expect(abs(Double(mean[r]) - mu) < 1e-5 * max(1, abs(mu)), "row \(r) mean")
            #expect(abs(Double(rstd[r]) * variance.squareRoot() - 1) < 1e-5, "row \(r) rstd")
        }
    }

    @Test("input gradient at encoder widths (16-lane row sums and a tail) against Float64, written and accumulated; the same dx with and without γ/β gradients",
          arguments: [384, 389, 768])
    func backwardWide(columns: Int) {
        let rows = 37
        let x = randomValues(rows * columns, seed: 27, scale: 3).map { $0 + 5 }
        let gamma = randomValues(columns, seed: 28), beta = randomValues(columns, seed: 29), dy = randomValues(rows * columns, seed: 30)
        var y = [Float](repeating: 0, count: x.count), mean = [Float](repeating: 0, count: rows), rstd = mean
        LayerNorm.forward(x, gamma: gamma, beta: beta, into: &y, mean: &mean, rstd: &rstd, rows: rows, columns: columns, eps: 1e-12)
        // dx = s·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)) in Float64 from the saved mean and rstd.
        var expected = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let mu = Double(mean[r]), s = Double(rstd[r])
            let g = (0..<columns).map { Double(dy[r * columns + $0]) * Double(gamma[$0]) }
            let xhat = (0..<columns).map { (Double(x[r * columns + $0]) - mu) * s }
            let meanG = g.reduce(0, +) / Double(columns)
            let meanGX = zip(g, xhat).map { $0 * $1 }.reduce(0, +) / Double(columns)
            for j in 0..<columns { expected[r * columns + j] = s * (g[j] - meanG - xhat[j] * meanGX) }
        }
        let largest = expected.map(abs).max() ?? 1
        var dx = [Float](repeating: 0, count: x.count)
        LayerNorm.backward(outputGradient: dy, input: x, gamma: gamma, mean: mean, rstd: rstd, inputGradient: &dx, rows: rows, columns: columns)
        #expect(maxAbsDifference(dx, expected) <= 1e-5 * largest, "written")
        let start = randomValues(x.count, seed: 31)
        var accumulated = start
        LayerNorm.backward(outputGradient: dy, input: x, gamma: gamma, mean: mean, rstd: rstd, inputGradient: &accumulated,
                           accumulateInput: true, rows: rows, columns: columns)
        #expect(maxAbsDifference(accumulated, zip(start, expected).map { Double($0) + $1 }) <= 1e-5 * largest, "accumulated")
        var withParameters = [Float](repeating: 0, count: x.count)
        var dgamma = [Float](repeating: 0, count: columns), dbeta = dgamma
        LayerNorm.backward(outputGradient: dy, input: x, gamma: gamma, mean: mean, rstd: rstd, inputGradient: &withParameters,
                           gammaGradient: &dgamma, betaGradient: &dbeta, rows: rows, columns: columns)
        #expect(withParameters.map(\.bitPattern) == dx.map(\.bitPattern))
    }

    @Test("forward and backward (input, γ, β) against Float64 finite differences")
    func gradients() {
        let x = randomValues(rows * columns, seed: 20, scale: 3), gamma = randomValues(columns, seed: 21)
        let beta = randomValues(columns, seed: 22), w = randomValues(rows * columns, seed: 23)
        var y = [Float](repeating: 0, count: x.count), mean = [Float](repeating: 0, count: rows), rstd = mean
        LayerNorm.forward(x, gamma: gamma, beta: beta, into: &y, mean: &mean, rstd: &rstd,
                          rows: rows, columns: columns, eps: eps)
        let reference = referenceLayerNorm(x.doubles, gamma: gamma.doubles, beta: beta.doubles, rows: rows,
                                           columns: columns, eps: Double(eps))
        #expect(maxAbsDifference(y, reference) < 1e-5)

        var dx = [Float](repeating: 0, count: x.count)
        var dgamma = [Float](repeating: 0, count: columns), dbeta = dgamma
        LayerNorm.backward(outputGradient: w, input: x, gamma: gamma, mean: mean, rstd: rstd, inputGradient: &dx,
                           gammaGradient: &dgamma, betaGradient: &dbeta, rows: rows, columns: columns)
        let numericX = numericalGradient(of: {
            referenceLayerNorm($0, gamma: gamma.doubles, beta: beta.doubles, rows: rows, columns: columns, eps: Double(eps))
        }, at: x.doubles, weights: w.doubles)
        let numericGamma = numericalGradient(of: {
            referenceLayerNorm(x.doubles, gamma: $0, beta: beta.doubles, rows: rows, columns: columns, eps: Double(eps))
        }, at: gamma.doubles, weights: w.doubles)
        let numericBeta = numericalGradient(of: {
            referenceLayerNorm(x.doubles, gamma: gamma.doubles, beta: $0, rows: rows, columns: columns, eps: Double(eps))
        }, at: beta.doubles, weights: w.doubles)
        #expect(relativeError(dx, numericX) < 1e-4)
        #expect(relativeError(dgamma, numericGamma) < 1e-4)
        #expect(relativeError(dbeta, numericBeta) < 1e-4)

        // Accumulating mode adds onto what is there (residual connections rely on it).
        var accumulated = [Float](repeating: 1, count: x.count)
        LayerNorm.backward(outputGradient: w, input: x, gamma: gamma, mean: mean, rstd: rstd,
                           inputGradient: &accumulated, accumulateInput: true, rows: rows, columns: columns)
        #expect(relativeError(accumulated, numericX.map { $0 + 1 }) < 1e-4)
    }
}

@Suite("activations")
struct ActivationTests {
    @Test("GELU (erf form) forward and backward")
    func gelu() {
        let x = randomValues(50, seed: 30, scale: 5), w = randomValues(50, seed: 31)
        var y = [Float](repeating: 0, count: 50), dx = y
        GELU.forward(x, into: &y, count: 50)
        #expect(maxAbsDifference(y, referenceGELU(x.doubles)) < 1e-6)
        GELU.backward(input: x, outputGradient: w, into: &dx, count: 50)
        let numeric = numericalGradient(of: referenceGELU, at: x.doubles, weights: w.doubles)
        #expect(relativeError(dx, numeric) < 1e-5)
    }

    @Test("FastMath.expNonPositive, GELU's Swift reference exp, equals the C kernels' exp bit for bit (whose accuracy singlePrecisionExp tests)")
    func fastMath() {
        let v = (0...400_000).map { -87 * Float($0) / 400_000 } + [0, -0.0, -1e-30, -87.5, -200, -.infinity, 5]
        var c = [Float](repeating: .nan, count: v.count)
        rgp_exp_non_positive_float(v, &c, v.count)
        let mismatches = v.indices.filter { FastMath.expNonPositive(v[$0]).bitPattern != c[$0].bitPattern }
        #expect(mismatches.isEmpty, "first mismatch at v = \(mismatches.first.map { v[$0] } ?? 0)")
    }

    @Test("GELU over its whole range matches the double-precision formula to float32 rounding")
    func geluRange() {
        let count = 200_001
        let x = (0..<count).map { Float(-12 + 24 * Double($0) / Double(count - 1)) }, ones = [Float](repeating: 1, count: count)
        var y = [Float](repeating: 0, count: count), dx = y
        GELU.forward(x, into: &y, count: count)
        GELU.backward(input: x, outputGradient: ones, into: &dx, count: count)
        var worstForward = 0.0, worstBackward = 0.0
        for i in 0..<count {
            let v = Double(x[i]), cdf = 0.5 * (1 + Foundation.erf(v / 2.0.squareRoot()))
            let derivative = cdf + v * Foundation.exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
            worstForward = max(worstForward, abs(Double(y[i]) - v * cdf) / max(abs(v * cdf), 1))
            worstBackward = max(worstBackward, abs(Double(dx[i]) - derivative) / max(abs(derivative), 1))
        }
        // Error relative to max(|value|, 1): 9.8e-8 / 9.7e-8 (data-scripts/fit_gelu.py's float32 simulation, [−13, 13]); libm's
        // float32 erff/expf path reaches 1.1e-7 / 1.3e-7.
        #expect(worstForward < 1.1e-7 && worstBackward < 1.1e-7, "forward \(worstForward), backward \(worstBackward)")
        // The negative tail, relative to its own size (½x·erfc(−x/√2), which does not cancel): 4e-6 here at worst,
        // where ½x(1 + erf) in any precision is pure rounding.
        var worstTail = 0.0
        for i in 0..<count where x[i] <= -1 {
            let v = Double(x[i]), exact = 0.5 * v * Foundation.erfc(-v / 2.0.squareRoot())
            worstTail = max(worstTail, abs(Double(y[i]) - exact) / abs(exact))
        }
        #expect(worstTail < 1e-5, "negative tail \(worstTail)")
    }

    @Test("GELU's C kernels (per instruction set) equal the Swift reference arithmetic bit for bit")
    func geluKernelsMatchTheReferenceBitForBit() {
        // A kernel compiled with fused multiply-adds differs here, but only in an optimised build (debug C code does
        // not fuse): `swift test -c release -Xswiftc -enable-testing --filter geluKernels` failed with the file's
        // `fp contract(off)` changed to `fast`, and passes as committed.
        // Every float in a dense sweep of [−12, 12], the branch and clamping edges, signed zeros, huge and tiny values, and
        // random bit patterns of finite floats; an odd count so vector loops leave a tail.
        var x = (0..<400_001).map { Float(-12 + 24 * Double($0) / 400_000) }
        x += [0, -0.0, 1, -1, Float(1).nextDown, Float(-1).nextUp, 13, -13, Float(13).nextDown, Float(-13).nextUp, 5.5e-3, -1e-30, 1e-30, 3e38, -3e38, 14.2, -14.2] as [Float]
        var generator = Xoshiro256(seed: 77)
        for _ in 0..<100_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            if f.isFinite { x.append(f) }
        }
        let dy = (0..<x.count).map { _ in Float(generator.nextGaussian()) }
        var fast = [Float](repeating: 0, count: x.count), reference = fast
        GELU.forward(x, into: &fast, count: x.count)
        GELU.scalarForward(x, into: &reference, count: x.count)
        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "forward")
        GELU.backward(input: x, outputGradient: dy, into: &fast, count: x.count)
        GELU.scalarBackward(input: x, outputGradient: dy, into: &reference, count: x.count)
        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "backward")
        // In place, as the encoder calls them (the vectorised loop must not read what it already wrote).
        var inPlace = dy
        inPlace.withUnsafeMutableBufferPointer { GELU.backward(input: x, outputGradient: $0.baseAddress!, into: $0.baseAddress!, count: x.count) }
        #expect(inPlace.map(\.bitPattern) == reference.map(\.bitPattern), "backward in place")
        var forwardInPlace = x
        forwardInPlace.withUnsafeMutableBufferPointer { GELU.forward($0.baseAddress!, into: $0.baseAddress!, count: x.count) }
        GELU.scalarForward(x, into: &reference, count: x.count)
        #expect(forwardInPlace.map(\.bitPattern) == reference.map(\.bitPattern), "forward in place")
    }

    @Test("GELU keeping its derivative: y and the derivative equal the Swift reference bit for bit; backward from it is within one rounding of backward from x")
    func geluKeepingDerivative() {
        let rows = 9, columns = 1537  // tails at every vector width
        let x = randomValues(rows * columns, seed: 42, scale: 5), bias = randomValues(columns, seed: 43, scale: 2)
        var kept = x, y = [Float](repeating: .nan, count: x.count)
        kept.withUnsafeMutableBufferPointer { k in
            GELU.forwardKeepingDerivative(biasing: k.baseAddress!, bias: bias, into: &y, rows: rows, columns: columns)
        }
        let biased = (0..<x.count).map { x[$0] + bias[$0 % columns] }
        var referenceY = [Float](repeating: 0, count: x.count), referenceDerivative = referenceY
        GELU.scalarForwardKeepingDerivative(biased, into: &referenceY, derivative: &referenceDerivative, count: x.count)
        #expect(y.map(\.bitPattern) == referenceY.map(\.bitPattern), "y")
        #expect(kept.map(\.bitPattern) == referenceDerivative.map(\.bitPattern), "derivative")
        var plainY = [Float](repeating: 0, count: x.count)
        GELU.scalarForward(biased, into: &plainY, count: x.count)
        #expect(y.map(\.bitPattern) == plainY.map(\.bitPattern), "the same y as GELU.forward")
        let dy = randomValues(x.count, seed: 44, scale: 1)
        var fromDerivative = [Float](repeating: 0, count: x.count), fromInput = fromDerivative
        GELU.backward(derivative: kept, outputGradient: dy, into: &fromDerivative, count: x.count)
        GELU.backward(input: biased, outputGradient: dy, into: &fromInput, count: x.count)
        let worst = zip(fromDerivative, fromInput).map { abs($0 - $1) / max(abs($1), 1e-30) }.max() ?? 0
        #expect(worst <= 2.5e-7, "relative difference \(worst)")
    }

    @Test("GELU with the bias folded in: x += bias kept, and y equals the reference on the biased x bit for bit")
    func geluWithBias() {
        let rows = 7, columns = 37  // not a multiple of any vector width: every row has a tail
        let x = randomValues(rows * columns, seed: 40, scale: 6), bias = randomValues(columns, seed: 41, scale: 2)
        var biased = x, y = [Float](repeating: .nan, count: x.count)
        biased.withUnsafeMutableBufferPointer { b in
            GELU.forward(biasing: b.baseAddress!, bias: bias, into: &y, rows: rows, columns: columns)
        }
        let expectedBiased = (0..<x.count).map { x[$0] + bias[$0 % columns] }
        var reference = [Float](repeating: 0, count: x.count)
        GELU.scalarForward(expectedBiased, into: &reference, count: x.count)
        #expect(biased.map(\.bitPattern) == expectedBiased.map(\.bitPattern), "x holds x + bias")
        #expect(y.map(\.bitPattern) == reference.map(\.bitPattern), "y = GELU(x + bias)")
    }

    @Test("Philox4x32-10 reproduces the Random123 known-answer vectors")
    func philoxKnownAnswers() {
        // Random123 1.14, examples/kat_vectors: counter, key, expected output.
        let vectors: [([UInt32], [UInt32], [UInt32])] = [
            ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            ([0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff],
             [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
            ([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0],
             [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]),
        ]
        for (counter, key, expected) in vectors {
            var out = [UInt32](repeating: 0, count: 4)
            rgp_philox4x32(counter, key, &out)
            #expect(out == expected)
        }
    }

    @Test("a dropout mask is element e of a Philox stream: any split into pieces, any thread count, the same mask")
    func dropoutStreamSplits() {
        let count = 300_001, p: Float = 0.1, key: UInt64 = 0x1234_5678_9abc_def0
        var whole = [Float](repeating: .nan, count: count)
        Parallel.workers = 1
        Dropout.drawMask(&whole, count: count, probability: p, key: key)
        // Element e from the definition: output e mod 4 at counter ⌊e/4⌋, top 24 bits against p.
        // Every element of the first groups of sixteen blocks (and into the next), and some far ones.
        for e in Array(0..<4_200) + [12_345, 299_935, count - 1] {
            var out = [UInt32](repeating: 0, count: 4)
            rgp_philox4x32([UInt32(e / 4), 0, 0, 0], [UInt32(truncatingIfNeeded: key), UInt32(key >> 32)], &out)
            let kept = Float(out[e % 4] >> 8) * 0x1p-24 >= p
            #expect(whole[e] == (kept ? 1 / (1 - p) : 0), "element \(e)")
        }
        Parallel.workers = 2
        var threaded = [Float](repeating: .nan, count: count)
        Dropout.drawMask(&threaded, count: count, probability: p, key: key)
        #expect(threaded == whole)
        var pieces = [Float](repeating: .nan, count: count)
        var start = 0
        for length in [1, 2, 5, 64, 1_000, 3] + [Int](repeating: 99_999, count: 3) {
            let n = Swift.min(length, count - start)
            pieces.withUnsafeMutableBufferPointer {
                Dropout.drawMask($0.baseAddress! + start, count: n, probability: p, key: key, offset: start)
            }
            start += n
        }
        #expect(start == count && pieces == whole)
        var otherKey = whole
        Dropout.drawMask(&otherKey, count: count, probability: p, key: key + 1)
        let agreement = zip(otherKey, whole).filter { $0 == $1 }.count
        // Independent masks agree on (1 − p)² + p² = 82% of elements; identical ones on all.
        #expect(abs(Double(agreement) / Double(count) - 0.82) < 0.01)
    }

    @Test("a mask whose Philox counters cross 2³² (a block's high counter word steps inside a vector of blocks)")
    func dropoutCounterHighWord() {
        let p: Float = 0.3, key: UInt64 = 0xfeed_0000_1234_5678
        // From 84 blocks before block 2³² (groups of 32 and 16 blocks, and the remainder, straddle it) and 8 before block
        // 5·2³², both unaligned.
        let wrap: UInt64 = 1 << 34  // element 4·2³²: block 2³²
        let starts: [UInt64] = [wrap - 335, 5 * wrap - 30]
        for start in starts {
            let count = 1_001
            var mask = [Float](repeating: .nan, count: count)
            Dropout.drawMask(&mask, count: count, probability: p, key: key, offset: Int(start))
            for i in 0..<count {
                let e = start + UInt64(i)
                var out = [UInt32](repeating: 0, count: 4)
                rgp_philox4x32([UInt32(truncatingIfNeeded: e / 4), UInt32((e / 4) >> 32), 0, 0],
                               [UInt32(truncatingIfNeeded: key), UInt32(key >> 32)], &out)
                let kept = Float(out[Int(e % 4)] >> 8) * 0x1p-24 >= p
                #expect(mask[i] == (kept ? 1 / (1 - p) : 0), "element \(e)")
            }
        }
    }

    @Test("attention's kept dropout bits apply the streamed mask bit for bit: any count and offset, signs, NaN, in place")
    func dropoutBitsMatchStream() {
        let p: Float = 0.1, key: UInt64 = 0xfeed_beef_0bad_cafe
        var x = randomValues(16_411, seed: 50, scale: 2)
        x[3] = .nan
        x[100] = -.infinity
        x[101] = -0.0
        Parallel.workers = 1
        for (count, offset) in [(1, 0), (7, 3), (8, 8), (63, 1), (64, 0), (65, 5), (16_384, 16_384 * 7), (16_411, 2)] {
            var streamed = [Float](repeating: 0, count: count)
            Dropout.apply(x, into: &streamed, count: count, probability: p, key: key, offset: offset)
            var bits = [UInt8](repeating: 0xA5, count: Dropout.bitBytes(count))
            bits.withUnsafeMutableBytes { Dropout.drawBits($0.baseAddress!, count: count, probability: p, key: key, offset: offset) }
            var fromBits = [Float](repeating: 0, count: count)
            bits.withUnsafeBytes { Dropout.apply(x, into: &fromBits, bits: $0.baseAddress!, count: count, probability: p) }
            #expect(fromBits.map(\.bitPattern) == streamed.map(\.bitPattern), "count \(count) offset \(offset)")
            var inPlace = Array(x[0..<count])
            inPlace.withUnsafeMutableBufferPointer { y in
                bits.withUnsafeBytes { Dropout.apply(y.baseAddress!, into: y.baseAddress!, bits: $0.baseAddress!, count: count, probability: p) }
            }
            #expect(inPlace.map(\.bitPattern) == streamed.map(\.bitPattern), "in place, count \(count) offset \(offset)")
            // The number of set bits is the number of kept elements (a mask read with the wrong bit order would
            // still keep about 90%, so the element-wise comparison above is the one that pins the layout).
            let kept = bits.reduce(0) { $0 + $1.nonzeroBitCount }
            var mask = [Float](repeating: 0, count: count)
            Dropout.drawMask(&mask, count: count, probability: p, key: key, offset: offset)
            #expect(kept == mask.filter { $0 != 0 }.count, "count \(count) offset \(offset)")
        }
    }

    @Test("per-example outer-product sums against a double-precision loop: examples of unequal rows, plain, transposed, accumulated, zero rows",
)
    func outerProductSums() {
        // Nine examples (the threshold for splitting them across the workers is eight), one of them empty. The worker
        // count is left alone: other suites run beside this one, and their runs' bits may depend on it.
        let rows = ExampleRows(lengths: [7, 5, 5, 1, 0, 3, 9, 2, 4]), d = 37
        let segments = rows.examples
        for r in [1, 3] {
            for transposed in [false, true] {
                let lda = r + 1, ldb = d + 2
                var a = randomValues(rows.rows * lda, seed: 40, scale: 1)
                for k in 0..<r { a[(rows.start(1) + 2) * lda + k] = 0 }  // a zero row: skipped
                let b = randomValues(rows.rows * ldb, seed: 41, scale: 1)
                let stride = r * d + 4
                let start = randomValues(segments * stride, seed: 42, scale: 1)
                for accumulate in [false, true] {
                    var out = start
                    Segmented.outerProductSums(a: a, lda: lda, r: r, b: b, ldb: ldb, d: d, rows: rows,
                                               out: &out, outStride: stride, transposed: transposed, accumulate: accumulate)
                    var expected = start.doubles
                    for i in 0..<segments {
                        for k in 0..<r {
                            for j in 0..<d {
                                var sum = accumulate ? Double(start[i * stride + (transposed ? j * r + k : k * d + j)]) : 0
                                for t in rows.start(i)..<(rows.start(i) + rows.count(i)) { sum += Double(a[t * lda + k]) * Double(b[t * ldb + j]) }
                                expected[i * stride + (transposed ? j * r + k : k * d + j)] = sum
                            }
                        }
                    }
                    #expect(maxAbsDifference(out, expected) < 1e-5, "r \(r) transposed \(transposed) accumulate \(accumulate)")
                }
            }
        }
    }

    @Test("rank-1 carrier sums in one pass against a double-precision loop: unequal examples, an empty one, zero projections in groups of four and eight, ∂R written and accumulated, widths off 16")
    func rankOneCarrierSums() {
        // Groups of four tokens (AVX2, baseline) and of eight (AVX-512): the last example's 17 tokens are two groups of
        // eight and one token on AVX-512.
        let rows = ExampleRows(lengths: [7, 5, 5, 1, 0, 3, 9, 2, 4, 17]), segments = rows.examples
        for (p, d) in [(37, 53), (384, 1_536)] {
            let ldx = d + 3, ldd = p + 1
            var x = randomValues(rows.rows * ldx, seed: 43), delta = randomValues(rows.rows * ldd, seed: 44)
            // Zero x rows (x·R = 0) and zero δ rows (δ·L = 0) inside groups of four and of eight tokens: their terms
            // are skipped, and the group falls back to one token at a time.
            for t in [2, 38] { for j in 0..<d { x[t * ldx + j] = 0 } }
            for t in [13, 47] { for j in 0..<p { delta[t * ldd + j] = 0 } }
            let left = randomValues(p, seed: 45), right = randomValues(d, seed: 46)
            let stride = p + d + 5
            let start = randomValues(segments * stride, seed: 47)
            for accumulate in [false, true] {
                var out = start
                out.withUnsafeMutableBufferPointer { o in
                    Segmented.rankOneCarrierSums(x: x, ldx: ldx, d: d, delta: delta, ldd: ldd, p: p, left: left, right: right,
                                                 rows: rows, outLeft: o.baseAddress!, outRight: o.baseAddress! + p,
                                                 outStride: stride, accumulateRight: accumulate)
                }
                var expected = start.doubles
                for i in 0..<segments {
                    let base = i * stride
                    for j in 0..<p { expected[base + j] = 0 }
                    if !accumulate { for j in 0..<d { expected[base + p + j] = 0 } }
                    for t in rows.start(i)..<(rows.start(i) + rows.count(i)) {
                        var xr = 0.0, dl = 0.0
                        for j in 0..<d { xr += Double(x[t * ldx + j]) * Double(right[j]) }
                        for j in 0..<p { dl += Double(delta[t * ldd + j]) * Double(left[j]) }
                        for j in 0..<p { expected[base + j] += xr * Double(delta[t * ldd + j]) }
                        for j in 0..<d { expected[base + p + j] += dl * Double(x[t * ldx + j]) }
                    }
                }
                let largest = expected.map(abs).max() ?? 1
                #expect(maxAbsDifference(out, expected) <= 1e-6 * largest, "p \(p) d \(d) accumulate \(accumulate)")
                // The padding between examples' blocks is left alone.
                for i in 0..<segments { for j in (p + d)..<stride { #expect(out[i * stride + j] == start[i * stride + j]) } }
            }
        }
    }

    @Test("tanh backward from the saved output")
    func tanhGradient() {
        let x = randomValues(40, seed: 32, scale: 3), w = randomValues(40, seed: 33)
        var y = [Float](repeating: 0, count: 40), dx = y
        Tanh.forward(x, into: &y, count: 40)
        Tanh.backward(output: y, outputGradient: w, into: &dx, count: 40)
        let numeric = numericalGradient(of: { $0.map(tanh) }, at: x.doubles, weights: w.doubles)
        #expect(relativeError(dx, numeric) < 1e-5)
    }

    @Test("dropout keeping its mask as bytes: y and the gradient equal the float mask's bit for bit (in place, counts off the chunks)")
    func dropoutBits() {
        for count in [1, 63, 65, 1_000, 200_003] {
            let x = randomValues(count, seed: 71), dy = randomValues(count, seed: 72), p: Float = 0.1
            var g1 = Xoshiro256(seed: 9), g2 = Xoshiro256(seed: 9)
            var mask = [Float](repeating: 0, count: count), y = x
            Dropout.forward(x, into: &y, mask: &mask, count: count, probability: p, generator: &g1)
            var inPlace = x, kept = [UInt8](repeating: 7, count: count)
            inPlace.withUnsafeMutableBufferPointer { v in
                kept.withUnsafeMutableBufferPointer { Dropout.forward(v.baseAddress!, into: v.baseAddress!, kept: $0.baseAddress!, count: count, probability: p, generator: &g2) }
            }
            #expect(kept == mask.map { $0 != 0 ? 1 : 0 }, "kept bytes, count \(count)")
            #expect(inPlace.map(\.bitPattern) == y.map(\.bitPattern), "forward, count \(count)")
            #expect(g1.next() == g2.next(), "both take one key from the generator")
            var dx = [Float](repeating: 0, count: count), dxBits = dy
            Dropout.backward(outputGradient: dy, mask: mask, into: &dx, count: count)
            dxBits.withUnsafeMutableBufferPointer { v in
                kept.withUnsafeBufferPointer { Dropout.backward(outputGradient: v.baseAddress!, kept: $0.baseAddress!, into: v.baseAddress!, count: count, probability: p) }
            }
            #expect(dxBits.map(\.bitPattern) == dx.map(\.bitPattern), "backward, count \(count)")
            if count > 1_000 { #expect(mask.contains(0) && mask.contains { $0 > 1 }) }
        }
    }

    @Test("dropout adding a residual in one pass: kept bytes and y equal dropout then add, bit for bit (in place, counts off the chunks)")
    func dropoutAddingResidual() {
        for count in [1, 63, 65, 1_000, 200_003] {
            let x = randomValues(count, seed: 73), residual = randomValues(count, seed: 74), p: Float = 0.1
            var g1 = Xoshiro256(seed: 10), g2 = Xoshiro256(seed: 10)
            var separate = x, keptSeparate = [UInt8](repeating: 7, count: count)
            separate.withUnsafeMutableBufferPointer { v in
                keptSeparate.withUnsafeMutableBufferPointer {
                    Dropout.forward(v.baseAddress!, into: v.baseAddress!, kept: $0.baseAddress!, count: count, probability: p, generator: &g1)
                }
                Elementwise.add(v.baseAddress!, residual, into: v.baseAddress!, count: count)
            }
            var fused = x, kept = [UInt8](repeating: 7, count: count)
            fused.withUnsafeMutableBufferPointer { v in
                kept.withUnsafeMutableBufferPointer {
                    Dropout.forward(v.baseAddress!, adding: residual, into: v.baseAddress!, kept: $0.baseAddress!, count: count,
                                    probability: p, generator: &g2)
                }
            }
            #expect(kept == keptSeparate, "kept bytes, count \(count)")
            #expect(fused.map(\.bitPattern) == separate.map(\.bitPattern), "y, count \(count)")
            #expect(g1.next() == g2.next(), "both take one key from the generator")
            if count > 1_000 { #expect(kept.contains(0) && fused.enumerated().contains { $0.element == residual[$0.offset] }) }
        }
    }

    @Test("seeded dropout is deterministic, keeps 1 − p, rescales, and routes gradients through its mask")
    func dropout() {
        let count = 200_000, p: Float = 0.1
        let x = [Float](repeating: 2, count: count)
        var y1 = x, mask1 = x, y2 = x, mask2 = x
        var g1 = Xoshiro256(seed: 7), g2 = Xoshiro256(seed: 7)
        Dropout.forward(x, into: &y1, mask: &mask1, count: count, probability: p, generator: &g1)
        Dropout.forward(x, into: &y2, mask: &mask2, count: count, probability: p, generator: &g2)
        #expect(y1 == y2 && mask1 == mask2)
        let kept = Double(mask1.filter { $0 != 0 }.count) / Double(count)
        // Binomial standard deviation √(p(1−p)/n) ≈ 6.7e-4; allow 5 of them.
        #expect(abs(kept - 0.9) < 5 * (0.09 / Double(count)).squareRoot())
        #expect(y1.allSatisfy { $0 == 0 || abs($0 - 2 / 0.9) < 1e-6 })
        var dx = [Float](repeating: 0, count: count)
        Dropout.backward(outputGradient: x, mask: mask1, into: &dx, count: count)
        #expect(dx == y1)
        var g3 = Xoshiro256(seed: 8), y3 = x, mask3 = x
        Dropout.forward(x, into: &y3, mask: &mask3, count: count, probability: p, generator: &g3)
        #expect(mask3 != mask1, "another seed gives another mask")
        var none = x
        Dropout.forward(x, into: &none, mask: &mask3, count: count, probability: 0, generator: &g3)
        #expect(none == x)
        // A mask drawn on its own (attention draws its masks before the per-head work) equals forward's and leaves
        // the generator where forward leaves it.
        var g4 = Xoshiro256(seed: 7), alone = x
        Dropout.drawMask(&alone, count: count, probability: p, generator: &g4)
        #expect(alone == mask1 && g4.next() == g1.next())
    }
}

@Suite("cross-entropy and linear")
struct LossTests {
    func referenceLosses(_ z: [Double], labels: [Int32], classes: Int) -> [Double] {
        labels.indices.map { r in
            let row = Array(z[(r * classes)..<((r + 1) * classes)])
            return log(row.reduce(0) { $0 + exp($1) }) - row[Int(labels[r])]
        }
    }

    @Test("loss and gradient match the reference and finite differences")
    func crossEntropy() {
        let rows = 5, classes = 3
        let z = randomValues(rows * classes, seed: 40, scale: 3)
        let labels: [Int32] = [0, 2, 1, 1, 0]
        var probabilities = [Float](repeating: 0, count: z.count), losses = [Float](repeating: 0, count: rows)
        let total = CrossEntropy.forward(logits: z, labels: labels, rows: rows, classes: classes,
                                         probabilities: &probabilities, losses: &losses)
        let expected = referenceLosses(z.doubles, labels: labels, classes: classes)
        #expect(maxAbsDifference(losses, expected) < 1e-5)
        #expect(abs(Double(total) - expected.reduce(0, +)) < 1e-5)
        var dz = [Float](repeating: 0, count: z.count)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: rows, classes: classes,
                              scale: 1 / Float(rows), into: &dz)
        let numeric = numericalGradient(of: { [referenceLosses($0, labels: labels, classes: classes).reduce(0, +) / Double(rows)] },
                                        at: z.doubles, weights: [1])
        #expect(relativeError(dz, numeric) < 1e-5)
    }

    @Test("huge logits give a finite loss")
    func crossEntropyStability() {
        var p = [Float](repeating: 0, count: 2)
        let loss = CrossEntropy.forward(logits: [500, -500], labels: [1], rows: 1, classes: 2, probabilities: &p)
        #expect(abs(loss - 1000) < 1e-2)
    }

    @Test("linear layer: dx, dW, db against finite differences")
    func linear() {
        let n = 4, inputs = 6, outputs = 5
        let x = randomValues(n * inputs, seed: 50), weight = randomValues(outputs * inputs, seed: 51)
        let bias = randomValues(outputs, seed: 52), w = randomValues(n * outputs, seed: 53)
        func reference(_ x: [Double], _ weight: [Double], _ bias: [Double]) -> [Double] {
            (0..<(n * outputs)).map { idx in
                let (r, o) = (idx / outputs, idx % outputs)
                return bias[o] + (0..<inputs).reduce(0.0) { $0 + x[r * inputs + $1] * weight[o * inputs + $1] }
            }
        }
        var y = [Float](repeating: 0, count: n * outputs)
        Linear.forward(x, weight: weight, bias: bias, into: &y, rows: n, inputs: inputs, outputs: outputs)
        #expect(maxAbsDifference(y, reference(x.doubles, weight.doubles, bias.doubles)) < 1e-5)
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: weight.count)
        var db = [Float](repeating: 0, count: outputs)
        Linear.backward(outputGradient: w, input: x, weight: weight, inputGradient: &dx, weightGradient: &dw,
                        biasGradient: &db, rows: n, inputs: inputs, outputs: outputs)
        #expect(relativeError(dx, numericalGradient(of: { reference($0, weight.doubles, bias.doubles) },
                                                    at: x.doubles, weights: w.doubles)) < 1e-5)
        #expect(relativeError(dw, numericalGradient(of: { reference(x.doubles, $0, bias.doubles) },
                                                    at: weight.doubles, weights: w.doubles)) < 1e-5)
        #expect(relativeError(db, numericalGradient(of: { reference(x.doubles, weight.doubles, $0) },
                                                    at: bias.doubles, weights: w.doubles)) < 1e-5)
    }
}

@Suite("elementwise")
struct ElementwiseTests {
    @Test("subtract equals a − b element for element; hasNonzero finds one nonzero anywhere, ignores signed zeros, counts NaN")
    func subtractAndNonzero() {
        let count = 70_001  // above the split threshold, with a tail
        let a = randomValues(count, seed: 90, scale: 3), b = randomValues(count, seed: 91, scale: 3)
        var y = [Float](repeating: .nan, count: count)
        Elementwise.subtract(a, b, into: &y, count: count)
        #expect(y.map(\.bitPattern) == zip(a, b).map { ($0 - $1).bitPattern })
        var zeros = [Float](repeating: 0, count: count)
        zeros[17] = -0.0
        #expect(!Elementwise.hasNonzero(zeros, count: count))
        for (index, value) in [(0, Float(1e-40)), (count - 1, -2), (4096, .nan), (50_000, .infinity)] {
            var x = zeros
            x[index] = value
            #expect(Elementwise.hasNonzero(x, count: count), "element \(index) = \(value)")
            #expect(!Elementwise.hasNonzero(x, count: index), "before element \(index)")
        }
    }
}

@Suite("Adam's kernels")
struct AdamKernelTests {
    let settings = AdamKernel.Settings(beta1: 0.9, beta2: 0.999, epsilon: 1e-6, stepSize: 1e-3 / (1 - 0.9 * 0.9),
                                       correction2: 1 - 0.999 * 0.999)

    /// The scalar step, operation for operation as the kernel's contract states it.
    func scalarStep(_ p: inout [Float], _ m: inout [Float], _ v: inout [Float], _ g: [Float]) {
        let s = settings
        for i in p.indices {
            m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i]
            v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i]
            p[i] -= s.stepSize * m[i] / ((v[i] / s.correction2).squareRoot() + s.epsilon)
        }
    }

    @Test("the dense step equals the scalar arithmetic bit for bit (a length off every vector width, split across chunks)")
    func denseMatchesScalar() {
        let count = 9_001
        let g = randomValues(count, seed: 60)
        var (p, m, v) = (randomValues(count, seed: 61), randomValues(count, seed: 62, scale: 0.1), randomValues(count, seed: 63).map { $0 * $0 })
        var (pk, mk, vk) = (p, m, v)
        scalarStep(&p, &m, &v, g)
        AdamKernel.step(parameter: &pk, first: &mk, second: &vk, gradient: g, count: count, settings: settings)
        #expect(pk.map(\.bitPattern) == p.map(\.bitPattern))
        #expect(mk.map(\.bitPattern) == m.map(\.bitPattern) && vk.map(\.bitPattern) == v.map(\.bitPattern))
        #expect(pk != randomValues(count, seed: 61), "the step should move the parameter")
    }

    @Test("a low-rank gradient A·B + C·D steps as the gradient multiplied out: bit for bit at rank 1 (as the two GEMMs form it), within rounding at rank 3",
          arguments: [1, 3])
    func lowRankMatchesDense(rank: Int) {
        let rows = 150, columns = 77
        let a = randomValues(rows * rank, seed: 64), b = randomValues(rank * columns, seed: 65)
        let c = randomValues(rows * rank, seed: 66), d = randomValues(rank * columns, seed: 67)
        // ΔW = A·B, then += C·D, as RGP's reconstruction multiplied it out.
        var dense = [Float](repeating: 0, count: rows * columns)
        BLAS.gemm(transA: false, transB: false, m: rows, n: columns, k: rank, a: a, lda: rank, b: b, ldb: columns, c: &dense, ldc: columns)
        BLAS.gemm(transA: false, transB: false, m: rows, n: columns, k: rank, a: c, lda: rank, b: d, ldb: columns, beta: 1, c: &dense, ldc: columns)
        let p0 = randomValues(rows * columns, seed: 68), m0 = randomValues(rows * columns, seed: 69, scale: 0.1)
        let v0 = randomValues(rows * columns, seed: 70).map { $0 * $0 }
        var (p, m, v) = (p0, m0, v0), (pl, ml, vl) = (p0, m0, v0)
        scalarStep(&p, &m, &v, dense)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeBufferPointer { pc in d.withUnsafeBufferPointer { pd in
            let gradient = LowRankGradient(a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!, d: pd.baseAddress!, rank: rank)
            AdamKernel.step(parameter: &pl, first: &ml, second: &vl, gradient: gradient, rows: rows, columns: columns, settings: settings)
        } } } }
        if rank == 1 {
            #expect(pl.map(\.bitPattern) == p.map(\.bitPattern) && ml.map(\.bitPattern) == m.map(\.bitPattern))
        } else {
            #expect(maxAbsDifference(ml, m.doubles) <= 1e-6, "first moments")
            #expect(maxAbsDifference(pl, p.doubles) <= 1e-6, "parameters")
        }
        #expect(pl != p0)
    }
}

@Suite("sum of squares")
struct SumOfSquaresTests {
    @Test("Σ x² over 16 lanes in blocks of 1,024 against Float64, at counts around the lanes and the blocks")
    func sumOfSquares() {
        let x = randomValues(250_001, seed: 32, scale: 2)
        for count in [0, 1, 15, 17, 1_023, 1_024, 1_025, 4_097, 250_001] {
            let expected = x[..<count].reduce(0.0) { $0 + Double($1) * Double($1) }
            let computed = x.withUnsafeBufferPointer { Elementwise.sumOfSquares($0.baseAddress!, count: count) }
            #expect(abs(computed - expected) <= 1e-6 * max(expected, 1e-30), "count \(count): \(computed) against \(expected)")
        }
    }
}
