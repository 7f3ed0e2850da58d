import Foundation
import Numerics
import Storage

/// Loading a checkpoint folder into `BertParameters`.
///
/// Accepts the suite's converted folder (`config.json`, `model.safetensors.zst`) and an unconverted Hugging Face
/// folder (`config.json`, `model.safetensors`); names are normalised the same way in both (a `bert.` prefix dropped,
/// legacy `gamma`/`beta` read as `weight`/`bias`). Every expected tensor is checked for presence and shape; integer
/// tensors and unknown names are ignored and listed. A missing classification head is initialised (seeded).
public struct Checkpoint {
    public var config: BertConfig
    public var parameters: BertParameters
    /// Tensor names in the file that the encoder does not use.
    public var extraTensors: [String]
    /// Whether the classification head came from the file (false: freshly initialised).
    public var classifierLoaded: Bool
    public var weightsPath: String

    /// Canonical name for a stored tensor name.
    public static func canonicalName(_ stored: String) -> String {
        var name = stored.hasPrefix("bert.") ? String(stored.dropFirst(5)) : stored
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

    /// The folder's weights file, read (decompressed) and parsed.
    public static func weightsFile(in directory: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: weightsPath(in: directory))
    }

    /// Loads parameters from a parsed safetensors file.
    public static func load(file: SafeTensorsFile, config: BertConfig, classes: Int, classifierSeed: UInt64 = 0) throws -> Checkpoint {
        var stored: [String: String] = [:]  // canonical → stored name
        var extra: [String] = []
        let layout = BertParameters.layout(config: config, classes: classes)
        let known = Set(layout.map(\.name))
        for name in file.entries.keys.sorted() {
            let canonical = canonicalName(name)
            if known.contains(canonical) && file.isFloat(name) { stored[canonical] = name } else { extra.append(name) }
        }
        let parameters = BertParameters(config: config, classes: classes)
        var classifierLoaded = true
        for entry in layout {
            guard let name = stored[entry.name] else {
                if entry.group == .classifier {
                    classifierLoaded = false
                    continue
                }
                throw CheckpointError.missingTensor(path: file.path, name: entry.name)
            }
            let shape = file.entries[name]!.shape
            if entry.group == .classifier && shape != entry.shape {
                // A head for another number of classes: start a fresh one (as for a pretrained encoder).
                classifierLoaded = false
                extra.append(name)
                continue
            }
            guard shape == entry.shape else {
                throw CheckpointError.wrongShape(path: file.path, name: entry.name, expected: entry.shape, found: shape)
            }
            let values = try file.floats(name)
            values.withUnsafeBufferPointer { parameters[entry.name].data.update(from: $0.baseAddress!, count: values.count) }
        }
        if !classifierLoaded { parameters.initialiseClassifier(seed: classifierSeed) }
        return Checkpoint(config: config, parameters: parameters, extraTensors: extra,
                          classifierLoaded: classifierLoaded, weightsPath: file.path)
    }
}
