/// SplitMix64: expands one 64-bit seed into well-mixed state words (Steele, Lea, Flood 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018): the seeded generator for dropout, initialisation and tests.
///
/// Deterministic and fast, and **not** cryptographically secure: private runs draw their noise and their
/// samples from the secure generator in the privacy module, never from this one.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    // Visible to inlined callers: dropout draws one number per activation, and a call per draw through the
    // generic RandomNumberGenerator witness cost more than the arithmetic (perf, a training forward).
    @usableFromInline var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        (s0, s1, s2, s3) = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
    }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = Xoshiro256.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Xoshiro256.rotl(s3, 45)
        return result
    }
}

extension RandomNumberGenerator {
    /// Uniform in [0, 1) with 24 random bits (every representable step of a float32 mantissa).
    @inlinable public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Two independent standard normals: both outputs of one Box–Muller draw on 53-bit uniforms, in double precision.
    @inlinable public mutating func nextGaussianPair() -> (Double, Double) {
        let u1 = Double((next() >> 11) + 1) * 0x1p-53  // (0, 1]: log stays finite
        let u2 = Double(next() >> 11) * 0x1p-53
        let radius = (-2 * _log(u1)).squareRoot(), angle = 2 * Double.pi * u2
        return (radius * _cos(angle), radius * _sin(angle))
    }

    /// Standard normal by Box–Muller on 53-bit uniforms, computed in double precision (the pair's cosine output).
    @inlinable public mutating func nextGaussian() -> Double { nextGaussianPair().0 }
}

/// Seeds derived from a run's seed, a step and a purpose ("salt"), so that every random choice of a seeded run is
/// reproducible and independent of the others (dropout, carriers, sampling, noise in test mode).
public enum StepSeed {
    public static func derive(seed: UInt64, step: Int, salt: UInt64) -> UInt64 {
        var mixer = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &* 0xD1B5_4A32_D192_ED03 &+ salt)
        return mixer.next()
    }
}
