import CLAPACKE
import Numerics
import Transformer

/// Where the carriers' subspace comes from.
public enum CarrierSource: String, Sendable, Codable, CaseIterable {
    /// The current weight W_t (the authors' code).
    case weight
    /// The update accumulated since fine-tuning began, W_t − W_0 (the paper); W_t at the start, when it is zero.
    case history
}

/// How a carrier gradient becomes an update of W.
public enum Reconstruction: String, Sendable, Codable, CaseIterable {
    /// ΔW = ∂L·R + L·∂R − L·Lᵀ·∂L·R: the projection of the gradient onto the carriers' subspaces.
    case projection
    /// ΔW = ∂L·R + L·∂R + L·Lᵀ·∂L·R, with the sign of the RGP authors' code.
    case reference
}

/// One reparametrized matrix W ∈ ℝ^{P×d} (or Q, K and V stacked, P = 3h) with gradient carriers L ∈ ℝ^{P×r},
/// R ∈ ℝ^{r×d}, and its per-example carrier gradients for the current micro-batch.
///
/// Per example i the layout is [∂L_i (P×r) | ∂R_i (r×d)], built from the layer input x_i (T×d) and output gradient
/// δ_i (T×P) without ever forming the P×d matrix δ_iᵀ·x_i:  ∂R_i = (δ_i·L)ᵀ·x_i,  ∂L_i = δ_iᵀ·(x_i·Rᵀ).
public final class CarrierGroup: @unchecked Sendable {
    public let layer: Int
    /// Stacked sites, top to bottom (one, or query/key/value when fused).
    public let members: [LinearSite]
    public let memberRows: [Int]
    public let rows: Int
    public let columns: Int
    public let rank: Int
    /// L [P, r] and R [r, d].
    public let left: Tensor
    public let right: Tensor
    /// Per-example carrier gradients [capacity, P·r + r·d].
    public private(set) var perExample: Tensor
    /// Clipped (and later noised) sum over the logical batch [P·r + r·d]: its own buffer, or a view into the
    /// privacy engine's flat sum (`bind(sum:)`).
    public private(set) var sum: Tensor
    private var scratchLeft: Tensor   // δ·L_m  [N, r] (rank > 1)
    private var scratchRight: Tensor  // x·Rᵀ   [N, r] (rank > 1)
    /// ∂L ∓ L·(Lᵀ·∂L) [P, r], the left factor of ΔW (`reconstructionFactors`).
    private let combined: Tensor
    private var seenMembers = 0

    public var perExampleSize: Int { rows * rank + rank * columns }

    public init(layer: Int, members: [LinearSite], config: BertConfig, rank: Int) {
        precondition(rank >= 1)
        self.layer = layer
        self.members = members
        let shapes = members.map { $0.shape(config) }
        precondition(Set(shapes.map(\.1)).count == 1, "stacked matrices must share their input width")
        memberRows = shapes.map(\.0)
        rows = memberRows.reduce(0, +)
        columns = shapes[0].1
        self.rank = rank
        left = Tensor(zeros: [rows, rank])
        right = Tensor(zeros: [rank, columns])
        combined = Tensor(zeros: [rows, rank])
        perExample = Tensor(zeros: [0])
        sum = Tensor(zeros: [rows * rank + rank * columns])
        scratchLeft = Tensor(zeros: [0])
        scratchRight = Tensor(zeros: [0])
    }

    func weights(_ parameters: BertParameters) -> [Tensor] {
        members.map { parameters[$0.name(layer: layer) + ".weight"] }
    }

    private func memberOffset(_ index: Int) -> Int { memberRows[..<index].reduce(0, +) }

    // MARK: Carriers by power iteration

