/* report_search.c -- the figures of a hyperparameter search: the runs whose
 * param sweep.method is random or tpe. Each sample of a search (one
 * sweep.trial of one sweep.search) is one point, its runs -- one per
 * training seed -- pooled; its accuracy is the mean best validation accuracy
 * of those that ran. The sweep records the searched keys and their
 * distributions in sweep.keys ("train.lr:log,train.batch_size:choice").
 *
 *   search-parallel  parallel coordinates: an axis per searched key (log10
 *                    of a log key, the index of a choice) and one for the
 *                    accuracy, each sample a line coloured by its accuracy
 *   search-keys      accuracy against each key, a panel each, by method
 *   search-best      the best accuracy so far against the runs spent, a line
 *                    per search and the mean of each method's searches;
 *                    with a second experiment, its searches overlaid
 *
 * Every name and value comes from a database that may be hostile: they reach
 * gnuplot only as quoted strings (rp_gp_quote) and the .dat files only in
 * comments (rp_dat_text); the .dat rows are numbers nnlab formats. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report_int.h"

/* --- loading ------------------------------------------------------------ */

typedef struct { int64_t id; char status[16]; double best; } srun;
typedef struct { srun *r; int n, cap, oom; } srun_list;

static int srun_add(const nnl_point_run *pr, void *ud) {
    srun_list *l = ud;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        srun *nr = realloc(l->r, sizeof *nr * (size_t)cap);
        if (!nr) return l->oom = 1;
        l->r = nr;
        l->cap = cap;
    }
    srun *r = &l->r[l->n++];
    r->id = pr->id;
    snprintf(r->status, sizeof r->status, "%s", pr->status);
    r->best = pr->best_val_acc;
    return 0;
}

/* the sweep.* params of one run */
typedef struct { char method[16], search[32], trial[32], keys[2048]; } sweep_params;

static void take_sweep(const char *key, const char *value, void *ud) {
    sweep_params *p = ud;
    if (!strcmp(key, "sweep.method")) snprintf(p->method, sizeof p->method, "%s", value);
    else if (!strcmp(key, "sweep.search")) snprintf(p->search, sizeof p->search, "%s", value);
    else if (!strcmp(key, "sweep.trial")) snprintf(p->trial, sizeof p->trial, "%s", value);
    else if (!strcmp(key, "sweep.keys")) snprintf(p->keys, sizeof p->keys, "%s", value);
}

typedef struct { const sdata *sd; spoint *pt; } value_take;

/* the values of the searched keys; the first run of a sample gives them
 * (its seeds share the sample) */
static void take_value(const char *key, const char *value, void *ud) {
    value_take *v = ud;
    for (int k = 0; k < v->sd->nkeys; k++)
        if (!strcmp(key, v->sd->keys[k].key) && !v->pt->val[k][0])
            snprintf(v->pt->val[k], sizeof v->pt->val[k], "%s", value);
}

/* a decimal whole number, nothing else */
static int parse_whole(const char *s, unsigned long long max, unsigned long long *v) {
    char *end;
    if (*s < '0' || *s > '9') return 0;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return !*end && !errno && *v <= max;
}

/* the start of a note on search-parallel and search-keys left out */
#define NO_KEY_FIGS "No parallel coordinates and no accuracy by key: "

/* sweep.keys of run into sd->keys, merged with those of earlier runs; 0, or
 * -1 with the sentence that says why in why */
