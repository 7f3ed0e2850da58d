// Elementwise kernels compiled once per instruction set (AVX-512, AVX2, baseline) and chosen at load time
// (target_clones): the Swift code is built for baseline x86-64, where these loops stayed scalar.
//
// Bit-identical to the Swift references in Numerics (GELU, Softmax, LayerNorm, …): the same operations in the same
// order, min/max as Swift defines them, and no contraction into fused multiply-adds (GELU's explicit fmaf calls are
// Swift's addingProduct), so a lane of a vector computes exactly what the scalar Swift code computed (tests compare
// them bit for bit).
#define _GNU_SOURCE
#include "rgp_kernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#pragma clang fp contract(off)

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)  // ifunc-based dispatch: ELF only
#define RGP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RGP_CLONES
#endif

// GELU in single precision (`GELU` in Numerics documents the method; data-scripts/fit_gelu.py fits the polynomials):
// |x| < 1 from y = x(½ + x·T(x²)) and y' = ½ + x·S(x²), evaluated with fused multiply-adds (fmaf: one instruction on
// the AVX2 and AVX-512 clones, glibc's correctly rounded fmaf on the baseline one, so every clone gives the same bits);
// 1 ≤ |x| < 13 from the Mills ratio M(a) = Φ(−a)/φ(a), a = |x|, a polynomial in t = 1/(1 + 0.3a), with Φ(−a) = φ(a)M(a)
// and φ from `exp_non_positive_float`; beyond 13, x or −0 (and 1 or 0 for y'). Every branch is computed and one
// selected, so the loops vectorise.
static inline __attribute__((always_inline)) float exp_non_positive_float(float v);

// GELU(x), with GELU'(x) in *derivative. (A struct of both, returned, kept the loops from vectorising.)
static inline __attribute__((always_inline)) float gelu_float(float x, float *derivative) {
    float z = x * x;
    float tp = 5.366824780139723e-07f;
    tp = fmaf(tp, z, -9.272668648918625e-06f);
    tp = fmaf(tp, z, 0.00011531881318660453f);
    tp = fmaf(tp, z, -0.001187287736684084f);
    tp = fmaf(tp, z, 0.009973550215363503f);
    tp = fmaf(tp, z, -0.06649038195610046f);
    tp = fmaf(tp, z, 0.3989422917366028f);
    float sp = 7.274276413227199e-06f;
    sp = fmaf(sp, z, -0.00011060679389629513f);
    sp = fmaf(sp, z, 0.0011524988804012537f);
    sp = fmaf(sp, z, -0.009497974999248981f);
    sp = fmaf(sp, z, 0.059841230511665344f);
    sp = fmaf(sp, z, -0.26596152782440186f);
    sp = fmaf(sp, z, 0.7978845834732056f);
    float small_y = x * fmaf(x, tp, 0.5f), small_d = fmaf(x, sp, 0.5f);

    float a = x < 0 ? -x : x;
    float ac = a < 13.0f ? a : 13.0f;
    float phi = 0.39894228f * exp_non_positive_float(-0.5f * (ac * ac));
    float t = 1.0f / (1.0f + 0.3f * ac);
    float m = 0.0953192189335823f;
    m = m * t + -0.4248497784137726f;
    m = m * t + 0.5815781354904175f;
    m = m * t + -0.20595543086528778f;
    m = m * t + 0.36869344115257263f;
    m = m * t + 0.2322378158569336f;
    m = m * t + 0.3068992495536804f;
    m = m * t + 0.29933875799179077f;
    m = m * t + 2.7400621547712944e-05f;
    float tail = phi * m;  // Φ(−a)
    float large_y = x > 0 ? fmaf(-x, tail, x) : x * tail;
    float large_d = x > 0 ? 1.0f - (tail - ac * phi) : phi * (m - ac);

    float y = a < 1.0f ? small_y : large_y, d = a < 1.0f ? small_d : large_d;
    *derivative = a >= 13.0f ? (x > 0 ? 1.0f : 0.0f) : d;
    return a >= 13.0f ? (x > 0 ? x : -0.0f) : y;
}

