import CKernels
import Crypto
import Foundation
import Numerics

/// The randomness of a private run: a ChaCha20 keystream (swift-crypto's ChaChaPoly over zero blocks) keyed from
/// the operating system's CSPRNG, or, for tests only, keyed from a seed.
///
/// A run records `isSeeded`; a seeded generator must never produce published results. Noise and Poisson samples
/// both come from this generator in real runs.
public struct PrivacyRandom: RandomNumberGenerator, Sendable {
    private let key: SymmetricKey
    private var counter: UInt64 = 0
    private var block: [UInt8] = []
    private var position = 0
    /// True when keyed from a seed (tests, reproducible debugging): such runs are marked in their records.
    public let isSeeded: Bool

    private static let blockBytes = 1 << 16

    /// A generator keyed with 256 bits from the operating system (getrandom on Linux).
    public init() {
        var system = SystemRandomNumberGenerator()
        self.init(keyFrom: &system, seeded: false)
    }

    /// A deterministic generator for tests; its output is the same keystream for the same seed.
    public init(testingSeed seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        self.init(keyFrom: &mixer, seeded: true)
    }

    private init<G: RandomNumberGenerator>(keyFrom source: inout G, seeded: Bool) {
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in 0..<4 {
            let word = source.next()
            for b in 0..<8 { bytes[i * 8 + b] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(b))) }
        }
        key = SymmetricKey(data: bytes)
        isSeeded = seeded
    }

    private mutating func refill() {
        // Encrypting zeros yields the raw ChaCha20 keystream; a fresh 96-bit nonce per block (a counter) never repeats.
        var nonceBytes = [UInt8](repeating: 0, count: 12)
        for b in 0..<8 { nonceBytes[b] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(b))) }
        counter += 1
        let nonce = try! ChaChaPoly.Nonce(data: nonceBytes)  // 12 bytes: always valid
        let sealed = try! ChaChaPoly.seal([UInt8](repeating: 0, count: Self.blockBytes), using: key, nonce: nonce)
        block = [UInt8](sealed.ciphertext)
        position = 0
    }

    /// A generator keyed with the next 256 bits of this one's keystream (seeded when this one is): an independent
    /// ChaCha20 stream for drawing one chunk of noise on another thread. Children drawn in the same order from the
    /// same state are the same, so chunked noise does not depend on the thread count.
    public mutating func child() -> PrivacyRandom {
        PrivacyRandom(keyFrom: &self, seeded: isSeeded)
    }

    /// The next `count` words of the keystream, the same as `count` calls of `next()`.
    public mutating func fill(_ words: UnsafeMutablePointer<UInt64>, count: Int) {
        var filled = 0
        while filled < count {
            if position + 8 > block.count { refill() }
            let n = Swift.min(count - filled, (block.count - position) / 8)
            block.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(words + filled).copyMemory(from: bytes.baseAddress! + position, byteCount: n * 8)
            }
            for i in filled..<(filled + n) { words[i] = UInt64(littleEndian: words[i]) }
            filled += n
            position += n * 8
        }
    }

    public mutating func next() -> UInt64 {
        if position + 8 > block.count { refill() }
        let value = block.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
        position += 8
        return value
    }
}

/// The Gaussian mechanism on a summed, clipped gradient.
public enum GaussianMechanism {
    /// out[i] = (sum[i] + N(0, σ²C²)) / B, in place.
    ///
    /// Floating-point mitigation: each noise value is the sum of two independent Box–Muller normals with
    /// standard deviation σC/√2, drawn from 53-bit uniforms in double precision, and added to the sum in double
    /// before one rounding to float32 (the multiple-sample approach of Holohan & Braghin 2021, as Opacus's secure
    /// mode). This blunts attacks that read the input from the set of representable outputs of a float32 sampler
    /// (Mironov 2012; Jin et al. 2022); it is a mitigation, not a proof.
    ///
    /// Tensors of more than `chunkSize` coordinates are noised in chunks, concurrently, each chunk from a child
    /// ChaCha20 stream keyed from `generator` (`PrivacyRandom.child()`).
    public static func privatize(
        sum: UnsafeMutablePointer<Float>, count: Int, sigma: Double, clip: Double, expectedBatchSize: Double,
        generator: inout PrivacyRandom
    ) {
        let std = sigma * clip / 2.0.squareRoot()
        let inverseBatch = 1 / expectedBatchSize
        if std == 0 {
            for i in 0..<count { sum[i] = Float(Double(sum[i]) * inverseBatch) }
            return
        }
        guard count > chunkSize else {
            addNoise(sum: sum, count: count, std: std, inverseBatch: inverseBatch, generator: &generator)
            return
        }
        // Large tensors: chunks of `chunkSize` coordinates, each from its own child stream (keys drawn in chunk order
        // from `generator`), noised concurrently. The values depend on the chunking alone, never on the thread count.
        let chunks = (count + chunkSize - 1) / chunkSize
        let children = (0..<chunks).map { _ in generator.child() }
        nonisolated(unsafe) let sum = sum
        Parallel.rows(chunks, minimumRows: 2) { start, n in
            for c in start..<(start + n) {
                var child = children[c]
                addNoise(sum: sum + c * chunkSize, count: Swift.min(chunkSize, count - c * chunkSize), std: std,
                         inverseBatch: inverseBatch, generator: &child)
            }
        }
    }

    /// Coordinates per child stream in `privatize` (even: the Box–Muller pairs never straddle two chunks).
    public static let chunkSize = 1 << 16

    /// sum[i] = (sum[i] + std·(two normals)) · inverseBatch for i in 0..<count, from one stream.
    private static func addNoise(sum: UnsafeMutablePointer<Float>, count: Int, std: Double, inverseBatch: Double,
                                 generator: inout PrivacyRandom) {
        // Two Box–Muller draws give two independent normals each: coordinate i sums the draws' cosine outputs and
        // i + 1 their sine outputs, so each coordinate still sums two independent draws. (Summing one draw's own
        // cosine and sine would be a single draw scaled by √2: no mitigation.) Four keystream words per coordinate
        // pair, in the order `nextGaussianPair` reads them; the draws are computed a block at a time (rgp_box_muller).
        let pairsPerBlock = 1024  // coordinate pairs
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 4 * pairsPerBlock) { words in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 4 * pairsPerBlock) { normals in
                let words = words.baseAddress!, normals = normals.baseAddress!
                var i = 0
                while i < count {
                    let pairs = Swift.min(pairsPerBlock, (count - i + 1) / 2)
                    generator.fill(words, count: 4 * pairs)
                    rgp_box_muller(words, normals, 2 * pairs)
                    for k in 0..<pairs {
                        let draws = normals + 4 * k, j = i + 2 * k
                        sum[j] = Float((Double(sum[j]) + std * (draws[0] + draws[2])) * inverseBatch)
                        if j + 1 < count { sum[j + 1] = Float((Double(sum[j + 1]) + std * (draws[1] + draws[3])) * inverseBatch) }
                    }
                    i += 2 * pairs
                }
            }
        }
    }
}
