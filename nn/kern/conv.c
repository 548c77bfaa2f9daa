/* conv.c -- 2-D convolution (cross-correlation, PyTorch's Conv2d) for any
 * kernel, stride and padding, as products of gemm (kern.h). Each image is
 * copied into a zero-framed plane that the products read in place through
 * offset tables (tap k of pixel q, an "implicit" column matrix): no im2col
 * for most shapes, and no small sgemm call per image.
 *
 * Every output is one fma chain in a fixed order, so the bits are the same
 * on every path. With col[k][q] the tap k = (c, ki, kj) of output pixel q:
 *   y[oc][q]      = b[oc], then + w[oc][k] * col[k][q] for k = 0..C*K*K-1
 *   dw[oc][k], db = 0, then + dy[oc][q] * col[k][q] (db: * 1) over the
 *                   images of the call in order and q = 0..OH*OW-1; then
 *                   added to dw and db
 *   dx            = either the forward convolution of dy, framed by K-1-P
 *                   zeros, with the kernels flipped (a chain over oc, ki,
 *                   kj), or dcol[k][q] = 0, then + w[oc][k] * dy[oc][q]
 *                   over oc, and dx = col2im(dcol), each input pixel summing
 *                   its taps in (ki, kj) order
 * Which way the 16 lanes run (along image rows, along the taps or along
 * the output channels), and which of the two input gradients, is chosen by
 * plan() from the shape alone, by counting vector operations: the same
 * choice on every path, so it changes the speed and not the bits.
 *
 * With nthreads > 1 (tests, direct callers) the images are split over the
 * threads and each thread's weight gradient is added in thread order. The
 * network calls it with one thread per slice of a batch (net.c). */
#include "kern.h"
#include "../par.h"

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }
static size_t div16(size_t n) { return (n + 15) / 16; }

/* dst[0..n) = src[0..n) in (masked) vectors: rows too short for memcpy's call */
V_INLINE void copy_row(float *dst, const float *src, int n) {
    for (int j = 0; j < n; j += 16) {
        if (n - j >= 16) v_store(dst + j, v_load(src + j));
        else { m16 m = v_mask(n - j); v_store_m(dst + j, m, v_load_m(src + j, m)); }
    }
}

/* col: (C*K*K, OH*OW)  img: (C, H, W); zeros where the window hits padding
 * (strided convolutions whose pixels fill the lanes) */
static void im2col(float *col, const float *img, const nn_conv_geom *g) {
    const int K = g->K, S = g->S, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                const float *plane = img + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * S - P + ki;
                    float *r = row + (size_t)oh * OW;
                    if (ih < 0 || ih >= H) { memset(r, 0, sizeof(float) * OW); continue; }
                    const float *src = plane + (size_t)ih * W;
                    for (int ow = 0; ow < OW; ow++) {
                        int iw = ow * S - P + kj;
                        r[ow] = (iw >= 0 && iw < W) ? src[iw] : 0.f;
                    }
                }
            }
}

/* col2im, stride 1: R input rows ih0, ih0 + 1, ... of plane c, each
 * receiving kernel row ki from output rows oh0, oh0 + 1, ...; the rows are
 * independent chains, so R of them keep the adders busy. Whole vectors
 * while they stay inside the image: the lanes past a row add nothing (+0
 * leaves every sum as it was, none of them being -0). */
