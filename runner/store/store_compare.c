/* store_compare.c -- an experiment's comparison rows (store.h): its runs
 * grouped by grid point, test and best validation accuracy as mean and
 * standard deviation over the finished seeds, best first. `nnlab compare`
 * prints them and the report's table shows them: both read these rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"
#include "store_int.h"

#define MAX_SEEDS 1024   /* finished runs counted per grid point */

typedef struct {
    char point[256];
    double test[MAX_SEEDS], val[MAX_SEEDS];
    int n, nval, runs;
} group;

typedef struct {
    group *g;
    int n, cap;
    int oom, full;      /* out of memory; a group past MAX_SEEDS (1) or a key=value past 255 bytes (2) */
    const char *by;     /* group by this key's value; NULL: by point */
    int by_seen;        /* some point has the key */
} groups;

static group *group_of(groups *gs, const char *point) {
    for (int i = 0; i < gs->n; i++)
        if (!strcmp(gs->g[i].point, point)) return &gs->g[i];
    if (gs->n == gs->cap) {
        int nc = gs->cap ? 2 * gs->cap : 16;
        group *ng = realloc(gs->g, sizeof *ng * (size_t)nc);
        if (!ng) { gs->oom = 1; return NULL; }
        gs->g = ng;
        gs->cap = nc;
    }
    group *g = &gs->g[gs->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->point, sizeof g->point, "%s", point);
    return g;
}

/* mean (NaN for none) and sample standard deviation (0 for one) */
static void mean_std(const double *v, int n, double *mean, double *std) {
    const nnl_summary m = nnl_summarize(v, n);
    *mean = m.mean;
    *std = n > 1 ? m.sd : 0;
}

/* best test accuracy first; points without one last */
static int cmp_group(const void *a, const void *b) {
    const group *x = a, *y = b;
    double mx, my, sx, sy;
    mean_std(x->test, x->n, &mx, &sx);
    mean_std(y->test, y->n, &my, &sy);
    if (isnan(mx)) return isnan(my) ? 0 : 1;
    if (isnan(my)) return -1;
    return (my > mx) - (my < mx);
}

static void point_value(const char *point, const char *col, char *out, size_t n);

static int group_add(const nnl_point_run *r, void *ud) {
    groups *gs = ud;
    char key[256];
    if (gs->by) {
        char v[256];
        point_value(r->point, gs->by, v, sizeof v);
        gs->by_seen |= strcmp(v, "-") != 0;
        if (snprintf(key, sizeof key, "%s=%s", gs->by, v) >= (int)sizeof key) { gs->full = 2; return 1; }
    }
    group *g = group_of(gs, gs->by ? key : r->point);
    if (!g) return 1;
    g->runs++;
    if (gs->by && g->n == MAX_SEEDS) { gs->full = 1; return 1; }
    if (!strcmp(r->status, "finished") && g->n < MAX_SEEDS && !isnan(r->test_acc)) {
        g->test[g->n++] = r->test_acc;
        g->val[g->nval++] = r->best_val_acc;
    }
    return 0;
}

const char *nnl_compare_verdict(const nnl_compare_row *r, int i) {
    return i == 0 && r->finished ? "best" : r->differs < 0 ? NULL : r->differs ? "yes" : "no";
}

void nnl_compare_value(const nnl_compare_row *r, const char *col, char *out, size_t n) {
    point_value(r->point, col, out, n);
}

/* the value of key col in a point "k1=v1,k2=v2", "-" when it has none */
static void point_value(const char *point, const char *col, char *out, size_t n) {
    size_t kl = strlen(col);
    for (const char *p = point; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && !strncmp(p, col, kl) && p[kl] == '=') {
            snprintf(out, n, "%.*s", (int)(len - kl - 1), p + kl + 1);
            return;
        }
        p += len + (end ? 1 : 0);
    }
    snprintf(out, n, "-");
}

int nnl_store_compare(nnl_store *s, const char *experiment, nnl_comparison *out, char *err, size_t errlen) {
    return nnl_store_compare_by(s, experiment, NULL, out, err, errlen);
}

/* the grid keys of the point, ", "-separated, into out */
static void point_keys(const char *point, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    for (const char *p = point; *p && len < n;) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!eq || (end && end < eq)) break;
        len += (size_t)snprintf(out + len, n - len, "%s%.*s", len ? ", " : "", (int)(eq - p), p);
        if (!end) break;
        p = end + 1;
    }
}

