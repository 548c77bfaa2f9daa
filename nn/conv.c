/* conv.c -- 2-D convolution (cross-correlation, PyTorch's Conv2d), images
 * spread over nthreads threads, per-thread weight-gradient partials summed
 * in thread order (bitwise reproducible for a thread count). The network
 * calls it with one thread per slice of a batch (net.c).
 *
 * Two paths. 5x5 kernels at stride 1 (both LeNet layers) on an AVX-512
 * build take hand-tiled direct kernels (below "the fast path"), which beat
 * sgemm on these small products (6 or 16 channels, 25 or 150 taps) and need
 * no im2col. Every other geometry goes through im2col + sgemm per image: one
 * image's column matrix (C*K*K x OH*OW) stays in cache, and each thread's
 * sgemm runs single-threaded (OpenBLAS's OpenMP build sees it is inside a
 * parallel region). The plain loops at the end are the test oracle. */
#include <string.h>
#include <cblas.h>
#include "ops.h"
#include "par.h"

/* col: (C*K*K, OH*OW)  img: (C, H, W); zeros where the window hits padding */
static void im2col(float *col, const float *img, const nn_conv_geom *g) {
    const int K = g->K, S = g->S, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                const float *plane = img + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * S - P + ki;
                    float *r = row + oh * OW;
                    if (ih < 0 || ih >= H) { memset(r, 0, sizeof(float) * OW); continue; }
                    const float *src = plane + (size_t)ih * W;
                    if (S == 1) {
                        /* contiguous run: ow in [lo, hi) maps to iw = ow - P + kj */
                        int lo = P - kj > 0 ? P - kj : 0;
                        int hi = W + P - kj < OW ? W + P - kj : OW;
                        if (hi < lo) hi = lo;
                        for (int ow = 0; ow < lo; ow++) r[ow] = 0.f;
                        if (hi > lo) memcpy(r + lo, src + lo - P + kj, sizeof(float) * (hi - lo));
                        for (int ow = hi; ow < OW; ow++) r[ow] = 0.f;
                    } else {
                        for (int ow = 0; ow < OW; ow++) {
                            int iw = ow * S - P + kj;
                            r[ow] = (iw >= 0 && iw < W) ? src[iw] : 0.f;
                        }
                    }
                }
            }
}

/* img: (C, H, W) += col2im(col), the adjoint of im2col */
static void col2im_add(float *img, const float *col, const nn_conv_geom *g) {
    const int K = g->K, S = g->S, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                float *plane = img + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * S - P + ki;
                    if (ih < 0 || ih >= H) continue;
                    const float *r = row + oh * OW;
                    float *dst = plane + (size_t)ih * W;
                    for (int ow = 0; ow < OW; ow++) {
                        int iw = ow * S - P + kj;
                        if (iw >= 0 && iw < W) dst[iw] += r[ow];
                    }
                }
            }
}

static int is_pointwise(const nn_conv_geom *g) { return g->K == 1 && g->S == 1 && g->P == 0; }

