import ArgumentParser
import Foundation
import Tokenizers

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Token ids and segment ids of a text (or pair) with the checkpoint's own tokenizer."
    )

    @Option(help: "Checkpoint folder (config.json with a tokenizer block, or just a vocab.txt or a .model).")
    var model: String
    @Option(help: "Second segment of a pair.") var pair: String?
    @Option(help: "Truncate to this many ids in total (longest_first).") var maxLength: Int?
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The text.") var text: String

    func run() throws {
        let tokenizer = try loadTokenizer(directory: model)
        let encoding = tokenizer.encode(text, pair: pair, maxLength: maxLength)
        if json {
            try printJSON(["input_ids": encoding.inputIds, "token_type_ids": encoding.tokenTypeIds])
        } else {
            print(encoding.inputIds.map(String.init).joined(separator: " "))
            print(encoding.tokenTypeIds.map(String.init).joined(separator: " "))
        }
    }
}

/// Prints a JSON object with sorted keys on one line.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
