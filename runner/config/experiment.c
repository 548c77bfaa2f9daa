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

#define VAL_MAX NNL_VAL_MAX

typedef enum { D_GRID, D_CHOICE, D_UNIFORM, D_LOGUNIFORM, D_INT } dist_kind;

/* One swept key: its values (grid, choice) or its range (uniform...). */
typedef struct {
    const node *at;         /* the key in the file, for messages */
    const char *key;        /* dotted config key */
    char shortname[64];     /* what run names call it */
    dist_kind kind;
    const char *section;    /* "grid", "random" or "tpe", for messages */
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
    axis grid[NNL_MAX_GRID], rnd[NNL_MAX_GRID], tpe[NNL_MAX_GRID];
    int ngrid, nrnd, ntpe, samples, nseeds;
    uint64_t seeds[1024];
    uint64_t rsearch[NNL_MAX_SEARCHES];     /* random: seed (one or a list) */
    int nrsearch;
    nnl_tpe_plan t;                          /* tpe: settings, when ntpe */
    const node *tpe_at;
    nnl_override *set;      /* the experiment's own overrides */
    char (*setvals)[VAL_MAX];
    int nset;
    const node *base_at;    /* the base: value, where errors of the base config point */
} exp_ctx;

static const char *const top_keys[] = {"name", "base", "set", "variants", "grid", "seeds", "random", "tpe", "prune"};
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
        a->section = "grid";
        if (check_dotted(x, a->at) || add_values(x, a, m->kid[i + 1], "grid")) return -1;
    }
    return 0;
}

/* seed: N or seed: [N, ...]: one search per seed */
static int read_search_seeds(exp_ctx *x, const node *v, const char *what, uint64_t *out, int *n) {
    char g[80];
    if (v->type == N_SCALAR) { *n = 1; return read_scalar_u64(x, v, what, UINT64_MAX, &out[0]); }
    if (v->type != N_SEQ || !v->n || v->n > NNL_MAX_SEARCHES)
        return yt_fail(&x->y, v, "%s: expected a whole number or a list of 1 to %d of them, got %s", what,
                       NNL_MAX_SEARCHES, yt_got(v, g, sizeof g));
    for (int i = 0; i < v->n; i++) {
        if (read_scalar_u64(x, v->kid[i], what, UINT64_MAX, &out[i])) return -1;
        for (int j = 0; j < i; j++)
            if (out[j] == out[i])
                return yt_fail(&x->y, v->kid[i], "%s: %llu is listed twice", what, (unsigned long long)out[i]);
    }
    *n = v->n;
    return 0;
}

/* A random: or tpe: block: samples, its own settings (names in own, values
 * read by the caller), and the searched keys with their distributions. */
