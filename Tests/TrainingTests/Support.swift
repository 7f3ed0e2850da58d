import Foundation
import Numerics

/// The tiny random BERT (2 layers, hidden 32) made by data-scripts/make_encoder_fixtures.py.
let tinyDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("TransformerTests/Fixtures/tiny").path

let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A learnable synthetic SST-2 folder: sentences of 3–7 words from `vocabulary`, label 1 iff the sentence contains
/// `marker` (by default the tiny BERT's vocabulary, w10…w69, and w7).
func syntheticGLUE(vocabulary: [String] = (10..<70).map { "w\($0)" }, marker: String = "w7", seed: UInt64 = 11) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("glue-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root + "/SST-2", withIntermediateDirectories: true)
    var generator = Xoshiro256(seed: seed)
    func rows(_ count: Int) -> String {
        var text = "sentence\tlabel\n"
        for i in 0..<count {
            let positive = i % 2 == 0
            var words = (0..<(3 + Int(generator.next() % 5))).map { _ in vocabulary[Int(generator.next() % UInt64(vocabulary.count))] }
            if positive { words.insert(marker, at: Int(generator.next() % UInt64(words.count))) }
            text += words.joined(separator: " ") + " \t\(positive ? 1 : 0)\n"
        }
        return text
    }
    try rows(64).write(toFile: root + "/SST-2/train.tsv", atomically: true, encoding: .utf8)
    try rows(32).write(toFile: root + "/SST-2/dev.tsv", atomically: true, encoding: .utf8)
    return root
}

func runDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)").path
}
