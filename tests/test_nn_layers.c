/* test_nn_layers.c -- every kernel in nn/ops.h against PyTorch's reference
 * tensors (tests/fixtures/layers.bin, made by make_fixtures.py), against its
 * plain-loop oracle, and against finite differences of L = sum(y * r). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "../nn/nn.h"
#include "../nn/ops.h"
#include "../nn/layer.h"
#include "fixture.h"
#include "archs.h"

static fx_file *FX;
static int setup(void **state) { FX = fx_load("tests/fixtures/layers.bin"); return FX ? 0 : -1; }
static int teardown(void **state) { fx_free(FX); return 0; }

#define RTOL 1e-4f
#define ATOL 1e-5f
#define EXPECT_CLOSE(name, got, want, n) assert_int_equal(fx_mismatches(name, got, want, n, RTOL, ATOL), 0)

static float *T(const char *name) { return fx_get(FX, name)->data; }
static size_t N(const char *name) { return fx_get(FX, name)->n; }
static int D(const char *name, int i) { return fx_get(FX, name)->dims[i]; }

static nn_conv_geom geom(int C, int H, int W, int OC, int K, int S, int P) {
    nn_conv_geom g = {C, H, W, OC, K, S, P, (H + 2 * P - K) / S + 1, (W + 2 * P - K) / S + 1};
    return g;
}

/* ---- the layer table (issue 13): every kind has a complete row, and its
 * family (how configs write it) names it once. nn_infer refuses a kind
 * without one; this finds it before any network does. */

static void every_layer_kind_has_a_complete_row(void **s) {
    const nn_layer_family *fam[NN_KIND_COUNT];
    const int nf = nn_layer_families(fam, NN_KIND_COUNT);
    int seen[NN_KIND_COUNT] = {0};
    char why[200];
    for (int i = 0; i < nf; i++) {
        const nn_layer_family *f = fam[i];
        nn_kind k[NN_KIND_COUNT];
        const int nk = nn_family_kinds(f, k);
        assert_true(nk >= 1);
        assert_true(!f->types == (nk == 1));            /* a type exactly when there is a choice */
        assert_non_null(f->example);
        assert_true(f->init.kind == k[0]);
        for (int j = 0; j < f->nopts; j++) {
            const nn_layer_opt *o = &f->opts[j];
            assert_true(o->off + (o->is_float ? sizeof(float) : sizeof(int)) <= sizeof(nn_layer_spec));
            assert_true(o->off != offsetof(nn_layer_spec, kind));
        }
        for (int j = 0; j < nk; j++) {
            const nn_layer_def *d = nn_layer_def_of(k[j], why, sizeof why);
            if (!d) fail_msg("%s", why);
            assert_string_equal(nn_kind_name(k[j]), d->name);
            assert_ptr_equal(nn_kind_family(k[j]), f);
            if (nk > 1) {
                assert_non_null(nn_kind_type(k[j]));
                for (int m = 0; m < j; m++) assert_string_not_equal(nn_kind_type(k[m]), nn_kind_type(k[j]));
            }
            seen[k[j]]++;
        }
        for (int m = 0; m < i; m++) assert_string_not_equal(fam[m]->key, f->key);
    }
    for (int k = 0; k < NN_KIND_COUNT; k++)
        if (seen[k] != 1) fail_msg("kind %d (%s) is in %d families", k, nn_kind_name((nn_kind)k), seen[k]);
    assert_null(nn_layer_def_of(NN_KIND_COUNT, why, sizeof why));
    assert_string_equal(nn_kind_name(NN_KIND_COUNT), "?");
}

/* ---- PyTorch parity */

static void check_conv(const char *c, int S, int P) {
    char k[64];
#define F(field) (snprintf(k, sizeof k, "%s.%s", c, field), k)
    int B = D(F("x"), 0), C = D(F("x"), 1), H = D(F("x"), 2), W = D(F("x"), 3);
    int OC = D(F("w"), 0), K = D(F("w"), 2);
    nn_conv_geom g = geom(C, H, W, OC, K, S, P);
    size_t ny = N(F("y")), nx = N(F("x")), nw = N(F("w"));
    assert_int_equal(ny, (size_t)B * OC * g.OH * g.OW);
    float *y = calloc(ny, 4), *yr = calloc(ny, 4), *dx = calloc(nx, 4), *dxr = calloc(nx, 4);
    float *dw = calloc(nw, 4), *dwr = calloc(nw, 4), *db = calloc(OC, 4), *dbr = calloc(OC, 4);
    int nt = 2;
    float *scratch = calloc(conv2d_scratch_size(&g, nt), 4);
    conv2d_forward(y, T(F("x")), T(F("w")), T(F("b")), B, &g, scratch, nt);
    conv2d_forward_ref(yr, T(F("x")), T(F("w")), T(F("b")), B, &g);
    EXPECT_CLOSE("conv y", y, T(F("y")), ny);
    EXPECT_CLOSE("conv y (ref)", yr, T(F("y")), ny);
    conv2d_backward(dx, dw, db, T(F("dy")), T(F("x")), T(F("w")), B, &g, scratch, nt);
    conv2d_backward_ref(dxr, dwr, dbr, T(F("dy")), T(F("x")), T(F("w")), B, &g);
    EXPECT_CLOSE("conv dx", dx, T(F("dx")), nx);
    EXPECT_CLOSE("conv dw", dw, T(F("dw")), nw);
    EXPECT_CLOSE("conv db", db, T(F("db")), (size_t)OC);
    EXPECT_CLOSE("conv dx (ref)", dxr, T(F("dx")), nx);
    EXPECT_CLOSE("conv dw (ref)", dwr, T(F("dw")), nw);
    free(y); free(yr); free(dx); free(dxr); free(dw); free(dwr); free(db); free(dbr);
    free(scratch);
#undef F
}

