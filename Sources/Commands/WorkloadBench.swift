import ArgumentParser
import Distributed
import Foundation
import MPIBackend
import GLUE
import Numerics
import Tokenizers
import Training
import Transformer

/// The workload that decides how long the offline grid takes: real SST-2 training sentences, in the trainer's
/// micro-batches (length-sorted, unpadded), through each method's full step (the real checkpoint; seeded, not secure, noise: a benchmark, not a private run).
struct WorkloadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "Training steps over real SST-2 sentences (the trainer's micro-batches): tokens/s and GFLOP/s against the sgemm peak of the same run."
    )

    @Option(help: "GLUE root (default: $RGP_GLUE_DIR).") var data: String?
    @Option(help: "Checkpoint folder.") var model = "models/all-MiniLM-L6-v2"
    @Option(help: "Cores: elementwise workers and split GEMMs (OpenBLAS on one thread; RGP_OPENBLAS_THREADING=1 for its own).") var threads: Int = 2
    @Option(help: "Examples per step.") var batchSize: Int = 1000
    @Option(help: "Timed steps per method, each on its own random batch of SST-2 train (same batches for every method).") var steps: Int = 3
    @Option(help: "Methods (repeatable).") var method: [TrainingMethod] = [.rgp]
    @Option(help: "Tokens per micro-batch (default: the trainer's).") var microBatchTokens: Int?
    @Option(help: "Data-parallel ranks as threads of this process (each with --threads cores), as MPI ranks would be.")
    var ranks: Int = 1
    @Flag(help: "One JSON object per line.") var json = false

    /// Under mpirun -np P (or with --ranks P) each rank takes its share of every batch (as `rgp finetune` does);
    /// rank 0 reports.
    func run() throws {
        MPIBackend.startIfLaunched()
        try checkRanks(ranks)
        guard let root = data ?? ProcessInfo.processInfo.environment["RGP_GLUE_DIR"] else {
            throw ValidationError("give --data or set RGP_GLUE_DIR")
        }
        // The peak of every core the ranks use together: thread ranks measure it with all their threads; MPI ranks each
        // measure their own cores at the same time, and the job's peak is their sum.
        try useThreads(threads * ranks)
        let peak = measureGemmPeak(groups: 3) * Double(ranks > 1 ? 1 : Job.communicator.size)
        try useThreads(threads)
        let tokenizer = try loadTokenizer(directory: model)
        let config = try BertConfig.load(path: model + "/config.json")
        let loaded = try TaskData.load(task: .sst2, root: root, split: .official, tokenizer: tokenizer, maxLength: 128,
                                       maxTrain: nil, maxDev: 1, splitsDirectory: "experiments/splits")
        var generator = Xoshiro256(seed: 11)
        let batches = (0..<(steps + 1)).map { _ in
            (0..<batchSize).map { _ in Int(generator.next() % UInt64(loaded.train.count)) }
        }
        nonisolated(unsafe) let context = (loaded: loaded, tokenizer: tokenizer, config: config, batches: batches, peak: peak)
        if ranks > 1 {
            // Each method's trainers share one fresh copy of the parameters across the ranks, as `rgp finetune --ranks` does.
            nonisolated(unsafe) let checkpoints = try method.map { try Trainer.loadCheckpoint(configuration($0)) }
            ThreadGroup(size: ranks).run { communicator in
                try self.measure(communicator: communicator, loaded: context.loaded, tokenizer: context.tokenizer,
                                 config: context.config, batches: context.batches, peak: context.peak, shared: checkpoints)
            }
        } else {
            try measure(communicator: Job.communicator, loaded: loaded, tokenizer: tokenizer, config: config, batches: batches, peak: peak)
        }
    }

    /// The configuration each method is timed with.
    func configuration(_ m: TrainingMethod) -> TrainingConfiguration {
        var c = TrainingConfiguration(task: .sst2, method: m, model: model, batchSize: batchSize, epochs: 1, learningRate: 1e-4)
        c.seededNoise = true
        c.sigmaOverride = m.isPrivate ? 1 : nil
        if let microBatchTokens { c.microBatchTokens = microBatchTokens }
        return c
    }

    /// `shared`: per method, the parameters the thread ranks share (nil: each trainer loads its own).
    func measure(communicator: any Communicator, loaded: TaskData, tokenizer: any Tokenizer, config: BertConfig,
                 batches: [[Int]], peak: Double, shared: [Checkpoint]? = nil) throws {
        let layout = "\(communicator.description) × \(threads) thread\(threads == 1 ? "" : "s")"
        if !json && communicator.isRoot {
            print("sgemm peak (4096×768)·(768×3072): \(format(peak)) GFLOP/s with \(threads * communicator.size) thread\(threads * communicator.size == 1 ? "" : "s"); "
                  + "SST-2 train, \(steps) steps of B \(batchSize); \(layout)")
        }
        for (index, m) in method.enumerated() {
            let c = configuration(m)
            let trainer = try Trainer(configuration: c, runDirectory: NSTemporaryDirectory() + "/workload-\(getpid())",
                                      data: loaded, tokenizer: tokenizer, communicator: communicator, sharedParameters: shared?[index])
            try trainer.engine.calibrate()
            _ = trainer.takeStep(batches[0], step: 0)  // warm-up: workspaces grown to the largest micro-batch
            var seconds = 0.0, tokens = 0, micros = 0, flops = 0.0
            let clock = ContinuousClock()
            for (step, batch) in batches.dropFirst().enumerated() {
                for micro in microBatches(batch, of: loaded.train, tokenBudget: c.microBatchTokens) {
                    let lengths = micro.map { loaded.train[$0].ids.count }
                    tokens += lengths.reduce(0, +)
                    micros += 1
                    flops += m.plugin.stepFLOPs(config: config, lengths: lengths, rank: c.rank, head: c.head)
                }
                let start = clock.now
                _ = trainer.takeStep(batch, step: step + 1)
                seconds += Training.seconds(clock.now - start)
            }
            guard communicator.isRoot else { continue }
            if json {
                printBenchJSON(shape: "sst2-workload", method: m.rawValue, seconds: seconds / Double(steps), flops: flops / Double(steps),
                               peak: peak, threads: threads)
            } else {
                print("\(m.rawValue) [\(layout)]: \(format(Double(tokens) / seconds, digits: 0)) tokens/s, "
                      + "\(format(Double(steps * batchSize) / seconds)) examples/s, \(format(flops / seconds / 1e9)) GFLOP/s = "
                      + "\(format(flops / seconds / 1e9 / peak, digits: 3)) of peak; "
                      + "\(format(Double(micros) / Double(steps), digits: 1)) micro-batches a step of ≤ \(c.microBatchTokens) tokens")
            }
        }
    }
}
