/* layers.c -- the layer table: for each kind in nn.h's NN_KINDS, one row
 * (layer_NAME) that declares its name, how configs write it (its family,
 * type and options), its shape inference and parameter count, its
 * defaults and initialization, and the forward and backward that call its
 * kernels (ops.h). net.c and shape.c only call the rows, and configs read
 * the families, so a layer is added here and in its op file, nowhere else.
 *
 * Each section below is one family: its config options, then the rows of
 * its kinds and the functions only they use. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "layer.h"
#include "par.h"

#define SPEC(field) offsetof(nn_layer_spec, field)
#define NOPTS(a) (int)(sizeof(a) / sizeof((a)[0]))
#define FAIL(...) return snprintf(why, n, __VA_ARGS__), -1

/* flops of a product layer (conv, dense): forward f; backward the weight
 * gradient f and, past the first layer, the input gradient f */
static double product_flops(double f, int pass) { return pass == 1 ? 2 * f : f; }

/* PyTorch's default for conv and dense: kaiming_uniform(a = sqrt(5))
 * reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the same bound PyTorch
 * uses for the bias; weight then bias, from r */
static void init_uniform(size_t np, size_t fan_in, float *w, nn_rng *r) {
    if (!r) return;
    float bound = 1.f / sqrtf((float)fan_in);
    for (size_t j = 0; j < np; j++) w[j] = (2.f * nn_rng_uniform(r) - 1.f) * bound;
}

/* a forward or backward that has nothing to do (a view, an identity) */
static void pass_nothing(const nn_layer *l, const nn_pass *p) { (void)l; (void)p; }

/* the input and output have the same shape and no parameters */
static int infer_same(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    *out = in;
    *np = 0;
    return 0;
}

/* ------------------------------------------------- conv and pooling windows */

/* output size of a sliding window along one axis, or 0 if it does not fit */
static int window_out(int in, int k, int s, int p) {
    if (in + 2 * p < k) return 0;
    return (in + 2 * p - k) / s + 1;
}

/* a window of kernel k, stride s (resolved), padding p over in: conv has
 * filters (out), pooling keeps the channels */
static int infer_window(const nn_layer_spec *L, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    char sb[64];
    const int conv = L->kind == NN_CONV2D, k = L->kernel, s = L->stride, p = L->padding;
    if (in.rank != 3) FAIL("needs a CxHxW input, got %s (a %s after flatten or dense?)",
                           nn_shape_str(in, sb, sizeof sb), nn_kind_name(L->kind));
    if (conv && L->out < 1) FAIL("filters must be at least 1, got %d", L->out);
    if (k < 1) FAIL("%s must be at least 1, got %d", conv ? "kernel" : "size", k);
    if (s < 1) FAIL("stride must be at least 1, got %d", s);
    if (p < 0) FAIL("padding must be 0 or more, got %d", p);
    if (!conv && p > k / 2) FAIL("padding %d is more than half the window %d", p, k);
    int oh = window_out(in.h, k, s, p), ow = window_out(in.w, k, s, p);
    if (!oh || !ow)
        FAIL("%s %d is larger than its input %s with padding %d", conv ? "kernel" : "window", k,
             nn_shape_str(in, sb, sizeof sb), p);
    *out = nn_shape3(conv ? L->out : in.c, oh, ow);
    *np = conv ? (size_t)L->out * in.c * k * k + L->out : 0;
    return 0;
}

/* ---------------------------------------------------------------- conv */

static const nn_layer_opt conv_opts[] = {
    {"filters", 0, SPEC(out), 1, 65536, NN_OPT_HI, 1, 0},
    {"kernel", 0, SPEC(kernel), 1, 1024, NN_OPT_HI, 1, 0},
    {"stride", 0, SPEC(stride), 1, 1024, NN_OPT_HI, 0, 0},
    {"padding", 0, SPEC(padding), 0, 1024, NN_OPT_HI, 0, 0},
};
static const nn_layer_family conv_family = {
    "conv", NULL, NULL, "conv: {filters: 6, kernel: 5}", NN_CONV(0, 0, 0, 0), conv_opts, NOPTS(conv_opts)};

static void conv_resolve(nn_layer_spec *s) {
    if (!s->stride) s->stride = 1;
}

static void conv_init(const nn_layer *l, float *w, float *buf, nn_rng *r) {
    init_uniform(l->np, (size_t)l->in.c * l->g.K * l->g.K, w, r);
}