V_INLINE void col2im_rows(const int R, float *img, const float *col, const nn_conv_geom *g,
                          int c, int ki, int oh0) {
    const int K = g->K, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    const size_t total = (size_t)g->C * H * W;
    float *dst[4];
    const float *rows[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        dst[r] = img + ((size_t)c * H + oh0 + r - P + ki) * W;
        rows[r] = col + ((size_t)(c * K + ki) * K) * OH * OW + (size_t)(oh0 + r) * OW;
    }
    for (int w0 = 0; w0 < W; w0 += 16) {
        const m16 mw = v_mask(W - w0);
        v16 acc[4];
        int full[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            full[r] = (size_t)(dst[r] - img) + (size_t)W + 15 < total || w0 + 16 <= W;
            acc[r] = full[r] ? v_load(dst[r] + w0) : v_load_m(dst[r] + w0, mw);
        }
        for (int kj = 0; kj < K; kj++) {
            /* input iw = ow - P + kj for ow in [0, OW), inside the row */
            const int lo = kj - P, hi = OW - P + kj < W ? OW - P + kj : W;
            const m16 m = v_mask_range(lo - w0, hi - w0);
            const ptrdiff_t off = (ptrdiff_t)kj * OH * OW + w0 - lo;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r] = v_add(acc[r], v_load_m(rows[r] + off, m));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (full[r]) v_store(dst[r] + w0, acc[r]);
            else v_store_m(dst[r] + w0, mw, acc[r]);
        }
    }
}

/* img: (C, H, W) = col2im(col), the adjoint of im2col; each input pixel
 * sums its taps in (ki, kj) order, from 0 */
static void col2im(float *img, const float *col, const nn_conv_geom *g) {
    const int K = g->K, S = g->S, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    memset(img, 0, sizeof(float) * g->C * H * W);
    if (S == 1) {
        /* input rows in vectors: for each ki the one output row oh that
         * reaches each of them, then the taps kj in order */
        for (int c = 0; c < g->C; c++)
            for (int ki = 0; ki < K; ki++) {
                /* the output rows oh whose input row oh - P + ki is inside */
                const int o0 = P - ki > 0 ? P - ki : 0, o1 = H + P - ki < OH ? H + P - ki : OH;
                int oh = o0;
                for (; oh + 4 <= o1; oh += 4) col2im_rows(4, img, col, g, c, ki, oh);
                for (; oh < o1; oh++) col2im_rows(1, img, col, g, c, ki, oh);
            }
        return;
    }
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                float *plane = img + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * S - P + ki;
                    if (ih < 0 || ih >= H) continue;
                    const float *r = row + (size_t)oh * OW;
                    float *dst = plane + (size_t)ih * W;
                    for (int ow = 0; ow < OW; ow++) {
                        int iw = ow * S - P + kj;
                        if (iw >= 0 && iw < W) dst[iw] += r[ow];
                    }
                }
            }
}

/* dst: (cols, rows) = src: (rows, cols) transposed */
static void transpose(float *dst, const float *src, int rows, int cols) {
    /* whole blocks of 16 x 16 in registers, the edges one by one */
    const int r16 = rows & ~15, c16 = cols & ~15;
    for (int i0 = 0; i0 < r16; i0 += 16)
        for (int j0 = 0; j0 < c16; j0 += 16) {
            v16 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) r[i] = v_load(src + (size_t)(i0 + i) * cols + j0);
            v_transpose16(r);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) v_store(dst + (size_t)(j0 + j) * rows + i0, r[j]);
        }
    for (int i = 0; i < rows; i++)
        for (int j = i < r16 ? c16 : 0; j < cols; j++) dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

/* How one geometry runs. The input is copied into a zero-framed plane xp
 * (C, Hp, Wp), read in place through offsets: tap k = (c, ki, kj) of output
 * pixel q = (oh, ow) is xp[koff[k] + qoff[q]], koff[k] = (c Hp + ki) Wp + kj,
 * qoff[q] = S (oh Wp + ow). */
enum { FWD_ROWS, FWD_CHANNELS, FWD_IM2COL };
enum { DW_CHANNELS, DW_TAPS, DW_ROWS };
typedef struct {
    nn_conv_geom g;
    int Hp, Wp, CKK, Q;
    int fwd;      /* FWD_ROWS: image rows in the lanes, in segments of 16 (stride 1),
                   * the taps that meet only the frame's zero rows left out (a
                   * product by 0 adds nothing to a chain that is never -0);
                   * FWD_CHANNELS: output channels in the lanes, y^T then transposed;
                   * FWD_IM2COL: a column matrix, pixels in the lanes */
    int nseg;     /* FWD_ROWS: segments, OH * ceil(OW / 16) */
    int dw;       /* DW_CHANNELS: weight gradient chains with the output channels in
                   * the lanes (needs dy^T); DW_TAPS: chains with the taps in the
                   * lanes (each pixel's taps copied out); DW_ROWS (stride 1):
                   * sixteen partial sums along image rows, then one tree */
    int dx_flip;  /* input gradient as the flipped forward; else through col2im */
} plan_t;

