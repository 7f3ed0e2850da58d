import Distributed
import Foundation
import Testing

/// Results the ranks of a `ThreadGroup` hand back, each rank writing its own slot.
private final class Slots<Value>: @unchecked Sendable {
    var values: [Value]
    init(_ count: Int, _ initial: Value) { values = [Value](repeating: initial, count: count) }
}

@Suite("thread ranks: the collectives of data-parallel threads")
struct ThreadRanksTests {
    @Test("reduce, broadcast, sum and maximum across 3 ranks, each collective twice (the barrier is reused)")
    func collectives() {
        let size = 3, count = 1001
        let reduced = Slots<[Float]>(size, []), broadcastFloats = Slots<[Float]>(size, []), integers = Slots<[Int]>(size, [])
        let bytes = Slots<[UInt8]>(size, []), sums = Slots<Double>(size, 0), maxima = Slots<Int>(size, 0)
        ThreadGroup(size: size).run { communicator in
            let r = communicator.rank
            #expect(communicator.size == size)
            for round in 0..<2 {
                // Rank r holds r + 1 + i/1000 + round at element i; rank 0 ends with their sum in rank order.
                var values = (0..<count).map { Float(r + 1) + Float($0) / 1000 + Float(round) }
                values.withUnsafeMutableBufferPointer { communicator.reduceSum($0.baseAddress!, count: count) }
                if r == 0 { reduced.values[0] = values }
                var floats = r == 0 ? (0..<count).map { Float($0) * 0.5 + Float(round) } : [Float](repeating: -1, count: count)
                floats.withUnsafeMutableBufferPointer { communicator.broadcast($0.baseAddress!, count: count) }
                broadcastFloats.values[r] = floats
                integers.values[r] = communicator.broadcast(r == 0 ? [7, 8, round] : [])
                bytes.values[r] = communicator.broadcast(bytes: r == 0 ? [1, 2, 3, UInt8(round)] : [9])
                sums.values[r] = communicator.sum(Double(r) + 0.25)
                maxima.values[r] = communicator.maximum(10 * r - round)
            }
        }
        // The last round's values as each rank made them, summed in rank order (rank 0's own first).
        let expected = (0..<count).map { i -> Float in
            let v = (0..<size).map { r in Float(r + 1) + Float(i) / 1000 + Float(1) }
            return (v[0] + v[1]) + v[2]
        }
        #expect(zip(reduced.values[0], expected).filter { $0.0.bitPattern != $0.1.bitPattern }.count == 0
                && reduced.values[0].count == count)
        for r in 0..<size {
            #expect(broadcastFloats.values[r] == (0..<count).map { Float($0) * 0.5 + 1 }, "rank \(r)")
            #expect(integers.values[r] == [7, 8, 1])
            #expect(bytes.values[r] == [1, 2, 3, 1])
            #expect(sums.values[r] == 0.25 + 1.25 + 2.25)
            #expect(maxima.values[r] == 19)
        }
    }
}
