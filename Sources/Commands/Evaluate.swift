import ArgumentParser
import Foundation
import GLUE
import Numerics
import Tokenizers
import Training

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Dev-set accuracy of a fine-tuned checkpoint (a run directory or its model/ folder).")

    @Option(help: "RUN_DIR or a checkpoint folder.") var model: String
    @Option(help: "sst2, qnli, qqp or mnli.") var task: GLUETask
    @Option(help: "GLUE root (default: $RGP_GLUE_DIR).") var data: String?
    @Option(help: "official or standin.") var split: SplitChoice = .official
    @Option(help: "Folder of the stand-in split index files.") var splitsDirectory: String = "experiments/splits"
    @Option(help: "Maximum tokens per example.") var maxLength: Int = 128
    @Option(help: "OpenBLAS threads and elementwise workers.") var threads: Int = 2
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        useThreads(threads)
        let directory = FileManager.default.fileExists(atPath: model + "/model/config.json") ? model + "/model" : model
        let tokenizer = try loadTokenizer(directory: directory)
        let taskData = try TaskData.load(task: task, root: try glueRoot(data), split: split, tokenizer: tokenizer,
                                         maxLength: maxLength, maxTrain: 1, splitsDirectory: splitsDirectory, devOnly: true)
        var c = TrainingConfiguration(task: task, method: .full, model: directory, batchSize: 1, epochs: 1, learningRate: 1)
        c.maxLength = maxLength
        let trainer = try Trainer(configuration: c, runDirectory: NSTemporaryDirectory() + "/rgp-evaluate-\(getpid())", data: taskData, tokenizer: tokenizer)
        let evaluation = trainer.evaluate()
        if json {
            try printJSON(evaluation)
        } else {
            print("\(task.rawValue) dev accuracy \(evaluation.accuracy)"
                  + (evaluation.accuracyMismatched.map { ", mismatched \($0)" } ?? "") + (evaluation.f1.map { ", F1 \($0)" } ?? ""))
        }
    }
}