static void conv2d_forward_gemm(float *out, const float *inp, const float *w, const float *b,
                    int B, const nn_conv_geom *g, float *scratch, int nthreads) {
    const int CKK = g->C * g->K * g->K, OHW = g->OH * g->OW;
    const size_t colsz = (size_t)CKK * OHW;
    NN_PAR(nthreads,
        float *col = scratch + (size_t)nn_t * colsz;
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            const float *img = inp + (size_t)n * g->C * g->H * g->W;
            float *o = out + (size_t)n * g->OC * OHW;
            const float *cm = img;
            if (!is_pointwise(g)) { im2col(col, img, g); cm = col; }
            for (int oc = 0; oc < g->OC; oc++)
                for (int i = 0; i < OHW; i++) o[(size_t)oc * OHW + i] = b[oc];
            /* o (OC, OHW) += w (OC, CKK) . col (CKK, OHW) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->OC, OHW, CKK,
                        1.f, w, CKK, cm, OHW, 1.f, o, OHW);
        }
    );
}

static void conv2d_backward_gemm(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int B, const nn_conv_geom *g,
                     float *scratch, float *part, int nthreads) {
    const int CKK = g->C * g->K * g->K, OHW = g->OH * g->OW, OC = g->OC;
    const size_t colsz = (size_t)CKK * OHW, nw = (size_t)OC * CKK, partsz = nw + OC;
    const size_t isz = (size_t)g->C * g->H * g->W;
    int nt = nthreads < B ? nthreads : B;
    if (nt < 1) nt = 1;
    NN_PAR(nt,
        int t = nn_t;
        float *col = scratch + (size_t)t * 2 * colsz, *dcol = col + colsz;
        float *pdw = part + (size_t)t * partsz, *pdb = pdw + nw;
        memset(pdw, 0, sizeof(float) * partsz);
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            const float *img = inp + (size_t)n * isz;
            const float *d = dout + (size_t)n * OC * OHW;
            const float *cm = img;
            if (!is_pointwise(g)) { im2col(col, img, g); cm = col; }
            /* pdw (OC, CKK) += d (OC, OHW) . col^T (OHW, CKK) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, CKK, OHW,
                        1.f, d, OHW, cm, OHW, 1.f, pdw, CKK);
            for (int oc = 0; oc < OC; oc++) {
                float s = 0.f;
                for (int i = 0; i < OHW; i++) s += d[(size_t)oc * OHW + i];
                pdb[oc] += s;
            }
            if (dinp) {
                float *di = dinp + (size_t)n * isz;
                if (is_pointwise(g)) {
                    /* di (C, HW) = w^T (C, OC) . d (OC, HW) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, OHW, OC,
                                1.f, w, CKK, d, OHW, 0.f, di, OHW);
                } else {
                    /* dcol (CKK, OHW) = w^T (CKK, OC) . d (OC, OHW) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, OHW, OC,
                                1.f, w, CKK, d, OHW, 0.f, dcol, OHW);
                    memset(di, 0, sizeof(float) * isz);
                    col2im_add(di, dcol, g);
                }
            }
        }
    );
    /* sum the partials in thread order: same thread count, same bits */
    for (int t = 0; t < nt; t++) {
        const float *pdw = part + (size_t)t * partsz;
        for (size_t i = 0; i < nw; i++) dw[i] += pdw[i];
        for (int oc = 0; oc < OC; oc++) db[oc] += pdw[nw + oc];
    }
}

/* ---- the fast path: 5x5 kernels at stride 1 (both LeNet convolutions), AVX-512.
 * Vectors run along output rows on wide planes (conv1: 28 columns, 2
 * vectors a row) and along the output channels on small ones (conv2: 16
 * channels, 10 columns), whichever leaves fewer lanes idle (use_oc_vectors).
 * The input gradient is the forward direct convolution applied to the
 * zero-padded output gradient with flipped kernels. Per image, 1 thread,
 * about 1.6 us forward and 2.8 us weight gradient for conv1; 3.0, 3.4 and
 * 4.5 us (input gradient) for conv2. */
#ifdef __AVX512F__
#include <immintrin.h>

#define FK 5     /* kernel size of the fast path */
#define OCB 6    /* output channels per register tile of conv5_direct */
#define SLOTS 4  /* row segments (up to 16 outputs each) per register tile */

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }
static int round_up(int n, int m) { return (n + m - 1) / m * m; }

/* xp: (C, H+2P, W+2P) = x: (C, H, W) framed by P zeros */
static void pad_planes(float *xp, const float *x, int C, int H, int W, int P) {
    const int Hp = H + 2 * P, Wp = W + 2 * P;
    memset(xp, 0, sizeof(float) * (size_t)C * Hp * Wp);
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            memcpy(xp + ((size_t)c * Hp + h + P) * Wp + P, x + ((size_t)c * H + h) * W, sizeof(float) * W);
}

