import Foundation
import GLUE
import Storage
import Testing

/// The offline GLUE folder: $RGP_GLUE_DIR, else ../shared/glue beside the checkout.
let glueRoot: String = ProcessInfo.processInfo.environment["RGP_GLUE_DIR"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/glue").path

func temporaryFile(_ name: String, _ bytes: [UInt8]) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("glue-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent(name).path
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

func temporaryFile(_ name: String, _ text: String) -> String { temporaryFile(name, Array(text.utf8)) }

@Suite("GLUE files in ../shared/glue")
struct SharedGLUETests {
    struct Expected: Sendable, CustomStringConvertible {
        var task: GLUETask, file: String, rows: Int, labels: [String: Int]
        var description: String { "\(task.directoryName)/\(file)" }
    }

    // Counts from ../shared/glue/README.md.
    static let expected: [Expected] = [
        Expected(task: .sst2, file: "train.tsv", rows: 67_349, labels: ["1": 37_569, "0": 29_780]),
        Expected(task: .sst2, file: "dev.tsv", rows: 872, labels: ["1": 444, "0": 428]),
        Expected(task: .qnli, file: "dev.tsv", rows: 5_463, labels: ["entailment": 2_702, "not_entailment": 2_761]),
        Expected(task: .qqp, file: "dev.tsv", rows: 40_430, labels: ["0": 25_545, "1": 14_885]),
        Expected(task: .mnli, file: "dev_matched.tsv", rows: 9_815,
                 labels: ["entailment": 3_479, "neutral": 3_123, "contradiction": 3_213]),
        Expected(task: .mnli, file: "dev_mismatched.tsv", rows: 9_832,
                 labels: ["entailment": 3_463, "neutral": 3_129, "contradiction": 3_240]),
    ]

    @Test("row and label counts equal the README's", arguments: expected)
    func counts(_ expected: Expected) throws {
        let split = try GLUELoader.load(expected.task, path: GLUELoader.path(root: glueRoot, task: expected.task, file: expected.file))
        #expect(split.examples.count == expected.rows)
        #expect(split.labelCounts == expected.labels)
        #expect(split.skipped == 0)
        if expected.task.textColumns.second != nil {
            #expect(split.examples.allSatisfy { $0.second != nil })
        }
    }

    @Test("text keeps SST-2's trailing space and MNLI's unbalanced literal quotes")
    func literalText() throws {
        let sst2 = try GLUELoader.load(.sst2, path: "\(glueRoot)/SST-2/train.tsv")
        #expect(sst2.examples[0].first.hasSuffix(" "))
        let mnli = try GLUELoader.load(.mnli, path: "\(glueRoot)/MNLI/dev_matched.tsv")
        // A quote-aware reader would swallow the following rows into this field.
        #expect(mnli.examples.contains { $0.first == "She seemed so different  \"" })
    }
}

@Suite("GLUE loader on malformed and unusual input")
struct MalformedGLUETests {
    func error(_ task: GLUETask, _ path: String) -> GLUEError? {
        do {
            _ = try GLUELoader.load(task, path: path)
            return nil
        } catch let error as GLUEError {
            return error
        } catch {
            return nil
        }
    }

    @Test("a row with the wrong number of fields names its line")
    func wrongFieldCount() {
        let path = temporaryFile("dev.tsv", "sentence\tlabel\ngood film \t1\nbroken row without label\nfine \t0\n")
        let failure = error(.sst2, path)
        #expect(failure?.line == 3)
        #expect(failure?.description == "\(path):3: 2 tab-separated fields as in the header, found 1")
    }

    @Test("an unknown label names the column and the allowed labels")
    func unknownLabel() {
        let path = temporaryFile("dev.tsv", "index\tquestion\tsentence\tlabel\n0\tq?\ts.\tentailment\n1\tq?\ts.\tmaybe\n")
        #expect(error(.qnli, path)?.description ==
            "\(path):3: a label in column \"label\" among entailment, not_entailment, found \"maybe\"")
    }

    @Test("a missing column is reported against the header")
    func missingColumn() {
        let path = temporaryFile("dev.tsv", "index\tsentence1\tlabel\n0\ta\tneutral\n")
        let failure = error(.mnli, path)
        #expect(failure?.line == 1)
        #expect(failure?.expected.contains("a column named \"sentence2\"") == true)
    }

    @Test("invalid UTF-8 is an error at its line")
    func invalidUTF8() {
        let path = temporaryFile("dev.tsv", Array("sentence\tlabel\nok \t1\n".utf8) + [0x62, 0xFF, 0x61, 0x09, 0x30, 0x0A])
        #expect(error(.sst2, path)?.description == "\(path):3: valid UTF-8 text")
    }

    @Test("an empty file and an unreadable file are errors")
    func emptyAndMissing() {
        let empty = temporaryFile("dev.tsv", "")
        #expect(error(.sst2, empty)?.description == "\(empty):1: a header row, found an empty file")
        // A whole-file problem has no line, and says what is wrong in words.
        #expect(error(.sst2, "/nonexistent/dev.tsv")?.description == "/nonexistent/dev.tsv: a TSV file, but it does not exist")
        let directory = FileManager.default.temporaryDirectory.path
        #expect(error(.sst2, directory)?.description == "\(directory): a TSV file, but it is a directory, expected a file")
    }

    @Test("BOM and CRLF are accepted; quotes stay literal; columns are found by name in any order")
    func bomCRLFQuotes() throws {
        let path = temporaryFile("dev.tsv", "\u{FEFF}label\tsentence\r\n1\t\"quoted \"\" text \r\n0\tit 's fine\r\n")
        let split = try GLUELoader.load(.sst2, path: path)
        #expect(split.examples.map(\.first) == ["\"quoted \"\" text ", "it 's fine"])
        #expect(split.examples.map(\.label) == [1, 0])
        #expect(split.examples.map(\.line) == [2, 3])
    }

    @Test("lenient mode skips malformed rows and counts them")
    func lenient() throws {
        let text = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
            + "0\t1\t2\tWhat?\tWhy?\t0\n" + "1\t3\t4\tbroken question\n" + "2\t5\t6\tHow?\tWhen?\t1\n" + "3\t7\t8\ta\tb\tyes\n"
        let path = temporaryFile("train.tsv", text)
        #expect(error(.qqp, path)?.line == 3)
        let split = try GLUELoader.load(.qqp, path: path, lenient: true)
        #expect(split.examples.count == 2)
        #expect(split.skipped == 2)
        #expect(split.examples[1].second == "When?")
    }

    @Test(".tsv.zst is decompressed transparently; a truncated one is an error")
    func zstd() throws {
        let text = "sentence\tlabel\na \t1\nb \t0\n"
        let compressed = Files.compressZstd(Array(text.utf8))
        let path = temporaryFile("dev.tsv.zst", compressed)
        #expect(try GLUELoader.load(.sst2, path: path).examples.count == 2)
        let truncated = temporaryFile("dev.tsv.zst", Array(compressed.dropLast(3)))
        #expect(error(.sst2, truncated)?.expected.contains("truncated") == true)
        let garbage = temporaryFile("dev.tsv.zst", Array("not zstd at all".utf8))
        #expect(error(.sst2, garbage)?.expected.contains("not a valid zstd stream") == true)
    }

    @Test("metrics: accuracy and F1 of the positive class")
    func metrics() {
        let predictions = [1, 1, 0, 0, 1], labels = [1, 0, 0, 1, 1]
        #expect(Metrics.accuracy(predictions: predictions, labels: labels) == 0.6)
        // TP 2, FP 1, FN 1 → F1 = 4 / 6.
        #expect(abs(Metrics.f1(predictions: predictions, labels: labels) - 4.0 / 6.0) < 1e-12)
    }
}