/* the kernel rows ki that meet input rows for output row oh (stride 1):
 * the others read only the frame's zeros, and FWD_ROWS skips them */
static void ki_range(const nn_conv_geom *g, int oh, int *lo, int *hi) {
    *lo = g->P - oh > 0 ? g->P - oh : 0;
    *hi = g->P + g->H - oh < g->K ? g->P + g->H - oh : g->K;
    if (*hi < *lo) *hi = *lo;
}

/* vector operations of a forward by each layout (SIZE_MAX: not possible) */
static size_t fwd_cost(const nn_conv_geom *g, int *how) {
    const size_t OC = (size_t)g->OC, Q = (size_t)g->OH * g->OW, taps = (size_t)g->C * g->K * g->K;
    size_t rows = (size_t)-1;
    if (g->S == 1) {
        rows = 0;
        for (int oh = 0; oh < g->OH; oh++) {
            int lo, hi;
            ki_range(g, oh, &lo, &hi);
            /* the products, and a row of Bm loaded for each segment and tap */
            rows += (OC + 1) * div16((size_t)g->OW) * (size_t)g->C * g->K * (size_t)(hi - lo);
        }
    }
    const size_t ch = div16(OC) * Q * taps + Q * OC;            /* + the transpose */
    const size_t col = OC * div16(Q) * taps + taps * Q;         /* + im2col */
    size_t best = rows;
    int h = FWD_ROWS;
    if (ch < best) { best = ch; h = FWD_CHANNELS; }
    if (col < best) { best = col; h = FWD_IM2COL; }
    if (how) *how = h;
    return best;
}

/* the geometry whose forward is g's input gradient (dx_flip) */
static nn_conv_geom flipped(const nn_conv_geom *g) {
    nn_conv_geom f = {g->OC, g->OH, g->OW, g->C, g->K, 1, g->K - 1 - g->P, g->H, g->W};
    return f;
}

static plan_t plan(const nn_conv_geom *g) {
    plan_t p;
    p.g = *g;
    p.Hp = g->H + 2 * g->P;
    p.Wp = g->W + 2 * g->P;
    p.CKK = g->C * g->K * g->K;
    p.Q = g->OH * g->OW;
    fwd_cost(g, &p.fwd);
    p.nseg = g->OH * (int)div16((size_t)g->OW);
    const size_t OC = (size_t)g->OC, CKK = (size_t)p.CKK, Q = (size_t)p.Q;
    {
        const size_t ch = (CKK + 1) * div16(OC) * Q + Q * OC, taps = OC * div16(CKK + 1) * Q + Q * g->C * g->K;
        const size_t rows = g->S == 1 ? OC * (CKK + 1) * (size_t)p.nseg : (size_t)-1;
        p.dw = ch <= taps && ch <= rows ? DW_CHANNELS : taps <= rows ? DW_TAPS : DW_ROWS;
    }
    /* the flipped forward reads dy framed in zeros, mostly zeros when dy is
     * small; col2im does only the products that count, then its adds */
    if (g->S == 1 && g->P < g->K) {
        const nn_conv_geom f = flipped(g);
        p.dx_flip = fwd_cost(&f, NULL) < CKK * div16(Q) * OC + CKK * Q / 2;
    } else {
        p.dx_flip = 0;
    }
    return p;
}

/* Scratch of one thread, carved in this order (each part a multiple of 16
 * floats; the int tables live in float-sized slots). */