static void conv2d_stride2_pad1_matches_pytorch(void **s) { check_conv("conv", 2, 1); }
static void conv2d_kernel1_matches_pytorch(void **s) { check_conv("conv_k1", 1, 0); }
static void conv2d_pad2_matches_pytorch(void **s) { check_conv("conv_pad2", 1, 2); }

static void dense_matches_pytorch(void **s) {
    int B = D("dense.x", 0), I = D("dense.x", 1), O = D("dense.w", 0);
    float y[64], yr[64], dx[64] = {0}, dw[64] = {0}, db[8] = {0}, dwr[64] = {0}, dbr[8] = {0}, dxr[64];
    dense_forward(y, T("dense.x"), T("dense.w"), T("dense.b"), B, I, O);
    dense_forward_ref(yr, T("dense.x"), T("dense.w"), T("dense.b"), B, I, O);
    EXPECT_CLOSE("dense y", y, T("dense.y"), (size_t)B * O);
    EXPECT_CLOSE("dense y (ref)", yr, T("dense.y"), (size_t)B * O);
    dense_backward(dx, dw, db, T("dense.dy"), T("dense.x"), T("dense.w"), B, I, O);
    dense_backward_ref(dxr, dwr, dbr, T("dense.dy"), T("dense.x"), T("dense.w"), B, I, O);
    EXPECT_CLOSE("dense dx", dx, T("dense.dx"), (size_t)B * I);
    EXPECT_CLOSE("dense dw", dw, T("dense.dw"), (size_t)O * I);
    EXPECT_CLOSE("dense db", db, T("dense.db"), (size_t)O);
    EXPECT_CLOSE("dense dw (ref)", dwr, T("dense.dw"), (size_t)O * I);
}

static void check_pool(const char *c, int maxp, int K, int S, int P) {
    char k[64];
#define F(field) (snprintf(k, sizeof k, "%s.%s", c, field), k)
    int B = D(F("x"), 0), C = D(F("x"), 1), H = D(F("x"), 2), W = D(F("x"), 3);
    nn_conv_geom g = geom(C, H, W, C, K, S, P);
    size_t ny = N(F("y")), nx = N(F("x"));
    assert_int_equal(ny, (size_t)B * C * g.OH * g.OW);
    float *y = calloc(ny, 4), *yr = calloc(ny, 4), *dx = calloc(nx, 4);
    int *am = calloc(ny, sizeof(int));
    if (maxp) {
        maxpool_forward(y, am, T(F("x")), B, &g, 2);
        maxpool_forward_ref(yr, T(F("x")), B, &g);
        maxpool_backward(dx, T(F("dy")), am, B, &g, 2);
    } else {
        avgpool_forward(y, T(F("x")), B, &g, 2);
        avgpool_forward_ref(yr, T(F("x")), B, &g);
        avgpool_backward(dx, T(F("dy")), B, &g, 2);
    }
    EXPECT_CLOSE("pool y", y, T(F("y")), ny);
    EXPECT_CLOSE("pool y (ref)", yr, T(F("y")), ny);
    EXPECT_CLOSE("pool dx", dx, T(F("dx")), nx);
    free(y); free(yr); free(dx); free(am);
#undef F
}

static void avgpool_matches_pytorch(void **s) { check_pool("avgpool", 0, 2, 2, 0); }
static void avgpool_stride1_pad1_matches_pytorch(void **s) { check_pool("avgpool_s1", 0, 3, 1, 1); }
static void maxpool_matches_pytorch(void **s) { check_pool("maxpool", 1, 2, 2, 0); }
static void maxpool_k3s2p1_matches_pytorch(void **s) { check_pool("maxpool_k3s2p1", 1, 3, 2, 1); }

static void activations_match_pytorch(void **s) {
    const char *names[] = {"sigmoid", "relu", "tanh", "leaky_relu"};
    for (int a = 0; a < 4; a++) {
        char kx[64], ky[64], kdy[64], kdx[64];
        snprintf(kx, 64, "%s.x", names[a]); snprintf(ky, 64, "%s.y", names[a]);
        snprintf(kdy, 64, "%s.dy", names[a]); snprintf(kdx, 64, "%s.dx", names[a]);
        size_t n = N(kx);
        float *y = calloc(n, 4), *dx = calloc(n, 4);
        switch (a) {
        case 0: sigmoid_forward(y, T(kx), n, 2); sigmoid_backward(dx, T(kdy), y, n, 2); break;
        case 1: relu_forward(y, T(kx), n, 2); relu_backward(dx, T(kdy), y, n, 2); break;
        case 2: tanh_forward(y, T(kx), n, 2); tanh_backward(dx, T(kdy), y, n, 2); break;
        case 3: leaky_relu_forward(y, T(kx), 0.01f, n, 2); leaky_relu_backward(dx, T(kdy), y, 0.01f, n, 2); break;
        }
        EXPECT_CLOSE(ky, y, T(ky), n);
        EXPECT_CLOSE(kdx, dx, T(kdx), n);
        /* in place, as the network runs them */
        float *io = malloc(4 * n);
        memcpy(io, T(kx), 4 * n);
        if (a == 0) sigmoid_forward(io, io, n, 1);
        if (a == 1) relu_forward(io, io, n, 1);
        if (a == 2) tanh_forward(io, io, n, 1);
        if (a == 3) leaky_relu_forward(io, io, 0.01f, n, 1);
        EXPECT_CLOSE(ky, io, T(ky), n);
        free(y); free(dx); free(io);
    }
}

