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