static int read_search(exp_ctx *x, const node *m, const char *section, const char *const *own, int nown, axis *ax,
                       int *nax, int *samples) {
    char g[80], what[160];
    if (m->type != N_MAP) return yt_fail(&x->y, m, "%s: expected a mapping, got %s", section, yt_got(m, g, sizeof g));
    node *sn = yt_map_get(m, "samples", NULL);
    uint64_t u;
    snprintf(what, sizeof what, "%s.samples", section);
    if (!sn) return yt_fail(&x->y, m, "%s: needs 'samples: N' (how many runs to draw)", section);
    if (read_scalar_u64(x, sn, what, NNL_MAX_PLAN, &u)) return -1;
    if (!u) return yt_fail(&x->y, sn, "%s: must be at least 1", what);
    *samples = (int)u;
    for (int i = 0; i + 1 < m->n; i += 2) {
        const node *k = m->kid[i], *v = m->kid[i + 1];
        int mine = 0;
        for (int j = 0; j < nown; j++) mine |= !strcmp(k->text, own[j]);
        if (mine) continue;
        if (!strchr(k->text, '.')) { /* a misspelt setting, not a config key */
            char c[64], list[256];
            const char *near = yt_closest(k->text, own, nown);
            yt_join(list, sizeof list, own, nown);
            if (near)
                return yt_fail(&x->y, k, "%s: unknown setting '%s' (did you mean '%s'? a searched key is a dotted "
                               "config key like train.lr)", section, yt_clip(k->text, c, sizeof c), near);
            return yt_fail(&x->y, k, "%s: unknown setting '%s' (expected %s, or a dotted config key like train.lr)",
                           section, yt_clip(k->text, c, sizeof c), list);
        }
        if (*nax == NNL_MAX_GRID) return yt_fail(&x->y, k, "%s: more than %d keys", section, NNL_MAX_GRID);
        axis *a = &ax[(*nax)++];
        a->at = k;
        a->key = k->text;
        a->section = section;
        if (check_dotted(x, k)) return -1;
        snprintf(what, sizeof what, "%s: %s", section, a->key);
        if (v->type != N_MAP || v->n != 2)
            return yt_fail(&x->y, v, "%s: expected one distribution, like {loguniform: [1e-4, 1e-2]} or "
                           "{choice: [64, 128]}", what);
        const node *dk = v->kid[0], *dv = v->kid[1];
        int d = -1;
        for (int j = 0; j < 4; j++) if (!strcmp(dk->text, dist_names[j])) d = j;
        if (d < 0) return unknown_key(x, dk, dist_names, 4, "as a distribution");
        a->kind = (dist_kind)(D_CHOICE + d);
        if (a->kind == D_CHOICE) { if (add_values(x, a, dv, section)) return -1; continue; }
        if (dv->type != N_SEQ || dv->n != 2)
            return yt_fail(&x->y, dv, "%s: %s: expected [low, high], got %s", what, dk->text, yt_got(dv, g, sizeof g));
        if (read_number(x, dv->kid[0], what, &a->lo) || read_number(x, dv->kid[1], what, &a->hi)) return -1;
        if (!(a->lo <= a->hi)) return yt_fail(&x->y, dv, "%s: low %g is above high %g", what, a->lo, a->hi);
        if (a->kind == D_LOGUNIFORM && a->lo <= 0)
            return yt_fail(&x->y, dv, "%s: loguniform needs a low above 0, got %g", what, a->lo);
        if (a->kind == D_INT && (a->lo != floor(a->lo) || a->hi != floor(a->hi) || a->hi - a->lo > 1e9))
            return yt_fail(&x->y, dv, "%s: int needs whole numbers [low, high]", what);
    }
    if (!*nax) return yt_fail(&x->y, m, "%s: no key to search: add one like 'train.lr: {loguniform: [1e-4, 1e-2]}'",
                              section);
    return 0;
}

static int read_random(exp_ctx *x, const node *m) {
    static const char *const own[] = {"samples", "seed"};
    if (read_search(x, m, "random", own, 2, x->rnd, &x->nrnd, &x->samples)) return -1;
    node *sv = yt_map_get(m, "seed", NULL);
    x->nrsearch = 1;
    return sv ? read_search_seeds(x, sv, "random.seed", x->rsearch, &x->nrsearch) : 0;
}

/* a whole number setting of a block, from lo to hi, or def when absent */
static int read_setting(exp_ctx *x, const node *m, const char *key, const char *what, int lo, int hi, int def,
                        int *out) {
    node *v = yt_map_get(m, key, NULL);
    uint64_t u;
    *out = def;
    if (!v) return 0;
    if (read_scalar_u64(x, v, what, (uint64_t)hi, &u)) return -1;
    if ((int)u < lo) return yt_fail(&x->y, v, "%s: must be at least %d", what, lo);
    *out = (int)u;
    return 0;
}

static int read_tpe(exp_ctx *x, const node *m) {
    static const char *const own[] = {"samples", "batch", "startup", "seed"};
    nnl_tpe_plan *t = &x->t;
    x->tpe_at = m;
    if (read_search(x, m, "tpe", own, 4, x->tpe, &x->ntpe, &t->samples)) return -1;
    /* Optuna's defaults: one at a time, 10 random trials first */
    if (read_setting(x, m, "batch", "tpe.batch", 1, NNL_MAX_PLAN, 1, &t->batch) ||
        read_setting(x, m, "startup", "tpe.startup", 0, NNL_MAX_PLAN, 10, &t->startup))
        return -1;
    node *sv = yt_map_get(m, "seed", NULL);
    t->nsearch = 1;
    return sv ? read_search_seeds(x, sv, "tpe.seed", t->search, &t->nsearch) : 0;
}

