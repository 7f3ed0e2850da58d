import Foundation
import Numerics
import Storage
import Testing
import Tokenizers
@testable import Transformer

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let miniLMDirectory = repositoryRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path

func fixturePath(_ name: String) throws -> String {
    guard let url = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
        throw CheckpointError.unreadable(path: name, reason: "fixture missing from the test bundle")
    }
    return url.path
}

/// max |a − b| / max |b|: error relative to the reference tensor's scale.
func scaledError(_ a: [Float], _ b: [Float]) -> Float {
    let scale = max(b.map(abs).max() ?? 0, 1e-12)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

func maxAbs(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

/// Every parameter gradient against the step fixture's `grad.<name>` (≤ 1e-4 of the reference's scale), and every
/// parameter of the layout checked.
func expectGradientsMatch(_ gradients: BertParameters, _ step: SafeTensorsFile) throws {
    var checked = 0
    for name in gradients.names {
        let expected = try step.floats("grad." + name), got = gradients[name].array
        if name.hasSuffix("attention.self.key.bias") {
            // Softmax ignores a per-row constant, so this gradient is exactly zero; both sides hold rounding noise.
            #expect(expected.allSatisfy { abs($0) < 1e-6 } && got.allSatisfy { abs($0) < 1e-6 }, "\(name)")
        } else {
            let error = scaledError(got, expected)
            #expect(error <= 1e-4, "\(name): scaled error \(error)")
        }
        checked += 1
    }
    #expect(checked == BertParameters.layout(config: gradients.config, classes: gradients.classes).count)
}

/// The tiny model's fixed batch from the step fixture.
func tinyBatch(_ step: SafeTensorsFile) throws -> (Batch, [Int32]) {
    let ids = try step.ints("input_ids"), types = try step.ints("token_type_ids"), mask = try step.floats("attention_mask")
    let shape = step.entries["input_ids"]!.shape
    let (b, t) = (shape[0], shape[1])
    var sequences: [[Int32]] = [], segments: [[Int32]] = []
    for s in 0..<b {
        let n = (0..<t).filter { mask[s * t + $0] != 0 }.count
        sequences.append(Array(ids[(s * t)..<(s * t + n)]))
        segments.append(Array(types[(s * t)..<(s * t + n)]))
    }
    return (Batch(sequences: sequences, tokenTypes: segments, padId: 0, length: t), try step.ints("labels"))
}

@Suite("tiny BERT against PyTorch: logits, loss and every parameter gradient")
struct TinyBertTests {
    @Test("an unconverted Hugging Face folder loads, and one step matches the PyTorch dump (last layer at every token, or at the first tokens alone; GELU's backward from the kept derivative, or from the pre-activation)",
          arguments: [false, true], [true, false])
    func step(firstTokenLastLayer: Bool, preparesBackward: Bool) throws {
        let checkpoint = try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3)
        #expect(checkpoint.classifierLoaded)
        let step = try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors"))
        let (batch, labels) = try tinyBatch(step)
        let model = BertModel(parameters: checkpoint.parameters)
        model.firstTokenLastLayer = firstTokenLastLayer
        model.preparesBackward = preparesBackward
        model.training = true  // dropout probabilities are 0 in this config
        let logits = model.forward(batch)
        #expect(maxAbs(logits.array, try step.floats("logits")) <= 1e-5)

        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        let loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: 3,
                                        probabilities: &probabilities) / Float(batch.size)
        #expect(abs(loss - (try step.floats("loss"))[0]) <= 1e-5)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: 3,
                              scale: 1 / Float(batch.size), into: &dlogits)

        let gradients = BertParameters(config: checkpoint.config, classes: 3)
        model.backward(dlogits: dlogits, gradients: gradients)
        try expectGradientsMatch(gradients, step)
    }

    @Test("a weight hook sees each matrix's input and output gradient; δᵀ·x equals the full weight gradient",
          arguments: [false, true])
    func weightHook(firstTokenLastLayer: Bool) throws {
        let checkpoint = try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3)
        let step = try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors"))
        let (batch, labels) = try tinyBatch(step)
        let model = BertModel(parameters: checkpoint.parameters)
        model.firstTokenLastLayer = firstTokenLastLayer
        let logits = model.forward(batch)
        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: 3, probabilities: &probabilities)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: 3,
                              scale: 1 / Float(batch.size), into: &dlogits)
        let config = checkpoint.config
        let hooked = BertParameters(config: config, classes: 3, groups: .encoderWeights)
        var calls = 0, lastLayerRows: [Int] = []
        model.backward(dlogits: dlogits, gradients: BertParameters(config: config, classes: 3, groups: [])) { site, layer, x, delta, rows in
            if layer == config.numHiddenLayers - 1 { lastLayerRows.append(rows.rows) }
            let w = hooked[site.name(layer: layer) + ".weight"]
            BLAS.gemm(transA: true, transB: false, m: w.shape[0], n: w.shape[1], k: rows.rows, a: delta, lda: w.shape[0],
                      b: x, ldb: w.shape[1], beta: 1, c: w.data, ldc: w.shape[1])
            calls += 1
        }
        #expect(calls == 6 * config.numHiddenLayers)
        // Pruned: the feed-forward, attention output and query see one row per sequence; keys and values every token.
        #expect(lastLayerRows.filter { $0 == batch.size }.count == (firstTokenLastLayer ? 4 : 0))
        for name in hooked.names {
            #expect(scaledError(hooked[name].array, try step.floats("grad." + name)) <= 1e-4, "\(name)")
        }
    }

    @Test("F16 and BF16 checkpoints load to the values PyTorch gets, and give its logits", arguments: ["f16", "bf16"])
    func halfPrecision(tag: String) throws {
        let file = try SafeTensorsFile(path: try fixturePath("tiny-\(tag).safetensors"))
        let config = try BertConfig.load(path: try fixturePath("tiny/config.json"))
        let checkpoint = try Checkpoint.load(file: file, config: config, classes: 3)
        for name in checkpoint.parameters.names {
            #expect(checkpoint.parameters[name].array == (try file.floats("expected." + name)), "\(name)")
        }
        let step = try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors"))
        let (batch, _) = try tinyBatch(step)
        let logits = BertModel(parameters: checkpoint.parameters).forward(batch)
        #expect(maxAbs(logits.array, try file.floats("expected_logits")) <= 1e-5)
    }
}

