import CKernels
import Foundation

/// Data-parallel ranks as threads of one process: the MPI layout (every rank trains its share of each batch, one
/// reduction a step, rank 0 noises and writes) without MPI, for the cores of one machine.
///
/// Why not split every product across the cores instead (`Parallel`)? Split products meet at a barrier after each
/// GEMM and elementwise pass, hundreds a step, and on a VM whose hypervisor takes a core away now and then every
/// barrier waits for the slower core; ranks meet once a step. On the SST-2 workload two MPI ranks ran 1.2× faster than
/// one process splitting its products over the same two cores (README, Benchmarks). The commands hand the ranks one
/// copy of the model's parameters (`Trainer`'s `sharedParameters`), which rank 0 alone updates and whose optimizer state
/// rank 0 alone holds; an MPI rank holds its own.
public final class ThreadGroup: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0, generation = 0
    /// Per rank (each writes only its own slot, between barriers): the buffer it offers to the current collective,
    /// and its scalar.
    private let buffers: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
    private let integers: UnsafeMutablePointer<Int>, doubles: UnsafeMutablePointer<Double>
    /// Rank 0's values in a broadcast.
    private var shared: [Int] = [], sharedBytes: [UInt8] = []

    public init(size: Int) {
        precondition(size >= 1, "a thread group needs at least one rank")
        self.size = size
        buffers = .allocate(capacity: size)
        buffers.initialize(repeating: nil, count: size)
        integers = .allocate(capacity: size)
        integers.initialize(repeating: 0, count: size)
        doubles = .allocate(capacity: size)
        doubles.initialize(repeating: 0, count: size)
    }

    deinit {
        buffers.deallocate()
        integers.deallocate()
        doubles.deallocate()
    }

    /// The communicator of each rank.
    public func communicators() -> [ThreadCommunicator] { (0..<size).map { ThreadCommunicator(group: self, rank: $0) } }

    /// Waits until every rank has arrived (a reusable generation barrier).
    func barrier() {
        condition.lock()
        let mine = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        condition.unlock()
    }

    /// Rank 0's buffer += every other rank's, in rank order; each rank adds one slice of the elements.
    func reduceSum(rank: Int, _ buffer: UnsafeMutablePointer<Float>, count: Int) {
        buffers[rank] = buffer
        barrier()
        let slice = (count + size - 1) / size, start = Swift.min(rank * slice, count), end = Swift.min(start + slice, count)
        if let root = buffers[0] {
            for other in 1..<size {
                guard let source = buffers[other] else { continue }
                for i in start..<end { root[i] += source[i] }
            }
        }
        barrier()
    }

    func broadcast(rank: Int, _ buffer: UnsafeMutablePointer<Float>, count: Int) {
        if rank == 0 { buffers[0] = buffer }
        barrier()
        if rank != 0, let root = buffers[0] { buffer.update(from: root, count: count) }
        barrier()
    }

    func broadcast(rank: Int, _ values: [Int]) -> [Int] {
        if rank == 0 { shared = values }
        barrier()
        let result = shared
        barrier()
        return result
    }

    func broadcast(rank: Int, bytes: [UInt8]) -> [UInt8] {
        if rank == 0 { sharedBytes = bytes }
        barrier()
        let result = sharedBytes
        barrier()
        return result
    }

    func sum(rank: Int, _ value: Double) -> Double {
        doubles[rank] = value
        barrier()
        let result = (0..<size).reduce(0.0) { $0 + doubles[$1] }
        barrier()
        return result
    }

    func maximum(rank: Int, _ value: Int) -> Int {
        integers[rank] = value
        barrier()
        let result = (0..<size).map { integers[$0] }.max() ?? value
        barrier()
        return result
    }

    /// Runs `body(communicator)` on `size` threads, one per rank, and returns once all have finished. A rank that
    /// throws prints why and ends the process (the others would wait for it at the next collective), as MPI_Abort
    /// ends an MPI job.
    public func run(_ body: @escaping @Sendable (ThreadCommunicator) throws -> Void) {
        let pins = ProcessInfo.processInfo.environment["RGP_PIN_RANKS"] != "0"
        let finished = DispatchGroup()
        for communicator in communicators() {
            finished.enter()
            let thread = Thread {
                // One core each, as `mpirun --bind-to core` places MPI ranks (unpinned, the scheduler moved them).
                if pins { _ = rgp_pin_thread(Int32(communicator.rank % ProcessInfo.processInfo.activeProcessorCount)) }
                do {
                    try body(communicator)
                } catch {
                    FileHandle.standardError.write(Data("rank \(communicator.rank) of \(communicator.size): error: \(error)\n".utf8))
                    communicator.abort(code: 1)
                }
                finished.leave()
            }
            thread.stackSize = 64 << 20
            thread.start()
        }
        finished.wait()
    }
}

/// One rank of a `ThreadGroup`.
public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    public let group: ThreadGroup
    public let rank: Int
    public var size: Int { group.size }
    public var description: String { "\(group.size) thread ranks" }

    init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    public func reduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) { group.reduceSum(rank: rank, buffer, count: count) }
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int) { group.broadcast(rank: rank, buffer, count: count) }
    public func broadcast(_ values: [Int]) -> [Int] { group.broadcast(rank: rank, values) }
    public func broadcast(bytes: [UInt8]) -> [UInt8] { group.broadcast(rank: rank, bytes: bytes) }
    public func sum(_ value: Double) -> Double { group.sum(rank: rank, value) }
    public func maximum(_ value: Int) -> Int { group.maximum(rank: rank, value) }
    public func abort(code: Int32) -> Never { exit(code) }
}