/* prune: {after_epoch: E} or {type: median, after_epoch: E}, or
 * {type: halving, min_epochs: M, eta: N} */
static int read_prune(exp_ctx *x, const node *v, nnl_plan *plan) {
    static const char *const types[] = {"median", "halving"};
    static const char *const median_keys[] = {"type", "after_epoch"};
    static const char *const halving_keys[] = {"type", "min_epochs", "eta"};
    char g[80];
    if (v->type != N_MAP)
        return yt_fail(&x->y, v, "prune: expected {after_epoch: E} (the median pruner) or {type: halving, "
                       "min_epochs: M, eta: N}, got %s", yt_got(v, g, sizeof g));
    node *tn = yt_map_get(v, "type", NULL);
    int halving = 0;
    if (tn) {
        if (tn->type != N_SCALAR || (strcmp(tn->text, types[0]) && strcmp(tn->text, types[1])))
            return yt_fail(&x->y, tn, "prune.type: expected median or halving, got %s", yt_got(tn, g, sizeof g));
        halving = !strcmp(tn->text, "halving");
    }
    const char *const *keys = halving ? halving_keys : median_keys;
    int nkeys = halving ? 3 : 2;
    for (int i = 0; i + 1 < v->n; i += 2) {
        int ok = 0;
        for (int j = 0; j < nkeys; j++) ok |= !strcmp(v->kid[i]->text, keys[j]);
        if (!ok) return unknown_key(x, v->kid[i], keys, nkeys, halving ? "in a halving pruner" : "in a median pruner");
    }
    if (!halving) {
        node *ae = yt_map_get(v, "after_epoch", NULL);
        if (!ae) return yt_fail(&x->y, v, "prune: the median pruner needs after_epoch: E, the first epoch it judges at");
        if (read_setting(x, v, "after_epoch", "prune.after_epoch", 1, 100000, 0, &plan->prune_after)) return -1;
        plan->prune = NNL_PRUNE_MEDIAN;
        return 0;
    }
    if (!yt_map_get(v, "min_epochs", NULL) || !yt_map_get(v, "eta", NULL))
        return yt_fail(&x->y, v, "prune: successive halving needs min_epochs (the first rung) and eta (1/eta of the "
                       "runs go on at each rung), like {type: halving, min_epochs: 2, eta: 3}");
    if (read_setting(x, v, "min_epochs", "prune.min_epochs", 1, 100000, 0, &plan->halving_min) ||
        read_setting(x, v, "eta", "prune.eta", 2, 1000, 0, &plan->halving_eta))
        return -1;
    plan->prune = NNL_PRUNE_HALVING;
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
    for (int i = 0; i < x->ntpe; i++) all[n++] = &x->tpe[i];
    for (int i = 0; i < n; i++) {
        const char *dot = strrchr(all[i]->key, '.');
        const char *last = dot ? dot + 1 : all[i]->key;
        int clash = !strcmp(last, "seed");
        for (int j = 0; j < n; j++) {
            const char *d2 = strrchr(all[j]->key, '.');
            /* a random: and a tpe: block may search the same key */
            if (j != i && !strcmp(d2 ? d2 + 1 : all[j]->key, last) && strcmp(all[j]->key, all[i]->key)) clash = 1;
        }
        snprintf(all[i]->shortname, sizeof all[i]->shortname, "%s", clash ? all[i]->key : last);
    }
}

static void exp_free(exp_ctx *x) {
    for (int i = 0; i < x->ngrid; i++) { free(x->grid[i].vals); free(x->grid[i].valnode); }
    for (int i = 0; i < x->nrnd; i++) { free(x->rnd[i].vals); free(x->rnd[i].valnode); }
    for (int i = 0; i < x->ntpe; i++) { free(x->tpe[i].vals); free(x->tpe[i].valnode); }
    free(x->set);
    free(x->setvals);
    for (int i = 0; i < x->nvar; i++) { free(x->var[i].set); free(x->var[i].vals); }
}

