import Distributed
import MPIBackend
import ArgumentParser
import Foundation
import GLUE
import Numerics
import Privacy
import RGP
import Tokenizers
import Training
import Transformer

extension TrainingMethod: ExpressibleByArgument {
    /// The registered methods, so `--help` and error messages list them.
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
extension SplitChoice: ExpressibleByArgument {}
extension CarrierSource: ExpressibleByArgument {}
extension Reconstruction: ExpressibleByArgument {}
extension SamplingKind: ExpressibleByArgument {}
extension HeadInput: ExpressibleByArgument {}
extension LRSchedule: ExpressibleByArgument {}

/// Options of `rgp finetune`; unset ones take the task's defaults (the RGP authors' latest settings).
struct FinetuneOptions: ParsableArguments {
    @Option(help: "Checkpoint folder.") var model: String = "models/all-MiniLM-L6-v2"
    @Option(help: "GLUE root holding SST-2/, QNLI/, … (default: $RGP_GLUE_DIR).") var data: String?
    @Option(help: "Training method.") var method: TrainingMethod = .rgp
    @Option(parsing: .unconditional, help: "Target ε (private methods; default 8).") var epsilon: Double?
    @Option(parsing: .unconditional, help: "δ.") var delta: Double = 1e-5
    @Option(parsing: .unconditional, help: "Fix the noise multiplier σ instead of calibrating it from ε (ε is then what σ spends).") var sigma: Double?
    @Option(parsing: .unconditional, help: "Per-example clip C (default 1).") var clip: Double?
    @Option(parsing: .unconditional, help: "Expected logical batch size B (default: the task's).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Epochs (default 30).") var epochs: Double?
    @Option(parsing: .unconditional, help: "Peak learning rate, decayed linearly to 0 (default 3e-4).") var lr: Double?
    @Option(parsing: .unconditional, help: "Maximum tokens per example.") var maxLength: Int = 128
    @Option(parsing: .unconditional, help: "Carrier rank r.") var rank: Int = 1
    @Option(help: "weight (authors' code) or history (the paper: W_t − W_0).") var carrierSource: CarrierSource = .weight
    @Option(parsing: .unconditional, help: "Power-iteration rounds.") var powerIterations: Int = 1
    @Option(help: "projection or reference (the authors' + sign).") var reconstruction: Reconstruction = .projection
    @Flag(help: "One carrier pair for Q, K, V stacked (as the authors' code).") var fusedQKV = false
    @Option(parsing: .unconditional, help: "Scale of the head's per-example gradients in the joint clip.") var headScale: Double = 0.1
    @Option(help: "rdp or prv.") var accountant: AccountantKind = .prv
    @Option(help: "poisson (default for private methods) or shuffled.") var sampling: SamplingKind?
    @Option(parsing: .unconditional, help: "Train on the first N examples only.") var maxTrain: Int?
    @Option(parsing: .unconditional, help: "Evaluate on the first N examples of each dev set only (smoke runs).") var maxDev: Int?
    @Option(parsing: .unconditional, help: "Seed (dropout, carriers, head initialisation).") var seed: UInt64 = 0
    @Flag(help: "Seeded, NOT secure noise and sampling (tests only; marked in the record).") var seededNoise = false
    @Option(help: "official, or standin (offline stand-ins for missing train sets).") var split: SplitChoice = .official
    @Option(help: "Folder of the stand-in split index files.") var splitsDirectory: String = "experiments/splits"
    @Option(parsing: .unconditional, help: "Tokens per micro-batch (the encoder runs them unpadded; bounds activation memory).") var microBatchTokens: Int = 4096
    @Option(parsing: .unconditional, help: "Cores per process (under mpirun: per rank): elementwise workers and split GEMMs (Parallel.use).") var threads: Int = 2
    @Option(parsing: .unconditional, help: "Data-parallel ranks as threads of this process, each with --threads cores: the MPI layout without MPI (--ranks 2 --threads 1 on 2 cores).")
    var ranks: Int = 1
    @Option(parsing: .unconditional, help: .hidden) var stopAfterSteps: Int?
    @Option(parsing: .unconditional, help: .hidden) var checkpointEvery: Int?
    @Option(help: "Run directory (resumes when it holds the same configuration).") var out: String?

    @Option(help: "Head input: cls (first token, as the authors), pooler (only where trained), or mean.") var head: HeadInput = .cls
    @Option(help: "Learning-rate schedule: linear (to 0 over T), constant, or polynomial (to 0 over --lr-decay-steps).")
    var lrSchedule: LRSchedule = .linear
    @Option(parsing: .unconditional, help: "Horizon of the polynomial schedule (default 4000, the authors').") var lrDecaySteps: Int?
    @Flag(help: "Run with δ ≥ 1/N (refused otherwise; recorded in the run's settings).") var allowLargeDelta = false
    @Option(parsing: .unconditional, help: "Audit the run with this many canaries (one-run audit; the ε lower bound goes in result.json).")
    var auditCanaries: Int?

