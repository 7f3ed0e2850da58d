import ArgumentParser
import Foundation
import Tokenizers
import Numerics
import Training
import Transformer

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode a text (or pair) with a checkpoint: last-layer [CLS] (RoBERTa: <s>), pooler output and masked mean.",
        discussion: """
        BERT, RoBERTa and XLM-R checkpoints, converted or unconverted Hugging Face folders (model_type in config.json \
        selects the family). The pooler output is left out where the checkpoint holds no trained pooler (a RoBERTa \
        without fairseq's classification head).
        """
    )

    @Option(help: "Checkpoint folder (converted, or an unconverted Hugging Face folder).") var model: String
    @Option(help: "Second segment of a pair.") var pair: String?
    @Option(help: "Truncate to this many tokens (longest_first; default: every position the model has, at most 512).")
    var maxLength: Int?
    @Option(help: "Cores: elementwise workers and split GEMMs (OpenBLAS on one thread; RGP_OPENBLAS_THREADING=1 for its own).") var threads: Int = 2
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The text.") var text: String

    struct Output: Encodable {
        var input_ids: [Int32]
        var cls: [Float]
        var pooled: [Float]?
        var mean: [Float]
        var model_type: String
    }

    func run() throws {
        try useThreads(threads)
        let tokenizer = try loadTokenizer(directory: model)
        let checkpoint = try Checkpoint.load(directory: model, classes: 2)
        let maxLength = maxLength ?? min(512, checkpoint.config.maxSequenceLength)
        try checkCompatibility(tokenizer: tokenizer, config: checkpoint.config, maxLength: maxLength, model: model)
        let encoding = tokenizer.encode(text, pair: pair, maxLength: maxLength)
        let encoder = BertModel(parameters: checkpoint.parameters)
        encoder.forward(Batch(sequences: [encoding.inputIds], tokenTypes: [encoding.tokenTypeIds], padId: tokenizer.padId))
        guard let ws = encoder.workspace else { return }
        let pooled = checkpoint.poolerLoaded && checkpoint.config.poolerTrained != false ? ws.pooled.array : nil
        let output = Output(input_ids: encoding.inputIds, cls: ws.cls.array, pooled: pooled, mean: ws.maskedMean()[0],
                            model_type: checkpoint.config.family.rawValue)
        if json {
            try printJSON(output)
        } else {
            print("tokens: \(encoding.inputIds.count)")
            print("cls[0..<8]:    \(output.cls.prefix(8).map { format(Double($0), digits: 5) })")
            print("model_type:    \(output.model_type)")
            if let pooled = output.pooled {
                print("pooled[0..<8]: \(pooled.prefix(8).map { format(Double($0), digits: 5) })")
            } else {
                print("pooled:        none (the checkpoint holds no trained pooler)")
            }
            print("mean[0..<8]:   \(output.mean.prefix(8).map { format(Double($0), digits: 5) })")
        }
    }
}