static size_t conv_scratch(const nn_kernels *K, const nn_layer *l) { return K->conv2d_scratch_size(&l->g, 1); }

/* weights (OC, C, K, K), then the bias (OC) */
static void conv_forward(const nn_layer *l, const nn_pass *p) {
    p->K->conv2d_forward(p->y, p->x, p->w, p->w + (l->np - l->g.OC), p->n, &l->g, p->scratch, p->nthreads);
}

static void conv_backward(const nn_layer *l, const nn_pass *p) {
    p->K->conv2d_backward(p->dx, p->dw, p->dw + (l->np - l->g.OC), p->dy, p->x, p->w, p->n, &l->g, p->scratch,
                          p->nthreads);
}

static double conv_flops(const nn_layer *l, int pass) {
    return product_flops(2.0 * l->g.OC * l->g.OH * l->g.OW * l->g.C * l->g.K * l->g.K, pass);
}

static const nn_layer_def layer_conv2d = {
    .name = "conv2d", .family = &conv_family, .flags = NN_L_HOST,
    .resolve = conv_resolve, .infer = infer_window, .init = conv_init, .scratch = conv_scratch,
    .forward = conv_forward, .backward = conv_backward, .flops = conv_flops,
};

/* ------------------------------------------------------------- pooling */

static const nn_layer_opt pool_opts[] = {
    {"size", 0, SPEC(kernel), 1, 1024, NN_OPT_HI, 0, 0},
    {"stride", 0, SPEC(stride), 1, 1024, NN_OPT_HI, 0, 0},
    {"padding", 0, SPEC(padding), 0, 1024, NN_OPT_HI, 0, 0},
};
static const nn_layer_family pool_family = {
    "pool", "pool type", NULL, "pool: {type: max, size: 2}", NN_POOL(NN_AVGPOOL, 2, 0), pool_opts,
    NOPTS(pool_opts)};

static void pool_resolve(nn_layer_spec *s) {
    if (!s->stride) s->stride = s->kernel;
}

static void avgpool_fwd(const nn_layer *l, const nn_pass *p) {
    p->K->avgpool_forward(p->y, p->x, p->n, &l->g, p->nthreads);
}

static void avgpool_bwd(const nn_layer *l, const nn_pass *p) {
    if (p->dx) p->K->avgpool_backward(p->dx, p->dy, p->n, &l->g, p->nthreads);
}

static const nn_layer_def layer_avgpool = {
    .name = "avgpool", .family = &pool_family, .type = "avg", .flags = NN_L_HOST,
    .resolve = pool_resolve, .infer = infer_window, .forward = avgpool_fwd, .backward = avgpool_bwd,
};

static void maxpool_fwd(const nn_layer *l, const nn_pass *p) {
    p->K->maxpool_forward(p->y, l->argmax + (size_t)p->n0 * l->outsz, p->x, p->n, &l->g, p->nthreads);
}

static void maxpool_bwd(const nn_layer *l, const nn_pass *p) {
    if (p->dx) p->K->maxpool_backward(p->dx, p->dy, l->argmax + (size_t)p->n0 * l->outsz, p->n, &l->g, p->nthreads);
}

static const nn_layer_def layer_maxpool = {
    .name = "maxpool", .family = &pool_family, .type = "max", .flags = NN_L_HOST | NN_L_ARGMAX,
    .resolve = pool_resolve, .infer = infer_window, .forward = maxpool_fwd, .backward = maxpool_bwd,
};

/* ---------------------------------------------------------- activations */
/* Element-wise, in place on their input when it allows; backward reads
 * only the output (ops.h). */

static const nn_layer_opt act_opts[] = {
    {"slope", 1, SPEC(slope), 0, 0, NN_OPT_LO_OPEN, 0, 1u << NN_LEAKY_RELU},  /* 0 would be the default */
};
static const nn_layer_family act_family = {
    "act", "activation", "type", "act: relu", NN_ACT(NN_SIGMOID), act_opts, NOPTS(act_opts)};

/* the rows of one activation: NAME_forward and NAME_backward in ops.h's
 * signature (nn_kernels) */