    /// L = orth(M·R₀), then `iterations` rounds of R = orth(Mᵀ·L)ᵀ (and L = orth(M·Rᵀ) between rounds), with M the
    /// stacked weights or their change since `initial`. R₀ ~ N(0, 1) from `generator`. `scratch` holds W − W₀ (the
    /// groups of a run share one, so that a step neither allocates nor faults in a weight-sized buffer per group).
    public func computeCarriers<G: RandomNumberGenerator>(
        parameters: BertParameters, initial: BertParameters?, source: CarrierSource, iterations: Int, generator: inout G,
        scratch: GrowingBuffer = GrowingBuffer()
    ) {
        var matrices = weights(parameters)
        if source == .history, let initial {
            let buffer = scratch.reserve(matrices.reduce(0) { $0 + $1.count })
            var offset = 0
            let deltas = zip(matrices, weights(initial)).map { current, start -> Tensor in
                let d = buffer.view(offset: offset, shape: current.shape)
                offset += current.count
                Elementwise.subtract(current.data, start.data, into: d.data, count: d.count)
                return d
            }
            // At t = 0 the history is zero: fall back to W.
            if deltas.contains(where: { Elementwise.hasNonzero($0.data, count: $0.count) }) { matrices = deltas }
        }
        let start = Tensor(zeros: [columns, rank])  // R₀ᵀ [d, r]
        for i in 0..<start.count { start.data[i] = Float(generator.nextGaussian()) }
        multiply(matrices, start, into: left)                // L = M·R₀  [P, r]
        orthonormalizeColumns(left)
        let rightTransposed = Tensor(zeros: [columns, rank])
        for round in 0..<Swift.max(1, iterations) {
            multiplyTransposed(matrices, left, into: rightTransposed)  // Mᵀ·L  [d, r]
            orthonormalizeColumns(rightTransposed)
            if round + 1 < Swift.max(1, iterations) {
                multiply(matrices, rightTransposed, into: left)
                orthonormalizeColumns(left)
            }
        }
        for i in 0..<columns { for j in 0..<rank { right.data[j * columns + i] = rightTransposed.data[i * rank + j] } }
    }

    /// out [P, r] = stacked M · b, b [d, r].
    private func multiply(_ matrices: [Tensor], _ b: Tensor, into out: Tensor) {
        for (m, w) in matrices.enumerated() {
            BLAS.gemm(transA: false, transB: false, m: memberRows[m], n: rank, k: columns, a: w.data, lda: columns,
                      b: b.data, ldb: rank, c: out.data + memberOffset(m) * rank, ldc: rank)
        }
    }

    /// out [d, r] = Σ_m M_mᵀ · L_m.
    private func multiplyTransposed(_ matrices: [Tensor], _ l: Tensor, into out: Tensor) {
        for (m, w) in matrices.enumerated() {
            BLAS.gemm(transA: true, transB: false, m: columns, n: rank, k: memberRows[m], a: w.data, lda: columns,
                      b: l.data + memberOffset(m) * rank, ldb: rank, beta: m == 0 ? 0 : 1, c: out.data, ldc: rank)
        }
    }

    // MARK: Per-example carrier gradients

    /// Makes the sum a view of `[perExampleSize]` floats elsewhere (a segment of one flat buffer).
    public func bind(sum view: Tensor) {
        precondition(view.count == perExampleSize, "carrier sum view of \(view.count) floats, expected \(perExampleSize)")
        sum = view
    }

    /// Makes room for `examples` examples of `tokens` rows in total. `perExample`: the [examples, P·r + r·d]
    /// block this micro-batch's per-example carrier gradients go to (a segment of one flat buffer); by default the
    /// group's own buffer.
    public func beginMicroBatch(examples: Int, tokens: Int, perExample block: Tensor? = nil) {
        if let block {
            precondition(block.count >= examples * perExampleSize, "per-example block too small")
            perExample = block
        } else if perExample.count < examples * perExampleSize || perExample.isView {
            perExample = Tensor(zeros: [examples * perExampleSize])
        }
        if rank > 1 && scratchLeft.count < tokens * rank {  // rank 1 takes the one-pass kernel, which needs none
            scratchLeft = Tensor(zeros: [tokens * rank])
            scratchRight = Tensor(zeros: [tokens * rank])
        }
        seenMembers = 0
    }

