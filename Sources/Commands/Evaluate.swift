import ArgumentParser
import Foundation
import GLUE
import Numerics
import Tokenizers
import Training
import Transformer

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
        try useThreads(threads)
        let directory = FileManager.default.fileExists(atPath: model + "/model/config.json") ? model + "/model" : model
        let tokenizer = try loadTokenizer(directory: directory)
        let checkpoint = try Evaluator.trainedCheckpoint(directory: directory, task: task)
        try checkCompatibility(tokenizer: tokenizer, config: checkpoint.config, maxLength: maxLength, model: directory)
        let taskData = try TaskData.load(task: task, root: try glueRoot(data), split: split, tokenizer: tokenizer,
                                         maxLength: maxLength, maxTrain: nil, splitsDirectory: splitsDirectory, devOnly: true)
        let evaluator = Evaluator(model: BertModel(parameters: checkpoint.parameters), tokenizer: tokenizer, task: task,
                                  microBatchTokens: 4096)
        let evaluation = evaluator.evaluate(taskData.dev)
        if json {
            try printJSON(evaluation)
        } else {
            print("\(task.rawValue) dev accuracy \(evaluation.accuracy)"
                  + (evaluation.accuracyMismatched.map { ", mismatched \($0)" } ?? "") + (evaluation.f1.map { ", F1 \($0)" } ?? ""))
        }
    }
}
