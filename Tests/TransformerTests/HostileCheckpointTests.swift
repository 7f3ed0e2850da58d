import Foundation
import Numerics
import Storage
import Testing
@testable import Transformer

/// A copy of the tiny checkpoint folder with `config.json` edited by `edit` and the weights as given.
func hostileFolder(config edit: (inout [String: Any]) -> Void = { _ in }, weights: [UInt8]? = nil, compressed: Bool = false,
                   manifestSHA256: String? = nil) throws -> String {
    let source = try fixturePath("tiny")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
    edit(&config)
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: directory + "/config.json"))
    try FileManager.default.copyItem(atPath: source + "/vocab.txt", toPath: directory + "/vocab.txt")
    let bytes = try weights ?? Files.read(source + "/model.safetensors")
    if compressed {
        try Data(Files.compressZstd(bytes)).write(to: URL(fileURLWithPath: directory + "/model.safetensors.zst"))
    } else {
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/model.safetensors"))
    }
    if let manifestSHA256 {
        try Data("{\"source\": \"test\", \"sha256\": \"\(manifestSHA256)\", \"converter\": \"1\"}".utf8)
            .write(to: URL(fileURLWithPath: directory + "/manifest.json"))
    }
    return directory
}

func loadMessage(_ directory: String) -> String? {
    do {
        _ = try Checkpoint.load(directory: directory, classes: 2)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite("hostile checkpoints and configs")
struct HostileCheckpointTests {
    @Test("config.json: zero, negative and absurd sizes, and heads that do not divide the hidden size, are refused by name")
    func configFields() throws {
        let cases: [(String, Any, String)] = [
            ("num_attention_heads", 0, "num_attention_heads must lie in 1...1024, got 0"),
            ("num_attention_heads", -12, "num_attention_heads must lie in 1...1024, got -12"),
            ("num_hidden_layers", -1, "num_hidden_layers must lie in 1...1024, got -1"),
            ("vocab_size", 1_000_000_000_000, "vocab_size must lie in 1...16777216, got 1000000000000"),
            ("num_attention_heads", 5, "hidden_size 32 is not divisible by num_attention_heads 5"),
            ("layer_norm_eps", -1, "layer_norm_eps must be a positive number"),
            ("hidden_dropout_prob", 1.5, "hidden_dropout_prob must lie in [0, 1)"),
        ]
        for (key, value, expected) in cases {
            let directory = try hostileFolder(config: { $0[key] = value })
            let message = try #require(loadMessage(directory), "\(key) = \(value) loaded")
            #expect(message.contains(directory + "/config.json") && message.contains(expected), "\(message)")
        }
    }

    @Test("a config declaring fewer layers, or a larger vocabulary, than the weights hold is refused before allocation")
    func configAgainstWeights() throws {
        let fewer = try hostileFolder(config: { $0["num_hidden_layers"] = 1 })
        #expect(loadMessage(fewer)?.contains("config.json declares 1 layers, but the weights hold 2") == true, "\(loadMessage(fewer) ?? "loaded")")
        let larger = try hostileFolder(config: { $0["vocab_size"] = 10_000_000 })
        #expect(loadMessage(larger)?.contains("embeddings.word_embeddings.weight has shape") == true, "\(loadMessage(larger) ?? "loaded")")
    }

    @Test("manifest.json's SHA-256 is verified while decompressing: one flipped weight byte is an error naming the file")
    func integrity() throws {
        let bytes = try Files.read(try fixturePath("tiny/model.safetensors"))
        let digest = SHA256Hex.of(bytes)
        let good = try hostileFolder(compressed: true, manifestSHA256: digest)
        let checkpoint = try Checkpoint.load(directory: good, classes: 2)
        #expect(checkpoint.integrity.contains("verified against manifest.json"))
        var flipped = bytes
        flipped[flipped.count - 5] ^= 0x01
        let bad = try hostileFolder(weights: flipped, compressed: true, manifestSHA256: digest)
        let message = try #require(loadMessage(bad))
        #expect(message.contains(bad + "/model.safetensors.zst") && message.contains("manifest.json says \(digest)"), "\(message)")
        let unconverted = try hostileFolder()
        #expect(try Checkpoint.load(directory: unconverted, classes: 2).integrity.contains("no manifest.json"))
    }

    @Test("a .zst that expands beyond what its safetensors header declares stops there, holding no more")
    func decompressionBomb() throws {
        // A valid tiny checkpoint followed by 64 MB of zeros, compressed to a few kilobytes.
        let bytes = try Files.read(try fixturePath("tiny/model.safetensors")) + [UInt8](repeating: 0, count: 64 << 20)
        let compressed = Files.compressZstd(bytes, level: 19)
        #expect(compressed.count < 200_000)
        let directory = try hostileFolder(weights: bytes, compressed: true)
        let message = try #require(loadMessage(directory))
        #expect(message.contains("expands beyond") && message.contains("the size its content declares"), "\(message)")
    }

    @Test("fuzz: 3,000 seeded mutations of a safetensors file never crash or hang; every failure names the file")
    func fuzzSafetensors() throws {
        let original = try Files.read(try fixturePath("tiny/model.safetensors"))
        var generator = Xoshiro256(seed: 2026)
        for round in 0..<3000 {
            var bytes = mutate(original, headerEnd: 8 + 3000, &generator)
            if round % 7 == 0 { bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count + 1)))) }
            do {
                let file = try SafeTensorsFile(bytes: bytes, path: "fuzz.safetensors")
                for name in file.entries.keys where file.isFloat(name) { _ = try? file.floats(name) }
            } catch let error as CheckpointError {
                #expect(error.description.hasPrefix("fuzz.safetensors: "), "\(error)")
            }
        }
    }

    @Test("fuzz: 3,000 seeded mutations of config.json never crash; every failure names the file")
    func fuzzConfig() throws {
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: try fixturePath("tiny/config.json"))))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-config-\(UUID().uuidString).json").path
        var generator = Xoshiro256(seed: 7)
        var refused = 0
        for _ in 0..<3000 {
            let bytes = mutate(original, headerEnd: original.count, &generator)
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                let config = try BertConfig.load(path: path)
                try config.validate(path: path)
            } catch let error as CheckpointError {
                refused += 1
                #expect(error.description.hasPrefix(path + ": "), "\(error)")
            }
        }
        #expect(refused > 100)
    }
}

/// One to four byte-level edits (flip, set to a digit or a JSON-significant byte, delete, duplicate a run) within
/// the first `headerEnd` bytes, where parsers live.
func mutate(_ input: [UInt8], headerEnd: Int, _ generator: inout Xoshiro256) -> [UInt8] {
    var bytes = input
    let interesting: [UInt8] = Array("0123456789-.,:[]{}\"e ".utf8) + [0, 0xFF, 0x80]
    for _ in 0..<(1 + Int(generator.next() % 4)) {
        guard !bytes.isEmpty else { break }
        let position = Int(generator.next() % UInt64(min(bytes.count, headerEnd)))
        switch generator.next() % 4 {
        case 0: bytes[position] ^= UInt8(1 << (generator.next() % 8))
        case 1: bytes[position] = interesting[Int(generator.next() % UInt64(interesting.count))]
        case 2: bytes.remove(at: position)
        default:
            let length = min(Int(generator.next() % 16) + 1, bytes.count - position)
            bytes.insert(contentsOf: bytes[position..<(position + length)], at: position)
        }
    }
    return bytes
}

enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try? process.run()
        input.fileHandleForWriting.write(Data(bytes))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return String(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
    }
}