typedef struct {
    float *xp;     /* (C + 1, Hp, Wp) + 16: the framed input, then a plane of ones */
    int *koff;     /* CKK + 1: the last is the plane of ones */
    int *qoff;     /* Q */
    nn_seg *seg;   /* FWD_ROWS: nseg segments of output rows */
    int *grp;      /* FWD_ROWS: groups of rows with the same taps: first segment, segments,
                    * taps, offset of their tables; ngrp of them (at most OH) */
    int *tapw;     /* FWD_ROWS: per group, each tap's index in a row of w ... */
    int *tapx;     /* ... and its offset in the frame */
    int *wrow;     /* FWD_ROWS: OC row offsets of w, m * CKK */
    int ngrp;
    float *wp;     /* FWD_CHANNELS: w^T (CKK, OC) */
    float *y;      /* FWD_CHANNELS: y^T (Q, OC); FWD_IM2COL: col (CKK, Q) */
} fwd_scr;

#define CARVE(field, type, n) do { s->field = base ? (type *)(void *)(base + o) : NULL; o += up16(n); } while (0)

static size_t fwd_carve(const plan_t *p, float *base, fwd_scr *s) {
    size_t o = 0;
    const size_t OC = (size_t)p->g.OC, CKK = (size_t)p->CKK, Q = (size_t)p->Q;
    CARVE(xp, float, (size_t)(p->g.C + 1) * p->Hp * p->Wp + 16);
    CARVE(koff, int, CKK + 1);
    CARVE(qoff, int, Q);
    CARVE(seg, nn_seg, p->fwd == FWD_ROWS || p->dw == DW_ROWS ? 4 * (size_t)p->nseg : 0);
    const int rows = p->fwd == FWD_ROWS;
    CARVE(grp, int, rows ? 4 * (size_t)p->g.OH : 0);
    /* the ki ranges change at most 2K times down the rows */
    CARVE(tapw, int, rows ? (size_t)(2 * p->g.K + 1) * CKK : 0);
    CARVE(tapx, int, rows ? (size_t)(2 * p->g.K + 1) * CKK : 0);
    CARVE(wrow, int, rows ? OC : 0);
    CARVE(wp, float, p->fwd == FWD_CHANNELS ? CKK * OC : 0);
    CARVE(y, float, p->fwd == FWD_CHANNELS ? Q * OC + 16 : p->fwd == FWD_IM2COL ? CKK * Q : 0);
    return o;
}

typedef struct {
    fwd_scr f;     /* the input's framed plane and offsets */
    float *dT;     /* dy^T (Q, OC) (DW_CHANNELS) */
    float *colT;   /* (Q, CKK + 1) + 16: each pixel's taps and a 1 (DW_TAPS) */
    float *gw;     /* the sums of dw and db: (CKK + 1, OC) (DW_CHANNELS) or (OC, CKK + 1),
                    * of 16 lanes each for DW_ROWS */
    float *wf;     /* the flipped kernels (C, OC, K, K) (dx_flip) */
    float *dx;     /* the flipped forward's scratch, or dcol (CKK, Q) */
} bwd_scr;

static size_t bwd_carve(const plan_t *p, float *base, bwd_scr *s) {
    const size_t OC = (size_t)p->g.OC, CKK = (size_t)p->CKK, Q = (size_t)p->Q;
    size_t o = fwd_carve(p, base, &s->f);
    CARVE(dT, float, p->dw == DW_CHANNELS ? Q * OC : 0);
    CARVE(colT, float, p->dw == DW_TAPS ? Q * (CKK + 1) + 16 : 0);
    CARVE(gw, float, (CKK + 1) * OC * (p->dw == DW_ROWS ? 16 : 1));
    CARVE(wf, float, p->dx_flip ? CKK * OC : 0);
    if (p->dx_flip) {
        const nn_conv_geom fg = flipped(&p->g);
        const plan_t fp = plan(&fg);
        fwd_scr fs;
        CARVE(dx, float, fwd_carve(&fp, NULL, &fs));
    } else {
        CARVE(dx, float, CKK * Q + 16);
    }
    return o;
}
#undef CARVE