    func configuration(task: GLUETask) throws -> TrainingConfiguration {
        var c = TrainingConfiguration.authorsDefaults(task: task, method: method, model: model)
        // --sigma alone fixes σ and records the ε it spends, with no target; with --epsilon too, ε is the ceiling.
        c.epsilon = method.isPrivate ? (epsilon ?? (sigma == nil ? c.epsilon : nil)) : nil
        c.delta = delta
        c.sigmaOverride = sigma
        if let clip { c.clip = clip }
        if let batchSize { c.batchSize = batchSize }
        if let epochs { c.epochs = epochs }
        if let lr { c.learningRate = lr }
        c.maxLength = maxLength
        c.rank = rank
        c.carrierSource = carrierSource
        c.powerIterations = powerIterations
        c.reconstruction = reconstruction
        c.fusedQKV = fusedQKV
        c.headScale = headScale
        c.accountant = accountant
        if let sampling { c.sampling = sampling }
        c.maxTrain = maxTrain
        c.maxDev = maxDev
        c.seed = seed
        c.seededNoise = seededNoise
        c.split = split
        c.microBatchTokens = microBatchTokens
        c.allowLargeDelta = allowLargeDelta
        c.auditCanaries = auditCanaries
        c.head = head
        c.lrSchedule = lrSchedule
        c.lrDecaySteps = lrDecaySteps
        try c.validate()
        return c
    }

    /// Under mpirun, every rank runs this; a rank that fails prints why (naming itself) and ends the whole job. With
    /// --ranks P, P threads of this process train as P ranks (`ThreadGroup`), sharing the loaded data.
    func run(task: GLUETask) throws {
        MPIBackend.startIfLaunched()
        try checkRanks(ranks)
        try useThreads(threads)
        let c = try configuration(task: task)
        let root = try glueRoot(data)
        let tokenizer = try loadTokenizer(directory: model)
        let taskData = try TaskData.load(task: task, root: root, split: split, tokenizer: tokenizer, maxLength: maxLength,
                                         maxTrain: maxTrain, maxDev: maxDev, splitsDirectory: splitsDirectory)
        if ranks > 1 {
            // One copy of the parameters for all the ranks (rank 0 updates it), as well as of the data.
            nonisolated(unsafe) let shared = (tokenizer: tokenizer, data: taskData, checkpoint: try Trainer.loadCheckpoint(c))
            ThreadGroup(size: ranks).run { communicator in
                try self.train(task: task, configuration: c, data: shared.data, tokenizer: shared.tokenizer, communicator: communicator,
                               sharedParameters: shared.checkpoint)
            }
            return
        }
        let communicator = Job.communicator
        do {
            try train(task: task, configuration: c, data: taskData, tokenizer: tokenizer, communicator: communicator)
        } catch {
            guard communicator.size > 1 else { throw error }
            FileHandle.standardError.write(Data("rank \(communicator.rank) of \(communicator.size): error: \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }

    func train(task: GLUETask, configuration c: TrainingConfiguration, data taskData: TaskData, tokenizer: any Tokenizer,
               communicator: any Communicator, sharedParameters: Checkpoint? = nil) throws {
        let directory = out ?? "runs/\(task.rawValue)-\(method.rawValue)" + (c.epsilon.map { "-eps\($0)" } ?? "") + "-seed\(seed)"
        let trainer = try Trainer(configuration: c, runDirectory: directory, data: taskData, tokenizer: tokenizer,
                                  communicator: communicator, sharedParameters: sharedParameters)
        // Tests and CI: stop after N steps with a checkpoint every M (a job killed at a step boundary).
        trainer.stopAfterSteps = stopAfterSteps
        trainer.checkpointEvery = checkpointEvery
        let result = try trainer.run()
        guard communicator.isRoot else { return }
        print("\(directory)/result.json: accuracy \(result.accuracy)"
              + (result.epsilon_spent.map { ", ε spent \($0) (target \(c.epsilon ?? 0))" } ?? "")
              + ", σ \(result.sigma.map { "\($0)" } ?? "-"), \(result.steps) steps, \(result.examples_seen) examples")
    }
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a checkpoint on a GLUE task (RGP, its baselines, or DP head-only); resumable."
    )
    @Option(help: "sst2, qnli, qqp or mnli.") var task: GLUETask
    @OptionGroup var options: FinetuneOptions

    func run() throws {
        try options.run(task: task)
    }
}

/// `rgp-<task>`: `rgp finetune` for one task.
public struct TaskFinetune: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Fine-tune on one GLUE task with its defaults from the RGP authors' latest settings (see rgp finetune)."
    )
    @OptionGroup var options: FinetuneOptions
    nonisolated(unsafe) static var task: GLUETask = .sst2
    public init() {}

    public static func main(task: GLUETask) {
        Self.task = task
        Self.main()
    }

    public func run() throws {
        try options.run(task: Self.task)
    }
}
