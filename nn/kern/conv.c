/* conv.c -- 2-D convolution (cross-correlation, PyTorch's Conv2d) for any
 * kernel, stride and padding, as products of gemm (kern.h). Each image is
 * copied into a zero-framed plane that the products read in place through
 * offset tables (tap k of pixel q, an "implicit" column matrix), so there is
 * no im2col for most shapes and no small sgemm call per image.
 *
 * Every output is one fma chain in a fixed order, so the bits are the same
 * on every path. With col[k][q] the tap k = (c, ki, kj) of output pixel q:
 *   y[oc][q]        = b[oc], then + w[oc][k] * col[k][q] for k = 0..C*K*K-1
 *   dw[oc][k], db   = 0, then + dy[oc][q] * col[k][q] (db: * 1) over the
 *                     images of the call in order and q = 0..OH*OW-1; then
 *                     added to dw, db
 *   dx              = stride 1 and P < K: the forward convolution of dy,
 *                     framed by K-1-P zeros, with the kernels flipped (chain
 *                     over oc, ki, kj); otherwise dcol[k][q] = 0, then
 *                     + w[oc][k] * dy[oc][q] over oc, and dx = col2im(dcol),
 *                     summed tap by tap in (ki, kj) order
 * Which way the 16 lanes run (along the pixels, the taps or the output
 * channels) changes only the speed: plan() picks, from the shape alone, the
 * one that leaves fewer lanes idle (6 channels fill 6 of 16 lanes; 100
 * pixels fill 100 of 112).
 *
 * With nthreads > 1 (tests, direct callers) the images are split over the
 * threads and each thread's weight gradient is added in thread order. The
 * network calls it with one thread per slice of a batch (net.c). */
#include "kern.h"
#include "../par.h"

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
                    float *r = row + (size_t)oh * OW;
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

/* img: (C, H, W) += col2im(col), the adjoint of im2col; each input pixel
 * sums its taps in (ki, kj) order */
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
                    const float *r = row + (size_t)oh * OW;
                    float *dst = plane + (size_t)ih * W;
                    if (S == 1) {
                        int lo = P - kj > 0 ? P - kj : 0;
                        int hi = W + P - kj < OW ? W + P - kj : OW;
                        float *d = dst - P + kj;
                        for (int ow = lo; ow < hi; ow++) d[ow] += r[ow];
                    } else {
                        for (int ow = 0; ow < OW; ow++) {
                            int iw = ow * S - P + kj;
                            if (iw >= 0 && iw < W) dst[iw] += r[ow];
                        }
                    }
                }
            }
}

/* dst: (cols, rows) = src: (rows, cols) transposed */
static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int i0 = 0; i0 < rows; i0 += 16)
        for (int j = 0; j < cols; j++)
            for (int i = i0; i < rows && i < i0 + 16; i++) dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

/* dst[0..n) = src[0..n) in (masked) vectors: rows too short for memcpy's call */
V_INLINE void copy_row(float *dst, const float *src, int n) {
    for (int j = 0; j < n; j += 16) {
        m16 m = v_mask(n - j);
        v_store_m(dst + j, m, v_load_m(src + j, m));
    }
}

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* How one geometry runs, decided from its shape alone, so the same on
 * every path. The input is copied into a zero-framed plane xp (C, Hp, Wp),
 * read in place through offsets: tap k = (c, ki, kj) of output pixel
 * q = (oh, ow) is xp[koff[k] + qoff[q]], koff[k] = (c Hp + ki) Wp + kj,
 * qoff[q] = S (oh Wp + ow). */
typedef struct {
    nn_conv_geom g;
    int Hp, Wp, CKK, Q;
    int fwd_ch;   /* forward with the output channels in the lanes (y^T, then transposed) */
    int fwd_pix;  /* forward with the pixels in the lanes, read in place (stride 1): rows of
                   * NW = (OH-1) Wp + OW outputs, the Wp - OW between rows thrown away */
    int NW;
    int dw_ch;    /* weight gradient with the output channels in the lanes (needs dy^T) */
    int dx_flip;  /* input gradient as a forward convolution of dy, zero-framed by K-1-P,
                   * with the kernels flipped (stride 1, P < K); else through col2im */
} plan_t;

static plan_t plan(const nn_conv_geom *g) {
    plan_t p;
    p.g = *g;
    p.Hp = g->H + 2 * g->P;
    p.Wp = g->W + 2 * g->P;
    p.CKK = g->C * g->K * g->K;
    p.Q = g->OH * g->OW;
    p.NW = (g->OH - 1) * p.Wp + g->OW;
    const size_t OC = (size_t)g->OC;
    const size_t ch = up16(OC) * (size_t)p.Q, pix = OC * up16(g->S == 1 ? (size_t)p.NW : (size_t)p.Q);
    p.fwd_ch = ch < pix;
    p.fwd_pix = !p.fwd_ch && g->S == 1;
    p.dw_ch = up16(OC) * (size_t)(p.CKK + 1) < OC * up16((size_t)p.CKK + 1);
    p.dx_flip = g->S == 1 && g->P < g->K;
    return p;
}