static void check_bn(const char *c, int spatial) {
    char k[64];
#define F(field) (snprintf(k, sizeof k, "%s.%s", c, field), k)
    int B = D(F("x"), 0), C = D(F("x"), 1), HW = spatial ? D(F("x"), 2) * D(F("x"), 3) : 1;
    size_t n = N(F("x"));
    float *y = calloc(n, 4), *xh = calloc(n, 4), *dx = calloc(n, 4), *ye = calloc(n, 4);
    float is[64], rm[64], rv[64], dg[64] = {0}, db[64] = {0};
    for (int i = 0; i < C; i++) { rm[i] = 0; rv[i] = 1; }
    batchnorm_forward_train(y, xh, is, rm, rv, T(F("x")), T(F("w")), T(F("b")), B, C, HW, 0.1f, 1e-5f, 2);
    EXPECT_CLOSE("bn y", y, T(F("y")), n);
    EXPECT_CLOSE("bn running_mean", rm, T(F("running_mean")), (size_t)C);
    EXPECT_CLOSE("bn running_var", rv, T(F("running_var")), (size_t)C);
    batchnorm_backward(dx, dg, db, T(F("dy")), xh, is, T(F("w")), B, C, HW, 2);
    EXPECT_CLOSE("bn dx", dx, T(F("dx")), n);
    EXPECT_CLOSE("bn dgamma", dg, T(F("dw")), (size_t)C);
    EXPECT_CLOSE("bn dbeta", db, T(F("db")), (size_t)C);
    batchnorm_forward_eval(ye, T(F("x")), T(F("w")), T(F("b")), rm, rv, B, C, HW, 1e-5f, 2);
    EXPECT_CLOSE("bn y_eval", ye, T(F("y_eval")), n);
    free(y); free(xh); free(dx); free(ye);
#undef F
}

static void batchnorm2d_matches_pytorch(void **s) { check_bn("bn2d", 1); }
static void batchnorm1d_matches_pytorch(void **s) { check_bn("bn1d", 0); }

/* global average pooling (issue 13: the layer added through the layer table
 * alone) against PyTorch's AdaptiveAvgPool2d(1) on a 5x7 plane */
static void gap_matches_pytorch(void **s) {
    int B = D("gap.x", 0), C = D("gap.x", 1), HW = D("gap.x", 2) * D("gap.x", 3);
    assert_int_equal(N("gap.y"), (size_t)B * C);
    float y[16], dx[256];
    gap_forward(y, T("gap.x"), B, C, HW);
    EXPECT_CLOSE("gap y", y, T("gap.y"), (size_t)B * C);
    gap_backward(dx, T("gap.dy"), B, C, HW);
    EXPECT_CLOSE("gap dx", dx, T("gap.dx"), N("gap.x"));
}

static void check_ce(const char *c) {
    char k[64];
#define F(field) (snprintf(k, sizeof k, "%s.%s", c, field), k)
    int B = D(F("x"), 0), NC = D(F("x"), 1);
    int labels[16];
    for (int i = 0; i < B; i++) labels[i] = (int)T(F("labels"))[i];
    float probs[160], dz[160];
    float loss = softmax_ce_forward(probs, T(F("x")), labels, B, NC);
    assert_true(isfinite(loss));
    EXPECT_CLOSE("ce loss", &loss, T(F("loss")), 1);
    softmax_ce_backward(dz, probs, labels, B, NC);
    EXPECT_CLOSE("ce dlogits", dz, T(F("dx")), (size_t)B * NC);
#undef F
}

static void softmax_ce_matches_pytorch(void **s) { check_ce("ce"); }
/* logits near 1000: exp overflows without the log-sum-exp shift */
static void softmax_ce_is_stable_for_large_logits(void **s) { check_ce("ce_big"); }

/* ---- oracles on shapes the fixtures do not cover, on every path the CPU
 * runs, with several threads: each path against the plain loops, and every
 * path's bits against the portable path's (issue 12: the same bits on every
 * instruction set). The shapes are the ones users sweep: kernels 1 to 7,
 * stride 1 and 2, padding 0 to 3, channel counts that are not multiples
 * of 16, up to 128. */

/* the paths this CPU runs, portable first */
static int paths(const nn_kernels **k) {
    int n = 0;
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (nn_kernels_for((nn_isa)i)) k[n++] = nn_kernels_for((nn_isa)i);
    return n;
}

#define SAME_BITS(what, a, b, n) \
    do { if (memcmp(a, b, sizeof(float) * (n))) fail_msg("%s: other bits on %s than on portable", what, nn_isa_name(K[p]->isa)); } while (0)