#define ACT_ROW(nm, type_)                                                                         \
    static void nm##_fwd(const nn_layer *l, const nn_pass *p) {                                     \
        p->K->nm##_forward(p->y, p->x, (size_t)p->n * l->outsz, p->nthreads);                        \
    }                                                                                              \
    static void nm##_bwd(const nn_layer *l, const nn_pass *p) {                                     \
        if (p->dx) p->K->nm##_backward(p->dx, p->dy, p->y, (size_t)p->n * l->outsz, p->nthreads);    \
    }                                                                                              \
    static const nn_layer_def layer_##nm = {                                                       \
        .name = #nm, .family = &act_family, .type = type_, .flags = NN_L_INPLACE,                  \
        .infer = infer_same, .forward = nm##_fwd, .backward = nm##_bwd,                            \
    };
ACT_ROW(sigmoid, "sigmoid")
ACT_ROW(relu, "relu")
ACT_ROW(tanh, "tanh")
#undef ACT_ROW

static void leaky_resolve(nn_layer_spec *s) {
    if (s->slope == 0.f) s->slope = 0.01f;
}

static int leaky_infer(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    if (s->slope < 0) FAIL("slope must be 0 or more, got %g", (double)s->slope);
    return infer_same(s, in, out, np, why, n);
}

static void leaky_fwd(const nn_layer *l, const nn_pass *p) {
    p->K->leaky_relu_forward(p->y, p->x, l->spec.slope, (size_t)p->n * l->outsz, p->nthreads);
}

static void leaky_bwd(const nn_layer *l, const nn_pass *p) {
    if (p->dx) p->K->leaky_relu_backward(p->dx, p->dy, p->y, l->spec.slope, (size_t)p->n * l->outsz, p->nthreads);
}

static const nn_layer_def layer_leaky_relu = {
    .name = "leaky_relu", .family = &act_family, .type = "leaky_relu", .flags = NN_L_INPLACE,
    .resolve = leaky_resolve, .infer = leaky_infer, .forward = leaky_fwd, .backward = leaky_bwd,
};

/* --------------------------------------------------------------- dense */

static const nn_layer_opt dense_opts[] = {
    {"units", 0, SPEC(out), 1, 1 << 20, NN_OPT_HI, 1, 0},
};
static const nn_layer_family dense_family = {
    "dense", NULL, "units", "dense: 120", NN_DENSE(0), dense_opts, NOPTS(dense_opts)};

static int dense_infer(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    char sb[64];
    if (in.rank != 1) FAIL("needs a flat input, got %s: add a flatten layer before it", nn_shape_str(in, sb, sizeof sb));
    if (s->out < 1) FAIL("units must be at least 1, got %d", s->out);
    *out = nn_shape1(s->out);
    *np = (size_t)s->out * in.c + s->out;
    return 0;
}

static void dense_init(const nn_layer *l, float *w, float *buf, nn_rng *r) { init_uniform(l->np, (size_t)l->in.c, w, r); }

/* the weights transposed once per batch for the slices' forwards, the
 * output units over the threads */
static void dense_pack_(const nn_layer *l, const float *w, float *wpack, int t, int nt) {
    int o0, o1;
    nn_split(l->spec.out, t, nt, &o0, &o1);
    dense_pack(wpack, w, l->in.c, l->spec.out, o0, o1);
}

/* weights (out, in), then the bias (out) */
static void dense_fwd(const nn_layer *l, const nn_pass *p) {
    p->K->dense_forward_packed(p->y, p->x, p->wpack, p->w + (size_t)l->spec.out * l->in.c, p->n, l->in.c, l->spec.out);
}

static void dense_bwd(const nn_layer *l, const nn_pass *p) {
    p->K->dense_backward(p->dx, p->dw, p->dw + (size_t)l->spec.out * l->in.c, p->dy, p->x, p->w, p->n, l->in.c,
                         l->spec.out);
}

static double dense_flops(const nn_layer *l, int pass) { return product_flops(2.0 * l->in.c * l->spec.out, pass); }

static const nn_layer_def layer_dense = {
    .name = "dense", .family = &dense_family, .flags = NN_L_HOST,
    .infer = dense_infer, .init = dense_init, .pack = dense_pack_,
    .forward = dense_fwd, .backward = dense_bwd, .flops = dense_flops,
};

/* ------------------------------------------------------------- flatten */

static const nn_layer_family flatten_family = {"flatten", NULL, NULL, "flatten", NN_FLATTEN_(), NULL, 0};

static int flatten_infer(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    *out = nn_shape1((int)nn_shape_size(in));
    *np = 0;
    return 0;
}