@Suite("checkpoint errors")
struct CheckpointErrorTests {
    func tinyBytes() throws -> [UInt8] { try Files.read(try fixturePath("tiny/model.safetensors")) }
    func config() throws -> BertConfig { try BertConfig.load(path: try fixturePath("tiny/config.json")) }

    func loadError(_ bytes: [UInt8], path: String = "test.safetensors") throws -> CheckpointError? {
        do {
            let file = try SafeTensorsFile(bytes: bytes, path: path)
            _ = try Checkpoint.load(file: file, config: try config(), classes: 3)
            return nil
        } catch let error as CheckpointError {
            return error
        }
    }

    /// The tiny checkpoint re-serialised with one tensor changed or dropped.
    func rewritten(_ change: (inout [(name: String, shape: [Int], values: [Float])]) -> Void) throws -> [UInt8] {
        let file = try SafeTensorsFile(bytes: try tinyBytes(), path: "tiny")
        var tensors = try file.entries.keys.sorted().map { (name: $0, shape: file.entries[$0]!.shape, values: try file.floats($0)) }
        change(&tensors)
        var buffers = tensors.map { ContiguousArray($0.values) }
        let pointers = buffers.indices.map { i in buffers[i].withUnsafeBufferPointer { $0 } }
        defer { _ = buffers }
        return safeTensorsBytes(zip(tensors, pointers).map { ($0.0.name, $0.0.shape, $0.1) })
    }

