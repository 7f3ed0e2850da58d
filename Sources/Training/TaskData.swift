import Crypto
import Foundation
import GLUE
import Storage
import Tokenizers

/// Which files (and, for the offline stand-ins, which rows of them) a task trains and evaluates on: the one statement
/// of the stand-in rules, read by the loader and by the grid planner.
public struct SplitFiles: Sendable {
    public struct Source: Sendable {
        /// File under the task's folder.
        public var file: String
        /// Committed row-index file choosing the rows used (QNLI and QQP stand-ins), if any.
        public var indexFile: String?
        /// Name in records and tables.
        public var name: String
    }

    public var train: Source
    /// The primary dev set first (MNLI official: matched, then mismatched).
    public var dev: [Source]
    public var trainDescription: String
    /// The files behind it (nil for data made in memory: benchmarks, tests).
    public var identity: DataIdentity?

    public init(task: GLUETask, split: SplitChoice, splitsDirectory: String) {
        switch (split, task) {
        case (.official, _), (.standin, .sst2):
            train = Source(file: task.trainFile, name: task.trainFile)
            dev = task.devFiles.map { Source(file: $0, name: $0) }
            trainDescription = "\(task.directoryName)/\(task.trainFile)"
        case (.standin, .mnli):
            train = Source(file: "dev_mismatched.tsv", name: "dev_mismatched.tsv")
            dev = [Source(file: "dev_matched.tsv", name: "dev_matched.tsv")]
            trainDescription = "MNLI/dev_mismatched.tsv (stand-in: no train set offline)"
        case (.standin, .qnli), (.standin, .qqp):
            train = Source(file: "dev.tsv", indexFile: "\(splitsDirectory)/\(task.rawValue)-train.txt", name: "dev.tsv[80%]")
            dev = [Source(file: "dev.tsv", indexFile: "\(splitsDirectory)/\(task.rawValue)-dev.txt", name: "dev.tsv[held-out 20%]")]
            trainDescription = "\(task.directoryName)/dev.tsv[80% by \(task.rawValue)-train.txt] (stand-in: no train set offline)"
        }
    }
}

/// What a run was trained and evaluated on, as run.json records it: every file read (size and SHA-256), the split
/// and the subsets taken. A run directory resumes only on the same data.
public struct DataIdentity: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        /// Relative to the GLUE root (or the stand-in index file's path as given).
        public var path: String
        public var bytes: Int
        public var sha256: String
    }

    public var files: [File]
    public var split: String
    public var max_train: Int?
    public var max_dev: Int?

    static func file(_ path: String, shownAs name: String) throws -> File {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): \(Files.unreadableReason(path))")
        }
        return File(path: name, bytes: data.count, sha256: SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
    }
}

/// The data of one run: training examples and the dev sets it reports.
public struct TaskData {
    public var train: [EncodedExample]
    /// (name, examples): the primary dev set first.
    public var dev: [(name: String, examples: [EncodedExample])]
    public var trainDescription: String
    /// The files behind it (nil for data made in memory: benchmarks, tests).
    public var identity: DataIdentity?

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
        func examples(_ source: SplitFiles.Source) throws -> [Example] {
            let all = try file(source.file)
            guard let indexFile = source.indexFile else { return all }
            return try readIndices(indexFile, count: all.count).map { all[$0] }
        }
        let files = SplitFiles(task: task, split: split, splitsDirectory: splitsDirectory)
        var train = devOnly ? [] : try examples(files.train)
        var dev = try files.dev.map { ($0.name, try examples($0)) }
        for (name, examples) in dev where examples.isEmpty {
            throw TrainingError("\(task.directoryName)/\(name): the dev set has no examples, so no accuracy can be reported")
        }
        var read: [DataIdentity.File] = []
        for source in (devOnly ? [] : [files.train]) + files.dev {
            let path = try GLUELoader.path(root: root, task: task, file: source.file)
            let shown = "\(task.directoryName)/\((path as NSString).lastPathComponent)"
            if !read.contains(where: { $0.path == shown }) { read.append(try DataIdentity.file(path, shownAs: shown)) }
            if let index = source.indexFile, !read.contains(where: { $0.path == index }) {
                read.append(try DataIdentity.file(index, shownAs: index))
            }
        }
        var description = files.trainDescription
        if let maxDev {
            dev = dev.map { $0.1.count > maxDev ? ($0.0 + ", first \(maxDev)", Array($0.1.prefix(maxDev))) : $0 }
        }
        if let maxTrain, maxTrain < train.count {
            train = Array(train.prefix(maxTrain))
            description += ", first \(maxTrain)"
        }
        var data = TaskData(train: encodeExamples(train, tokenizer: tokenizer, maxLength: maxLength),
                            dev: dev.map { ($0.0, encodeExamples($0.1, tokenizer: tokenizer, maxLength: maxLength)) },
                            trainDescription: description)
        data.identity = DataIdentity(files: read, split: split.rawValue, max_train: maxTrain, max_dev: maxDev)
        return data
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