// A kernel written once as `name##_body` and built three times: for AVX-512, for AVX2 with FMA, and for baseline x86-64
// (where fmaf is glibc's correctly rounded call: the same bits, slowly), chosen once when the library loads.
// target_clones cannot express "AVX2 and FMA" (its avx2 clone has no FMA instructions and would call fmaf per element),
// hence the hand-written resolver. `avx512_args` and `args` may differ only in literal block sizes the body takes (AVX-512
// has 32 vector registers, AVX2 16), which must not change the bits.
#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#define RGP_ISA_KERNEL(name, params, avx512_args, args)                                                               \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body avx512_args; }                \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; }                        \
    static void name##_baseline params { name##_body args; }                                                          \
    static void (*name##_resolve(void)) params {                                                                      \
        __builtin_cpu_init();                                                                                         \
        if (__builtin_cpu_supports("avx512f")) return name##_avx512;                                                  \
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return name##_avx2;                      \
        return name##_baseline;                                                                                       \
    }                                                                                                                 \
    void name params __attribute__((ifunc(#name "_resolve")));
#else
#define RGP_ISA_KERNEL(name, params, avx512_args, args) void name params { name##_body args; }
#endif
#define RGP_GELU_KERNEL(name, params, args) RGP_ISA_KERNEL(name, params, args, args)

// Iteration i reads element i and writes element i, so in-place calls (y == x, dx == dy: the backward's usual use)
// are safe to vectorise; without the pragma the compiler's overlap check sent them down the scalar loop. GELU's
// polynomials are chains of dependent multiply-adds: four vectors in flight (interleave_count) hide their latency,
// 1.15–1.5× faster on AVX-512 and no slower on AVX2, with the same operations per element and so the same bits.
static inline __attribute__((always_inline)) void rgp_gelu_forward_body(const float *x, float *y, long count) {
#pragma clang loop vectorize(assume_safety) interleave_count(4)
    for (long i = 0; i < count; i++) {
        float unused;
        y[i] = gelu_float(x[i], &unused);
    }
}
RGP_GELU_KERNEL(rgp_gelu_forward, (const float *x, float *y, long count), (x, y, count))

// Row by row: y = GELU(x + bias), and x overwritten with x + bias or, with `keep_derivative`, with GELU'(x + bias).
// Always inlined and called with a literal flag, so each kernel's loop has no select.
static inline __attribute__((always_inline)) void gelu_bias_rows(float *x, const float *bias, float *y, long rows,
                                                                 long columns, int keep_derivative) {
    for (long r = 0; r < rows; r++) {
        float *xr = x + r * columns, *yr = y + r * columns;
#pragma clang loop vectorize(assume_safety) interleave_count(4)
        for (long j = 0; j < columns; j++) {
            float biased = xr[j] + bias[j];
            if (keep_derivative) {
                yr[j] = gelu_float(biased, &xr[j]);
            } else {
                float unused;
                yr[j] = gelu_float(biased, &unused);
                xr[j] = biased;
            }
        }
    }
}

static inline __attribute__((always_inline)) void rgp_gelu_forward_bias_body(float *x, const float *bias, float *y,
                                                                             long rows, long columns) {
    gelu_bias_rows(x, bias, y, rows, columns, 0);
}
RGP_GELU_KERNEL(rgp_gelu_forward_bias, (float *x, const float *bias, float *y, long rows, long columns),
                (x, bias, y, rows, columns))

static inline __attribute__((always_inline)) void rgp_gelu_forward_bias_derivative_body(float *x, const float *bias,
                                                                                        float *y, long rows,
                                                                                        long columns) {
    gelu_bias_rows(x, bias, y, rows, columns, 1);
}
RGP_GELU_KERNEL(rgp_gelu_forward_bias_derivative, (float *x, const float *bias, float *y, long rows, long columns),
                (x, bias, y, rows, columns))

static inline __attribute__((always_inline)) void rgp_gelu_backward_body(const float *x, const float *dy, float *dx,
                                                                         long count) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < count; i++) {
        float derivative;
        gelu_float(x[i], &derivative);
        dx[i] = dy[i] * derivative;
    }
}
RGP_GELU_KERNEL(rgp_gelu_backward, (const float *x, const float *dy, float *dx, long count), (x, dy, dx, count))

// MARK: Parallel depth

static _Thread_local int parallel_depth = 0;
int rgp_parallel_depth(void) { return parallel_depth; }
void rgp_set_parallel_depth(int depth) { parallel_depth = depth; }

// The product counter of the calling thread (null: not counting); `Parallel` hands its caller's to its workers.
static _Thread_local long long *product_counter = 0;
long long *rgp_product_counter(void) { return product_counter; }
void rgp_set_product_counter(long long *counter) { product_counter = counter; }
void rgp_count_product(long long flops) {
    if (product_counter) __atomic_fetch_add(product_counter, flops, __ATOMIC_RELAXED);
}

// MARK: Philox4x32-10 and dropout masks

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox_rounds(uint32_t c[4], uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c[0], p1 = (uint64_t)PHILOX_M1 * c[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

void rgp_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]};
    philox_rounds(c, key[0], key[1]);
    memcpy(out, c, sizeof c);
}

// Whole blocks of four elements, block b at out[4b]: the mask itself when x is NULL, x·mask otherwise. Sixteen blocks
// at a time: Philox across the blocks (a vector lane per block, its four words in four arrays), then the words
// interleaved back into element order in a loop of its own (vectorising both at once had the compiler gather x and
// insert lane by lane).
#define DROPOUT_GROUP 16
RGP_CLONES
static void dropout_blocks(const float *x, float *out, long blocks, uint64_t first_block, uint32_t k0, uint32_t k1,
                           float threshold, float keep) {
    long b = 0;
    for (; b + DROPOUT_GROUP <= blocks; b += DROPOUT_GROUP) {
        uint32_t w0[DROPOUT_GROUP], w1[DROPOUT_GROUP], w2[DROPOUT_GROUP], w3[DROPOUT_GROUP];
#pragma clang loop vectorize(assume_safety)
        for (int g = 0; g < DROPOUT_GROUP; g++) {
            uint64_t block = first_block + (uint64_t)(b + g);
            uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
            philox_rounds(c, k0, k1);
            w0[g] = c[0]; w1[g] = c[1]; w2[g] = c[2]; w3[g] = c[3];
        }
        float m[4 * DROPOUT_GROUP];
        for (int g = 0; g < DROPOUT_GROUP; g++) {
            m[4 * g] = (float)(w0[g] >> 8) >= threshold ? keep : 0.0f;
            m[4 * g + 1] = (float)(w1[g] >> 8) >= threshold ? keep : 0.0f;
            m[4 * g + 2] = (float)(w2[g] >> 8) >= threshold ? keep : 0.0f;
            m[4 * g + 3] = (float)(w3[g] >> 8) >= threshold ? keep : 0.0f;
        }
        float *o = out + 4 * b;
        if (x) {
            const float *xb = x + 4 * b;
#pragma clang loop vectorize(assume_safety)
            for (int k = 0; k < 4 * DROPOUT_GROUP; k++) o[k] = xb[k] * m[k];
        } else {
            for (int k = 0; k < 4 * DROPOUT_GROUP; k++) o[k] = m[k];
        }
    }
    for (; b < blocks; b++) {
        uint64_t block = first_block + (uint64_t)b;
        uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
        philox_rounds(c, k0, k1);
        for (int lane = 0; lane < 4; lane++) {
            float mask = (float)(c[lane] >> 8) >= threshold ? keep : 0.0f;
            out[4 * b + lane] = x ? x[4 * b + lane] * mask : mask;
        }
    }
}

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#include <immintrin.h>
#define RGP_HAS_AVX512_DROPOUT 1
// The 32×32 → 64-bit products of one Philox round for 16 lanes at once: vpmuludq multiplies the even lanes, and the
// odd lanes shifted down; the halves are blended back into lane order.
__attribute__((target("avx512f"))) static inline void philox_mul16(__m512i c, __m512i m, __m512i *hi, __m512i *lo) {
    __m512i even = _mm512_mul_epu32(c, m), odd = _mm512_mul_epu32(_mm512_srli_epi64(c, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

// `groups` (1 or 2, a constant where inlined) groups of 16 blocks from block b: Philox on 16 blocks a vector (lane g =
// block g of its group, word j in vector j), then the words transposed into element order. Two groups are in flight
// where there are two, since each round is a chain of dependent products that one group alone waits on.
__attribute__((target("avx512f"), always_inline)) static inline void dropout_groups_avx512(
    const float *x, float *out, long b, uint64_t first_block, uint32_t k0, uint32_t k1, __m512 thresholds,
    __m512 keeps, const int groups, const long valid_blocks) {
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i c[2][4];
    for (int s = 0; s < groups; s++) {
        uint64_t block = first_block + (uint64_t)(b + 16 * s);
        // Counter words: each block's low and high 32 bits (the high word steps where the low one wraps).
        __m512i base = _mm512_set1_epi32((int)(uint32_t)block), high = _mm512_set1_epi32((int)(uint32_t)(block >> 32));
        __m512i low = _mm512_add_epi32(base, lanes);
        c[s][0] = low;
        c[s][1] = _mm512_mask_add_epi32(high, _mm512_cmplt_epu32_mask(low, base), high, _mm512_set1_epi32(1));
        c[s][2] = c[s][3] = _mm512_setzero_si512();
    }
    uint32_t key0 = k0, key1 = k1;
    for (int round = 0; round < 10; round++) {
        __m512i kk0 = _mm512_set1_epi32((int)key0), kk1 = _mm512_set1_epi32((int)key1);
        for (int s = 0; s < groups; s++) {
            __m512i hi0, lo0, hi1, lo1;
            philox_mul16(c[s][0], m0, &hi0, &lo0);
            philox_mul16(c[s][2], m1, &hi1, &lo1);
            c[s][0] = _mm512_ternarylogic_epi32(hi1, c[s][1], kk0, 0x96);  // hi1 ^ c1 ^ k0
            c[s][1] = lo1;
            c[s][2] = _mm512_ternarylogic_epi32(hi0, c[s][3], kk1, 0x96);  // hi0 ^ c3 ^ k1
            c[s][3] = lo0;
        }
        key0 += PHILOX_W0;
        key1 += PHILOX_W1;
    }
    for (int s = 0; s < groups; s++) {
        __m512 f[4];
        for (int j = 0; j < 4; j++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_srli_epi32(c[s][j], 8));
            f[j] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, thresholds, _CMP_GE_OQ), keeps);
        }
        // Element 4g + j = f[j][g]: pairs, then quadruples within 128-bit lanes, then the lanes across vectors.
        __m512 t0 = _mm512_unpacklo_ps(f[0], f[1]), t1 = _mm512_unpackhi_ps(f[0], f[1]);
        __m512 t2 = _mm512_unpacklo_ps(f[2], f[3]), t3 = _mm512_unpackhi_ps(f[2], f[3]);
        __m512 u0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        __m512 u1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        __m512 u2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        __m512 u3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44), v1 = _mm512_shuffle_f32x4(u0, u1, 0xEE);
        __m512 v2 = _mm512_shuffle_f32x4(u2, u3, 0x44), v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
        __m512 o[4] = {_mm512_shuffle_f32x4(v0, v2, 0x88), _mm512_shuffle_f32x4(v0, v2, 0xDD),
                       _mm512_shuffle_f32x4(v1, v3, 0x88), _mm512_shuffle_f32x4(v1, v3, 0xDD)};
        long e = 4 * (b + 16 * s);
        for (int j = 0; j < 4; j++) {
            // The factor selected, then multiplied, as in dropout_blocks; a last group of fewer than 16 blocks loads
            // and stores its elements alone.
            long left = 4 * valid_blocks - 16 * j;
            __mmask16 live = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            __m512 value = x ? _mm512_mul_ps(_mm512_maskz_loadu_ps(live, x + e + 16 * j), o[j]) : o[j];
            _mm512_mask_storeu_ps(out + e + 16 * j, live, value);
        }
    }
}