static int parse_keys(sdata *sd, const char *text, int64_t run, char *why, size_t n) {
    static const char *const kinds[] = {"float", "log", "int", "choice"};
    for (const char *s = text; *s;) {
        int len = (int)strcspn(s, ","), kl = -1, kind = -1;
        for (int i = 0; i < len; i++)
            if (s[i] == ':') kl = i;
        for (int k = 0; kl > 0 && k < 4; k++)
            if ((int)strlen(kinds[k]) == len - kl - 1 && !strncmp(s + kl + 1, kinds[k], strlen(kinds[k]))) kind = k;
        if (kl >= (int)sizeof sd->keys[0].key) {
            snprintf(why, n, NO_KEY_FIGS "run %lld: sweep.keys: a key name is longer than %d bytes: %.*s",
                     (long long)run, (int)sizeof sd->keys[0].key - 1, kl, s);
            return -1;
        }
        if (kind < 0) {
            snprintf(why, n, NO_KEY_FIGS "run %lld: sweep.keys: '%.*s' is not KEY:KIND with KIND float, log, "
                     "int or choice", (long long)run, len, s);
            return -1;
        }
        int k = 0;
        while (k < sd->nkeys && (strncmp(sd->keys[k].key, s, (size_t)kl) || sd->keys[k].key[kl])) k++;
        if (k == sd->nkeys) {
            if (k == MAX_KEYS) {
                snprintf(why, n, NO_KEY_FIGS "run %lld searches more than %d keys", (long long)run,
                         MAX_KEYS);
                return -1;
            }
            snprintf(sd->keys[k].key, sizeof sd->keys[k].key, "%.*s", kl, s);
            sd->keys[k].kind = kind;
            sd->nkeys++;
        } else if (sd->keys[k].kind != kind) {
            snprintf(why, n, NO_KEY_FIGS "run %lld: sweep.keys: %s is searched as %s, earlier runs as %s",
                     (long long)run, sd->keys[k].key, kinds[kind], kinds[sd->keys[k].kind]);
            return -1;
        }
        s += len + (s[len] == ',');
    }
    return 0;
}

static spoint *point_get(sdata *sd, int exp, int method, unsigned long long search, int trial) {
    for (int i = 0; i < sd->np; i++) {
        spoint *p = &sd->p[i];
        if (p->exp == exp && p->method == method && p->search == search && p->trial == trial) return p;
    }
    if (sd->np == sd->cap) {
        int cap = sd->cap ? 2 * sd->cap : 64;
        spoint *np = realloc(sd->p, sizeof *np * (size_t)cap);
        if (!np) return NULL;
        sd->p = np;
        sd->cap = cap;
    }
    spoint *p = &sd->p[sd->np++];
    memset(p, 0, sizeof *p);
    p->exp = exp;
    p->method = method;
    p->search = search;
    p->trial = trial;
    return p;
}

/* A run has been spent once it ran to an end; an interrupted one will be
 * resumed, a queued or running one has not ended yet. */
static int spent(const char *status) {
    return !strcmp(status, "finished") || !strcmp(status, "pruned") || !strcmp(status, "diverged") ||
           !strcmp(status, "failed");
}

/* One run into sd: 0, 1 if it is no search run (or its sweep.* params are
 * damaged: counted in skipped), -1 on a store error or no memory. */
static int load_run(nnl_store *s, sdata *sd, int exp, const srun *r, char *why, size_t whylen, char *err,
                    size_t errlen) {
    sweep_params sp;
    memset(&sp, 0, sizeof sp);
    if (nnl_store_params_foreach(s, r->id, take_sweep, &sp, err, errlen)) return -1;
    int method = !strcmp(sp.method, "random") ? SM_RANDOM : !strcmp(sp.method, "tpe") ? SM_TPE : 0;
    if (!method) return 1;
    unsigned long long search, trial;
    if (!parse_whole(sp.search, ~0ULL, &search) || !parse_whole(sp.trial, 1000000000, &trial)) {
        sd->skipped++;
        return 1;
    }
    /* keys of experiment 0 only: a second experiment gives search-best alone */
    if (!exp && !why[0] && parse_keys(sd, sp.keys, r->id, why, whylen)) sd->nkeys = 0;
    spoint *p = point_get(sd, exp, method, search, (int)trial);
    if (!p) { rp_fail(err, errlen, 0, "out of memory"); return -1; }
    p->runs++;
    if (spent(r->status)) {
        p->spent++;
        rp_stat_add(&p->acc, 100 * r->best);
    }
    value_take v = {sd, p};
    if (!exp && nnl_store_params_foreach(s, r->id, take_value, &v, err, errlen)) return -1;
    return 0;
}

