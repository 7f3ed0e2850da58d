/// Softmax cross-entropy over class logits, one integer label per row.
public enum CrossEntropy {
    /// Writes the class probabilities (rows×classes) and each row's loss −log p[label]; returns the sum of
    /// the losses. Computed from log-sum-exp so large logits do not overflow.
    @discardableResult
    public static func forward(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, classes: Int,
        probabilities: UnsafeMutablePointer<Float>, losses: UnsafeMutablePointer<Float>? = nil
    ) -> Float {
        var total: Float = 0
        for r in 0..<rows {
            let z = logits + r * classes, p = probabilities + r * classes
            let label = Int(labels[r])
            precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
            var maximum = -Float.infinity
            for c in 0..<classes { maximum = Swift.max(maximum, z[c]) }
            var sum: Float = 0
            for c in 0..<classes {
                p[c] = _expf(z[c] - maximum)
                sum += p[c]
            }
            for c in 0..<classes { p[c] /= sum }
            let loss = _logf(sum) + maximum - z[label]
            losses?[r] = loss
            total += loss
        }
        return total
    }

    /// dlogits[r, c] = scale · (p[r, c] − [c = label]). Use scale = 1/rows for the mean loss, 1 for per-example
    /// (summed) losses.
    public static func backward(
        probabilities: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, classes: Int,
        scale: Float, into dlogits: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let p = probabilities + r * classes, d = dlogits + r * classes
            for c in 0..<classes { d[c] = scale * p[c] }
            d[Int(labels[r])] -= scale
        }
    }
}

/// Fully connected layer in PyTorch's convention: y = x · Wᵀ + b with W stored [out, in].
public enum Linear {
    /// x: n×in, weight: out×in, bias: out (optional), y: n×out.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>, rows n: Int, inputs: Int, outputs: Int
    ) {
        if let bias {
            // Streams all of y: split across the workers like the product that follows (one core copying left the
            // other idle: 3% of a forward, perf).
            Parallel.rows(n) { start, count in
                for r in start..<(start + count) { (y + r * outputs).update(from: bias, count: outputs) }
            }
        }
        BLAS.gemm(transA: false, transB: true, m: n, n: outputs, k: inputs, a: x, lda: inputs,
                  b: weight, ldb: inputs, beta: bias == nil ? 0 : 1, c: y, ldc: outputs)
    }

    /// dx = dy · W (written, or added when `accumulateInput`); dW += dyᵀ · x; db += Σ_rows dy.
    /// Each gradient is computed only when its buffer is given.
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false,
        weightGradient dw: UnsafeMutablePointer<Float>?, biasGradient db: UnsafeMutablePointer<Float>?,
        rows n: Int, inputs: Int, outputs: Int
    ) {
        if let dx {
            BLAS.gemm(transA: false, transB: false, m: n, n: inputs, k: outputs, a: dy, lda: outputs,
                      b: weight, ldb: inputs, beta: accumulateInput ? 1 : 0, c: dx, ldc: inputs)
        }
        if let dw {
            BLAS.gemm(transA: true, transB: false, m: outputs, n: inputs, k: n, a: dy, lda: outputs,
                      b: x, ldb: inputs, beta: 1, c: dw, ldc: inputs)
        }
        if let db {
            for r in 0..<n {
                let row = dy + r * outputs
                for j in 0..<outputs { db[j] += row[j] }
            }
        }
    }
}