/* y: (OC, OH, OW) = b + sum_{c,ki,kj} wt[(c*5+ki)*5+kj][oc] * xp[c][oh+ki][ow+kj]
 * xp: (C, Hp, Wp), padded already, zero outside rows [rlo, rhi)
 * wt: (C*25, OCP), OCP = OC rounded up to OCB, zero past OC  b: (OC) or NULL.
 * A register tile is OCB channels x SL row segments of up to 16 outputs;
 * taps that only meet zero rows are skipped (the input gradient, whose
 * padded plane is mostly zero rows, uses SL = 2 to skip more of them). */
static inline __attribute__((always_inline)) void
conv5_direct_sl(int SL, float *y, const float *xp, const float *wt, const float *b, int C, int Hp, int Wp,
                int rlo, int rhi, int OC, int OCP, int OH, int OW) {
    const int nseg = (OW + 15) / 16, nslot = OH * nseg;
    const size_t plane = (size_t)Hp * Wp, osz = (size_t)OH * OW;
    for (int s0 = 0; s0 < nslot; s0 += SL) {
        const float *xs[SLOTS];
        float *ys[SLOTS];
        __mmask16 lm[SLOTS], sm[SLOTS];
        int ohmin = OH, ohmax = 0;
        for (int s = 0; s < SL; s++) {
            /* past the last slot: recompute the last one, store nothing */
            int slot = s0 + s < nslot ? s0 + s : nslot - 1;
            int oh = slot / nseg, ow = slot % nseg * 16, n = OW - ow < 16 ? OW - ow : 16;
            xs[s] = xp + (size_t)oh * Wp + ow;
            ys[s] = y + (size_t)oh * OW + ow;
            lm[s] = (__mmask16)((1u << n) - 1);
            sm[s] = s0 + s < nslot ? lm[s] : 0;
            ohmin = oh < ohmin ? oh : ohmin;
            ohmax = oh > ohmax ? oh : ohmax;
        }
        const int ki0 = rlo - ohmax > 0 ? rlo - ohmax : 0, ki1 = rhi - ohmin < FK ? rhi - ohmin : FK;
        for (int o0 = 0; o0 < OC; o0 += OCB) {
            __m512 acc[OCB][SLOTS];
            for (int o = 0; o < OCB; o++) {
                __m512 v = _mm512_set1_ps(b && o0 + o < OC ? b[o0 + o] : 0.f);
                for (int s = 0; s < SL; s++) acc[o][s] = v;
            }
            for (int c = 0; c < C; c++)
                for (int ki = ki0; ki < ki1; ki++) {
                    const size_t xo = c * plane + (size_t)ki * Wp;
                    const float *wr = wt + (size_t)(c * FK + ki) * FK * OCP + o0;
#pragma GCC unroll 5
                    for (int kj = 0; kj < FK; kj++) {
                        __m512 x[SLOTS];
                        for (int s = 0; s < SL; s++) x[s] = _mm512_maskz_loadu_ps(lm[s], xs[s] + xo + kj);
                        for (int o = 0; o < OCB; o++) {
                            __m512 wv = _mm512_set1_ps(wr[kj * OCP + o]);
                            for (int s = 0; s < SL; s++) acc[o][s] = _mm512_fmadd_ps(wv, x[s], acc[o][s]);
                        }
                    }
                }
            for (int o = 0; o < OCB && o0 + o < OC; o++)
                for (int s = 0; s < SL; s++)
                    _mm512_mask_storeu_ps(ys[s] + (o0 + o) * osz, sm[s], acc[o][s]);
        }
    }
}

static void conv5_direct(float *y, const float *xp, const float *wt, const float *b, int C, int Hp, int Wp,
                         int rlo, int rhi, int OC, int OCP, int OH, int OW) {
    conv5_direct_sl(SLOTS, y, xp, wt, b, C, Hp, Wp, rlo, rhi, OC, OCP, OH, OW);
}