// Set once when the library loads, before any thread draws a mask.
static int dropout_has_avx512;
__attribute__((constructor)) static void dropout_detect_avx512(void) {
    __builtin_cpu_init();
    dropout_has_avx512 = __builtin_cpu_supports("avx512f") != 0;
}

// dropout_blocks by hand for AVX-512, the same values: the compiler's vector Philox widened every product to 64-bit
// lanes and narrowed it back (1.6× the time of this one).
__attribute__((target("avx512f"))) static void dropout_blocks_avx512(const float *x, float *out, long blocks,
                                                                     uint64_t first_block, uint32_t k0, uint32_t k1,
                                                                     float threshold, float keep) {
    const __m512 thresholds = _mm512_set1_ps(threshold), keeps = _mm512_set1_ps(keep);
    long b = 0;
    for (; b + 32 <= blocks; b += 32) dropout_groups_avx512(x, out, b, first_block, k0, k1, thresholds, keeps, 2, 32);
    for (; b < blocks; b += 16)
        dropout_groups_avx512(x, out, b, first_block, k0, k1, thresholds, keeps, 1, blocks - b < 16 ? blocks - b : 16);
}
#endif

static inline float dropout_element(uint64_t e, uint32_t k0, uint32_t k1, float threshold, float keep) {
    uint32_t c[4] = {(uint32_t)(e >> 2), (uint32_t)(e >> 34), 0, 0};
    philox_rounds(c, k0, k1);
    return (float)(c[e & 3] >> 8) >= threshold ? keep : 0.0f;
}

// A head up to the next multiple of four, a vectorised middle, a tail: the same values as one block loop.
static void dropout_stream(const float *x, float *out, long count, uint64_t offset, uint64_t key, float p) {
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    float threshold = p * 16777216.0f, keep = 1.0f / (1.0f - p);
    long done = 0;
    for (; done < count && ((offset + (uint64_t)done) & 3) != 0; done++) {
        float m = dropout_element(offset + (uint64_t)done, k0, k1, threshold, keep);
        out[done] = x ? x[done] * m : m;
    }
    long blocks = (count - done) / 4;
#ifdef RGP_HAS_AVX512_DROPOUT
    if (dropout_has_avx512)
        dropout_blocks_avx512(x ? x + done : NULL, out + done, blocks, (offset + (uint64_t)done) >> 2, k0, k1, threshold, keep);
    else
#endif
    dropout_blocks(x ? x + done : NULL, out + done, blocks, (offset + (uint64_t)done) >> 2, k0, k1, threshold, keep);
    done += 4 * blocks;
    for (; done < count; done++) {
        float m = dropout_element(offset + (uint64_t)done, k0, k1, threshold, keep);
        out[done] = x ? x[done] * m : m;
    }
}

void rgp_dropout_mask(float *mask, long count, uint64_t offset, uint64_t key, float p) {
    dropout_stream(NULL, mask, count, offset, key, p);
}

void rgp_dropout_apply(const float *x, float *y, long count, uint64_t offset, uint64_t key, float p) {
    dropout_stream(x, y, count, offset, key, p);
}

