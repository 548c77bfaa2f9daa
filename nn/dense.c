/* dense.c -- fully connected layer (PyTorch's Linear). With AVX-512, three
 * products through one register-tiled kernel (gemm_tile) that vectorizes
 * along contiguous rows of its right operand, so no operand needs a
 * transpose except the forward's W, packed 32 outputs at a time. Work is
 * split over threads by output rows, each output computed by exactly one
 * thread in a fixed order: results do not depend on the thread count.
 * Without AVX-512 the products go to sgemm. The plain loops are the oracle. */
#include <string.h>
#include <cblas.h>
#include "ops.h"
#include "par.h"

#ifdef __AVX512F__
#include <immintrin.h>

/* lanes of the 16 columns starting at j that lie inside a row of n */
static __mmask16 lanes(int j, int n) {
    int r = n - j;
    return r >= 16 ? (__mmask16)0xFFFF : r > 0 ? (__mmask16)((1u << r) - 1) : 0;
}

/* One register tile of C (M, N) = beta * C + A (M, K) . Bm (K, N):
 * rows m0..m0+RT-1 by columns j0..j0+16*VT-1.
 * A is read with strides (sam, sak) and broadcast, Bm and C are row-major.
 * Rows past M recompute row M-1 and are not stored. */
static inline __attribute__((always_inline)) void
gemm_tile(int RT, int VT, float *C, int ldc, const float *A, int sam, int sak,
          const float *Bm, int ldb, int M, int N, int K, int m0, int j0, int beta) {
    __m512 acc[12][6];
    __mmask16 mk[6];
    const float *ar[12];
#pragma GCC unroll 12
    for (int r = 0; r < RT; r++) ar[r] = A + (size_t)(m0 + r < M ? m0 + r : M - 1) * sam;
#pragma GCC unroll 6
    for (int v = 0; v < VT; v++) mk[v] = lanes(j0 + 16 * v, N);
#pragma GCC unroll 12
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 6
        for (int v = 0; v < VT; v++)
            acc[r][v] = beta && m0 + r < M ? _mm512_maskz_loadu_ps(mk[v], C + (size_t)(m0 + r) * ldc + j0 + 16 * v)
                                           : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b[6];
        const float *br = Bm + (size_t)k * ldb + j0;
#pragma GCC unroll 6
        for (int v = 0; v < VT; v++) b[v] = _mm512_maskz_loadu_ps(mk[v], br + 16 * v);
#pragma GCC unroll 12
        for (int r = 0; r < RT; r++) {
            __m512 a = _mm512_set1_ps(ar[r][(size_t)k * sak]);
#pragma GCC unroll 6
            for (int v = 0; v < VT; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < RT; r++)
        if (m0 + r < M)
#pragma GCC unroll 6
            for (int v = 0; v < VT; v++)
                _mm512_mask_storeu_ps(C + (size_t)(m0 + r) * ldc + j0 + 16 * v, mk[v], acc[r][v]);
}

/* C (M, N) = beta * C + A . Bm over rows [m0, m1), in 4 x 96 tiles */
static void gemm_rows(float *C, int ldc, const float *A, int sam, int sak, const float *Bm, int ldb,
                      int M, int N, int K, int m0, int m1, int beta) {
    for (int j = 0; j < N; j += 96)
        for (int m = m0; m < m1; m += 4)
            gemm_tile(4, 6, C, ldc, A, sam, sak, Bm, ldb, m1 < M ? m1 : M, N, K, m, j, beta);
}

/* below about a million multiply-adds (a few microseconds) a fork and join costs more than it saves */
#define DENSE_PARALLEL(B, nin, nout) ((double)(B) * (nin) * (nout) >= 1e6)

#define FW_COLS 32  /* forward: outputs per packed block of W^T */
#define FW_K 256    /* forward: inputs per packed block (32 KB on the stack) */

void dense_forward_mt(float *out, const float *inp, const float *w, const float *b,
                      int B, int nin, int nout, int nthreads) {
    NN_PAR(DENSE_PARALLEL(B, nin, nout) ? nthreads : 1,
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        float wt[FW_K * FW_COLS];
        for (int n = n0; n < n1; n++) memcpy(out + (size_t)n * nout, b, sizeof(float) * nout);
        for (int o0 = 0; o0 < nout; o0 += FW_COLS) {
            int no = nout - o0 < FW_COLS ? nout - o0 : FW_COLS;
            for (int k0 = 0; k0 < nin; k0 += FW_K) {
                int nk = nin - k0 < FW_K ? nin - k0 : FW_K;
                /* wt (nk, no) = w[o0.., k0..]^T */
                for (int o = 0; o < no; o++)
                    for (int k = 0; k < nk; k++) wt[k * FW_COLS + o] = w[(size_t)(o0 + o) * nin + k0 + k];
                /* out[n0..n1, o0..] += inp[n0..n1, k0..] . wt */
                for (int n = n0; n < n1; n += 12)
                    gemm_tile(12, 2, out + o0, nout, inp + k0, nin, 1, wt, FW_COLS, n1, no, nk, n, 0, 1);
            }
        }
    );
}

void dense_forward_packed(float *out, const float *inp, const float *wt, const float *b,
                          int B, int nin, int nout) {
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * nout, b, sizeof(float) * nout);
    /* out (B, nout) += inp (B, nin) . wt (nin, nout) */
    gemm_rows(out, nout, inp, nin, 1, wt, nout, B, nout, nin, 0, B, 1);
}