/* the geometry whose forward is p's input gradient (dx_flip) */
static nn_conv_geom flipped(const plan_t *p) {
    const nn_conv_geom *g = &p->g;
    nn_conv_geom f = {g->OC, g->OH, g->OW, g->C, g->K, 1, g->K - 1 - g->P, g->H, g->W};
    return f;
}

/* Scratch of one thread, carved in this order (each part a multiple of 16
 * floats; the int tables live in float-sized slots). */
typedef struct {
    float *xp;     /* (C + 1, Hp, Wp) + 16: the framed input, then a plane of ones */
    int *koff;     /* CKK + 1: the last is the plane of ones */
    int *qoff;     /* Q */
    float *wp;     /* forward: w^T (CKK, OC) (fwd_ch) */
    float *y;      /* forward: y^T (Q, OC) or rows of NW (OC, NW), or col (CKK, Q) */
    size_t end;
} fwd_scr;

static size_t fwd_carve(const plan_t *p, float *base, fwd_scr *s) {
    size_t o = 0;
    const size_t OC = (size_t)p->g.OC, CKK = (size_t)p->CKK, Q = (size_t)p->Q;
#define CARVE(field, type, n) do { s->field = base ? (type *)(base + o) : NULL; o += up16(n); } while (0)
    CARVE(xp, float, (size_t)(p->g.C + 1) * p->Hp * p->Wp + 16);
    CARVE(koff, int, CKK + 1);
    CARVE(qoff, int, Q);
    CARVE(wp, float, p->fwd_ch ? CKK * OC : 0);
    CARVE(y, float, p->fwd_ch ? Q * OC : p->fwd_pix ? (p->Wp == p->g.OW ? 0 : OC * p->NW) : CKK * Q);
    s->end = o;
    return o;
}

typedef struct {
    fwd_scr f;     /* the input's framed plane and offsets (f.wp, f.y unused) */
    float *dT;     /* dy^T (Q, OC) (dw_ch) */
    float *colT;   /* (Q, CKK + 1): each pixel's taps and a 1 (not dw_ch) */
    float *gw;     /* the chains of dw and db: (CKK + 1, OC) (dw_ch) or (OC, CKK + 1) */
    float *wf;     /* the flipped kernels (C, OC, K, K) (dx_flip) */
    float *dx;     /* the forward scratch of the flipped geometry, or dcol (CKK, Q) */
    size_t end;
} bwd_scr;

static size_t bwd_carve(const plan_t *p, float *base, bwd_scr *s) {
    const size_t OC = (size_t)p->g.OC, CKK = (size_t)p->CKK, Q = (size_t)p->Q;
    size_t o = fwd_carve(p, base, &s->f);
    CARVE(dT, float, p->dw_ch ? Q * OC : 0);
    CARVE(colT, float, p->dw_ch ? 0 : Q * (CKK + 1));
    CARVE(gw, float, (CKK + 1) * OC);
    CARVE(wf, float, p->dx_flip ? CKK * OC : 0);
    if (p->dx_flip) {
        const nn_conv_geom fg = flipped(p);
        const plan_t fp = plan(&fg);
        fwd_scr fs;
        CARVE(dx, float, fwd_carve(&fp, NULL, &fs));
    } else {
        CARVE(dx, float, CKK * Q);
    }
#undef CARVE
    s->end = o;
    return o;
}

size_t NN_K(conv2d_scratch_size)(const nn_conv_geom *g, int nthreads) {
    const plan_t p = plan(g);
    fwd_scr f;
    bwd_scr b;
    size_t nf = fwd_carve(&p, NULL, &f), nb = bwd_carve(&p, NULL, &b);
    return (size_t)(nthreads < 1 ? 1 : nthreads) * (nf > nb ? nf : nb);
}

/* per call: the offsets, the frame of zeros and the plane of ones */
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
    if (!p->fwd_ch) return w;
    transpose(s->wp, w, p->g.OC, p->CKK);
    return s->wp;
}

/* y (OC, OH, OW) = b (or 0) + conv(x, w) for one image, x already in the frame
 * (or, for the im2col layout, read from x) */
