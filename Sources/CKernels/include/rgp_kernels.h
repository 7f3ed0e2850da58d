#ifndef RGP_KERNELS_H
#define RGP_KERNELS_H

/// GELU, y = ½x(1 + erf(x/√2)), in double precision with the rational erf of Numerics.FastMath; `y` may alias `x`.
void rgp_gelu_forward(const float *x, float *y, long count);

/// GELU's backward, dx = dy·(Φ(x) + x·φ(x)); `dx` may alias `dy`.
void rgp_gelu_backward(const float *x, const float *dy, float *dx, long count);

#endif