static void conv2d_every_path_matches_ref_and_portable(void **s) {
    const int cases[][8] = {
        /* C, H, W, OC, K, S, P, B */
        {1, 28, 28, 6, 5, 1, 2, 5},   {6, 14, 14, 16, 5, 1, 0, 5}, {3, 11, 7, 5, 3, 2, 0, 5},
        {4, 8, 8, 8, 1, 1, 0, 5},     {2, 9, 9, 3, 4, 3, 2, 5},    {5, 6, 6, 7, 3, 1, 1, 5},
        {1, 28, 28, 32, 3, 1, 1, 3},  {32, 14, 14, 64, 3, 1, 1, 2}, {3, 32, 32, 12, 7, 2, 3, 2},
        {12, 9, 9, 20, 1, 1, 0, 4},   {20, 8, 8, 12, 3, 2, 1, 3},  {16, 7, 7, 128, 3, 1, 1, 2},
        {128, 4, 4, 24, 2, 1, 0, 2},  {6, 10, 10, 6, 6, 1, 3, 3},  {3, 13, 13, 9, 5, 2, 2, 3},
    };
    const nn_kernels *K[NN_ISA_COUNT];
    const int np = paths(K);
    nn_rng r;
    nn_rng_seed(&r, 7);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int *q = cases[c], B = NN_TEST_SANITIZED ? 1 : q[7];
        nn_conv_geom g = geom(q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
        size_t nx = (size_t)B * g.C * g.H * g.W, ny = (size_t)B * g.OC * g.OH * g.OW;
        size_t nw = (size_t)g.OC * g.C * g.K * g.K;
        float *x = malloc(4 * nx), *w = malloc(4 * nw), *b = malloc(4 * g.OC), *dy = malloc(4 * ny);
        for (size_t i = 0; i < nx; i++) x[i] = nn_rng_uniform(&r) * 2 - 1;
        for (size_t i = 0; i < nw; i++) w[i] = nn_rng_uniform(&r) * 2 - 1;
        for (int i = 0; i < g.OC; i++) b[i] = nn_rng_uniform(&r);
        for (size_t i = 0; i < ny; i++) dy[i] = nn_rng_uniform(&r) * 2 - 1;
        float *yr = calloc(ny, 4), *dxr = calloc(nx, 4), *dwr = calloc(nw + g.OC, 4);
        conv2d_forward_ref(yr, x, w, b, B, &g);
        conv2d_backward_ref(dxr, dwr, dwr + nw, dy, x, w, B, &g);
        for (int nt = 1; nt <= (NN_TEST_SANITIZED ? 1 : 3); nt += 2) {
            float *y0 = NULL, *dx0 = NULL, *dw0 = NULL;
            for (int p = 0; p < np; p++) {
                float *y = calloc(ny, 4), *dx = calloc(nx, 4), *dw = calloc(nw + g.OC, 4);
                float *scr = calloc(K[p]->conv2d_scratch_size(&g, nt), 4);
                K[p]->conv2d_forward(y, x, w, b, B, &g, scr, nt);
                K[p]->conv2d_backward(dx, dw, dw + nw, dy, x, w, B, &g, scr, nt);
                char what[128];
                snprintf(what, sizeof what, "conv case %zu on %s, %d threads", c, nn_isa_name(K[p]->isa), nt);
                if (fx_mismatches(what, y, yr, ny, 1e-4f, 1e-4f) || fx_mismatches(what, dx, dxr, nx, 1e-4f, 1e-4f) ||
                    fx_mismatches(what, dw, dwr, nw + g.OC, 1e-4f, 1e-3f))
                    fail_msg("%s: differs from the plain loops", what);
                if (p == 0) { y0 = y; dx0 = dx; dw0 = dw; }
                else {
                    SAME_BITS(what, y, y0, ny);
                    SAME_BITS(what, dx, dx0, nx);
                    SAME_BITS(what, dw, dw0, nw + g.OC);
                    free(y); free(dx); free(dw);
                }
                free(scr);
            }
            free(y0); free(dx0); free(dw0);
        }
        free(x); free(w); free(b); free(dy); free(yr); free(dxr); free(dwr);
    }
}

/* gemm on odd sizes and strides: every path the same bits as the portable
 * one, and each output the one fma chain kern.h promises (checked against a
 * scalar chain of fmaf), also when a long chain goes in parts (K of 300 and
 * 3136: a dense layer after the convolutions of configs/cnn3x3.yaml) */
static void gemm_every_path_is_one_fma_chain(void **s) {
    const int cases[][4] = {{1, 1, 1, 0}, {7, 33, 5, 1}, {25, 16, 100, 0}, {6, 784, 25, 1}, {100, 16, 150, 1},
                            {13, 47, 129, 0}, {40, 200, 3, 1}, {5, 37, 300, 1}, {32, 128, 3136, 0}};
    const nn_kernels *K[NN_ISA_COUNT];
    const int np = paths(K);
    nn_rng r;
    nn_rng_seed(&r, 11);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int M = cases[c][0], N = cases[c][1], Kd = cases[c][2], trans = cases[c][3];
        float *A = malloc(4 * (size_t)M * Kd), *Bm = malloc(4 * (size_t)Kd * N), *C0 = malloc(4 * (size_t)M * N);
        for (int i = 0; i < M * Kd; i++) A[i] = nn_rng_uniform(&r) * 2 - 1;
        for (int i = 0; i < Kd * N; i++) Bm[i] = nn_rng_uniform(&r) * 2 - 1;
        for (int i = 0; i < M * N; i++) C0[i] = nn_rng_uniform(&r);
        /* A read as (M, K) row-major, or as the transpose of a (K, M) one */
        const int sam = trans ? 1 : Kd, sak = trans ? M : 1;
        float *want = malloc(4 * (size_t)M * N);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float acc = C0[m * N + n];
                for (int k = 0; k < Kd; k++) acc = fmaf(A[m * sam + k * sak], Bm[k * N + n], acc);
                want[m * N + n] = acc;
            }
        for (int p = 0; p < np; p++) {
            float *got = malloc(4 * (size_t)M * N);
            memcpy(got, C0, 4 * (size_t)M * N);
            K[p]->gemm(got, N, A, sam, sak, Bm, N, M, N, Kd, 1);
            if (memcmp(got, want, 4 * (size_t)M * N))
                fail_msg("gemm %dx%dx%d on %s: not the fma chain", M, N, Kd, nn_isa_name(K[p]->isa));
            free(got);
        }
        free(A); free(Bm); free(C0); free(want);
    }
}

