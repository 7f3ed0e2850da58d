import CKernels

/// GELU in BERT's exact erf form: y = x · Φ(x) = ½ x (1 + erf(x / √2)), and its derivative y' = Φ(x) + x·φ(x).
///
/// Evaluated in single precision, branch-free, so that the loops vectorise at full float width (libm's scalar
/// erff/expf took a quarter of a training step's CPU time; the double-precision rational that replaced them, 5% of an
/// SST-2 RGP step, perf): for |x| < 1, y = x(½ + x·T(x²)) and y' = ½ + x·S(x²) with fused multiply-adds; for
/// 1 ≤ |x| < 13, the upper tail Φ(−a) = φ(a)·M(a) (a = |x|) with the Mills ratio M as a polynomial in 1/(1 + 0.3a),
/// y = x − x·Φ(−a) (one fused multiply-add) or x·Φ(−a) and y' = 1 − (Φ(−a) − aφ(a)) or φ(a)(M(a) − a); beyond 13, y = x or −0. The polynomials
/// are fitted by data-scripts/fit_gelu.py. Largest error, relative to max(|value|, 1): 9.8e-8 forward, 9.7e-8
/// derivative, against 1.1e-7 and 1.3e-7 for libm's float32 erff/expf; the negative tail stays accurate to its last
/// bits where ½x(1 + erf) loses everything. The loops run in C (CKernels), compiled for AVX-512, AVX2 and baseline
/// x86-64 and chosen when the library loads; `scalarForward`/`scalarBackward` are the same arithmetic in Swift, which
/// the C kernels equal bit for bit (tested).
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

    /// y = GELU(x + bias) as `forward(biasing:)`, and x overwritten with the derivative GELU'(x + bias) = Φ + x·φ, so
    /// that backward is one product (`backward(derivative:)`) instead of evaluating GELU's pieces again.
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

    /// The reference arithmetic of `forwardKeepingDerivative` on an already biased x: y and the derivative.
    public static func scalarForwardKeepingDerivative(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { (y[i], derivative[i]) = value(x[i]) }
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
        for i in 0..<count { y[i] = value(x[i]).y }
    }

    /// The reference arithmetic of `backward`, in Swift.
    public static func scalarBackward(
        input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * value(x[i]).derivative }
    }

    /// GELU(x) and GELU'(x) as the C kernels compute them (`gelu_float` in rgp_kernels.c), operation for operation:
    /// every branch evaluated, one selected.
    public static func value(_ x: Float) -> (y: Float, derivative: Float) {
        let z = x * x
        var tp: Float = 5.366824780139723e-07
        tp = (-9.272668648918625e-06 as Float).addingProduct(tp, z)
        tp = (0.00011531881318660453 as Float).addingProduct(tp, z)
        tp = (-0.001187287736684084 as Float).addingProduct(tp, z)
        tp = (0.009973550215363503 as Float).addingProduct(tp, z)
        tp = (-0.06649038195610046 as Float).addingProduct(tp, z)
        tp = (0.3989422917366028 as Float).addingProduct(tp, z)
        var sp: Float = 7.274276413227199e-06
        sp = (-0.00011060679389629513 as Float).addingProduct(sp, z)
        sp = (0.0011524988804012537 as Float).addingProduct(sp, z)
        sp = (-0.009497974999248981 as Float).addingProduct(sp, z)
        sp = (0.059841230511665344 as Float).addingProduct(sp, z)
        sp = (-0.26596152782440186 as Float).addingProduct(sp, z)
        sp = (0.7978845834732056 as Float).addingProduct(sp, z)
        let smallY = x * (0.5 as Float).addingProduct(x, tp), smallDerivative = (0.5 as Float).addingProduct(x, sp)

        let a = x < 0 ? -x : x
        let clamped: Float = a < 13 ? a : 13
        let phi: Float = 0.39894228 * FastMath.expNonPositive(-0.5 * (clamped * clamped))
        let t: Float = 1 / (1 + 0.3 * clamped)
        var m: Float = 0.0953192189335823
        m = m * t + -0.4248497784137726
        m = m * t + 0.5815781354904175
        m = m * t + -0.20595543086528778
        m = m * t + 0.36869344115257263
        m = m * t + 0.2322378158569336
        m = m * t + 0.3068992495536804
        m = m * t + 0.29933875799179077
        m = m * t + 2.7400621547712944e-05
        let tail = phi * m  // Φ(−a)
        let largeY = x > 0 ? x.addingProduct(-x, tail) : x * tail
        let largeDerivative = x > 0 ? 1 - (tail - clamped * phi) : phi * (m - clamped)

        var y = a < 1 ? smallY : largeY, derivative = a < 1 ? smallDerivative : largeDerivative
        if a >= 13 { (y, derivative) = x > 0 ? (x, 1) : (-0.0, 0) }
        return (y, derivative)
    }
}

/// Branch-free exp that the compiler can vectorise.
public enum FastMath {
    /// e^v for v ≤ 0 in single precision (v below −87 taken as −87), as `rgp_exp_non_positive_float` computes it: v =
    /// k·ln 2 + r with |r| ≤ ½ ln 2 (ln 2 split in two so that k·ln 2 is exact to float precision), e^r by its degree-7
    /// Taylor polynomial, 2^k from the exponent bits of the rounding sum; relative error within 3e-7.
    @inlinable @inline(__always)
    public static func expNonPositive(_ v: Float) -> Float {
        var clamped: Float = v < 0 ? v : 0
        clamped = clamped > -87 ? clamped : -87
        let shift: Float = 12_582_912  // 1.5·2²³: its ulp is 1, so shift + x rounds x to an integer
        let shifted = clamped * 1.44269504 + shift
        let k = shifted - shift
        var r = clamped - k * 0.693359375
        r = r - k * -2.12194440e-4
        var e: Float = 1.0 / 5040
        e = e * r + 1.0 / 720
        e = e * r + 1.0 / 120
        e = e * r + 1.0 / 24
        e = e * r + 1.0 / 6
        e = e * r + 0.5
        e = e * r + 1
        e = e * r + 1
        // bits(shift + k) − bits(shift) = k for integers |k| < 2²².
        let exponent = (shifted.bitPattern &- shift.bitPattern) &+ 127
        return e * Float(bitPattern: exponent << 23)
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

    /// y = x · mask + residual, the mask and kept bytes exactly as `forward(_:into:kept:count:probability:generator:)`
    /// draws them from `generator` and y what that forward followed by an add gives, in one pass (a post-LN layer's
    /// dropout and residual connection). `y` may alias `x` or `residual`.
    public static func forward<G: RandomNumberGenerator>(
        _ x: UnsafePointer<Float>, adding residual: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        kept: UnsafeMutablePointer<UInt8>, count: Int, probability p: Float, generator: inout G
    ) {
        precondition(p > 0 && p < 1, "dropout probability \(p) outside (0, 1)")
        let key = generator.next()
        Parallel.chunks(count) { start, n in
            rgp_dropout_forward_bytes_add(x + start, residual + start, y + start, kept + start, n, UInt64(start), key, p)
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