static int cmp_spoint(const void *a, const void *b) {
    const spoint *x = a, *y = b;
    if (x->exp != y->exp) return x->exp - y->exp;
    if (x->method != y->method) return x->method - y->method;
    if (x->search != y->search) return x->search < y->search ? -1 : 1;
    return x->trial - y->trial;
}

/* The values seen of each choice key, in rp_cmp_value order; 0, or -1 with why */
static int collect_choices(sdata *sd, char *why, size_t n) {
    for (int k = 0; k < sd->nkeys; k++) {
        skey *key = &sd->keys[k];
        if (key->kind != SK_CHOICE) continue;
        for (int i = 0; i < sd->np; i++) {
            const char *v = sd->p[i].val[k];
            if (sd->p[i].exp || !v[0]) continue;
            int j = 0;
            while (j < key->nchoice && strcmp(key->choice[j], v)) j++;
            if (j < key->nchoice) continue;
            if (key->nchoice == MAX_CHOICES) {
                snprintf(why, n, NO_KEY_FIGS "%s has more than %d values",
                         key->key, MAX_CHOICES);
                return -1;
            }
            /* insert in order */
            for (j = key->nchoice; j > 0 && rp_cmp_value(key->choice[j - 1], v) > 0; j--)
                memcpy(key->choice[j], key->choice[j - 1], sizeof key->choice[0]);
            snprintf(key->choice[j], sizeof key->choice[j], "%s", v);
            key->nchoice++;
        }
    }
    return 0;
}

int rp_search_load(nnl_store *s, const char *experiment, const char *compare_with, sdata *sd, char *why,
                   size_t whylen, char *err, size_t errlen) {
    memset(sd, 0, sizeof *sd);
    why[0] = 0;
    sd->exp_name[0] = experiment;
    sd->exp_name[1] = compare_with;
    sd->nexp = compare_with ? 2 : 1;
    for (int e = 0; e < sd->nexp; e++) {
        srun_list l = {0};
        int rc = nnl_store_points_foreach(s, sd->exp_name[e], srun_add, &l, err, errlen);
        if (l.oom) rp_fail(err, errlen, 0, "%s: reading runs of %s: out of memory", nnl_store_path(s),
                           sd->exp_name[e]);
        for (int i = 0; !rc && !l.oom && i < l.n; i++)
            rc = load_run(s, sd, e, &l.r[i], why, whylen, err, errlen) < 0;
        free(l.r);
        if (rc || l.oom) {
            rp_search_free(sd);
            return NNL_REPORT_EINPUT;
        }
    }
    if (sd->np) qsort(sd->p, (size_t)sd->np, sizeof *sd->p, cmp_spoint);
    if (!why[0] && collect_choices(sd, why, whylen)) sd->nkeys = 0;
    return 0;
}

void rp_search_free(sdata *sd) {
    free(sd->p);
    sd->p = NULL;
    sd->np = sd->cap = 0;
}

int rp_search_has_points(const sdata *sd) {
    for (int i = 0; sd->nkeys && i < sd->np; i++)
        if (!sd->p[i].exp && sd->p[i].acc.n) return 1;
    return 0;
}

/* --- the samples: search-parallel and search-keys ------------------------ */

static const char *const kind_names[] = {"float", "log", "int", "choice"};

/* Where a value sits on key k's axis: a choice's index, a log key's log10
 * when log10_axis (a log axis of gnuplot takes the value itself), a number
 * else; NaN for a value that is none of these. */