/* sigmoid and tanh (own exp and tanh polynomials, not libm) and the other
 * activations: the same bits on every path, over values that reach the
 * clamps, both branches of tanh, zeros, infinities and NaN; and within a
 * few ulp of the double-precision functions */
static void activations_every_path_same_bits_and_close_to_libm(void **s) {
    const nn_kernels *K[NN_ISA_COUNT];
    const int np = paths(K);
    enum { N = 4099 };
    float *x = malloc(4 * N), *y[NN_ISA_COUNT][4];
    nn_rng r;
    nn_rng_seed(&r, 12);
    for (int i = 0; i < N; i++) x[i] = (nn_rng_uniform(&r) * 2 - 1) * (i % 3 ? 4.f : 100.f);
    x[0] = 0.f; x[1] = -0.f; x[2] = INFINITY; x[3] = -INFINITY; x[4] = NAN; x[5] = 0.4999999f; x[6] = 0.5f;
    x[7] = -0.5f; x[8] = 1e-30f; x[9] = -88.5f; x[10] = 89.f;
    for (int p = 0; p < np; p++) {
        for (int k = 0; k < 4; k++) y[p][k] = malloc(4 * N);
        K[p]->sigmoid_forward(y[p][0], x, N, 1);
        K[p]->tanh_forward(y[p][1], x, N, 1);
        K[p]->relu_forward(y[p][2], x, N, 1);
        K[p]->leaky_relu_forward(y[p][3], x, 0.01f, N, 1);
        for (int k = 0; k < 4 && p > 0; k++)
            if (memcmp(y[p][k], y[0][k], 4 * N)) fail_msg("activation %d: other bits on %s than on portable", k, nn_isa_name(K[p]->isa));
    }
    int bad = 0;
    for (int i = 0; i < N; i++) {
        if (isnan(x[i])) { bad += !isnan(y[0][0][i]) || !isnan(y[0][1][i]); continue; }
        double sg = 1 / (1 + exp(-(double)x[i])), th = tanh((double)x[i]);
        if (fabs(y[0][0][i] - sg) > 4 * FLT_EPSILON * fabs(sg) + 1e-37) { if (bad++ < 3) fprintf(stderr, "sigmoid(%g) = %.9g, want %.9g\n", x[i], y[0][0][i], sg); }
        if (fabs(y[0][1][i] - th) > 4 * FLT_EPSILON * fabs(th) + 1e-37) { if (bad++ < 3) fprintf(stderr, "tanh(%g) = %.9g, want %.9g\n", x[i], y[0][1][i], th); }
    }
    assert_int_equal(bad, 0);
    for (int p = 0; p < np; p++) for (int k = 0; k < 4; k++) free(y[p][k]);
    free(x);
}

static void pool_every_path_matches_ref_and_portable(void **s) {
    /* C, H, W, K, S, P: 2x2 and 3x3 at stride 1 and 2, odd sizes, rows past 32 outputs */
    const int cases[][6] = {{3, 28, 28, 2, 2, 0}, {2, 7, 9, 3, 2, 1}, {4, 5, 5, 3, 1, 1}, {1, 6, 6, 4, 4, 2},
                            {2, 13, 11, 2, 2, 0}, {2, 70, 70, 2, 2, 0}, {3, 9, 40, 3, 1, 1}, {2, 8, 8, 2, 1, 0},
                            {2, 14, 14, 3, 2, 0}, {5, 12, 12, 3, 1, 0}};
    const nn_kernels *K[NN_ISA_COUNT];
    const int np = paths(K);
    nn_rng r;
    nn_rng_seed(&r, 8);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int *q = cases[c];
        nn_conv_geom g = geom(q[0], q[1], q[2], q[0], q[3], q[4], q[5]);
        int B = 6;
        size_t nx = (size_t)B * g.C * g.H * g.W, ny = (size_t)B * g.C * g.OH * g.OW;
        float *x = malloc(4 * nx), *yr = malloc(4 * ny), *dy = malloc(4 * ny);
        for (size_t i = 0; i < nx; i++) x[i] = nn_rng_uniform(&r) * 2 - 1;
        for (size_t i = 0; i < ny; i++) dy[i] = nn_rng_uniform(&r) * 2 - 1;
        float *y[NN_ISA_COUNT][2], *dx[NN_ISA_COUNT][2];
        int *am[NN_ISA_COUNT];
        for (int p = 0; p < np; p++) {
            for (int k = 0; k < 2; k++) { y[p][k] = malloc(4 * ny); dx[p][k] = malloc(4 * nx); }
            am[p] = malloc(sizeof(int) * ny);
            K[p]->avgpool_forward(y[p][0], x, B, &g, 2);
            K[p]->avgpool_backward(dx[p][0], dy, B, &g, 2);
            K[p]->maxpool_forward(y[p][1], am[p], x, B, &g, 2);
            K[p]->maxpool_backward(dx[p][1], dy, am[p], B, &g, 2);
            avgpool_forward_ref(yr, x, B, &g);
            if (fx_mismatches("avgpool vs ref", y[p][0], yr, ny, 1e-6f, 1e-6f)) fail_msg("case %zu on %s", c, nn_isa_name(K[p]->isa));
            maxpool_forward_ref(yr, x, B, &g);
            if (fx_mismatches("maxpool vs ref", y[p][1], yr, ny, 0, 0)) fail_msg("case %zu on %s", c, nn_isa_name(K[p]->isa));
            if (p > 0) {
                for (int k = 0; k < 2; k++) {
                    SAME_BITS(k ? "maxpool" : "avgpool", y[p][k], y[0][k], ny);
                    SAME_BITS(k ? "maxpool dx" : "avgpool dx", dx[p][k], dx[0][k], nx);
                }
                if (memcmp(am[p], am[0], sizeof(int) * ny)) fail_msg("maxpool argmax on %s", nn_isa_name(K[p]->isa));
            }
        }
        for (int p = 0; p < np; p++) {
            for (int k = 0; k < 2; k++) { free(y[p][k]); free(dx[p][k]); }
            free(am[p]);
        }
        free(x); free(yr); free(dy);
    }
}

