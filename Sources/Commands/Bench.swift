import ArgumentParser
import Distributed
import Foundation
import GLUE
import Tokenizers
import Numerics
import Training
import Transformer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernel throughput (GFLOP/s, as ratios to direct OpenBLAS).",
        subcommands: [GemmBench.self, TokenizeBench.self, ForwardBench.self, StepBench.self, WorkloadBench.self]
    )
}

/// Uses `threads` cores (`Parallel.use(threads:)`).
func useThreads(_ threads: Int) throws {
    guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must lie in 1...1024, got \(threads)") }
    Parallel.use(threads: threads)
}

/// Refuses a --ranks outside 1...64, or thread ranks inside an MPI job (one layout or the other).
func checkRanks(_ ranks: Int) throws {
    guard ranks >= 1 && ranks <= 64 else { throw ValidationError("--ranks must lie in 1...64, got \(ranks)") }
    guard ranks == 1 || Distributed.Job.communicator.size == 1 else {
        throw ValidationError("--ranks \(ranks) under mpirun: use thread ranks or MPI ranks, not both")
    }
}

/// Times `body` `repetitions` times after one warm-up call and returns the median in seconds.
func medianSeconds(repetitions: Int, _ body: () -> Void) -> Double {
    body()
    let clock = ContinuousClock()
    var samples: [Double] = []
    for _ in 0..<repetitions {
        let elapsed = clock.measure(body)
        samples.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
    samples.sort()
    return samples[samples.count / 2]
}

func filledTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = Xoshiro256(seed: seed)
    let tensor = Tensor(zeros: shape)
    for i in 0..<tensor.count { tensor.data[i] = generator.nextUnitFloat() - 0.5 }
    return tensor
}

struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Our GEMM wrapper against OpenBLAS called directly, on BERT's shapes (FLOPs = 2·m·n·k)."
    )

    @Option(help: "OpenBLAS threads.") var threads: Int = 2
    @Option(help: "Timed repetitions per measurement (the median is reported).") var repetitions: Int = 9
    @Option(help: "Tokens for the dense products.") var tokens: Int = 4096
    @Option(help: "Sequences for the attention products.") var sequences: Int = 32
    @Option(help: "Heads for the attention products.") var heads: Int = 12
    @Option(help: "Sequence length for the attention products.") var length: Int = 128

    func run() throws {
        BLAS.threads = threads
        print("OpenBLAS: \(BLAS.configuration), threads \(BLAS.threads)")
        print(pad("shape", 46) + pad("wrapper GFLOP/s", 17) + pad("direct GFLOP/s", 16) + "wrapper/direct")
        var ratios: [Double] = []

        for (k, n) in [(384, 1536), (768, 3072)] {
            let m = tokens
            let a = filledTensor([m, k], seed: 1), b = filledTensor([k, n], seed: 2), c = Tensor(zeros: [m, n])
            let flops = 2.0 * Double(m) * Double(n) * Double(k)
            // Interleave the two so drift in clock speed affects both alike.
            var wrapper: [Double] = [], direct: [Double] = []
            for _ in 0..<3 {
                wrapper.append(medianSeconds(repetitions: repetitions) { Tensor.matmul(a, b, into: c) })
                direct.append(medianSeconds(repetitions: repetitions) {
                    BLAS.bareSgemm(transB: false, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: c.data, ldc: n)
                })
            }
            ratios.append(report("(\(m)×\(k))·(\(k)×\(n))", flops, wrapper.min()!, direct.min()!))
        }

        for headDim in [32, 64] {
            let t = length, batch = sequences * heads
            // Contiguous [batch, T, dₕ] operands for the like-for-like comparison.
            let q = filledTensor([batch, t, headDim], seed: 3), kT = filledTensor([batch, t, headDim], seed: 4)
            let scores = Tensor(zeros: [batch, t, t]), out = Tensor(zeros: [batch, t, headDim])
            let flops = 2.0 * Double(batch) * Double(t) * Double(t) * Double(headDim)
            let strideQ = BLAS.BatchLayout(stride: t * headDim), strideS = BLAS.BatchLayout(stride: t * t)

            var wrapper: [Double] = [], direct: [Double] = []
            for _ in 0..<3 {
                wrapper.append(medianSeconds(repetitions: repetitions) {
                    BLAS.batchedGemm(transA: false, transB: true, m: t, n: t, k: headDim, batch: batch,
                                     a: q.data, lda: headDim, layoutA: strideQ, b: kT.data, ldb: headDim, layoutB: strideQ,
                                     c: scores.data, ldc: t, layoutC: strideS)
                })
                direct.append(medianSeconds(repetitions: repetitions) {
                    for i in 0..<batch {
                        BLAS.bareSgemm(transB: true, m: t, n: t, k: headDim, a: q.data + i * t * headDim, lda: headDim,
                                       b: kT.data + i * t * headDim, ldb: headDim, c: scores.data + i * t * t, ldc: t)
                    }
                })
            }
            ratios.append(report("\(batch)× (\(t)×\(headDim))·(\(headDim)×\(t))", flops, wrapper.min()!, direct.min()!))

            wrapper = []; direct = []
            for _ in 0..<3 {
                wrapper.append(medianSeconds(repetitions: repetitions) {
                    BLAS.batchedGemm(transA: false, transB: false, m: t, n: headDim, k: t, batch: batch,
                                     a: scores.data, lda: t, layoutA: strideS, b: kT.data, ldb: headDim, layoutB: strideQ,
                                     c: out.data, ldc: headDim, layoutC: strideQ)
                })
                direct.append(medianSeconds(repetitions: repetitions) {
                    for i in 0..<batch {
                        BLAS.bareSgemm(transB: false, m: t, n: headDim, k: t, a: scores.data + i * t * t, lda: t,
                                       b: kT.data + i * t * headDim, ldb: headDim, c: out.data + i * t * headDim, ldc: headDim)
                    }
                })
            }
            ratios.append(report("\(batch)× (\(t)×\(t))·(\(t)×\(headDim))", flops, wrapper.min()!, direct.min()!))

            // The layout attention really uses: head h of sequence b inside a [B, T, H·dₕ] activation.
            let width = heads * headDim
            let strided = BLAS.BatchLayout(outer: t * width, inner: headDim, innerCount: heads)
            let qs = filledTensor([sequences, t, width], seed: 5), ks = filledTensor([sequences, t, width], seed: 6)
            let seconds = medianSeconds(repetitions: repetitions) {
                BLAS.batchedGemm(transA: false, transB: true, m: t, n: t, k: headDim, batch: batch,
                                 a: qs.data, lda: width, layoutA: strided, b: ks.data, ldb: width, layoutB: strided,
                                 c: scores.data, ldc: t, layoutC: strideS)
            }
            print(pad("  same, Q·Kᵀ read in place from [B,T,H·dₕ]", 46) + pad(format(flops / seconds / 1e9), 17))
        }
        let worst = ratios.min() ?? 0
        print("worst wrapper/direct ratio: \(format(worst, digits: 3))")
    }

    private func report(_ label: String, _ flops: Double, _ wrapper: Double, _ direct: Double) -> Double {
        let ratio = direct / wrapper
        print(pad(label, 46) + pad(format(flops / wrapper / 1e9), 17) + pad(format(flops / direct / 1e9), 16)
              + format(ratio, digits: 3))
        return ratio
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

func format(_ value: Double, digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(rounded)"
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    }
    return text
}