void rgp_dropout_bits(void *bits, long count, uint64_t offset, uint64_t key, float p) {
    uint8_t *bytes = bits;
    // Drawn 256 at a time (the AVX-512 blocks keep two groups in flight), packed 64 bits a word.
    float chunk[256];
    for (long done = 0; done < count; done += 256) {
        long n = count - done < 256 ? count - done : 256;
        dropout_stream(NULL, chunk, n, offset + (uint64_t)done, key, p);
        for (long start = 0; start < n; start += 64) {
            long m = n - start < 64 ? n - start : 64;
            uint64_t word = 0;
            for (long k = 0; k < m; k++) word |= (uint64_t)(chunk[start + k] != 0.0f) << k;
            memcpy(bytes + (done + start) / 8, &word, (size_t)((m + 7) / 8));
        }
    }
}

// With a residual, y = x·mask + residual: the product rounded to float first, as a separate add after it would see it.
static inline __attribute__((always_inline)) void dropout_forward_bytes(const float *x, const float *residual, float *y,
                                                                        uint8_t *kept, long count, uint64_t offset,
                                                                        uint64_t key, float p) {
    float chunk[256];
    for (long done = 0; done < count; done += 256) {
        long n = count - done < 256 ? count - done : 256;
        dropout_stream(NULL, chunk, n, offset + (uint64_t)done, key, p);
        if (residual) {
#pragma clang loop vectorize(assume_safety)
            for (long k = 0; k < n; k++) {
                float dropped = x[done + k] * chunk[k];
                y[done + k] = dropped + residual[done + k];
                kept[done + k] = chunk[k] != 0.0f;
            }
        } else {
#pragma clang loop vectorize(assume_safety)
            for (long k = 0; k < n; k++) {
                y[done + k] = x[done + k] * chunk[k];
                kept[done + k] = chunk[k] != 0.0f;
            }
        }
    }
}

RGP_CLONES
void rgp_dropout_forward_bytes(const float *x, float *y, uint8_t *kept, long count, uint64_t offset, uint64_t key, float p) {
    dropout_forward_bytes(x, NULL, y, kept, count, offset, key, p);
}

RGP_CLONES
void rgp_dropout_forward_bytes_add(const float *x, const float *residual, float *y, uint8_t *kept, long count,
                                   uint64_t offset, uint64_t key, float p) {
    dropout_forward_bytes(x, residual, y, kept, count, offset, key, p);
}

// The factor is selected, then multiplied, as in dropout_blocks.
RGP_CLONES
void rgp_dropout_apply_bytes(const float *x, float *y, const uint8_t *kept, long count, float p) {
    float keep = 1.0f / (1.0f - p);
#pragma clang loop vectorize(assume_safety)
    for (long j = 0; j < count; j++) y[j] = x[j] * (kept[j] ? keep : 0.0f);
}

// The factor is selected, then multiplied, as in dropout_blocks: x·0 keeps its sign (and NaN stays NaN).
RGP_CLONES
void rgp_dropout_apply_bits(const float *x, float *y, const void *bits, long count, float p) {
    const uint8_t *bytes = bits;
    float keep = 1.0f / (1.0f - p);
    long whole = count / 8;
    for (long b = 0; b < whole; b++) {
        uint8_t byte = bytes[b];
        for (int k = 0; k < 8; k++) y[8 * b + k] = x[8 * b + k] * (((byte >> k) & 1) ? keep : 0.0f);
    }
    for (long j = 8 * whole; j < count; j++) y[j] = x[j] * (((bytes[j / 8] >> (j % 8)) & 1) ? keep : 0.0f);
}

// MARK: Gaussian noise

// Box–Muller on 53-bit uniforms in double precision, as `nextGaussianPair` in Numerics: u1 = ((w >> 11) + 1)·2⁻⁵³ in
// (0, 1], u2 = (w' >> 11)·2⁻⁵³ in [0, 1), radius √(−2 ln u1), angle 2π·u2.
static inline void box_muller_pair(uint64_t w1, uint64_t w2, double *out) {
    double u1 = (double)((w1 >> 11) + 1) * 0x1p-53, u2 = (double)(w2 >> 11) * 0x1p-53;
    double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * 3.14159265358979323846 * u2;
    out[0] = radius * cos(angle);
    out[1] = radius * sin(angle);
}

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#include <immintrin.h>
#define RGP_AVX2 __attribute__((target("avx2,fma")))
// glibc's libmvec, 4 doubles per call (the AVX2 vector ABI; ≤ 4 ulp, the same code on AVX2 and AVX-512 machines).
RGP_AVX2 __m256d _ZGVdN4v_log(__m256d);
RGP_AVX2 __m256d _ZGVdN4v_cos(__m256d);
RGP_AVX2 __m256d _ZGVdN4v_sin(__m256d);

RGP_AVX2
static long box_muller_avx2(const uint64_t *words, double *out, long pairs) {
    long i = 0;
    for (; i + 4 <= pairs; i += 4) {
        double u1[4], u2[4], c[4], s[4];
        for (int k = 0; k < 4; k++) {
            u1[k] = (double)((words[2 * (i + k)] >> 11) + 1) * 0x1p-53;
            u2[k] = (double)(words[2 * (i + k) + 1] >> 11) * 0x1p-53;
        }
        __m256d radius = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), _ZGVdN4v_log(_mm256_loadu_pd(u1))));
        __m256d angle = _mm256_mul_pd(_mm256_set1_pd(2.0 * 3.14159265358979323846), _mm256_loadu_pd(u2));
        _mm256_storeu_pd(c, _mm256_mul_pd(radius, _ZGVdN4v_cos(angle)));
        _mm256_storeu_pd(s, _mm256_mul_pd(radius, _ZGVdN4v_sin(angle)));
        for (int k = 0; k < 4; k++) {
            out[2 * (i + k)] = c[k];
            out[2 * (i + k) + 1] = s[k];
        }
    }
    return i;
}
#endif

void rgp_box_muller(const uint64_t *words, double *out, long pairs) {
    long done = 0;
#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) done = box_muller_avx2(words, out, pairs);
#endif
    for (long i = done; i < pairs; i++) box_muller_pair(words[2 * i], words[2 * i + 1], out + 2 * i);
}

// MARK: Softmax

// Sums over 16 lanes in a fixed order (lane j mod 16, then a pairwise tree), the same on every instruction set.
#define LANES 16

static inline float lane_total(float acc[LANES]) {
    for (int width = LANES / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++) acc[j] += acc[j + width];
    return acc[0];
}