void nnl_plan_free(nnl_plan *p) {
    if (p->tpe) {
        for (int i = 0; i < p->tpe->nkeys; i++) free(p->tpe->keys[i].vals);
        free(p->tpe->fixed);
        free(p->tpe->text);
        free(p->tpe);
        p->tpe = NULL;
    }
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
            return yt_fail(&x->y, at[i], "%s: %s=%s: %s", ax[i]->section, ax[i]->key,
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
                     const node **at, int nv, const nnl_override *ov, int nov, const char *method, uint64_t search,
                     int trial) {
    for (int s = 0; s < x->nseeds; s++) {
        nnl_planned_run *r = &plan->runs[plan->nruns];
        r->seed = x->seeds[s];
        r->ordinal = plan->nruns;
        r->method = method;
        r->search = search;
        r->trial = trial;
        r->batch = -1;
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
    if (!x->ngrid && (x->samples || x->ntpe)) points = 0; /* a search alone */
    size_t nvar = x->nvar ? (size_t)x->nvar : 1;
    size_t drawn = (size_t)x->samples * (size_t)x->nrsearch;
    total = (points + drawn) * (size_t)x->nseeds * nvar;
    if (x->ntpe) {
        if (x->nvar) return yt_fail(&x->y, x->tpe_at, "tpe: cannot be combined with variants: (give one search per "
                                    "experiment file)");
        if ((size_t)x->t.samples * (size_t)x->t.nsearch * (size_t)x->nseeds + total > NNL_MAX_PLAN)
            return yt_fail(&x->y, NULL, "the plan has more than %d runs: fewer tpe samples", NNL_MAX_PLAN);
        if (!total) total = 1; /* the runs come later, batch by batch */
    }
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
        rc = add_point(x, plan, var, ax, (const char (*)[VAL_MAX])vals, at, x->ngrid, ov, nov,
                       var ? "variants" : "grid", 0, -1);
        for (int i = x->ngrid - 1; i >= 0; i--) { /* the odometer: the last key turns fastest */
            if (++idx[i] < x->grid[i].nvals) break;
            idx[i] = 0;
        }
    }
    for (int srch = 0; srch < x->nrsearch && !rc; srch++) {
    nn_rng rng;
    nn_rng_seed(&rng, x->rsearch[srch]); /* the same samples for every variant */
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
        rc = add_point(x, plan, var, ax, (const char (*)[VAL_MAX])vals, at, x->nrnd, ov, nov, "random",
                       x->rsearch[srch], smp);
    }
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

static const char *kind_word(nnl_tpe_kind k) {
    static const char *const w[] = {"float", "log", "int", "choice"};
    return w[k];
}

static void keys_text(char *out, size_t n, const char *const *keys, const nnl_tpe_kind *kinds, int nk) {
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < nk && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s:%s", i ? "," : "", keys[i], kind_word(kinds[i]));
}

int nnl_plan_max_runs(const nnl_plan *plan) {
    const nnl_tpe_plan *t = plan->tpe;
    return plan->nruns + (t ? t->nsearch * t->samples * t->nseeds : 0);
}

const nnl_config *nnl_plan_any_config(const nnl_plan *plan) {
    return plan->nruns ? &plan->runs[0].cfg : &plan->tpe->probe;
}

void nnl_tpe_keys_text(const nnl_tpe_plan *t, char *out, size_t n) {
    const char *keys[NNL_MAX_GRID];
    nnl_tpe_kind kinds[NNL_MAX_GRID];
    for (int i = 0; i < t->nkeys; i++) { keys[i] = t->keys[i].key; kinds[i] = t->keys[i].dim.kind; }
    keys_text(out, n, keys, kinds, t->nkeys);
}

static nnl_tpe_kind tpe_kind(dist_kind k) {
    return k == D_CHOICE ? NNL_TPE_CHOICE : k == D_LOGUNIFORM ? NNL_TPE_LOG : k == D_INT ? NNL_TPE_INT : NNL_TPE_FLOAT;
}

/* a value of key k as a run is given it; NAN-free: vals are in range */
static void value_text(const nnl_search_key *k, double v, char *out, size_t n) {
    switch (k->dim.kind) {
    case NNL_TPE_CHOICE: snprintf(out, n, "%s", k->vals[(int)v]); break;
    case NNL_TPE_INT: snprintf(out, n, "%.0f", v); break;
    default:
        snprintf(out, n, "%.4g", v);
        /* 4 digits of a value beside a bound of more digits can pass it */
        double r = strtod(out, NULL);
        if (r < k->dim.lo || r > k->dim.hi) snprintf(out, n, "%.17g", r < k->dim.lo ? k->dim.lo : k->dim.hi);
    }
}

void nnl_tpe_round(const nnl_tpe_plan *t, double *vals) {
    char txt[64];
    for (int i = 0; i < t->nkeys; i++) {
        const nnl_search_key *k = &t->keys[i];
        if (k->dim.kind == NNL_TPE_CHOICE) continue;
        if (k->dim.kind == NNL_TPE_INT) { vals[i] = floor(vals[i] + 0.5); continue; }
        value_text(k, vals[i], txt, sizeof txt);
        vals[i] = strtod(txt, NULL);
    }
}

int nnl_plan_tpe_run(const nnl_plan *plan, int search, int trial, int batch, const double *vals, int seed,
                     nnl_planned_run *r, char *err, size_t errlen) {
    const nnl_tpe_plan *t = plan->tpe;
    enum { MAXOV = 512 };
    nnl_override all[MAXOV];
    char txt[NNL_MAX_GRID][VAL_MAX], seedtxt[32], e[768];
    int n = 0;
    if (t->nfixed + t->nkeys + 1 + t->nafter > MAXOV) { snprintf(err, errlen, "too many overrides"); return -1; }
    memset(r, 0, sizeof *r);
    r->seed = t->seeds[seed];
    r->method = "tpe";
    r->search = t->search[search];
    r->trial = trial;
    r->batch = batch;
    r->ordinal = plan->nruns + (search * t->samples + trial) * t->nseeds + seed;
    for (int i = 0; i < t->nfixed; i++) all[n++] = t->fixed[i];
    size_t o = 0;
    for (int i = 0; i < t->nkeys; i++) {
        value_text(&t->keys[i], vals[i], txt[i], sizeof txt[i]);
        all[n++] = (nnl_override){t->keys[i].key, txt[i]};
        if (o < sizeof r->point)
            o += (size_t)snprintf(r->point + o, sizeof r->point - o, "%s%s=%s", i ? "," : "", t->keys[i].shortname,
                                  txt[i]);
    }
    snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)r->seed);
    all[n++] = (nnl_override){"train.seed", seedtxt};
    for (int i = 0; i < t->nafter; i++) all[n++] = t->fixed[t->nfixed + i];
    snprintf(r->name, sizeof r->name, "%s,seed=%llu", r->point, (unsigned long long)r->seed);
    if (nnl_config_load(plan->base, all, n, &r->cfg, e, sizeof e)) {
        snprintf(err, errlen, "%s: tpe: suggestion %d of search %llu (%s): %s", plan->path, trial,
                 (unsigned long long)r->search, r->name, e);
        return -1;
    }
    nnl_config_key(&r->cfg, r->key);
    return 0;
}

