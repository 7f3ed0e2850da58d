import Distributed
import Foundation
import GLUE
import Testing
import Tokenizers
import Training
import Transformer

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

@Suite("thread ranks sharing their parameters")
struct SharedParameterRanksTests {
    /// What a 2-rank run leaves: rank 0's trained parameters, whether the ranks held one object, each rank's count of
    /// Adam moments.
    private func train(_ c: TrainingConfiguration, root: String, shared: Bool, resumeAfter: Int? = nil)
        throws -> (parameters: [String: [Float]], sameObject: Bool, moments: [Int]) {
        let tokenizer = try loadTokenizer(directory: tinyDirectory)
        let data = try TaskData.load(task: .sst2, root: root, split: .official, tokenizer: tokenizer, maxLength: 32,
                                     maxTrain: nil, splitsDirectory: "")
        nonisolated(unsafe) let inputs = (data: data, tokenizer: tokenizer, checkpoint: shared ? try Trainer.loadCheckpoint(c) : nil)
        let directory = runDirectory()
        let trainers = Slots<Trainer?>(2, nil), failures = Slots<String?>(2, nil)
        // With resumeAfter: stop there (a checkpoint every step), then a second group of trainers resumes to the end.
        for stop in resumeAfter.map { [$0, nil] } ?? [nil] {
            ThreadGroup(size: 2).run { communicator in
                do {
                    let t = try Trainer(configuration: c, runDirectory: directory, data: inputs.data, tokenizer: inputs.tokenizer,
                                        communicator: communicator, sharedParameters: inputs.checkpoint)
                    t.progress = { _ in }
                    t.stopAfterSteps = stop
                    t.checkpointEvery = 1
                    _ = try t.run()
                    trainers.values[communicator.rank] = t
                } catch {
                    failures.values[communicator.rank] = "\(error)"
                }
            }
        }
        #expect(failures.values.allSatisfy { $0 == nil }, "\(failures.values)")
        let first = try #require(trainers.values[0]), second = try #require(trainers.values[1])
        let names = first.method.trainableNames
        return (Dictionary(uniqueKeysWithValues: names.map { ($0, first.model.parameters[$0].array) }),
                first.model.parameters === second.model.parameters,
                [first.context.adam.firstMoments.count, second.context.adam.firstMoments.count])
    }

    @Test("ranks sharing one copy train to the bits of ranks holding their own, resumed or not; only rank 0 holds Adam's moments",
          arguments: [TrainingMethod.rgp, .dpsgd, .full])
    func sameBits(method: TrainingMethod) throws {
        var c = configuration(method)
        c.epochs = 1
        let root = try syntheticGLUE()
        let own = try train(c, root: root, shared: false)
        #expect(!own.sameObject)
        #expect(own.moments[0] > 0 && own.moments[1] == own.moments[0])
        let shared = try train(c, root: root, shared: true)
        #expect(shared.sameObject)
        #expect(shared.moments == [own.moments[0], 0])
        #expect(shared.parameters.keys.sorted() == own.parameters.keys.sorted())
        let resumed = try train(c, root: root, shared: true, resumeAfter: 2)
        for (label, run) in [("shared", shared), ("shared, resumed", resumed)] {
            for (name, values) in own.parameters {
                let theirs = run.parameters[name] ?? []
                let differing = zip(theirs, values).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(theirs.count == values.count && differing == 0, "\(label): \(name), \(differing) of \(values.count) values differ")
            }
        }
    }
}
