/* experiment.c -- an experiment file read (yamltree) and expanded into a
 * plan: every grid point times every seed, then the random samples times
 * every seed, each loaded through the config reader with its overrides so
 * that a bad key or value is found before anything runs, and named after
 * the values that vary. Overrides apply in this order: the experiment's
 * `set`, the run's grid or sampled values, its seed, the command line's. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "experiment.h"
#include "names.h"
#include "yamltree.h"

#define VAL_MAX 256

typedef enum { D_GRID, D_CHOICE, D_UNIFORM, D_LOGUNIFORM, D_INT } dist_kind;

/* One swept key: its values (grid, choice) or its range (uniform...). */
typedef struct {
    const node *at;         /* the key in the file, for messages */
    const char *key;        /* dotted config key */
    char shortname[64];     /* what run names call it */
    dist_kind kind;
    int nvals;
    char (*vals)[VAL_MAX];  /* grid and choice values as flow text */
    const node **valnode;   /* each value's node */
    double lo, hi;
} axis;

/* A named set of overrides: one step of a comparison that is not a product
 * (the tutorial's LeNet-5, + ReLU, + max pooling, ...). */
typedef struct {
    const node *at;
    char name[64];
    int nset;
    nnl_override *set;
    char (*vals)[VAL_MAX];
} variant;

#define MAX_VARIANTS 64

typedef struct {
    yt_ctx y;
    variant var[MAX_VARIANTS];
    int nvar;
    axis grid[NNL_MAX_GRID], rnd[NNL_MAX_GRID];
    int ngrid, nrnd, samples, nseeds;
    uint64_t seeds[1024];
    nnl_override *set;      /* the experiment's own overrides */
    char (*setvals)[VAL_MAX];
    int nset;
    const node *base_at;    /* the base: value, where errors of the base config point */
} exp_ctx;

static const char *const top_keys[] = {"name", "base", "set", "variants", "grid", "seeds", "random", "prune"};
static const char *const dist_names[] = {"choice", "uniform", "loguniform", "int"};

static int unknown_key(exp_ctx *x, const node *k, const char *const *cand, int n, const char *where) {
    char c[64], list[256];
    const char *near = yt_closest(k->text, cand, n);
    if (near)
        return yt_fail(&x->y, k, "unknown key '%s' %s (did you mean '%s'?)", yt_clip(k->text, c, sizeof c), where,
                       near);
    yt_join(list, sizeof list, cand, n);
    return yt_fail(&x->y, k, "unknown key '%s' %s (expected %s)", yt_clip(k->text, c, sizeof c), where, list);
}

static int read_scalar_u64(exp_ctx *x, const node *v, const char *what, uint64_t max, uint64_t *out) {
    char g[80];
    char *end;
    if (v->type != N_SCALAR || !v->plain || !*v->text || v->text[0] == '-')
        return yt_fail(&x->y, v, "%s: expected a whole number, got %s", what, yt_got(v, g, sizeof g));
    errno = 0;
    unsigned long long u = strtoull(v->text, &end, 10);
    /* ERANGE: past 2^64 strtoull answers ULLONG_MAX, which passed as a seed
     * (tests/bad/experiment/seeds-huge.yaml) */
    if (*end || errno == ERANGE || u > max)
        return yt_fail(&x->y, v, "%s: expected a whole number from 0 to %llu, got %s", what,
                       (unsigned long long)max, yt_got(v, g, sizeof g));
    *out = u;
    return 0;
}

static int read_number(exp_ctx *x, const node *v, const char *what, double *out) {
    char g[80], *end;
    if (v->type != N_SCALAR || !*v->text) return yt_fail(&x->y, v, "%s: expected a number, got %s", what, yt_got(v, g, sizeof g));
    *out = strtod(v->text, &end);
    if (*end || !isfinite(*out)) return yt_fail(&x->y, v, "%s: expected a number, got %s", what, yt_got(v, g, sizeof g));
    return 0;
}

