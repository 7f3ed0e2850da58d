/// Where each example's rows lie in a packed activation [rows, ·]: example i owns rows `offsets[i] ..< offsets[i + 1]`.
///
/// The encoder stores a micro-batch unpadded, every sequence's tokens one after another, so per-example quantities
/// (carrier gradients, ghost norms, clipped sums) read each example's rows through these offsets.
public struct ExampleRows: Sendable, Equatable {
    /// `examples + 1` row offsets, from 0 to `rows`.
    public let offsets: [Int]

    /// Examples of the given row counts, in order.
    public init(lengths: [Int]) {
        var offsets = [0]
        offsets.reserveCapacity(lengths.count + 1)
        for length in lengths {
            precondition(length >= 0, "a negative row count")
            offsets.append(offsets[offsets.count - 1] + length)
        }
        self.offsets = offsets
    }

    /// `examples` examples of `length` rows each.
    public init(examples: Int, length: Int) { self.init(lengths: [Int](repeating: length, count: examples)) }

    public var examples: Int { offsets.count - 1 }
    /// Rows of all examples together.
    public var rows: Int { offsets[offsets.count - 1] }
    /// First row of example i.
    public func start(_ i: Int) -> Int { offsets[i] }
    /// Rows of example i.
    public func count(_ i: Int) -> Int { offsets[i + 1] - offsets[i] }
}

extension Parallel {
    /// Calls `body(i, worker)` for every example on up to `workers` threads (worker 0 ..< `workers`, for per-worker
    /// scratch), worker w taking examples w, w + W, w + 2W, …: micro-batches come sorted by length, so interleaving
    /// gives each worker about the same rows (contiguous halves would give one worker every long example). Runs on the
    /// calling thread below `minimumExamples`.
    public static func forEachExample(_ rows: ExampleRows, minimumExamples: Int = 2, _ body: (Int, Int) -> Void) {
        forEachInterleaved(rows.examples, minimum: minimumExamples, body)
    }

    /// Calls `body(i, worker)` for every i in 0..<count, worker w taking i = w, w + W, …; on the calling thread
    /// (worker 0) below `minimum` items or with one worker.
    public static func forEachInterleaved(_ count: Int, minimum: Int = 2, _ body: (Int, Int) -> Void) {
        let workers = Swift.min(Swift.max(1, Parallel.workers), count)
        guard count >= minimum, workers > 1 else {
            for i in 0..<count { body(i, 0) }
            return
        }
        // Each call gets a range of lanes (one lane each when split; all of them when `workerRows` runs on the
        // calling thread, inside an enclosing region); lane w takes items w, w + W, w + 2W, ….
        workerRows(workers, minimumRows: 2) { worker, first, lanes in
            for lane in first..<(first + lanes) {
                var i = lane
                while i < count {
                    body(i, worker)
                    i += workers
                }
            }
        }
    }
}