size_t NN_K(conv2d_scratch_size)(const nn_conv_geom *g, int nthreads) {
    const plan_t p = plan(g);
    fwd_scr f;
    bwd_scr b;
    size_t nf = fwd_carve(&p, NULL, &f), nb = bwd_carve(&p, NULL, &b);
    return (size_t)(nthreads < 1 ? 1 : nthreads) * (nf > nb ? nf : nb);
}

/* per call: the offsets, the segments, the frame of zeros and the plane of ones */
static void frame_init(const plan_t *p, fwd_scr *s) {
    const nn_conv_geom *g = &p->g;
    const size_t plane = (size_t)p->Hp * p->Wp;
    memset(s->xp, 0, sizeof(float) * g->C * plane);
    for (size_t i = 0; i < plane + 16; i++) s->xp[g->C * plane + i] = 1.f;
    int k = 0;
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->K; ki++)
            for (int kj = 0; kj < g->K; kj++) s->koff[k++] = (int)(c * plane) + ki * p->Wp + kj;
    s->koff[k] = (int)(g->C * plane);
    for (int oh = 0, q = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) s->qoff[q++] = g->S * (oh * p->Wp + ow);
    if (p->fwd == FWD_ROWS || p->dw == DW_ROWS)
        for (int oh = 0, n = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow += 16)
                s->seg[n++] = (nn_seg){oh * p->Wp + ow, oh * g->OW + ow, g->OW - ow < 16 ? g->OW - ow : 16,
                                       oh * g->OW + ow + 16 <= p->Q ? 16 : g->OW - ow};
    if (p->fwd == FWD_ROWS) {
        /* runs of output rows with the same kernel rows, and their taps in k order */
        const int spr = (int)div16((size_t)g->OW), KK = g->K * g->K;
        int ntab = 0, prev_lo = -1, prev_hi = -1;
        s->ngrp = 0;
        for (int oh = 0; oh < g->OH; oh++) {
            int lo, hi;
            ki_range(g, oh, &lo, &hi);
            if (lo == prev_lo && hi == prev_hi) { s->grp[4 * (s->ngrp - 1) + 1] += spr; continue; }
            int *G = s->grp + 4 * s->ngrp++;
            G[0] = oh * spr; G[1] = spr; G[2] = 0; G[3] = ntab;
            for (int c = 0; c < g->C; c++)
                for (int ki = lo; ki < hi; ki++)
                    for (int kj = 0; kj < g->K; kj++, G[2]++, ntab++) {
                        s->tapw[ntab] = c * KK + ki * g->K + kj;
                        s->tapx[ntab] = (int)(c * plane) + ki * p->Wp + kj;
                    }
            prev_lo = lo;
            prev_hi = hi;
        }
        for (int m = 0; m < g->OC; m++) s->wrow[m] = m * p->CKK;
    }
}

/* per image: x (C, H, W) into the frame */
static void frame_fill(const plan_t *p, fwd_scr *s, const float *x) {
    const nn_conv_geom *g = &p->g;
    if (g->P == 0) { memcpy(s->xp, x, sizeof(float) * g->C * g->H * g->W); return; }
    for (int c = 0; c < g->C; c++)
        for (int h = 0; h < g->H; h++)
            copy_row(s->xp + ((size_t)c * p->Hp + h + g->P) * p->Wp + g->P, x + ((size_t)c * g->H + h) * g->W, g->W);
}

/* the weights as the forward reads them: w^T (CKK, OC) for channel lanes */
static const float *prep_weights(const plan_t *p, fwd_scr *s, const float *w) {
    if (p->fwd != FWD_CHANNELS) return w;
    transpose(s->wp, w, p->g.OC, p->CKK);
    return s->wp;
}

/* y (OC, OH, OW) = b (or 0) + conv(x, w) for one image; x already in the
 * frame (FWD_ROWS, FWD_CHANNELS) */