/* keys of one section: dotted config keys, each once */
static int check_dotted(exp_ctx *x, const node *k) {
    char c[64];
    const char *t = k->text;
    if (!*t || t[0] == '.' || t[strlen(t) - 1] == '.' || strstr(t, ".."))
        return yt_fail(&x->y, k, "'%s' is not a dotted config key (like train.lr)", yt_clip(t, c, sizeof c));
    return 0;
}

static int add_values(exp_ctx *x, axis *a, const node *seq, const char *section) {
    char g[80];
    if (seq->type != N_SEQ || !seq->n)
        return yt_fail(&x->y, seq, "%s: %s: expected a non-empty list of values, got %s", section, a->key,
                       yt_got(seq, g, sizeof g));
    a->nvals = seq->n;
    a->vals = calloc((size_t)seq->n, sizeof *a->vals);
    a->valnode = calloc((size_t)seq->n, sizeof *a->valnode);
    if (!a->vals || !a->valnode) return yt_fail(&x->y, NULL, "out of memory");
    for (int i = 0; i < seq->n; i++) {
        a->valnode[i] = seq->kid[i];
        if (yt_flow(seq->kid[i], a->vals[i], VAL_MAX))
            return yt_fail(&x->y, seq->kid[i], "%s: %s: a value longer than %d characters", section, a->key, VAL_MAX);
        /* a value names its runs and labels its point in every figure */
        const char *why = nnl_text_problem(a->vals[i], VAL_MAX, 0);
        if (why) return yt_fail(&x->y, seq->kid[i], "%s: %s: the value %s", section, a->key, why);
    }
    return 0;
}

static int read_grid(exp_ctx *x, const node *m) {
    char g[80];
    if (m->type != N_MAP) return yt_fail(&x->y, m, "grid: expected a mapping of config key -> list of values, got %s", yt_got(m, g, sizeof g));
    for (int i = 0; i + 1 < m->n; i += 2) {
        if (x->ngrid == NNL_MAX_GRID) return yt_fail(&x->y, m->kid[i], "grid: more than %d keys", NNL_MAX_GRID);
        axis *a = &x->grid[x->ngrid++];
        a->at = m->kid[i];
        a->key = m->kid[i]->text;
        a->kind = D_GRID;
        if (check_dotted(x, a->at) || add_values(x, a, m->kid[i + 1], "grid")) return -1;
    }
    return 0;
}

static int read_random(exp_ctx *x, const node *m) {
    char g[80], what[160];
    if (m->type != N_MAP) return yt_fail(&x->y, m, "random: expected a mapping, got %s", yt_got(m, g, sizeof g));
    node *sn = yt_map_get(m, "samples", NULL);
    uint64_t u;
    if (!sn) return yt_fail(&x->y, m, "random: needs 'samples: N' (how many runs to draw)");
    if (read_scalar_u64(x, sn, "random.samples", NNL_MAX_PLAN, &u)) return -1;
    if (!u) return yt_fail(&x->y, sn, "random.samples: must be at least 1");
    x->samples = (int)u;
    for (int i = 0; i + 1 < m->n; i += 2) {
        const node *k = m->kid[i], *v = m->kid[i + 1];
        if (!strcmp(k->text, "samples") || !strcmp(k->text, "seed")) continue;
        if (x->nrnd == NNL_MAX_GRID) return yt_fail(&x->y, k, "random: more than %d keys", NNL_MAX_GRID);
        axis *a = &x->rnd[x->nrnd++];
        a->at = k;
        a->key = k->text;
        if (check_dotted(x, k)) return -1;
        snprintf(what, sizeof what, "random: %s", a->key);
        if (v->type != N_MAP || v->n != 2)
            return yt_fail(&x->y, v, "%s: expected one distribution, like {loguniform: [1e-4, 1e-2]} or "
                           "{choice: [64, 128]}", what);
        const node *dk = v->kid[0], *dv = v->kid[1];
        int d = -1;
        for (int j = 0; j < 4; j++) if (!strcmp(dk->text, dist_names[j])) d = j;
        if (d < 0) return unknown_key(x, dk, dist_names, 4, "as a distribution");
        a->kind = (dist_kind)(D_CHOICE + d);
        if (a->kind == D_CHOICE) { if (add_values(x, a, dv, "random")) return -1; continue; }
        if (dv->type != N_SEQ || dv->n != 2)
            return yt_fail(&x->y, dv, "%s: %s: expected [low, high], got %s", what, dk->text, yt_got(dv, g, sizeof g));
        if (read_number(x, dv->kid[0], what, &a->lo) || read_number(x, dv->kid[1], what, &a->hi)) return -1;
        if (!(a->lo <= a->hi)) return yt_fail(&x->y, dv, "%s: low %g is above high %g", what, a->lo, a->hi);
        if (a->kind == D_LOGUNIFORM && a->lo <= 0)
            return yt_fail(&x->y, dv, "%s: loguniform needs a low above 0, got %g", what, a->lo);
        if (a->kind == D_INT && (a->lo != floor(a->lo) || a->hi != floor(a->hi) || a->hi - a->lo > 1e9))
            return yt_fail(&x->y, dv, "%s: int needs whole numbers [low, high]", what);
    }
    return 0;
}