static void conv5_direct2(float *y, const float *xp, const float *wt, const float *b, int C, int Hp, int Wp,
                          int rlo, int rhi, int OC, int OCP, int OH, int OW) {
    conv5_direct_sl(2, y, xp, wt, b, C, Hp, Wp, rlo, rhi, OC, OCP, OH, OW);
}

/* The same convolution vectorized along the output channels (OC <= 16), for
 * small planes where rows of outputs would leave most lanes idle:
 * y[oc][oh][ow0+j] = b + sum_{c,ki,kj} xp[c][oh+ki][ow0+j+kj] * wT[(c*5+ki)*5+kj][oc]
 * for 2 rows oh0, oh0+1 (the second a repeat of the first at the bottom)
 * and j < TW.  wT: (C*25, 16), zero past OC.  Register tile: 2*TW <= 24 */
static inline __attribute__((always_inline)) void
conv5_oc_tile(int TW, float *y, const float *xp, const float *wT, __m512 bias, int C, int Hp, int Wp,
              int OC, int OH, int OW, int oh0, int ow0) {
    const int oh1 = oh0 + 1 < OH ? oh0 + 1 : oh0;
    const size_t plane = (size_t)Hp * Wp;
    __m512 acc[2][12];
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < TW; j++) acc[r][j] = bias;
    const float *x0 = xp + (size_t)oh0 * Wp + ow0, *x1 = xp + (size_t)oh1 * Wp + ow0;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < FK; ki++) {
            const size_t xo = c * plane + (size_t)ki * Wp;
            const float *wr = wT + (size_t)(c * FK + ki) * FK * 16;
            for (int kj = 0; kj < FK; kj++) {
                __m512 wv = _mm512_loadu_ps(wr + 16 * kj);
                for (int j = 0; j < TW; j++) {
                    acc[0][j] = _mm512_fmadd_ps(_mm512_set1_ps(x0[xo + kj + j]), wv, acc[0][j]);
                    acc[1][j] = _mm512_fmadd_ps(_mm512_set1_ps(x1[xo + kj + j]), wv, acc[1][j]);
                }
            }
        }
    /* back to (OC, OH, OW): through a small (2*TW, 16) block */
    float t[2][12][16];
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < TW; j++) _mm512_storeu_ps(t[r][j], acc[r][j]);
    const size_t osz = (size_t)OH * OW;
    for (int oc = 0; oc < OC; oc++) {
        float *yo = y + oc * osz + ow0;
        for (int j = 0; j < TW; j++) yo[(size_t)oh0 * OW + j] = t[0][j][oc];
        if (oh1 != oh0)
            for (int j = 0; j < TW; j++) yo[(size_t)oh1 * OW + j] = t[1][j][oc];
    }
}

/* y: (OC, OH, OW) as conv5_direct, by conv5_oc_tile over 2 rows x up to 12 columns */
static void conv5_oc(float *y, const float *xp, const float *wT, const float *b,
                     int C, int Hp, int Wp, int OC, int OH, int OW) {
    const __m512 bias = _mm512_maskz_loadu_ps((__mmask16)((1u << OC) - 1), b);
    for (int oh = 0; oh < OH; oh += 2)
        for (int ow = 0; ow < OW; ow += 12) {
            int tw = OW - ow < 12 ? OW - ow : 12;
            switch (tw) {
#define TILE(n) case n: conv5_oc_tile(n, y, xp, wT, bias, C, Hp, Wp, OC, OH, OW, oh, ow); break;
            TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)
            TILE(7) TILE(8) TILE(9) TILE(10) TILE(11) TILE(12)
#undef TILE
            }
        }
}

/* rows of outputs leave lanes idle on small planes: choose channel vectors
 * when they cost fewer vector FMAs (OC <= 16; 10% for the transpose) */