static void forward_one(const plan_t *p, fwd_scr *s, float *y, const float *x, const float *wp, const float *b) {
    const nn_conv_geom *g = &p->g;
    const int OC = g->OC, CKK = p->CKK, Q = p->Q;
    gemm_args a = {.K = CKK, .bias = b};
    if (p->fwd == FWD_CHANNELS) {
        /* y^T (Q, OC) = b + taps (Q, CKK) . w^T (CKK, OC) */
        a.C = s->y; a.ldc = OC;
        a.A = s->xp; a.am = s->qoff; a.ak = s->koff;
        a.B = wp; a.ldb = OC;
        a.M = Q; a.N = OC;
        a.init = b ? GEMM_INIT_COL : GEMM_INIT_ZERO;
        a.overrun = 1;
        NN_K(gemm_run)(&a);
        transpose(y, s->y, Q, OC);
        return;
    }
    a.C = y; a.ldc = Q;
    a.A = wp; a.sam = CKK; a.sak = 1;
    a.M = OC;
    a.init = b ? GEMM_INIT_ROW : GEMM_INIT_ZERO;
    if (p->fwd == FWD_ROWS) {
        /* y (OC, Q) = b + w (OC, CKK) . xp through koff, by segments of rows,
         * each run of rows with the taps that meet its input rows */
        a.B = s->xp;
        for (int i = 0; i < s->ngrp; i++) {
            const int *G = s->grp + 4 * i;
            a.seg = s->seg + G[0]; a.nseg = G[1]; a.K = G[2];
            if (G[2] == CKK) { a.am = a.ak = NULL; a.bk = s->koff; }
            else { a.am = s->wrow; a.ak = s->tapw + G[3]; a.bk = s->tapx + G[3]; }
            NN_K(gemm_run)(&a);
        }
        return;
    } else {
        /* y (OC, Q) = b + w (OC, CKK) . col (CKK, Q) */
        im2col(s->y, x, g);
        a.B = s->y; a.ldb = Q; a.N = Q;
        a.overrun = 1; /* y is one image's (OC, Q): its last row is masked */
    }
    NN_K(gemm_run)(&a);
}

void NN_K(conv2d_forward)(float *out, const float *inp, const float *w, const float *b,
                          int B, const nn_conv_geom *g, float *scratch, int nthreads) {
    const plan_t p = plan(g);
    const size_t isz = (size_t)g->C * g->H * g->W, osz = (size_t)g->OC * p.Q;
    const size_t per = NN_K(conv2d_scratch_size)(g, 1);
    NN_PAR(nthreads < B ? nthreads : B,
        fwd_scr s;
        fwd_carve(&p, scratch + (size_t)nn_t * per, &s);
        frame_init(&p, &s);
        const float *wp = prep_weights(&p, &s, w);
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            const float *x = inp + (size_t)n * isz;
            if (p.fwd != FWD_IM2COL) frame_fill(&p, &s, x);
            forward_one(&p, &s, out + (size_t)n * osz, x, wp, b);
        }
    );
}

/* colT (Q, CKK + 1): each output pixel's taps from the frame, then a 1.
 * Kernel rows up to 16 wide go as whole vectors, each store running past
 * its row into space the next one overwrites (colT has 16 floats of slack;
 * the loads may read past a plane into the plane of ones and its slack). */
static void build_colT(const plan_t *p, bwd_scr *s) {
    const int C = p->g.C, K = p->g.K, Wp = p->Wp, K1 = p->CKK + 1, Q = p->Q;
    const size_t plane = (size_t)p->Hp * Wp;
    const float *xp = s->f.xp;
    const int *qoff = s->f.qoff;
    float *colT = s->colT;
    for (int q = 0; q < Q; q++) {
        float *r = colT + (size_t)q * K1;
        const float *src = xp + qoff[q];
        for (int c = 0; c < C; c++)
            for (int ki = 0; ki < K; ki++, r += K) {
                const float *x = src + c * plane + (size_t)ki * Wp;
                if (K <= 8) copy8(r, x);
                else if (K <= 16) v_store(r, v_load(x));
                else copy_row(r, x, K);
            }
        *r = 1.f;
    }
}