/* Max pooling's ties, NaNs and edges, as PyTorch 1.13 has them (checked
 * with torch.nn.functional.max_pool2d(return_indices=True)): a value wins
 * when it is greater than the best so far or is NaN, in scan order, so the
 * first of equal maxima wins, any NaN beats every number and the last NaN
 * wins; -inf is a value and padding is none. The kernels (the 2x2 one in 16
 * lanes of masks on AVX-512, the general one in plain loops) are held to
 * that rule on planes 1 to 40 outputs wide, with odd sizes, on the values
 * that make branches and masks differ: ties of 0 (after ReLU), NaN, -inf. */
static void maxpool_ties_nans_and_edges(void **s) {
    const float pick[] = {0.f, 0.f, 0.f, 1.f, -1.f, 2.5f, NAN, -INFINITY, -0.f};
    const int kinds[][3] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 1, 0}};
    const nn_kernels *Kp[NN_ISA_COUNT];
    const int np = paths(Kp);
    nn_rng r;
    nn_rng_seed(&r, 21);
    for (int pth = 0; pth < np; pth++)
    for (int kd = 0; kd < 4; kd++)
        for (int W = 2; W <= 81; W += 3)
            for (int H = 2; H <= 5; H++) {
                const int K = kinds[kd][0], S = kinds[kd][1], P = kinds[kd][2];
                nn_conv_geom g = geom(2, H, W, 2, K, S, P);
                int B = 3;
                size_t nx = (size_t)B * g.C * H * W, ny = (size_t)B * g.C * g.OH * g.OW;
                float *x = malloc(4 * nx), *y = malloc(4 * ny);
                int *am = malloc(sizeof(int) * ny);
                for (size_t i = 0; i < nx; i++) x[i] = pick[nn_rng_below(&r, sizeof pick / sizeof pick[0])];
                Kp[pth]->maxpool_forward(y, am, x, B, &g, 1);
                for (int p = 0; p < B * g.C; p++)
                    for (int oh = 0; oh < g.OH; oh++)
                        for (int ow = 0; ow < g.OW; ow++) {
                            const float *xp = x + (size_t)p * H * W;
                            int best = -1;
                            for (int i = oh * S - P; i < oh * S - P + K; i++)
                                for (int j = ow * S - P; j < ow * S - P + K; j++) {
                                    if (i < 0 || i >= H || j < 0 || j >= W) continue;
                                    float v = xp[i * W + j];
                                    if (best < 0 || v > xp[best] || isnan(v)) best = i * W + j;
                                }
                            size_t o = (size_t)p * g.OH * g.OW + (size_t)oh * g.OW + ow;
                            if (am[o] != best || memcmp(&y[o], &xp[best], sizeof y[o]))
                                fail_msg("%s: %dx%d/%d pad %d on %dx%d, plane %d output (%d, %d): got %g at %d, want %g at %d",
                                         nn_isa_name(Kp[pth]->isa), K, K, S, P, H, W, p, oh, ow, y[o], am[o], xp[best], best);
                        }
                free(x); free(y); free(am);
            }
}

/* ---- finite differences: L = sum(y * r), central differences in float */

typedef void (*fwd_fn)(float *y, const float *x, const float *p, void *ctx);
typedef void (*bwd_fn)(float *dx, float *dp, const float *dy, const float *x, const float *p, void *ctx);

static double loss_of(fwd_fn f, float *y, const float *x, const float *p, const float *r, size_t ny, void *ctx) {
    f(y, x, p, ctx);
    double L = 0;
    for (size_t i = 0; i < ny; i++) L += (double)y[i] * r[i];
    return L;
}

/* Checks d L / d x and d L / d p of one op at every element. */
static void fd_check(const char *what, fwd_fn f, bwd_fn b, float *x, size_t nx, float *p, size_t np,
                     size_t ny, void *ctx, float h) {
    nn_rng rg;
    nn_rng_seed(&rg, 99);
    float *y = calloc(ny, 4), *r = malloc(4 * ny), *dx = calloc(nx, 4), *dp = calloc(np ? np : 1, 4);
    for (size_t i = 0; i < ny; i++) r[i] = nn_rng_uniform(&rg) * 2 - 1;
    f(y, x, p, ctx);
    b(dx, dp, r, x, p, ctx);
    size_t bad = 0;
    for (int which = 0; which < 2; which++) {
        float *v = which ? p : x, *an = which ? dp : dx;
        size_t n = which ? np : nx;
        for (size_t i = 0; i < n; i++) {
            float keep = v[i];
            v[i] = keep + h;
            double lp = loss_of(f, y, x, p, r, ny, ctx);
            v[i] = keep - h;
            double lm = loss_of(f, y, x, p, r, ny, ctx);
            v[i] = keep;
            double num = (lp - lm) / (2.0 * h);
            if (fabs(num - an[i]) > 2e-3 + 2e-2 * fabs(num)) {
                if (bad < 3) fprintf(stderr, "  %s d%s[%zu]: analytic %.6g, numeric %.6g\n", what,
                                     which ? "param" : "x", i, an[i], num);
                bad++;
            }
        }
    }
    free(y); free(r); free(dx); free(dp);
    assert_int_equal(bad, 0);
}