static int use_oc_vectors(const nn_conv_geom *g) {
    double rows = (double)round_up(g->OC, OCB) * round_up(g->OH * ((g->OW + 15) / 16), SLOTS);
    return g->OC <= 16 && 1.1 * g->OH * g->OW < rows;
}

/* dwT: (C*25, 16) += sum_{oh,ow} xp[c][oh+ki][ow+kj] * dT[oh*OW+ow][:]
 * xp: (C, Hp, Wp) padded input  dT: (OH*OW, 16) output gradient, transposed.
 * The 25 taps of one input channel are the register tile. */
static void conv5_dw(float *dwT, const float *xp, const float *dT, int C, int Hp, int Wp, int OH, int OW) {
    for (int c = 0; c < C; c++) {
        float *dc = dwT + (size_t)c * FK * FK * 16;
        __m512 acc[FK * FK];
        for (int t = 0; t < FK * FK; t++) acc[t] = _mm512_loadu_ps(dc + 16 * t);
        for (int oh = 0; oh < OH; oh++) {
            const float *xr = xp + ((size_t)c * Hp + oh) * Wp, *dr = dT + (size_t)oh * OW * 16;
            for (int ow = 0; ow < OW; ow++) {
                __m512 d = _mm512_loadu_ps(dr + 16 * ow);
                const float *x0 = xr + ow;
                for (int ki = 0; ki < FK; ki++)
                    for (int kj = 0; kj < FK; kj++)
                        acc[ki * FK + kj] = _mm512_fmadd_ps(_mm512_set1_ps(x0[ki * Wp + kj]), d, acc[ki * FK + kj]);
            }
        }
        for (int t = 0; t < FK * FK; t++) _mm512_storeu_ps(dc + 16 * t, acc[t]);
    }
}

/* The weight gradient vectorized along output rows, for planes wide enough
 * to fill the lanes: lane-wise partial sums, reduced once per call.
 * dwv: (OC*C*25, 16) += d[oc][oh][ow..] * xp[c][oh+ki][ow+kj..] over 16-wide
 * row segments  dbv: (OC, 16) += d[oc][oh][ow..]
 * Register tile: 3 channels x 5 kj taps, for one (c, ki). */
#define DWB 3
static void conv5_dw_rows(float *dwv, float *dbv, const float *xp, const float *d,
                          int C, int Hp, int Wp, int OC, int OH, int OW) {
    const int CKK = C * FK * FK, nseg = (OW + 15) / 16;
    for (int o0 = 0; o0 < OC; o0 += DWB)
        for (int c = 0; c < C; c++)
            for (int ki = 0; ki < FK; ki++) {
                __m512 acc[DWB][FK];
                for (int o = 0; o < DWB; o++)
                    for (int kj = 0; kj < FK; kj++)
                        acc[o][kj] = o0 + o < OC ? _mm512_loadu_ps(dwv + ((size_t)(o0 + o) * CKK + (c * FK + ki) * FK + kj) * 16)
                                                 : _mm512_setzero_ps();
                for (int oh = 0; oh < OH; oh++)
                    for (int sg = 0; sg < nseg; sg++) {
                        __mmask16 m = (__mmask16)(OW - 16 * sg >= 16 ? 0xFFFF : (1u << (OW - 16 * sg)) - 1);
                        const float *xr = xp + ((size_t)c * Hp + oh + ki) * Wp + 16 * sg;
                        __m512 x[FK], dv[DWB];
                        for (int kj = 0; kj < FK; kj++) x[kj] = _mm512_maskz_loadu_ps(m, xr + kj);
                        for (int o = 0; o < DWB; o++)
                            dv[o] = _mm512_maskz_loadu_ps(o0 + o < OC ? m : 0, d + ((size_t)(o0 + o) * OH + oh) * OW + 16 * sg);
                        for (int o = 0; o < DWB; o++)
                            for (int kj = 0; kj < FK; kj++) acc[o][kj] = _mm512_fmadd_ps(dv[o], x[kj], acc[o][kj]);
                    }
                for (int o = 0; o < DWB && o0 + o < OC; o++)
                    for (int kj = 0; kj < FK; kj++)
                        _mm512_storeu_ps(dwv + ((size_t)(o0 + o) * CKK + (c * FK + ki) * FK + kj) * 16, acc[o][kj]);
            }
    const int OHW = OH * OW;
    for (int oc = 0; oc < OC; oc++) {
        __m512 s = _mm512_loadu_ps(dbv + 16 * oc);
        for (int p = 0; p < OHW; p += 16)
            s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(OHW - p >= 16 ? 0xFFFF : (__mmask16)((1u << (OHW - p)) - 1),
                                                       d + (size_t)oc * OHW + p));
        _mm512_storeu_ps(dbv + 16 * oc, s);
    }
}

