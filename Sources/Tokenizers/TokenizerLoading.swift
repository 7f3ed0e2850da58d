import Foundation
import Storage

/// Builds the tokenizer a checkpoint folder asks for.
///
/// In order: `config.json` with a `tokenizer` block (`type` wordpiece|sentencepiece|sentencepiece-fairseq|bpe, `file`, `do_lower_case`,
/// `special_tokens`); else `sentencepiece.bpe.model` (a Hugging Face XLM-R folder: fairseq's ids); else `vocab.json`
/// with `merges.txt` (a Hugging Face RoBERTa/GPT-2 folder: byte-level BPE); else
/// a lone `vocab.txt` (uncased BERT WordPiece); else a lone `.model` (raw SentencePiece ids, no specials).
public func loadTokenizer(directory: String) throws -> any Tokenizer {
    let fileManager = FileManager.default
    var isDirectory: ObjCBool = false
    guard fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw TokenizerError.unreadable(path: directory, reason: fileManager.fileExists(atPath: directory)
                                        ? "is a file, expected a checkpoint folder" : "does not exist")
    }
    let configPath = directory + "/config.json"
    if fileManager.fileExists(atPath: configPath) {
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw TokenizerError.unreadable(path: configPath, reason: Files.unreadableReason(configPath))
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) else {
            throw TokenizerError.invalidConfig(path: configPath, reason: "not valid JSON")
        }
        if let config = object as? [String: Any], let block = config["tokenizer"] {
            return try tokenizer(from: block, directory: directory, configPath: configPath)
        }
    }
    // XLM-R's Hugging Face folder: its SentencePiece model under this name, ids in fairseq's order.
    if fileManager.fileExists(atPath: directory + "/sentencepiece.bpe.model") {
        return try SentencePieceTokenizer(xlmRobertaModelFile: directory + "/sentencepiece.bpe.model")
    }
    if fileManager.fileExists(atPath: directory + "/vocab.json") && fileManager.fileExists(atPath: directory + "/merges.txt") {
        return try ByteLevelBPETokenizer(vocabularyFile: directory + "/vocab.json", mergesFile: directory + "/merges.txt")
    }
    if fileManager.fileExists(atPath: directory + "/vocab.txt") {
        return try WordPieceTokenizer(vocabularyFile: directory + "/vocab.txt", lowercase: true)
    }
    let models = ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".model") }
    if models.count == 1 {
        return try SentencePieceTokenizer(modelFile: directory + "/" + models[0])
    }
    throw TokenizerError.noTokenizer(directory: directory)
}

private func tokenizer(from block: Any, directory: String, configPath: String) throws -> any Tokenizer {
    guard let block = block as? [String: Any] else {
        throw TokenizerError.invalidConfig(path: configPath, reason: "`tokenizer` must be an object")
    }
    guard let type = block["type"] as? String, let file = block["file"] as? String else {
        throw TokenizerError.invalidConfig(path: configPath, reason: "`tokenizer` needs string fields `type` and `file`")
    }
    let lowercase = block["do_lower_case"] as? Bool ?? (type == "wordpiece")
    let specials = block["special_tokens"] as? [String: Any] ?? [:]
    func special(_ key: String, _ fallback: String) -> String { specials[key] as? String ?? fallback }
    switch type {
    case "wordpiece":
        var names = WordPieceTokenizer.SpecialTokens()
        names.cls = special("cls_token", names.cls)
        names.sep = special("sep_token", names.sep)
        names.pad = special("pad_token", names.pad)
        names.unk = special("unk_token", names.unk)
        names.mask = special("mask_token", names.mask)
        return try WordPieceTokenizer(vocabularyFile: directory + "/" + file, lowercase: lowercase, specialTokens: names)
    case "sentencepiece":
        let pair = specials.isEmpty ? nil : (special("cls_token", "[CLS]"), special("sep_token", "[SEP]"))
        return try SentencePieceTokenizer(modelFile: directory + "/" + file, lowercase: lowercase, specialTokens: pair)
    case "sentencepiece-fairseq":
        // XLM-R: the SentencePiece model with fairseq's ids (what the converter writes for sentencepiece.bpe.model).
        return try SentencePieceTokenizer(xlmRobertaModelFile: directory + "/" + file)
    case "bpe":
        // `file` is the vocabulary (vocab.json); the merges sit beside it as merges.txt unless `merges` names them.
        let merges = block["merges"] as? String ?? "merges.txt"
        return try ByteLevelBPETokenizer(vocabularyFile: directory + "/" + file, mergesFile: directory + "/" + merges)
    default:
        throw TokenizerError.invalidConfig(path: configPath, reason: "unknown tokenizer type \"\(type)\" (expected wordpiece, sentencepiece, sentencepiece-fairseq or bpe)")
    }
}