typedef struct { nn_conv_geom g; int B, kind, nout; float *scr; int *am; float *xhat, is[16], rm[16], rv[16]; } fd_ctx;

static void conv_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    conv2d_forward(y, x, p, p + (size_t)k->g.OC * k->g.C * k->g.K * k->g.K, k->B, &k->g, k->scr, 2);
}
static void conv_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    size_t nw = (size_t)k->g.OC * k->g.C * k->g.K * k->g.K;
    conv2d_backward(dx, dp, dp + nw, dy, x, p, k->B, &k->g, k->scr, 2);
}
static void dense_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    dense_forward(y, x, p, p + (size_t)k->nout * k->g.C, k->B, k->g.C, k->nout);
}
static void dense_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    dense_backward(dx, dp, dp + (size_t)k->nout * k->g.C, dy, x, p, k->B, k->g.C, k->nout);
}
static void pool_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    if (k->kind) maxpool_forward(y, k->am, x, k->B, &k->g, 2); else avgpool_forward(y, x, k->B, &k->g, 2);
}
static void pool_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    if (k->kind) maxpool_backward(dx, dy, k->am, k->B, &k->g, 2); else avgpool_backward(dx, dy, k->B, &k->g, 2);
}
static void act_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    size_t n = (size_t)k->B * k->g.C;
    if (k->kind == 0) sigmoid_forward(y, x, n, 2);
    if (k->kind == 1) relu_forward(y, x, n, 2);
    if (k->kind == 2) tanh_forward(y, x, n, 2);
    if (k->kind == 3) leaky_relu_forward(y, x, 0.1f, n, 2);
}
static void act_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    size_t n = (size_t)k->B * k->g.C;
    float *y = malloc(4 * n);
    act_f(y, x, p, c);
    if (k->kind == 0) sigmoid_backward(dx, dy, y, n, 2);
    if (k->kind == 1) relu_backward(dx, dy, y, n, 2);
    if (k->kind == 2) tanh_backward(dx, dy, y, n, 2);
    if (k->kind == 3) leaky_relu_backward(dx, dy, y, 0.1f, n, 2);
    free(y);
}
static void bn_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    batchnorm_forward_train(y, k->xhat, k->is, k->rm, k->rv, x, p, p + k->g.C, k->B, k->g.C,
                            k->g.H * k->g.W, 0.1f, 1e-5f, 2);
}
static void bn_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    float y[256]; /* refresh xhat and invstd for this x; y itself is not needed */
    bn_f(y, x, p, c);
    batchnorm_backward(dx, dp, dp + k->g.C, dy, k->xhat, k->is, p, k->B, k->g.C, k->g.H * k->g.W, 2);
}

static void gap_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    gap_forward(y, x, k->B, k->g.C, k->g.H * k->g.W);
}
static void gap_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    gap_backward(dx, dy, k->B, k->g.C, k->g.H * k->g.W);
}
/* dropout with a fixed mask (xhat holds it) */
static void dropout_f(float *y, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    dropout_forward(y, x, k->xhat, (size_t)k->B * k->g.C);
}
static void dropout_b(float *dx, float *dp, const float *dy, const float *x, const float *p, void *c) {
    fd_ctx *k = c;
    dropout_backward(dx, dy, k->xhat, (size_t)k->B * k->g.C);
}

static float *randv(nn_rng *r, size_t n, float scale) {
    float *v = malloc(4 * n);
    for (size_t i = 0; i < n; i++) v[i] = (nn_rng_uniform(r) * 2 - 1) * scale;
    return v;
}

static void conv2d_backward_matches_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 1);
    fd_ctx k = {.g = geom(2, 7, 6, 3, 3, 2, 1), .B = 2};
    size_t nx = 2 * 2 * 7 * 6, np = 3 * 2 * 9 + 3, ny = (size_t)2 * 3 * k.g.OH * k.g.OW;
    k.scr = calloc(conv2d_scratch_size(&k.g, 2), 4);
    float *x = randv(&r, nx, 1), *p = randv(&r, np, 0.5f);
    fd_check("conv2d", conv_f, conv_b, x, nx, p, np, ny, &k, 1e-2f);
    free(x); free(p); free(k.scr);
}

static void dense_backward_matches_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 2);
    fd_ctx k = {.g = {.C = 6}, .B = 3, .nout = 4};
    float *x = randv(&r, 18, 1), *p = randv(&r, 28, 0.5f);
    fd_check("dense", dense_f, dense_b, x, 18, p, 28, 12, &k, 1e-2f);
    free(x); free(p);
}

static void pool_backward_matches_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (int kind = 0; kind < 2; kind++) {
        fd_ctx k = {.g = geom(2, 7, 7, 2, 3, 2, 1), .B = 2, .kind = kind};
        size_t nx = 2 * 2 * 49, ny = (size_t)2 * 2 * k.g.OH * k.g.OW;
        k.am = calloc(ny, sizeof(int));
        float *x = randv(&r, nx, 1);
        fd_check(kind ? "maxpool" : "avgpool", pool_f, pool_b, x, nx, NULL, 0, ny, &k, 1e-3f);
        free(x); free(k.am);
    }
}