/* dT: (OHW, 16) = d: (OC, OHW) transposed, zero past OC */
static void transpose16(float *dT, const float *d, int OC, int OHW) {
    memset(dT, 0, sizeof(float) * 16 * (size_t)OHW);
    for (int oc = 0; oc < OC; oc++)
        for (int p = 0; p < OHW; p++) dT[(size_t)p * 16 + oc] = d[(size_t)oc * OHW + p];
}

static int fast_geom(const nn_conv_geom *g) { return g->K == FK && g->S == 1 && g->P <= FK - 1; }

/* scratch of the fast forward: shared wt (C*25, OCP), then per thread xp (C, Hp, Wp) */
static size_t fwd_shared(const nn_conv_geom *g) {
    return up16((size_t)g->C * FK * FK * (use_oc_vectors(g) ? 16 : round_up(g->OC, OCB)));
}
static size_t fwd_per_thread(const nn_conv_geom *g) { return up16((size_t)g->C * (g->H + 2 * g->P) * (g->W + 2 * g->P)); }

static void conv5_forward(float *out, const float *inp, const float *w, const float *b,
                          int B, const nn_conv_geom *g, float *scratch, int nthreads) {
    const int ocv = use_oc_vectors(g), C = g->C, OC = g->OC, OCP = ocv ? 16 : round_up(OC, OCB);
    const int CKK = C * FK * FK, Hp = g->H + 2 * g->P, Wp = g->W + 2 * g->P;
    const size_t isz = (size_t)C * g->H * g->W, osz = (size_t)OC * g->OH * g->OW;
    float *wt = scratch;
    /* wt (CKK, OCP) = w (OC, CKK) transposed, zero past OC */
    memset(wt, 0, sizeof(float) * (size_t)CKK * OCP);
    for (int oc = 0; oc < OC; oc++)
        for (int t = 0; t < CKK; t++) wt[(size_t)t * OCP + oc] = w[(size_t)oc * CKK + t];
    NN_PAR(nthreads,
        float *xp = scratch + fwd_shared(g) + (size_t)nn_t * fwd_per_thread(g);
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            const float *x = inp + n * isz;
            if (g->P) { pad_planes(xp, x, C, g->H, g->W, g->P); x = xp; }
            if (ocv) conv5_oc(out + n * osz, x, wt, b, C, Hp, Wp, OC, g->OH, g->OW);
            else conv5_direct(out + n * osz, x, wt, b, C, Hp, Wp, g->P, g->P + g->H, OC, OCP, g->OH, g->OW);
        }
    );
}

/* scratch of the fast backward: shared wf (OC*25, CP) when dinp is wanted,
 * then per thread dT (OHW, 16) (channel vectors only), xp (C, Hp, Wp),
 * dwT (C*25, 16) or dwv (OC*C*25 + OC, 16), dp (OC, Hd, Wd) */
