import ArgumentParser
import Distributed
import Foundation
import Numerics
import Tokenizers
import Training
import Transformer

struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Training-step throughput per method on MiniLM and BERT-base shapes, against the sgemm peak of the same run."
    )

    @Option(help: "Cores: elementwise workers and split GEMMs (OpenBLAS on one thread; RGP_OPENBLAS_THREADING=1 for its own).") var threads: Int = 2
    @Option(help: "Sequences per step.") var batch: Int = 32
    @Option(help: "Tokens per sequence.") var length: Int = 128
    @Option(help: "Timed steps per method (median reported).") var repetitions: Int = 3
    @Option(help: "Shapes: minilm, bert-base (repeatable).") var shape: [String] = ["minilm", "bert-base"]
    @Option(help: "Methods (repeatable).") var method: [TrainingMethod] = [.full, .lowrank, .rgp, .dpsgd]
    @Option(help: "Data-parallel ranks as threads of this process (each with --threads cores): each takes every ranks-th sequence.")
    var ranks: Int = 1
    @Option(help: "sgemm peak groups (median of 5 each) before and after each method's steps; the largest is kept.")
    var peakGroups: Int = 3
    @Flag(help: "One JSON object per line (for `make bench-compare`).") var json = false

    func run() throws {
        try checkRanks(ranks)
        let cores = threads * ranks
        try useThreads(cores)
        var peak = measureGemmPeak(groups: peakGroups)
        try useThreads(threads)
        if !json {
            print("sgemm peak (4096×768)·(768×3072): \(format(peak)) GFLOP/s on \(cores) thread\(cores == 1 ? "" : "s"); "
                  + (ranks > 1 ? "\(ranks) thread ranks × \(threads) thread\(threads == 1 ? "" : "s")" : "threads \(threads)")
                  + ", batch \(batch)×\(length)")
        }
        for name in shape {
            let config = name == "bert-base" ? BertConfig.bertBase : BertConfig.miniLM
            let directory = try writeRandomCheckpoint(config)
            var generator = Xoshiro256(seed: 9)
            let examples = (0..<batch).map { i in
                EncodedExample(ids: (0..<length).map { _ in Int32(generator.next() % 30000) + 100 },
                               types: [Int32](repeating: 0, count: length), label: i % 2)
            }
            let data = TaskData(train: examples, dev: [("none", Array(examples.prefix(1)))], trainDescription: "synthetic")
            let tokenizer = try WordPieceTokenizer(vocabularyFile: directory + "/vocab.txt")
            for m in method {
                var c = TrainingConfiguration(task: .sst2, method: m, model: directory, batchSize: batch, epochs: 1, learningRate: 1e-4)
                c.sampling = .shuffled
                c.seededNoise = true
                c.sigmaOverride = m.isPrivate ? 1 : nil
                c.microBatchTokens = batch * length
                let seconds = try timeSteps(configuration: c, data: data, tokenizer: tokenizer)
                // The peak again right after the steps (the trainer released first, so that its buffers and the
                // peak's never add up in peak RSS), and the largest kept: on a VM whose speed drifts, a peak caught
                // in a slow moment would overstate the fraction (runs here gave "1.27 of peak", twice in a row).
                try useThreads(cores)
                peak = max(peak, measureGemmPeak(groups: peakGroups))
                try useThreads(threads)
                let flops = m.plugin.stepFLOPs(config: config, batch: batch, length: length, rank: 1, head: c.head)
                if json {
                    printBenchJSON(shape: name, method: m.rawValue, seconds: seconds, flops: flops, peak: peak, threads: threads)
                    continue
                }
                print("\(name) \(m.rawValue): \(format(seconds, digits: 3)) s/step, \(format(Double(batch) / seconds)) examples/s, "
                      + "\(format(flops / seconds / 1e9)) GFLOP/s = \(format(flops / seconds / 1e9 / peak, digits: 3)) of peak "
                      + "(\(format(peak)), the largest of the groups measured so far), "
                      + "peak RSS so far \(peakResidentMegabytes()) MB")
            }
        }
    }
}

extension StepBench {
    /// Median seconds of the configured steps, in one trainer or in `ranks` thread ranks (rank 0's clock: every step
    /// ends with the ranks' reduction, so it is the step's wall time).
    func timeSteps(configuration c: TrainingConfiguration, data: TaskData, tokenizer: any Tokenizer) throws -> Double {
        let directory = NSTemporaryDirectory() + "/bench-\(getpid())", indices = Array(0..<batch), repetitions = repetitions
        guard ranks > 1 else {
            let trainer = try Trainer(configuration: c, runDirectory: directory, data: data, tokenizer: tokenizer)
            return try benchmarkSteps(trainer, repetitions, indices: indices)
        }
        nonisolated(unsafe) let shared = (data: data, tokenizer: tokenizer, checkpoint: try Trainer.loadCheckpoint(c))
        nonisolated(unsafe) var rootSeconds = 0.0
        ThreadGroup(size: ranks).run { communicator in
            let trainer = try Trainer(configuration: c, runDirectory: directory, data: shared.data, tokenizer: shared.tokenizer,
                                      communicator: communicator, sharedParameters: shared.checkpoint)
            let seconds = try benchmarkSteps(trainer, repetitions, indices: indices)
            if communicator.isRoot { rootSeconds = seconds }
        }
        return rootSeconds
    }
}

/// Median seconds of `count` training steps on the fixed batch `indices`, after one warm-up step; parameters change
/// as in training (σ as configured, so private methods pay for their noise).
func benchmarkSteps(_ trainer: Trainer, _ count: Int, indices: [Int]) throws -> Double {
    try trainer.engine.calibrate()
    _ = trainer.takeStep(indices, step: 0)
    let clock = ContinuousClock()
    var samples: [Double] = []
    for step in 1...count {
        let start = clock.now
        _ = trainer.takeStep(indices, step: step)
        samples.append(seconds(clock.now - start))
    }
    return samples.sorted()[samples.count / 2]
}

/// A checkpoint folder with random weights (and a minimal vocabulary) for shape-only benchmarks.
func writeRandomCheckpoint(_ config: BertConfig) throws -> String {
    let directory = NSTemporaryDirectory() + "/rgp-bench-\(config.hiddenSize)-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let parameters = randomParameters(config)
    let bytes = safeTensorsBytes(parameters.names.map { ($0, parameters[$0].shape, UnsafeBufferPointer(start: parameters[$0].data, count: parameters[$0].count)) })
    _ = FileManager.default.createFile(atPath: directory + "/model.safetensors", contents: Data(bytes))
    let json = try JSONEncoder().encode(config)
    _ = FileManager.default.createFile(atPath: directory + "/config.json", contents: json)
    let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].joined(separator: "\n") + "\n"
    _ = FileManager.default.createFile(atPath: directory + "/vocab.txt", contents: Data(vocabulary.utf8))
    return directory
}

/// One benchmark figure as a JSON line: what `data-scripts/bench_compare.py` reads beside PyTorch's.
func printBenchJSON(shape: String, method: String, seconds: Double, flops: Double, peak: Double, threads: Int) {
    let record: [String: Any] = [
        "side": "rgp", "shape": shape, "method": method, "seconds": seconds, "gflops": flops / seconds / 1e9,
        "sgemm_peak_gflops": peak, "peak_rss_mb": peakResidentMegabytes(), "threads": threads,
        "blas": "OpenBLAS \(BLASKernels.coreName) (\(BLAS.configuration))",
    ]
    if let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

func peakResidentMegabytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss / 1024
}
