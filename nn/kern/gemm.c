/* gemm.c -- the one matrix product of nn/: register tiles of RT rows by VT
 * 16-float vectors, each output one fma chain over k in order (kern.h).
 * A is broadcast one element at a time, so it can be read with any strides
 * (a transposed weight matrix, an image's column matrix read across); the
 * rows of Bm are loaded as vectors. Column blocks run outermost, so one
 * block of Bm (K x 16 VT floats) stays in cache across the row tiles. */
#include "kern.h"

#define RT_CAP (GEMM_RT_WIDE > GEMM_RT_NARROW ? GEMM_RT_WIDE : GEMM_RT_NARROW)

/* one tile: rows m0..m0+RT-1, columns j0..j0+16 VT-1 (FULL: all inside N).
 * TA: A[m][k] is A[am[m] + ak[k]]; TB: row k of Bm starts at Bm + bk[k]
 * (a convolution reads its input planes in place through such offsets) */
V_INLINE void tile(const int RT, const int VT, const int FULL, const int TA, const int TB, float *C, int ldc,
                   const float *A, int sam, int sak, const int *am, const int *ak, const float *Bm, int ldb,
                   const int *bk, int N, int K, int m0, int j0, int beta) {
    /* fixed sizes (not VLAs), loops fully unrolled: the tile lives in registers */
    v16 acc[RT_CAP][GEMM_VT_WIDE];
    m16 mk[GEMM_VT_WIDE];
    const float *a[RT_CAP];
#pragma GCC unroll 2
    for (int v = 0; v < VT; v++) mk[v] = v_mask(N - j0 - 16 * v);
#pragma GCC unroll 24
    for (int r = 0; r < RT; r++) {
        a[r] = TA ? A + am[m0 + r] : A + (size_t)(m0 + r) * sam;
        float *c = C + (size_t)(m0 + r) * ldc + j0;
#pragma GCC unroll 2
        for (int v = 0; v < VT; v++)
            acc[r][v] = !beta ? v_zero() : FULL ? v_load(c + 16 * v) : v_load_m(c + 16 * v, mk[v]);
    }
    for (int k = 0; k < K; k++) {
        const float *b = (TB ? Bm + bk[k] : Bm + (size_t)k * ldb) + j0;
        v16 bv[GEMM_VT_WIDE];
#pragma GCC unroll 2
        for (int v = 0; v < VT; v++) bv[v] = FULL ? v_load(b + 16 * v) : v_load_m(b + 16 * v, mk[v]);
        const size_t ko = TA ? (size_t)ak[k] : (size_t)k * sak;
#pragma GCC unroll 24
        for (int r = 0; r < RT; r++) {
            v16 av = v_bcast(a[r] + ko);
#pragma GCC unroll 2
            for (int v = 0; v < VT; v++) acc[r][v] = v_fma(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 24
    for (int r = 0; r < RT; r++) {
        float *c = C + (size_t)(m0 + r) * ldc + j0;
#pragma GCC unroll 2
        for (int v = 0; v < VT; v++) {
            if (FULL) v_store(c + 16 * v, acc[r][v]);
            else v_store_m(c + 16 * v, mk[v], acc[r][v]);
        }
    }
}

#define TILE_ARGS C, ldc, A, sam, sak, am, ak, Bm, ldb, bk, N, K, m0, j0, beta
#define T1(RT, VT) do { if (full) tile(RT, VT, 1, TA, TB, TILE_ARGS); else tile(RT, VT, 0, TA, TB, TILE_ARGS); } while (0)

/* rows of one column block, in tiles of RTMAX rows and one of the rest */
#define ROWS(RTMAX, VT)                                                        \
    for (int m0 = 0; m0 < M; m0 += (RTMAX)) {                                  \
        int rows = M - m0 < (RTMAX) ? M - m0 : (RTMAX);                        \
        switch (rows) {                                                        \
        case 1: T1(1, VT); break;   case 2: T1(2, VT); break;                  \
        case 3: T1(3, VT); break;   case 4: T1(4, VT); break;                   \
        default: CASES_##RTMAX(VT);                                            \
        }                                                                      \
    }

/* the cases past 4 that a path's tile heights need */
#define CASES_4(VT) break
#define CASES_6(VT) if (rows == 5) T1(5, VT); else T1(6, VT); break
#define CASES_12(VT)                                   \
    switch (rows) {                                    \
    case 5: T1(5, VT); break;  case 6: T1(6, VT); break;   \
    case 7: T1(7, VT); break;  case 8: T1(8, VT); break;   \
    case 9: T1(9, VT); break;  case 10: T1(10, VT); break; \
    case 11: T1(11, VT); break; default: T1(12, VT); break; \
    } break
#define CASES_24(VT)                                         \
    switch (rows) {                                          \
    case 5: T1(5, VT); break;   case 6: T1(6, VT); break;    \
    case 7: T1(7, VT); break;   case 8: T1(8, VT); break;    \
    case 9: T1(9, VT); break;   case 10: T1(10, VT); break;  \
    case 11: T1(11, VT); break; case 12: T1(12, VT); break;  \
    case 13: T1(13, VT); break; case 14: T1(14, VT); break;  \
    case 15: T1(15, VT); break; case 16: T1(16, VT); break;  \
    case 17: T1(17, VT); break; case 18: T1(18, VT); break;  \
    case 19: T1(19, VT); break; case 20: T1(20, VT); break;  \
    case 21: T1(21, VT); break; case 22: T1(22, VT); break;  \
    case 23: T1(23, VT); break; default: T1(24, VT); break;  \
    } break
#define ROWS_(RTMAX, VT) ROWS(RTMAX, VT)

/* the whole product for one choice of TA and TB */
V_INLINE void gemm_body(const int TA, const int TB, float *C, int ldc, const float *A, int sam, int sak,
                        const int *am, const int *ak, const float *Bm, int ldb, const int *bk,
                        int M, int N, int K, int beta) {
    for (int j0 = 0; j0 < N;) {
        const int ncols = N - j0;
        if (GEMM_VT_WIDE > 1 && ncols > 16) {
            const int full = ncols >= 16 * GEMM_VT_WIDE;
            ROWS_(GEMM_RT_WIDE, GEMM_VT_WIDE);
            j0 += 16 * GEMM_VT_WIDE;
        } else {
            const int full = ncols >= 16;
            ROWS_(GEMM_RT_NARROW, 1);
            j0 += 16;
        }
    }
}

void NN_K(gemm)(float *C, int ldc, const float *A, int sam, int sak, const float *Bm, int ldb,
                int M, int N, int K, int beta) {
    gemm_body(0, 0, C, ldc, A, sam, sak, NULL, NULL, Bm, ldb, NULL, M, N, K, beta);
}

void NN_K(gemm_x)(float *C, int ldc, const float *A, int sam, int sak, const int *am, const int *ak,
                  const float *Bm, int ldb, const int *bk, int M, int N, int K, int beta) {
    if (am && bk) gemm_body(1, 1, C, ldc, A, 0, 0, am, ak, Bm, 0, bk, M, N, K, beta);
    else if (am) gemm_body(1, 0, C, ldc, A, 0, 0, am, ak, Bm, ldb, NULL, M, N, K, beta);
    else if (bk) gemm_body(0, 1, C, ldc, A, sam, sak, NULL, NULL, Bm, 0, bk, M, N, K, beta);
    else gemm_body(0, 0, C, ldc, A, sam, sak, NULL, NULL, Bm, ldb, NULL, M, N, K, beta);
}

float NN_K(fma_probe)(long iters) {
    v16 acc[12], x = v_set1(1.0000001f), y = v_set1(0.9999999f);
    for (int i = 0; i < 12; i++) acc[i] = v_set1((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = v_fma(acc[i], x, y);
    v16 s = acc[0];
    for (int i = 1; i < 12; i++) s = v_add(s, acc[i]);
    return v_hsum(s);
}