static size_t bwd_shared(const nn_conv_geom *g) { return up16((size_t)g->OC * FK * FK * round_up(g->C, OCB)); }
static size_t bwd_dT(const nn_conv_geom *g) { return use_oc_vectors(g) ? up16((size_t)g->OH * g->OW * 16) : 0; }
static size_t bwd_dw(const nn_conv_geom *g) {
    size_t ckk = (size_t)g->C * FK * FK;
    return use_oc_vectors(g) ? ckk * 16 : (g->OC * ckk + g->OC) * 16;
}
static size_t bwd_per_thread(const nn_conv_geom *g) {
    const int Pd = FK - 1 - g->P;
    return bwd_dT(g) + fwd_per_thread(g) + bwd_dw(g) + up16((size_t)g->OC * (g->OH + 2 * Pd) * (g->OW + 2 * Pd));
}

static void conv5_backward(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, const nn_conv_geom *g,
                           float *scratch, float *part, int nt) {
    const int ocv = use_oc_vectors(g), C = g->C, OC = g->OC, CP = round_up(C, OCB);
    const int CKK = C * FK * FK, OHW = g->OH * g->OW;
    const int Hp = g->H + 2 * g->P, Wp = g->W + 2 * g->P, Pd = FK - 1 - g->P;
    const int Hd = g->OH + 2 * Pd, Wd = g->OW + 2 * Pd;
    const size_t isz = (size_t)C * g->H * g->W, nw = (size_t)OC * CKK;
    float *wf = scratch;
    if (dinp) {
        /* dinp is the full correlation of dout with the flipped kernels:
         * wf[(oc*5+ki)*5+kj][c] = w[oc][c][4-ki][4-kj], zero past C */
        memset(wf, 0, sizeof(float) * (size_t)OC * FK * FK * CP);
        for (int oc = 0; oc < OC; oc++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < FK * FK; k++)
                    wf[((size_t)oc * FK * FK + k) * CP + c] = w[((size_t)oc * C + c) * FK * FK + FK * FK - 1 - k];
    }
    NN_PAR(nt,
        int t = nn_t;
        float *dT = scratch + bwd_shared(g) + (size_t)t * bwd_per_thread(g);
        float *xp = dT + bwd_dT(g), *dwT = xp + fwd_per_thread(g), *dp = dwT + bwd_dw(g);
        float *pdw = part + (size_t)t * (nw + OC), *pdb = pdw + nw;
        __m512 dbv = _mm512_setzero_ps(); /* channel vectors: db */
        memset(dwT, 0, sizeof(float) * bwd_dw(g));
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            const float *x = inp + n * isz, *d = dout + (size_t)n * OC * OHW;
            if (g->P) { pad_planes(xp, x, C, g->H, g->W, g->P); x = xp; }
            /* dw[oc][c][ki][kj] += sum_p x[c][p + (ki, kj)] * d[oc][p];  db[oc] += sum_p d[oc][p] */
            if (ocv) {
                transpose16(dT, d, OC, OHW);
                conv5_dw(dwT, x, dT, C, Hp, Wp, g->OH, g->OW);
                for (int p = 0; p < OHW; p++) dbv = _mm512_add_ps(dbv, _mm512_loadu_ps(dT + (size_t)p * 16));
            } else {
                conv5_dw_rows(dwT, dwT + nw * 16, x, d, C, Hp, Wp, OC, g->OH, g->OW);
            }
            if (dinp) {
                pad_planes(dp, d, OC, g->OH, g->OW, Pd);
                conv5_direct2(dinp + n * isz, dp, wf, NULL, OC, Hd, Wd, Pd, Pd + g->OH, C, CP, g->H, g->W);
            }
        }
        if (ocv) {
            float dbs[16];
            _mm512_storeu_ps(dbs, dbv);
            for (int oc = 0; oc < OC; oc++) {
                for (int k = 0; k < CKK; k++) pdw[(size_t)oc * CKK + k] = dwT[(size_t)k * 16 + oc];
                pdb[oc] = dbs[oc];
            }
        } else {
            for (size_t i = 0; i < nw + OC; i++) pdw[i] = _mm512_reduce_add_ps(_mm512_loadu_ps(dwT + 16 * i));
        }
    );
    /* sum the partials in thread order: same thread count, same bits */
    for (int t = 0; t < nt; t++) {
        const float *pdw = part + (size_t)t * (nw + OC);
        for (size_t i = 0; i < nw; i++) dw[i] += pdw[i];
        for (int oc = 0; oc < OC; oc++) db[oc] += pdw[nw + oc];
    }
}
#endif

