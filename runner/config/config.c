/* config.c -- one run's configuration: YAML text in, a validated nnl_config
 * out, and the config printed back canonically for the run key.
 *
 *   text --check_text (size, NUL, UTF-8)--> parse_yaml (libyaml's event API:
 *   our own small node tree with marks, so the nesting depth is ours to cap)
 *   --check_dups--> graft_flat_keys, then each --set override, onto the
 *   tree --read_config (unknown keys, types, ranges, what applies to what)
 *   --> check_layers (nn_infer on the resolved layers) --> *c
 *
 * A dotted key is a path into the tree wherever it appears: in --set
 * (model.layers.2.pool.type=max), or flat at the top of a file
 * ("train.lr: 0.01"). The canonical text is such a flat file, so every one
 * of its lines is also a valid --set, and a stored run's canonical text
 * loads back to the same run.
 *
 * Every error is one line, "FILE:LINE:COL: message", or "FILE: message"
 * where no position exists, or "--set KEY=VALUE: message" for a value an
 * override wrote. Every path frees the tree; *c changes only on success.
 *
 * The keys live in one table (`keys`, below): section, name, type, field,
 * range and the rules that tie keys together. Reading, validation, the
 * canonical text and the run key all follow from it, so adding a key is
 * adding a row, and adding a section (train.early_stop) is adding a row to
 * `sections` too.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "config.h"
#include "names.h"
#include "yamltree.h"

#define MAX_BYTES YT_MAX_BYTES     /* largest config file or --set value */
#define MAX_PATH_PARTS 16         /* components of a --set key */
#define LABEL_MAX 160             /* "--set key=value" as messages show it */
#define MAX_INPUT_VALUES (1 << 28) /* c*h*w, as nn_infer's largest activation */
#define MAX_PARAMS (1 << 30)      /* 4 GiB of weights: beyond it, a typo, not a model */
#define DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

/* enum fields (nn_kind, nn_optim_kind, nn_sched_kind) are written as int */
_Static_assert(sizeof(nn_kind) == sizeof(int), "nn_kind is int-sized");
_Static_assert(sizeof(nn_optim_kind) == sizeof(int), "nn_optim_kind is int-sized");
_Static_assert(sizeof(nn_sched_kind) == sizeof(int), "nn_sched_kind is int-sized");

/* the config reader's context: where errors go, and where each layer was */
typedef struct {
    yt_ctx y;
    const node *layer_at[NN_MAX_LAYERS];     /* each layer's list item */
} ctx;

/* ---------------------------------------------------------------- the keys */

typedef enum {
    V_STR,     /* char[size] */
    V_INT,     /* int */
    V_U64,     /* uint64_t, 0 .. 2^64-1 */
    V_FLOAT,   /* float */
    V_DOUBLE,  /* double */
    V_BOOL,    /* int, 0 or 1 */
    V_ENUM,    /* int-sized enum, names in en */
    V_KIND,    /* nn_kind of one layer family (family), named by their types */
    V_INTS,    /* int[count], a flow list */
    V_FLOATS,  /* float[count], a flow list */
    V_LAYERS,  /* model.layers */
} vtype;

/* range flags: which bounds apply, and whether they are open */
enum { R_LO = 1, R_HI = 2, R_LO_OPEN = 4, R_HI_OPEN = 8 };
#define RANGE(a, b) .range = R_LO | R_HI, .lo = (a), .hi = (b)          /* [a, b] */
#define RANGE_CO(a, b) .range = R_LO | R_HI | R_HI_OPEN, .lo = (a), .hi = (b) /* [a, b) */
#define RANGE_OC(a, b) .range = R_LO | R_HI | R_LO_OPEN, .lo = (a), .hi = (b) /* (a, b] */
#define RANGE_OO(a, b) .range = R_LO | R_HI | R_LO_OPEN | R_HI_OPEN, .lo = (a), .hi = (b)
#define ABOVE(a) .range = R_LO | R_LO_OPEN, .lo = (a)                        /* > a */
#define ATLEAST(a) .range = R_LO, .lo = (a)                                  /* >= a */

typedef struct {
    const char *what;   /* "activation": "unknown activation 'x'" */
    int n;
    const char *names[NN_KIND_COUNT];
    int vals[NN_KIND_COUNT];
} enum_def;

static const enum_def optim_enum = {"optimizer", 3, {"sgd", "adam", "adamw"},
                                    {NN_SGD, NN_ADAM, NN_ADAMW}};
static const enum_def sched_enum = {"schedule", 3, {"constant", "step", "cosine"},
                                    {NN_SCHED_CONSTANT, NN_SCHED_STEP, NN_SCHED_COSINE}};

static const char *enum_name(const enum_def *e, int v) {
    for (int i = 0; i < e->n; i++)
        if (e->vals[i] == v) return e->names[i];
    return "?";
}

/* A rule: NULL if the config is fine, else why not (into buf). */
typedef const char *(*rule_fn)(const nnl_config *c, char *buf, size_t n);

typedef struct {
    const char *section;  /* "train", "train.schedule"; "" at the top level */
    const char *name;
    vtype type;
    size_t off, size;     /* the field in nnl_config (layer options: nn_layer_spec) */
    unsigned range;
    double lo, hi;
    const enum_def *en;   /* V_ENUM */
    const char *family;   /* V_KIND: the layer family's key ("act") */
    int count;            /* V_INTS, V_FLOATS */
    const char *form;     /* V_INTS, V_FLOATS: "[c, h, w]"; V_STR: "a path" */
    int required;
    const char *hint;     /* required: what to write */
    void (*on_set)(void *base);  /* after the value is read (optimizer: its defaults) */
    rule_fn applies;      /* when given: is the key used at all in this config? */
    rule_fn check;        /* after everything is read: ties to other keys */
} key_row;

static void optim_reset(void *base) {
    nnl_config *c = base;
    float lr = c->optim.lr;
    c->optim = nn_optim_defaults(c->optim.kind); /* PyTorch's; AdamW: weight_decay 0.01 */
    c->optim.lr = lr;                            /* ours is 0.001 for every optimizer */
}

static const char *sgd_only(const nnl_config *c, char *buf, size_t n) {
    if (c->optim.kind == NN_SGD) return NULL;
    snprintf(buf, n, "is only used by optimizer sgd (the optimizer is %s)",
             enum_name(&optim_enum, (int)c->optim.kind));
    return buf;
}

static const char *adam_only(const nnl_config *c, char *buf, size_t n) {
    if (c->optim.kind != NN_SGD) return NULL;
    snprintf(buf, n, "is only used by optimizers adam and adamw (the optimizer is sgd)");
    return buf;
}

static const char *step_only(const nnl_config *c, char *buf, size_t n) {
    if (c->sched.kind == NN_SCHED_STEP) return NULL;
    snprintf(buf, n, "is only used by schedule step (the schedule is %s)",
             enum_name(&sched_enum, (int)c->sched.kind));
    return buf;
}

static const char *cosine_only(const nnl_config *c, char *buf, size_t n) {
    if (c->sched.kind == NN_SCHED_COSINE) return NULL;
    snprintf(buf, n, "is only used by schedule cosine (the schedule is %s)",
             enum_name(&sched_enum, (int)c->sched.kind));
    return buf;
}

static const char *nesterov_rule(const nnl_config *c, char *buf, size_t n) {
    if (!c->optim.nesterov || (c->optim.momentum > 0 && c->optim.dampening == 0)) return NULL;
    snprintf(buf, n, "needs momentum > 0 and dampening 0, as PyTorch's SGD (momentum is %g, "
             "dampening %g)", (double)c->optim.momentum, (double)c->optim.dampening);
    return buf;
}

