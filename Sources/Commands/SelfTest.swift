import ArgumentParser
import Distributed
import Foundation
import MPIBackend
import Privacy

/// `rgp selftest mpi`: checks, under mpirun, what a multi-process private step relies on (used by the MPI tests).
struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest", abstract: "Checks of the multi-process engine (run under mpirun; used by the MPI tests).",
        shouldDisplay: false, subcommands: [MPICheck.self]
    )
}

struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi",
        abstract: "Under mpirun -np P: every rank receives rank 0's batch, and a σ-only step (zero gradients) releases noise of variance σ²C²/B², not P times that."
    )
    @Option(parsing: .unconditional, help: "Noise multiplier σ.") var sigma: Double = 2
    @Option(parsing: .unconditional, help: "Clip C.") var clip: Double = 0.5
    @Option(parsing: .unconditional, help: "Expected batch size B.") var batchSize: Int = 10
    @Option(parsing: .unconditional, help: "Coordinates of the released update.") var coordinates: Int = 200_000
    @Flag(help: "Print JSON (rank 0).") var json = false

    struct Output: Encodable {
        var processes: Int
        var batches_agree: Bool
        var variance_ratio: Double
        var expected_ratio = 1.0
        var tolerance: Double
        var passed: Bool
    }

    func run() throws {
        MPIBackend.startIfLaunched()
        let communicator = Job.communicator
        let schedule = Schedule(trainSize: 100_000, batchSize: batchSize, epochs: 1, sampling: .poisson)
        let engine = try PrivacyEngine(schedule: schedule, isPrivate: true, clip: clip, delta: 1e-6,
                                       noise: .noiseMultiplier(sigma, target: nil), accountant: .rdp, seed: 0, seededRandomness: false)
        try engine.calibrate()
        // One batch for the job: rank 0's draw reaches every rank (a digest of it compared across ranks).
        let batch = engine.sample(step: 0)
        var digest = Digest()
        batch.withUnsafeBytes { digest.add($0.baseAddress!, bytes: $0.count) }
        let agree = communicator.agree(on: digest.value)
        // Zero per-example sums on every rank: what is released is the noise alone, (σC/B)·N(0, 1) per coordinate.
        let layout = FlatLayout([FlatSegment(size: coordinates)])
        var sum = [Float](repeating: 0, count: coordinates)
        sum.withUnsafeMutableBufferPointer { engine.release($0.baseAddress!, layout: layout, step: 0) }
        let identical = communicator.agree(on: sum.withUnsafeBytes { bytes -> UInt64 in
            var d = Digest()
            d.add(bytes.baseAddress!, bytes: bytes.count)
            return d.value
        })
        let mean = sum.reduce(0.0) { $0 + Double($1) } / Double(coordinates)
        let variance = sum.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(coordinates - 1)
        let expected = pow(sigma * clip / Double(batchSize), 2)
        let ratio = variance / expected
        // The sample variance of n Gaussians has relative standard deviation √(2/(n−1)); five of them.
        let tolerance = 5 * (2 / Double(coordinates - 1)).squareRoot()
        let passed = agree && identical && abs(ratio - 1) <= tolerance
        guard communicator.isRoot else { return }
        let output = Output(processes: communicator.size, batches_agree: agree && identical, variance_ratio: ratio, tolerance: tolerance,
                            passed: passed)
        if json {
            try printJSON(output)
        } else {
            print("\(communicator.description): batch and released update identical on every rank: \(agree && identical); "
                  + "released variance / (σC/B)² = \(format(ratio, digits: 4)) (expected 1 ± \(format(tolerance, digits: 4)), P would be \(communicator.size))")
        }
        if !passed { throw ExitCode(1) }
    }
}
