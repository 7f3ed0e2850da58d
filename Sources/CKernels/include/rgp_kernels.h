#ifndef RGP_KERNELS_H
#define RGP_KERNELS_H

/// GELU, y = ½x(1 + erf(x/√2)), in single precision (the method is Numerics.GELU's); `y` may alias `x`.
void rgp_gelu_forward(const float *x, float *y, long count);

/// Row by row: x[r, j] += bias[j] (kept: backward reads it), then y = GELU(x) as `rgp_gelu_forward`; y must not alias x.
void rgp_gelu_forward_bias(float *x, const float *bias, float *y, long rows, long columns);
/// Row by row: y = GELU(x + bias) as `rgp_gelu_forward_bias`, and x overwritten with GELU'(x + bias) = Φ + x·φ (what
/// backward multiplies by); y must not alias x.
void rgp_gelu_forward_bias_derivative(float *x, const float *bias, float *y, long rows, long columns);

/// GELU's backward, dx = dy·(Φ(x) + x·φ(x)); `dx` may alias `dy`.
void rgp_gelu_backward(const float *x, const float *dy, float *dx, long count);

#include <stdint.h>

/// Attention scores of one head, S [queries, keys] = scale·Q·Kᵀ, Q rows `ldq` apart and K rows `ldk` apart (in place in
/// [N, A·dₕ] activations); `scratch` holds dₕ × (keys rounded up to 32) floats. Each score is one chain of fused
/// multiply-adds over dₕ in order, scaled at the end: the same bits on every instruction set.
void rgp_attention_scores(const float *q, long ldq, const float *k, long ldk, long queries, long keys, long dh,
                          float scale, float *scores, float *scratch);

/// out [rows, dₕ] (rows `ldo` apart) = scale·P·V, P [rows, keys] with element (r, j) at p[r·prow + j·pcol] (a head's
/// probabilities, or transposed: backward's Pᵀ·dC and dSᵀ·Q), V rows `ldv` apart; dₕ a multiple of 16. Each output is
/// one chain of fused multiply-adds over the keys in order, scaled at the end.
void rgp_attention_mix(const float *p, long prow, long pcol, const float *v, long ldv, long rows, long keys, long dh,
                       float scale, float *out, long ldo);

/// Philox4x32-10 (Salmon, Moraes, Dror, Shaw 2011): the four 32-bit outputs for `counter` under `key`.
void rgp_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/// Inverted-dropout mask for elements offset ..< offset + count of a stream: element e keeps (value 1/(1 − p))
/// when the top 24 bits of output e mod 4 of Philox4x32-10 at counter (⌊e/4⌋ low, high, 0, 0) under `key`, as a
/// uniform in [0, 1), are ≥ p; 0 otherwise. Any split of a stream into calls gives the same mask.
void rgp_dropout_mask(float *mask, long count, uint64_t offset, uint64_t key, float p);

/// y = x·mask for the same stream elements as `rgp_dropout_mask` (the mask is never stored: backward draws it again
/// from key and offset); `y` may alias `x`. Equal bit for bit to drawing the mask and multiplying.
void rgp_dropout_apply(const float *x, float *y, long count, uint64_t offset, uint64_t key, float p);

/// The same mask as `rgp_dropout_mask`, one bit per element: bit j mod 8 of byte ⌊j/8⌋ of `bits` is set where element
/// offset + j is kept (⌈count/8⌉ bytes written). Attention keeps these (B·A·T²/8 bytes a layer) so that backward
/// applies its mask twice without drawing Philox again.
void rgp_dropout_bits(void *bits, long count, uint64_t offset, uint64_t key, float p);

/// y = x·mask for elements offset ..< offset + count of the stream under `key` (the product `rgp_dropout_mask` then
/// `rgp_multiply` give), and kept[j] = 1 where element offset + j is kept, 0 elsewhere, in one pass: the hidden
/// dropouts keep these bytes for backward instead of a float mask four times their size. `y` may alias `x`.
void rgp_dropout_forward_bytes(const float *x, float *y, uint8_t *kept, long count, uint64_t offset, uint64_t key, float p);
/// y = x·mask + residual with x·mask and kept as `rgp_dropout_forward_bytes` gives them (the product rounded, then the
/// sum): a post-LN layer's dropout and residual add in one pass. `y` may alias `x` or `residual`.
void rgp_dropout_forward_bytes_add(const float *x, const float *residual, float *y, uint8_t *kept, long count,
                                   uint64_t offset, uint64_t key, float p);

/// y = x·mask with the mask read from the bytes `rgp_dropout_forward_bytes` kept: equal bit for bit to the product with
/// the float mask. `y` may alias `x`.
void rgp_dropout_apply_bytes(const float *x, float *y, const uint8_t *kept, long count, float p);

/// y = x·mask with the mask read from `bits` (as written by `rgp_dropout_bits`, element j at bit j): equal bit for
/// bit to `rgp_dropout_apply` on the stream elements the bits were drawn from. `y` may alias `x`.
void rgp_dropout_apply_bits(const float *x, float *y, const void *bits, long count, float p);

/// `pairs` Box–Muller draws from 2·pairs uniform words: pair i reads words[2i] (u1 = ((w >> 11) + 1)·2⁻⁵³, in (0, 1])
/// and words[2i + 1] (u2 = (w >> 11)·2⁻⁵³) and writes √(−2 ln u1)·(cos 2πu2, sin 2πu2) to out[2i], out[2i + 1]. Where
/// AVX2 and FMA exist, four draws at a time through glibc's vector log/cos/sin (libmvec, ≤ 4 ulp; scalar libm
/// elsewhere and for the last pairs), about ten times the scalar rate: DP-SGD draws two normals per parameter a step.
void rgp_box_muller(const uint64_t *words, double *out, long pairs);

