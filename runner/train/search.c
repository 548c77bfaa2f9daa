/* search.c -- see search.h: tpe: batches and successive halving's rungs,
 * recomputed from the database every time a sweep looks. */
#include "search.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PEERS 256

/* What the databases say of one run of the live plan. */
typedef struct {
    int found;
    int64_t id;               /* in s (0: only a peer has it) */
    char status[16];
    int epochs_done, until;
    double best_val;
    char ended[24];
    nnl_store *from;          /* the copy read: s or a peer */
    int64_t from_id;
} run_view;

typedef struct {
    nnl_store *s;
    nnl_store *peer[MAX_PEERS];
    int npeers;
    const nnl_plan *plan;
    int decide, changed;
    nnl_live *live;
    run_view *view;           /* one per live run */
    char *err;
    size_t errlen;
} ctx;

int nnl_search_until(nnl_store *s, int64_t run, char *err, size_t errlen) {
    char v[64];
    int found = nnl_store_param_get(s, run, "sweep.until", v, sizeof v, err, errlen);
    return found < 0 ? -1 : found ? atoi(v) : 0;
}

int nnl_search_first_until(const nnl_plan *plan, const nnl_config *cfg) {
    return plan->prune == NNL_PRUNE_HALVING && plan->halving_min < cfg->epochs ? plan->halving_min : 0;
}

/* one store's copy of the run with key, into v when it is further along */
static int look(ctx *c, nnl_store *st, const char *key, run_view *v) {
    int64_t id = nnl_store_find_key(st, key, c->plan->name, st == c->s ? c->err : NULL, st == c->s ? c->errlen : 0);
    if (id < 0) return st == c->s ? -1 : 0; /* a peer being written elsewhere: next time */
    if (!id) return 0;
    nnl_run_row row;
    if (nnl_store_run_get(st, id, &row, c->err, c->errlen)) return st == c->s ? -1 : 0;
    int better = !v->found || (nnl_store_status_final(row.status) && !nnl_store_status_final(v->status)) ||
                 (nnl_store_status_final(row.status) == nnl_store_status_final(v->status) && row.epochs_done > v->epochs_done);
    if (st == c->s) v->id = id;
    if (better) {
        v->found = 1;
        snprintf(v->status, sizeof v->status, "%s", row.status);
        v->epochs_done = row.epochs_done;
        v->best_val = row.best_val_acc;
        snprintf(v->ended, sizeof v->ended, "%s", row.finished ? row.finished : "");
        v->from = st;
        v->from_id = id;
        int u = nnl_search_until(st, id, NULL, 0);
        v->until = u > 0 ? u : 0;
    }
    nnl_run_row_free(&row);
    return 0;
}

static int view_of(ctx *c, const nnl_planned_run *r, run_view *v) {
    memset(v, 0, sizeof *v);
    v->best_val = NAN;
    if (c->s && look(c, c->s, r->key, v)) return -1;
    for (int i = 0; i < c->npeers; i++) look(c, c->peer[i], r->key, v);
    return 0;
}

/* the run's validation accuracy at epoch (NaN: none) */
static double val_at(const run_view *v, int epoch) {
    nnl_epoch_row *rows = NULL;
    int n = nnl_store_epochs_get(v->from, v->from_id, &rows, NULL, 0);
    double a = NAN;
    for (int i = 0; i < n; i++)
        if (rows[i].epoch == epoch) a = rows[i].val_acc;
    free(rows);
    return a;
}

/* ---- the live plan */

static int live_add(ctx *c, const nnl_planned_run *r) {
    nnl_live *l = c->live;
    if (l->plan.nruns == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        nnl_planned_run *nr = realloc(l->plan.runs, sizeof *nr * (size_t)nc);
        run_view *nv = realloc(c->view, sizeof *nv * (size_t)nc);
        if (nr) l->plan.runs = nr;
        if (nv) c->view = nv;
        if (!nr || !nv) { snprintf(c->err, c->errlen, "out of memory"); return -1; }
        l->cap = nc;
    }
    l->plan.runs[l->plan.nruns] = *r;
    if (view_of(c, r, &c->view[l->plan.nruns])) return -1;
    l->plan.nruns++;
    return 0;
}

