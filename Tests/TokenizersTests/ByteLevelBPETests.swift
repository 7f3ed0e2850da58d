import Foundation
import Testing
import Tokenizers

struct BPEFixture: Decodable {
    struct Case: Decodable, CustomStringConvertible {
        var a: String, b: String?, max_length: Int?, input_ids: [Int32]
        var description: String { "\(a.prefix(40))|\(b?.prefix(20) ?? "")" }
    }
    var cases: [Case]
}

func fixturePath(_ name: String) throws -> String {
    guard let url = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
        throw TokenizerError.unreadable(path: name, reason: "fixture missing from the test bundle")
    }
    return url.path
}

@Suite("byte-level BPE against Hugging Face RobertaTokenizerFast")
struct ByteLevelBPETests {
    func tokenizer() throws -> ByteLevelBPETokenizer {
        try ByteLevelBPETokenizer(vocabularyFile: fixturePath("bpe/vocab.json"), mergesFile: fixturePath("bpe/merges.txt"))
    }

    @Test("ids of varied inputs, pairs, special tokens in text and truncation equal the fixture")
    func fixtureCases() throws {
        let tokenizer = try tokenizer()
        let fixture = try JSONDecoder().decode(BPEFixture.self, from: fixture("bpe.json"))
        #expect(fixture.cases.count >= 30)
        for item in fixture.cases {
            let encoding = tokenizer.encode(item.a, pair: item.b, maxLength: item.max_length)
            #expect(encoding.inputIds == item.input_ids, "\(item)")
            #expect(encoding.tokenTypeIds.allSatisfy { $0 == 0 })
        }
        #expect(tokenizer.padId == 1 && tokenizer.template == .roberta(bos: 0, eos: 2))
    }

    @Test("GPT-2's byte table is a bijection onto 256 printable characters")
    func byteTable() throws {
        let symbols = try tokenizer().byteSymbolsForTesting
        #expect(Set(symbols).count == 256 && symbols[Int(UInt8(ascii: "A"))] == "A" && symbols[Int(UInt8(ascii: " "))] == "Ġ")
    }

    @Test("a malformed merges file names the file and the line")
    func malformedMerges() throws {
        let directory = NSTemporaryDirectory() + "/bpe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "#version: 0.2\nĠ t\nthree symbols here\n".write(toFile: directory + "/merges.txt", atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.invalidConfig(path: directory + "/merges.txt",
                                                     reason: "line 3: expected two symbols separated by one space, got \"three symbols here\"")) {
            try ByteLevelBPETokenizer(vocabularyFile: fixturePath("bpe/vocab.json"), mergesFile: directory + "/merges.txt")
        }
        try "{\"a\": 1}".write(toFile: directory + "/vocab.json", atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.missingSpecialToken(token: "<s>", path: directory + "/vocab.json")) {
            try ByteLevelBPETokenizer(vocabularyFile: directory + "/vocab.json", mergesFile: fixturePath("bpe/merges.txt"))
        }
    }
}

@Suite("loading a Hugging Face RoBERTa-style folder")
struct BPELoadingTests {
    @Test("a folder with vocab.json and merges.txt (and a model config without a tokenizer block) loads as byte-level BPE")
    func huggingFaceFolder() throws {
        let directory = NSTemporaryDirectory() + "/roberta-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(atPath: try fixturePath("bpe/" + name), toPath: directory + "/" + name)
        }
        try #"{"model_type": "roberta", "vocab_size": 3000}"#.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let tokenizer = try loadTokenizer(directory: directory)
        #expect(tokenizer is ByteLevelBPETokenizer)
        let fixture = try JSONDecoder().decode(BPEFixture.self, from: fixture("bpe.json"))
        let first = try #require(fixture.cases.first)
        #expect(tokenizer.encode(first.a, pair: first.b, maxLength: first.max_length).inputIds == first.input_ids)
    }
}