/// e^v for v ≤ 0 in single precision, as softmax computes it (v below −87 taken as −87; relative error within 3e-7).
void rgp_exp_non_positive_float(const float *v, float *y, long count);

/// Row-wise softmax of rows×columns x into y (may alias x): the row maximum lane-wise, exp in single precision
/// (`rgp_exp_non_positive_float`), sums over 16 fixed lanes. `key_mask` (nullable): one row of `columns` flags shared
/// by every row; a 0 excludes the column. A row with every column excluded yields zeros.
void rgp_softmax_forward(const float *x, float *y, long rows, long columns, const float *key_mask);

/// dx = y·(dy − Σₖ dyₖ·yₖ) per row, the dot product over the same 16 lanes; `dx` may alias `dy`.
void rgp_softmax_backward(const float *y, const float *dy, float *dx, long rows, long columns);

/// y = a·b elementwise; `y` may alias either input.
void rgp_multiply(const float *a, const float *b, float *y, long count);

/// y = a + b elementwise; `y` may alias either input.
void rgp_add(const float *a, const float *b, float *y, long count);

/// Examples first ..< first + count of Numerics' `Segmented.outerProductSums`: out_i[k, j] (or [j, k] when
/// `transposed`) = Σ over example i's rows t ∈ offsets[i] ..< offsets[i + 1] of a[t, k]·b[t, j], rows with
/// a[t, k] = 0 skipped.
void rgp_outer_product_sums(const float *a, long lda, long r, const float *b, long ldb, long d, long first, long count,
                            const long *offsets, float *out, long out_stride, int transposed, int accumulate);

/// Rank-1 RGP carrier gradients of examples first ..< first + count, in one pass over their rows t ∈ offsets[i] ..<
/// offsets[i + 1]: out_left_i = Σ_t (x_t·right)·δ_t [p] (written) and out_right_i = Σ_t (δ_t·left)·x_t [d] (written, or
/// added when `accumulate_right`), example i's at i·out_stride. x [rows, d] (row stride ldx), δ [rows, p] (ldd); the
/// two dot products over 16 fixed lanes, a row whose dot product is 0 skipped.
void rgp_rank1_carrier_sums(const float *x, long ldx, long d, const float *delta, long ldd, long p, const float *left,
                            const float *right, long first, long count, const long *offsets, float *out_left,
                            float *out_right, long out_stride, int accumulate_right);

/// Adam over `count` elements: m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g·g, param −= step_size·m / (√(v / correction2) + ε),
/// each operation as Numerics' scalar reference does it (no contraction), so the bits do not depend on the kernel.
void rgp_adam(float *param, float *m, float *v, const float *gradient, long count, float beta1, float beta2,
              float epsilon, float step_size, float correction2);

/// `rgp_adam` on rows first_row ..< first_row + rows of a rows×columns parameter whose gradient is the low-rank
/// A·B + C·D (A, C [·, rank], B, D [rank, columns], row-major), each gradient row formed in `scratch` (2·columns floats)
/// and never stored: RGP's reconstruction and update in one pass over the weight.
void rgp_adam_low_rank(float *param, float *m, float *v, long first_row, long rows, long columns, long rank,
                       const float *a, const float *b, const float *c, const float *d, float beta1, float beta2,
                       float epsilon, float step_size, float correction2, float *scratch);

/// How many `Parallel` regions the calling thread is inside (thread-local): large GEMMs are split across the workers
/// only at depth 0, so that a product inside a concurrent region never fans out again.
/// Pins the calling thread to one CPU (Linux); 0 on success. Thread ranks pin themselves as `mpirun --bind-to core`
/// pins MPI ranks.
int rgp_pin_thread(int cpu);

int rgp_parallel_depth(void);
void rgp_set_parallel_depth(int depth);

/// A FLOP counter for the calling thread (null when not counting), which `Parallel` hands to its workers for the
/// length of a region: `BLAS.gemm` adds 2·m·n·k to it (tests of the FLOP model), and products of other threads do not.
long long *rgp_product_counter(void);
void rgp_set_product_counter(long long *counter);
void rgp_count_product(long long flops);

/// Layer norm over rows×columns (y may alias x): mean and rstd per row saved for backward; the row sums over 16 fixed
/// lanes, the same bits on every instruction set.
void rgp_layer_norm_forward(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *rstd,
                            long rows, long columns, float eps);

/// Layer norm's input gradient dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = dy·γ, x̂ = (x − mean)·rstd, for rows×columns
/// (written, or added when `accumulate`; dx may alias dy only when not accumulating); the row sums over 16 fixed lanes.
void rgp_layer_norm_backward(const float *dy, const float *x, const float *gamma, const float *mean, const float *rstd,
                             float *dx, long rows, long columns, int accumulate);

/// Σ x² over `count` floats: blocks of 1,024 summed over 16 fixed lanes in float, the block sums added in double.
double rgp_sum_of_squares(const float *x, long count);

/// A region's work: called once with each index 0 ..< count of a `rgp_pool_run`.
typedef void (*rgp_pool_task)(void *context, long index);

/// Runs task(context, i) for i in 0 ..< count at once, index 0 on the calling thread and the others on a persistent pool
/// of count − 1 threads that spin for a while (`rgp_pool_set_spin`, 200 µs by default) after each region before they
/// sleep; returns when every index has returned. Returns 0 without running anything when the pool cannot take the
/// region (count < 2, more than 64, threads unavailable, or another region running): the caller runs it otherwise.
int rgp_pool_run(long count, rgp_pool_task task, void *context);

/// How long pool threads spin for the next region before they sleep (nanoseconds; 0 sleeps at once).
void rgp_pool_set_spin(long nanoseconds);

#endif
