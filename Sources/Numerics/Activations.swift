import CKernels

/// GELU in BERT's exact erf form: y = x · Φ(x) = ½ x (1 + erf(x / √2)).
///
/// Evaluated in double precision with the vectorisable `FastMath.erf` and `FastMath.expNonPositive` rather than libm's
/// scalar erff/expf, which took a quarter of a training step's CPU time (perf, MiniLM on SST-2); the results are
/// as accurate as the float32 libm path (tested against libm in double). The loops run in C (CKernels), compiled
/// for AVX-512, AVX2 and baseline x86-64 and chosen when the library loads; `scalarForward`/`scalarBackward` are
/// the same arithmetic in Swift, which the C kernels equal bit for bit (tested).
public enum GELU {
    /// `y` may alias `x`.
    public static func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        rgp_gelu_forward(x, y, count)
    }

    /// x[r, j] += bias[j] for a rows×columns x, kept (backward reads the biased x), then y = GELU(x): one pass where a
    /// bias broadcast before the product and GELU after it were two. `y` must not alias `x`.
    public static func forward(
        biasing x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int
    ) {
        rgp_gelu_forward_bias(x, bias, y, rows, columns)
    }

    /// y = GELU(x + bias) as `forward(biasing:)`, and x overwritten with the derivative GELU'(x + bias) = Φ + x·φ
    /// rounded to float, so that backward is one product (`backward(derivative:)`) instead of erf and exp again.
    /// `y` must not alias `x`.
    public static func forwardKeepingDerivative(
        biasing x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int
    ) {
        rgp_gelu_forward_bias_derivative(x, bias, y, rows, columns)
    }

    /// dx = dy · GELU'(x) from the derivative `forwardKeepingDerivative` kept. `dx` may alias `dy`.
    public static func backward(
        derivative: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        rgp_multiply(dy, derivative, dx, count)
    }

    /// The reference arithmetic of `forwardKeepingDerivative` on an already biased x: y and the float derivative.
    public static func scalarForwardKeepingDerivative(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            let v = Double(x[i])
            let erfTerm = FastMath.erf(v * 0.707_106_781_186_547_5)
            y[i] = Float(0.5 * v * (1 + erfTerm))
            derivative[i] = Float(0.5 * (1 + erfTerm) + v * (0.398_942_280_401_432_7 * FastMath.expNonPositive(-0.5 * v * v)))
        }
    }

    /// dx = dy · (Φ(x) + x · φ(x)), φ the standard normal density. `dx` may alias `dy`.
    public static func backward(
        input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        rgp_gelu_backward(x, dy, dx, count)
    }

    /// The reference arithmetic of `forward`, in Swift.
    public static func scalarForward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = Double(x[i])
            y[i] = Float(0.5 * v * (1 + FastMath.erf(v * 0.707_106_781_186_547_5)))
        }
    }

    /// The reference arithmetic of `backward`, in Swift.
    public static func scalarBackward(
        input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            let v = Double(x[i])
            let cdf = 0.5 * (1 + FastMath.erf(v * 0.707_106_781_186_547_5))
            let pdf = 0.398_942_280_401_432_7 * FastMath.expNonPositive(-0.5 * v * v)
            dx[i] = Float(Double(dy[i]) * (cdf + v * pdf))
        }
    }
}