    @Test("truncated, corrupted, wrong-shape and missing-tensor files each give their error")
    func errors() throws {
        let bytes = try tinyBytes()
        let truncated = try loadError(Array(bytes.dropLast(100)))
        #expect(truncated?.description.contains("truncated") == true, "\(String(describing: truncated))")
        var corrupted = bytes
        for i in 8..<40 { corrupted[i] = 0x7B }
        #expect(try loadError(corrupted) == .malformed(path: "test.safetensors", reason: "header is not valid JSON"))
        #expect(try loadError([1, 2, 3]) == .malformed(path: "test.safetensors", reason: "shorter than its 8-byte header length"))

        let wrongShape = try rewritten { tensors in
            let i = tensors.firstIndex { $0.name == "bert.pooler.dense.bias" }!
            tensors[i].shape = [16, 2]
        }
        #expect(try loadError(wrongShape) == .wrongShape(path: "test.safetensors", name: "pooler.dense.bias", expected: [32], found: [16, 2]))
        let missing = try rewritten { $0.removeAll { $0.name == "bert.encoder.layer.1.output.dense.weight" } }
        #expect(try loadError(missing) == .missingTensor(path: "test.safetensors", name: "encoder.layer.1.output.dense.weight"))
    }

    @Test("a truncated zstd checkpoint is an error, not a crash; a missing head is initialised and reported")
    func zstdAndHead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try fixturePath("tiny/config.json"), toPath: directory.path + "/config.json")
        let headless = try rewritten { $0.removeAll { $0.name.hasPrefix("classifier.") } }
        let compressed = Files.compressZstd(headless)
        FileManager.default.createFile(atPath: directory.path + "/model.safetensors.zst", contents: Data(compressed))
        let checkpoint = try Checkpoint.load(directory: directory.path, classes: 3, classifierSeed: 5)
        #expect(!checkpoint.classifierLoaded)
        #expect(checkpoint.parameters["classifier.weight"].array.contains { $0 != 0 })
        FileManager.default.createFile(atPath: directory.path + "/model.safetensors.zst", contents: Data(compressed.dropLast(50)))
        #expect(throws: CheckpointError.self) { try Checkpoint.load(directory: directory.path, classes: 3) }
    }
}

struct MiniLMFixture: Decodable {
    struct Case: Decodable {
        var a: String, b: String?, input_ids: [Int32], cls: [Float], pooled: [Float], mean: [Float]
    }
    var max_length: Int
    var cases: [Case]
}

@Suite("all-MiniLM-L6-v2 against PyTorch")
struct MiniLMTests {
    func load() throws -> (BertModel, any Tokenizer, MiniLMFixture) {
        guard FileManager.default.fileExists(atPath: miniLMDirectory + "/manifest.json") else {
            Issue.record("\(miniLMDirectory) is missing: run `make model` first")
            throw CheckpointError.unreadable(path: miniLMDirectory, reason: "not converted")
        }
        let checkpoint = try Checkpoint.load(directory: miniLMDirectory, classes: 2)
        let tokenizer = try loadTokenizer(directory: miniLMDirectory)
        let fixture = try JSONDecoder().decode(MiniLMFixture.self, from: Data(contentsOf: URL(fileURLWithPath: try fixturePath("minilm.json"))))
        return (BertModel(parameters: checkpoint.parameters), tokenizer, fixture)
    }

    @Test("[CLS], pooler output and masked mean match to 1e-4, one input at a time")
    func vectors() throws {
        let (model, tokenizer, fixture) = try load()
        #expect(fixture.cases.count >= 10)
        for item in fixture.cases {
            let encoding = tokenizer.encode(item.a, pair: item.b, maxLength: fixture.max_length)
            #expect(encoding.inputIds == item.input_ids)
            model.forward(Batch(sequences: [encoding.inputIds], tokenTypes: [encoding.tokenTypeIds], padId: tokenizer.padId))
            let ws = try #require(model.workspace)
            #expect(maxAbs(ws.cls.array, item.cls) <= 1e-4, "\(item.a.prefix(30))")
            #expect(maxAbs(ws.pooled.array, item.pooled) <= 1e-4, "\(item.a.prefix(30))")
            #expect(maxAbs(ws.maskedMean()[0], item.mean) <= 1e-4, "\(item.a.prefix(30))")
        }
    }

