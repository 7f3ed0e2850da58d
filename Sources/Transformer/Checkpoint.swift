import Foundation
import Numerics
import Storage

/// Loading a checkpoint folder into `BertParameters`.
///
/// Accepts the suite's converted folder (`config.json`, `model.safetensors.zst`) and an unconverted Hugging Face
/// folder (`config.json`, `model.safetensors`); names are normalised the same way in both (a `bert.` or `roberta.`
/// prefix dropped, legacy `gamma`/`beta` read as `weight`/`bias`, RoBERTa's head names mapped: `canonicalName`). Every expected tensor is checked for presence and shape; integer
/// tensors and unknown names are ignored and listed. A missing classification head is initialised (seeded).
public struct Checkpoint {
    public var config: BertConfig
    public var parameters: BertParameters
    /// Tensor names in the file that the encoder does not use.
    public var extraTensors: [String]
    /// Whether the classification head came from the file (false: freshly initialised; for RoBERTa, both layers of
    /// fairseq's head).
    public var classifierLoaded: Bool
    /// Whether the pooler's dense layer came from the file (false only for RoBERTa-family checkpoints without fairseq's
    /// head, whose dense layer is then freshly initialised).
    public var poolerLoaded = true
    public var weightsPath: String
    /// How the weights were checked: against manifest.json's SHA-256, or not (an unconverted folder has no manifest).
    public var integrity: String

    /// Canonical name for a stored tensor name.
    ///
    /// RoBERTa and XLM-R: the `roberta.` prefix goes; `classifier.dense` (the dense layer of fairseq's classification
    /// head, RobertaClassificationHead) is held as `pooler.dense` and `classifier.out_proj` as `classifier`; the
    /// Hugging Face pooler (`roberta.pooler`, never trained by fairseq) is not used. Canonical names (the suite's own
    /// checkpoints) map to themselves.
    public static func canonicalName(_ stored: String, family: ModelFamily = .bert) -> String {
        var name = stored
        if family.isRoberta {
            if name.hasPrefix("roberta.pooler.") { return "unused." + name }
            if name.hasPrefix("roberta.") { name = String(name.dropFirst("roberta.".count)) }
            if name.hasPrefix("classifier.dense.") { name = "pooler.dense." + name.dropFirst("classifier.dense.".count) }
            if name.hasPrefix("classifier.out_proj.") { name = "classifier." + name.dropFirst("classifier.out_proj.".count) }
        } else if name.hasPrefix("bert.") {
            name = String(name.dropFirst(5))
        }
        if name.hasSuffix(".gamma") { name = String(name.dropLast(6)) + ".weight" }
        if name.hasSuffix(".beta") { name = String(name.dropLast(5)) + ".bias" }
        return name
    }

    /// The weights file of a folder: `model.safetensors.zst`, else `model.safetensors`.
    public static func weightsPath(in directory: String) throws -> String {
        for name in ["model.safetensors.zst", "model.safetensors"] {
            let path = directory + "/" + name
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw CheckpointError.unreadable(path: directory, reason: "no model.safetensors.zst or model.safetensors")
    }

    /// Loads `directory` for a classifier with `classes` outputs. `weights`, if given, is the folder's weights file
    /// already read and parsed (`weightsFile(in:)`), so that many models built from one checkpoint (a grid's cells)
    /// decompress it once.
    public static func load(directory: String, classes: Int, classifierSeed: UInt64 = 0,
                            weights: SafeTensorsFile? = nil) throws -> Checkpoint {
        let config = try BertConfig.load(path: directory + "/config.json")
        let file = try weights ?? weightsFile(in: directory)
        return try load(file: file, config: config, classes: classes, classifierSeed: classifierSeed)
    }

    /// The folder's weights file, read (decompressed) and parsed; with a manifest.json (a converted checkpoint), its
    /// SHA-256 is verified while decompressing.
    public static func weightsFile(in directory: String) throws -> SafeTensorsFile {
        let manifestPath = directory + "/manifest.json"
        var expected: String?
        if let data = FileManager.default.contents(atPath: manifestPath) {
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let sha = object["sha256"] as? String, sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
                throw CheckpointError.invalidConfig(path: manifestPath, reason: "expected a JSON object with \"sha256\": 64 hex digits")
            }
            expected = sha
        }
        return try SafeTensorsFile(path: weightsPath(in: directory), expectedSHA256: expected)
    }

