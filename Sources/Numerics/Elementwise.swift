/// Small elementwise kernels that the layers compose (residual adds, scaling, reductions).
public enum Elementwise {
    /// y = a + b. `y` may alias either input.
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { y[i] = a[i] + b[i] }
    }

    /// y += alpha · x.
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// x *= alpha.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
        for i in 0..<count { x[i] *= alpha }
    }

    /// Σ x², accumulated in double precision (norms for clipping must not lose small terms).
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total: Double = 0
        var i = 0
        while i < count {
            let end = Swift.min(i + 1024, count)
            var block: Float = 0
            for j in i..<end { block += x[j] * x[j] }
            total += Double(block)
            i = end
        }
        return total
    }
}