// e^v for v ≤ 0 in single precision (v below −87 is taken as −87, where e^v is still a
// normal float): v = k·ln 2 + r with |r| ≤ ½ ln 2 (ln 2 split in two so that k·ln 2 is exact to float precision), e^r
// by its degree-7 Taylor polynomial (truncation 5e-9 relative), 2^k from the exponent bits of the rounding sum.
static inline __attribute__((always_inline)) float exp_non_positive_float(float v) {
    float clamped = v < 0 ? v : 0;
    clamped = clamped > -87.0f ? clamped : -87.0f;
    const float shift = 12582912.0f;  // 1.5·2²³: its ulp is 1, so shift + x rounds x to an integer
    float shifted = clamped * 1.44269504f + shift;
    float k = shifted - shift;
    float r = clamped - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float e = 1.0f / 5040;
    e = e * r + 1.0f / 720;
    e = e * r + 1.0f / 120;
    e = e * r + 1.0f / 24;
    e = e * r + 1.0f / 6;
    e = e * r + 0.5f;
    e = e * r + 1;
    e = e * r + 1;
    uint32_t shifted_bits, shift_bits;
    memcpy(&shifted_bits, &shifted, 4);
    memcpy(&shift_bits, &shift, 4);
    uint32_t scale_bits = ((shifted_bits - shift_bits) + 127) << 23;
    float scale;
    memcpy(&scale, &scale_bits, 4);
    return e * scale;
}

void rgp_exp_non_positive_float(const float *v, float *y, long count) {
    for (long i = 0; i < count; i++) y[i] = exp_non_positive_float(v[i]);
}

/// The rows of `rgp_softmax_forward`. Always inlined, so that the call with a literal NULL mask (the unpadded
/// encoder's attention) is compiled without the mask's selects, which kept the masked loops from full vector width.
static inline __attribute__((always_inline)) void softmax_rows(const float *x, float *y, long rows, long columns,
                                                               const float *key_mask) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * columns;
        float *yr = y + r * columns;
        // The row maximum over unmasked columns, lane by lane (a vector compare-and-select), then across lanes.
        float top[LANES];
        for (int l = 0; l < LANES; l++) top[l] = -INFINITY;
        long j = 0;
        for (; j + LANES <= columns; j += LANES) {
#pragma clang loop vectorize(assume_safety)
            for (int l = 0; l < LANES; l++) {
                float v = key_mask && key_mask[j + l] == 0 ? -INFINITY : xr[j + l];
                top[l] = v > top[l] ? v : top[l];
            }
        }
        // The tail (every row of a sentence shorter than 16 tokens is all tail) as one masked vector: lane l takes
        // element j + l as the scalar loop did, and the lanes past the row leave their maxima and sums unchanged.
        long rest = columns - j;
        if (rest > 0) {
#pragma clang loop vectorize(assume_safety)
            for (int l = 0; l < LANES; l++) {
                float v = l < rest && !(key_mask && key_mask[j + l] == 0) ? xr[j + l] : -INFINITY;
                top[l] = v > top[l] ? v : top[l];
            }
        }
        float maximum = -INFINITY;
        for (int l = 0; l < LANES; l++) maximum = top[l] > maximum ? top[l] : maximum;
        if (maximum == -INFINITY) {
            for (long k = 0; k < columns; k++) yr[k] = 0;
            continue;
        }
        float acc[LANES] = {0};
        j = 0;
        for (; j + LANES <= columns; j += LANES) {
#pragma clang loop vectorize(assume_safety)
            for (int l = 0; l < LANES; l++) {
                float e = exp_non_positive_float(xr[j + l] - maximum);
                e = key_mask && key_mask[j + l] == 0 ? 0.0f : e;
                yr[j + l] = e;
                acc[l] += e;
            }
        }
        if (rest > 0) {
#pragma clang loop vectorize(assume_safety)
            for (int l = 0; l < LANES; l++) {
                if (l < rest) {
                    float e = exp_non_positive_float(xr[j + l] - maximum);
                    e = key_mask && key_mask[j + l] == 0 ? 0.0f : e;
                    yr[j + l] = e;
                    acc[l] += e;
                }
            }
        }
        float inverse = 1.0f / lane_total(acc);
#pragma clang loop vectorize(assume_safety)
        for (long k = 0; k < columns; k++) yr[k] *= inverse;
    }
}

RGP_CLONES
void rgp_softmax_forward(const float *x, float *y, long rows, long columns, const float *key_mask) {
    if (key_mask) {
        softmax_rows(x, y, rows, columns, key_mask);
    } else {
        softmax_rows(x, y, rows, columns, NULL);
    }
}

RGP_CLONES
void rgp_softmax_backward(const float *y, const float *dy, float *dx, long rows, long columns) {
    for (long r = 0; r < rows; r++) {
        const float *yr = y + r * columns, *dyr = dy + r * columns;
        float *dxr = dx + r * columns;
        float acc[LANES] = {0};
        long j = 0;
        for (; j + LANES <= columns; j += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += dyr[j + l] * yr[j + l];
        long rest = columns - j;
        if (rest > 0) {
#pragma clang loop vectorize(assume_safety)
            for (int l = 0; l < LANES; l++) {
                float d = l < rest ? dyr[j + l] : 0.0f, y = l < rest ? yr[j + l] : 0.0f;
                acc[l] += d * y;
            }
        }
        float dot = lane_total(acc);
#pragma clang loop vectorize(assume_safety)
        for (long k = 0; k < columns; k++) dxr[k] = yr[k] * (dyr[k] - dot);
    }
}

RGP_CLONES
void rgp_multiply(const float *a, const float *b, float *y, long count) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < count; i++) y[i] = a[i] * b[i];
}

RGP_CLONES
void rgp_add(const float *a, const float *b, float *y, long count) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < count; i++) y[i] = a[i] + b[i];
}

// MARK: Per-example outer-product sums

RGP_CLONES
void rgp_outer_product_sums(const float *a, long lda, long r, const float *b, long ldb, long d, long first, long count,
                            const long *offsets, float *out, long out_stride, int transposed, int accumulate) {
    for (long i = first; i < first + count; i++) {
        float *o = out + i * out_stride;
        if (!accumulate) memset(o, 0, sizeof(float) * (size_t)(r * d));
        for (long t = offsets[i]; t < offsets[i + 1]; t++) {
            const float *at = a + t * lda, *bt = b + t * ldb;
            for (long k = 0; k < r; k++) {
                float s = at[k];
                if (s == 0) continue;
                if (transposed && r > 1) {
                    for (long j = 0; j < d; j++) o[j * r + k] += s * bt[j];
                } else {
                    float *row = o + k * d;  // transposed with r = 1 is the same contiguous row
#pragma clang loop vectorize(assume_safety)
                    for (long j = 0; j < d; j++) row[j] += s * bt[j];
                }
            }
        }
    }
}