/* a mapping of dotted config key -> value into overrides (value as flow text) */
static int read_sets(exp_ctx *x, const node *v, const char *what, nnl_override **set, char (**vals)[VAL_MAX], int *n) {
    char g[80];
    if (v->type != N_MAP) return yt_fail(&x->y, v, "%s: expected a mapping of config key -> value, got %s", what, yt_got(v, g, sizeof g));
    *n = v->n / 2;
    *set = calloc((size_t)*n + 1, sizeof **set);
    *vals = calloc((size_t)*n + 1, sizeof **vals);
    if (!*set || !*vals) return yt_fail(&x->y, NULL, "out of memory");
    for (int i = 0; i < *n; i++) {
        if (check_dotted(x, v->kid[2 * i])) return -1;
        if (yt_flow(v->kid[2 * i + 1], (*vals)[i], VAL_MAX))
            return yt_fail(&x->y, v->kid[2 * i + 1], "%s: a value longer than %d characters", what, VAL_MAX);
        (*set)[i] = (nnl_override){v->kid[2 * i]->text, (*vals)[i]};
    }
    return 0;
}

static int read_variants(exp_ctx *x, const node *seq) {
    static const char *const vkeys[] = {"name", "set"};
    char g[80], c[64];
    if (seq->type != N_SEQ || !seq->n)
        return yt_fail(&x->y, seq, "variants: expected a list of {name: ..., set: {key: value, ...}}, got %s",
                       yt_got(seq, g, sizeof g));
    if (seq->n > MAX_VARIANTS) return yt_fail(&x->y, seq, "variants: more than %d", MAX_VARIANTS);
    for (int i = 0; i < seq->n; i++) {
        const node *m = seq->kid[i];
        variant *v = &x->var[x->nvar++];
        v->at = m;
        if (m->type != N_MAP) return yt_fail(&x->y, m, "variants: expected {name: ..., set: {...}}, got %s", yt_got(m, g, sizeof g));
        for (int k = 0; k + 1 < m->n; k += 2)
            if (strcmp(m->kid[k]->text, "name") && strcmp(m->kid[k]->text, "set"))
                return unknown_key(x, m->kid[k], vkeys, 2, "in a variant");
        node *nm = yt_map_get(m, "name", NULL), *st = yt_map_get(m, "set", NULL);
        if (!nm || nm->type != N_SCALAR || !*nm->text || strlen(nm->text) >= sizeof v->name || strpbrk(nm->text, ",="))
            return yt_fail(&x->y, nm ? nm : m, "variants: each needs a name: a short word without ',' or '='");
        const char *why = nnl_name_problem(nm->text, sizeof v->name - 1);
        if (why) return yt_fail(&x->y, nm, "variants: name: %s", why);
        snprintf(v->name, sizeof v->name, "%s", nm->text);
        for (int j = 0; j < i; j++)
            if (!strcmp(x->var[j].name, v->name))
                return yt_fail(&x->y, nm, "variants: the name '%s' is used twice", yt_clip(v->name, c, sizeof c));
        if (st && !yt_is_null(st) && read_sets(x, st, "variants: set", &v->set, &v->vals, &v->nset)) return -1;
    }
    return 0;
}

