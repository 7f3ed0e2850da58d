#!/usr/bin/env python3
"""Fits the polynomials of Numerics.GELU's single-precision kernel and reports its error.

Needs numpy and scipy. Prints, as float32 literals, the coefficients that Sources/CKernels/rgp_kernels.c (gelu_float)
and Sources/Numerics/Activations.swift (GELU.value) hard-code:

  T(z), z = x²:  erf(x/√2)/(2x)            on 0 < x ≤ 1  (y = x(½ + x·T), fused multiply-adds)
  S(z):          T + φ(x)                  on 0 < x ≤ 1  (y' = ½ + x·S)
  M(t), t = 1/(1 + 0.3a):  Φ(−a)/φ(a)      on 1 ≤ a ≤ 13 (the Mills ratio, relative error; y = x − x·Φ(−a) as
                                                        one fused multiply-add for x > 0)

each by iteratively reweighted least squares toward the minimax fit, and then evaluates the whole kernel in float32 (a
numpy simulation, the same operations in the same order) against scipy in double on 4·10⁶ points of [−13, 13].
"""
import math
import numpy as np
from scipy.special import erf, erfc, erfcx

f32 = np.float32


def fit(fun, nodes, variable, degree, iterations=40):
    """Coefficients (constant first) of the polynomial in `variable` closest to fun(nodes) in relative error."""
    target = fun(nodes)
    scale = 1 / np.abs(target)
    weights = scale.copy()
    basis = np.vander(variable, degree + 1, increasing=True)
    for _ in range(iterations):
        coefficients, *_ = np.linalg.lstsq(basis * weights[:, None], target * weights, rcond=None)
        error = np.abs((basis @ coefficients - target) * scale)
        weights = weights * (1 + 50 * error / error.max())
    return [f32(c) for c in coefficients]


def horner(coefficients, v, fused=False):
    out = np.full_like(v, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = fma(out, v, c) if fused else out * v + c
    return out


def fma(a, b, c):
    return (a.astype(np.float64) * b.astype(np.float64) + np.float64(c)).astype(f32)


def exp_non_positive_float(v):
    """rgp_exp_non_positive_float in float32."""
    clamped = np.maximum(np.minimum(v, f32(0)), f32(-87))
    shift = f32(12582912.0)
    shifted = clamped * f32(1.44269504) + shift
    k = shifted - shift
    r = clamped - k * f32(0.693359375)
    r = r - k * f32(-2.12194440e-4)
    e = np.full_like(v, f32(1 / 5040))
    for c in [1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1, 1]:
        e = e * r + f32(c)
    bits = ((shifted.view(np.uint32) - np.array(shift, dtype=f32).view(np.uint32)) + np.uint32(127)) << np.uint32(23)
    return e * bits.astype(np.uint32).view(f32)


def main():
    small = np.linspace(1e-6, 1.0, 20000)
    half_erf_over_x = lambda x: erf(x / np.sqrt(2)) / (2 * x)
    density = lambda x: np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    t_coefficients = fit(half_erf_over_x, small, small ** 2, 6)
    s_coefficients = fit(lambda x: half_erf_over_x(x) + density(x), small, small ** 2, 6)
    large = np.linspace(1.0, 13.0, 40000)
    mills = lambda a: np.sqrt(np.pi / 2) * erfcx(a / np.sqrt(2))
    m_coefficients = fit(mills, large, 1 / (1 + 0.3 * large), 8)
    for name, cs in [("T", t_coefficients), ("S", s_coefficients), ("M", m_coefficients)]:
        print(f"{name} (highest degree first): " + ", ".join(repr(float(c)) for c in reversed(cs)))

    x = np.linspace(-13, 13, 4_000_001).astype(f32)
    z = x * x
    small_y = x * fma(x, horner(t_coefficients, z, fused=True), 0.5)
    small_d = fma(x, horner(s_coefficients, z, fused=True), 0.5)
    a = np.abs(x)
    clamped = np.minimum(a, f32(13))
    phi = f32(0.39894228) * exp_non_positive_float(f32(-0.5) * (clamped * clamped))
    m = horner(m_coefficients, f32(1) / (f32(1) + f32(0.3) * clamped))
    tail = phi * m
    large_y = np.where(x > 0, fma(-x, tail, x), x * tail)
    large_d = np.where(x > 0, f32(1) - (tail - clamped * phi), phi * (m - clamped))
    y = np.where(a < 1, small_y, large_y).astype(np.float64)
    d = np.where(a < 1, small_d, large_d).astype(np.float64)

    exact_x = x.astype(np.float64)
    exact_y = 0.5 * exact_x * erfc(-exact_x / np.sqrt(2))
    exact_d = 0.5 * erfc(-exact_x / np.sqrt(2)) + exact_x * density(exact_x)
    forward = np.max(np.abs(y - exact_y) / np.maximum(np.abs(exact_y), 1))
    derivative = np.max(np.abs(d - exact_d) / np.maximum(np.abs(exact_d), 1))
    negative = x <= -1
    tail_error = np.max(np.abs(y - exact_y)[negative] / np.abs(exact_y[negative]))
    print(f"error relative to max(|value|, 1) on [-13, 13]: forward {forward:.3g}, derivative {derivative:.3g}")
    print(f"negative tail (x <= -1), relative to the value: {tail_error:.3g}")


if __name__ == "__main__":
    main()