// x·y over n elements in 16 fixed lanes (then `lane_total`): the same bits on every instruction set.
static inline __attribute__((always_inline)) float lane_dot(const float *x, const float *y, long n) {
    float acc[LANES] = {0};
    long j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += x[j + l] * y[j + l];
    for (int l = 0; j < n; j++, l++) acc[l] += x[j] * y[j];
    return lane_total(acc);
}

// g tokens' dot products with one vector (rows x, x + ldx, …; g ≤ 8, a literal after inlining): each token's own
// 16 lanes summed exactly as `lane_dot` sums them (so the same bits), the shared vector read once for the g.
static inline __attribute__((always_inline)) void lane_dots(const float *x, long ldx, const float *y, long n, int g,
                                                            float *out) {
    float acc[8][LANES] = {{0}};
    long j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int k = 0; k < g; k++)
            for (int l = 0; l < LANES; l++) acc[k][l] += x[k * ldx + j + l] * y[j + l];
    for (int k = 0; k < g; k++)
        for (long jk = j, l = 0; jk < n; jk++, l++) acc[k][l] += x[k * ldx + jk] * y[jk];
    for (int k = 0; k < g; k++) out[k] = lane_total(acc[k]);
}

// out += s[k]·v_k for k = 0 ..< g (v_k = v + k·ldv; g is 4 or 8), each term added on its own in token order (one
// expression each, so contracted or not exactly as the one-token loop is): the same bits as g one-token passes, with
// out loaded and stored once. (Spelled out: a loop over k inside kept the loop over j from vectorising.)
static inline __attribute__((always_inline)) void add_scaled(float *out, const float *s, const float *v, long ldv,
                                                             int g, long n) {
    const float *v0 = v, *v1 = v + ldv, *v2 = v + 2 * ldv, *v3 = v + 3 * ldv;
    float s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    if (g == 4) {
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < n; j++) {
            float o = out[j];
            o += s0 * v0[j];
            o += s1 * v1[j];
            o += s2 * v2[j];
            o += s3 * v3[j];
            out[j] = o;
        }
        return;
    }
    const float *v4 = v + 4 * ldv, *v5 = v + 5 * ldv, *v6 = v + 6 * ldv, *v7 = v + 7 * ldv;
    float s4 = s[4], s5 = s[5], s6 = s[6], s7 = s[7];
#pragma clang loop vectorize(assume_safety)
    for (long j = 0; j < n; j++) {
        float o = out[j];
        o += s0 * v0[j];
        o += s1 * v1[j];
        o += s2 * v2[j];
        o += s3 * v3[j];
        o += s4 * v4[j];
        o += s5 * v5[j];
        o += s6 * v6[j];
        o += s7 * v7[j];
        out[j] = o;
    }
}

// One token's terms: ∂L += (x·R)·δ and ∂R += (δ·L)·x, each skipped where its projection is zero.
static inline __attribute__((always_inline)) void add_token_terms(float *gl, float *gr, float projected_input,
                                                                  float projected_gradient, const float *xt,
                                                                  const float *dt, long p, long d) {
    if (projected_input != 0) {
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < p; j++) gl[j] += projected_input * dt[j];
    }
    if (projected_gradient != 0) {
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < d; j++) gr[j] += projected_gradient * xt[j];
    }
}

// `group` tokens at a time (a literal per instruction set: 8 on AVX-512, whose 32 registers hold eight tokens' 16
// lanes; 4 elsewhere, where eight would spill), each token's dots and terms computed as one token alone would be, so
// every group size gives the same bits. A token's dot is one chain of dependent adds (no contraction), so the
// group's chains are what keeps the adders busy.
static inline __attribute__((always_inline)) void rgp_rank1_carrier_sums_body(
    const float *x, long ldx, long d, const float *delta, long ldd, long p, const float *left, const float *right,
    long first, long count, const long *offsets, float *out_left, float *out_right, long out_stride,
    int accumulate_right, int group) {
    for (long i = first; i < first + count; i++) {
        float *gl = out_left + i * out_stride, *gr = out_right + i * out_stride;
        memset(gl, 0, sizeof(float) * (size_t)p);
        if (!accumulate_right) memset(gr, 0, sizeof(float) * (size_t)d);
        long t = offsets[i];
        // A group whose projections are all nonzero adds its terms together; a zero one skips its token's term (0·δ
        // would turn an infinite δ into NaN), so such a group, and the last tokens, go one at a time.
        for (; t + group <= offsets[i + 1]; t += group) {
            const float *xg = x + t * ldx, *dg = delta + t * ldd;
            float projected_input[8], projected_gradient[8];
            lane_dots(xg, ldx, right, d, group, projected_input);
            lane_dots(dg, ldd, left, p, group, projected_gradient);
            int nonzero = 1;
            for (int k = 0; k < group; k++) nonzero &= projected_input[k] != 0 && projected_gradient[k] != 0;
            if (nonzero) {
                add_scaled(gl, projected_input, dg, ldd, group, p);
                add_scaled(gr, projected_gradient, xg, ldx, group, d);
                continue;
            }
            for (int k = 0; k < group; k++)
                add_token_terms(gl, gr, projected_input[k], projected_gradient[k], xg + k * ldx, dg + k * ldd, p, d);
        }
        for (; t < offsets[i + 1]; t++) {
            const float *xt = x + t * ldx, *dt = delta + t * ldd;
            add_token_terms(gl, gr, lane_dot(xt, right, d), lane_dot(dt, left, p), xt, dt, p, d);
        }
    }
}

RGP_ISA_KERNEL(rgp_rank1_carrier_sums,
               (const float *x, long ldx, long d, const float *delta, long ldd, long p, const float *left,
                const float *right, long first, long count, const long *offsets, float *out_left, float *out_right,
                long out_stride, int accumulate_right),
               (x, ldx, d, delta, ldd, p, left, right, first, count, offsets, out_left, out_right, out_stride,
                accumulate_right, 8),
               (x, ldx, d, delta, ldd, p, left, right, first, count, offsets, out_left, out_right, out_stride,
                accumulate_right, 4))

// MARK: Adam