/* DW_ROWS: lane l of gw[oc][k] (OC, CKK + 1, 16) adds dy[oc][q] * tap k
 * of q for the pixels q in lane l of each row segment, images and segments
 * in order (lanes past a row's end add 0 * x, x whatever lies past the row
 * in the frame: 0 unless a non-finite input makes the sums NaN anyway); the tap CKK is the plane of
 * ones (db). A register tile is DOT_RO channels by DOT_RK taps; the tiles at
 * the edges repeat their last channel or tap and store only the real ones. */
static void dw_rows(const plan_t *p, bwd_scr *s, const float *d) {
    const int OC = p->g.OC, K1 = p->CKK + 1, Q = p->Q, nseg = p->nseg;
    const nn_seg *seg = s->f.seg;
    for (int o0 = 0; o0 < OC; o0 += DOT_RO)
        for (int k0 = 0; k0 < K1; k0 += DOT_RK) {
            v16 acc[DOT_RO][DOT_RK];
            const float *dr[DOT_RO], *xr[DOT_RK];
            float *out[DOT_RO][DOT_RK];
#pragma GCC unroll 8
            for (int r = 0; r < DOT_RO; r++) dr[r] = d + (size_t)(o0 + r < OC ? o0 + r : OC - 1) * Q;
#pragma GCC unroll 8
            for (int t = 0; t < DOT_RK; t++) xr[t] = s->f.xp + s->f.koff[k0 + t < K1 ? k0 + t : K1 - 1];
#pragma GCC unroll 8
            for (int r = 0; r < DOT_RO; r++)
#pragma GCC unroll 8
                for (int t = 0; t < DOT_RK; t++) {
                    out[r][t] = s->gw + ((size_t)(o0 + r < OC ? o0 + r : OC - 1) * K1 + (k0 + t < K1 ? k0 + t : K1 - 1)) * 16;
                    acc[r][t] = v_load(out[r][t]);
                }
            for (int sg = 0; sg < nseg; sg++) {
                const int b = seg[sg].b, c = seg[sg].c, n = seg[sg].n;
                v16 dv[DOT_RO];
                if (n == 16) {
#pragma GCC unroll 8
                    for (int r = 0; r < DOT_RO; r++) dv[r] = v_load(dr[r] + c);
                } else {
                    const m16 m = v_mask(n);
#pragma GCC unroll 8
                    for (int r = 0; r < DOT_RO; r++) dv[r] = v_load_m(dr[r] + c, m);
                }
#pragma GCC unroll 8
                for (int t = 0; t < DOT_RK; t++) {
                    /* whole vectors: past the row they meet dy's zeros (the frame
                     * and its plane of ones, with 16 floats of slack, hold them) */
                    const v16 xv = v_load(xr[t] + b);
#pragma GCC unroll 8
                    for (int r = 0; r < DOT_RO; r++) acc[r][t] = v_fma(dv[r], xv, acc[r][t]);
                }
            }
            /* only the real channels and taps: the repeated ones are another tile's */
#pragma GCC unroll 8
            for (int r = 0; r < DOT_RO; r++)
#pragma GCC unroll 8
                for (int t = 0; t < DOT_RK; t++)
                    if (o0 + r < OC && k0 + t < K1) v_store(out[r][t], acc[r][t]);
        }
}