/* what run names call a key: its last part, unless two keys share it */
static void short_names(exp_ctx *x) {
    axis *all[2 * NNL_MAX_GRID];
    int n = 0;
    for (int i = 0; i < x->ngrid; i++) all[n++] = &x->grid[i];
    for (int i = 0; i < x->nrnd; i++) all[n++] = &x->rnd[i];
    for (int i = 0; i < n; i++) {
        const char *dot = strrchr(all[i]->key, '.');
        const char *last = dot ? dot + 1 : all[i]->key;
        int clash = !strcmp(last, "seed");
        for (int j = 0; j < n; j++) {
            const char *d2 = strrchr(all[j]->key, '.');
            if (j != i && !strcmp(d2 ? d2 + 1 : all[j]->key, last)) clash = 1;
        }
        snprintf(all[i]->shortname, sizeof all[i]->shortname, "%s", clash ? all[i]->key : last);
    }
}

static void exp_free(exp_ctx *x) {
    for (int i = 0; i < x->ngrid; i++) { free(x->grid[i].vals); free(x->grid[i].valnode); }
    for (int i = 0; i < x->nrnd; i++) { free(x->rnd[i].vals); free(x->rnd[i].valnode); }
    free(x->set);
    free(x->setvals);
    for (int i = 0; i < x->nvar; i++) { free(x->var[i].set); free(x->var[i].vals); }
}

void nnl_plan_free(nnl_plan *p) {
    free(p->runs);
    p->runs = NULL;
    p->nruns = 0;
}

/* Loads one run: base + set + these values + seed + the command line's. An
 * error in one of the values is reported at its place in the file. */
static int load_run(exp_ctx *x, nnl_plan *plan, nnl_planned_run *r, const variant *var, const axis **ax,
                    const char (*vals)[VAL_MAX], const node **at, int nv, uint64_t seed,
                    const nnl_override *ov, int nov) {
    enum { MAXOV = 512 };
    nnl_override all[MAXOV];
    char seedtxt[32], e[768];
    int n = 0;
    int nvar = var ? var->nset : 0;
    if (x->nset + nvar + nv + 1 + nov > MAXOV) return yt_fail(&x->y, NULL, "too many overrides (more than %d)", MAXOV);
    for (int i = 0; i < x->nset; i++) all[n++] = x->set[i];
    for (int i = 0; i < nvar; i++) all[n++] = var->set[i];
    for (int i = 0; i < nv; i++) all[n++] = (nnl_override){ax[i]->key, vals[i]};
    snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)seed);
    all[n++] = (nnl_override){"train.seed", seedtxt};
    for (int i = 0; i < nov; i++) all[n++] = ov[i];
    if (nnl_config_load(plan->base, all, n, &r->cfg, e, sizeof e) == 0) return 0;
    /* "--set KEY=VALUE: message" from one of ours: point at it in the file */
    for (int i = 0; i < nv; i++) {
        char label[VAL_MAX + 80];
        snprintf(label, sizeof label, "--set %s=", ax[i]->key);
        if (!strncmp(e, label, strlen(label))) {
            const char *msg = strstr(e, ": ");
            return yt_fail(&x->y, at[i], "%s: %s=%s: %s", ax[i]->kind == D_GRID ? "grid" : "random", ax[i]->key,
                           vals[i], msg ? msg + 2 : e);
        }
    }
    for (int i = 0; i < nvar; i++) {
        char label[VAL_MAX + 80];
        snprintf(label, sizeof label, "--set %s=", var->set[i].key);
        if (!strncmp(e, label, strlen(label))) {
            const char *msg = strstr(e, ": ");
            return yt_fail(&x->y, var->at, "variant %s: %s: %s", var->name, var->set[i].key, msg ? msg + 2 : e);
        }
    }
    for (int i = 0; i < x->nset; i++) {
        char label[VAL_MAX + 80];
        snprintf(label, sizeof label, "--set %s=", x->set[i].key);
        if (!strncmp(e, label, strlen(label))) {
            const char *msg = strstr(e, ": ");
            return yt_fail(&x->y, NULL, "set: %s: %s", x->set[i].key, msg ? msg + 2 : e);
        }
    }
    return yt_fail(&x->y, NULL, "run %s: %s", r->name, e);
}

