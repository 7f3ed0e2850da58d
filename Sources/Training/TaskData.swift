import Foundation
import GLUE
import Tokenizers

/// The data of one run: training examples and the dev sets it reports.
public struct TaskData {
    public var train: [EncodedExample]
    /// (name, examples): the primary dev set first.
    public var dev: [(name: String, examples: [EncodedExample])]
    public var trainDescription: String

    public init(train: [EncodedExample], dev: [(name: String, examples: [EncodedExample])], trainDescription: String) {
        self.train = train
        self.dev = dev
        self.trainDescription = trainDescription
    }

    /// Loads and tokenizes the task's files under `root` for the chosen split.
    /// With `devOnly`, the training split is not read (evaluation): `train` is empty.
    public static func load(task: GLUETask, root: String, split: SplitChoice, tokenizer: any Tokenizer, maxLength: Int,
                            maxTrain: Int?, maxDev: Int? = nil, splitsDirectory: String, devOnly: Bool = false) throws -> TaskData {
        func file(_ name: String) throws -> [Example] {
            try GLUELoader.load(task, path: GLUELoader.path(root: root, task: task, file: name)).examples
        }
        var train: [Example], dev: [(String, [Example])], description: String
        switch (split, task) {
        case (.official, _), (.standin, .sst2):
            train = devOnly ? [] : try file(task.trainFile)
            dev = try task.devFiles.map { ($0, try file($0)) }
            description = "\(task.directoryName)/\(task.trainFile)"
        case (.standin, .mnli):
            train = try file("dev_mismatched.tsv")
            dev = [("dev_matched.tsv", try file("dev_matched.tsv"))]
            description = "MNLI/dev_mismatched.tsv (stand-in: no train set offline)"
        case (.standin, .qnli), (.standin, .qqp):
            let all = try file("dev.tsv")
            let trainIndices = try readIndices("\(splitsDirectory)/\(task.rawValue)-train.txt", count: all.count)
            let devIndices = try readIndices("\(splitsDirectory)/\(task.rawValue)-dev.txt", count: all.count)
            train = trainIndices.map { all[$0] }
            dev = [("dev.tsv[held-out 20%]", devIndices.map { all[$0] })]
            description = "\(task.directoryName)/dev.tsv[80% by \(task.rawValue)-train.txt] (stand-in: no train set offline)"
        }
        if let maxDev {
            dev = dev.map { $0.1.count > maxDev ? ($0.0 + ", first \(maxDev)", Array($0.1.prefix(maxDev))) : $0 }
        }
        if let maxTrain, maxTrain < train.count {
            train = Array(train.prefix(maxTrain))
            description += ", first \(maxTrain)"
        }
        return TaskData(train: encodeExamples(train, tokenizer: tokenizer, maxLength: maxLength),
                        dev: dev.map { ($0.0, encodeExamples($0.1, tokenizer: tokenizer, maxLength: maxLength)) },
                        trainDescription: description)
    }

    static func readIndices(_ path: String, count: Int) throws -> [Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TrainingError("\(path): missing split index file (one row index per line)")
        }
        var result: [Int] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            guard let index = Int(line.trimmingCharacters(in: .whitespaces)), index >= 0, index < count else {
                throw TrainingError("\(path):\(n + 1): expected a row index in 0..<\(count), found \"\(line)\"")
            }
            result.append(index)
        }
        return result
    }
}
