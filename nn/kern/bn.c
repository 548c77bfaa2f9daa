/* bn.c -- batch normalization, 2-D (per channel over B*H*W) and 1-D (HW = 1),
 * with PyTorch's train/eval semantics, channels over threads.
 *
 * Statistics are summed in double in a fixed order that depends on nothing
 * but the shape: eight partial sums, value i of each plane going to sum
 * i mod 8, planes in image order, then the eight added in one tree. The
 * compiler may run the eight as vector lanes (that changes no bit), but
 * may not reorder them (no -ffast-math, no omp simd reduction). */
#include "kern.h"

#define CH_PARALLEL _Pragma("omp parallel for schedule(static) num_threads(nthreads) if ((size_t)B * C * HW >= 32768)")

/* ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)) */
static double tree8(const double s[8]) {
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* sum over the B planes of channel c of f(plane value i) */
#define PLANE_SUM(result, ...)                                                    \
    do {                                                                          \
        double s8_[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                 \
        for (int n = 0; n < B; n++) {                                             \
            const size_t o_ = ((size_t)n * C + c) * HW;                           \
            int i = 0;                                                            \
            for (; i + 8 <= HW; i += 8)                                           \
                for (int l = 0; l < 8; l++) { const size_t k = o_ + i + l; s8_[l] += (__VA_ARGS__); } \
            for (int l = 0; i < HW; i++, l++) { const size_t k = o_ + i; s8_[l] += (__VA_ARGS__); } \
        }                                                                         \
        result = tree8(s8_);                                                      \
    } while (0)

void NN_K(batchnorm_forward_train)(float *out, float *xhat, float *invstd, float *rmean, float *rvar,
                                   const float *inp, const float *gamma, const float *beta,
                                   int B, int C, int HW, float momentum, float eps, int nthreads) {
    const double N = (double)B * HW;
    CH_PARALLEL
    for (int c = 0; c < C; c++) {
        double s, v;
        PLANE_SUM(s, (double)inp[k]);
        const double mean = s / N;
        PLANE_SUM(v, ((double)inp[k] - mean) * ((double)inp[k] - mean));
        const double var = v / N;
        const float is = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        invstd[c] = is;
        for (int n = 0; n < B; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *xh = xhat + ((size_t)n * C + c) * HW, *y = out + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                xh[i] = (x[i] - m) * is;
                y[i] = gamma[c] * xh[i] + beta[c];
            }
        }
        const double unbiased = N > 1 ? v / (N - 1) : var;
        rmean[c] = (1.f - momentum) * rmean[c] + momentum * (float)mean;
        rvar[c] = (1.f - momentum) * rvar[c] + momentum * (float)unbiased;
    }
}

void NN_K(batchnorm_forward_eval)(float *out, const float *inp, const float *gamma, const float *beta,
                                  const float *rmean, const float *rvar, int B, int C, int HW,
                                  float eps, int nthreads) {
    CH_PARALLEL
    for (int c = 0; c < C; c++) {
        const float is = 1.f / sqrtf(rvar[c] + eps);
        for (int n = 0; n < B; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *y = out + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) y[i] = gamma[c] * (x[i] - rmean[c]) * is + beta[c];
        }
    }
}

void NN_K(batchnorm_backward)(float *dinp, float *dgamma, float *dbeta, const float *dout,
                              const float *xhat, const float *invstd, const float *gamma,
                              int B, int C, int HW, int nthreads) {
    const double N = (double)B * HW;
    CH_PARALLEL
    for (int c = 0; c < C; c++) {
        double sdy, sdyx;
        PLANE_SUM(sdy, (double)dout[k]);
        PLANE_SUM(sdyx, (double)dout[k] * xhat[k]);
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (!dinp) continue;
        const float kk = gamma[c] * invstd[c], mdy = (float)(sdy / N), mdyx = (float)(sdyx / N);
        for (int n = 0; n < B; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW, *xh = xhat + ((size_t)n * C + c) * HW;
            float *dx = dinp + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[i] = kk * (dy[i] - mdy - xh[i] * mdyx);
        }
    }
}
