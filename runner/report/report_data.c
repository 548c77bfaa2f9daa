/* report_data.c -- the numbers of an experiment's figures: its runs grouped
 * by grid point in a stable order (the colour of each point), their epochs,
 * statistics over seeds, and the axes of a heat map. Nothing here writes a
 * file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report_int.h"

int rp_parse_num(const char *s, double *v) {
    char *end;
    if (!*s) return 0;
    *v = strtod(s, &end);
    return !*end && isfinite(*v);
}

static void split_point(xpoint *p) {
    p->nkv = 0;
    for (const char *s = p->name; *s && p->nkv < MAX_KEYS;) {
        int len = (int)strcspn(s, ",");
        const char *eq = memchr(s, '=', (size_t)len);
        int kl = eq ? (int)(eq - s) : len;
        snprintf(p->key[p->nkv], sizeof p->key[0], "%.*s", kl, s);
        snprintf(p->val[p->nkv], sizeof p->val[0], "%.*s", eq ? len - kl - 1 : 0, eq ? eq + 1 : "");
        p->nkv++;
        s += len + (s[len] == ',');
    }
}

int rp_cmp_value(const char *a, const char *b) {
    double x, y;
    if (rp_parse_num(a, &x) && rp_parse_num(b, &y) && x != y) return (x > y) - (x < y);
    return strcmp(a, b);
}

static int cmp_points(const xpoint *a, const xpoint *b) {
    for (int i = 0; i < a->nkv && i < b->nkv; i++) {
        int d = strcmp(a->key[i], b->key[i]);
        if (!d) d = rp_cmp_value(a->val[i], b->val[i]);
        if (d) return d;
    }
    return a->nkv != b->nkv ? a->nkv - b->nkv : strcmp(a->name, b->name);
}

static void sort_points(xdata *x) {
    for (int i = 0; i < x->np; i++) x->order[i] = i;
    /* insertion sort: a few hundred points at most, and no qsort context */
    for (int i = 1; i < x->np; i++)
        for (int j = i; j > 0 && cmp_points(&x->p[x->order[j - 1]], &x->p[x->order[j]]) > 0; j--) {
            int t = x->order[j];
            x->order[j] = x->order[j - 1];
            x->order[j - 1] = t;
        }
    for (int i = 0; i < x->np; i++) x->p[x->order[i]].color = i + 1;
}

void rp_xdata_free(xdata *x) {
    for (int i = 0; i < x->nr; i++) free(x->r[i].ep);
    free(x->r);
    free(x->p);
    free(x->order);
}

/* one run of the experiment into x, from nnl_store_points_foreach */
static int xdata_add(const nnl_point_run *pr, void *ud) {
    xdata *x = ud;
    int pi = 0;
    while (pi < x->np && strcmp(x->p[pi].name, pr->point)) pi++;
    if (pi == x->np) {
        if (x->np == x->capp) {
            int cap = x->capp ? 2 * x->capp : 16;
            xpoint *np = realloc(x->p, sizeof *np * (size_t)cap);
            if (!np) return x->oom = 1;
            x->p = np;
            x->capp = cap;
        }
        memset(&x->p[pi], 0, sizeof x->p[pi]);
        snprintf(x->p[pi].name, sizeof x->p[pi].name, "%s", pr->point);
        split_point(&x->p[pi]);
        x->np++;
    }
    if (x->nr == x->capr) {
        int cap = x->capr ? 2 * x->capr : 64;
        xrun *nr = realloc(x->r, sizeof *nr * (size_t)cap);
        if (!nr) return x->oom = 1;
        x->r = nr;
        x->capr = cap;
    }
    xrun *r = &x->r[x->nr++];
    memset(r, 0, sizeof *r);
    r->id = pr->id;
    r->point = pi;
    snprintf(r->status, sizeof r->status, "%s", pr->status);
    r->test = pr->test_acc;
    x->p[pi].nruns++;
    if (!strcmp(r->status, "finished") && isfinite(r->test)) {
        x->p[pi].nfinished++;
        x->any_test = 1;
    } else {
        r->test = NAN; /* a test result counts once its run has finished */
    }
    return 0;
}

int rp_xdata_load(nnl_store *s, const char *experiment, xdata *x, char *err, size_t errlen) {
    memset(x, 0, sizeof *x);
    x->experiment = experiment;
    /* the store checks what it hands over (store.h): a database from
     * elsewhere with a NULL status is reported, not drawn */
    if (nnl_store_points_foreach(s, experiment, xdata_add, x, err, errlen) || x->oom) {
        if (x->oom) rp_fail(err, errlen, 0, "%s: reading runs of %s: out of memory", nnl_store_path(s), experiment);
        rp_xdata_free(x);
        return NNL_REPORT_EINPUT;
    }
    if (!x->nr) {
        rp_xdata_free(x);
        return rp_fail(err, errlen, NNL_REPORT_EINPUT, "%s: no runs of experiment '%s' (run 'nnlab sweep' first; "
                    "'nnlab ls' lists runs)", nnl_store_path(s), experiment);
    }
    for (int i = 0; i < x->nr; i++) {
        xrun *r = &x->r[i];
        r->nep = nnl_store_epochs_get(s, r->id, &r->ep, err, errlen);
        if (r->nep < 0) {
            r->nep = 0;
            rp_xdata_free(x);
            return NNL_REPORT_EINPUT;
        }
        for (int e = 0; e < r->nep; e++) {
            x->any_epoch = 1;
            if (isfinite(r->ep[e].val_acc)) x->any_val = 1;
        }
    }
    x->order = malloc(sizeof *x->order * (size_t)x->np);
    if (!x->order) {
        rp_xdata_free(x);
        return rp_fail(err, errlen, NNL_REPORT_EINPUT, "out of memory");
    }
    sort_points(x);
    return 0;
}