struct TokenizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokens per second tokenizing SST-2 train, for each tokenizer given."
    )

    @Option(help: "GLUE root holding SST-2/train.tsv (default: $RGP_GLUE_DIR).")
    var data: String?
    @Option(name: .customLong("model"), help: "Tokenizer folders (repeatable): a checkpoint, a vocab.txt folder or a .model folder.")
    var models: [String] = ["models/all-MiniLM-L6-v2"]

    func run() throws {
        let root = try glueRoot(data)
        let split = try GLUELoader.load(.sst2, path: GLUELoader.path(root: root, task: .sst2, file: "train.tsv"))
        for model in models {
            let tokenizer = try loadTokenizer(directory: model)
            var tokens = 0
            let clock = ContinuousClock()
            let elapsed = clock.measure {
                for example in split.examples { tokens += tokenizer.tokenize(example.first).count }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            print("\(model) (\(type(of: tokenizer))): \(split.examples.count) sentences, \(tokens) tokens in "
                  + "\(format(seconds, digits: 2)) s: \(format(Double(tokens) / seconds / 1e6, digits: 2)) M tokens/s")
        }
    }
}

/// The GLUE root from a flag, else $RGP_GLUE_DIR; never a path guessed by the code.
func glueRoot(_ flag: String?) throws -> String {
    if let flag { return flag }
    if let environment = ProcessInfo.processInfo.environment["RGP_GLUE_DIR"] { return environment }
    throw ValidationError("no GLUE data folder: pass --data GLUE_ROOT or set RGP_GLUE_DIR (offline: ../shared/glue)")
}

/// Measured sgemm peak: OpenBLAS on (4096×768)·(768×3072), the largest BERT-base product.
/// The faster of OpenBLAS's own threading and our split products at this size, over `Parallel.workers` cores: the
/// peak a ratio is taken against never flatters the split the steps use.
/// With `groups` > 1, the largest of that many back-to-back medians: this VM's speed dips for seconds at a time
/// (0.5 s samples of this product ran 160–233 GFLOP/s within a minute), and a peak caught in a dip flatters every
/// fraction taken against it; more groups can only raise the peak, so the fraction only gets more conservative.
func measureGemmPeak(repetitions: Int = 5, groups: Int = 1) -> Double {
    let a = filledTensor([4096, 768], seed: 1), b = filledTensor([768, 3072], seed: 2), c = Tensor(zeros: [4096, 3072])
    let (splits, threads) = (BLAS.splitsProducts, BLAS.threads)
    defer { (BLAS.splitsProducts, BLAS.threads) = (splits, threads) }
    var best = 0.0
    for _ in 0..<max(groups, 1) {
        for split in Parallel.workers > 1 ? [false, true] : [false] {
            (BLAS.splitsProducts, BLAS.threads) = (split, split ? 1 : Parallel.workers)
            let seconds = medianSeconds(repetitions: repetitions) { Tensor.matmul(a, b, into: c) }
            best = max(best, 2.0 * 4096 * 768 * 3072 / seconds / 1e9)
        }
    }
    return best
}