    /// What a record says of a weights file's integrity.
    public static func integrityNote(_ file: SafeTensorsFile) -> String {
        file.verifiedSHA256.map { "sha256 \($0) verified against manifest.json" }
            ?? "no manifest.json (an unconverted Hugging Face folder): weights not verified against a checksum"
    }

    /// Loads parameters from a parsed safetensors file.
    public static func load(file: SafeTensorsFile, config: BertConfig, classes: Int, classifierSeed: UInt64 = 0) throws -> Checkpoint {
        var stored: [String: String] = [:]  // canonical → stored name
        var extra: [String] = []
        let layout = BertParameters.layout(config: config, classes: classes)
        let known = Set(layout.map(\.name))
        for name in file.entries.keys.sorted() {
            let canonical = canonicalName(name, family: config.family)
            if known.contains(canonical) && file.isFloat(name) { stored[canonical] = name } else { extra.append(name) }
        }
        // Every shape is checked against the file before anything is allocated, so a config.json that disagrees with
        // the weights (more layers, a larger vocabulary) is an error, not an allocation of what it claims.
        var heldLayers = Set<Int>()
        for name in stored.keys where name.hasPrefix("encoder.layer.") {
            if let layer = Int(name.dropFirst("encoder.layer.".count).prefix { $0.isNumber }) { heldLayers.insert(layer) }
        }
        for name in file.entries.keys.map({ canonicalName($0, family: config.family) }) where name.hasPrefix("encoder.layer.") {
            if let layer = Int(name.dropFirst("encoder.layer.".count).prefix { $0.isNumber }) { heldLayers.insert(layer) }
        }
        if let top = heldLayers.max(), top >= config.numHiddenLayers {
            throw CheckpointError.invalidConfig(path: file.path, reason: "config.json declares \(config.numHiddenLayers) layers, "
                                                + "but the weights hold \(top + 1) (encoder.layer.0–\(top))")
        }
        var classifierLoaded = true, poolerLoaded = true
        var copies: [(canonical: String, stored: String)] = []
        for entry in layout {
            guard let name = stored[entry.name] else {
                if entry.group == .classifier {
                    classifierLoaded = false
                    continue
                }
                if entry.group == .pooler && config.family.isRoberta {
                    // fairseq's classification head starts fresh on a pretrained RoBERTa: its dense layer too.
                    poolerLoaded = false
                    continue
                }
                throw CheckpointError.missingTensor(path: file.path, name: entry.name)
            }
            let shape = file.entries[name]?.shape ?? []
            if (entry.group == .classifier || (entry.group == .pooler && config.family.isRoberta)) && shape != entry.shape {
                // A head for another number of classes: start a fresh one (as for a pretrained encoder).
                if entry.group == .classifier { classifierLoaded = false } else { poolerLoaded = false }
                extra.append(name)
                continue
            }
            guard shape == entry.shape else {
                throw CheckpointError.wrongShape(path: file.path, name: entry.name, expected: entry.shape, found: shape)
            }
            copies.append((entry.name, name))
        }
        let parameters = BertParameters(config: config, classes: classes)
        for (canonical, name) in copies {
            let values = try file.floats(name)
            values.withUnsafeBufferPointer { parameters[canonical].data.update(from: $0.baseAddress!, count: values.count) }
        }
        if !classifierLoaded { parameters.initialiseClassifier(seed: classifierSeed) }
        if !poolerLoaded { parameters.initialisePooler(seed: classifierSeed &+ 0x9E37_79B9) }
        return Checkpoint(config: config, parameters: parameters, extraTensors: extra,
                          classifierLoaded: classifierLoaded && poolerLoaded, poolerLoaded: poolerLoaded, weightsPath: file.path,
                          integrity: integrityNote(file))
    }
}
