/* dense.c -- fully connected layer (PyTorch's Linear): three sgemm calls.
 * At batch 128 these products are large enough for OpenBLAS's own threads. */
#include <string.h>
#include <cblas.h>
#include "ops.h"

void dense_forward(float *out, const float *inp, const float *w, const float *b,
                   int B, int nin, int nout) {
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * nout, b, sizeof(float) * nout);
    /* out (B, nout) += inp (B, nin) . w^T (nin, nout) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, nout, nin, 1.f, inp, nin, w, nin, 1.f, out, nout);
}

void dense_backward(float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int B, int nin, int nout) {
    /* dw (nout, nin) += dout^T (nout, B) . inp (B, nin) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, B, 1.f, dout, nout, inp, nin, 1.f, dw, nin);
    for (int o = 0; o < nout; o++) {
        float s = 0.f;
        for (int n = 0; n < B; n++) s += dout[(size_t)n * nout + o];
        db[o] += s;
    }
    /* dinp (B, nin) = dout (B, nout) . w (nout, nin) */
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, nin, nout, 1.f, dout, nout, w, nin, 0.f, dinp, nin);
}

void dense_forward_ref(float *out, const float *inp, const float *w, const float *b,
                       int B, int nin, int nout) {
    for (int n = 0; n < B; n++)
        for (int o = 0; o < nout; o++) {
            double s = b[o];
            for (int i = 0; i < nin; i++) s += (double)inp[(size_t)n * nin + i] * w[(size_t)o * nin + i];
            out[(size_t)n * nout + o] = (float)s;
        }
}

void dense_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int B, int nin, int nout) {
    if (dinp) memset(dinp, 0, sizeof(float) * (size_t)B * nin);
    for (int n = 0; n < B; n++)
        for (int o = 0; o < nout; o++) {
            float d = dout[(size_t)n * nout + o];
            db[o] += d;
            for (int i = 0; i < nin; i++) {
                dw[(size_t)o * nin + i] += d * inp[(size_t)n * nin + i];
                if (dinp) dinp[(size_t)n * nin + i] += d * w[(size_t)o * nin + i];
            }
        }
}