static double key_pos(const skey *k, const char *v, int log10_axis) {
    double x;
    if (k->kind == SK_CHOICE) {
        for (int i = 0; i < k->nchoice; i++)
            if (!strcmp(k->choice[i], v)) return i;
        return NAN;
    }
    if (!rp_parse_num(v, &x)) return NAN;
    if (k->kind == SK_LOG) return x > 0 ? (log10_axis ? log10(x) : x) : NAN;
    return x;
}

static void search_head(FILE *f, const char *file, const sdata *sd, const char *what) {
    char now[32];
    rp_utc_now(now, sizeof now);
    fprintf(f, "# %s -- nnlab report of experiment ", file);
    rp_dat_text(f, sd->exp_name[0]);
    if (sd->nexp > 1) {
        fputs(" and ", f);
        rp_dat_text(f, sd->exp_name[1]);
    }
    fprintf(f, ", %s:\n# %s\n", now, what);
}

/* The rows of the samples of experiment 0 that have an accuracy, each key's
 * position on its axis after them; the range of each column into lo, hi
 * (nkeys + 1 each, the accuracy last). Returns the rows written. */
static int put_samples(FILE *f, const sdata *sd, int log10_axis, double *lo, double *hi) {
    fputs("# keys (k1, k2, ...):", f);
    for (int k = 0; k < sd->nkeys; k++) {
        const skey *key = &sd->keys[k];
        fprintf(f, "%s k%d ", k ? "," : "", k + 1);
        rp_dat_text(f, key->key);
        fprintf(f, " (%s%s", kind_names[key->kind], key->kind == SK_LOG && log10_axis ? ", log10 of the value" : "");
        for (int i = 0; i < key->nchoice; i++) {
            fprintf(f, "%s%d = ", i ? ", " : ": ", i);
            rp_dat_text(f, key->choice[i]);
        }
        fputc(')', f);
    }
    fputs("\n# method: 1 random, 2 tpe; search: the search seed; runs: the sample's runs that ran;\n"
          "# acc: their mean best validation accuracy (%); NaN: a value that is not a number of its kind\n"
          "# method search trial runs acc", f);
    for (int k = 0; k < sd->nkeys; k++) fprintf(f, " k%d", k + 1);
    fputc('\n', f);
    for (int k = 0; k <= sd->nkeys; k++) { lo[k] = INFINITY; hi[k] = -INFINITY; }
    int rows = 0;
    for (int i = 0; i < sd->np; i++) {
        const spoint *p = &sd->p[i];
        if (p->exp || !p->acc.n) continue;
        double acc = rp_stat_mean(&p->acc);
        fprintf(f, "%d %llu %d %d ", p->method, p->search, p->trial, p->spent);
        rp_put_num(f, acc);
        lo[sd->nkeys] = fmin(lo[sd->nkeys], acc);
        hi[sd->nkeys] = fmax(hi[sd->nkeys], acc);
        for (int k = 0; k < sd->nkeys; k++) {
            double x = key_pos(&sd->keys[k], p->val[k], log10_axis);
            fputc(' ', f);
            rp_put_num(f, x);
            if (isfinite(x)) { lo[k] = fmin(lo[k], x); hi[k] = fmax(hi[k], x); }
        }
        fputc('\n', f);
        rows++;
    }
    return rows;
}

