// Elementwise kernels compiled once per instruction set (AVX-512, AVX2, baseline) and chosen at load time
// (target_clones): the Swift code is built for baseline x86-64, where these loops stayed scalar.
//
// Bit-identical to the Swift reference in Numerics (FastMath.erf, FastMath.expNonPositive, GELU): the same double
// operations in the same order, min/max as Swift defines them, and no contraction into fused multiply-adds, so a
// lane of a vector computes exactly what the scalar Swift code computed (tests compare them bit for bit).
#include "rgp_kernels.h"
#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)  // ifunc-based dispatch: ELF only
#define RGP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RGP_CLONES
#endif

// Swift.min(x, y) and Swift.max(x, y).
static inline double swift_min(double x, double y) { return y < x ? y : x; }
static inline double swift_max(double x, double y) { return y >= x ? y : x; }

static inline double fast_erf(double x) {
    double clamped = swift_min(swift_max(x, -3.92), 3.92);
    double z = clamped * clamped;
    double p = 2.0347305334385135e-06;
    p = p * z + 2.8748057671714063e-04;
    p = p * z + 3.868369642431482e-03;
    p = p * z + 5.30606106381658e-02;
    p = p * z + 1.927650145536389e-01;
    p = p * z + 1.1283790223117935;
    double q = 3.8070657559039045e-05;
    q = q * z + 1.1881258604082576e-03;
    q = q * z + 1.5172379726439538e-02;
    q = q * z + 1.1508501757851666e-01;
    q = q * z + 5.041652122943358e-01;
    q = q * z + 1;
    return clamped * p / q;
}

static inline double exp_non_positive(double v) {
    double clamped = swift_max(swift_min(v, 0), -100);
    const double shift = 6755399441055744.0;
    double shifted = clamped * 1.4426950408889634 + shift;
    double k = shifted - shift;
    double r = clamped - k * 0.6931471805599453;
    double e = 1.0 / 5040;
    e = e * r + 1.0 / 720;
    e = e * r + 1.0 / 120;
    e = e * r + 1.0 / 24;
    e = e * r + 1.0 / 6;
    e = e * r + 0.5;
    e = e * r + 1;
    e = e * r + 1;
    uint64_t shifted_bits, shift_bits;
    memcpy(&shifted_bits, &shifted, 8);
    memcpy(&shift_bits, &shift, 8);
    uint64_t exponent = (shifted_bits - shift_bits) + 1023;
    uint64_t scale_bits = exponent << 52;
    double scale;
    memcpy(&scale, &scale_bits, 8);
    return e * scale;
}

// Iteration i reads element i and writes element i, so in-place calls (y == x, dx == dy: the backward's usual use)
// are safe to vectorise; without the pragma the compiler's overlap check sent them down the scalar loop.
RGP_CLONES
void rgp_gelu_forward(const float *x, float *y, long count) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < count; i++) {
        double v = (double)x[i];
        y[i] = (float)(0.5 * v * (1 + fast_erf(v * 0.7071067811865475)));
    }
}

RGP_CLONES
void rgp_gelu_backward(const float *x, const float *dy, float *dx, long count) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < count; i++) {
        double v = (double)x[i];
        double cdf = 0.5 * (1 + fast_erf(v * 0.7071067811865475));
        double pdf = 0.3989422804014327 * exp_non_positive(-0.5 * v * v);
        dx[i] = (float)((double)dy[i] * (cdf + v * pdf));
    }
}