/* a view: its output is its input's buffer, so its passes do nothing */
static const nn_layer_def layer_flatten = {
    .name = "flatten", .family = &flatten_family, .flags = NN_L_VIEW,
    .infer = flatten_infer, .forward = pass_nothing, .backward = pass_nothing,
};

/* ----------------------------------------------------------- batch norm */

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

static const nn_layer_family bn_family = {"batchnorm", NULL, NULL, "batchnorm", NN_BN(), NULL, 0};

static int bn_infer(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    *out = in;
    *np = 2 * (size_t)in.c;
    return 0;
}

/* gamma 1, beta 0 (C each); running mean 0, running variance 1 (C each) */
static void bn_init(const nn_layer *l, float *w, float *buf, nn_rng *r) {
    const int C = l->in.c;
    for (int c = 0; c < C; c++) {
        w[c] = 1.f;
        w[C + c] = 0.f;
        buf[c] = 0.f;
        buf[C + c] = 1.f;
    }
}

/* statistics over the whole batch, channels over the threads */
static void bn_fwd(const nn_layer *l, const nn_pass *p) {
    const int C = l->in.c, HW = l->in.h * l->in.w;
    float *rm = p->buf, *rv = rm + C;
    if (p->train)
        p->K->batchnorm_forward_train(p->y, l->saved, l->chan, rm, rv, p->x, p->w, p->w + C, p->n, C, HW, BN_MOMENTUM,
                                      BN_EPS, p->nthreads);
    else
        p->K->batchnorm_forward_eval(p->y, p->x, p->w, p->w + C, rm, rv, p->n, C, HW, BN_EPS, p->nthreads);
}

static void bn_bwd(const nn_layer *l, const nn_pass *p) {
    const int C = l->in.c, HW = l->in.h * l->in.w;
    p->K->batchnorm_backward(p->dx, p->dw, p->dw + C, p->dy, l->saved, l->chan, p->w, p->n, C, HW, p->nthreads);
}

static const nn_layer_def layer_batchnorm = {
    .name = "batchnorm", .family = &bn_family, .flags = NN_L_HOST | NN_L_BATCH | NN_L_SAVES | NN_L_STATS,
    .infer = bn_infer, .init = bn_init, .forward = bn_fwd, .backward = bn_bwd,
};

/* ------------------------------------------------------------- dropout */

static const nn_layer_opt dropout_opts[] = {
    {"p", 1, SPEC(rate), 0, 1, NN_OPT_HI | NN_OPT_HI_OPEN, 0, 0},
};
static const nn_layer_family dropout_family = {
    "dropout", NULL, "p", "dropout: 0.5", NN_DROP(0.5f), dropout_opts, NOPTS(dropout_opts)};

static int dropout_infer(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    if (!(s->rate >= 0 && s->rate < 1)) FAIL("probability must be in [0, 1), got %g", (double)s->rate);
    return infer_same(s, in, out, np, why, n);
}

static void dropout_prepare(nn_layer *l, int B, nn_rng *r) { dropout_mask(l->saved, l->spec.rate, (size_t)B * l->outsz, r); }

static void dropout_fwd(const nn_layer *l, const nn_pass *p) {
    dropout_forward(p->y, p->x, p->train ? l->saved + (size_t)p->n0 * l->outsz : NULL, (size_t)p->n * l->outsz);
}

static void dropout_bwd(const nn_layer *l, const nn_pass *p) {
    if (p->dx) dropout_backward(p->dx, p->dy, l->saved + (size_t)p->n0 * l->outsz, (size_t)p->n * l->outsz);
}

static const nn_layer_def layer_dropout = {
    .name = "dropout", .family = &dropout_family, .flags = NN_L_INPLACE | NN_L_SAVES,
    .infer = dropout_infer, .prepare = dropout_prepare, .forward = dropout_fwd, .backward = dropout_bwd,
};

/* ------------------------------------------------ global average pooling */

static const nn_layer_family gap_family = {"gap", NULL, NULL, "gap", {.kind = NN_GAP}, NULL, 0};

/* (C, H, W) -> (C, 1, 1), as PyTorch's AdaptiveAvgPool2d(1) */
static int gap_infer(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n) {
    char sb[64];
    if (in.rank != 3) FAIL("needs a CxHxW input, got %s (a gap after flatten or dense?)", nn_shape_str(in, sb, sizeof sb));
    *out = nn_shape3(in.c, 1, 1);
    *np = 0;
    return 0;
}

