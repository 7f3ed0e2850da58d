import ArgumentParser
import Foundation
import GLUE

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Inspect GLUE data files.", subcommands: [DataCheck.self])
}

struct DataCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a GLUE TSV (or .tsv.zst) file and count its rows and labels.",
        discussion: "On a malformed file prints `file:line: what was expected` on stderr and exits 1."
    )

    @Option(help: "Task: sst2, qnli, qqp or mnli.") var task: GLUETask
    @Flag(help: "Skip malformed rows and report how many, instead of failing.") var lenient = false
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The TSV file.") var file: String

    struct Report: Encodable {
        var rows: Int
        var labels: [String: Int]
        var skipped: Int?
    }

    func run() throws {
        let split: GLUESplit
        do {
            split = try GLUELoader.load(task, path: file, lenient: lenient)
        } catch let error as GLUEError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
        let report = Report(rows: split.examples.count, labels: split.labelCounts, skipped: lenient ? split.skipped : nil)
        if json {
            try printJSON(report)
        } else {
            print("\(file): \(report.rows) rows")
            for label in task.labels { print("  \(label): \(split.labelCounts[label] ?? 0)") }
            if lenient { print("  skipped (malformed): \(split.skipped)") }
        }
    }
}

extension GLUETask: ExpressibleByArgument {}
