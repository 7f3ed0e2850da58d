/// The GLUE tasks of the paper's table, with their official file layout and label maps.
public enum GLUETask: String, CaseIterable, Sendable, Codable {
    case sst2, qnli, qqp, mnli

    /// Folder under the GLUE root.
    public var directoryName: String {
        switch self {
        case .sst2: "SST-2"
        case .qnli: "QNLI"
        case .qqp: "QQP"
        case .mnli: "MNLI"
        }
    }

    /// Header names of the first and (for pair tasks) second text column.
    public var textColumns: (first: String, second: String?) {
        switch self {
        case .sst2: ("sentence", nil)
        case .qnli: ("question", "sentence")
        case .qqp: ("question1", "question2")
        case .mnli: ("sentence1", "sentence2")
        }
    }

    /// Header name of the label column.
    public var labelColumn: String {
        switch self {
        case .sst2, .qnli: "label"
        case .qqp: "is_duplicate"
        case .mnli: "gold_label"
        }
    }

    /// Labels as written in the files; a label's index is its class id (Hugging Face's GLUE order).
    public var labels: [String] {
        switch self {
        case .sst2, .qqp: ["0", "1"]
        case .qnli: ["entailment", "not_entailment"]
        case .mnli: ["entailment", "neutral", "contradiction"]
        }
    }

    /// Training file name in the official layout.
    public var trainFile: String { "train.tsv" }

    /// Development files in the official layout (MNLI: matched, then mismatched).
    public var devFiles: [String] {
        self == .mnli ? ["dev_matched.tsv", "dev_mismatched.tsv"] : ["dev.tsv"]
    }
}

/// One labelled example.
public struct Example: Sendable, Equatable {
    public var first: String
    public var second: String?
    /// Class id: the index of the written label in `GLUETask.labels`.
    public var label: Int
    /// 1-based line in the file it came from.
    public var line: Int
    public init(first: String, second: String?, label: Int, line: Int) {
        (self.first, self.second, self.label, self.line) = (first, second, label, line)
    }
}