// One row of Adam from its gradient row g: the scalar arithmetic m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g·g,
// θ −= step·m / (√(v / c₂) + ε), operation for operation (the tests' reference), with no contraction.
static inline __attribute__((always_inline)) void adam_row(float *p, float *m, float *v, const float *g, long columns,
                                                           float beta1, float beta2, float epsilon, float step_size,
                                                           float correction2) {
    float one_minus_beta1 = 1 - beta1, one_minus_beta2 = 1 - beta2;
#pragma clang loop vectorize(assume_safety)
    for (long j = 0; j < columns; j++) {
        float gj = g[j];
        m[j] = beta1 * m[j] + one_minus_beta1 * gj;
        v[j] = beta2 * v[j] + one_minus_beta2 * gj * gj;
        // The elementwise builtin is sqrtf's correctly rounded square root without errno, which kept sqrtf scalar.
        p[j] = p[j] - step_size * m[j] / (__builtin_elementwise_sqrt(v[j] / correction2) + epsilon);
    }
}

RGP_CLONES
void rgp_adam(float *param, float *m, float *v, const float *gradient, long count, float beta1, float beta2,
              float epsilon, float step_size, float correction2) {
    adam_row(param, m, v, gradient, count, beta1, beta2, epsilon, step_size, correction2);
}

// out[j] = Σ_k a[k]·b[k, j] over k ascending (b [rank, columns]): one row of a k = rank product, as a GEMM sums it.
static inline __attribute__((always_inline)) void low_rank_row(const float *a, const float *b, long rank, long columns,
                                                               float *out) {
#pragma clang loop vectorize(assume_safety)
    for (long j = 0; j < columns; j++) out[j] = a[0] * b[j];
    for (long k = 1; k < rank; k++) {
        const float *bk = b + k * columns;
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < columns; j++) out[j] = out[j] + a[k] * bk[j];
    }
}

RGP_CLONES
void rgp_adam_low_rank(float *param, float *m, float *v, long first_row, long rows, long columns, long rank,
                       const float *a, const float *b, const float *c, const float *d, float beta1, float beta2,
                       float epsilon, float step_size, float correction2, float *scratch) {
    float *first = scratch, *second = scratch + columns;
    for (long i = first_row; i < first_row + rows; i++) {
        // Row i of A·B + C·D: each product on its own, then their sum (as two GEMMs with k = rank, the second
        // accumulating into the first's output, computed it).
        low_rank_row(a + i * rank, b, rank, columns, first);
        low_rank_row(c + i * rank, d, rank, columns, second);
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < columns; j++) first[j] = first[j] + second[j];
        adam_row(param + i * columns, m + i * columns, v + i * columns, first, columns, beta1, beta2, epsilon,
                 step_size, correction2);
    }
}

int rgp_pin_thread(int cpu) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
    (void)cpu;
    return -1;
#endif
}

// MARK: Layer norm

// Row by row: μ and σ² as sums over 16 fixed lanes (then `lane_total`), so the row reductions run at vector width
// and give the same bits on every instruction set; y = (x − μ)·rstd·γ + β.
RGP_CLONES
void rgp_layer_norm_forward(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *rstd,
                            long rows, long columns, float eps) {
    float n = (float)columns;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * columns;
        float *yr = y + r * columns;
        float acc[LANES] = {0};
        long j = 0;
        for (; j + LANES <= columns; j += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += xr[j + l];
        for (int l = 0; j < columns; j++, l++) acc[l] += xr[j];
        float mu = lane_total(acc) / n;
        float squares[LANES] = {0};
        j = 0;
        for (; j + LANES <= columns; j += LANES)
            for (int l = 0; l < LANES; l++) {
                float d = xr[j + l] - mu;
                squares[l] += d * d;
            }
        for (int l = 0; j < columns; j++, l++) {
            float d = xr[j] - mu;
            squares[l] += d * d;
        }
        float s = 1.0f / sqrtf(lane_total(squares) / n + eps);
        mean[r] = mu;
        rstd[r] = s;
#pragma clang loop vectorize(assume_safety)
        for (long k = 0; k < columns; k++) yr[k] = (xr[k] - mu) * s * gamma[k] + beta[k];
    }
}

// dx = s·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) per row, ĝ = dy·γ, x̂ = (x − μ)·s: the two row sums over 16 fixed lanes (as the
// forward's), then the row at vector width; written, or added when `accumulate`.
RGP_CLONES
void rgp_layer_norm_backward(const float *dy, const float *x, const float *gamma, const float *mean, const float *rstd,
                             float *dx, long rows, long columns, int accumulate) {
    float n = (float)columns;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * columns, *dyr = dy + r * columns;
        float *dxr = dx + r * columns;
        float mu = mean[r], s = rstd[r];
        float sum_g[LANES] = {0}, sum_gx[LANES] = {0};
        long j = 0;
        for (; j + LANES <= columns; j += LANES)
            for (int l = 0; l < LANES; l++) {
                float g = dyr[j + l] * gamma[j + l];
                sum_g[l] += g;
                sum_gx[l] += g * (xr[j + l] - mu) * s;
            }
        for (int l = 0; j < columns; j++, l++) {
            float g = dyr[j] * gamma[j];
            sum_g[l] += g;
            sum_gx[l] += g * (xr[j] - mu) * s;
        }
        float mean_g = lane_total(sum_g) / n, mean_gx = lane_total(sum_gx) / n;
        if (accumulate) {
#pragma clang loop vectorize(assume_safety)
            for (long k = 0; k < columns; k++) dxr[k] += s * (dyr[k] * gamma[k] - mean_g - (xr[k] - mu) * s * mean_gx);
        } else {
#pragma clang loop vectorize(assume_safety)
            for (long k = 0; k < columns; k++) dxr[k] = s * (dyr[k] * gamma[k] - mean_g - (xr[k] - mu) * s * mean_gx);
        }
    }
}

