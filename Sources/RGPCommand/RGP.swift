import ArgumentParser

@main
struct RGP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rgp",
        abstract: "Differentially private fine-tuning of BERT-family models by reparametrized gradient perturbation.",
        subcommands: [Tokenize.self, Encode.self, DataCommand.self, AccountantCommand.self, Bench.self]
    )
}