void NN_K(conv2d_backward)(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, const nn_conv_geom *g,
                           float *scratch, int nthreads) {
    const plan_t p = plan(g);
    const int OC = g->OC, CKK = p.CKK, Q = p.Q, K1 = CKK + 1;
    const size_t isz = (size_t)g->C * g->H * g->W, osz = (size_t)OC * Q;
    const size_t per = NN_K(conv2d_scratch_size)(g, 1);
    const int nt = nthreads < B ? (nthreads > 1 ? nthreads : 1) : (B > 1 ? B : 1);
    const nn_conv_geom fg = flipped(g);
    const plan_t fp = plan(&fg);
    NN_PAR(nt,
        bwd_scr s;
        bwd_carve(&p, scratch + (size_t)nn_t * per, &s);
        frame_init(&p, &s.f);
        memset(s.gw, 0, sizeof(float) * (size_t)K1 * OC * (p.dw == DW_ROWS ? 16 : 1));
        fwd_scr fs;
        const float *wfp = NULL;
        if (dinp && p.dx_flip) {
            /* wf (C, OC, K, K): wf[c][oc][ki][kj] = w[oc][c][K-1-ki][K-1-kj] */
            const int KK = g->K * g->K;
            for (int oc = 0; oc < OC; oc++)
                for (int c = 0; c < g->C; c++)
                    for (int t = 0; t < KK; t++)
                        s.wf[((size_t)c * OC + oc) * KK + t] = w[((size_t)oc * g->C + c) * KK + KK - 1 - t];
            fwd_carve(&fp, s.dx, &fs);
            frame_init(&fp, &fs);
            wfp = prep_weights(&fp, &fs, s.wf);
        }
        int n0, n1;
        nn_split(B, nn_t, nn_nt, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            const float *x = inp + (size_t)n * isz, *d = dout + (size_t)n * osz;
            frame_fill(&p, &s.f, x);
            gemm_args a = {.K = Q, .init = GEMM_INIT_C};
            if (p.dw == DW_ROWS) {
                dw_rows(&p, &s, d);
            } else if (p.dw == DW_CHANNELS) {
                /* gw (CKK + 1, OC) += [taps; ones] (CKK + 1, Q) . dy^T (Q, OC) */
                transpose(s.dT, d, OC, Q);
                a.C = s.gw; a.ldc = OC;
                a.A = s.f.xp; a.am = s.f.koff; a.ak = s.f.qoff;
                a.B = s.dT; a.ldb = OC;
                a.M = K1; a.N = OC;
            } else {
                /* gw (OC, CKK + 1) += dy (OC, Q) . [taps, 1] (Q, CKK + 1) */
                build_colT(&p, &s);
                a.C = s.gw; a.ldc = K1;
                a.A = d; a.sam = Q; a.sak = 1;
                a.B = s.colT; a.ldb = K1;
                a.M = OC; a.N = K1;
            }
            if (p.dw != DW_ROWS) NN_K(gemm_run)(&a);
            if (!dinp) continue;
            float *di = dinp + (size_t)n * isz;
            if (p.dx_flip) {
                frame_fill(&fp, &fs, d);
                forward_one(&fp, &fs, di, d, wfp, NULL);
            } else {
                /* dcol (CKK, Q) = w^T (CKK, OC) . dy (OC, Q), then back onto the image */
                gemm_args c = {.C = s.dx, .ldc = Q, .A = w, .sam = 1, .sak = CKK, .B = d, .ldb = Q,
                               .M = CKK, .N = Q, .K = OC, .init = GEMM_INIT_ZERO, .overrun = 1};
                NN_K(gemm_run)(&c);
                col2im(di, s.dx, g);
            }
        }
    );
    /* each thread's chains, added in thread order */
    for (int t = 0; t < nt; t++) {
        bwd_scr s;
        bwd_carve(&p, scratch + (size_t)t * per, &s);
        if (p.dw == DW_ROWS) {
            for (int oc = 0; oc < OC; oc++) {
                const float *l = s.gw + (size_t)oc * K1 * 16;
                for (int k = 0; k < CKK; k++) dw[(size_t)oc * CKK + k] += v_hsum(v_load(l + 16 * k));
                db[oc] += v_hsum(v_load(l + 16 * CKK));
            }
        } else if (p.dw == DW_CHANNELS) {
            for (int k = 0; k < CKK; k++)
                for (int oc = 0; oc < OC; oc++) dw[(size_t)oc * CKK + k] += s.gw[(size_t)k * OC + oc];
            for (int oc = 0; oc < OC; oc++) db[oc] += s.gw[(size_t)CKK * OC + oc];
        } else {
            for (int oc = 0; oc < OC; oc++) {
                for (int k = 0; k < CKK; k++) dw[(size_t)oc * CKK + k] += s.gw[(size_t)oc * K1 + k];
                db[oc] += s.gw[(size_t)oc * K1 + CKK];
            }
        }
    }
}
