import ArgumentParser

/// The `rgp` command and its subcommands.
public struct RGPTool: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rgp",
        abstract: "Differentially private fine-tuning of BERT-family models by reparametrized gradient perturbation.",
        subcommands: [Finetune.self, Evaluate.self, Tokenize.self, Encode.self, DataCommand.self, AccountantCommand.self, Bench.self,
                      Reproduce.self, AuditCommand.self, SelfTest.self]
    )
    public init() {}
}