/// Branch-free erf and exp that the compiler can vectorise, accurate to well below float32 resolution.
public enum FastMath {
    /// erf(x) ≈ x·P(x²)/Q(x²) for |x| ≤ 3.92 and ±1 beyond (where erf is within 6e-8 of ±1). The degree-5/5 rational
    /// was fitted here to erf (scipy) on 6,000 Chebyshev nodes of [0, 3.92] by iteratively reweighted least squares;
    /// its largest absolute error is 1.6e-8.
    @inlinable @inline(__always)
    public static func erf(_ x: Double) -> Double {
        let clamped = Swift.min(Swift.max(x, -3.92), 3.92)
        let z = clamped * clamped
        var p = 2.034_730_533_438_513_5e-06
        p = p * z + 2.874_805_767_171_406_3e-04
        p = p * z + 3.868_369_642_431_482e-03
        p = p * z + 5.306_061_063_816_58e-02
        p = p * z + 1.927_650_145_536_389e-01
        p = p * z + 1.128_379_022_311_793_5
        var q = 3.807_065_755_903_904_5e-05
        q = q * z + 1.188_125_860_408_257_6e-03
        q = q * z + 1.517_237_972_643_953_8e-02
        q = q * z + 1.150_850_175_785_166_6e-01
        q = q * z + 5.041_652_122_943_358e-01
        q = q * z + 1
        return clamped * p / q
    }

    /// e^v for v ≤ 0 (v below −100 is taken as −100): v = k·ln 2 + r with |r| ≤ ½ ln 2, e^r by its degree-7 Taylor
    /// polynomial (relative error below 1e-8), 2^k from the exponent bits.
    ///
    /// k is rounded by adding and removing 1.5·2⁵² and 2^k built from the integer bits of that sum, so the whole
    /// function is plain arithmetic that the compiler vectorises (`rounded()` and `Int64(_:)` are a libm call and a
    /// trapping conversion per element, which kept GELU's backward scalar: 11% of an RGP step, perf).
    @inlinable @inline(__always)
    public static func expNonPositive(_ v: Double) -> Double {
        let clamped = Swift.max(Swift.min(v, 0), -100)
        let shift = 6_755_399_441_055_744.0  // 1.5·2⁵²: its ulp is 1, so shift + x rounds x to an integer
        let shifted = clamped * 1.442_695_040_888_963_4 + shift
        let k = shifted - shift
        let r = clamped - k * 0.693_147_180_559_945_3
        var e = 1.0 / 5040
        e = e * r + 1.0 / 720
        e = e * r + 1.0 / 120
        e = e * r + 1.0 / 24
        e = e * r + 1.0 / 6
        e = e * r + 0.5
        e = e * r + 1
        e = e * r + 1
        // bits(shift + k) − bits(shift) = k for integers |k| < 2⁵¹.
        let exponent = (shifted.bitPattern &- shift.bitPattern) &+ 1023
        return e * Double(bitPattern: exponent << 52)
    }
}

/// Hyperbolic tangent (BERT's pooler activation).
public enum Tanh {
    /// `y` may alias `x`.
    public static func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = _tanhf(x[i]) }
    }

    /// dx = dy · (1 − y²), from the saved output. `dx` may alias `dy`.
    public static func backward(
        output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
    }
}

/// Inverted dropout: kept elements are scaled by 1/(1 − p) so the expectation is unchanged.
///
/// Masks come from Philox4x32-10, a counter-based generator (Salmon et al. 2011; cuRAND's Philox, which PyTorch's
/// CUDA dropout draws from): element e of a stream under a 64-bit key depends on (key, e) alone, so a mask is drawn in
/// parallel, in any pieces, per attention head while its block is in cache, and again in backward instead of being
/// stored, always with the same values. Each call of `forward` takes its key from the caller's seeded generator (one
/// draw per call).
public enum Dropout {
    /// Draws the mask (0 or 1/(1 − p) per element) under a key taken from `generator` and applies it. With p = 0 the
    /// mask is all ones. `y` may alias `x`.
    @inlinable
    public static func forward<G: RandomNumberGenerator>(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>,
        count: Int, probability p: Float, generator: inout G
    ) {
        drawMask(mask, count: count, probability: p, generator: &generator)
        Elementwise.multiply(x, mask, into: y, count: count)
    }

    /// Draws a mask only (0 or 1/(1 − p) per element) under a key taken from `generator`: what `forward` applies.
    @inlinable
    public static func drawMask<G: RandomNumberGenerator>(
        _ mask: UnsafeMutablePointer<Float>, count: Int, probability p: Float, generator: inout G
    ) {
        drawMask(mask, count: count, probability: p, key: generator.next())
    }