const char *rp_point_title(const xpoint *p) { return p->name[0] ? p->name : "all runs (no grid)"; }

void rp_point_label(const xpoint *p, char *out, size_t n) {
    snprintf(out, n, "%s", rp_point_title(p));
    for (char *q = out; *q; q++)
        if (*q == ',') *q = '\n';
}

void rp_stat_add(stat1 *s, double v) {
    if (!isfinite(v)) return;
    if (!s->n || v < s->min) s->min = v;
    if (!s->n || v > s->max) s->max = v;
    s->sum += v;
    s->n++;
}

double rp_stat_mean(const stat1 *s) { return s->n ? s->sum / s->n : NAN; }

int rp_max_seeds(const xdata *x) {
    int n = 0;
    for (int k = 0; k < x->np; k++)
        if (x->p[k].nruns > n) n = x->p[k].nruns;
    return n;
}

int nnl_report_log_spaced(const double *v, int n) {
    double s[MAX_AXIS];
    if (n < 2 || n > MAX_AXIS) return 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i])) return 0;
        int j = i;
        while (j > 0 && s[j - 1] > v[i]) { s[j] = s[j - 1]; j--; }
        s[j] = v[i];
    }
    if (s[n - 1] < 10 * s[0]) return 0;
    double lin_lo = INFINITY, lin_hi = 0, log_lo = INFINITY, log_hi = 0;
    for (int i = 1; i < n; i++) {
        double d = s[i] - s[i - 1], l = log(s[i] / s[i - 1]);
        if (d <= 0) return 0;
        lin_lo = fmin(lin_lo, d);
        lin_hi = fmax(lin_hi, d);
        log_lo = fmin(log_lo, l);
        log_hi = fmax(log_hi, l);
    }
    /* the spread of the steps: 1 is perfectly even */
    return log_hi / log_lo <= lin_hi / lin_lo;
}

int rp_axis_index(const axis *a, const char *v) {
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->val[i], v)) return i;
    return -1;
}

/* The distinct values of key k in the stable order; numeric keys sorted by
 * value with cells reaching half-way (in log space on a log axis) to their
 * neighbours; other keys one unit apart. 0, or -1 if too many values. */
static int axis_build(axis *a, const xdata *x, int k) {
    memset(a, 0, sizeof *a);
    a->key = x->p[0].key[k];
    a->numeric = 1;
    for (int o = 0; o < x->np; o++) {
        const char *v = x->p[x->order[o]].val[k];
        if (rp_axis_index(a, v) >= 0) continue;
        if (a->n == MAX_AXIS) return -1;
        a->val[a->n] = v;
        if (!rp_parse_num(v, &a->pos[a->n])) a->numeric = 0;
        a->n++;
    }
    if (!a->numeric) {
        for (int i = 0; i < a->n; i++) {
            a->pos[i] = i;
            a->lo[i] = i - 0.5;
            a->hi[i] = i + 0.5;
        }
        return 0;
    }
    for (int i = 1; i < a->n; i++) /* sort by value, carrying the text */
        for (int j = i; j > 0 && a->pos[j - 1] > a->pos[j]; j--) {
            double t = a->pos[j];
            a->pos[j] = a->pos[j - 1];
            a->pos[j - 1] = t;
            const char *s = a->val[j];
            a->val[j] = a->val[j - 1];
            a->val[j - 1] = s;
        }
    a->log = nnl_report_log_spaced(a->pos, a->n);
    /* one value has no neighbour to reach half-way to: its cell is a unit
     * wide (the cells below read t[i - 1] and t[1], out of bounds for one
     * value, as a one-point grid of issue 11's case 5 showed under UBSan) */
    if (a->n == 1) {
        a->lo[0] = a->pos[0] - 0.5;
        a->hi[0] = a->pos[0] + 0.5;
        return 0;
    }
    double t[MAX_AXIS];
    for (int i = 0; i < a->n; i++) t[i] = a->log ? log10(a->pos[i]) : a->pos[i];
    for (int i = 0; i < a->n; i++) {
        double lo = i ? (t[i - 1] + t[i]) / 2 : t[0] - (t[1] - t[0]) / 2;
        double hi = i + 1 < a->n ? (t[i] + t[i + 1]) / 2 : t[i] + (t[i] - t[i - 1]) / 2;
        a->lo[i] = a->log ? pow(10, lo) : lo;
        a->hi[i] = a->log ? pow(10, hi) : hi;
    }
    return 0;
}

int rp_heatmap_fits(const xdata *x, axis *ax, axis *ay, char *why, size_t n) {
    for (int i = 0; i < x->np; i++)
        if (x->p[i].nkv != 2 || strcmp(x->p[i].key[0], x->p[0].key[0]) || strcmp(x->p[i].key[1], x->p[0].key[1])) {
            snprintf(why, n, "its grid points do not all vary the same two keys (a heat map needs exactly two)");
            return 0;
        }
    if (axis_build(ax, x, 0) || axis_build(ay, x, 1)) {
        snprintf(why, n, "a key has more than %d values", MAX_AXIS);
        return 0;
    }
    if (ax->n < 2 || ay->n < 2 || ax->n * ay->n != x->np) {
        snprintf(why, n, "its %d grid points are not every combination of %d values of %s and %d of %s", x->np,
                 ax->n, ax->key, ay->n, ay->key);
        return 0;
    }
    return 1;
}
