/// A padded batch of token sequences: B sequences of length T (the longest in the batch), row-major.
public struct Batch: Sendable {
    public var size: Int
    public var length: Int
    public var inputIds: [Int32]
    public var tokenTypeIds: [Int32]
    /// 1 for a real token, 0 for padding.
    public var attentionMask: [Float]

    /// Pads each sequence with `padId` (segment 0, mask 0) to the longest one, or to `length` if given.
    public init(sequences: [[Int32]], tokenTypes: [[Int32]], padId: Int32, length: Int? = nil) {
        precondition(sequences.count == tokenTypes.count)
        let longest = sequences.map(\.count).max() ?? 0
        let t = Swift.max(length ?? longest, 1)
        precondition(longest <= t, "a sequence is longer than the batch length \(t)")
        size = sequences.count
        self.length = t
        inputIds = [Int32](repeating: padId, count: size * t)
        tokenTypeIds = [Int32](repeating: 0, count: size * t)
        attentionMask = [Float](repeating: 0, count: size * t)
        for (b, sequence) in sequences.enumerated() {
            precondition(sequence.count == tokenTypes[b].count, "ids and segment ids differ in length")
            for (i, id) in sequence.enumerated() {
                inputIds[b * t + i] = id
                tokenTypeIds[b * t + i] = tokenTypes[b][i]
                attentionMask[b * t + i] = 1
            }
        }
    }

    /// Number of token positions, padding included.
    public var tokens: Int { size * length }

    /// The sequences at `rows`, in that order, at the same padded length.
    public func rows(_ rows: [Int]) -> Batch {
        var batch = self
        batch.size = rows.count
        batch.inputIds = rows.flatMap { inputIds[($0 * length)..<(($0 + 1) * length)] }
        batch.tokenTypeIds = rows.flatMap { tokenTypeIds[($0 * length)..<(($0 + 1) * length)] }
        batch.attentionMask = rows.flatMap { attentionMask[($0 * length)..<(($0 + 1) * length)] }
        return batch
    }
}
