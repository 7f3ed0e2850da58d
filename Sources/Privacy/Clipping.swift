import Numerics

/// Per-example gradients of one parameter group: `batch` rows of `size` floats, row i belonging to example i.
public struct PerExampleGroup {
    public var gradients: UnsafeMutablePointer<Float>
    public var size: Int
    /// Multiplies this group's per-example gradients before the joint norm and the sum (the RGP authors scale the
    /// classifier head's by 1/10).
    public var scale: Float

    public init(gradients: UnsafeMutablePointer<Float>, size: Int, scale: Float = 1) {
        self.gradients = gradients
        self.size = size
        self.scale = scale
    }
}

/// Joint per-example clipping across parameter groups.
public enum Clipping {
    /// ‖g_i‖ over all groups jointly (each group scaled by its `scale`), for each of `batch` examples.
    public static func jointNorms(_ groups: [PerExampleGroup], batch: Int) -> [Double] {
        var squares = [Double](repeating: 0, count: batch)
        for group in groups {
            let scaleSquared = Double(group.scale) * Double(group.scale)
            for i in 0..<batch {
                squares[i] += scaleSquared * Elementwise.sumOfSquares(group.gradients + i * group.size, count: group.size)
            }
        }
        return squares.map { $0.squareRoot() }
    }

    /// min(1, C/‖g_i‖) per example; an all-zero gradient keeps factor 1.
    public static func factors(norms: [Double], clip: Double) -> [Float] {
        norms.map { $0 > clip ? Float(clip / $0) : 1 }
    }

    /// sum = Σ_i factor_i · scale · g_i for one group (a GEMV over the batch), written into `sum` (size floats), or
    /// added to it when `accumulate`.
    public static func clippedSum(_ group: PerExampleGroup, factors: [Float], into sum: UnsafeMutablePointer<Float>,
                                  accumulate: Bool = false) {
        let batch = factors.count
        if batch == 0 {
            if !accumulate { sum.update(repeating: 0, count: group.size) }
            return
        }
        factors.withUnsafeBufferPointer { f in
            BLAS.gemv(transA: true, m: batch, n: group.size, alpha: group.scale, a: group.gradients, lda: group.size,
                      x: f.baseAddress!, beta: accumulate ? 1 : 0, y: sum)
        }
    }
}
