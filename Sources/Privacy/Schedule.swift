/// How many steps a run takes and at which sampling rate: the one derivation of q, T and steps per epoch that the
/// planner, the trainer, the privacy engine, the run record and the tables all read.
///
/// T = epochs·⌊N/B⌋ (rounded down), so epochs end on whole steps; q = B/N.
public struct Schedule: Sendable, Hashable, Codable {
    /// Training-set size N.
    public let trainSize: Int
    /// Expected (Poisson) or fixed (shuffled) logical batch size B.
    public let batchSize: Int
    public let epochs: Double
    public let sampling: SamplingKind

    public init(trainSize: Int, batchSize: Int, epochs: Double, sampling: SamplingKind) {
        self.trainSize = trainSize
        self.batchSize = batchSize
        self.epochs = epochs
        self.sampling = sampling
    }

    /// q = B/N.
    public var sampleRate: Double { Double(batchSize) / Double(Swift.max(trainSize, 1)) }
    /// What sums are divided by: B (Poisson batches vary around it).
    public var expectedBatchSize: Double { Double(batchSize) }
    /// ⌊N/B⌋, at least 1.
    public var stepsPerEpoch: Int { Swift.max(1, trainSize / Swift.max(batchSize, 1)) }
    /// T = epochs·⌊N/B⌋, at least 1.
    public var totalSteps: Int { Swift.max(1, Int((epochs * Double(stepsPerEpoch)).rounded(.down))) }
    /// Dev evaluations: one per finished epoch, and one at the last step if it ends mid-epoch.
    public var evaluations: Int { totalSteps / stepsPerEpoch + (totalSteps % stepsPerEpoch == 0 ? 0 : 1) }
    /// Whether step `step` (1-based, just taken) ends an epoch or the run.
    public func endsEpoch(afterStep step: Int) -> Bool { step % stepsPerEpoch == 0 || step == totalSteps }
}
