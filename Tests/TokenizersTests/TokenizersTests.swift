import Crypto
import Foundation
import GLUE
import Testing
import Tokenizers

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let modelDirectory = repositoryRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path
let glueRoot: String = ProcessInfo.processInfo.environment["RGP_GLUE_DIR"]
    ?? repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/glue").path

func fixture(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
        throw TokenizerError.unreadable(path: name, reason: "fixture missing from the test bundle")
    }
    return try Data(contentsOf: url)
}

/// The default checkpoint's tokenizer; `make setup` (or `make model`) converts it into models/.
func miniLMTokenizer() throws -> any Tokenizer {
    guard FileManager.default.fileExists(atPath: modelDirectory + "/vocab.txt") else {
        Issue.record("\(modelDirectory) is missing: run `make model` first")
        throw TokenizerError.noTokenizer(directory: modelDirectory)
    }
    return try loadTokenizer(directory: modelDirectory)
}

struct WordPieceFixture: Decodable {
    struct Case: Decodable, CustomStringConvertible {
        var a: String, b: String?, max_length: Int?, input_ids: [Int32], token_type_ids: [Int32]
        var description: String { "\(a.prefix(40))|\(b?.prefix(20) ?? "")" }
    }
    struct Digest: Decodable { var file: String, rows: Int, max_length: Int, sha256: String }
    var cases: [Case]
    var digests: [String: Digest]
}

func loadWordPieceFixture() throws -> WordPieceFixture {
    try JSONDecoder().decode(WordPieceFixture.self, from: fixture("wordpiece.json"))
}

@Suite("WordPiece against Hugging Face BertTokenizerFast")
struct WordPieceTests {
    @Test("ids and token types of varied inputs, pairs and truncation equal the fixture")
    func fixtureCases() throws {
        let tokenizer = try miniLMTokenizer()
        let fixture = try loadWordPieceFixture()
        #expect(fixture.cases.count >= 30)
        for item in fixture.cases {
            let encoding = tokenizer.encode(item.a, pair: item.b, maxLength: item.max_length)
            #expect(encoding.inputIds == item.input_ids, "\(item)")
            #expect(encoding.tokenTypeIds == item.token_type_ids, "\(item)")
        }
    }

    /// The digest format of data-scripts/make_tokenizer_fixtures.py (`token_id_digest`).
    func digest(_ encodings: [Encoding]) -> String {
        var hasher = SHA256()
        for e in encodings {
            let line = e.inputIds.map(String.init).joined(separator: ",") + "|"
                + e.tokenTypeIds.map(String.init).joined(separator: ",") + "\n"
            hasher.update(data: Data(line.utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    @Test("all of SST-2 dev and MNLI dev_matched hash to Hugging Face's ids", arguments: [
        ("sst2_dev", GLUETask.sst2, "dev.tsv"), ("mnli_dev_matched", GLUETask.mnli, "dev_matched.tsv"),
    ])
    func datasetDigest(name: String, task: GLUETask, file: String) throws {
        let tokenizer = try miniLMTokenizer()
        let expected = try #require(try loadWordPieceFixture().digests[name])
        let split = try GLUELoader.load(task, path: "\(glueRoot)/\(task.directoryName)/\(file)")
        #expect(split.examples.count == expected.rows)
        let encodings = split.examples.map { tokenizer.encode($0.first, pair: $0.second, maxLength: expected.max_length) }
        #expect(digest(encodings) == expected.sha256)
    }

    @Test("longest_first truncation keeps the budget and favours the longer segment")
    func truncation() throws {
        let tokenizer = try miniLMTokenizer()
        let long = String(repeating: "word ", count: 50), short = "tiny"
        let encoding = tokenizer.encode(long, pair: short, maxLength: 20)
        #expect(encoding.inputIds.count == 20)
        #expect(encoding.tokenTypeIds.filter { $0 == 1 }.count == 2, "the short segment and its [SEP] survive")
    }

    @Test("a folder with only vocab.txt is an uncased BERT WordPiece")
    func vocabularyOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vocab-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: modelDirectory + "/vocab.txt", toPath: directory.path + "/vocab.txt")
        let tokenizer = try loadTokenizer(directory: directory.path)
        #expect(tokenizer.encode("Hello, World!") == (try miniLMTokenizer()).encode("Hello, World!"))
    }

    @Test("bad folders and vocabularies give clear errors")
    func errors() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(throws: TokenizerError.noTokenizer(directory: empty.path)) { try loadTokenizer(directory: empty.path) }
        let vocabulary = empty.path + "/vocab.txt"
        try "[PAD]\n[UNK]\nhello\n".write(toFile: vocabulary, atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.missingSpecialToken(token: "[CLS]", path: vocabulary)) {
            try WordPieceTokenizer(vocabularyFile: vocabulary)
        }
        // "bpe" became a known type (byte-level BPE); an unknown one is still refused by name.
        try "{\"tokenizer\": {\"type\": \"wordlevel\", \"file\": \"x\"}}".write(toFile: empty.path + "/config.json", atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.invalidConfig(path: empty.path + "/config.json",
                                                     reason: "unknown tokenizer type \"wordlevel\" (expected wordpiece, sentencepiece, sentencepiece-fairseq or bpe)")) {
            try loadTokenizer(directory: empty.path)
        }
        try "{\"tokenizer\": {\"type\": \"bpe\", \"file\": \"x\"}}".write(toFile: empty.path + "/config.json", atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.self) { try loadTokenizer(directory: empty.path) }  // x: no such vocabulary
    }
}

@Suite("SentencePiece against spm_encode")
struct SentencePieceTests {
    struct Fixture: Decodable {
        struct Case: Decodable { var text: String, ids: [Int32], pieces: [String] }
        var cases: [Case]
    }

