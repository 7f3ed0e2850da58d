import Foundation
import Privacy
import Testing
@testable import Training

@Suite("audited runs", .serialized)
struct AuditedRunTests {
    func audited(_ method: TrainingMethod) -> TrainingConfiguration {
        var c = configuration(method)
        c.auditCanaries = 200
        return c
    }

    @Test("an audited RGP or DP-SGD run records its canaries, guesses and ε lower bound beside the claimed ε, and trains as before",
          arguments: [TrainingMethod.rgp, .dpsgd, .dphead])
    func records(method: TrainingMethod) throws {
        let root = try syntheticGLUE()
        let result = try trainer(audited(method), root: root).run()
        let audit = try #require(result.audit)
        #expect(audit.canaries == 200 && audit.grid.count == 7 && audit.guesses > 0)
        #expect(audit.claimed_epsilon == result.epsilon_spent)
        #expect(audit.epsilon_lower_bound >= 0 && audit.epsilon_lower_bound <= (result.epsilon_spent ?? 0))
        // The canary slice is released and discarded: the model's update is the unaudited run's.
        let plain = try trainer(configuration(method), root: root)
        let audited = try trainer(audited(method), root: root)
        try plain.run()
        try audited.run()
        #expect(parameterArrays(plain) == parameterArrays(audited))
    }

    @Test("a killed and resumed audited run ends with the uninterrupted run's audit")
    func resume() throws {
        let root = try syntheticGLUE()
        let expected = try trainer(audited(.rgp), root: root).run()
        let directory = runDirectory()
        let first = try trainer(audited(.rgp), root: root, directory: directory)
        first.checkpointEvery = 1
        first.stopAfterSteps = 3
        try first.run()
        let resumed = try trainer(audited(.rgp), root: root, directory: directory).run()
        #expect(resumed.audit == expected.audit)
    }

    @Test("an audit needs a private method")
    func nonPrivate() {
        var c = configuration(.full)
        c.auditCanaries = 200
        #expect(runMessage { _ = try trainer(c, root: try syntheticGLUE()) }?.contains("an audit needs a private method") == true)
    }
}
