import CKernels

/// Attention's two per-head products for short sequences, in place of two small `BLAS.gemm` calls: on the encoder's
/// shapes (q, Lₛ ≤ 128, dₕ 32 or 64) OpenBLAS spent more time per call in dispatch and edge handling than in
/// arithmetic (attention was 13% of a MiniLM forward for 5% of its FLOPs, perf). Each output is one chain of fused
/// multiply-adds in a fixed order, so the results do not depend on the instruction set or the thread that runs them;
/// the calls never start threads, so callers may run many heads concurrently.
public enum AttentionKernels {
    /// Whether the kernels take this head width (whole 16-float vectors).
    public static func supports(headDimension dh: Int) -> Bool { dh > 0 && dh % 16 == 0 }

    /// Floats of `scratch` that `scores` needs for `keys` keys: Kᵀ with its rows padded to whole blocks of 32 columns
    /// (the widest block any instruction set uses).
    public static func scratchCount(keys: Int, headDimension dh: Int) -> Int { dh * ((keys + 31) / 32 * 32) }

    /// scores [queries, keys] = scale·Q·Kᵀ; Q rows `ldq` apart, K rows `ldk` apart, each dₕ wide.
    public static func scores(
        query q: UnsafePointer<Float>, ldq: Int, key k: UnsafePointer<Float>, ldk: Int, queries: Int, keys: Int,
        headDimension dh: Int, scale: Float, into scores: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(supports(headDimension: dh), "attention kernels need a head width that is a multiple of 16, got \(dh)")
        if queries == 0 || keys == 0 { return }
        rgp_count_product(Int64(2 * queries * keys * dh))
        rgp_attention_scores(q, ldq, k, ldk, queries, keys, dh, scale, scores, scratch)
    }

    /// out [rows, dₕ] (rows `ldo` apart) = scale·P·V; P [rows, keys] with element (r, j) at
    /// `probabilities[r·rowStride + j·columnStride]` (a head's probabilities: rowStride keys, columnStride 1; their
    /// transpose for backward's Pᵀ·dC and dSᵀ·Q), V rows `ldv` apart.
    public static func mix(
        probabilities p: UnsafePointer<Float>, rowStride: Int, columnStride: Int = 1, value v: UnsafePointer<Float>,
        ldv: Int, rows: Int, keys: Int, headDimension dh: Int, scale: Float = 1, into out: UnsafeMutablePointer<Float>,
        ldo: Int
    ) {
        precondition(supports(headDimension: dh), "attention kernels need a head width that is a multiple of 16, got \(dh)")
        if rows == 0 { return }
        rgp_count_product(Int64(2 * rows * keys * dh))
        rgp_attention_mix(p, rowStride, columnStride, v, ldv, rows, keys, dh, scale, out, ldo)
    }
}
