import Foundation
import Testing
import Training

@Suite("run records")
struct RecordTests {
    @Test("a schema-1 result.json (flat settings, camelCase epoch log) reads into schema 2 and survives a round trip")
    func readsSchemaOne() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/schema1-result.json"))
        let record = try JSONDecoder().decode(RunResult.self, from: data)
        #expect(record.schema == 1)
        #expect(record.settings.method == .rgp && record.settings.task == .sst2 && record.settings.split == .standin)
        #expect(record.settings.batchSize == 1000 && record.settings.learningRate == 0.003 && record.settings.clip == 0.1)
        #expect(record.settings.epsilon == 8 && record.settings.accountant == .prv && record.settings.headScale == 0.1)
        #expect(record.sigma == 0.483551025390625 && record.steps == 67)
        #expect(record.epochs_log.first?.examplesSeen == 67385 && record.epochs_log.first?.epsilonSpent == 7.999641889979694)

        var upgraded = record
        upgraded.schema = RunResult.currentSchema
        let encoded = try JSONEncoder().encode(upgraded)
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(!text.contains("examplesSeen") && text.contains("\"examples_seen\"") && text.contains("\"settings\""))
        let again = try JSONDecoder().decode(RunResult.self, from: encoded)
        #expect(again.settings == record.settings && again.accuracy == record.accuracy && again.epochs_log.count == record.epochs_log.count)
    }

    @Test("a record of a newer schema is refused with a message naming the schema")
    func refusesNewerSchema() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/schema1-result.json"))
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"schema\" : 1", with: "\"schema\" : 99")
        #expect(text.contains("\"schema\" : 99"))
        #expect { try JSONDecoder().decode(RunResult.self, from: Data(text.utf8)) } throws: { "\($0)".contains("result schema 99") }
    }
}

@Suite("method registry")
struct MethodRegistryTests {
    @Test("every registered method has its own name, table position and legend position, and its label says whether it is private")
    func distinct() {
        let all = TrainingMethod.allCases
        #expect(all.map(\.rawValue) == ["full", "lowrank", "dpsgd", "rgp", "dphead"])
        #expect(Set(all.map { $0.facts.tableOrder }).count == all.count)
        #expect(Set(all.map { $0.facts.legendOrder }).count == all.count)
        for method in all {
            #expect(TrainingMethod(rawValue: method.rawValue) == method)
            let label = method.facts.label(epsilon: 8)
            #expect(label.hasSuffix(method.isPrivate ? "(ε = 8)" : "(N.P.)"), "\(label)")
        }
        #expect(TrainingMethod.full.facts.label(epsilon: nil) == "Full (N.P.)")
        #expect(TrainingMethod.lowrank.facts.label(epsilon: nil) == "RGP (N.P.)")
        #expect(TrainingMethod.dphead.facts.label(epsilon: 2) == "DP head-only (ε = 2)")
    }

    @Test("an unknown method name does not decode, and the error lists the registered ones")
    func unknownName() {
        #expect(TrainingMethod(rawValue: "fullest") == nil)
        #expect { try JSONDecoder().decode([TrainingMethod].self, from: Data("[\"fullest\"]".utf8)) } throws: {
            "\($0)".contains("unknown method \"fullest\"") && "\($0)".contains("full, lowrank, dpsgd, rgp, dphead")
        }
    }
}

@Suite("schedules and diagnostics")
struct ScheduleDiagnosticTests {
    @Test("learning-rate schedules: linear reaches 0 at T, constant stays, polynomial with horizon 4000 ends near 0.75 at T 1000")
    func schedules() {
        #expect(LRSchedule.linear.rate(peak: 1, step: 0, steps: 100, horizon: nil) == 1)
        #expect(abs(LRSchedule.linear.rate(peak: 1, step: 99, steps: 100, horizon: nil) - 0.01) < 1e-12)
        #expect(LRSchedule.constant.rate(peak: 3e-3, step: 77, steps: 100, horizon: nil) == 3e-3)
        #expect(abs(LRSchedule.polynomial.rate(peak: 1, step: 999, steps: 1000, horizon: nil) - 0.75025) < 1e-9)
        #expect(LRSchedule.polynomial.rate(peak: 1, step: 5000, steps: 6000, horizon: 4000) == 0)
    }

    @Test("a run records each class's predicted share on dev, summing to 1")
    func predictedShare() throws {
        let result = try trainer(configuration(.full), root: try syntheticGLUE()).run()
        let share = try #require(result.predicted_share)
        #expect(share.count == 2 && abs(share.reduce(0, +) - 1) < 1e-12)
        #expect(result.clipped_fraction == nil)
        #expect(result.dev_majority_share == 0.5)  // the synthetic dev set alternates its two labels
    }
}