    /// Elements offset ..< offset + count of the mask stream under `key` (split across the elementwise workers).
    public static func drawMask(
        _ mask: UnsafeMutablePointer<Float>, count: Int, probability p: Float, key: UInt64, offset: Int = 0
    ) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        precondition(offset >= 0, "negative dropout stream offset \(offset)")
        if p == 0 {
            mask.update(repeating: 1, count: count)
            return
        }
        Parallel.chunks(count) { start, n in
            rgp_dropout_mask(mask + start, n, UInt64(offset + start), key, p)
        }
    }

    /// y = x · mask for elements offset ..< offset + count of the mask stream under `key`, without storing the mask
    /// (attention draws it again in backward): the same bits as `drawMask` then a product. `y` may alias `x`.
    public static func apply(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, probability p: Float, key: UInt64,
        offset: Int = 0
    ) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        precondition(offset >= 0, "negative dropout stream offset \(offset)")
        if p == 0 {
            if UnsafePointer(y) != x { y.update(from: x, count: count) }
            return
        }
        Parallel.chunks(count) { start, n in
            rgp_dropout_apply(x + start, y + start, n, UInt64(offset + start), key, p)
        }
    }

    /// Bytes that `drawBits` writes for `count` elements.
    public static func bitBytes(_ count: Int) -> Int { (count + 7) / 8 }

    /// Elements offset ..< offset + count of the mask stream under `key` as bits (bit j mod 8 of byte ⌊j/8⌋ set where
    /// element offset + j is kept), on the calling thread: attention draws each head's mask once in forward and
    /// applies it twice more in backward from these bits instead of drawing Philox again.
    public static func drawBits(_ bits: UnsafeMutableRawPointer, count: Int, probability p: Float, key: UInt64, offset: Int) {
        precondition(p > 0 && p < 1, "dropout probability \(p) outside (0, 1)")
        precondition(offset >= 0, "negative dropout stream offset \(offset)")
        rgp_dropout_bits(bits, count, UInt64(offset), key, p)
    }

    /// y = x · mask with the mask read from `bits` written by `drawBits` for the same count: equal bit for bit to
    /// `apply` on the stream elements the bits came from. On the calling thread; `y` may alias `x`.
    public static func apply(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, bits: UnsafeRawPointer, count: Int, probability p: Float
    ) {
        precondition(p > 0 && p < 1, "dropout probability \(p) outside (0, 1)")
        rgp_dropout_apply_bits(x, y, bits, count, p)
    }

    /// y = x · mask under a key taken from `generator` (the mask `drawMask` would draw from it), keeping the mask as one
    /// byte an element (1 kept, 0 dropped) for `backward(kept:)`: one pass, and a quarter of a float mask's memory.
    /// `y` may alias `x`.
    public static func forward<G: RandomNumberGenerator>(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, kept: UnsafeMutablePointer<UInt8>, count: Int,
        probability p: Float, generator: inout G
    ) {
        precondition(p > 0 && p < 1, "dropout probability \(p) outside (0, 1)")
        let key = generator.next()
        Parallel.chunks(count) { start, n in
            rgp_dropout_forward_bytes(x + start, y + start, kept + start, n, UInt64(start), key, p)
        }
    }

    /// dx = dy · mask from the bytes `forward(_:into:kept:count:probability:generator:)` kept. `dx` may alias `dy`.
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, kept: UnsafePointer<UInt8>, into dx: UnsafeMutablePointer<Float>, count: Int,
        probability p: Float
    ) {
        precondition(p > 0 && p < 1, "dropout probability \(p) outside (0, 1)")
        Parallel.chunks(count) { start, n in
            rgp_dropout_apply_bytes(dy + start, dx + start, kept + start, n, p)
        }
    }

    /// dx = dy · mask. `dx` may alias `dy`.
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, mask: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        Elementwise.multiply(dy, mask, into: dx, count: count)
    }
}