    func modelPath() throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/sst2-unigram.model", withExtension: nil) else {
            throw TokenizerError.unreadable(path: "sst2-unigram.model", reason: "fixture missing")
        }
        return url.path
    }

    @Test("ids and pieces equal spm_encode's; decode inverts")
    func fixtureCases() throws {
        let tokenizer = try SentencePieceTokenizer(modelFile: try modelPath())
        let fixture = try JSONDecoder().decode(Fixture.self, from: fixture("sentencepiece.json"))
        #expect(fixture.cases.count >= 10)
        for item in fixture.cases {
            #expect(tokenizer.tokenize(item.text) == item.ids, "\(item.text)")
            #expect(tokenizer.pieces(item.text) == item.pieces, "\(item.text)")
        }
        #expect(tokenizer.decode(tokenizer.tokenize("a gripping film")) == "a gripping film")
    }

    @Test("a folder with only a .model gives raw ids, no specials")
    func modelOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spm-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try modelPath(), toPath: directory.path + "/m.model")
        let tokenizer = try loadTokenizer(directory: directory.path)
        let raw = try SentencePieceTokenizer(modelFile: try modelPath())
        #expect(tokenizer.template == .none)
        #expect(tokenizer.encode("the movie", pair: "was fine").inputIds == raw.tokenize("the movie") + raw.tokenize("was fine"))
    }

    @Test("special tokens wrap segments as the config says (ALBERT-style and XLM-R-style)")
    func templates() throws {
        // The test model's control pieces: <unk> 0, <s> 1, </s> 2.
        let xlmr = try SentencePieceTokenizer(modelFile: try modelPath(), specialTokens: ("<s>", "</s>"))
        let a = xlmr.tokenize("good"), b = xlmr.tokenize("bad")
        #expect(xlmr.encode("good", pair: "bad").inputIds == [1] + a + [2, 2] + b + [2])
        #expect(throws: TokenizerError.missingSpecialToken(token: "[CLS]", path: try modelPath())) {
            try SentencePieceTokenizer(modelFile: try modelPath(), specialTokens: ("[CLS]", "[SEP]"))
        }
    }

    @Test("an unreadable model is an error, not a crash")
    func badModel() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).model").path
        try "not a model".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(modelFile: path) }
    }
}