    @Test("a padded batch gives the same per-example results as one example at a time (≤ 1e-5)")
    func paddingInvariance() throws {
        let (model, tokenizer, fixture) = try load()
        let encodings = fixture.cases.map { tokenizer.encode($0.a, pair: $0.b, maxLength: fixture.max_length) }
        model.forward(Batch(sequences: encodings.map(\.inputIds), tokenTypes: encodings.map(\.tokenTypeIds), padId: tokenizer.padId))
        let ws = try #require(model.workspace)
        let h = model.config.hiddenSize
        let batchedPooled = ws.pooled.array, batchedCLS = ws.cls.array, batchedMean = ws.maskedMean()
        for (i, encoding) in encodings.enumerated() {
            model.forward(Batch(sequences: [encoding.inputIds], tokenTypes: [encoding.tokenTypeIds], padId: tokenizer.padId))
            let single = try #require(model.workspace)
            #expect(maxAbs(Array(batchedCLS[(i * h)..<((i + 1) * h)]), single.cls.array) <= 1e-5)
            #expect(maxAbs(Array(batchedPooled[(i * h)..<((i + 1) * h)]), single.pooled.array) <= 1e-5)
            #expect(maxAbs(batchedMean[i], single.maskedMean()[0]) <= 1e-5)
        }
    }
}

@Suite("dropout in training mode")
struct DropoutGradientTests {
    /// The tiny model with dropout switched on (its fixture has every probability at 0), with `heads` attention
    /// heads over its 32 hidden units (the weights' shapes do not depend on them): 4 (dₕ 8, attention's products in
    /// OpenBLAS) or 2 (dₕ 16, in `AttentionKernels`).
    func droppingModel(heads: Int = 4) throws -> BertModel {
        let checkpoint = try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3)
        var config = checkpoint.config
        config.numAttentionHeads = heads
        config.hiddenDropoutProb = 0.2
        config.attentionProbsDropoutProb = 0.2
        let parameters = BertParameters(config: config, classes: 3)
        for name in parameters.names { parameters[name].data.update(from: checkpoint.parameters[name].data, count: parameters[name].count) }
        let model = BertModel(parameters: parameters)
        model.training = true
        return model
    }

    /// Mean cross-entropy of one forward under the dropout masks of `seed`.
    func loss(_ model: BertModel, _ batch: Batch, _ labels: [Int32], seed: UInt64) -> (Double, [Float]) {
        model.dropoutGenerator = Xoshiro256(seed: seed)
        let logits = model.forward(batch)
        var probabilities = [Float](repeating: 0, count: logits.count), dlogits = probabilities
        let loss = CrossEntropy.forward(logits: logits.data, labels: labels, rows: batch.size, classes: 3,
                                        probabilities: &probabilities) / Float(batch.size)
        CrossEntropy.backward(probabilities: probabilities, labels: labels, rows: batch.size, classes: 3,
                              scale: 1 / Float(batch.size), into: &dlogits)
        return (Double(loss), dlogits)
    }

    @Test("backward through hidden and attention dropout matches central differences under the same masks (attention in OpenBLAS with 4 heads, in AttentionKernels with 2)",
          arguments: [false, true], [4, 2])
    func gradientThroughDropout(firstTokenLastLayer: Bool, heads: Int) throws {
        let model = try droppingModel(heads: heads)
        model.firstTokenLastLayer = firstTokenLastLayer
        let step = try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors"))
        let (batch, labels) = try tinyBatch(step)
        let seed: UInt64 = 11
        let (base, dlogits) = loss(model, batch, labels, seed: seed)
        model.training = false
        let (evaluation, _) = loss(model, batch, labels, seed: seed)
        model.training = true
        #expect(abs(base - evaluation) > 1e-3, "dropout must change the loss for this test to mean anything")
        _ = loss(model, batch, labels, seed: seed)
        let gradients = BertParameters(config: model.config, classes: 3)
        model.backward(dlogits: dlogits, gradients: gradients)
        // Directional derivatives along random directions over every encoder weight and bias (attention's Q, K, V sit
        // below the attention dropout, the feed-forward weights below the hidden dropouts; the first-token last layer
        // adds V's bias as b_v·Σ p' over the dropped probabilities and Q's through K's bias as b_k·Σ dS).
        var generator = Xoshiro256(seed: 3)
        let names = model.parameters.names.filter { $0.hasPrefix("encoder.") && ($0.hasSuffix(".weight") || $0.hasSuffix(".bias")) }
        for trial in 0..<3 {
            var direction: [String: [Float]] = [:]
            var analytic = 0.0
            for name in names {
                let v = (0..<model.parameters[name].count).map { _ in Float(generator.nextGaussian()) }
                direction[name] = v
                let g = gradients[name].array
                for i in v.indices { analytic += Double(v[i]) * Double(g[i]) }
            }
            func shifted(_ epsilon: Float) -> Double {
                for name in names {
                    let p = model.parameters[name].data, v = direction[name]!
                    for i in v.indices { p[i] += epsilon * v[i] }
                }
                defer {
                    for name in names {
                        let p = model.parameters[name].data, v = direction[name]!
                        for i in v.indices { p[i] -= epsilon * v[i] }
                    }
                }
                return loss(model, batch, labels, seed: seed).0
            }
            let epsilon: Float = 1e-3
            let numeric = (shifted(epsilon) - shifted(-epsilon)) / (2 * Double(epsilon))
            #expect(abs(numeric - analytic) <= 2e-2 * abs(numeric) + 1e-4, "heads \(heads) trial \(trial): analytic \(analytic), numeric \(numeric)")
        }
    }
}

