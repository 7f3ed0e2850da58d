import ArgumentParser
import Foundation
import Tokenizers
import Numerics
import Training
import Transformer

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode a text (or pair) with a checkpoint: last-layer [CLS], pooler output and masked mean."
    )

    @Option(help: "Checkpoint folder (converted, or an unconverted Hugging Face folder).") var model: String
    @Option(help: "Second segment of a pair.") var pair: String?
    @Option(help: "Truncate to this many tokens (longest_first).") var maxLength: Int = 512
    @Option(help: "OpenBLAS threads and elementwise workers.") var threads: Int = 2
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The text.") var text: String

    struct Output: Encodable {
        var input_ids: [Int32]
        var cls: [Float]
        var pooled: [Float]
        var mean: [Float]
    }

    func run() throws {
        try useThreads(threads)
        let tokenizer = try loadTokenizer(directory: model)
        let checkpoint = try Checkpoint.load(directory: model, classes: 2)
        try checkCompatibility(tokenizer: tokenizer, config: checkpoint.config, maxLength: maxLength, model: model)
        let encoding = tokenizer.encode(text, pair: pair, maxLength: maxLength)
        let encoder = BertModel(parameters: checkpoint.parameters)
        encoder.forward(Batch(sequences: [encoding.inputIds], tokenTypes: [encoding.tokenTypeIds], padId: tokenizer.padId))
        guard let ws = encoder.workspace else { return }
        let output = Output(input_ids: encoding.inputIds, cls: ws.cls.array, pooled: ws.pooled.array, mean: ws.maskedMean()[0])
        if json {
            try printJSON(output)
        } else {
            print("tokens: \(encoding.inputIds.count)")
            print("cls[0..<8]:    \(output.cls.prefix(8).map { format(Double($0), digits: 5) })")
            print("pooled[0..<8]: \(output.pooled.prefix(8).map { format(Double($0), digits: 5) })")
            print("mean[0..<8]:   \(output.mean.prefix(8).map { format(Double($0), digits: 5) })")
        }
    }
}