// Σ x² in blocks of 1,024: each block's squares summed over 16 fixed lanes in float, the blocks in double.
RGP_CLONES
double rgp_sum_of_squares(const float *x, long count) {
    double total = 0;
    for (long start = 0; start < count; start += 1024) {
        long end = start + 1024 < count ? start + 1024 : count;
        float acc[LANES] = {0};
        long j = start;
        for (; j + LANES <= end; j += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += x[j + l] * x[j + l];
        for (int l = 0; j < end; j++, l++) acc[l] += x[j] * x[j];
        total += (double)lane_total(acc);
    }
    return total;
}

// MARK: Attention's per-head products

// Each output is one chain of fused multiply-adds over the contraction index in order, from 0 (fmaf: one instruction on
// the AVX-512 and AVX2+FMA builds, glibc's correctly rounded call on the baseline one), so every build gives the same
// bits whatever its blocking. Outputs go in blocks of `rows` × `columns` (literals): 8 × 32 on AVX-512 (16 of its 32
// registers accumulate, and each broadcast feeds two multiply-adds), 4 × 16 elsewhere (8 of AVX2's 16); the rows past
// the last whole group in groups of 4, 2 and 1.
#define ATTENTION_MAX_ROWS 8
#define ATTENTION_MAX_COLUMNS 32

// S[r, j0 + l] = scale·Σ_c Q[r, c]·Kᵀ[c, j0 + l] from Kᵀ padded to whole blocks, stored for the columns below `keys`.
static inline __attribute__((always_inline)) void attention_score_block(const float *q, long ldq, const float *kt,
                                                                        long ldkt, long dh, long j0, long keys,
                                                                        float scale, float *s, long lds, int rows,
                                                                        int columns) {
    float acc[ATTENTION_MAX_ROWS][ATTENTION_MAX_COLUMNS] = {{0}};
    for (long c = 0; c < dh; c++) {
        const float *ktc = kt + c * ldkt + j0;
        for (int r = 0; r < rows; r++) {
            float qr = q[r * ldq + c];
            for (int l = 0; l < columns; l++) acc[r][l] = fmaf(qr, ktc[l], acc[r][l]);
        }
    }
    long width = keys - j0 < columns ? keys - j0 : columns;
    for (int r = 0; r < rows; r++)
        for (long l = 0; l < width; l++) s[r * lds + j0 + l] = scale * acc[r][l];
}

static inline __attribute__((always_inline)) void rgp_attention_scores_body(const float *q, long ldq, const float *k,
                                                                            long ldk, long queries, long keys, long dh,
                                                                            float scale, float *scores, float *scratch,
                                                                            int group, int columns) {
    // Kᵀ [dₕ, keys rounded up to `columns`], so that every block reads whole vectors. The padding is left as it is:
    // lanes never mix, so whatever it holds reaches only the outputs past `keys`, which are not stored. Key rows are
    // read whole and written down the columns, element by element (the other order gathered 16 strided loads per
    // vector, a third of the kernel's time on short sentences; scattered stores were no better).
    long ldkt = (keys + columns - 1) / columns * columns;
    for (long j = 0; j < keys; j++) {
        const float *kj = k + j * ldk;
#pragma clang loop vectorize(disable)
        for (long c = 0; c < dh; c++) scratch[c * ldkt + j] = kj[c];
    }
#define SCORE_ROWS(n)                                                                                                  \
    for (long j0 = 0; j0 < keys; j0 += columns)                                                                       \
        attention_score_block(q + i * ldq, ldq, scratch, ldkt, dh, j0, keys, scale, scores + i * keys, keys, n, columns);
    long i = 0;
    for (; i + group <= queries; i += group) { SCORE_ROWS(group) }
    // The last rows in groups of 4, 2 and 1: one row alone is a single chain of dependent multiply-adds per vector,
    // latency-bound, and short sentences (20 tokens: 2 groups of 8 and 4 rows) spent half their time there.
    if (group > 4 && i + 4 <= queries) { SCORE_ROWS(4) i += 4; }
    if (i + 2 <= queries) { SCORE_ROWS(2) i += 2; }
    if (i < queries) { SCORE_ROWS(1) }
#undef SCORE_ROWS
}

// O[r, c0 + l] = scale·Σ_j P[r, j]·V[j, c0 + l] for `rows` × `columns` outputs, P[r, j] at p[r·prow + j·pcol].
static inline __attribute__((always_inline)) void attention_mix_block(const float *p, long prow, long pcol,
                                                                      const float *v, long ldv, long keys, long c0,
                                                                      float scale, float *o, long ldo, int rows,
                                                                      int columns) {
    float acc[ATTENTION_MAX_ROWS][ATTENTION_MAX_COLUMNS] = {{0}};
    for (long j = 0; j < keys; j++) {
        const float *vj = v + j * ldv + c0;
        for (int r = 0; r < rows; r++) {
            float pr = p[r * prow + j * pcol];
            for (int l = 0; l < columns; l++) acc[r][l] = fmaf(pr, vj[l], acc[r][l]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int l = 0; l < columns; l++) o[r * ldo + c0 + l] = scale * acc[r][l];
}

// The head's columns in blocks of `columns`, a last block of 16 where dₕ is an odd multiple of 16.
static inline __attribute__((always_inline)) void attention_mix_rows(const float *p, long prow, long pcol,
                                                                     const float *v, long ldv, long keys, long dh,
                                                                     float scale, float *o, long ldo, int rows,
                                                                     int columns) {
    long c0 = 0;
    for (; c0 + columns <= dh; c0 += columns)
        attention_mix_block(p, prow, pcol, v, ldv, keys, c0, scale, o, ldo, rows, columns);
    for (; c0 < dh; c0 += 16) attention_mix_block(p, prow, pcol, v, ldv, keys, c0, scale, o, ldo, rows, 16);
}

static inline __attribute__((always_inline)) void rgp_attention_mix_body(const float *p, long prow, long pcol,
                                                                         const float *v, long ldv, long rows,
                                                                         long keys, long dh, float scale, float *out,
                                                                         long ldo, int group, int columns) {
#define MIX_ROWS(n) attention_mix_rows(p + i * prow, prow, pcol, v, ldv, keys, dh, scale, out + i * ldo, ldo, n, columns);
    long i = 0;
    for (; i + group <= rows; i += group) { MIX_ROWS(group) }
    if (group > 4 && i + 4 <= rows) { MIX_ROWS(4) i += 4; }
    if (i + 2 <= rows) { MIX_ROWS(2) i += 2; }
    if (i < rows) { MIX_ROWS(1) }
#undef MIX_ROWS
}

RGP_ISA_KERNEL(rgp_attention_scores,
                   (const float *q, long ldq, const float *k, long ldk, long queries, long keys, long dh, float scale,
                    float *scores, float *scratch),
                   (q, ldq, k, ldk, queries, keys, dh, scale, scores, scratch, 8, 32),
                   (q, ldq, k, ldk, queries, keys, dh, scale, scores, scratch, 4, 16))
RGP_ISA_KERNEL(rgp_attention_mix,
                   (const float *p, long prow, long pcol, const float *v, long ldv, long rows, long keys, long dh,
                    float scale, float *out, long ldo),
                   (p, prow, pcol, v, ldv, rows, keys, dh, scale, out, ldo, 8, 32),
                   (p, prow, pcol, v, ldv, rows, keys, dh, scale, out, ldo, 4, 16))
