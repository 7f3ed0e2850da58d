import Foundation
import Numerics
import Storage
import Testing
import Tokenizers
@testable import Transformer

struct RobertaFamilyFixture: Decodable {
    var texts: [[String?]]
}

/// Tiny random RoBERTa and XLM-R as unconverted Hugging Face folders (data-scripts/make_roberta_fixtures.py): the
/// tokenizer the folder asks for, the fairseq positions and head, and one step against PyTorch.
@Suite("tiny RoBERTa and XLM-R against PyTorch: token ids, logits, loss and every parameter gradient")
struct RobertaFamilyTests {
    @Test("an unconverted folder tokenizes as Hugging Face did, and one step through fairseq's head matches PyTorch",
          arguments: [("roberta", ModelFamily.roberta, 3), ("xlmr", ModelFamily.xlmRoberta, 2)])
    func step(tag: String, family: ModelFamily, classes: Int) throws {
        let folder = try fixturePath("tiny-\(tag)")
        let checkpoint = try Checkpoint.load(directory: folder, classes: classes)
        #expect(checkpoint.config.family == family)
        #expect(checkpoint.config.positionOffset == 2 && checkpoint.config.maxSequenceLength == 64)
        #expect(checkpoint.classifierLoaded, "fairseq's head (classifier.dense, classifier.out_proj) is in the file")
        let tokenizer = try loadTokenizer(directory: folder)
        #expect(tokenizer.padId == 1)

        // Token ids: the texts through our tokenizer, padded as Hugging Face padded them.
        let step = try SafeTensorsFile(path: try fixturePath("tiny-\(tag)-step.safetensors"))
        let fixture = try JSONDecoder().decode(RobertaFamilyFixture.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: try fixturePath("roberta-family.json"))))
        let encodings = fixture.texts.map { tokenizer.encode($0[0] ?? "", pair: $0.count > 1 ? $0[1] : nil) }
        #expect(encodings.allSatisfy { $0.tokenTypeIds.allSatisfy { $0 == 0 } })
        let shape = try #require(step.entries["input_ids"]?.shape)
        let batch = Batch(sequences: encodings.map(\.inputIds), tokenTypes: encodings.map(\.tokenTypeIds), padId: tokenizer.padId,
                          length: shape[1])
        #expect(batch.inputIds == (try step.ints("input_ids")))
        #expect(batch.attentionMask == (try step.floats("attention_mask")))

        let model = BertModel(parameters: checkpoint.parameters)
        model.headInput = .pooler  // fairseq's classification head: dense + tanh on <s>, then out_proj
        model.training = true      // every dropout probability is 0 in these configs
        let logits = model.forward(batch)
        #expect(maxAbs(logits.array, try step.floats("logits")) <= 1e-5)

        let labels = try step.ints("labels")
        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        let loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: classes,
                                        probabilities: &probabilities) / Float(batch.size)
        #expect(abs(loss - (try step.floats("loss"))[0]) <= 1e-5)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: classes,
                              scale: 1 / Float(batch.size), into: &dlogits)
        let gradients = BertParameters(config: checkpoint.config, classes: classes)
        model.backward(dlogits: dlogits, gradients: gradients)
        try expectGradientsMatch(gradients, step)
    }

    @Test("RoBERTa positions count from padding_idx + 1 and skip padding: a padded batch equals one example at a time")
    func paddingInvariance() throws {
        let folder = try fixturePath("tiny-roberta")
        let checkpoint = try Checkpoint.load(directory: folder, classes: 3)
        let tokenizer = try loadTokenizer(directory: folder)
        let model = BertModel(parameters: checkpoint.parameters)
        model.headInput = .pooler
        let texts = ["short", "a much longer sentence than the first one, with several more tokens", "mid length text"]
        let encodings = texts.map { tokenizer.encode($0) }
        let batched = model.forward(Batch(sequences: encodings.map(\.inputIds), tokenTypes: encodings.map(\.tokenTypeIds),
                                          padId: tokenizer.padId)).array
        for (i, encoding) in encodings.enumerated() {
            let single = model.forward(Batch(sequences: [encoding.inputIds], tokenTypes: [encoding.tokenTypeIds], padId: tokenizer.padId))
            #expect(maxAbs(Array(batched[(i * 3)..<((i + 1) * 3)]), single.array) <= 1e-5)
        }
    }

    @Test("a missing fairseq head starts fresh (dense and out_proj); the Hugging Face pooler is not read as the head")
    func freshHead() throws {
        let folder = try fixturePath("tiny-roberta")
        let original = try SafeTensorsFile(path: folder + "/model.safetensors")
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for name in original.entries.keys.sorted() where !name.hasPrefix("classifier.") {
            tensors.append((name, original.entries[name]!.shape, try original.floats(name)))
        }
        // A pretrained RobertaModel checkpoint carries Hugging Face's (untrained) pooler under roberta.pooler.
        tensors.append(("roberta.pooler.dense.weight", [32, 32], [Float](repeating: 7, count: 32 * 32)))
        tensors.append(("roberta.pooler.dense.bias", [32], [Float](repeating: 7, count: 32)))
        var buffers = tensors.map { ContiguousArray($0.values) }
        let pointers = buffers.indices.map { i in buffers[i].withUnsafeBufferPointer { $0 } }
        defer { _ = buffers }
        let bytes = safeTensorsBytes(zip(tensors, pointers).map { ($0.0.name, $0.0.shape, $0.1) })
        let file = try SafeTensorsFile(bytes: bytes, path: "pretrained.safetensors")
        let config = try BertConfig.load(path: folder + "/config.json")
        let checkpoint = try Checkpoint.load(file: file, config: config, classes: 3, classifierSeed: 5)
        #expect(!checkpoint.classifierLoaded)
        #expect(checkpoint.extraTensors.contains("roberta.pooler.dense.weight"))
        let dense = checkpoint.parameters["pooler.dense.weight"].array
        #expect(dense.allSatisfy { abs($0) < 0.2 } && dense.contains { $0 != 0 }, "N(0, 0.02²), not the file's pooler")
        #expect(checkpoint.parameters["pooler.dense.bias"].array.allSatisfy { $0 == 0 })
    }

    @Test("the converter's tokenizer blocks (bpe, sentencepiece-fairseq) give the ids of the unconverted folders")
    func convertedTokenizerBlocks() throws {
        let texts = ["Héllo wörld 😀, ça va?", "  two  spaces and CJK 中文", "a charming and often affecting journey"]
        for (tag, block, files) in [("roberta", #"{"type": "bpe", "file": "vocab.json", "merges": "merges.txt"}"#, ["vocab.json", "merges.txt"]),
                                    ("xlmr", #"{"type": "sentencepiece-fairseq", "file": "sentencepiece.bpe.model"}"#, ["sentencepiece.bpe.model"])] {
            let source = try fixturePath("tiny-\(tag)")
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rgp-converted-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            // A converted folder: the config.json block names the files (it is read before any file-name rule).
            for file in files { try FileManager.default.copyItem(atPath: source + "/" + file, toPath: directory + "/" + file) }
            try #"{"tokenizer": \#(block)}"#.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
            let converted = try loadTokenizer(directory: directory), original = try loadTokenizer(directory: source)
            for text in texts {
                #expect(converted.encode(text, pair: "second").inputIds == original.encode(text, pair: "second").inputIds, "\(tag)")
            }
            #expect(converted.padId == 1 && converted.template == original.template)
        }
    }

    @Test("configs: an unknown model_type, and positions that RoBERTa's offset leaves empty, are refused with the reason")
    func configErrors() throws {
        let folder = try fixturePath("tiny-roberta")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as? [String: Any])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rgp-roberta-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func reason(_ change: (inout [String: Any]) -> Void) throws -> String {
            var edited = object
            change(&edited)
            try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: directory + "/config.json"))
            do {
                _ = try BertConfig.load(path: directory + "/config.json")
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(try reason { $0["model_type"] = "gpt2" }.contains("model_type \"gpt2\" is not supported"))
        #expect(try reason { $0["max_position_embeddings"] = 2 }.contains("leaves no position"))
        #expect(try reason { $0["pad_token_id"] = 5000 }.contains("pad_token_id 5000 lies outside"))
        object["model_type"] = "bert"
        #expect(try BertConfig.load(path: folder + "/config.json").positionOffset == 2)
        #expect(try reason { _ in }.contains("loaded"))
    }
}
