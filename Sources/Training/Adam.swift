import Numerics

/// Adam (Kingma & Ba) without weight decay, with bias correction; state kept per named tensor.
public final class Adam: @unchecked Sendable {
    public let beta1: Float, beta2: Float, epsilon: Float
    public private(set) var step = 0
    public private(set) var firstMoments: [String: Tensor] = [:]
    public private(set) var secondMoments: [String: Tensor] = [:]

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6) {
        (self.beta1, self.beta2, self.epsilon) = (beta1, beta2, epsilon)
    }

    /// Starts a new step (bias corrections use the step count).
    public func beginStep() { step += 1 }

    /// param -= lr · m̂ / (√v̂ + ε) with m, v the moving moments of `gradient`.
    public func update(_ name: String, parameter: Tensor, gradient: UnsafePointer<Float>, learningRate: Float) {
        let m = firstMoments[name] ?? Tensor(zeros: parameter.shape)
        let v = secondMoments[name] ?? Tensor(zeros: parameter.shape)
        firstMoments[name] = m
        secondMoments[name] = v
        let correction1 = 1 - pow(beta1, Float(step)), correction2 = 1 - pow(beta2, Float(step))
        let stepSize = learningRate / correction1
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let p = parameter.data, md = m.data, vd = v.data
        // Elementwise, so split across the workers in chunks (the same arithmetic per element).
        let chunk = 4096
        Parallel.rows((parameter.count + chunk - 1) / chunk, minimumRows: 16) { start, count in
            for i in (start * chunk)..<Swift.min((start + count) * chunk, parameter.count) {
                let g = gradient[i]
                md[i] = b1 * md[i] + (1 - b1) * g
                vd[i] = b2 * vd[i] + (1 - b2) * g * g
                p[i] -= stepSize * md[i] / ((vd[i] / correction2).squareRoot() + eps)
            }
        }
    }

    /// Restores saved moments and step.
    public func restore(step: Int, first: [String: Tensor], second: [String: Tensor]) {
        self.step = step
        firstMoments = first
        secondMoments = second
    }
}

@inline(__always) func pow(_ base: Float, _ exponent: Float) -> Float { Float(Numerics._exp(Double(exponent) * Numerics._log(Double(base)))) }
