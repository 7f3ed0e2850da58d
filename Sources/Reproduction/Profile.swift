import Foundation
import GLUE
import Privacy
import RGP
import Training

/// Why a profile could not be read or a grid could not run.
public struct ReproductionError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One layer of settings in a profile: it applies to the cells whose task and method match (nil matches all),
/// in file order, each later layer overriding the earlier ones. Every layer names where its values come from.
public struct SettingsLayer: Decodable, Sendable, Equatable {
    public var task: GLUETask?
    public var method: TrainingMethod?
    /// Where these values come from (a paper, the authors' repository, a measurement here).
    public var source: String
    public var batchSize: Int?
    public var epochs: Double?
    public var lr: Double?
    public var clip: Double?
    public var maxTrain: Int?
    public var maxDev: Int?
    public var maxLength: Int?
    public var rank: Int?
    public var sampling: SamplingKind?
    public var fusedQKV: Bool?
    public var headScale: Double?
    public var carrierSource: CarrierSource?
    public var powerIterations: Int?
    public var reconstruction: Reconstruction?
    public var microBatchTokens: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case task, method, source, batchSize = "batch_size", epochs, lr, clip, maxTrain = "max_train", maxDev = "max_dev"
        case maxLength = "max_length", rank, sampling, fusedQKV = "fused_qkv", headScale = "head_scale"
        case carrierSource = "carrier_source", powerIterations = "power_iterations", reconstruction
        case microBatchTokens = "micro_batch_tokens"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decodeIfPresent(GLUETask.self, forKey: .task)
        method = try c.decodeIfPresent(TrainingMethod.self, forKey: .method)
        source = try c.decode(String.self, forKey: .source)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize)
        epochs = try c.decodeIfPresent(Double.self, forKey: .epochs)
        lr = try c.decodeIfPresent(Double.self, forKey: .lr)
        clip = try c.decodeIfPresent(Double.self, forKey: .clip)
        maxTrain = try c.decodeIfPresent(Int.self, forKey: .maxTrain)
        maxDev = try c.decodeIfPresent(Int.self, forKey: .maxDev)
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank)
        sampling = try c.decodeIfPresent(SamplingKind.self, forKey: .sampling)
        fusedQKV = try c.decodeIfPresent(Bool.self, forKey: .fusedQKV)
        headScale = try c.decodeIfPresent(Double.self, forKey: .headScale)
        carrierSource = try c.decodeIfPresent(CarrierSource.self, forKey: .carrierSource)
        powerIterations = try c.decodeIfPresent(Int.self, forKey: .powerIterations)
        reconstruction = try c.decodeIfPresent(Reconstruction.self, forKey: .reconstruction)
        microBatchTokens = try c.decodeIfPresent(Int.self, forKey: .microBatchTokens)
    }

    func matches(task: GLUETask, method: TrainingMethod) -> Bool {
        (self.task ?? task) == task && (self.method ?? method) == method
    }

    func apply(to c: inout TrainingConfiguration) {
        if let batchSize { c.batchSize = batchSize }
        if let epochs { c.epochs = epochs }
        if let lr { c.learningRate = lr }
        if let clip { c.clip = clip }
        if let maxTrain { c.maxTrain = maxTrain }
        if let maxDev { c.maxDev = maxDev }
        if let maxLength { c.maxLength = maxLength }
        if let rank { c.rank = rank }
        if let sampling { c.sampling = sampling }
        if let fusedQKV { c.fusedQKV = fusedQKV }
        if let headScale { c.headScale = headScale }
        if let carrierSource { c.carrierSource = carrierSource }
        if let powerIterations { c.powerIterations = powerIterations }
        if let reconstruction { c.reconstruction = reconstruction }
        if let microBatchTokens { c.microBatchTokens = microBatchTokens }
    }
}

/// A row group of the results table: one method, at the listed ε values when it is private.
public struct RowSpec: Decodable, Sendable, Equatable {
    public var method: TrainingMethod
    public var epsilons: [Double]?

    enum CodingKeys: String, CodingKey, CaseIterable { case method, epsilons }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decode(TrainingMethod.self, forKey: .method)
        epsilons = try c.decodeIfPresent([Double].self, forKey: .epsilons)
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, model, split, tasks, seeds, delta, accountant, rows, settings, published, notes
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
        let profile: Profile
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

    func validate(path: String) throws {
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
        }
        for (i, layer) in settings.enumerated() {
            let positive: [(String, Double?)] = [("batch_size", layer.batchSize.map(Double.init)), ("epochs", layer.epochs),
                                                 ("lr", layer.lr), ("clip", layer.clip), ("max_train", layer.maxTrain.map(Double.init)), ("max_dev", layer.maxDev.map(Double.init)),
                                                 ("max_length", layer.maxLength.map(Double.init)), ("rank", layer.rank.map(Double.init))]
            for (key, value) in positive where value.map({ !($0 > 0) }) ?? false {
                throw fail("settings[\(i)].\(key) must be positive")
            }
        }
        if Set(cells().map(\.id)).count != cells().count { throw fail("two cells share an id (duplicate rows or seeds)") }
    }

    /// Every configuration of the grid, in a fixed order (task, row, ε, seed).
    public func cells() -> [Cell] {
        var result: [Cell] = []
        for task in tasks {
            for row in rows {
                for epsilon in row.epsilons.map({ $0.map(Optional.some) }) ?? [nil] {
                    for seed in seeds {
                        var c = TrainingConfiguration.authorsDefaults(task: task, method: row.method, model: model)
                        var sources: [String] = []
                        for layer in settings where layer.matches(task: task, method: row.method) {
                            layer.apply(to: &c)
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

    public var label: String {
        switch method {
        case .full: "Full (N.P.)"
        case .lowrank: "RGP (N.P.)"
        case .dpsgd: "DP-SGD (ε = \(formatNumber(epsilon ?? 0)))"
        case .dphead: "DP head-only (ε = \(formatNumber(epsilon ?? 0)))"
        case .rgp: "RGP (ε = \(formatNumber(epsilon ?? 0)))"
        }
    }

    /// The paper's order: non-private rows, then the private baselines, then RGP by ε.
    var order: Int {
        switch method {
        case .full: 0
        case .lowrank: 1
        case .dpsgd: 2
        case .dphead: 3
        case .rgp: 4
        }
    }

    public static func < (a: RowKey, b: RowKey) -> Bool {
        (a.order, a.epsilon ?? 0) < (b.order, b.epsilon ?? 0)
    }
}

/// 8 → "8", 0.5 → "0.5", 1e-05 → "1e-05".
public func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(format: "%g", value)
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
