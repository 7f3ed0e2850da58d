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
    @Option(help: "Cores: elementwise workers and split GEMMs (OpenBLAS on one thread; RGP_OPENBLAS_THREADING=1 for its own).") var threads: Int = 2
    @Option(help: "Head input the model was trained with: cls, pooler or mean (default: what the run recorded).")
    var head: HeadInput?
    @Flag(help: "Print JSON.") var json = false

    /// The head input: --head, else the exported model's config.json (rgp_head), else the run directory's run.json.
    func resolveHead(directory: String) throws -> HeadInput {
        if let head { return head }
        if let data = FileManager.default.contents(atPath: directory + "/config.json"),
           let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
           let name = object[Trainer.exportedHeadKey] as? String, let recorded = HeadInput(rawValue: name) {
            return recorded
        }
        if let data = FileManager.default.contents(atPath: model + "/run.json"),
           let settings = try? JSONDecoder().decode(TrainingConfiguration.self, from: data) {
            return settings.head
        }
        throw ValidationError("\(model): the head this model was trained with is not recorded (no rgp_head in config.json, no "
                              + "run.json): give --head cls|pooler|mean")
    }

    func run() throws {
        try useThreads(threads)
        let directory = FileManager.default.fileExists(atPath: model + "/model/config.json") ? model + "/model" : model
        let tokenizer = try loadTokenizer(directory: directory)
        let checkpoint = try Evaluator.trainedCheckpoint(directory: directory, task: task)
        try checkCompatibility(tokenizer: tokenizer, config: checkpoint.config, maxLength: maxLength, model: directory)
        let taskData = try TaskData.load(task: task, root: try glueRoot(data), split: split, tokenizer: tokenizer,
                                         maxLength: maxLength, maxTrain: nil, splitsDirectory: splitsDirectory, devOnly: true)
        let network = BertModel(parameters: checkpoint.parameters)
        network.headInput = try resolveHead(directory: directory)
        let evaluator = Evaluator(model: network, tokenizer: tokenizer, task: task, microBatchTokens: 4096)
        let evaluation = evaluator.evaluate(taskData.dev)
        if json {
            try printJSON(evaluation)
        } else {
            print("\(task.rawValue) dev accuracy \(evaluation.accuracy)"
                  + (evaluation.accuracyMismatched.map { ", mismatched \($0)" } ?? "") + (evaluation.f1.map { ", F1 \($0)" } ?? ""))
        }
    }
}
