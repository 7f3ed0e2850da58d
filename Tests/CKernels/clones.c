// Every instruction-set build of the kernels that promise the same bits on every CPU (attention's products, rank-1
// carrier sums) run on the same inputs and compared bit for bit: the AVX-512 build where the CPU has AVX-512, the
// AVX2+FMA one where it has AVX2 and FMA, the baseline one always. The Swift tests see only the build the loader picked.
// Run by Tests/CKernels/run.sh (make test).
#include "../../Sources/CKernels/rgp_kernels.c"
#include <stdio.h>
#include <stdlib.h>
static float rnd(void) { return (float)rand() / (float)RAND_MAX * 2 - 1; }
typedef void (*scores_fn)(const float *, long, const float *, long, long, long, long, float, float *, float *);
typedef void (*mix_fn)(const float *, long, long, const float *, long, long, long, long, float, float *, long);
typedef void (*carrier_fn)(const float *, long, long, const float *, long, long, const float *, const float *, long,
                           long, const long *, float *, float *, long, int);

int main(void) {
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // The baseline build is the reference; the others are compared where the CPU can run them.
    scores_fn scores[3] = {rgp_attention_scores_baseline, has2 ? rgp_attention_scores_avx2 : 0,
                           has512 ? rgp_attention_scores_avx512 : 0};
    mix_fn mixes[3] = {rgp_attention_mix_baseline, has2 ? rgp_attention_mix_avx2 : 0, has512 ? rgp_attention_mix_avx512 : 0};
    carrier_fn carriers[3] = {rgp_rank1_carrier_sums_baseline, has2 ? rgp_rank1_carrier_sums_avx2 : 0,
                              has512 ? rgp_rank1_carrier_sums_avx512 : 0};
    int bad = 0, compared = 0;
    long shapes[][3] = {{1,1,16},{13,19,32},{22,22,32},{128,128,32},{17,47,64},{9,33,48}};
    for (int s = 0; s < 6; s++) {
        long q = shapes[s][0], k = shapes[s][1], dh = shapes[s][2], ld = dh * 3;
        float *Q = malloc(sizeof(float) * q * ld), *K = malloc(sizeof(float) * k * ld), *scr = malloc(sizeof(float) * dh * (k + 32));
        float *o[3]; for (int v = 0; v < 3; v++) o[v] = calloc(q * k + q * ld, sizeof(float));
        for (long i = 0; i < q * ld; i++) Q[i] = rnd();
        for (long i = 0; i < k * ld; i++) K[i] = rnd();
        for (int v = 0; v < 3; v++) {
            if (!scores[v]) continue;
            scores[v](Q, ld, K, ld, q, k, dh, 0.17f, o[v], scr);
            if (v) { compared++; bad += memcmp(o[0], o[v], sizeof(float) * q * k) != 0; }
        }
        // mix, plain and transposed
        for (int t = 0; t < 2; t++) {
            long rows = t ? k : q, inner = t ? q : k, prow = t ? 1 : k, pcol = t ? k : 1;
            float *V = malloc(sizeof(float) * inner * ld);
            for (long i = 0; i < inner * ld; i++) V[i] = rnd();
            float *m[3]; for (int v = 0; v < 3; v++) m[v] = calloc(rows * ld, sizeof(float));
            for (int v = 0; v < 3; v++) {
                if (!mixes[v]) continue;
                mixes[v](o[0], prow, pcol, V, ld, rows, inner, dh, 0.3f, m[v], ld);
                if (v) { compared++; bad += memcmp(m[0], m[v], sizeof(float) * rows * ld) != 0; }
            }
        }
    }
    // carrier sums
    long lengths[] = {7, 5, 17, 9, 3, 25}, offs[7] = {0}; for (int i = 0; i < 6; i++) offs[i + 1] = offs[i] + lengths[i];
    long p = 384, d = 1536, n = offs[6];
    float *x = malloc(sizeof(float) * n * d), *dl = malloc(sizeof(float) * n * p), *L = malloc(sizeof(float) * p), *R = malloc(sizeof(float) * d);
    for (long i = 0; i < n * d; i++) x[i] = rnd(); for (long i = 0; i < n * p; i++) dl[i] = rnd();
    for (long i = 0; i < p; i++) L[i] = rnd(); for (long i = 0; i < d; i++) R[i] = rnd();
    float *c[3]; for (int v = 0; v < 3; v++) c[v] = calloc(6 * (p + d), sizeof(float));
    for (int v = 0; v < 3; v++) {
        if (!carriers[v]) continue;
        carriers[v](x, d, d, dl, p, p, L, R, 0, 6, offs, c[v], c[v] + p, p + d, 0);
        if (v) { compared++; bad += memcmp(c[0], c[v], sizeof(float) * 6 * (p + d)) != 0; }
    }
    printf("Tests/CKernels: %d of %d comparisons with the baseline build differ (AVX2+FMA %s, AVX-512 %s)\n", bad,
           compared, has2 ? "run" : "not on this CPU", has512 ? "run" : "not on this CPU");
    return bad != 0;
}