size_t conv2d_scratch_size(const nn_conv_geom *g, int nthreads) {
    /* the im2col path: a column matrix and its gradient per thread */
    size_t need = (size_t)nthreads * 2 * g->C * g->K * g->K * g->OH * g->OW;
#ifdef __AVX512F__
    if (fast_geom(g)) {
        size_t f = fwd_shared(g) + (size_t)nthreads * fwd_per_thread(g);
        size_t b = bwd_shared(g) + (size_t)nthreads * bwd_per_thread(g);
        if (f > need) need = f;
        if (b > need) need = b;
    }
#endif
    return need;
}

void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                    int B, const nn_conv_geom *g, float *scratch, int nthreads) {
#ifdef __AVX512F__
    if (fast_geom(g) && fwd_shared(g) + nthreads * fwd_per_thread(g) <= conv2d_scratch_size(g, nthreads)) {
        conv5_forward(out, inp, w, b, B, g, scratch, nthreads);
        return;
    }
#endif
    conv2d_forward_gemm(out, inp, w, b, B, g, scratch, nthreads);
}

void conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int B, const nn_conv_geom *g,
                     float *scratch, float *part, int nthreads) {
#ifdef __AVX512F__
    int nt = nthreads < B ? nthreads : B;
    if (nt < 1) nt = 1;
    if (fast_geom(g) && bwd_shared(g) + nt * bwd_per_thread(g) <= conv2d_scratch_size(g, nthreads)) {
        conv5_backward(dinp, dw, db, dout, inp, w, B, g, scratch, part, nt);
        return;
    }
#endif
    conv2d_backward_gemm(dinp, dw, db, dout, inp, w, B, g, scratch, part, nthreads);
}

/* ---- plain loops: the oracle */

void conv2d_forward_ref(float *out, const float *inp, const float *w, const float *b,
                        int B, const nn_conv_geom *g) {
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < g->OC; oc++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++) {
                    double s = b[oc];
                    for (int c = 0; c < g->C; c++)
                        for (int ki = 0; ki < g->K; ki++)
                            for (int kj = 0; kj < g->K; kj++) {
                                int ih = oh * g->S - g->P + ki, iw = ow * g->S - g->P + kj;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += (double)inp[((size_t)(n * g->C + c) * g->H + ih) * g->W + iw] *
                                     w[((size_t)(oc * g->C + c) * g->K + ki) * g->K + kj];
                            }
                    out[((size_t)(n * g->OC + oc) * g->OH + oh) * g->OW + ow] = (float)s;
                }
}

void conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int B, const nn_conv_geom *g) {
    if (dinp) memset(dinp, 0, sizeof(float) * (size_t)B * g->C * g->H * g->W);
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < g->OC; oc++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++) {
                    float d = dout[((size_t)(n * g->OC + oc) * g->OH + oh) * g->OW + ow];
                    db[oc] += d;
                    for (int c = 0; c < g->C; c++)
                        for (int ki = 0; ki < g->K; ki++)
                            for (int kj = 0; kj < g->K; kj++) {
                                int ih = oh * g->S - g->P + ki, iw = ow * g->S - g->P + kj;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                size_t ii = ((size_t)(n * g->C + c) * g->H + ih) * g->W + iw;
                                size_t wi = ((size_t)(oc * g->C + c) * g->K + ki) * g->K + kj;
                                dw[wi] += d * inp[ii];
                                if (dinp) dinp[ii] += d * w[wi];
                            }
                }
}
