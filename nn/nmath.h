/* nmath.h -- the few transcendental functions nn/ needs outside the
 * kernels, written out so every CPU gives the same bits. glibc picks its
 * expf, exp, log, pow and cos by CPU (FMA variants), so their last bit can
 * differ between two machines; these use only IEEE operations (+ - * /,
 * fmaf, frexp), each rounded once, in a fixed order. */
#ifndef NN_NMATH_H
#define NN_NMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x in float: the scalar twin of v_exp (nn/kern/v16.h), bit for bit */
static inline float nn_expf(float x) {
    x = -87.f > x ? -87.f : x;
    x = 88.f < x ? 88.f : x;
    const float shift = 12582912.f;
    float k = (x * 1.44269504088896341f + shift) - shift;
    float r = fmaf(k, -0.693145751953125f, x);
    r = fmaf(k, -1.428606765330187e-06f, r);
    float p = 1.f / 5040;
    p = fmaf(p, r, 1.f / 720);
    p = fmaf(p, r, 1.f / 120);
    p = fmaf(p, r, 1.f / 24);
    p = fmaf(p, r, 1.f / 6);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.f);
    p = fmaf(p, r, 1.f);
    int32_t i = ((k == k ? (int32_t)k : 0) + 127) * (1 << 23);
    float s;
    memcpy(&s, &i, 4);
    return p * s;
}

/* ln x in double for x > 0: x = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(u), u = (m - 1) / (m + 1), |u| < 0.172, by its series to
 * u^21 (truncation under 1e-17 relative) */
static inline double nn_log(double x) {
    if (!(x > 0) || x > 1.7976931348623157e308) return x > 0 ? x : x == 0 ? -INFINITY : NAN;
    int e;
    double m = frexp(x, &e);
    if (m < 0.70710678118654752440) { m *= 2; e--; }
    const double u = (m - 1) / (m + 1), u2 = u * u;
    double p = 1.0 / 21;
    for (int k = 19; k >= 3; k -= 2) p = p * u2 + 1.0 / k;
    const double lnm = 2 * u + 2 * u * u2 * p;
    /* ln 2 in two parts: e * hi is exact for |e| < 2^11 */
    return e * 6.93147180369123816490e-01 + (e * 1.90821492927058770002e-10 + lnm);
}

/* cos x in double: x reduced to [-pi, pi] by whole turns, then the Taylor
 * series to x^32 (truncation under 1e-17 there) */
static inline double nn_cos(double x) {
    const double two_pi = 6.28318530717958647692;
    x -= two_pi * nearbyint(x / two_pi);
    const double x2 = x * x;
    double p = 0, f = 1;
    /* coefficients (-1)^n / (2n)!, highest first */
    double c[17];
    for (int n = 0; n <= 16; n++) {
        c[n] = (n % 2 ? -1.0 : 1.0) / f;
        f *= (double)(2 * n + 1) * (2 * n + 2);
    }
    for (int n = 16; n >= 0; n--) p = p * x2 + c[n];
    return p;
}

/* b^n for an integer n >= 0, by repeated squaring */
static inline double nn_powi(double b, int64_t n) {
    double r = 1;
    for (; n > 0; n >>= 1, b *= b)
        if (n & 1) r *= b;
    return r;
}

#endif