static void gap_backward_matches_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 7);
    fd_ctx k = {.g = {.C = 3, .H = 5, .W = 7}, .B = 2};
    float *x = randv(&r, 210, 1);
    fd_check("gap", gap_f, gap_b, x, 210, NULL, 0, 6, &k, 1e-2f);
    free(x);
}

/* the mask keeps a value with probability 1 - rate and scales it by
 * 1 / (1 - rate); evaluation (no mask) passes values through; the
 * gradient goes through the same mask */
static void dropout_masks_scales_and_backward(void **s) {
    enum { N = 20000 };
    nn_rng r;
    nn_rng_seed(&r, 8);
    float *mask = malloc(4 * N), *x = randv(&r, N, 1), *y = malloc(4 * N);
    dropout_mask(mask, 0.25f, N, &r);
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        if (mask[i] == 0.f) zeros++;
        else assert_true(mask[i] == 1.f / 0.75f);
    }
    assert_in_range(zeros, N / 4 - 300, N / 4 + 300);
    dropout_forward(y, x, NULL, N);
    assert_memory_equal(y, x, 4 * N);
    fd_ctx k = {.g = {.C = 10}, .B = 3, .xhat = mask};
    fd_check("dropout", dropout_f, dropout_b, x, 30, NULL, 0, 30, &k, 1e-2f);
    free(mask); free(x); free(y);
}

static void activations_backward_match_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 4);
    const char *names[] = {"sigmoid", "relu", "tanh", "leaky_relu"};
    for (int kind = 0; kind < 4; kind++) {
        fd_ctx k = {.g = {.C = 10}, .B = 3, .kind = kind};
        float *x = randv(&r, 30, 2);
        /* keep clear of the kink at 0, where the derivative has no value */
        for (int i = 0; i < 30; i++) if (fabsf(x[i]) < 0.05f) x[i] = 0.3f;
        fd_check(names[kind], act_f, act_b, x, 30, NULL, 0, 30, &k, 1e-2f);
        free(x);
    }
}

static void batchnorm_backward_matches_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 5);
    for (int spatial = 0; spatial < 2; spatial++) {
        fd_ctx k = {.g = {.C = 3, .H = spatial ? 3 : 1, .W = spatial ? 2 : 1}, .B = 4};
        size_t nx = (size_t)4 * 3 * k.g.H * k.g.W;
        k.xhat = calloc(nx, 4);
        float *x = randv(&r, nx, 2), *p = randv(&r, 6, 1);
        fd_check(spatial ? "batchnorm2d" : "batchnorm1d", bn_f, bn_b, x, nx, p, 6, nx, &k, 1e-2f);
        free(x); free(p); free(k.xhat);
    }
}

static void softmax_ce_backward_matches_fd(void **s) {
    nn_rng r;
    nn_rng_seed(&r, 6);
    float *z = randv(&r, 40, 3), probs[40], dz[40];
    int labels[4] = {3, 0, 9, 5};
    softmax_ce_forward(probs, z, labels, 4, 10);
    softmax_ce_backward(dz, probs, labels, 4, 10);
    size_t bad = 0;
    for (int i = 0; i < 40; i++) {
        float keep = z[i], h = 1e-2f;
        z[i] = keep + h;
        double lp = softmax_ce_forward(probs, z, labels, 4, 10);
        z[i] = keep - h;
        double lm = softmax_ce_forward(probs, z, labels, 4, 10);
        z[i] = keep;
        double num = (lp - lm) / (2 * h);
        bad += fabs(num - dz[i]) > 1e-3 + 2e-2 * fabs(num);
    }
    free(z);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_layer_kind_has_a_complete_row),
        cmocka_unit_test(conv2d_stride2_pad1_matches_pytorch),
        cmocka_unit_test(conv2d_kernel1_matches_pytorch),
        cmocka_unit_test(conv2d_pad2_matches_pytorch),
        cmocka_unit_test(dense_matches_pytorch),
        cmocka_unit_test(avgpool_matches_pytorch),
        cmocka_unit_test(avgpool_stride1_pad1_matches_pytorch),
        cmocka_unit_test(maxpool_matches_pytorch),
        cmocka_unit_test(maxpool_k3s2p1_matches_pytorch),
        cmocka_unit_test(activations_match_pytorch),
        cmocka_unit_test(batchnorm2d_matches_pytorch),
        cmocka_unit_test(batchnorm1d_matches_pytorch),
        cmocka_unit_test(gap_matches_pytorch),
        cmocka_unit_test(softmax_ce_matches_pytorch),
        cmocka_unit_test(softmax_ce_is_stable_for_large_logits),
        cmocka_unit_test(conv2d_every_path_matches_ref_and_portable),
        cmocka_unit_test(gemm_every_path_is_one_fma_chain),
        cmocka_unit_test(activations_every_path_same_bits_and_close_to_libm),
        cmocka_unit_test(pool_every_path_matches_ref_and_portable),
        cmocka_unit_test(maxpool_ties_nans_and_edges),
        cmocka_unit_test(conv2d_backward_matches_fd),
        cmocka_unit_test(dense_backward_matches_fd),
        cmocka_unit_test(pool_backward_matches_fd),
        cmocka_unit_test(activations_backward_match_fd),
        cmocka_unit_test(batchnorm_backward_matches_fd),
        cmocka_unit_test(softmax_ce_backward_matches_fd),
        cmocka_unit_test(gap_backward_matches_fd),
        cmocka_unit_test(dropout_masks_scales_and_backward),
    };
    return cmocka_run_group_tests_name("nn_layers", tests, setup, teardown);
}