/* plan->tpe from the tpe: block: the keys, and copies of the overrides
 * (the file's text goes away with the tree) */
static int build_tpe(exp_ctx *x, nnl_plan *plan, const nnl_override *ov, int nov) {
    nnl_tpe_plan *t = calloc(1, sizeof *t);
    if (!t) return yt_fail(&x->y, NULL, "out of memory");
    *t = x->t;
    plan->tpe = t;
    t->nkeys = x->ntpe;
    t->nseeds = x->nseeds;
    memcpy(t->seeds, x->seeds, sizeof t->seeds);
    if (t->startup > t->samples) t->startup = t->samples;
    for (int i = 0; i < x->ntpe; i++) {
        const axis *a = &x->tpe[i];
        nnl_search_key *k = &t->keys[i];
        snprintf(k->key, sizeof k->key, "%s", a->key);
        snprintf(k->shortname, sizeof k->shortname, "%s", a->shortname);
        k->dim = (nnl_tpe_dim){tpe_kind(a->kind), a->lo, a->hi, a->kind == D_CHOICE ? a->nvals : 0};
        if (a->kind == D_CHOICE) {
            k->vals = malloc(sizeof *k->vals * (size_t)a->nvals);
            if (!k->vals) return yt_fail(&x->y, NULL, "out of memory");
            memcpy(k->vals, a->vals, sizeof *k->vals * (size_t)a->nvals);
        }
    }
    size_t len = 0;
    for (int i = 0; i < x->nset; i++) len += strlen(x->set[i].key) + strlen(x->set[i].value) + 2;
    for (int i = 0; i < nov; i++) len += strlen(ov[i].key) + strlen(ov[i].value) + 2;
    t->nfixed = x->nset;
    t->nafter = nov;
    t->fixed = calloc((size_t)(x->nset + nov) + 1, sizeof *t->fixed);
    char *p = t->text = malloc(len + 1);
    if (!t->fixed || !p) return yt_fail(&x->y, NULL, "out of memory");
    for (int i = 0; i < x->nset + nov; i++) {
        const nnl_override *src = i < x->nset ? &x->set[i] : &ov[i - x->nset];
        size_t kl = strlen(src->key) + 1, vl = strlen(src->value) + 1;
        memcpy(p, src->key, kl);
        memcpy(p + kl, src->value, vl);
        t->fixed[i] = (nnl_override){p, p + kl};
        p += kl + vl;
    }
    /* the two ends of every range, and every choice, before anything runs: a
     * key that is no config key or a value out of its range is found here,
     * at its place in the file */
    const axis *ax[NNL_MAX_GRID];
    const node *at[NNL_MAX_GRID];
    char (*vals)[VAL_MAX] = calloc(NNL_MAX_GRID, VAL_MAX);
    nnl_planned_run *probe = calloc(1, sizeof *probe);
    int rc = !vals || !probe ? yt_fail(&x->y, NULL, "out of memory") : 0;
    int most = 2;
    for (int i = 0; i < x->ntpe; i++) if (x->tpe[i].kind == D_CHOICE && x->tpe[i].nvals > most) most = x->tpe[i].nvals;
    for (int end = 0; end < most && !rc; end++) {
        for (int i = 0; i < x->ntpe; i++) {
            const axis *a = &x->tpe[i];
            ax[i] = a;
            at[i] = a->at;
            if (a->kind == D_CHOICE) {
                int c = end < a->nvals ? end : a->nvals - 1;
                memcpy(vals[i], a->vals[c], VAL_MAX);
                at[i] = a->valnode[c];
            } else {
                value_text(&t->keys[i], end ? a->hi : a->lo, vals[i], VAL_MAX);
            }
        }
        snprintf(probe->name, sizeof probe->name, "tpe");
        rc = load_run(x, plan, probe, NULL, ax, (const char (*)[VAL_MAX])vals, at, x->ntpe, x->seeds[0], ov, nov);
        if (!end) t->probe = probe->cfg;
    }
    free(vals);
    free(probe);
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
        plan->random_seed = x.rsearch[0];
    }
    if ((v = yt_map_get(root, "tpe", NULL)) && !yt_is_null(v) && read_tpe(&x, v)) goto out;
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
        if (read_prune(&x, v, plan)) goto out;
        if (plan->prune == NNL_PRUNE_MEDIAN && x.ntpe) {
            yt_fail(&x.y, v, "prune: the median pruner judges a run by the runs that happened to finish before it, so "
                    "a tpe: search would not repeat with another -j; use {type: halving, min_epochs: M, eta: N}");
            goto out;
        }
        if (plan->prune == NNL_PRUNE_HALVING && plan->halving_min >= base.epochs) {
            yt_fail(&x.y, yt_map_get(v, "min_epochs", NULL), "prune.min_epochs: %d is not below train.epochs (%d): no "
                    "run would be judged", plan->halving_min, base.epochs);
            goto out;
        }
    }
    short_names(&x);
    rc = expand(&x, plan, ov, nov);
    if (!rc && x.ntpe) rc = build_tpe(&x, plan, ov, nov);
    if (!rc && x.nrnd) {
        const char *keys[NNL_MAX_GRID];
        nnl_tpe_kind kinds[NNL_MAX_GRID];
        for (int i = 0; i < x.nrnd; i++) { keys[i] = x.rnd[i].key; kinds[i] = tpe_kind(x.rnd[i].kind); }
        keys_text(plan->random_keys, sizeof plan->random_keys, keys, kinds, x.nrnd);
    }
out:
    if (rc) nnl_plan_free(plan);
    exp_free(&x);
    yt_node_free(root);
    free(buf);
    return rc;
}