/// Random parameters of a given shape (benchmarks need no checkpoint).
func randomParameters(_ config: BertConfig, classes: Int = 2) -> BertParameters {
    let parameters = BertParameters(config: config, classes: classes)
    var generator = Xoshiro256(seed: 42)
    for name in parameters.names {
        let t = parameters[name]
        let isNormWeight = name.hasSuffix("LayerNorm.weight")
        for i in 0..<t.count { t.data[i] = isNormWeight ? 1 : 0.02 * Float(generator.nextGaussian()) }
    }
    return parameters
}

/// FLOPs (2·m·n·k per product) of one forward pass with the pooler head (the encoder's from `FLOPModel`).
func forwardFlops(_ c: BertConfig, batch: Int, length: Int, classes: Int = 2, firstTokenLastLayer: Bool = false) -> Double {
    let h = Double(c.hiddenSize)
    let head = 2 * Double(batch) * h * (h + Double(classes))
    return FLOPModel(config: c, firstTokenLastLayer: firstTokenLastLayer).forward(batch: batch, length: length) + head
}

struct ForwardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Encoder forward throughput on MiniLM and BERT-base shapes, against the sgemm peak measured in the same run."
    )

    @Option(help: "Cores: elementwise workers and split GEMMs (OpenBLAS on one thread; RGP_OPENBLAS_THREADING=1 for its own).") var threads: Int = 2
    @Option(help: "Sequences per batch.") var batch: Int = 32
    @Option(help: "Tokens per sequence.") var length: Int = 128
    @Option(help: "Timed repetitions (median reported).") var repetitions: Int = 5
    @Option(help: "Shapes: minilm, bert-base (repeatable).") var shape: [String] = ["minilm", "bert-base"]
    @Flag(help: "Training mode (dropout on), as a training step's forward runs.") var training = false
    @Flag(help: "Run the last layer at every token (as PyTorch's BertForSequenceClassification does), not only at the first tokens the pooler head reads (the trainer's way; the same logits).")
    var everyTokenLastLayer = false
    @Option(help: "Replicas over the same weights, each forwarding every ranks-th sequence on its own core (ReplicatedForward); --threads cores in all.")
    var ranks: Int = 1
    @Flag(help: "One JSON object per line (for `make bench-compare`).") var json = false

    func run() throws {
        guard ranks >= 1 && ranks <= threads else { throw ValidationError("--ranks must lie in 1...--threads (\(threads)), got \(ranks)") }
        try useThreads(threads)
        let peak = measureGemmPeak(groups: 3)
        if !json { print("sgemm peak (4096×768)·(768×3072): \(format(peak)) GFLOP/s, threads \(threads)") }
        let shapes = [("minilm", "MiniLM-L6-H384", BertConfig.miniLM), ("bert-base", "BERT-base", BertConfig.bertBase)]
        for (key, name, config) in shapes where shape.contains(key) {
            let replicas = ReplicatedForward(parameters: randomParameters(config), replicas: ranks) { model in
                model.training = training
                model.firstTokenLastLayer = !everyTokenLastLayer
            }
            var generator = Xoshiro256(seed: 7)
            let sequences = (0..<batch).map { _ in (0..<length).map { _ in Int32(generator.next() % 30000) + 100 } }
            let input = Batch(sequences: sequences, tokenTypes: sequences.map { $0.map { _ in 0 } }, padId: 0)
            let seconds = ranks == 1
                ? medianSeconds(repetitions: repetitions) { replicas.models[0].forward(input) }
                : medianSeconds(repetitions: repetitions) { _ = replicas.forward(input) }
            let flops = forwardFlops(config, batch: batch, length: length, firstTokenLastLayer: !everyTokenLastLayer)
            let achieved = flops / seconds / 1e9
            if json {
                printBenchJSON(shape: key, method: "forward", seconds: seconds, flops: flops, peak: peak, threads: threads)
                continue
            }
            print("\(name) forward \(batch)×\(length): \(format(seconds * 1000)) ms, "
                  + "\(format(Double(batch * length) / seconds, digits: 0)) tokens/s, \(format(achieved)) GFLOP/s = "
                  + "\(format(achieved / peak, digits: 3)) of peak")
        }
    }
}
