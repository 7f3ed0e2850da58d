import Foundation
import Storage
import Testing
@testable import GLUE

@Suite("GLUE loader on hostile input")
struct HostileTSVTests {
    func message(_ task: GLUETask, _ path: String) -> String? {
        do {
            _ = try GLUELoader.load(task, path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a duplicated label column is an error naming both columns")
    func duplicatedColumn() {
        let path = temporaryFile("dev.tsv", "sentence\tlabel\tlabel\na b \t1\t0\n")
        #expect(message(.sst2, path) == "\(path):1: one column named \"label\", found 2 (columns 2, 3)")
    }

    @Test("dev.tsv beside dev.tsv.zst is ambiguous: an error, not a silent choice")
    func ambiguousPair() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("glue-pair-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/SST-2", withIntermediateDirectories: true)
        let text = Array("sentence\tlabel\na \t1\n".utf8)
        FileManager.default.createFile(atPath: root + "/SST-2/dev.tsv", contents: Data(text))
        #expect(try GLUELoader.path(root: root, task: .sst2, file: "dev.tsv") == root + "/SST-2/dev.tsv")
        FileManager.default.createFile(atPath: root + "/SST-2/dev.tsv.zst", contents: Data(Files.compressZstd(text)))
        #expect { try GLUELoader.path(root: root, task: .sst2, file: "dev.tsv") } throws: {
            "\($0)".contains("both dev.tsv and dev.tsv.zst are present")
        }
    }

    @Test("a 10 MB header line is not echoed whole: the message stays short")
    func longHeader() {
        let path = temporaryFile("dev.tsv", String(repeating: "x", count: 10 << 20) + "\tlabel\na\t1\n")
        let text = message(.sst2, path) ?? ""
        #expect(text.contains("a column named \"sentence\"") && text.contains("more characters"))
        #expect(text.count < 600, "\(text.count) characters")
    }

    @Test("a directory given as a file says so")
    func directoryAsFile() {
        let directory = FileManager.default.temporaryDirectory.path
        #expect(message(.sst2, directory)?.contains("is a directory") == true)
    }

    @Test("fuzz: 3,000 seeded mutations of a TSV file never crash; every failure names the file and a line")
    func fuzz() throws {
        var text = "index\tquestion\tsentence\tlabel\n"
        for i in 0..<40 { text += "\(i)\twhat is \"\(i)\"?\tit is \(i) .\t\(i % 3 == 0 ? "entailment" : "not_entailment")\n" }
        let original = Array(text.utf8)
        let path = temporaryFile("dev.tsv", original)
        var generator = SplitMixForTests(seed: 11)
        var refused = 0
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<(1 + Int(generator.next() % 4)) where !bytes.isEmpty {
                let position = Int(generator.next() % UInt64(bytes.count))
                let interesting: [UInt8] = [0x09, 0x0A, 0x0D, 0x22, 0xEF, 0xBB, 0xBF, 0xC3, 0x80, 0xFF, 0x00, 0x61]
                switch generator.next() % 3 {
                case 0: bytes[position] = interesting[Int(generator.next() % UInt64(interesting.count))]
                case 1: bytes.remove(at: position)
                default: bytes.insert(interesting[Int(generator.next() % UInt64(interesting.count))], at: position)
                }
            }
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                _ = try GLUELoader.load(.qnli, path: path)
                _ = try GLUELoader.load(.qnli, path: path, lenient: true)
            } catch let error as GLUEError {
                refused += 1
                #expect(error.description.hasPrefix(path + ":"), "\(error)")
                #expect(error.description.count < 1000)
            }
        }
        #expect(refused > 300)
    }
}

/// SplitMix64, local to the tests (no dependency on Numerics here).
struct SplitMixForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