@Suite("FLOP model against the products that run")
struct FLOPModelTests {
    /// Every `BLAS.gemm` of `body`, in FLOPs (2·m·n·k).
    func counted(_ body: () -> Void) -> Double { Double(BLAS.countingProducts(body)) }

    @Test("forward, RGP's backward and the full backward run exactly the FLOPs the model counts", arguments: [false, true])
    func countsWhatRuns(firstTokenLastLayer: Bool) throws {
        let checkpoint = try Checkpoint.load(directory: try fixturePath("tiny"), classes: 3)
        let step = try SafeTensorsFile(path: try fixturePath("tiny-step.safetensors"))
        let (batch, _) = try tinyBatch(step)
        let model = BertModel(parameters: checkpoint.parameters)
        model.headInput = .cls
        model.firstTokenLastLayer = firstTokenLastLayer
        let config = checkpoint.config, b = batch.size, t = batch.length, h = Double(config.hiddenSize)
        // The encoder runs unpadded: each sequence costs what it would alone, at its own length.
        let lengths = (0..<b).map { s in (0..<t).filter { batch.attentionMask[s * t + $0] != 0 }.count }
        #expect(lengths.contains { $0 < t }, "the fixture batch should hold padding")
        func perSequence(_ cost: (FLOPModel, Int) -> Double, _ f: FLOPModel) -> Double { lengths.reduce(0) { $0 + cost(f, $1) } }
        let f = FLOPModel(config: config, firstTokenLastLayer: firstTokenLastLayer)
        let head = 2 * Double(b) * h * 3  // the classifier's product, [B, H]·[H, 3]
        let pooler = 2 * Double(b) * h * h  // the pooler runs in every forward, read or not
        #expect(counted { model.forward(batch) } == perSequence({ $0.forward(batch: 1, length: $1) }, f) + pooler + head)
        let dlogits = [Float](repeating: 0.1, count: b * 3)
        let none = BertParameters(config: config, classes: 3, groups: [])
        #expect(counted { model.backward(dlogits: dlogits, gradients: none) { _, _, _, _, _ in } }
                == perSequence({ $0.backwardData(batch: 1, length: $1, embeddingsFrozen: true) }, f) + head)
        model.forward(batch)
        let all = BertParameters(config: config, classes: 3)
        #expect(counted { model.backward(dlogits: dlogits, gradients: all) }
                == perSequence({ $0.backwardData(batch: 1, length: $1) + $0.weightGradients(batch: 1, length: $1) }, f) + 2 * head)
        #expect(firstTokenLastLayer == (f.forward(batch: b, length: t) < FLOPModel(config: config).forward(batch: b, length: t)))
    }
}