/* what the templates read of each key: its kind and its choices' labels */
static void put_key_values(FILE *m, const sdata *sd, int naxes) {
    int total = 0;
    fprintf(m, "array axis_kind[%d] = [", naxes);
    for (int k = 0; k < naxes; k++)
        fprintf(m, "%d%s", k < sd->nkeys ? sd->keys[k].kind : 4, k + 1 < naxes ? ", " : "]\n");
    fprintf(m, "array choice_first[%d] = [", naxes);
    for (int k = 0; k < naxes; k++) {
        fprintf(m, "%d%s", total + 1, k + 1 < naxes ? ", " : "]\n");
        if (k < sd->nkeys) total += sd->keys[k].nchoice;
    }
    fprintf(m, "array choice_count[%d] = [", naxes);
    for (int k = 0; k < naxes; k++)
        fprintf(m, "%d%s", k < sd->nkeys ? sd->keys[k].nchoice : 0, k + 1 < naxes ? ", " : "]\n");
    /* gnuplot has no empty array: one unused label when no key is a choice */
    fprintf(m, "array choice_label[%d] = [", total ? total : 1);
    if (!total) fputs("\"\"]\n", m);
    for (int k = 0, n = 0; k < sd->nkeys; k++)
        for (int i = 0; i < sd->keys[k].nchoice; i++) {
            rp_gp_quote_tic(m, sd->keys[k].choice[i]);
            fputs(++n < total ? ", " : "]\n", m);
        }
}

/* the methods present among experiment 0's samples, for a legend that lists only those */
static void put_methods(FILE *m, const sdata *sd) {
    int has[3] = {0};
    for (int i = 0; i < sd->np; i++)
        if (!sd->p[i].exp && sd->p[i].acc.n) has[sd->p[i].method] = 1;
    fprintf(m, "nmethods = %d\narray method_id[%d] = [", has[1] + has[2], has[1] + has[2]);
    fputs(has[1] && has[2] ? "1, 2]\n" : has[1] ? "1]\n" : "2]\n", m);
}

int rp_search_parallel(rctx *c, const sdata *sd) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = rp_open_out(c, "search-parallel.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    search_head(f, "search-parallel.dat", sd,
                "one row per sample of the searches that has an accuracy; the keys as on their axes.");
    double lo[MAX_KEYS + 1], hi[MAX_KEYS + 1];
    int rows = put_samples(f, sd, 1, lo, hi);
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;

    vals_buf v;
    if (rp_vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    int naxes = sd->nkeys + 1;
    fprintf(m, "nsamples = %d\nnaxes = %d\narray axis_title[%d] = [", rows, naxes, naxes);
    for (int k = 0; k < sd->nkeys; k++) {
        char t[96];
        snprintf(t, sizeof t, "%s%s", sd->keys[k].key, sd->keys[k].kind == SK_LOG ? " (log)" : "");
        rp_gp_quote(m, t);
        fputs(", ", m);
    }
    fputs("\"best validation\\naccuracy (%)\"]\n", m);
    /* an axis whose values are all one is given a width to spread over */
    for (int side = 0; side < 2; side++) {
        fprintf(m, "array axis_%s[%d] = [", side ? "max" : "min", naxes);
        for (int k = 0; k < naxes; k++) {
            double a = lo[k], b = hi[k], pad = b > a ? 0.04 * (b - a) : a ? 0.1 * fabs(a) : 1;
            rp_put_num(m, isfinite(a) ? (side ? b + pad : a - pad) : side);
            fputs(k + 1 < naxes ? ", " : "]\n", m);
        }
    }
    put_key_values(m, sd, naxes);
    char title[512], caption[1024];
    snprintf(title, sizeof title, "%s: the samples of the search%s\none line per sample, coloured by its best "
             "validation accuracy (mean over its seeds)", sd->exp_name[0], sd->np > 1 ? "es" : "");
    snprintf(caption, sizeof caption,
             "Parallel coordinates of the %d samples of the random and TPE searches that have an accuracy: one "
             "axis per searched key (a log-distributed key as log10 of its value, a choice by its values) and a "
             "last axis for the best validation accuracy, the mean over the sample's seeds. Each line is a "
             "sample, its colour its accuracy: the keys where the bright lines gather are the good region.",
             rows);
    return rp_vals_draw(c, &v, "search-parallel", title, caption);
}

