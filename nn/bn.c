/* bn.c -- batch normalization, 2-D (per channel over B*H*W) and 1-D (HW = 1),
 * with PyTorch's train/eval semantics. Statistics are summed in double, one
 * channel per loop iteration, so results do not depend on the thread count;
 * the sums over a plane run in vector lanes (omp simd reduction: the lanes'
 * order is fixed by the build, not by the run). */
#include <math.h>
#include "ops.h"

#define CH_PARALLEL _Pragma("omp parallel for schedule(static) num_threads(nthreads) if ((size_t)B * C * HW >= 32768)")

void batchnorm_forward_train(float *out, float *xhat, float *invstd, float *rmean, float *rvar,
                             const float *inp, const float *gamma, const float *beta,
                             int B, int C, int HW, float momentum, float eps, int nthreads) {
    const double N = (double)B * HW;
    CH_PARALLEL
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < B; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
#pragma omp simd reduction(+ : s)
            for (int i = 0; i < HW; i++) s += x[i];
        }
        double mean = s / N, v = 0;
        for (int n = 0; n < B; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
#pragma omp simd reduction(+ : v)
            for (int i = 0; i < HW; i++) { double d = x[i] - mean; v += d * d; }
        }
        double var = v / N;
        float is = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        invstd[c] = is;
        for (int n = 0; n < B; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *xh = xhat + ((size_t)n * C + c) * HW, *y = out + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                xh[i] = (x[i] - m) * is;
                y[i] = gamma[c] * xh[i] + beta[c];
            }
        }
        double unbiased = N > 1 ? v / (N - 1) : var;
        rmean[c] = (1.f - momentum) * rmean[c] + momentum * (float)mean;
        rvar[c] = (1.f - momentum) * rvar[c] + momentum * (float)unbiased;
    }
}

void batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *rmean, const float *rvar, int B, int C, int HW,
                            float eps, int nthreads) {
    CH_PARALLEL
    for (int c = 0; c < C; c++) {
        float is = 1.f / sqrtf(rvar[c] + eps);
        for (int n = 0; n < B; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *y = out + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) y[i] = gamma[c] * (x[i] - rmean[c]) * is + beta[c];
        }
    }
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *xhat, const float *invstd, const float *gamma,
                        int B, int C, int HW, int nthreads) {
    const double N = (double)B * HW;
    CH_PARALLEL
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < B; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW, *xh = xhat + ((size_t)n * C + c) * HW;
#pragma omp simd reduction(+ : sdy, sdyx)
            for (int i = 0; i < HW; i++) { sdy += dy[i]; sdyx += (double)dy[i] * xh[i]; }
        }
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (!dinp) continue;
        float k = gamma[c] * invstd[c], mdy = (float)(sdy / N), mdyx = (float)(sdyx / N);
        for (int n = 0; n < B; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW, *xh = xhat + ((size_t)n * C + c) * HW;
            float *dx = dinp + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[i] = k * (dy[i] - mdy - xh[i] * mdyx);
        }
    }
}
