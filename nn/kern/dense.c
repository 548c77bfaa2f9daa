/* dense.c -- fully connected layer (PyTorch's Linear) as three gemm
 * products (kern.h): each output one fma chain in a fixed order, so the
 * bits are the same on every path. The network transposes W once per
 * batch (dense_pack, ops.h) and runs the forward of each slice on it. */
#include "kern.h"

/* out (B, nout) = b + inp (B, nin) . wt (nin, nout) */
void NN_K(dense_forward_packed)(float *out, const float *inp, const float *wt, const float *b,
                                int B, int nin, int nout) {
    gemm_args a = {.C = out, .ldc = nout, .A = inp, .sam = nin, .sak = 1, .B = wt, .ldb = nout,
                   .M = B, .N = nout, .K = nin, .init = GEMM_INIT_COL, .bias = b, .overrun = 1};
    NN_K(gemm_run)(&a);
}

void NN_K(dense_backward)(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, int B, int nin, int nout) {
    /* dw (nout, nin) += dout^T (nout, B) . inp (B, nin) */
    NN_K(gemm)(dw, nin, dout, 1, nout, inp, nin, nout, nin, B, 1);
    /* db (nout) += sum_n dout[n], in n order */
    for (int o = 0; o < nout; o++) {
        float s = db[o];
        for (int n = 0; n < B; n++) s += dout[(size_t)n * nout + o];
        db[o] = s;
    }
    /* dinp (B, nin) = dout (B, nout) . w (nout, nin) */
    if (dinp) {
        gemm_args a = {.C = dinp, .ldc = nin, .A = dout, .sam = nout, .sak = 1, .B = w, .ldb = nin,
                       .M = B, .N = nin, .K = nout, .init = GEMM_INIT_ZERO, .overrun = 1};
        NN_K(gemm_run)(&a);
    }
}
