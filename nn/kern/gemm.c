/* gemm.c -- the one matrix product of nn/: register tiles of RT rows by VT
 * 16-float vectors, each output one fma chain over k in order (kern.h).
 * A is broadcast one element at a time, so it can be read with any strides
 * or through offset tables (a transposed weight matrix, an image read in
 * place as its column matrix); the rows of Bm are loaded as vectors, by
 * column segments of up to 16 (a segment may stand for part of an image
 * row, so a convolution writes its output rows straight into place).
 * Column blocks run outermost, so one block of Bm (K x 16 VT floats) stays
 * in cache across the row tiles. */
#include "kern.h"

#ifndef GEMM_KC
#define GEMM_KC 256
#endif

#define RT_CAP (GEMM_RT_WIDE > GEMM_RT_NARROW ? GEMM_RT_WIDE : GEMM_RT_NARROW)
#ifdef GEMM_VT_FEW
#define VT_CAP GEMM_VT_FEW
#else
#define VT_CAP GEMM_VT_WIDE
#endif

/* one tile: rows m0..m0+RT-1 by the segments sg[0..VT-1] (FULL: all 16 wide).
 * TA: A[m][k] is A[am[m] + ak[k]]; TB: row k of Bm starts at Bm + bk[k]. */
V_INLINE void tile(const int RT, const int VT, const int FULL, const int TA, const int TB, const gemm_args *g,
                   const nn_seg *sg, int m0) {
    /* fixed sizes (not VLAs), loops fully unrolled: the tile lives in registers */
    v16 acc[RT_CAP][VT_CAP];
    m16 mk[VT_CAP], ms[VT_CAP];
    const float *a[RT_CAP];
#pragma GCC unroll 4
    for (int v = 0; v < VT; v++) {
        mk[v] = v_mask(sg[v].n);
        ms[v] = v_mask(sg[v].w);
    }
#pragma GCC unroll 24
    for (int r = 0; r < RT; r++) {
        const int m = m0 + r;
        a[r] = TA ? g->A + g->am[m] : g->A + (size_t)m * g->sam;
#pragma GCC unroll 4
        for (int v = 0; v < VT; v++) {
            const float *c = g->C + (size_t)m * g->ldc + sg[v].c;
            switch (g->init) {
            case GEMM_INIT_C: acc[r][v] = FULL ? v_load(c) : v_load_m(c, mk[v]); break;
            case GEMM_INIT_ROW: acc[r][v] = v_set1(g->bias[m]); break;
            case GEMM_INIT_COL: acc[r][v] = FULL ? v_load(g->bias + sg[v].c) : v_load_m(g->bias + sg[v].c, mk[v]); break;
            default: acc[r][v] = v_zero(); break;
            }
        }
    }
    for (int k = 0; k < g->K; k++) {
        const float *b = TB ? g->B + g->bk[k] : g->B + (size_t)k * g->ldb;
        v16 bv[VT_CAP];
#pragma GCC unroll 4
        for (int v = 0; v < VT; v++) bv[v] = FULL ? v_load(b + sg[v].b) : v_load_m(b + sg[v].b, mk[v]);
        const size_t ko = TA ? (size_t)g->ak[k] : (size_t)k * g->sak;
#pragma GCC unroll 24
        for (int r = 0; r < RT; r++) {
            v16 av = v_bcast(a[r] + ko);
#pragma GCC unroll 4
            for (int v = 0; v < VT; v++) acc[r][v] = v_fma(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 24
    for (int r = 0; r < RT; r++) {
        float *c = g->C + (size_t)(m0 + r) * g->ldc;
#pragma GCC unroll 4
        for (int v = 0; v < VT; v++) {
            /* a spill must end inside C: in a later row, which is stored afterwards */
            const int spill = g->overrun && (size_t)(m0 + r) * g->ldc + sg[v].c + 16 <= (size_t)g->M * g->ldc;
            if (FULL || sg[v].w == 16 || spill) v_store(c + sg[v].c, acc[r][v]);
            else v_store_m(c + sg[v].c, ms[v], acc[r][v]);
        }
    }
}

/* whole blocks skip the masks (on AVX-512 too: masked loads in the k loop
 * cost LeNet 12%) */
#define T1(RT, VT) do { if (full) tile(RT, VT, 1, TA, TB, g, sg, m0); else tile(RT, VT, 0, TA, TB, g, sg, m0); } while (0)

/* The rows of one column block, in tiles of RTMAX rows while they last,
 * then of the largest height below it that the path has a tile for. */
#define ROWS(RTMAX, VT)                                                                   \
    for (int m0 = 0, rows; m0 < g->M; m0 += rows) {                                       \
        const int left = g->M - m0;                                                       \
        if (left >= (RTMAX)) { rows = (RTMAX); T1(RTMAX, VT); }                           \
        else if ((RTMAX) > 16 && left >= 16) { rows = 16; T1(16 < (RTMAX) ? 16 : 1, VT); } \
        else if ((RTMAX) > 12 && left >= 12) { rows = 12; T1(12 < (RTMAX) ? 12 : 1, VT); } \
        else if ((RTMAX) > 8 && left >= 8) { rows = 8; T1(8 < (RTMAX) ? 8 : 1, VT); }     \
        else if ((RTMAX) > 6 && left >= 6) { rows = 6; T1(6 < (RTMAX) ? 6 : 1, VT); }     \
        else if ((RTMAX) > 4 && left >= 4) { rows = 4; T1(4 < (RTMAX) ? 4 : 1, VT); }     \
        else if (left >= 3) { rows = 3; T1(3, VT); }                                       \
        else if (left >= 2) { rows = 2; T1(2, VT); }                                       \
        else { rows = 1; T1(1, VT); }                                                      \
    }
#define ROWS_(RTMAX, VT) ROWS(RTMAX, VT)

/* The whole product for one choice of TA and TB: the column segments in
 * blocks of GEMM_VT_WIDE (a block of one when fewer are left), each block
 * down all the rows. Without a segment table the segments are the plain
 * columns 16 at a time. */
V_INLINE void gemm_body(const int TA, const int TB, const gemm_args *g) {
    const int nseg = g->seg ? g->nseg : (g->N + 15) / 16;
#ifdef GEMM_VT_FEW
    const int VTB = g->M <= GEMM_RT_FEW ? GEMM_VT_FEW : GEMM_VT_WIDE;
#else
    const int VTB = GEMM_VT_WIDE;
#endif
    /* blocks of VTB segments, then blocks of one for the rest; overrun runs
     * the blocks backwards */
    const int nfull = VTB > 1 ? nseg / VTB : 0, nblk = nfull + (nseg - nfull * VTB);
    for (int bi = 0; bi < nblk; bi++) {
        const int b = g->overrun ? nblk - 1 - bi : bi;
        const int s0 = b < nfull ? b * VTB : nfull * VTB + (b - nfull), vt = b < nfull ? VTB : 1;
        nn_seg sg[VT_CAP];
        int full = 1;
        for (int v = 0; v < vt; v++) {
            if (g->seg) sg[v] = g->seg[s0 + v];
            else {
                const int j = 16 * (s0 + v), n = g->N - j < 16 ? g->N - j : 16;
                sg[v] = (nn_seg){j, j, n, n};
            }
            full &= sg[v].n == 16;
        }
#ifdef GEMM_VT_FEW
        if (vt == GEMM_VT_FEW) {
            ROWS_(GEMM_RT_FEW, GEMM_VT_FEW);
        } else
#endif
        if (vt > 1) {
            ROWS_(GEMM_RT_WIDE, GEMM_VT_WIDE);
        } else {
            ROWS_(GEMM_RT_NARROW, 1);
        }
    }
}

static void gemm_part(const gemm_args *g) {
    if (g->am && g->bk) gemm_body(1, 1, g);
    else if (g->am) gemm_body(1, 0, g);
    else if (g->bk) gemm_body(0, 1, g);
    else gemm_body(0, 0, g);
}

/* Long chains go in parts of at most GEMM_KC steps (as even as they come):
 * the whole product over the first part of k, then each later part
 * continuing every chain from C.
 * A chain stored and loaded again between two steps is the same chain (the
 * accumulators are floats too), so the bits are those of one pass; the
 * parts' rows of Bm (and of A) stay in the first-level cache while the
 * row tiles pass over them. */
void NN_K(gemm_run)(const gemm_args *g) {
    if (g->overrun && (g->seg || g->init == GEMM_INIT_C)) __builtin_trap(); /* kern.h: not with these */
    const int parts = (g->K + GEMM_KC - 1) / GEMM_KC, kc = parts > 1 ? (g->K + parts - 1) / parts : g->K;
    if (parts <= 1) { gemm_part(g); return; }
    for (int k0 = 0; k0 < g->K; k0 += kc) {
        gemm_args p = *g;
        p.K = g->K - k0 < kc ? g->K - k0 : kc;
        if (g->am) p.ak = g->ak + k0;
        else p.A = g->A + (size_t)k0 * g->sak;
        if (g->bk) p.bk = g->bk + k0;
        else p.B = g->B + (size_t)k0 * g->ldb;
        if (k0 > 0) { p.init = GEMM_INIT_C; p.overrun = 0; }
        gemm_part(&p);
    }
}

void NN_K(gemm)(float *C, int ldc, const float *A, int sam, int sak, const float *Bm, int ldb,
                int M, int N, int K, int beta) {
    gemm_args g = {.C = C, .ldc = ldc, .A = A, .sam = sam, .sak = sak, .B = Bm, .ldb = ldb,
                   .M = M, .N = N, .K = K, .init = beta ? GEMM_INIT_C : GEMM_INIT_ZERO};
    NN_K(gemm_run)(&g);
}

/* 12 chains of fma in flight cover the latency (4 cycles, 2 ports); on
 * AVX2 a v16 is two ymm, so 6 of them, each taking two fmas a round (12
 * would need 24 of the 16 ymm registers: spills, and a peak measured 10%
 * low) */
#if defined(NN_KERN_AVX2)
#define PROBE_ACC 6
#else
#define PROBE_ACC 12
#endif
float NN_K(fma_probe)(long iters) {
    v16 acc[PROBE_ACC], x = v_set1(1.0000001f), y = v_set1(0.9999999f);
    for (int i = 0; i < PROBE_ACC; i++) acc[i] = v_set1((float)i);
    for (long it = 0; it < iters; it++)
        for (int r = 0; r < 12 / PROBE_ACC; r++)
#pragma GCC unroll 12
            for (int i = 0; i < PROBE_ACC; i++) acc[i] = v_fma(acc[i], x, y);
    v16 s = acc[0];
    for (int i = 1; i < PROBE_ACC; i++) s = v_add(s, acc[i]);
    return v_hsum(s);
}