static void name_run(nnl_planned_run *r, const variant *var, const axis **ax, const char (*vals)[VAL_MAX], int nv,
                     uint64_t seed) {
    size_t o = 0;
    r->point[0] = 0;
    if (var) o += (size_t)snprintf(r->point, sizeof r->point, "variant=%s", var->name);
    for (int i = 0; i < nv && o < sizeof r->point; i++)
        o += (size_t)snprintf(r->point + o, sizeof r->point - o, "%s%s=%s", o ? "," : "", ax[i]->shortname, vals[i]);
    snprintf(r->name, sizeof r->name, "%s%sseed=%llu", r->point, r->point[0] ? "," : "", (unsigned long long)seed);
}

/* One point of the plan (a variant and values of its keys), once per seed. */
static int add_point(exp_ctx *x, nnl_plan *plan, const variant *var, const axis **ax, const char (*vals)[VAL_MAX],
                     const node **at, int nv, const nnl_override *ov, int nov) {
    for (int s = 0; s < x->nseeds; s++) {
        nnl_planned_run *r = &plan->runs[plan->nruns];
        r->seed = x->seeds[s];
        name_run(r, var, ax, vals, nv, r->seed);
        if (load_run(x, plan, r, var, ax, vals, at, nv, r->seed, ov, nov)) return -1;
        nnl_config_key(&r->cfg, r->key);
        plan->nruns++;
    }
    return 0;
}

static int expand(exp_ctx *x, nnl_plan *plan, const nnl_override *ov, int nov) {
    size_t points = 1, total;
    for (int i = 0; i < x->ngrid; i++) {
        points *= (size_t)x->grid[i].nvals;
        if (points > NNL_MAX_PLAN) break;
    }
    if (!x->ngrid && x->samples) points = 0; /* random search alone */
    size_t nvar = x->nvar ? (size_t)x->nvar : 1;
    total = (points + (size_t)x->samples) * (size_t)x->nseeds * nvar;
    if (points > NNL_MAX_PLAN || total > NNL_MAX_PLAN)
        return yt_fail(&x->y, NULL, "the plan has more than %d runs: make the grid smaller", NNL_MAX_PLAN);
    if (!total) return yt_fail(&x->y, NULL, "the plan is empty: give variants, a grid, random samples or seeds");
    plan->runs = calloc(total, sizeof *plan->runs);
    if (!plan->runs) return yt_fail(&x->y, NULL, "out of memory for %zu runs", total);
    const axis *ax[2 * NNL_MAX_GRID];
    const node *at[2 * NNL_MAX_GRID];
    char (*vals)[VAL_MAX] = calloc(2 * NNL_MAX_GRID, VAL_MAX);
    if (!vals) return yt_fail(&x->y, NULL, "out of memory");
    int rc = 0;
    for (size_t vi = 0; vi < nvar && !rc; vi++) {
    const variant *var = x->nvar ? &x->var[vi] : NULL;
    int idx[NNL_MAX_GRID] = {0};
    for (size_t p = 0; p < points && !rc; p++) {
        for (int i = 0; i < x->ngrid; i++) {
            ax[i] = &x->grid[i];
            at[i] = x->grid[i].valnode[idx[i]];
            memcpy(vals[i], x->grid[i].vals[idx[i]], VAL_MAX);
        }
        rc = add_point(x, plan, var, ax, (const char (*)[VAL_MAX])vals, at, x->ngrid, ov, nov);
        for (int i = x->ngrid - 1; i >= 0; i--) { /* the odometer: the last key turns fastest */
            if (++idx[i] < x->grid[i].nvals) break;
            idx[i] = 0;
        }
    }
    nn_rng rng;
    nn_rng_seed(&rng, plan->random_seed); /* the same samples for every variant */
    for (int smp = 0; smp < x->samples && !rc; smp++) {
        for (int i = 0; i < x->nrnd; i++) {
            axis *a = &x->rnd[i];
            ax[i] = a;
            at[i] = a->at;
            double u = (double)(nn_rng_next(&rng) >> 11) * 0x1.0p-53;
            switch (a->kind) {
            case D_CHOICE: {
                int k = (int)nn_rng_below(&rng, (uint32_t)a->nvals);
                memcpy(vals[i], a->vals[k], VAL_MAX);
                at[i] = a->valnode[k];
                break;
            }
            case D_UNIFORM: snprintf(vals[i], VAL_MAX, "%.4g", a->lo + u * (a->hi - a->lo)); break;
            case D_LOGUNIFORM: snprintf(vals[i], VAL_MAX, "%.4g", exp(log(a->lo) + u * (log(a->hi) - log(a->lo)))); break;
            default: snprintf(vals[i], VAL_MAX, "%.0f", a->lo + nn_rng_below(&rng, (uint32_t)(a->hi - a->lo + 1))); break;
            }
        }
        rc = add_point(x, plan, var, ax, (const char (*)[VAL_MAX])vals, at, x->nrnd, ov, nov);
    }
    }
    free(vals);
    /* two points that resolve to one config would be one run twice */
    for (int i = 0; !rc && i < plan->nruns; i++)
        for (int j = i + 1; j < plan->nruns && j < i + 4096; j++)
            if (!strcmp(plan->runs[i].key, plan->runs[j].key))
                return yt_fail(&x->y, NULL, "runs %s and %s have the same config (the same key %s)",
                               plan->runs[i].name, plan->runs[j].name, plan->runs[i].key);
    return rc;
}

