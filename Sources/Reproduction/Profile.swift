import Foundation
import GLUE
import Privacy
import Training

/// Why a profile could not be read or a grid could not run.
public struct ReproductionError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One layer of settings in a profile: it applies to the cells whose task and method match (absent matches all; a
/// list matches any of its entries, e.g. `"method": ["rgp", "dpsgd", "dphead"]` for the private rows), in file order,
/// each later layer overriding the earlier ones. Every layer names where its values come from.
///
/// Its other keys are `TrainingConfiguration`'s own (snake_case, as in run.json), so a setting is declared once:
/// applying a layer overwrites those keys of the configuration's JSON and decodes it again.
public struct SettingsLayer: Decodable, Sendable, Equatable {
    /// The tasks it applies to (nil: all).
    public var tasks: [GLUETask]?
    /// The methods it applies to (nil: all).
    public var methods: [TrainingMethod]?
    /// Where these values come from (a paper, the authors' repository, a measurement here).
    public var source: String
    /// The settings it sets, by key.
    public var values: [String: JSONValue]

    /// Keys a layer may set: every setting except those the profile fixes for the whole grid.
    public static let settingKeys: [String] = TrainingConfiguration.CodingKeys.allCases.map(\.stringValue)
        .filter { !["task", "method", "model", "split", "seed", "epsilon", "delta", "accountant", "seeded_noise", "sigma",
                      "allow_large_delta"].contains($0) }
    /// Keys that must be positive numbers.
    static let positiveKeys: Set<String> = ["batch_size", "epochs", "lr", "clip", "max_train", "max_dev", "max_length", "rank"]

    enum MatchKeys: String, CodingKey { case task, method, source }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: ["task", "method", "source"] + Self.settingKeys)
        let c = try decoder.container(keyedBy: MatchKeys.self)
        tasks = try Self.oneOrMany(GLUETask.self, c, .task)
        methods = try Self.oneOrMany(TrainingMethod.self, c, .method)
        source = try c.decode(String.self, forKey: .source)
        let all = try decoder.container(keyedBy: AnyKey.self)
        var values: [String: JSONValue] = [:]
        for key in all.allKeys where Self.settingKeys.contains(key.stringValue) {
            values[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
        }
        self.values = values
    }

    /// A value or a non-empty list of values under `key`.
    static func oneOrMany<T: Decodable>(_: T.Type, _ c: KeyedDecodingContainer<MatchKeys>, _ key: MatchKeys) throws -> [T]? {
        guard c.contains(key) else { return nil }
        if let one = try? c.decode(T.self, forKey: key) { return [one] }
        let many = try c.decode([T].self, forKey: key)
        if many.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "an empty list matches no cell")
        }
        return many
    }

    func matches(task: GLUETask, method: TrainingMethod) -> Bool {
        (tasks?.contains(task) ?? true) && (methods?.contains(method) ?? true)
    }

    func apply(to c: inout TrainingConfiguration) throws {
        if values.isEmpty { return }
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any] else {
            throw ReproductionError("settings: not a JSON object")
        }
        for (key, value) in values { object[key] = value.foundationValue }
        c = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
    }
}

/// A JSON scalar of a settings layer.
public enum JSONValue: Decodable, Sendable, Equatable {
    case number(Double), string(String), bool(Bool), null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else { self = .string(try c.decode(String.self)) }
    }

    var foundationValue: Any {
        switch self {
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? Int(n) as Any : n as Any
        case .string(let s): s
        case .bool(let b): b
        case .null: NSNull()
        }
    }

    var number: Double? { if case .number(let n) = self { n } else { nil } }
}

/// A row group of the results table: one method, at the listed ε values when it is private; optionally only on
/// some of the profile's tasks and with its own seeds (several rows of one method add up to one table row, e.g. more
/// seeds where a claim rests on a difference between rows).
public struct RowSpec: Decodable, Sendable, Equatable {
    public var method: TrainingMethod
    public var epsilons: [Double]?
    /// The tasks this row runs on (all of the profile's when absent).
    public var tasks: [GLUETask]?
    /// Its seeds (the profile's when absent).
    public var seeds: [UInt64]?

    enum CodingKeys: String, CodingKey, CaseIterable { case method, epsilons, tasks, seeds }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decode(TrainingMethod.self, forKey: .method)
        epsilons = try c.decodeIfPresent([Double].self, forKey: .epsilons)
        tasks = try c.decodeIfPresent([GLUETask].self, forKey: .tasks)
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds)
    }
}

/// A published number set beside ours (never mixed into our rows).
public struct PublishedResult: Decodable, Sendable, Equatable {
    public var label: String
    public var citation: String
    public var epsilon: Double?
    /// Accuracy in percent by column key: mnli_m, mnli_mm, qnli, qqp, qqp_f1, sst2, average.
    public var values: [String: Double]
}