static void gap_fwd(const nn_layer *l, const nn_pass *p) { gap_forward(p->y, p->x, p->n, l->in.c, l->in.h * l->in.w); }

static void gap_bwd(const nn_layer *l, const nn_pass *p) {
    if (p->dx) gap_backward(p->dx, p->dy, p->n, l->in.c, l->in.h * l->in.w);
}

/* one add per input value */
static double gap_flops(const nn_layer *l, int pass) { return (double)nn_shape_size(l->in); }

static const nn_layer_def layer_gap = {
    .name = "gap", .family = &gap_family, .flags = NN_L_HOST,
    .infer = gap_infer, .forward = gap_fwd, .backward = gap_bwd, .flops = gap_flops,
};

/* ----------------------------------------------------------- the table */

#define ROW_(kind, value, name) [kind] = &layer_##name,
static const nn_layer_def *const rows[NN_KIND_COUNT] = {NN_KINDS(ROW_)};
#undef ROW_
/* every kind in the list once, numbered below NN_KIND_COUNT (an index past
 * the array does not compile, nor a number given twice: see kinds_distinct) */
#define ONE_(kind, value, name) +1
_Static_assert(0 NN_KINDS(ONE_) == NN_KIND_COUNT, "NN_KIND_COUNT is the number of kinds in NN_KINDS");
#undef ONE_
#define CASE_(kind, value, name) case kind:
static inline void kinds_distinct(nn_kind k) { switch (k) { NN_KINDS(CASE_) default: break; } }
#undef CASE_
_Static_assert(NN_KIND_COUNT <= 32, "nn_layer_opt.kinds holds a bit per kind");

/* the kinds in the table's order */
#define LIST_(kind, value, name) kind,
static const nn_kind in_order[] = {NN_KINDS(LIST_)};
#undef LIST_

const nn_layer_def *nn_layer_def_of(nn_kind k, char *why, size_t n) {
    (void)kinds_distinct;
    if (k < 0 || k >= NN_KIND_COUNT) {
        snprintf(why, n, "unknown layer kind %d", (int)k);
        return NULL;
    }
    const nn_layer_def *d = rows[k];
    if (!d->name || !d->family || !d->infer || !d->forward || !d->backward) {
        snprintf(why, n, "layer kind %d: its row in nn/layers.c lacks a name, family, infer, forward or backward",
                 (int)k);
        return NULL;
    }
    return d;
}

const char *nn_kind_name(nn_kind k) {
    return (k >= 0 && k < NN_KIND_COUNT && rows[k]->name) ? rows[k]->name : "?";
}

const nn_layer_family *nn_kind_family(nn_kind k) { return k >= 0 && k < NN_KIND_COUNT ? rows[k]->family : NULL; }
const char *nn_kind_type(nn_kind k) { return k >= 0 && k < NN_KIND_COUNT ? rows[k]->type : NULL; }

int nn_opt_applies(const nn_layer_opt *o, nn_kind k) { return !o->kinds || (o->kinds >> k & 1u); }

int nn_layer_families(const nn_layer_family **out, int max) {
    int m = 0;
    for (int i = 0; i < NN_KIND_COUNT; i++) {
        const nn_layer_family *f = rows[in_order[i]]->family;
        int seen = 0;
        for (int j = 0; j < m && !seen; j++) seen = out[j] == f;
        if (!seen && m < max) out[m++] = f;
    }
    return m;
}

int nn_family_kinds(const nn_layer_family *f, nn_kind *out) {
    int m = 0;
    for (int i = 0; i < NN_KIND_COUNT; i++)
        if (rows[in_order[i]]->family == f) out[m++] = in_order[i];
    return m;
}

nn_layer_spec nn_layer_resolve(nn_layer_spec s) {
    const nn_layer_def *d = s.kind >= 0 && s.kind < NN_KIND_COUNT ? rows[s.kind] : NULL;
    if (!d) return s;
    for (int i = 0; d->family && i < d->family->nopts; i++) {
        const nn_layer_opt *o = &d->family->opts[i];
        if (nn_opt_applies(o, s.kind)) continue;
        if (o->is_float) *(float *)((char *)&s + o->off) = 0.f;
        else *(int *)((char *)&s + o->off) = 0;
    }
    if (d->resolve) d->resolve(&s);
    return s;
}
