import CMPI
import Distributed
import Foundation

/// Open MPI behind `Communicator`: MPI_COMM_WORLD, one rank per process.
///
/// Started only under a launcher (`startIfLaunched`), so a plain `rgp …` never touches MPI. Collectives block every
/// rank until all arrive; a rank that fails calls `abort`, which ends the whole job (MPI_Abort), so no rank is left
/// waiting in a collective and nothing half-written is published (only rank 0 writes, atomically).
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    private let world = rgp_mpi_comm_world()

    init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(rgp_mpi_comm_world(), &r)
        MPI_Comm_size(rgp_mpi_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
        // A failure in any rank ends the job instead of hanging the others in a collective.
        MPI_Comm_set_errhandler(rgp_mpi_comm_world(), rgp_mpi_errors_are_fatal())
        atexit { var finalized: Int32 = 0; MPI_Finalized(&finalized); if finalized == 0 { MPI_Finalize() } }
    }

    public var description: String { "MPI (Open MPI), \(size) rank\(size == 1 ? "" : "s")" }

    public func reduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1 else { return }
        for (start, length) in Self.chunks(count) {
            if rank == 0 {
                MPI_Reduce(rgp_mpi_in_place(), buffer + start, Int32(length), rgp_mpi_float(), rgp_mpi_sum(), 0, world)
            } else {
                MPI_Reduce(buffer + start, nil, Int32(length), rgp_mpi_float(), rgp_mpi_sum(), 0, world)
            }
        }
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1 else { return }
        for (start, length) in Self.chunks(count) { MPI_Bcast(buffer + start, Int32(length), rgp_mpi_float(), 0, world) }
    }

    public func broadcast(_ values: [Int]) -> [Int] {
        guard size > 1 else { return values }
        var count = Int64(values.count)
        MPI_Bcast(&count, 1, rgp_mpi_int64(), 0, world)
        var buffer = rank == 0 ? values.map { Int64($0) } : [Int64](repeating: 0, count: Int(count))
        for (start, length) in Self.chunks(Int(count)) {
            buffer.withUnsafeMutableBufferPointer { _ = MPI_Bcast($0.baseAddress! + start, Int32(length), rgp_mpi_int64(), 0, world) }
        }
        return buffer.map { Int($0) }
    }

    public func broadcast(bytes: [UInt8]) -> [UInt8] {
        guard size > 1 else { return bytes }
        var count = Int64(bytes.count)
        MPI_Bcast(&count, 1, rgp_mpi_int64(), 0, world)
        var buffer = rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(count))
        for (start, length) in Self.chunks(Int(count)) {
            buffer.withUnsafeMutableBufferPointer { _ = MPI_Bcast($0.baseAddress! + start, Int32(length), rgp_mpi_byte(), 0, world) }
        }
        return buffer
    }

    public func sum(_ value: Double) -> Double {
        guard size > 1 else { return value }
        var input = value, output = 0.0
        MPI_Allreduce(&input, &output, 1, rgp_mpi_double(), rgp_mpi_sum(), world)
        return output
    }

    public func maximum(_ value: Int) -> Int {
        guard size > 1 else { return value }
        var input = Int64(value), output: Int64 = 0
        MPI_Allreduce(&input, &output, 1, rgp_mpi_int64(), rgp_mpi_max(), world)
        return Int(output)
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    /// MPI counts are 32-bit: longer buffers go in pieces.
    static func chunks(_ count: Int) -> [(Int, Int)] {
        let limit = 1 << 30
        return stride(from: 0, to: count, by: limit).map { ($0, Swift.min(limit, count - $0)) }
    }
}

public enum MPIBackend {
    /// Under mpirun (or srun with PMIx), initialises MPI and makes it the job's communicator; otherwise does nothing.
    public static func startIfLaunched() {
        guard Job.launchedUnderMPI else { return }
        Job.communicator = MPICommunicator()
    }
}