int nnl_store_compare_by(nnl_store *s, const char *experiment, const char *by, nnl_comparison *out, char *err,
                         size_t errlen) {
    memset(out, 0, sizeof *out);
    groups gs = {.by = by};
    /* the store checks every value it hands over: a NULL status or point of
     * a database from elsewhere is reported, not compared */
    if (nnl_store_points_foreach(s, experiment, group_add, &gs, err, errlen) || gs.oom || gs.full) {
        if (gs.oom) store_errf(s, err, errlen, "reading runs of %s: out of memory", experiment);
        if (gs.full == 1)
            store_errf(s, err, errlen, "compare --by %s: more than %d runs for one value; compare without --by",
                       by, MAX_SEEDS);
        if (gs.full == 2) store_errf(s, err, errlen, "compare --by %.64s: the key and a value are over 255 bytes", by);
        free(gs.g);
        return -1;
    }
    if (by && gs.n && !gs.by_seen) {
        /* name the keys there are, from a grouping by point */
        groups all = {0};
        char keys[512] = "";
        if (!nnl_store_points_foreach(s, experiment, group_add, &all, err, errlen) && !all.oom && all.n)
            point_keys(all.g[0].point, keys, sizeof keys);
        free(all.g);
        store_errf(s, err, errlen, "compare --by %s: no grid key '%s' in experiment %s (%s%s)", by, by, experiment,
                   *keys ? "its keys: " : "it has no grid", keys);
        free(gs.g);
        return -1;
    }
    if (!gs.n) {
        store_errf(s, err, errlen, "no runs of experiment '%s' (run 'nnlab sweep' first; 'nnlab ls' lists runs)",
                   experiment);
        free(gs.g);
        return -1;
    }
    qsort(gs.g, (size_t)gs.n, sizeof *gs.g, cmp_group);
    out->rows = calloc((size_t)gs.n, sizeof *out->rows);
    if (!out->rows) {
        store_errf(s, err, errlen, "reading runs of %s: out of memory", experiment);
        free(gs.g);
        return -1;
    }
    out->n = gs.n;
    /* the columns: the keys of the best point, in order */
    for (const char *p = gs.g[0].point; *p && out->ncols < NNL_COMPARE_MAX_COLS;) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!eq || (end && end < eq)) break;
        snprintf(out->cols[out->ncols++], sizeof out->cols[0], "%.*s", (int)(eq - p), p);
        if (!end) break;
        p = end + 1;
    }
    /* how sure: each point's interval, and each against the best (row 0) */
    const double **x = malloc(sizeof *x * (size_t)gs.n);
    int *n = malloc(sizeof *n * (size_t)gs.n), *differs = malloc(sizeof *differs * (size_t)gs.n);
    double *p = malloc(sizeof *p * (size_t)gs.n), *ph = malloc(sizeof *ph * (size_t)gs.n);
    if (!x || !n || !differs || !p || !ph) {
        store_errf(s, err, errlen, "reading runs of %s: out of memory", experiment);
        free(x); free(n); free(differs); free(p); free(ph); free(gs.g);
        nnl_comparison_free(out);
        return -1;
    }
    for (int i = 0; i < gs.n; i++) {
        x[i] = gs.g[i].test;
        n[i] = gs.g[i].n;
    }
    nnl_versus_best(x, n, gs.n, 0, p, ph, differs);
    for (int i = 0; i < gs.n; i++) {
        const group *g = &gs.g[i];
        nnl_compare_row *r = &out->rows[i];
        snprintf(r->point, sizeof r->point, "%s", g->point);
        r->runs = g->runs;
        r->finished = g->n;
        mean_std(g->test, g->n, &r->test_mean, &r->test_std);
        mean_std(g->val, g->nval, &r->val_mean, &r->val_std);
        r->test_half = nnl_summarize(g->test, g->n).half;
        r->p_best = p[i];
        r->p_holm = ph[i];
        r->differs = differs[i];
    }
    free(x); free(n); free(differs); free(p); free(ph);
    free(gs.g);
    return 0;
}

void nnl_comparison_free(nnl_comparison *c) {
    free(c->rows);
    c->rows = NULL;
    c->n = 0;
}