/// A noise multiplier the authors published for one of their runs, printed beside ours in the plan.
public struct PublishedSigma: Decodable, Sendable, Equatable {
    public var task: GLUETask
    public var method: TrainingMethod
    public var epsilon: Double
    public var sigma: Double
    public var citation: String
}

/// An experiment profile (experiments/<name>.json): the grid of tasks × rows × seeds and the settings of each cell.
public struct Profile: Decodable, Sendable {
    public var name: String
    public var description: String
    public var model: String
    public var split: SplitChoice
    public var tasks: [GLUETask]
    public var seeds: [UInt64]
    public var delta: Double
    public var accountant: AccountantKind
    public var rows: [RowSpec]
    public var settings: [SettingsLayer]
    public var published: [PublishedResult]
    /// Free-text notes printed under the tables (data stand-ins, schedule reductions, …).
    public var notes: [String]
    /// The authors' own σ for cells of this profile, where they published it (`published_sigmas`).
    public var publishedSigmas: [PublishedSigma]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, model, split, tasks, seeds, delta, accountant, rows, settings, published, notes
        case publishedSigmas = "published_sigmas"
    }

    /// The authors' σ for a cell's task, method and ε, if published.
    public func publishedSigma(for c: TrainingConfiguration) -> PublishedSigma? {
        publishedSigmas.first { $0.task == c.task && $0.method == c.method && $0.epsilon == c.epsilon }
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        model = try c.decode(String.self, forKey: .model)
        split = try c.decode(SplitChoice.self, forKey: .split)
        tasks = try c.decode([GLUETask].self, forKey: .tasks)
        seeds = try c.decode([UInt64].self, forKey: .seeds)
        delta = try c.decode(Double.self, forKey: .delta)
        accountant = try c.decode(AccountantKind.self, forKey: .accountant)
        rows = try c.decode([RowSpec].self, forKey: .rows)
        settings = try c.decode([SettingsLayer].self, forKey: .settings)
        published = try c.decodeIfPresent([PublishedResult].self, forKey: .published) ?? []
        notes = try c.decodeIfPresent([String].self, forKey: .notes) ?? []
        publishedSigmas = try c.decodeIfPresent([PublishedSigma].self, forKey: .publishedSigmas) ?? []
    }

    /// Reads a profile by name (experiments/<name>.json) or by path; errors name the file and the JSON path.
    public static func load(_ nameOrPath: String, experimentsDirectory: String = "experiments") throws -> Profile {
        let path = nameOrPath.hasSuffix(".json") ? nameOrPath : experimentsDirectory + "/" + nameOrPath + ".json"
        guard let data = FileManager.default.contents(atPath: path) else {
            let available = ((try? FileManager.default.contentsOfDirectory(atPath: experimentsDirectory)) ?? [])
                .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
            throw ReproductionError("\(path): no such profile (available: \(available.joined(separator: ", ")))")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> Profile {
        var profile: Profile
        do {
            profile = try JSONDecoder().decode(Profile.self, from: data)
        } catch let error as DecodingError {
            throw ReproductionError("\(path): \(describe(error))")
        } catch let error as ReproductionError {
            throw ReproductionError("\(path): \(error.description)")
        }
        try profile.validate(path: path)
        return profile
    }

    mutating func validate(path: String) throws {
        func fail(_ message: String) -> ReproductionError { ReproductionError("\(path): \(message)") }
        if tasks.isEmpty || seeds.isEmpty || rows.isEmpty { throw fail("tasks, seeds and rows must be non-empty") }
        if !(delta > 0 && delta < 1) { throw fail("delta must lie in (0, 1), got \(delta)") }
        for (i, row) in rows.enumerated() {
            if row.method.isPrivate {
                guard let epsilons = row.epsilons, !epsilons.isEmpty, epsilons.allSatisfy({ $0 > 0 }) else {
                    throw fail("rows[\(i)] (\(row.method.rawValue)) is private: expected \"epsilons\", a list of positive numbers")
                }
            } else if row.epsilons != nil {
                throw fail("rows[\(i)] (\(row.method.rawValue)) is not private: it takes no \"epsilons\"")
            }
            if let rowTasks = row.tasks, rowTasks.isEmpty || !rowTasks.allSatisfy(tasks.contains) {
                throw fail("rows[\(i)].tasks must be a non-empty subset of the profile's tasks \(tasks.map(\.rawValue))")
            }
            if let rowSeeds = row.seeds, rowSeeds.isEmpty { throw fail("rows[\(i)].seeds must be non-empty") }
        }
        for (i, layer) in settings.enumerated() {
            // Types first, each layer on its own, so the message names the layer.
            var probe = TrainingConfiguration.authorsDefaults(task: tasks[0], method: rows[0].method, model: model)
            do { try layer.apply(to: &probe) } catch let error as DecodingError { throw fail("settings[\(i)].\(describe(error))") }
            for (key, value) in layer.values.sorted(by: { $0.key < $1.key }) where SettingsLayer.positiveKeys.contains(key) {
                guard let number = value.number, number > 0 else { throw fail("settings[\(i)].\(key) must be positive") }
            }
        }
        let cells: [Cell]
        do {
            cells = try buildCells()
        } catch let error as DecodingError {
            throw fail("settings: \(describe(error))")
        }
        if Set(cells.map(\.id)).count != cells.count { throw fail("two cells share an id (duplicate rows or seeds)") }
        gridCells = cells
    }

    /// Every configuration of the grid, in a fixed order (task, row, ε, seed).
    public func cells() -> [Cell] { gridCells }

    /// Built once, when the profile is read (a layer's value of the wrong type is an error then).
    var gridCells: [Cell] = []

    func buildCells() throws -> [Cell] {
        var result: [Cell] = []
        for task in tasks {
            for row in rows where row.tasks?.contains(task) ?? true {
                for epsilon in row.epsilons.map({ $0.map(Optional.some) }) ?? [nil] {
                    for seed in row.seeds ?? seeds {
                        var c = TrainingConfiguration.authorsDefaults(task: task, method: row.method, model: model)
                        var sources: [String] = []
                        for layer in settings where layer.matches(task: task, method: row.method) {
                            try layer.apply(to: &c)
                            sources.append(layer.source)
                        }
                        c.epsilon = epsilon
                        c.delta = delta
                        c.accountant = accountant
                        c.split = split
                        c.seed = seed
                        result.append(Cell(configuration: c, sources: sources))
                    }
                }
            }
        }
        return result
    }
}

/// One run of the grid.
public struct Cell: Sendable {
    public var configuration: TrainingConfiguration
    /// The sources of the settings layers that shaped it.
    public var sources: [String]

    public var task: GLUETask { configuration.task }
    public var method: TrainingMethod { configuration.method }
    public var epsilon: Double? { configuration.epsilon }
    public var seed: UInt64 { configuration.seed }

    /// Whether `record` is a finished run of this cell as the profile now defines it: made with exactly its settings
    /// (an audited run may add canaries). A record made under older settings never stands in for the cell.
    public func isFinishedRun(_ record: RunResult, audited: Bool = false) -> Bool {
        var settings = record.settings
        if audited { settings.auditCanaries = configuration.auditCanaries }
        return record.finished && settings == configuration
    }

    /// Stable directory and record name, e.g. `sst2-rgp-eps8-seed0`.
    public var id: String {
        "\(task.rawValue)-\(method.rawValue)" + (epsilon.map { "-eps" + formatNumber($0) } ?? "") + "-seed\(seed)"
    }

    /// The table row this cell belongs to.
    public var rowKey: RowKey { RowKey(method: method, epsilon: epsilon) }
}

/// A row of the results table: a method and, for private methods, an ε.
public struct RowKey: Hashable, Sendable, Comparable {
    public var method: TrainingMethod
    public var epsilon: Double?

    public init(method: TrainingMethod, epsilon: Double?) {
        self.method = method
        self.epsilon = epsilon
    }

    public var label: String { method.facts.label(epsilon: epsilon) }

    /// The paper's order: non-private rows, then the private baselines, then RGP by ε (each method's `tableOrder`).
    var order: Int { method.facts.tableOrder }

    public static func < (a: RowKey, b: RowKey) -> Bool {
        (a.order, a.epsilon ?? 0) < (b.order, b.epsilon ?? 0)
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

func rejectUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
    if let first = unknown.first {
        let path = (decoder.codingPath.map(pathComponent) + [first]).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        throw ReproductionError("\(path): unknown key (expected one of: \(known.joined(separator: ", ")))")
    }
}

func pathComponent(_ key: any CodingKey) -> String {
    key.intValue.map { "[\($0)]" } ?? key.stringValue
}

func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let text = context.codingPath.map(pathComponent).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        return text.isEmpty ? "top level" : text
    }
    switch error {
    case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
    case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), found null"
    case .keyNotFound(let key, let context):
        return "\(path(context)): missing key \"\(key.stringValue)\""
    case .dataCorrupted(let context):
        let underlying = (context.underlyingError as NSError?).map { " (\($0.localizedDescription))" } ?? ""
        return "\(path(context)): \(context.debugDescription)\(underlying)"
    @unknown default: return "\(error)"
    }
}
