import Numerics

/// Adam (Kingma & Ba) without weight decay, with bias correction; state kept per named tensor.
public final class Adam: @unchecked Sendable {
    public let beta1: Float, beta2: Float, epsilon: Float
    public private(set) var step = 0
    public private(set) var firstMoments: [String: Tensor] = [:]
    public private(set) var secondMoments: [String: Tensor] = [:]

    /// False on a thread rank whose parameters are rank 0's (`Trainer`'s shared parameters): rank 0 alone writes them
    /// and holds the moments; here `update` does nothing and allocates nothing.
    public var appliesUpdates = true

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6) {
        (self.beta1, self.beta2, self.epsilon) = (beta1, beta2, epsilon)
    }

    /// Starts a new step (bias corrections use the step count).
    public func beginStep() { step += 1 }

    /// param -= lr · m̂ / (√v̂ + ε) with m, v the moving moments of `gradient`.
    public func update(_ name: String, parameter: Tensor, gradient: UnsafePointer<Float>, learningRate: Float) {
        guard appliesUpdates else { return }
        let (m, v) = moments(name, parameter)
        AdamKernel.step(parameter: parameter.data, first: m.data, second: v.data, gradient: gradient, count: parameter.count,
                        settings: settings(learningRate))
    }

    /// The same update from a low-rank gradient A·B + C·D of the rows×columns `parameter` (RGP's reconstruction),
    /// formed a row at a time and never stored.
    public func update(_ name: String, parameter: Tensor, gradient: LowRankGradient, learningRate: Float) {
        guard appliesUpdates else { return }
        let (m, v) = moments(name, parameter)
        AdamKernel.step(parameter: parameter.data, first: m.data, second: v.data, gradient: gradient, rows: parameter.rows,
                        columns: parameter.columns, settings: settings(learningRate))
    }

    private func moments(_ name: String, _ parameter: Tensor) -> (Tensor, Tensor) {
        let m = firstMoments[name] ?? Tensor(zeros: parameter.shape)
        let v = secondMoments[name] ?? Tensor(zeros: parameter.shape)
        firstMoments[name] = m
        secondMoments[name] = v
        return (m, v)
    }

    private func settings(_ learningRate: Float) -> AdamKernel.Settings {
        let correction1 = 1 - pow(beta1, Float(step)), correction2 = 1 - pow(beta2, Float(step))
        return AdamKernel.Settings(beta1: beta1, beta2: beta2, epsilon: epsilon, stepSize: learningRate / correction1,
                                   correction2: correction2)
    }

    /// Restores saved moments and step.
    public func restore(step: Int, first: [String: Tensor], second: [String: Tensor]) {
        self.step = step
        firstMoments = first
        secondMoments = second
    }
}

@inline(__always) func pow(_ base: Float, _ exponent: Float) -> Float { Float(Numerics._exp(Double(exponent) * Numerics._log(Double(base)))) }
