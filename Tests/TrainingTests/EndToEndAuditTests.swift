import Foundation
import Testing
import Tokenizers
import Training

/// The audit's broken-run check on the real workload: the offline SST-2 RGP cell (MiniLM, ε 8 schedule, B 1000, one
/// epoch) with m = 1000 canaries and σ forced to 0 through the testing switch, which no command reaches. Opt-in (about
/// ten minutes on 2 cores in a release build): `RGP_AUDIT_E2E=../shared/glue swift test -c release -Xswiftc
/// -enable-testing --filter EndToEndAuditTests`; `RGP_AUDIT_E2E_OUT=FILE` keeps the result.json.
@Suite("end-to-end audit (opt-in)")
struct EndToEndAuditTests {
    static let root = ProcessInfo.processInfo.environment["RGP_AUDIT_E2E"]

    @Test("SST-2 RGP with σ forced to 0: the audit measures ε_lb ≥ 4", .enabled(if: root != nil))
    func zeroNoise() throws {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let model = package + "/models/all-MiniLM-L6-v2"
        var c = TrainingConfiguration(task: .sst2, method: .rgp, model: model, batchSize: 1000, epochs: 1, learningRate: 3e-3)
        c.clip = 0.1
        c.accountant = .prv
        c.auditCanaries = 1000
        c.sigmaOverride = 0
        let tokenizer = try loadTokenizer(directory: model)
        let data = try TaskData.load(task: .sst2, root: try #require(Self.root), split: .official, tokenizer: tokenizer,
                                     maxLength: c.maxLength, maxTrain: nil, splitsDirectory: package + "/experiments/splits")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-e2e-\(UUID().uuidString)").path
        let trainer = try Trainer(configuration: c, runDirectory: directory, data: data, tokenizer: tokenizer)
        trainer.allowsZeroNoiseForTesting = true
        trainer.exportsModel = false
        let result = try trainer.run()
        let audit = try #require(result.audit)
        if let out = ProcessInfo.processInfo.environment["RGP_AUDIT_E2E_OUT"] {
            try FileManager.default.copyItem(atPath: directory + "/result.json", toPath: out)
        }
        #expect(audit.epsilon_lower_bound >= 4, "ε_lb \(audit.epsilon_lower_bound), \(audit.correct) of \(audit.guesses)")
        #expect(result.privacy_note?.contains("NOT private") == true && result.epsilon_spent == nil)
    }
}