void dense_backward_mt(float *dinp, float *dw, float *db, const float *dout,
                       const float *inp, const float *w, int B, int nin, int nout, int nthreads) {
    NN_PAR(DENSE_PARALLEL(B, nin, nout) ? nthreads : 1,
        /* this thread's output units, in whole tiles of 4 */
        int o0 = (nout + 3) / 4 * nn_t / nn_nt * 4, o1 = (nout + 3) / 4 * (nn_t + 1) / nn_nt * 4;
        if (o1 > nout) o1 = nout;
        /* dw (nout, nin) += dout^T (nout, B) . inp (B, nin) */
        gemm_rows(dw, nin, dout, 1, nout, inp, nin, nout, nin, B, o0, o1, 1);
        /* db (nout) += sum_n dout[n] */
        for (int o = o0; o < o1; o++) {
            float s = 0.f;
            for (int n = 0; n < B; n++) s += dout[(size_t)n * nout + o];
            db[o] += s;
        }
        /* dinp (B, nin) = dout (B, nout) . w (nout, nin) */
        if (dinp) {
            int n0, n1;
            nn_split(B, nn_t, nn_nt, &n0, &n1);
            gemm_rows(dinp, nin, dout, nout, 1, w, nin, B, nin, nout, n0, n1, 0);
        }
    );
}

#else

void dense_forward_mt(float *out, const float *inp, const float *w, const float *b,
                      int B, int nin, int nout, int nthreads) {
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * nout, b, sizeof(float) * nout);
    /* out (B, nout) += inp (B, nin) . w^T (nin, nout) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, nout, nin, 1.f, inp, nin, w, nin, 1.f, out, nout);
}

void dense_forward_packed(float *out, const float *inp, const float *wt, const float *b,
                          int B, int nin, int nout) {
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * nout, b, sizeof(float) * nout);
    /* out (B, nout) += inp (B, nin) . wt (nin, nout) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, nout, nin, 1.f, inp, nin, wt, nout, 1.f, out, nout);
}

void dense_backward_mt(float *dinp, float *dw, float *db, const float *dout,
                       const float *inp, const float *w, int B, int nin, int nout, int nthreads) {
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

#endif

void dense_pack(float *wt, const float *w, int nin, int nout, int o0, int o1) {
    for (int o = o0; o < o1; o++)
        for (int k = 0; k < nin; k++) wt[(size_t)k * nout + o] = w[(size_t)o * nin + k];
}

void dense_forward(float *out, const float *inp, const float *w, const float *b,
                   int B, int nin, int nout) {
    dense_forward_mt(out, inp, w, b, B, nin, nout, 1);
}

void dense_backward(float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int B, int nin, int nout) {
    dense_backward_mt(dinp, dw, db, dout, inp, w, B, nin, nout, 1);
}

/* ---- plain loops: the oracle */

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