static const char *warmup_rule(const nnl_config *c, char *buf, size_t n) {
    if (c->sched.warmup < c->epochs) return NULL;
    snprintf(buf, n, "must be less than train.epochs (%d), got %d", c->epochs, c->sched.warmup);
    return buf;
}

static const char *input_rule(const nnl_config *c, char *buf, size_t n) {
    double v = (double)c->input[0] * c->input[1] * c->input[2];
    if (v <= MAX_INPUT_VALUES) return NULL;
    snprintf(buf, n, "%dx%dx%d is too large (at most %d values)", c->input[0], c->input[1],
             c->input[2], MAX_INPUT_VALUES);
    return buf;
}

#define ROW(sec, nm, ty) .section = (sec), .name = (nm), .type = (ty)
#define C(f) .off = offsetof(nnl_config, f), .size = sizeof(((nnl_config *)0)->f)

/* Sections in the order they are read: a parent before its children, and
 * train before train.schedule (warmup is checked against epochs).
 * shorthand: the key a scalar stands for ("schedule: cosine"). */
typedef struct { const char *path, *shorthand; } section_def;
static const section_def sections[] = {
    {"", NULL}, {"model", NULL}, {"train", NULL}, {"train.schedule", "type"},
    {"train.early_stop", NULL}, {"data", NULL}, {"data.augment", NULL},
};
#define NSECTIONS (int)(sizeof sections / sizeof sections[0])

/* Rows in the order they are read: model.activation and model.pool before
 * model.layers, train.optimizer before the keys whose defaults it sets. */
static const key_row keys[] = {
    {ROW("", "name", V_STR), C(name)},
    {ROW("model", "input", V_INTS), C(input), RANGE(1, 65536), .count = 3, .form = "[c, h, w]",
     .check = input_rule},
    /* the kind of every act and pool layer that names none (read_layer) */
    {ROW("model", "activation", V_KIND), C(activation), .family = "act"},
    {ROW("model", "pool", V_KIND), C(pool), .family = "pool"},
    {ROW("model", "layers", V_LAYERS), .required = 1,
     .hint = "a config must list the network's layers (see configs/lenet5.yaml)"},
    {ROW("train", "optimizer", V_ENUM), C(optim.kind), .en = &optim_enum, .on_set = optim_reset},
    {ROW("train", "lr", V_FLOAT), C(optim.lr), ABOVE(0)},
    {ROW("train", "momentum", V_FLOAT), C(optim.momentum), RANGE_CO(0, 1),
     .applies = sgd_only},
    {ROW("train", "dampening", V_FLOAT), C(optim.dampening), RANGE_CO(0, 1),
     .applies = sgd_only},
    {ROW("train", "nesterov", V_BOOL), C(optim.nesterov), .applies = sgd_only,
     .check = nesterov_rule},
    {ROW("train", "weight_decay", V_FLOAT), C(optim.weight_decay), ATLEAST(0)},
    {ROW("train", "betas", V_FLOATS), C(optim.beta1), RANGE_CO(0, 1), .count = 2,
     .form = "[beta1, beta2]", .applies = adam_only},
    {ROW("train", "eps", V_FLOAT), C(optim.eps), ABOVE(0), .applies = adam_only},
    {ROW("train", "batch_size", V_INT), C(batch_size), RANGE(1, 65536)},
    {ROW("train", "epochs", V_INT), C(epochs), RANGE(1, 100000)},
    {ROW("train", "seed", V_U64), C(seed)},
    {ROW("train", "threads", V_INT), C(threads), RANGE(0, 256)},
    {ROW("train.schedule", "type", V_ENUM), C(sched.kind), .en = &sched_enum},
    {ROW("train.schedule", "step_size", V_INT), C(sched.step_size), RANGE(1, 100000),
     .applies = step_only},
    {ROW("train.schedule", "gamma", V_FLOAT), C(sched.gamma), RANGE_OC(0, 1),
     .applies = step_only},
    {ROW("train.schedule", "t_max", V_INT), C(sched.t_max), RANGE(0, 1000000),
     .applies = cosine_only},
    {ROW("train.schedule", "eta_min", V_FLOAT), C(sched.eta_min), ATLEAST(0),
     .applies = cosine_only},
    {ROW("train.schedule", "warmup", V_INT), C(sched.warmup), RANGE(0, 100000),
     .check = warmup_rule},
    {ROW("train.early_stop", "patience", V_INT), C(early_stop.patience), RANGE(0, 100000)},
    {ROW("train.early_stop", "min_delta", V_DOUBLE), C(early_stop.min_delta), ATLEAST(0)},
    {ROW("data", "dir", V_STR), C(data_dir), .form = "a path"},
    {ROW("data", "val_split", V_DOUBLE), C(val_split), RANGE_OO(0, 1)},
    {ROW("data", "train_limit", V_INT), C(train_limit), RANGE(0, INT_MAX)},
    {ROW("data", "test_limit", V_INT), C(test_limit), RANGE(0, INT_MAX)},
    {ROW("data.augment", "flip", V_DOUBLE), C(augment.flip), RANGE(0, 1)},
    {ROW("data.augment", "crop", V_INT), C(augment.crop), RANGE(0, 64)},
    {ROW("data.augment", "erase", V_DOUBLE), C(augment.erase), RANGE(0, 1)},
    {ROW("data.augment", "erase_max", V_DOUBLE), C(augment.erase_max), RANGE_OC(0.02, 1)},
};
#define NKEYS (int)(sizeof keys / sizeof keys[0])

/* Layers come from nn's layer table (nn.h): each family is one word of a
 * config (conv, pool, act...) with options that are fields of nn_layer_spec;
 * a family of several kinds (pool: avg, max) also takes a type. */

#define MAX_LAYER_OPTS 16

static const nn_layer_family *family_named(const char *key) {
    const nn_layer_family *f[NN_KIND_COUNT];
    int n = nn_layer_families(f, NN_KIND_COUNT);
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i]->key, key)) return f[i];
    return NULL;
}

/* the kinds of family f as an enum of their types */
static void family_enum(const nn_layer_family *f, enum_def *e) {
    nn_kind k[NN_KIND_COUNT];
    e->what = f->types;
    e->n = nn_family_kinds(f, k);
    for (int i = 0; i < e->n; i++) {
        e->names[i] = nn_kind_type(k[i]);
        e->vals[i] = (int)k[i];
    }
}

/* The keys of a layer of family f, as rows into its nn_layer_spec: the
 * type first (when the family has several kinds), then its options. */
static int family_rows(const nn_layer_family *f, key_row *rows) {
    int n = 0;
    if (f->types)
        rows[n++] = (key_row){ROW("", "type", V_KIND), .off = offsetof(nn_layer_spec, kind),
                              .size = sizeof(nn_kind), .family = f->key};
    for (int i = 0; i < f->nopts && n < MAX_LAYER_OPTS; i++) {
        const nn_layer_opt *o = &f->opts[i];
        unsigned b = o->bounds;
        rows[n++] = (key_row){ROW("", o->name, o->is_float ? V_FLOAT : V_INT), .off = o->off,
                              .size = o->is_float ? sizeof(float) : sizeof(int), .lo = o->lo, .hi = o->hi,
                              .range = R_LO | (b & NN_OPT_HI ? R_HI : 0) | (b & NN_OPT_LO_OPEN ? R_LO_OPEN : 0) |
                                       (b & NN_OPT_HI_OPEN ? R_HI_OPEN : 0),
                              .required = o->required};
    }
    return n;
}