static void forward_one(const plan_t *p, fwd_scr *s, float *y, const float *x, const float *wp, const float *b) {
    const nn_conv_geom *g = &p->g;
    const int OC = g->OC, CKK = p->CKK, Q = p->Q;
    if (p->fwd_ch) {
        /* y^T (Q, OC) = b + taps (Q, CKK) . w^T (CKK, OC) */
        for (int q = 0; q < Q; q++) {
            float *r = s->y + (size_t)q * OC;
            if (b) memcpy(r, b, sizeof(float) * OC);
            else memset(r, 0, sizeof(float) * OC);
        }
        NN_K(gemm_x)(s->y, OC, s->xp, 0, 0, s->qoff, s->koff, wp, OC, NULL, Q, OC, CKK, 1);
        transpose(y, s->y, Q, OC);
        return;
    }
    const int N = p->fwd_pix ? p->NW : Q;
    /* rows of NW straight into y when there is nothing to throw away */
    float *yr = p->fwd_pix && p->Wp != g->OW ? s->y : y;
    for (int oc = 0; oc < OC; oc++)
        for (int i = 0; i < N; i++) yr[(size_t)oc * N + i] = b ? b[oc] : 0.f;
    if (p->fwd_pix) {
        /* rows of NW (OC, NW) = b + w (OC, CKK) . xp through koff */
        NN_K(gemm_x)(yr, N, wp, CKK, 1, NULL, NULL, s->xp, 0, s->koff, OC, N, CKK, 1);
        if (yr != y)
            for (int oc = 0; oc < OC; oc++)
                for (int oh = 0; oh < g->OH; oh++)
                    copy_row(y + ((size_t)oc * g->OH + oh) * g->OW, yr + (size_t)oc * N + (size_t)oh * p->Wp, g->OW);
    } else {
        /* y (OC, Q) = b + w (OC, CKK) . col (CKK, Q) */
        im2col(s->y, x, g);
        NN_K(gemm)(y, Q, wp, CKK, 1, s->y, Q, OC, Q, CKK, 1);
    }
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
            if (p.fwd_ch || p.fwd_pix) frame_fill(&p, &s, x);
            forward_one(&p, &s, out + (size_t)n * osz, x, wp, b);
        }
    );
}

void NN_K(conv2d_backward)(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, const nn_conv_geom *g,
                           float *scratch, int nthreads) {
    const plan_t p = plan(g);
    const int OC = g->OC, CKK = p.CKK, Q = p.Q, K1 = CKK + 1;
    const size_t isz = (size_t)g->C * g->H * g->W, osz = (size_t)OC * Q;
    const size_t per = NN_K(conv2d_scratch_size)(g, 1);
    const int nt = nthreads < B ? (nthreads > 1 ? nthreads : 1) : (B > 1 ? B : 1);
    const nn_conv_geom fg = flipped(&p);
    const plan_t fp = plan(&fg);
    NN_PAR(nt,
        bwd_scr s;
        bwd_carve(&p, scratch + (size_t)nn_t * per, &s);
        frame_init(&p, &s.f);
        memset(s.gw, 0, sizeof(float) * (size_t)K1 * OC);
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
            if (p.dw_ch) {
                /* gw (CKK + 1, OC) += [taps; ones] (CKK + 1, Q) . dy^T (Q, OC) */
                transpose(s.dT, d, OC, Q);
                NN_K(gemm_x)(s.gw, OC, s.f.xp, 0, 0, s.f.koff, s.f.qoff, s.dT, OC, NULL, K1, OC, Q, 1);
            } else {
                /* gw (OC, CKK + 1) += dy (OC, Q) . [taps, 1] (Q, CKK + 1) */
                for (int q = 0; q < Q; q++) {
                    float *r = s.colT + (size_t)q * K1;
                    const float *src = s.f.xp + s.f.qoff[q];
                    for (int c = 0; c < g->C; c++)
                        for (int ki = 0; ki < g->K; ki++, r += g->K)
                            copy_row(r, src + ((size_t)c * p.Hp + ki) * p.Wp, g->K);
                    *r = 1.f;
                }
                NN_K(gemm)(s.gw, K1, d, Q, 1, s.colT, K1, OC, K1, Q, 1);
            }
            if (!dinp) continue;
            float *di = dinp + (size_t)n * isz;
            if (p.dx_flip) {
                frame_fill(&fp, &fs, d);
                forward_one(&fp, &fs, di, d, wfp, NULL);
            } else {
                /* dcol (CKK, Q) = w^T (CKK, OC) . dy (OC, Q), then back onto the image */
                NN_K(gemm)(s.dx, Q, w, 1, CKK, d, Q, CKK, Q, OC, 0);
                memset(di, 0, sizeof(float) * isz);
                col2im_add(di, s.dx, g);
            }
        }
    );
    /* each thread's chains, added in thread order */
    for (int t = 0; t < nt; t++) {
        bwd_scr s;
        bwd_carve(&p, scratch + (size_t)t * per, &s);
        if (p.dw_ch) {
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
