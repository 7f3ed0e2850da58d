import Foundation

/// The processes of one training run and the few collectives a data-parallel private step needs.
///
/// A step under P processes: rank 0 draws the logical batch and `broadcast`s it; each rank computes and clips the
/// per-example quantities of its share; `reduceSum` brings the flat sum to rank 0, which adds the noise once and
/// divides; `broadcast` hands every rank the released update, bit for bit the same everywhere. `SingleProcess` is the
/// run without MPI: every collective is the identity, so one process behaves exactly as before.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, 0 ..< size; rank 0 alone samples, noises and writes.
    var rank: Int { get }
    /// Number of processes.
    var size: Int { get }
    /// What ran: "1 process", or "MPI, 2 ranks" (recorded).
    var description: String { get }
    /// Sums `count` floats over all ranks into rank 0's buffer (other ranks' buffers are left unchanged).
    func reduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int)
    /// Rank 0's `count` floats into every rank's buffer.
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int)
    /// Rank 0's array (any length) to every rank.
    func broadcast(_ values: [Int]) -> [Int]
    /// Rank 0's bytes (any length) to every rank.
    func broadcast(bytes: [UInt8]) -> [UInt8]
    /// The sum over ranks, on every rank.
    func sum(_ value: Double) -> Double
    /// The largest value over ranks, on every rank.
    func maximum(_ value: Int) -> Int
    /// Stops every rank of the job (after this rank has printed why).
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Sums over ranks and leaves the identical result on every rank (reduce to rank 0, then broadcast: an all-reduce
    /// whose bits do not depend on the rank that reads them).
    public func sumToAll(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1 else { return }
        reduceSum(buffer, count: count)
        broadcast(buffer, count: count)
    }

    /// This rank's share of a list: every size-th element from position rank (callers order the list so that strided
    /// shares balance the work: the trainer orders a batch by sequence length first).
    public func share(of indices: [Int]) -> [Int] {
        guard size > 1 else { return indices }
        return stride(from: rank, to: indices.count, by: size).map { indices[$0] }
    }

    /// Whether every rank holds the same 64-bit digest (of its parameters, say); a rank that differs is a bug.
    public func agree(on digest: UInt64) -> Bool {
        guard size > 1 else { return true }
        let mine = [Int(bitPattern: UInt(digest))]
        let root = broadcast(mine)
        return maximum(root == mine ? 0 : 1) == 0
    }
}

/// One process, no MPI: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var description: String { "1 process" }
    public func reduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func broadcast(_ values: [Int]) -> [Int] { values }
    public func broadcast(bytes: [UInt8]) -> [UInt8] { bytes }
    public func sum(_ value: Double) -> Double { value }
    public func maximum(_ value: Int) -> Int { value }
    public func abort(code: Int32) -> Never { exit(code) }
}

/// The job's communicator, set once at startup (`MPIBackend.startIfLaunched()`); a single process otherwise.
public enum Job {
    nonisolated(unsafe) public static var communicator: any Communicator = SingleProcess()

    /// Whether this process was started by an MPI launcher (mpirun, srun with PMIx): the variables they set.
    public static var launchedUnderMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }
}

/// FNV-1a over raw bytes: a digest for comparing parameters across ranks (not a cryptographic hash).
public struct Digest {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func add(_ pointer: UnsafeRawPointer, bytes: Int) {
        let p = pointer.assumingMemoryBound(to: UInt8.self)
        var h = value
        for i in 0..<bytes { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3 }
        value = h
    }
}