/* the model key (model.activation) whose kind a layer of family f takes
 * when it names no type, or NULL */
static const key_row *family_default(const nn_layer_family *f) {
    for (int i = 0; i < NKEYS; i++)
        if (keys[i].type == V_KIND && !strcmp(keys[i].family, f->key)) return &keys[i];
    return NULL;
}

static const section_def *section_named(const char *path) {
    for (int i = 0; i < NSECTIONS; i++)
        if (!strcmp(sections[i].path, path)) return &sections[i];
    return NULL;
}

/* ------------------------------------------------------------ reading values */

/* Shortest text that reads back as the same double (or float). */
static void fmt_double(double v, char *buf, size_t n) {
    for (int p = 6; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void fmt_float(float v, char *buf, size_t n) {
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

static void range_text(const key_row *r, char *buf, size_t n) {
    char lo[32], hi[32];
    fmt_double(r->lo, lo, sizeof lo);
    fmt_double(r->hi, hi, sizeof hi);
    int lopen = !!(r->range & R_LO_OPEN), hopen = !!(r->range & R_HI_OPEN);
    if (!(r->range & R_HI)) snprintf(buf, n, "%s %s", lopen ? ">" : ">=", lo);
    else if (!(r->range & R_LO)) snprintf(buf, n, "%s %s", hopen ? "<" : "<=", hi);
    else if (!lopen && !hopen) snprintf(buf, n, "between %s and %s", lo, hi);
    else if (lopen && hopen) snprintf(buf, n, "strictly between %s and %s", lo, hi);
    else snprintf(buf, n, "in %s%s, %s%s", lopen ? "(" : "[", lo, hi, hopen ? ")" : "]");
}

static int in_range(const key_row *r, double v) {
    if ((r->range & R_LO) && ((r->range & R_LO_OPEN) ? !(v > r->lo) : !(v >= r->lo))) return 0;
    if ((r->range & R_HI) && ((r->range & R_HI_OPEN) ? !(v < r->hi) : !(v <= r->hi))) return 0;
    return 1;
}

static int range_fail(ctx *x, const node *v, const char *path, const key_row *r) {
    char rt[96], c[64];
    range_text(r, rt, sizeof rt);
    return yt_fail(&x->y, v, "%s: must be %s, got %s", path, rt, yt_clip(v->text, c, sizeof c));
}

/* A decimal number: sign, digits, point, exponent; not hex, inf or nan.
 * 0: *d is finite; 1: too large for a double; -1: not a number. */
static int parse_double(const char *s, double *d) {
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9') digits = 1;
        else if (!strchr("+-.eE", *p)) return -1;
    }
    if (!digits) return -1;
    char *end;
    errno = 0;
    *d = strtod(s, &end);
    if (end == s || *end) return -1;
    if (!isfinite(*d)) return 1;
    if (*d == 0) *d = 0; /* no -0 in a canonical text */
    return 0;
}

static int all_digits(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* A number for row r (integral: an integer) into *d, range-checked. */
static int read_number(ctx *x, const node *v, const char *path, const key_row *r,
                       int integral, double *d) {
    char g[80];
    const char *noun = integral ? "an integer" : "a number";
    if (v->type != N_SCALAR || yt_is_null(v))
        return yt_fail(&x->y, v, "%s: expected %s, got %s", path, noun, yt_got(v, g, sizeof g));
    if (integral && all_digits(v->text)) {
        errno = 0;
        long long ll = strtoll(v->text, NULL, 10);
        if (errno == ERANGE) return range_fail(x, v, path, r);
        *d = (double)ll;
    } else {
        int e = parse_double(v->text, d);
        if (e < 0 || (integral && e == 0 && *d != floor(*d)))
            return yt_fail(&x->y, v, "%s: expected %s, got %s", path, noun, yt_got(v, g, sizeof g));
        if (e > 0) {
            if (r->range & R_HI) return range_fail(x, v, path, r);
            return yt_fail(&x->y, v, "%s: %s is too large", path, yt_clip(v->text, g, sizeof g));
        }
    }
    if (!integral && r->type == V_FLOAT) {
        if (fabs(*d) > FLT_MAX)
            return yt_fail(&x->y, v, "%s: %s is too large for a float", path, yt_clip(v->text, g, sizeof g));
        *d = (float)*d;
    }
    if (!in_range(r, *d)) return range_fail(x, v, path, r);
    return 0;
}

static int read_u64(ctx *x, const node *v, const char *path, uint64_t *out) {
    char g[80];
    const char *why = "must be an integer between 0 and 18446744073709551615";
    if (v->type != N_SCALAR || yt_is_null(v))
        return yt_fail(&x->y, v, "%s: expected an integer, got %s", path, yt_got(v, g, sizeof g));
    const char *t = v->text;
    if (all_digits(t) && *t != '-') {
        errno = 0;
        unsigned long long u = strtoull(t, NULL, 10);
        if (errno == ERANGE) return yt_fail(&x->y, v, "%s: %s, got %s", path, why, yt_clip(t, g, sizeof g));
        *out = u;
        return 0;
    }
    double d;
    int e = parse_double(t, &d);
    if (e < 0 || (e == 0 && d != floor(d)))
        return yt_fail(&x->y, v, "%s: expected an integer, got %s", path, yt_got(v, g, sizeof g));
    if (e > 0 || d < 0 || d >= 18446744073709551616.0)
        return yt_fail(&x->y, v, "%s: %s, got %s", path, why, yt_clip(t, g, sizeof g));
    *out = (uint64_t)d;
    return 0;
}

static int read_enum(ctx *x, const node *v, const char *path, const enum_def *en, int *out) {
    char g[80], list[128];
    yt_join(list, sizeof list, en->names, en->n);
    if (v->type != N_SCALAR || yt_is_null(v))
        return yt_fail(&x->y, v, "%s: expected one of %s, got %s", path, list, yt_got(v, g, sizeof g));
    for (int i = 0; i < en->n; i++)
        if (!strcmp(v->text, en->names[i])) {
            *out = en->vals[i];
            return 0;
        }
    return yt_fail(&x->y, v, "%s: unknown %s %s (expected %s)", path, en->what, yt_got(v, g, sizeof g), list);
}

static int read_value(ctx *x, const node *v, const char *path, const key_row *r, void *base) {
    char *p = (char *)base + r->off, g[80];
    double d;
    switch (r->type) {
    case V_STR: {
        if (v->type != N_SCALAR || yt_is_null(v))
            return yt_fail(&x->y, v, "%s: expected %s, got %s", path, r->form ? r->form : "a string",
                        yt_got(v, g, sizeof g));
        size_t len = strlen(v->text);
        if (!len) return yt_fail(&x->y, v, "%s: must not be empty", path);
        /* the name labels figures and names folders; data.dir is a path */
        const char *why = nnl_text_problem(v->text, r->size - 1, 0);
        if (why) return yt_fail(&x->y, v, "%s: %s", path, why);
        memcpy(p, v->text, len + 1);
        return 0;
    }
    case V_INT:
        if (read_number(x, v, path, r, 1, &d)) return -1;
        *(int *)p = (int)d;
        return 0;
    case V_U64:
        return read_u64(x, v, path, (uint64_t *)p);
    case V_FLOAT:
        if (read_number(x, v, path, r, 0, &d)) return -1;
        *(float *)p = (float)d;
        return 0;
    case V_DOUBLE:
        if (read_number(x, v, path, r, 0, &d)) return -1;
        *(double *)p = d;
        return 0;
    case V_BOOL:
        if (v->type == N_SCALAR && v->plain) {
            const char *t = v->text;
            if (!strcasecmp(t, "true") || !strcasecmp(t, "yes")) { *(int *)p = 1; return 0; }
            if (!strcasecmp(t, "false") || !strcasecmp(t, "no")) { *(int *)p = 0; return 0; }
        }
        return yt_fail(&x->y, v, "%s: expected true or false, got %s", path, yt_got(v, g, sizeof g));
    case V_ENUM:
        return read_enum(x, v, path, r->en, (int *)p);
    case V_KIND: {
        enum_def e;
        family_enum(family_named(r->family), &e);
        return read_enum(x, v, path, &e, (int *)p);
    }
    case V_INTS:
    case V_FLOATS: {
        if (v->type == N_SEQ && v->n != r->count)
            return yt_fail(&x->y, v, "%s: expected a list %s, got a list of %d", path, r->form, v->n);
        if (v->type != N_SEQ)
            return yt_fail(&x->y, v, "%s: expected a list %s, got %s", path, r->form, yt_got(v, g, sizeof g));
        key_row er = *r;
        er.type = r->type == V_INTS ? V_INT : V_FLOAT;
        for (int i = 0; i < v->n; i++) {
            char ep[128];
            snprintf(ep, sizeof ep, "%s.%d", path, i);
            if (read_number(x, v->kid[i], ep, &er, r->type == V_INTS, &d)) return -1;
            if (r->type == V_INTS) ((int *)p)[i] = (int)d;
            else ((float *)p)[i] = (float)d;
        }
        return 0;
    }
    case V_LAYERS:
        break;
    }
    return yt_fail(&x->y, v, "%s: internal error: no reader for this key", path);
}

/* Mapping m's keys must all be rows (of section `sec` when filtering) or
 * child sections of path. */
static int check_keys(ctx *x, const node *m, const char *path, const key_row *rows, int nrows,
                      const char *sec, int with_sections) {
    const char *cand[64];
    int nc = 0;
    for (int i = 0; i < nrows && nc < 64; i++)
        if (!sec || !strcmp(rows[i].section, sec)) cand[nc++] = rows[i].name;
    if (with_sections) {
        size_t pl = strlen(path);
        for (int i = 0; i < NSECTIONS && nc < 64; i++) {
            const char *sp = sections[i].path;
            if (!*sp) continue;
            const char *rest = sp;
            if (pl) {
                if (strncmp(sp, path, pl) || sp[pl] != '.') continue;
                rest = sp + pl + 1;
            }
            if (!strchr(rest, '.')) cand[nc++] = rest;
        }
    }
    for (int i = 0; i + 1 < m->n; i += 2) {
        const node *k = m->kid[i];
        int ok = 0;
        for (int j = 0; j < nc && !ok; j++) ok = !strcmp(k->text, cand[j]);
        if (ok) continue;
        char c[64], w[96], list[512];
        yt_where(w, sizeof w, path);
        const char *near = yt_closest(k->text, cand, nc);
        if (near)
            return yt_fail(&x->y, k, "unknown key '%s' %s (did you mean '%s'?)",
                        yt_clip(k->text, c, sizeof c), w, near);
        yt_join(list, sizeof list, cand, nc);
        return yt_fail(&x->y, k, "unknown key '%s' %s (expected %s)", yt_clip(k->text, c, sizeof c), w,
                    list);
    }
    return 0;
}

/* Node m as a mapping: null is {}, a scalar with a shorthand is
 * {shorthand: scalar}; anything else must already be a mapping. */
static int as_map(ctx *x, node *m, const char *path, const char *shorthand, const char *expect) {
    char g[80];
    if (m->type == N_MAP) return 0;
    if (yt_is_null(m) || (m->type == N_SCALAR && shorthand)) {
        if (yt_to_map(m, yt_is_null(m) ? NULL : shorthand, 1)) return yt_fail(&x->y, NULL, "out of memory");
        return 0;
    }
    return yt_fail(&x->y, m, "%s: expected %s, got %s", path, expect, yt_got(m, g, sizeof g));
}

/* ------------------------------------------------------------------ layers */

static int read_layer(ctx *x, node *item, int i, nnl_config *c, nnl_layer *out) {
    char path[96], opath[160], g[80], cn[64];
    node *kind, *opts = NULL;
    snprintf(path, sizeof path, "model.layers.%d", i);
    if (item->type == N_SCALAR && !yt_is_null(item)) {
        kind = item;
    } else if (item->type == N_MAP && item->n == 2) {
        kind = item->kid[0];
        opts = item->kid[1];
    } else if (item->type == N_MAP && item->n > 2) {
        return yt_fail(&x->y, item, "%s: a layer is one kind with its options, got %d keys ('%s', "
                    "'%s'%s): indent the options under the kind", path, item->n / 2,
                    yt_clip(item->kid[0]->text, cn, sizeof cn), yt_clip(item->kid[2]->text, g, sizeof g),
                    item->n > 4 ? ", ..." : "");
    } else {
        return yt_fail(&x->y, item, "%s: expected a layer such as 'flatten' or 'conv: {filters: 6, "
                    "kernel: 5}', got %s", path, yt_got(item, g, sizeof g));
    }
    const nn_layer_family *fam = family_named(kind->text);
    if (!fam) {
        const nn_layer_family *f[NN_KIND_COUNT];
        const char *names[NN_KIND_COUNT];
        char list[160];
        int nf = nn_layer_families(f, NN_KIND_COUNT);
        for (int k = 0; k < nf; k++) names[k] = f[k]->key;
        yt_join(list, sizeof list, names, nf);
        const char *near = yt_closest(kind->text, names, nf);
        if (near)
            return yt_fail(&x->y, kind, "unknown layer '%s' (did you mean '%s'?); expected %s",
                        yt_clip(kind->text, cn, sizeof cn), near, list);
        return yt_fail(&x->y, kind, "unknown layer '%s'; expected %s", yt_clip(kind->text, cn, sizeof cn),
                    list);
    }
    key_row rows[MAX_LAYER_OPTS];
    const int nrows = family_rows(fam, rows);
    snprintf(opath, sizeof opath, "%s.%s", path, fam->key);
    out->spec = fam->init;
    out->kind_default = 0;
    /* "flatten", "flatten: ~", "flatten: {}" and, as the canonical text has it, "flatten: true" */
    if (opts && !nrows && !yt_is_null(opts) && !(opts->type == N_MAP && opts->n == 0) &&
        !(opts->type == N_SCALAR && opts->plain && !strcasecmp(opts->text, "true")))
        return yt_fail(&x->y, opts, "%s: takes no options, got %s", opath, yt_got(opts, g, sizeof g));
    if (opts && nrows) {
        char expect[256], list[128];
        const char *names[MAX_LAYER_OPTS];
        for (int k = 0; k < nrows; k++) names[k] = rows[k].name;
        yt_join(list, sizeof list, names, nrows);
        if (fam->shorthand)
            snprintf(expect, sizeof expect, "a value for %s or a mapping of options (%s)",
                     fam->shorthand, list);
        else
            snprintf(expect, sizeof expect, "a mapping of options (%s)", list);
        if (as_map(x, opts, opath, fam->shorthand, expect)) return -1;
        if (check_keys(x, opts, opath, rows, nrows, NULL, 0)) return -1;
    }
    for (int k = 0; k < nrows; k++) {
        const key_row *r = &rows[k];
        char kp[200];
        node *v = opts ? yt_map_get(opts, r->name, NULL) : NULL;
        snprintf(kp, sizeof kp, "%s.%s", opath, r->name);
        if (!v && r->required)
            return yt_fail(&x->y, kind, "%s: missing %s (e.g. %s)", opath, r->name, fam->example);
        if (v && read_value(x, v, kp, r, &out->spec)) return -1;
    }
    const key_row *dk = fam->types ? family_default(fam) : NULL;
    if (dk) {
        node *t = opts ? yt_map_get(opts, "type", NULL) : NULL;
        out->kind_default = !t;
        if (!t) out->spec.kind = *(const nn_kind *)((const char *)c + dk->off);
    }
    /* an option given that the layer's kind does not use */
    for (int k = 0; k < fam->nopts; k++) {
        const nn_layer_opt *o = &fam->opts[k];
        node *kn = NULL;
        if (!opts || !yt_map_get(opts, o->name, &kn) || nn_opt_applies(o, out->spec.kind)) continue;
        nn_kind ks[NN_KIND_COUNT];
        const char *users[NN_KIND_COUNT];
        char list[128];
        int nk = nn_family_kinds(fam, ks), nu = 0;
        for (int j = 0; j < nk; j++)
            if (nn_opt_applies(o, ks[j])) users[nu++] = nn_kind_type(ks[j]);
        yt_join(list, sizeof list, users, nu);
        return yt_fail(&x->y, kn, "%s.%s: is only used by %s (this layer is %s%s%s)", opath, o->name, list,
                    nn_kind_type(out->spec.kind), out->kind_default ? ", from model." : "",
                    out->kind_default ? dk->name : "");
    }
    return 0;
}

static int read_layers(ctx *x, node *v, nnl_config *c) {
    char g[80];
    if (v->type != N_SEQ)
        return yt_fail(&x->y, v, "model.layers: expected a list of layers, got %s", yt_got(v, g, sizeof g));
    if (v->n == 0) return yt_fail(&x->y, v, "model.layers: the list is empty; a network needs layers");
    if (v->n > NN_MAX_LAYERS)
        return yt_fail(&x->y, v->kid[NN_MAX_LAYERS], "model.layers: at most %d layers, got %d",
                    NN_MAX_LAYERS, v->n);
    for (int i = 0; i < v->n; i++) {
        x->layer_at[i] = v->kid[i];
        if (read_layer(x, v->kid[i], i, c, &c->layers[i])) return -1;
    }
    c->nlayers = v->n;
    return 0;
}

/* nn_infer on the resolved layers; its message with the failing item's place. */
static int check_layers(ctx *x, const nnl_config *c) {
    nn_layer_spec L[NN_MAX_LAYERS];
    nn_shape out[NN_MAX_LAYERS];
    size_t np[NN_MAX_LAYERS], total = 0;
    nn_shape in = nn_shape3(c->input[0], c->input[1], c->input[2]);
    char msg[256], sb[64];
    int n = c->nlayers;
    nnl_config_layers(c, L);
    if (nn_infer(L, n, in, out, np, msg, sizeof msg)) {
        /* the shortest failing prefix ends at the failing layer */
        int bad = n - 1;
        for (int k = 1; k < n; k++)
            if (nn_infer(L, k, in, NULL, NULL, sb, sizeof sb)) {
                bad = k - 1;
                break;
            }
        return yt_fail(&x->y, x->layer_at[bad], "model.layers: %s", msg);
    }
    const node *last = x->layer_at[n - 1];
    if (out[n - 1].rank != 1)
        return yt_fail(&x->y, last, "model.layers: the last layer must be dense (the class scores); "
                    "layer %d (%s) outputs %s", n - 1, nn_kind_name(L[n - 1].kind),
                    nn_shape_str(out[n - 1], sb, sizeof sb));
    if (out[n - 1].c < 2)
        return yt_fail(&x->y, last, "model.layers: the last layer gives %d class score; a classifier "
                    "needs at least 2", out[n - 1].c);
    for (int i = 0; i < n; i++) {
        total += np[i];
        if (total > MAX_PARAMS)
            return yt_fail(&x->y, x->layer_at[i], "model.layers: more than %d parameters by layer %d (%s)",
                        MAX_PARAMS, i, nn_kind_name(L[i].kind));
    }
    return 0;
}

/* ----------------------------------------------------------- the whole tree */

/* The node of a section path ("train.schedule"), NULL if absent. */
static node *section_node(node *root, const char *path, node **keynode) {
    char buf[128];
    node *m = root;
    if (keynode) *keynode = NULL;
    if (!*path) return root;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf, *dot; m && s; s = dot ? dot + 1 : NULL) {
        dot = strchr(s, '.');
        if (dot) *dot = 0;
        m = yt_map_get(m, s, keynode);
    }
    return m;
}

static void fmt_value(const key_row *r, const void *base, char *buf, size_t n);

/* Does key r hold something other than its default (for c's optimizer)?
 * A key that does not apply is an error only then: "momentum: 0" with adam
 * changes nothing, and the canonical text lists every key. */
static int non_default(const key_row *r, const nnl_config *c) {
    nnl_config d;
    char a[64], b[64];
    nnl_config_defaults(&d);
    d.optim = nn_optim_defaults(c->optim.kind);
    fmt_value(r, c, a, sizeof a);
    fmt_value(r, &d, b, sizeof b);
    return strcmp(a, b) != 0;
}

static int read_config(ctx *x, node *root, nnl_config *c) {
    char path[160], why[200];
    for (int s = 0; s < NSECTIONS; s++) {
        const section_def *sd = &sections[s];
        node *m = section_node(root, sd->path, NULL);
        if (m) {
            char expect[96];
            if (sd->shorthand)
                snprintf(expect, sizeof expect, "a mapping or a %s", sd->shorthand);
            else
                snprintf(expect, sizeof expect, "a mapping");
            if (as_map(x, m, sd->path, sd->shorthand, expect)) return -1;
            if (check_keys(x, m, sd->path, keys, NKEYS, sd->path, 1)) return -1;
        }
        for (int i = 0; i < NKEYS; i++) {
            const key_row *r = &keys[i];
            if (strcmp(r->section, sd->path)) continue;
            snprintf(path, sizeof path, "%s%s%s", r->section, *r->section ? "." : "", r->name);
            node *v = m ? yt_map_get(m, r->name, NULL) : NULL;
            if (!v) {
                if (r->required) return yt_fail(&x->y, m, "%s is missing: %s", path, r->hint);
                continue;
            }
            if (r->type == V_LAYERS) {
                if (read_layers(x, v, c)) return -1;
            } else if (read_value(x, v, path, r, c)) {
                return -1;
            }
            if (r->on_set) r->on_set(c);
        }
    }
    /* rules that tie keys together, now that every key is read */
    for (int i = 0; i < NKEYS; i++) {
        const key_row *r = &keys[i];
        node *kn = NULL, *v = yt_map_get(section_node(root, r->section, NULL), r->name, &kn);
        const char *w;
        snprintf(path, sizeof path, "%s%s%s", r->section, *r->section ? "." : "", r->name);
        if (v && r->applies && (w = r->applies(c, why, sizeof why)) && non_default(r, c))
            return yt_fail(&x->y, kn, "%s: %s", path, w);
        if (r->check && (w = r->check(c, why, sizeof why)))
            return yt_fail(&x->y, v ? v : kn, "%s: %s", path, w);
    }
    return check_layers(x, c);
}

/* ---------------------------------------------------------------- overrides */

int nnl_override_parse(const char *s, nnl_override *ov) {
    const char *eq = s ? strchr(s, '=') : NULL;
    if (!eq) return -1;
    ov->key = s;             /* ends at the '=': every reader stops there */
    ov->value = eq + 1;
    return 0;
}

int nnl_cli_set(const char *cmd, const char *arg, nnl_override *sets, int *n, int max) {
    if (*n == max) { fprintf(stderr, "nnlab %s: more than %d --set options\n", cmd, max); return 2; }
    if (nnl_override_parse(arg, &sets[*n])) {
        fprintf(stderr, "nnlab %s: --set %s: expected KEY=VALUE, e.g. --set train.lr=0.01\n", cmd, arg);
        return 2;
    }
    (*n)++;
    return 0;
}

/* The shorthand of the node at parts[0..n-1], if it has one. */
static const char *shorthand_at(char **parts, int n) {
    char path[256];
    size_t o = 0;
    path[0] = 0;
    for (int i = 0; i < n && o < sizeof path; i++)
        o += (size_t)snprintf(path + o, sizeof path - o, "%s%s", i ? "." : "", parts[i]);
    const section_def *sd = section_named(path);
    if (sd) return sd->shorthand;
    if (n == 4 && !strcmp(parts[0], "model") && !strcmp(parts[1], "layers")) {
        const nn_layer_family *f = family_named(parts[3]);
        return f ? f->shorthand : NULL;
    }
    return NULL;
}

static int is_index(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* A new empty list (when the next part is an index) or mapping. */
static node *container_for(const char *next, const node *origin) {
    return yt_node_new(is_index(next) ? N_SEQ : N_MAP, origin->src, origin->line, origin->col);
}

/* Puts val at the dotted path parts[0..np-1], creating lists and mappings
 * on the way; takes val. New nodes take origin's place for messages.
 * replace: an override may replace a value; a dotted key in a file may not
 * (it would be the same key given twice). */
static int graft(ctx *x, node *root, char **parts, int np, node *val, const node *origin,
                 int replace) {
    char at[256], g[80], c[64];
    node *cur = root, *parent = NULL;
    size_t o = 0;
    at[0] = 0;
    for (int i = 0; i < np; i++) {
        const char *k = parts[i];
        int last = i == np - 1;
        node *next = NULL;
        if (cur->type == N_SCALAR) {
            /* "- pool" is {pool: null}; null is {}; "schedule: cosine" is {type: cosine} */
            const char *sh = shorthand_at(parts, i);
            int r;
            if (parent && parent->type == N_SEQ && !yt_is_null(cur)) {
                if (strcmp(cur->text, k)) goto not_there;
                r = yt_to_map(cur, k, 0);
            } else if (yt_is_null(cur)) {
                r = yt_to_map(cur, NULL, 0);
            } else if (sh) {
                r = yt_to_map(cur, sh, 1);
            } else {
                goto not_there;
            }
            if (r) goto oom;
        }
        if (cur->type == N_MAP) {
            node **slot = NULL;
            for (int j = 0; j + 1 < cur->n && !slot; j += 2)
                if (!strcmp(cur->kid[j]->text, k)) slot = &cur->kid[j + 1];
            if (slot) {
                if (!last) {
                    next = *slot;
                } else {
                    if (!replace) goto twice;
                    yt_node_free(*slot);
                    *slot = val;
                    return 0;
                }
            } else {
                node *kn = yt_scalar_new(origin->src, origin->line, origin->col, k, strlen(k), 1);
                next = last ? val : container_for(parts[i + 1], origin);
                if (!kn || !next || yt_node_add(cur, kn)) {
                    yt_node_free(kn);
                    if (next != val) yt_node_free(next);
                    goto oom;
                }
                if (yt_node_add(cur, next)) {
                    if (next != val) yt_node_free(next);
                    goto oom;
                }
                if (last) return 0;
            }
        } else { /* a list: the part is an index; one past the end appends */
            long idx = -1;
            if (is_index(k) && strlen(k) < 6) idx = strtol(k, NULL, 10);
            if (idx < 0 || idx > cur->n) {
                if (idx < 0)
                    yt_failp(&x->y, origin->src, origin->line, origin->col,
                          "%s is a list: expected an index (0 to %d), got '%s'", at, cur->n,
                          yt_clip(k, c, sizeof c));
                else
                    yt_failp(&x->y, origin->src, origin->line, origin->col,
                          "%s has %d items: index %ld is out of range (%d adds one at the end)",
                          at, cur->n, idx, cur->n);
                yt_node_free(val);
                return -1;
            }
            if (idx < cur->n && !last) {
                next = cur->kid[idx];
            } else if (idx < cur->n) {
                if (!replace) goto twice;
                yt_node_free(cur->kid[idx]);
                cur->kid[idx] = val;
                return 0;
            } else {
                next = last ? val : container_for(parts[i + 1], origin);
                if (!next || yt_node_add(cur, next)) {
                    if (next != val) yt_node_free(next);
                    goto oom;
                }
                if (last) return 0;
            }
        }
        parent = cur;
        cur = next;
        o += (size_t)snprintf(at + o, sizeof at - o, "%s%s", i ? "." : "", k);
        if (o >= sizeof at) o = sizeof at - 1;
        continue;
not_there:
        yt_node_free(val);
        return yt_failp(&x->y, origin->src, origin->line, origin->col, "%s is %s, which has no '%s'", at,
                     yt_got(cur, g, sizeof g), yt_clip(k, c, sizeof c));
    }
    yt_node_free(val); /* np == 0 never gets here: the callers check */
    return 0;
twice:
    yt_node_free(val);
    return yt_failp(&x->y, origin->src, origin->line, origin->col, "%s%s%s is given twice", at,
                 *at ? "." : "", parts[np - 1]);
oom:
    yt_node_free(val);
    return yt_failp(&x->y, origin->src, origin->line, origin->col, "out of memory");
}

/* Splits a dotted key in place into at most MAX_PATH_PARTS parts. */
static int split_key(ctx *x, const node *origin, char *key, char **parts, int *np) {
    char kc[128];
    *np = 0;
    for (char *s = key, *dot; s; s = dot ? dot + 1 : NULL) {
        dot = strchr(s, '.');
        if (dot) *dot = 0;
        if (!*s)
            return yt_failp(&x->y, origin->src, origin->line, origin->col, "empty part in key '%s'",
                         yt_clip(origin->text ? origin->text : "", kc, sizeof kc));
        if (*np == MAX_PATH_PARTS)
            return yt_failp(&x->y, origin->src, origin->line, origin->col,
                         "the key has more than %d parts", MAX_PATH_PARTS);
        parts[(*np)++] = s;
    }
    return 0;
}

static int apply_override(ctx *x, node *root, const nnl_override *ov, char *label) {
    char key[256], path[256], kc[128], vc[64];
    char *parts[MAX_PATH_PARTS];
    const char *k = ov->key ? ov->key : "";
    const char *vtext = ov->value ? ov->value : "";
    size_t klen = strcspn(k, "="); /* a key from nnl_override_parse ends at its '=' */
    int np;
    node *val;
    snprintf(key, sizeof key, "%.*s", (int)(klen < sizeof key ? klen : sizeof key - 1), k);
    snprintf(label, LABEL_MAX, "--set %s=%s", yt_clip(key, kc, sizeof kc), yt_clip(vtext, vc, sizeof vc));
    node origin = {.src = label, .text = key};
    if (!klen) return yt_failp(&x->y, label, 0, 0, "empty key (expected --set section.key=value)");
    if (klen >= sizeof key) return yt_failp(&x->y, label, 0, 0, "the key is too long");
    snprintf(path, sizeof path, "%s", key);
    origin.text = path;
    if (split_key(x, &origin, key, parts, &np)) return -1;
    if (yt_parse_yaml(&x->y, label, 0, vtext, strlen(vtext), &val)) return -1;
    if (!val && !(val = yt_scalar_new(label, 0, 0, "", 0, 1)))
        return yt_failp(&x->y, label, 0, 0, "out of memory");
    if (yt_check_dups(&x->y, val, path)) {
        yt_node_free(val);
        return -1;
    }
    return graft(x, root, parts, np, val, &origin, 1);
}

/* A file may write any key flat, "train.lr: 0.01" or
 * "model.layers.0.conv.filters: 6", as the canonical text does: such
 * top-level keys are taken out and grafted in, in order. */
static int graft_flat_keys(ctx *x, node *root) {
    int nflat = 0, n = 0, f = 0, rc = 0;
    for (int i = 0; i + 1 < root->n; i += 2) nflat += strchr(root->kid[i]->text, '.') != NULL;
    if (!nflat) return 0;
    node **flat = malloc(2 * (size_t)nflat * sizeof *flat);
    if (!flat) return yt_fail(&x->y, NULL, "out of memory");
    for (int i = 0; i + 1 < root->n; i += 2) {
        if (strchr(root->kid[i]->text, '.')) {
            flat[f++] = root->kid[i];
            flat[f++] = root->kid[i + 1];
        } else { /* n <= i: compacting in place is safe */
            root->kid[n++] = root->kid[i];
            root->kid[n++] = root->kid[i + 1];
        }
    }
    root->n = n;
    for (int j = 0; j < f; j += 2) {
        node *k = flat[j], *v = flat[j + 1];
        char key[256], *parts[MAX_PATH_PARTS];
        int np;
        if (rc) {
            yt_node_free(v);
        } else if (strlen(k->text) >= sizeof key) {
            rc = yt_fail(&x->y, k, "the key is too long");
            yt_node_free(v);
        } else {
            snprintf(key, sizeof key, "%s", k->text);
            if ((rc = split_key(x, k, key, parts, &np))) yt_node_free(v);
            else rc = graft(x, root, parts, np, v, k, 0); /* takes v */
        }
        yt_node_free(k);
    }
    free(flat);
    return rc;
}

/* ------------------------------------------------------------------ public */

void nnl_config_defaults(nnl_config *c) {
    memset(c, 0, sizeof *c);
    c->input[0] = 1;
    c->input[1] = 28;
    c->input[2] = 28;
    c->activation = NN_SIGMOID;
    c->pool = NN_AVGPOOL;
    c->optim = nn_optim_defaults(NN_ADAM);
    c->optim.lr = 0.001f;
    c->batch_size = 128;
    c->epochs = 10;
    c->seed = 0;
    c->sched = (nn_sched){NN_SCHED_CONSTANT, 10, 0.1f, 0, 0.f, 0};
    c->threads = 0;
    const char *dir = getenv("NNLAB_DATA");
    snprintf(c->data_dir, sizeof c->data_dir, "%s", dir && *dir ? dir : DEFAULT_DATA_DIR);
    c->val_split = 0.2;
    c->augment.erase_max = 0.33; /* torchvision's RandomErasing scale=(0.02, 0.33) */
}

int nnl_config_parse(const char *name, const char *text, size_t len,
                     const nnl_override *ov, int nov,
                     nnl_config *c, char *err, size_t errlen) {
    ctx x = {.y = {.file = name ? name : "<config>", .err = err, .errlen = errlen}};
    nnl_config t;
    node *root = NULL;
    char *labels = NULL;
    char g[80];
    int rc = -1;
    if (err && errlen) err[0] = 0;
    nnl_config_defaults(&t);
    nnl_name_from_file(x.y.file, "config", t.name, sizeof t.name);
    if (!text) len = 0;
    if (yt_parse_yaml(&x.y, x.y.file, 1, text, len, &root)) goto out;
    if (!root || yt_is_null(root)) {
        yt_fail(&x.y, NULL, "the config is empty: it needs at least model.layers "
             "(see configs/lenet5.yaml)");
        goto out;
    }
    if (root->type != N_MAP) {
        yt_fail(&x.y, root, "the top level must be a mapping of sections (name, model, train, data), "
             "got %s", yt_got(root, g, sizeof g));
        goto out;
    }
    if (yt_check_dups(&x.y, root, "")) goto out;
    if (graft_flat_keys(&x, root)) goto out;
    if (nov > 0) {
        if (!(labels = malloc((size_t)nov * LABEL_MAX))) {
            yt_fail(&x.y, NULL, "out of memory");
            goto out;
        }
        for (int i = 0; i < nov; i++)
            if (apply_override(&x, root, &ov[i], labels + (size_t)i * LABEL_MAX)) goto out;
    }
    if (read_config(&x, root, &t)) goto out;
    *c = t;
    rc = 0;
out:
    yt_node_free(root);
    free(labels);
    return rc;
}

int nnl_config_load(const char *path, const nnl_override *ov, int nov,
                    nnl_config *c, char *err, size_t errlen) {
    yt_ctx y = {.file = path ? path : "<config>", .err = err, .errlen = errlen};
    char *buf;
    size_t len;
    if (!path) return yt_fail(&y, NULL, "no config file given");
    if (yt_read_file(&y, path, &buf, &len)) return -1;
    int rc = nnl_config_parse(path, buf, len, ov, nov, c, err, errlen);
    free(buf);
    return rc;
}

void nnl_config_layers(const nnl_config *c, nn_layer_spec *out) {
    for (int i = 0; i < c->nlayers; i++) {
        nn_layer_spec s = c->layers[i].spec;
        const key_row *dk = c->layers[i].kind_default ? family_default(nn_kind_family(s.kind)) : NULL;
        if (dk) s.kind = *(const nn_kind *)((const char *)c + dk->off);
        out[i] = nn_layer_resolve(s);
    }
}

/* ---------------------------------------------------------- canonical text */

#define KV_MAX (NN_MAX_LAYERS * 4 + NKEYS + 8)

typedef struct {
    char key[48];
    char val[48];
    const char *sval; /* long values (name, data.dir) point into the config */
} kv;

typedef struct { kv e[KV_MAX]; int n; } kvs;

__attribute__((format(printf, 4, 5)))
static void kv_add(kvs *s, const char *key, const char *sval, const char *fmt, ...) {
    if (s->n == KV_MAX) return;
    kv *e = &s->e[s->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->sval = sval;
    e->val[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->val, sizeof e->val, fmt, ap);
        va_end(ap);
    }
}

/* Dotted paths compared part by part, numeric parts as numbers. */
static int path_cmp(const char *a, const char *b) {
    for (;;) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int na = la > 0, nb = lb > 0, c;
        for (size_t i = 0; i < la; i++) na &= a[i] >= '0' && a[i] <= '9';
        for (size_t i = 0; i < lb; i++) nb &= b[i] >= '0' && b[i] <= '9';
        if (na && nb) {
            c = la != lb ? (la < lb ? -1 : 1) : memcmp(a, b, la); /* no leading zeros here */
        } else {
            c = memcmp(a, b, la < lb ? la : lb);
            if (!c) c = (la > lb) - (la < lb);
        }
        if (c) return c;
        a += la;
        b += lb;
        if (!*a || !*b) return (*a != 0) - (*b != 0);
        a++;
        b++;
    }
}

static int kv_cmp(const void *a, const void *b) {
    return path_cmp(((const kv *)a)->key, ((const kv *)b)->key);
}

/* Each layer as its family writes it: the type, then every option its
 * kind uses, each under the family's word ("model.layers.3.pool.size");
 * the shorthand option is the word itself ("model.layers.7.dense: 120",
 * "model.layers.1.act: relu"); a layer with neither is "flatten: true". */
static const char *layer_key(char *k, size_t n, int i, const nn_layer_family *f, const char *opt) {
    int bare = !*opt || (f->shorthand && !strcmp(f->shorthand, opt));
    snprintf(k, n, "model.layers.%d.%s%s%s", i, f->key, bare ? "" : ".", bare ? "" : opt);
    return k;
}

static void add_layers(kvs *s, const nnl_config *c) {
    nn_layer_spec L[NN_MAX_LAYERS];
    char k[48], f[32];
    nnl_config_layers(c, L);
    for (int i = 0; i < c->nlayers; i++) {
        const nn_layer_spec *l = &L[i];
        const nn_layer_family *fam = nn_kind_family(l->kind);
        if (!fam) { /* every kind a config holds came through its family (read_layer) */
            fprintf(stderr, "nnlab: internal error: layer %d is of kind %d, which nn's layer table lacks\n", i,
                    (int)l->kind);
            abort();
        }
#define K(opt) layer_key(k, sizeof k, i, fam, opt)
        int n0 = s->n;
        if (fam->types) kv_add(s, K("type"), NULL, "%s", nn_kind_type(l->kind));
        for (int j = 0; j < fam->nopts; j++) {
            const nn_layer_opt *o = &fam->opts[j];
            const char *p = (const char *)l + o->off;
            if (!nn_opt_applies(o, l->kind)) continue;
            if (o->is_float) fmt_float(*(const float *)p, f, sizeof f);
            else snprintf(f, sizeof f, "%d", *(const int *)p);
            kv_add(s, K(o->name), NULL, "%s", f);
        }
        if (s->n == n0) kv_add(s, K(""), NULL, "true");
#undef K
    }
}

/* The value of a (non-string, non-layers) key as the canonical text has it. */
static void fmt_value(const key_row *r, const void *base, char *buf, size_t n) {
    const char *p = (const char *)base + r->off;
    char f[32];
    size_t o = 0;
    buf[0] = 0;
    switch (r->type) {
    case V_STR: snprintf(buf, n, "%s", p); break;
    case V_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case V_U64: snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p); break;
    case V_FLOAT: fmt_float(*(const float *)p, buf, n); break;
    case V_DOUBLE: fmt_double(*(const double *)p, buf, n); break;
    case V_BOOL: snprintf(buf, n, "%s", *(const int *)p ? "true" : "false"); break;
    case V_ENUM: snprintf(buf, n, "%s", enum_name(r->en, *(const int *)p)); break;
    case V_KIND: {
        const char *t = nn_kind_type(*(const nn_kind *)p);
        snprintf(buf, n, "%s", t ? t : "?");
        break;
    }
    case V_INTS:
    case V_FLOATS:
        for (int i = 0; i < r->count && o < n; i++) {
            if (r->type == V_INTS) snprintf(f, sizeof f, "%d", ((const int *)p)[i]);
            else fmt_float(((const float *)p)[i], f, sizeof f);
            o += (size_t)snprintf(buf + o, n - o, "%s%s%s", i ? ", " : "[", f,
                                  i == r->count - 1 ? "]" : "");
        }
        break;
    case V_LAYERS:
        break;
    }
}

/* Every resolved key and value of c, sorted. */
static void collect(const nnl_config *c, kvs *s) {
    s->n = 0;
    for (int i = 0; i < NKEYS; i++) {
        const key_row *r = &keys[i];
        char key[48];
        snprintf(key, sizeof key, "%s%s%s", r->section, *r->section ? "." : "", r->name);
        if (r->type == V_LAYERS) {
            add_layers(s, c);
        } else if (r->type == V_STR) {
            kv_add(s, key, (const char *)c + r->off, NULL);
        } else if (s->n < KV_MAX) {
            kv_add(s, key, NULL, NULL);
            fmt_value(r, c, s->e[s->n - 1].val, sizeof s->e[s->n - 1].val);
        }
    }
    qsort(s->e, (size_t)s->n, sizeof s->e[0], kv_cmp);
}

static const char *kv_val(const kv *e) { return e->sval ? e->sval : e->val; }

/* Would s read back from YAML as this same string? */
static int plain_safe(const char *s) {
    size_t n = strlen(s);
    if (!n || strchr(" -?:,[]{}#&*!|>'\"%@`", s[0]) || s[n - 1] == ' ' || s[n - 1] == ':' ||
        strstr(s, ": ") || strstr(s, " #") || !strcmp(s, "~") || !strcasecmp(s, "null"))
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

/* s as YAML into out (NULL: just measure): plain when safe, else quoted. */
static size_t put_yaml_str(char *out, const char *s) {
    size_t o = 0;
    char e[8];
    if (plain_safe(s)) {
        if (out) memcpy(out, s, strlen(s));
        return strlen(s);
    }
    if (out) out[o] = '"';
    o++;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int k;
        if (ch == '"' || ch == '\\') k = snprintf(e, sizeof e, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) k = snprintf(e, sizeof e, "\\x%02x", ch);
        else k = snprintf(e, sizeof e, "%c", ch);
        if (out) memcpy(out + o, e, (size_t)k);
        o += (size_t)k;
    }
    if (out) out[o] = '"';
    return o + 1;
}

char *nnl_config_canonical(const nnl_config *c) {
    kvs s;
    size_t len = 1;
    collect(c, &s);
    for (int i = 0; i < s.n; i++)
        len += strlen(s.e[i].key) + 3 +
               (s.e[i].sval ? put_yaml_str(NULL, s.e[i].sval) : strlen(s.e[i].val));
    char *out = malloc(len), *p = out;
    if (!out) return NULL;
    for (int i = 0; i < s.n; i++) {
        p += sprintf(p, "%s: ", s.e[i].key);
        if (s.e[i].sval) p += put_yaml_str(p, s.e[i].sval);
        else p += sprintf(p, "%s", s.e[i].val);
        *p++ = '\n';
    }
    *p = 0;
    return out;
}

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void nnl_config_key(const nnl_config *c, char out[17]) {
    kvs s;
    uint64_t h = 0xcbf29ce484222325ULL;
    collect(c, &s);
    for (int i = 0; i < s.n; i++) {
        /* what a run computes, not what it is called, where its data lives or
         * how many cores it had (the thread count changes no bit): a sweep
         * resumed with another -j finds its runs and continues them exactly
         * (the thread count a run used is recorded as run.threads) */
        if (!strcmp(s.e[i].key, "name") || !strcmp(s.e[i].key, "data.dir") ||
            !strcmp(s.e[i].key, "train.threads"))
            continue;
        h = fnv1a(h, s.e[i].key);
        h = fnv1a(h, ": ");
        h = fnv1a(h, kv_val(&s.e[i]));
        h = fnv1a(h, "\n");
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

void nnl_config_foreach(const nnl_config *c,
                        void (*fn)(const char *key, const char *value, void *ud),
                        void *ud) {
    kvs s;
    collect(c, &s);
    for (int i = 0; i < s.n; i++) fn(s.e[i].key, kv_val(&s.e[i]), ud);
}
