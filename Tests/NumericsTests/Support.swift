import Foundation
import Numerics
import Testing

/// Random values in [-scale, scale) from a seeded generator.
func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var generator = Xoshiro256(seed: seed)
    return (0..<count).map { _ in (generator.nextUnitFloat() * 2 - 1) * scale }
}

/// Central finite differences of L(x) = Σᵢ wᵢ · f(x)ᵢ, all in Float64: the reference for every backward.
func numericalGradient(of f: ([Double]) -> [Double], at x: [Double], weights w: [Double], step: Double = 1e-6) -> [Double] {
    var point = x
    return (0..<x.count).map { i in
        point[i] = x[i] + step
        let plus = zip(f(point), w).reduce(0) { $0 + $1.0 * $1.1 }
        point[i] = x[i] - step
        let minus = zip(f(point), w).reduce(0) { $0 + $1.0 * $1.1 }
        point[i] = x[i]
        return (plus - minus) / (2 * step)
    }
}

/// max |a − b| / max(max |b|, floor): the error relative to the reference's scale.
func relativeError(_ a: [Float], _ b: [Double], floor: Double = 1e-6) -> Double {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) elements")
    let scale = max(b.map(abs).max() ?? 0, floor)
    return zip(a, b).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
}

func maxAbsDifference(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}