    /// Adds member `site`'s contribution from its input x [R, d] and output gradient δ [R, p_m], example i owning rows
    /// `rows.start(i) ..< rows.start(i) + rows.count(i)` (every token, or one row each after a first-token last layer).
    public func accumulate(site: LinearSite, input x: UnsafePointer<Float>, outputGradient delta: UnsafePointer<Float>,
                           rows examples: ExampleRows) {
        guard let m = members.firstIndex(of: site) else { return }
        let n = examples.rows, p = memberRows[m], d = columns, r = rank
        let stride = perExampleSize, offset = memberOffset(m)
        if r == 1 {
            // ∂L_i[block m] = Σ_t (x_t·R)·δ_t and ∂R_i += Σ_t (δ_t·L_m)·x_t in one pass over each example's rows (as
            // one-column GEMMs, δ·L and x·Rᵀ had OpenBLAS pack all of δ and x first).
            Segmented.rankOneCarrierSums(x: x, ldx: d, d: d, delta: delta, ldd: p, p: p, left: left.data + offset,
                                         right: right.data, rows: examples, outLeft: perExample.data + offset,
                                         outRight: perExample.data + rows, outStride: stride, accumulateRight: seenMembers > 0)
            seenMembers += 1
            return
        }
        // δ·L_m [N, r] and x·Rᵀ [N, r].
        BLAS.gemm(transA: false, transB: false, m: n, n: r, k: p, a: delta, lda: p, b: left.data + offset * r, ldb: r,
                  c: scratchLeft.data, ldc: r)
        BLAS.gemm(transA: false, transB: true, m: n, n: r, k: d, a: x, lda: d, b: right.data, ldb: d,
                  c: scratchRight.data, ldc: r)
        // ∂L_i[block m] = δ_iᵀ·(x_i·Rᵀ)  [p_m, r]  and  ∂R_i += (δ_i·L_m)ᵀ·x_i  [r, d]: per-example sums of outer
        // products over each example's rows.
        Segmented.outerProductSums(a: scratchRight.data, lda: r, r: r, b: delta, ldb: p, d: p, rows: examples,
                                   out: perExample.data + offset * r, outStride: stride, transposed: true)
        Segmented.outerProductSums(a: scratchLeft.data, lda: r, r: r, b: x, ldb: d, d: d, rows: examples,
                                   out: perExample.data + rows * r, outStride: stride, accumulate: seenMembers > 0)
        seenMembers += 1
    }

    // MARK: Reconstruction

    /// ΔW for each member from the (noised, averaged) carrier gradient in `sum`, written into `updates`
    /// (one [p_m, d] tensor per member).
    public func reconstruct(_ mode: Reconstruction, into updates: [Tensor]) {
        let r = rank, d = columns
        for (m, (update, factors)) in zip(updates, reconstructionFactors(mode)).enumerated() {
            let p = memberRows[m]
            BLAS.gemm(transA: false, transB: false, m: p, n: d, k: r, a: factors.a, lda: r, b: factors.b, ldb: d,
                      c: update.data, ldc: d)
            BLAS.gemm(transA: false, transB: false, m: p, n: d, k: r, a: factors.c, lda: r, b: factors.d, ldb: d, beta: 1,
                      c: update.data, ldc: d)
        }
    }

    /// ΔW of each member as low-rank factors, ΔW_m = A_m·R + L_m·∂R with A = ∂L ∓ L·(Lᵀ·∂L) [P, r] (`Reconstruction`):
    /// what `reconstruct` multiplies out, for an optimizer that forms ΔW a row at a time (`Adam.update(_:parameter:
    /// gradient:learningRate:)` with a `LowRankGradient`). Valid until the next call, or until `sum` or the carriers
    /// change.
    public func reconstructionFactors(_ mode: Reconstruction) -> [LowRankGradient] {
        let r = rank
        let gradLeft = sum.data, gradRight = sum.data + rows * r
        // Lᵀ·∂L  [r, r]
        var small = [Float](repeating: 0, count: r * r)
        BLAS.gemm(transA: true, transB: false, m: r, n: r, k: rows, a: left.data, lda: r, b: gradLeft, ldb: r,
                  c: &small, ldc: r)
        // ∂L − (or +) L·(Lᵀ·∂L)  [P, r]
        combined.data.update(from: gradLeft, count: rows * r)
        BLAS.gemm(transA: false, transB: false, m: rows, n: r, k: r, alpha: mode == .projection ? -1 : 1,
                  a: left.data, lda: r, b: small, ldb: r, beta: 1, c: combined.data, ldc: r)
        return memberRows.indices.map { m in
            let offset = memberOffset(m) * r
            return LowRankGradient(a: combined.data + offset, b: right.data, c: left.data + offset, d: gradRight, rank: r)
        }
    }
}

/// Makes the columns of a [n, r] row-major matrix orthonormal: normalisation for r = 1, Householder QR
/// (LAPACKE sgeqrf + sorgqr) otherwise. A zero column is replaced by a unit vector.
public func orthonormalizeColumns(_ a: Tensor) {
    let n = a.shape[0], r = a.shape[1]
    if r == 1 {
        let norm = Float(Elementwise.sumOfSquares(a.data, count: n).squareRoot())
        if norm > 0 {
            Elementwise.scale(a.data, by: 1 / norm, count: n)
        } else {
            a.zero()
            a.data[0] = 1
        }
        return
    }
    var tau = [Float](repeating: 0, count: r)
    LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(n), Int32(r), a.data, Int32(r), &tau)
    LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(n), Int32(r), Int32(r), a.data, Int32(r), &tau)
}