/* the runs [from, to) of one point: the same sample, every seed */
static int point_end(const nnl_live *l, int from, int to) {
    const nnl_planned_run *a = &l->plan.runs[from];
    int i = from + 1;
    while (i < to && !strcmp(l->plan.runs[i].point, a->point) && l->plan.runs[i].trial == a->trial &&
           l->plan.runs[i].search == a->search && !strcmp(l->plan.runs[i].method, a->method))
        i++;
    return i;
}

/* ---- successive halving */

typedef struct { int from, to; double score; } ranked;

static int by_score(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    int xn = isnan(x->score), yn = isnan(y->score);
    if (xn != yn) return xn - yn;
    if (!xn && x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->from - y->from; /* ties in plan order */
}

static int write_decision(ctx *c, const ranked *p, int go_on, int next, int rung, int epoch, int keep, int m) {
    char msg[256], until[16];
    snprintf(msg, sizeof msg, "successive halving: at the rung of epoch %d its point's mean validation accuracy "
             "%.2f%% was not among the best %d of the %d points there (rung %d)", epoch, 100 * p->score, keep, m, rung);
    snprintf(until, sizeof until, "%d", next);
    for (int i = p->from; i < p->to; i++) {
        run_view *v = &c->view[i];
        if (nnl_store_status_final(v->status) || v->until != epoch || v->epochs_done < epoch || !v->id) continue;
        if (!c->decide) continue;
        int rc = go_on ? nnl_store_param_add(c->s, v->id, "sweep.until", until, c->err, c->errlen) ||
                             nnl_store_run_status(c->s, v->id, "queued", NULL, c->err, c->errlen)
                       : nnl_store_run_status(c->s, v->id, "pruned", msg, c->err, c->errlen);
        if (rc) return -1;
        c->changed = 1;
    }
    return 0;
}

/* A point's mean validation accuracy at epoch rk over its runs that got
 * there; NaN when one of its runs diverged (it ranks last). */
static double rung_score(ctx *c, int from, int to, long rk) {
    double sum = 0;
    int n = 0;
    for (int j = from; j < to; j++) {
        const run_view *v = &c->view[j];
        if (v->found && !strcmp(v->status, "diverged")) return NAN;
        if (v->epochs_done >= rk) { sum += val_at(v, (int)rk); n++; }
    }
    return sum / n;
}

/* Decides every rung it can for the points of the live runs [from, to). */
static int halving(ctx *c, int from, int to) {
    const nnl_plan *plan = c->plan;
    int np = 0;
    for (int i = from; i < to; i = point_end(c->live, i, to)) np++;
    ranked *pts = calloc((size_t)np + 1, sizeof *pts);
    if (!pts) { snprintf(c->err, c->errlen, "out of memory"); return -1; }
    int maxe = 0;
    for (int i = from; i < to; i++)
        if (c->live->plan.runs[i].cfg.epochs > maxe) maxe = c->live->plan.runs[i].cfg.epochs;
    int rc = 0;
    long rk = plan->halving_min;
    for (int k = 0; rk < maxe && !rc; k++, rk *= plan->halving_eta) {
        int m = 0, pending = 0, waiting = 0;
        for (int i = from; i < to;) {
            int e = point_end(c->live, i, to), reached = 0, open = 0, wait = 0;
            int epochs = c->live->plan.runs[i].cfg.epochs;
            for (int j = i; j < e; j++) {
                const run_view *v = &c->view[j];
                int fin = v->found && nnl_store_status_final(v->status);
                if (v->epochs_done >= rk) reached++;
                else if (!fin) open++;
                if (!fin && v->epochs_done >= rk && v->until == rk) wait++;
            }
            if (rk < epochs) {
                pending += open > 0;
                if (!open && reached) {
                    pts[m++] = (ranked){i, e, NAN};
                    waiting += wait > 0;
                }
            }
            i = e;
        }
        if (pending) break;      /* this rung, and every later one, waits */
        if (!waiting) continue;  /* decided before, or nobody stopped here */
        /* the epochs are read only for a rung that is decided now */
        for (int p = 0; p < m; p++) pts[p].score = rung_score(c, pts[p].from, pts[p].to, rk);
        qsort(pts, (size_t)m, sizeof *pts, by_score);
        int keep = m / plan->halving_eta > 1 ? m / plan->halving_eta : 1;
        long next = rk * plan->halving_eta;
        for (int p = 0; p < m && !rc; p++) {
            int epochs = c->live->plan.runs[pts[p].from].cfg.epochs;
            rc = write_decision(c, &pts[p], p < keep, next < epochs ? (int)next : epochs, k, (int)rk, keep, m);
        }
        break; /* the decisions changed the states: look again */
    }
    free(pts);
    return rc;
}

/* ---- tpe: batches */

/* what TPE ranks a point by: finished, its mean best validation accuracy
 * (NaN when a seed diverged: last); pruned, the epoch it reached and its
 * mean validation accuracy there */
static void observe(ctx *c, int from, int to, nnl_tpe_obs *o) {
    int pruned = 0, reached = 1 << 30, diverged = 0;
    double sum = 0;
    for (int j = from; j < to; j++) {
        const run_view *v = &c->view[j];
        pruned |= !strcmp(v->status, "pruned");
        diverged |= !strcmp(v->status, "diverged");
        if (v->epochs_done < reached) reached = v->epochs_done;
        sum += v->best_val;
    }
    if (diverged) { *o = (nnl_tpe_obs){0, NAN}; return; }
    if (!pruned) { *o = (nnl_tpe_obs){0, sum / (to - from)}; return; }
    sum = 0;
    for (int j = from; j < to; j++) sum += val_at(&c->view[j], reached);
    *o = (nnl_tpe_obs){reached > 0 ? reached : 1, sum / (to - from)};
}

static void note(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ctx *c, const char *fmt, ...) {
    nnl_live *l = c->live;
    size_t o = strlen(l->notes);
    va_list ap;
    va_start(ap, fmt);
    if (o < sizeof l->notes) vsnprintf(l->notes + o, sizeof l->notes - o, fmt, ap);
    va_end(ap);
}

static int tpe_search(ctx *c, int si) {
    const nnl_tpe_plan *t = c->plan->tpe;
    nnl_tpe_dim dims[NNL_MAX_GRID];
    for (int i = 0; i < t->nkeys; i++) dims[i] = t->keys[i].dim;
    double *hist = malloc(sizeof *hist * (size_t)t->samples * (size_t)t->nkeys + 1);
    nnl_tpe_obs *obs = malloc(sizeof *obs * (size_t)t->samples + 1);
    int rc = 0, first = c->live->plan.nruns;
    if (!hist || !obs) { snprintf(c->err, c->errlen, "out of memory"); rc = -1; }
    uint64_t seed = t->search[si];
    for (int b = 0, t0 = 0; !rc && t0 < t->samples; b++, t0 += t->batch) {
        int t1 = t0 + t->batch < t->samples ? t0 + t->batch : t->samples;
        int bfrom = c->live->plan.nruns;
        for (int tr = t0; tr < t1 && !rc; tr++) {
            double *v = hist + (size_t)tr * t->nkeys;
            if (tr < t->startup) nnl_tpe_random(dims, t->nkeys, seed, (uint64_t)tr, v);
            else if (nnl_tpe_suggest(dims, t->nkeys, hist, obs, t0, seed, (uint64_t)tr, v)) {
                snprintf(c->err, c->errlen, "out of memory");
                rc = -1;
                break;
            }
            nnl_tpe_round(t, v);
            for (int sd = 0; sd < t->nseeds && !rc; sd++) {
                nnl_planned_run r;
                rc = nnl_plan_tpe_run(c->plan, si, tr, b, v, sd, &r, c->err, c->errlen) || live_add(c, &r);
            }
        }
        if (rc) break;
        if (c->plan->prune == NNL_PRUNE_HALVING && (rc = halving(c, first, c->live->plan.nruns))) break;
        /* the next batch waits for every run of this one to end */
        int open = 0, failed = 0, running = 0;
        for (int j = bfrom; j < c->live->plan.nruns; j++) {
            const run_view *v = &c->view[j];
            if (v->found && nnl_store_status_final(v->status)) continue;
            open++;
            failed += v->found && !strcmp(v->status, "failed");
            running += v->found && !strcmp(v->status, "running");
        }
        if (open) {
            if (t1 < t->samples) {
                int t2 = t1 + t->batch < t->samples ? t1 + t->batch : t->samples;
                char why[96] = "";
                if (failed) snprintf(why, sizeof why, "; %d failed: retry with nnlab sweep (on Slurm: submit again)", failed);
                c->live->pending += t->samples - t1;
                note(c, "tpe search %llu: batch %d (samples %d-%d) waits for batch %d: %d of its %d runs not ended "
                        "(%d running%s)\n", (unsigned long long)seed, b + 1, t1, t2 - 1, b, open,
                     c->live->plan.nruns - bfrom, running, why);
            }
            break;
        }
        for (int j = bfrom; j < c->live->plan.nruns;) {
            int e = point_end(c->live, j, c->live->plan.nruns);
            observe(c, j, e, &obs[c->live->plan.runs[j].trial]);
            j = e;
        }
    }
    free(hist);
    free(obs);
    return rc;
}

/* ---- peers */

static void open_peer(ctx *c, const char *path) {
    nnl_store *p = c->npeers < MAX_PEERS ? nnl_store_open_readonly_busy(path, 2000, NULL, 0) : NULL;
    if (p) c->peer[c->npeers++] = p;
}

static int keep_peer(nnl_store *peer, void *ud) {
    ctx *c = ud;
    c->peer[c->npeers++] = peer;
    return c->npeers == MAX_PEERS;
}

static void open_peers(ctx *c, const char *dir, const char *db) {
    /* the main database: runs done there before a Slurm job count too */
    if (db && !access(db, F_OK)) open_peer(c, db);
    if (c->npeers < MAX_PEERS) nnl_store_peers_foreach(dir, c->s ? nnl_store_path(c->s) : NULL, 2000, keep_peer, c);
}

void nnl_live_free(nnl_live *l) {
    free(l->plan.runs);
    free(l->state);
    memset(l, 0, sizeof *l);
}

/* the views' public side, for the caller */
static int keep_states(ctx *c) {
    nnl_live *l = c->live;
    l->state = calloc((size_t)l->plan.nruns + 1, sizeof *l->state);
    if (!l->state) { snprintf(c->err, c->errlen, "out of memory"); return -1; }
    for (int i = 0; i < l->plan.nruns; i++) {
        const run_view *v = &c->view[i];
        nnl_live_state *st = &l->state[i];
        if (v->found) snprintf(st->status, sizeof st->status, "%s", v->status);
        st->epochs_done = v->epochs_done;
        st->until = v->until;
        st->own = v->id > 0;
        snprintf(st->ended, sizeof st->ended, "%s", v->ended);
    }
    return 0;
}

int nnl_search_refresh(nnl_store *s, const char *peers, const char *peer_db, const nnl_plan *plan, int decide,
                       nnl_live *live, char *err, size_t errlen) {
    ctx c = {.s = s, .plan = plan, .decide = decide, .live = live, .err = err, .errlen = errlen};
    open_peers(&c, peers, peer_db);
    int rc = 0;
    /* a decision changes what the next look sees (a promoted run is queued,
     * a pruned point ends a batch): look again until nothing changes */
    do {
        c.changed = 0;
        nnl_live_free(live);
        live->plan = *plan;
        live->plan.runs = NULL;
        live->plan.nruns = 0;
        for (int i = 0; i < plan->nruns && !rc; i++) rc = live_add(&c, &plan->runs[i]);
        if (!rc && plan->prune == NNL_PRUNE_HALVING && plan->nruns) rc = halving(&c, 0, plan->nruns);
        for (int si = 0; !rc && plan->tpe && si < plan->tpe->nsearch; si++) rc = tpe_search(&c, si);
    } while (!rc && c.changed);
    if (!rc) rc = keep_states(&c);
    for (int i = 0; i < c.npeers; i++) nnl_store_close(c.peer[i]);
    free(c.view);
    return rc;
}