int rp_search_keys(rctx *c, const sdata *sd) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = rp_open_out(c, "search-keys.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    search_head(f, "search-keys.dat", sd,
                "one row per sample of the searches that has an accuracy; a log key as its value (a log axis).");
    double lo[MAX_KEYS + 1], hi[MAX_KEYS + 1];
    put_samples(f, sd, 0, lo, hi);
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;

    vals_buf v;
    if (rp_vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    fprintf(m, "nkeys = %d\narray key_title[%d] = [", sd->nkeys, sd->nkeys);
    for (int k = 0; k < sd->nkeys; k++) {
        rp_gp_quote(m, sd->keys[k].key);
        fputs(k + 1 < sd->nkeys ? ", " : "]\n", m);
    }
    put_key_values(m, sd, sd->nkeys);
    put_methods(m, sd);
    char title[512], caption[1024];
    snprintf(title, sizeof title, "%s: best validation accuracy of each sample against each searched key",
             sd->exp_name[0]);
    snprintf(caption, sizeof caption,
             "Best validation accuracy (mean over the sample's seeds) against each searched key, one panel per "
             "key, each sample a point marked by the method that drew it (random or TPE). Keys drawn from a "
             "log distribution have a log axis; a choice key has a column per value.");
    return rp_vals_draw(c, &v, "search-keys", title, caption);
}

/* --- the best so far: search-best ----------------------------------------- */

/* The best-so-far curve of the search in sd->p[first .. first + n): at each
 * trial some of whose runs were spent, the runs spent through it (xs) and
 * the best sample accuracy so far (ys, NaN before the first). Its length. */
static int best_curve(const sdata *sd, int first, int n, double *xs, double *ys) {
    int len = 0, runs = 0;
    double best = NAN;
    for (int i = first; i < first + n; i++) {
        const spoint *p = &sd->p[i];
        if (!p->spent) continue;
        runs += p->spent;
        double a = rp_stat_mean(&p->acc);
        if (isfinite(a) && !(a <= best)) best = a;
        xs[len] = runs;
        ys[len++] = best;
    }
    return len;
}

/* one search: its points [first, first + n) and the group (experiment, method) it joins */
typedef struct { int first, n, group; } sline;

/* The searches of sd in order, each with its group; returns their count */
static int find_searches(const sdata *sd, sline *sl, int *ngroups) {
    int ns = 0;
    *ngroups = 0;
    for (int i = 0; i < sd->np; i++) {
        const spoint *p = &sd->p[i], *q = i ? &sd->p[i - 1] : NULL;
        int new_group = !q || q->exp != p->exp || q->method != p->method;
        if (new_group) (*ngroups)++;
        if (new_group || q->search != p->search) sl[ns++] = (sline){i, 0, *ngroups};
        sl[ns - 1].n++;
    }
    return ns;
}

/* The mean of a group's m curves (m >= 2) as a step curve into f: at each
 * x any curve has up to the end of the shortest, the mean of each curve's
 * value there. A curve that has no value yet makes the mean NaN. */
static void put_mean(FILE *f, double *const *xs, double *const *ys, const int *len, int m) {
    double end = INFINITY;
    for (int j = 0; j < m; j++) end = fmin(end, len[j] ? xs[j][len[j] - 1] : -1);
    int *at = calloc((size_t)m, sizeof *at);
    if (!at) return;
    for (double x = -INFINITY;;) {
        double next = INFINITY; /* the smallest x of any curve past x */
        for (int j = 0; j < m; j++)
            for (int i = at[j]; i < len[j]; i++)
                if (xs[j][i] > x) { next = fmin(next, xs[j][i]); break; }
        if (!(next <= end)) break;
        x = next;
        double sum = 0;
        for (int j = 0; j < m; j++) {
            while (at[j] + 1 < len[j] && xs[j][at[j] + 1] <= x) at[j]++;
            sum += len[j] && xs[j][at[j]] <= x ? ys[j][at[j]] : NAN;
        }
        rp_put_num(f, x);
        fputc(' ', f);
        rp_put_num(f, sum / m);
        fprintf(f, " %d\n", m);
    }
    free(at);
}

