import Foundation
import Numerics
import Privacy
import Transformer

/// A training method's name as written in settings, profiles, records and on the command line ("rgp", "dpsgd", …).
/// Only names in `MethodRegistry` decode; everything about a method comes from its plug-in (`plugin`).
public struct TrainingMethod: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// A registered method's name; nil for an unknown one.
    public init?(rawValue: String) {
        guard MethodRegistry.methods.contains(where: { $0.description.name.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// For a plug-in's own constant (no registry look-up, which would be circular).
    init(registering name: String) { rawValue = name }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let method = TrainingMethod(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "unknown method \"\(text)\" (expected one of: \(Self.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        self = method
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Every registered method, in registration order.
    public static var allCases: [TrainingMethod] { MethodRegistry.methods.map { $0.description.name } }

    /// The plug-in that implements this method.
    public var plugin: any TrainingMethodPlugin.Type { MethodRegistry.plugin(self) }
    /// What the method declares about itself.
    public var facts: MethodDescription { plugin.description }
    public var isPrivate: Bool { facts.isPrivate }
    public var usesCarriers: Bool { facts.usesCarriers }
    public var description: String { rawValue }
}

/// What a method declares about itself, for the trainer, the planner, the tables and the plot.
public struct MethodDescription: Sendable {
    public var name: TrainingMethod
    /// Row title in tables ("RGP"); non-private rows get " (N.P.)", private ones " (ε = …)".
    public var displayName: String
    /// One line for `--help`.
    public var summary: String
    public var isPrivate: Bool
    /// Whether it trains through RGP's gradient carriers (records its rank, carrier source, …).
    public var usesCarriers: Bool
    /// Position among the table's rows: non-private rows, then the private baselines, then RGP.
    public var tableOrder: Int
    /// Plot colour and marker ("circle", "square", "diamond", or "dash" for a horizontal reference line), and the
    /// legend position.
    public var plotColor: String
    public var plotMarker: String
    public var legendOrder: Int
    /// Cost model: multiples of one forward pass per training example (GEMM work only).
    public var forwardPassesPerExample: Double
    /// Whether it computes frozen features of the whole training set once (then trains on them).
    public var trainsOnFrozenFeatures: Bool

    /// The table row's label at `epsilon`.
    public func label(epsilon: Double?) -> String {
        isPrivate ? "\(displayName) (ε = \(formatNumber(epsilon ?? 0)))" : "\(displayName) (N.P.)"
    }

    /// The plot legend's label.
    public var legendLabel: String { isPrivate ? displayName : "\(displayName) (N.P.)" }

}

extension TrainingMethodPlugin {
    /// FLOPs of one step on an unpadded micro-batch of sequences of the given lengths: every term of the cost model
    /// is a sum over sequences (linear maps ∝ Lₛ, attention and Gram matrices ∝ Lₛ²), so it is the sum of each
    /// sequence's cost alone.
    public static func stepFLOPs(config: BertConfig, lengths: [Int], rank: Int, head: HeadInput) -> Double {
        var counts: [Int: Int] = [:]
        for length in lengths { counts[length, default: 0] += 1 }
        return counts.reduce(0) { $0 + Double($1.value) * stepFLOPs(config: config, batch: 1, length: $1.key, rank: rank, head: head) }
    }
}

/// One training method: which parameters it trains, what per-example quantity it hands the privacy engine, and how
/// it turns the released sum into an update. One file per method under Methods/, registered in `MethodRegistry`.
public protocol TrainingMethodPlugin: AnyObject {
    static var description: MethodDescription { get }
    /// FLOPs (2·m·n·k per product) of one step on `batch` sequences of `length` tokens each (the step benchmark).
    static func stepFLOPs(config: BertConfig, batch: Int, length: Int, rank: Int, head: HeadInput) -> Double
    init(context: MethodContext) throws
    /// The parameters it changes (saved in checkpoints, in this order).
    var trainableNames: [String] { get }
    /// The scale it applies to the head's per-example gradients inside the joint clip (recorded), or nil when it
    /// clips no per-example head gradient on its own.
    var headScale: Double? { get }
    /// One logical batch at step `step` (0-based); returns the mean training loss (private data: not DP).
    func step(_ indices: [Int], step: Int) -> Double
}