int nnl_plan_load(const char *path, const nnl_override *ov, int nov, nnl_plan *plan,
                  char *err, size_t errlen) {
    exp_ctx x = {.y = {.file = path ? path : "<experiment>", .err = err, .errlen = errlen}};
    node *root = NULL;
    char *buf = NULL, g[80];
    size_t len;
    int rc = -1;
    memset(plan, 0, sizeof *plan);
    if (err && errlen) err[0] = 0;
    if (!path) return yt_fail(&x.y, NULL, "no experiment file given");
    snprintf(plan->path, sizeof plan->path, "%s", path);
    if (yt_read_file(&x.y, path, &buf, &len) || yt_parse_yaml(&x.y, path, 1, buf, len, &root)) goto out;
    if (!root || yt_is_null(root)) { yt_fail(&x.y, NULL, "the experiment is empty: it needs at least base and grid"); goto out; }
    if (root->type != N_MAP) { yt_fail(&x.y, root, "the top level must be a mapping (name, base, grid, seeds...), got %s", yt_got(root, g, sizeof g)); goto out; }
    if (yt_check_dups(&x.y, root, "")) goto out;
    for (int i = 0; i + 1 < root->n; i += 2) {
        int ok = 0;
        for (size_t j = 0; j < sizeof top_keys / sizeof *top_keys; j++) ok |= !strcmp(root->kid[i]->text, top_keys[j]);
        if (!ok) { unknown_key(&x, root->kid[i], top_keys, (int)(sizeof top_keys / sizeof *top_keys), "at the top level of an experiment"); goto out; }
    }
    node *v, *k;
    /* name: default the file's base name */
    if ((v = yt_map_get(root, "name", NULL)) && !yt_is_null(v)) {
        if (v->type != N_SCALAR || !*v->text || strlen(v->text) >= sizeof plan->name) { yt_fail(&x.y, v, "name: expected a short word, got %s", yt_got(v, g, sizeof g)); goto out; }
        const char *why = nnl_name_problem(v->text, sizeof plan->name - 1);
        if (why) { yt_fail(&x.y, v, "name: %s", why); goto out; }
        snprintf(plan->name, sizeof plan->name, "%s", v->text);
    } else {
        nnl_name_from_file(path, "experiment", plan->name, sizeof plan->name);
    }
    if (!(v = yt_map_get(root, "base", &k)) || v->type != N_SCALAR || !*v->text) {
        yt_fail(&x.y, v ? v : root, "base: expected the path of a config file (relative to this file), got %s",
                v ? yt_got(v, g, sizeof g) : "nothing");
        goto out;
    }
    if (v->text[0] == '/') snprintf(plan->base, sizeof plan->base, "%s", v->text);
    else {
        char tmp[NNL_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(plan->base, sizeof plan->base, "%s/%s", dirname(tmp), v->text);
    }
    x.base_at = v;
    struct stat bst;
    if (stat(plan->base, &bst)) { yt_fail(&x.y, v, "base: %s: %s", plan->base, strerror(errno)); goto out; }
    if (!S_ISREG(bst.st_mode)) {
        yt_fail(&x.y, v, "base: %s: %s", plan->base, S_ISDIR(bst.st_mode) ? "is a directory, not a config file" : "not a regular file");
        goto out;
    }
    if ((v = yt_map_get(root, "set", NULL)) && !yt_is_null(v) && read_sets(&x, v, "set", &x.set, &x.setvals, &x.nset))
        goto out;
    if ((v = yt_map_get(root, "variants", NULL)) && !yt_is_null(v) && read_variants(&x, v)) goto out;
    if ((v = yt_map_get(root, "grid", NULL)) && !yt_is_null(v) && read_grid(&x, v)) goto out;
    if ((v = yt_map_get(root, "random", NULL)) && !yt_is_null(v)) {
        if (read_random(&x, v)) goto out;
        node *sv = yt_map_get(v, "seed", NULL);
        if (sv && read_scalar_u64(&x, sv, "random.seed", UINT64_MAX, &plan->random_seed)) goto out;
    }
    /* the base config with this file's set:, alone: its own errors point at
     * base: (or at the set: line), before any run mixes in grid values */
    nnl_config base;
    char berr[768];
    if (nnl_config_load(plan->base, x.set, x.nset, &base, berr, sizeof berr)) {
        if (!strncmp(berr, "--set ", 6)) yt_fail(&x.y, yt_map_get(root, "set", NULL), "set: %s", berr + 6);
        else yt_fail(&x.y, x.base_at, "base: %s", berr);
        goto out;
    }
    if ((v = yt_map_get(root, "seeds", NULL)) && !yt_is_null(v)) {
        if (v->type != N_SEQ || !v->n || v->n > 1024) { yt_fail(&x.y, v, "seeds: expected a list of 1 to 1024 whole numbers, got %s", yt_got(v, g, sizeof g)); goto out; }
        for (int i = 0; i < v->n; i++) {
            if (read_scalar_u64(&x, v->kid[i], "seeds", UINT64_MAX, &x.seeds[i])) goto out;
            for (int j = 0; j < i; j++)
                if (x.seeds[j] == x.seeds[i]) { yt_fail(&x.y, v->kid[i], "seeds: %llu is listed twice", (unsigned long long)x.seeds[i]); goto out; }
        }
        x.nseeds = v->n;
    } else {
        /* no seeds: each run once, with the base config's seed */
        x.seeds[0] = base.seed;
        x.nseeds = 1;
    }
    if ((v = yt_map_get(root, "prune", NULL)) && !yt_is_null(v)) {
        node *ae = v->type == N_MAP ? yt_map_get(v, "after_epoch", NULL) : NULL;
        uint64_t e;
        if (!ae || v->n != 2) { yt_fail(&x.y, v, "prune: expected {after_epoch: E}, the first epoch at which the median pruner judges"); goto out; }
        if (read_scalar_u64(&x, ae, "prune.after_epoch", 100000, &e)) goto out;
        if (!e) { yt_fail(&x.y, ae, "prune.after_epoch: must be at least 1"); goto out; }
        plan->prune_after = (int)e;
    }
    short_names(&x);
    rc = expand(&x, plan, ov, nov);
out:
    if (rc) nnl_plan_free(plan);
    exp_free(&x);
    yt_node_free(root);
    free(buf);
    return rc;
}