static const char *method_name(int m) { return m == SM_RANDOM ? "random" : "TPE"; }

/* the block of one search's curve */
static void put_search_block(FILE *f, const sdata *sd, const sline *l, const double *xs, const double *ys,
                             int len, int nblocks) {
    const spoint *p = &sd->p[l->first];
    fprintf(f, "%s# block %d: experiment ", nblocks ? "\n\n" : "", nblocks);
    rp_dat_text(f, sd->exp_name[p->exp]);
    fprintf(f, ", %s, search seed %llu\n# runs best_acc trial\n", method_name(p->method), p->search);
    for (int i = 0, t = l->first; i < len; i++, t++) {
        while (!sd->p[t].spent) t++;
        rp_put_num(f, xs[i]);
        fputc(' ', f);
        rp_put_num(f, ys[i]);
        fprintf(f, " %d\n", sd->p[t].trial);
    }
}

/* Writes search-best.dat: a block per search that has spent a run, then a
 * block per group with two or more of those, their mean. The values of the
 * blocks go to m; each group's count of searches drawn to live. Returns the
 * blocks written, or -1 out of memory. */
static int put_best(FILE *f, FILE *m, const sdata *sd, const sline *sl, int ns, int ngroups, int *live) {
    double *buf = malloc(sizeof(double) * 2 * (size_t)sd->np + 1);
    double **xs = malloc(sizeof *xs * (size_t)ns), **ys = malloc(sizeof *ys * (size_t)ns);
    /* blocks: a search's, or a group's mean, at most 2 ns; line: the search of each curve kept */
    int *len = malloc(sizeof *len * (size_t)ns), *group = malloc(sizeof *group * 5 * (size_t)ns);
    if (!buf || !xs || !ys || !len || !group) {
        free(buf); free(xs); free(ys); free(len); free(group);
        return -1;
    }
    int *mean = group + 2 * ns, *line = group + 4 * ns, nblocks = 0, kept = 0;
    for (int j = 0; j < ns; j++) {
        /* the searches that spent a run, packed to the front in their order */
        xs[kept] = buf + 2 * sl[j].first;
        ys[kept] = xs[kept] + sl[j].n;
        len[kept] = best_curve(sd, sl[j].first, sl[j].n, xs[kept], ys[kept]);
        if (!len[kept]) continue;
        put_search_block(f, sd, &sl[j], xs[kept], ys[kept], len[kept], nblocks);
        group[nblocks] = sl[j].group;
        mean[nblocks++] = 0;
        live[sl[j].group - 1]++;
        line[kept++] = j;
    }
    for (int g = 1, j0 = 0; g <= ngroups; j0 += live[g - 1], g++) {
        int n = live[g - 1];
        if (n < 2) continue;
        const spoint *p = &sd->p[sl[line[j0]].first];
        fprintf(f, "\n\n# block %d: experiment ", nblocks);
        rp_dat_text(f, sd->exp_name[p->exp]);
        fprintf(f, ", %s, the mean of its %d searches' best so far\n# runs mean_best_acc searches\n",
                method_name(p->method), n);
        put_mean(f, xs + j0, ys + j0, len + j0, n);
        group[nblocks] = g;
        mean[nblocks++] = 1;
    }
    fprintf(m, "nblocks = %d\narray block_group[%d] = [", nblocks, nblocks ? nblocks : 1);
    for (int b = 0; b < nblocks; b++) fprintf(m, "%d%s", group[b], b + 1 < nblocks ? ", " : "");
    fprintf(m, "%s]\narray block_mean[%d] = [", nblocks ? "" : "0", nblocks ? nblocks : 1);
    for (int b = 0; b < nblocks; b++) fprintf(m, "%d%s", mean[b], b + 1 < nblocks ? ", " : "");
    fprintf(m, "%s]\n", nblocks ? "" : "0");
    free(buf); free(xs); free(ys); free(len); free(group);
    return nblocks;
}

/* each group's legend: its label, its method (for the dash) and its searches drawn */
static void put_groups(FILE *m, const sdata *sd, const sline *sl, int ngroups, const int *live) {
    fprintf(m, "ngroups = %d\narray group_label[%d] = [", ngroups, ngroups);
    for (int g = 1, j = 0; g <= ngroups; g++) {
        while (sl[j].group != g) j++;
        const spoint *p = &sd->p[sl[j].first];
        char label[300];
        if (sd->nexp > 1) snprintf(label, sizeof label, "%s: %s", sd->exp_name[p->exp], method_name(p->method));
        else snprintf(label, sizeof label, "%s", method_name(p->method));
        rp_gp_quote(m, label);
        fputs(g < ngroups ? ", " : "]\n", m);
    }
    fprintf(m, "array group_method[%d] = [", ngroups);
    for (int g = 1, j = 0; g <= ngroups; g++) {
        while (sl[j].group != g) j++;
        fprintf(m, "%d%s", sd->p[sl[j].first].method, g < ngroups ? ", " : "]\n");
    }
    fprintf(m, "array group_searches[%d] = [", ngroups);
    for (int g = 0; g < ngroups; g++) fprintf(m, "%d%s", live[g], g + 1 < ngroups ? ", " : "]\n");
}

int rp_search_best(rctx *c, const sdata *sd) {
    if (!sd->np) return 0;
    sline *sl = malloc(sizeof *sl * (size_t)sd->np);
    int *live = calloc((size_t)sd->np, sizeof *live);
    char path[NNL_PATH_MAX + 64];
    FILE *f = sl && live ? rp_open_out(c, "search-best.dat", path, sizeof path) : NULL;
    vals_buf v = {0};
    if (!f || rp_vals_open(c, &v)) {
        if (f) fclose(f);
        free(sl);
        free(live);
        return f || !sl || !live ? rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory") : NNL_REPORT_EINPUT;
    }
    int ngroups, ns = find_searches(sd, sl, &ngroups);
    search_head(f, "search-best.dat", sd,
                "the best validation accuracy (%) so far of each search against the runs it has spent, its samples\n"
                "# in trial order: at each trial, runs = the runs spent through it (finished, pruned, diverged,\n"
                "# failed), best_acc = the best mean-over-seeds accuracy of its samples so far (NaN: none yet).\n"
                "# One block per search (gnuplot index 0, 1, ...), then per method with several searches the\n"
                "# mean of their curves up to the shortest; blocks apart by two blank lines.");
    int nblocks = put_best(f, v.m, sd, sl, ns, ngroups, live);
    if (nblocks > 0) put_groups(v.m, sd, sl, ngroups, live);
    free(sl);
    free(live);
    int rc = rp_close_out(c, f, path);
    if (rc || nblocks <= 0) {
        /* no search has spent a run yet: nothing to draw, and rp_drop_stale takes the .dat */
        fclose(v.m);
        free(v.buf);
        return rc ? rc : nblocks < 0 ? rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory") : 0;
    }
    char title[512], caption[1024];
    if (sd->nexp > 1)
        snprintf(title, sizeof title, "%s against %s: best validation accuracy so far by runs spent", sd->exp_name[0],
                 sd->exp_name[1]);
    else
        snprintf(title, sizeof title, "%s: best validation accuracy so far by runs spent", sd->exp_name[0]);
    snprintf(caption, sizeof caption,
             "The best validation accuracy found so far by each search (the best sample, its accuracy the mean "
             "over its seeds) against the number of runs it has spent, its samples taken in trial order; pruned "
             "and diverged runs count as spent. Thin lines are single searches (random dashed, TPE solid), thick "
             "lines the mean over a method's searches, drawn as far as the shortest of them%s.",
             sd->nexp > 1 ? "; each experiment and method has its own colour" : "");
    return rp_vals_draw(c, &v, "search-best", title, caption);
}
