/* sweep.c -- an experiment's plan run to completion, any number of times.
 *
 * The database is the queue. The parent enqueues, in one transaction, every
 * planned run the database does not have (status queued) and requeues what
 * was cut short: interrupted, failed, or left running by a process that no
 * longer exists on this host (kill -9, power loss). Finished, diverged and
 * pruned runs are kept and skipped. Workers (forked processes, each with its
 * own connection and its share of the cores) then claim queued runs one at
 * a time in a transaction, so two sweeps started at once on one database
 * never run the same run twice, and a run that had epochs resumes from its
 * last checkpoint with its data order and optimizer state. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "search.h"
#include "sweep.h"
#include "train.h"

#define MAX_JOBS 64

/* a run marked running whose process is gone from this host: no such
 * process, or a zombie (killed, not yet reaped) */
int nnl_run_is_stale(const nnl_run_row *r) {
    char host[256], path[64], stat[512];
    if (gethostname(host, sizeof host) || !r->host || strcmp(host, r->host) || r->pid <= 0) return 0;
    if (kill((pid_t)r->pid, 0) != 0) return errno == ESRCH;
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)r->pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ...": comm may hold spaces */
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

typedef struct { int64_t id; char key[17]; char status[16]; int epochs; } run_ref;
typedef struct { run_ref *v; int n, cap; } run_refs;

static int collect(const nnl_run_summary *r, void *ud) {
    run_refs *a = ud;
    if (a->n == a->cap) {
        int nc = a->cap ? 2 * a->cap : 64;
        run_ref *nv = realloc(a->v, sizeof *nv * (size_t)nc);
        if (!nv) return 1;
        a->v = nv;
        a->cap = nc;
    }
    run_ref *x = &a->v[a->n++];
    x->id = r->id;
    snprintf(x->key, sizeof x->key, "%s", r->key ? r->key : "");
    snprintf(x->status, sizeof x->status, "%s", r->status);
    x->epochs = r->epochs_done;
    return 0;
}

static int cmp_key(const void *a, const void *b) { return strcmp(a, b); }

typedef struct { nnl_store *s; int64_t run; int *failed; char *err; size_t errlen; } param_ctx;

static void put_param(const char *k, const char *v, void *ud) {
    param_ctx *p = ud;
    if (!*p->failed) *p->failed = nnl_store_param_add(p->s, p->run, k, v, p->err, p->errlen);
}

static int64_t create_queued(nnl_store *s, const nnl_plan *plan, const nnl_planned_run *r, char *err, size_t errlen) {
    nn_layer_spec specs[NN_MAX_LAYERS];
    size_t np[NN_MAX_LAYERS], total = 0;
    nnl_config_layers(&r->cfg, specs);
    if (!nn_infer(specs, r->cfg.nlayers, nn_shape3(r->cfg.input[0], r->cfg.input[1], r->cfg.input[2]), NULL, np,
                  err, errlen))
        for (int i = 0; i < r->cfg.nlayers; i++) total += np[i];
    char *canon = nnl_config_canonical(&r->cfg);
    nnl_run_info ri = {.key = r->key, .name = r->name, .experiment = plan->name, .config = canon,
                       .seed = r->seed, .nparams = (int64_t)total, .status = "queued"};
    int64_t id = nnl_store_run_create(s, &ri, err, errlen);
    free(canon);
    if (id < 0) return -1;
    char ck[NNL_PATH_MAX], seed[32];
    nnl_checkpoint_dir(s, id, ck, sizeof ck);
    int failed = nnl_store_run_checkpoint_dir(s, id, ck, err, errlen);
    param_ctx pc = {s, id, &failed, err, errlen};
    nnl_config_foreach(&r->cfg, put_param, &pc);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    if (!failed) failed = nnl_store_param_add(s, id, "sweep.point", r->point, err, errlen);
    if (!failed) failed = nnl_store_param_add(s, id, "sweep.seed", seed, err, errlen);
    if (!failed && r->method) failed = nnl_store_param_add(s, id, "sweep.method", r->method, err, errlen);
    /* a search's run: what the search figures and TPE's history read */
    if (!failed && r->trial >= 0 && r->method) {
        char num[3][32], keys[1024];
        snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)r->search);
        snprintf(num[1], sizeof num[1], "%d", r->trial);
        snprintf(num[2], sizeof num[2], "%d", r->batch);
        if (plan->tpe && !strcmp(r->method, "tpe")) nnl_tpe_keys_text(plan->tpe, keys, sizeof keys);
        else snprintf(keys, sizeof keys, "%s", plan->random_keys);
        failed = nnl_store_param_add(s, id, "sweep.search", num[0], err, errlen) ||
                 nnl_store_param_add(s, id, "sweep.trial", num[1], err, errlen) ||
                 nnl_store_param_add(s, id, "sweep.keys", keys, err, errlen) ||
                 (r->batch >= 0 && nnl_store_param_add(s, id, "sweep.batch", num[2], err, errlen));
    }
    int until = nnl_search_first_until(plan, &r->cfg);
    if (!failed && until) {
        char u[16];
        snprintf(u, sizeof u, "%d", until);
        failed = nnl_store_param_add(s, id, "sweep.until", u, err, errlen);
    }
    return failed ? -1 : id;
}

/* One transaction: the plan's runs into the queue, stale ones back into it,
 * and queued runs of an earlier, different plan of this experiment out. */
/* the host a run's row names is this one */
static int on_this_host(const nnl_run_row *r) {
    char host[256];
    return !gethostname(host, sizeof host) && r->host && !strcmp(host, r->host);
}

static int enqueue(nnl_store *s, const nnl_plan *plan, int requeue_failed, int *busy_here, int *busy_other,
                   char *err, size_t errlen) {
    run_refs have = {0};
    char (*keys)[17] = malloc(sizeof *keys * (size_t)plan->nruns);
    if (!keys) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int i = 0; i < plan->nruns; i++) memcpy(keys[i], plan->runs[i].key, 17);
    qsort(keys, (size_t)plan->nruns, sizeof *keys, cmp_key);
    *busy_here = *busy_other = 0;
    if (nnl_store_begin(s, err, errlen)) { free(keys); return -1; }
    int rc = nnl_store_runs_foreach(s, plan->name, collect, &have, err, errlen);
    for (int i = 0; !rc && i < have.n; i++) {
        run_ref *h = &have.v[i];
        if (strcmp(h->status, "queued") || bsearch(h->key, keys, (size_t)plan->nruns, sizeof *keys, cmp_key)) continue;
        /* queued by an earlier plan that this one no longer has */
        if (h->epochs) rc = nnl_store_run_status(s, h->id, "interrupted", "no longer in the experiment's plan", err, errlen);
        else rc = nnl_store_run_drop(s, h->id, err, errlen);
    }
    for (int i = 0; !rc && i < plan->nruns; i++) {
        const nnl_planned_run *r = &plan->runs[i];
        int64_t id = nnl_store_find_key(s, r->key, plan->name, err, errlen);
        if (id < 0) { rc = -1; break; }
        if (!id) { rc = create_queued(s, plan, r, err, errlen) < 0; continue; }
        nnl_run_row row;
        if (nnl_store_run_get(s, id, &row, err, errlen)) { rc = -1; break; }
        if (!strcmp(row.status, "running") && !nnl_run_is_stale(&row)) {
            if (on_this_host(&row)) (*busy_here)++;
            else (*busy_other)++;
        } else if (!nnl_store_status_final(row.status) && strcmp(row.status, "queued") &&
                   (requeue_failed || strcmp(row.status, "failed"))) {
            /* a run waiting at a rung goes on when the rung is decided */
            int until = plan->prune == NNL_PRUNE_HALVING ? nnl_search_until(s, id, err, errlen) : 0;
            if (until < 0) rc = -1;
            else if (!until || row.epochs_done < until) rc = nnl_store_run_status(s, id, "queued", NULL, err, errlen);
        }
        nnl_run_row_free(&row);
    }
    free(have.v);
    free(keys);
    if (rc) { nnl_store_rollback(s, NULL, 0); return -1; }
    return nnl_store_commit(s, err, errlen);
}

int nnl_sweep_count(nnl_store *s, const nnl_plan *plan, nnl_sweep_counts *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->total = plan->nruns;
    for (int i = 0; i < plan->nruns; i++) {
        int64_t id = nnl_store_find_key(s, plan->runs[i].key, plan->name, err, errlen);
        if (id < 0) return -1;
        if (!id) { c->missing++; continue; }
        nnl_run_row row;
        if (nnl_store_run_get(s, id, &row, err, errlen)) return -1;
        const char *st = row.status;
        c->finished += !strcmp(st, "finished");
        c->failed += !strcmp(st, "failed");
        c->diverged += !strcmp(st, "diverged");
        c->pruned += !strcmp(st, "pruned");
        c->interrupted += !strcmp(st, "interrupted");
        c->running += !strcmp(st, "running");
        c->queued += !strcmp(st, "queued");
        nnl_run_row_free(&row);
    }
    return 0;
}

/* ---- workers */

typedef struct {
    nnl_store *s;
    const char *experiment;
    int prune_after;          /* median pruner: 0 none */
    const char *peers;        /* a folder of other databases to count in, or NULL */
    int until;                /* successive halving: the run waits after this epoch (0: never) */
} pruner;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define PRUNE_MAX 4096   /* finished runs the median is taken over */

typedef struct {
    int n;
    double v[PRUNE_MAX];
    char key[PRUNE_MAX][17];
} prune_vals;

/* one run's validation accuracy into pv, unless pv has the run already */
static int prune_add(const char *key, double val_acc, void *ud) {
    prune_vals *pv = ud;
    for (int i = 0; i < pv->n; i++)
        if (!strcmp(pv->key[i], key)) return 0;
    snprintf(pv->key[pv->n], sizeof pv->key[0], "%s", key);
    pv->v[pv->n++] = val_acc;
    return pv->n == PRUNE_MAX;
}

/* Adds the validation accuracy at this epoch of every finished run of the
 * experiment in s that is not in pv yet (the same run can sit in a shard
 * and in a copy of it). Returns -1 when s cannot be asked. */
static int prune_collect(nnl_store *s, const char *experiment, int epoch, prune_vals *pv) {
    if (pv->n >= PRUNE_MAX) return 0;
    return nnl_store_epoch_val_accs(s, experiment, epoch, prune_add, pv, NULL, 0);
}

/* The other shards of a Slurm sweep, read-only: the finished runs of the
 * other array tasks count toward the median too, or a task with one run
 * would never have anything to compare with. A shard that cannot be read
 * at the moment (being written on another node) is left out this time. */
typedef struct { const char *experiment; int epoch; prune_vals *pv; } peer_prune;

static int prune_peer(nnl_store *peer, void *ud) {
    peer_prune *p = ud;
    prune_collect(peer, p->experiment, p->epoch, p->pv);
    nnl_store_close(peer);
    return p->pv->n >= PRUNE_MAX;
}

static void prune_collect_peers(const char *dir, const char *own, const char *experiment, int epoch,
                                prune_vals *pv) {
    peer_prune p = {experiment, epoch, pv};
    if (pv->n < PRUNE_MAX) nnl_store_peers_foreach(dir, own, 2000, prune_peer, &p);
}

/* Median pruner: a run whose validation accuracy at an epoch is below the
 * median of the finished runs at that epoch stops as pruned. */
static const char *prune_check(int64_t run, const nnl_epoch_row *row, void *ud) {
    pruner *p = ud;
    if (p->until && row->epoch >= p->until) return "waiting";
    if (!p->prune_after || row->epoch < p->prune_after || isnan(row->val_acc)) return NULL;
    prune_vals *pv = malloc(sizeof *pv);
    if (!pv) return NULL; /* a pruner that cannot ask lets the run go on */
    pv->n = 0;
    if (prune_collect(p->s, p->experiment, row->epoch, pv)) { free(pv); return NULL; }
    if (p->peers) prune_collect_peers(p->peers, nnl_store_path(p->s), p->experiment, row->epoch, pv);
    int n = pv->n;
    const char *verdict = NULL;
    if (n) {
        qsort(pv->v, (size_t)n, sizeof pv->v[0], cmp_double);
        double median = n % 2 ? pv->v[n / 2] : (pv->v[n / 2 - 1] + pv->v[n / 2]) / 2;
        verdict = row->val_acc < median ? "pruned" : NULL;
    }
    free(pv);
    return verdict;
}

static const char *outcome_name(nnl_outcome o) {
    switch (o) {
    case NNL_RUN_FINISHED: return "finished";
    case NNL_RUN_DIVERGED: return "diverged";
    case NNL_RUN_INTERRUPTED: return "interrupted";
    case NNL_RUN_STOPPED: return "pruned";
    case NNL_RUN_PAUSED: return "waiting at its rung";
    default: return "failed";
    }
}

static nnl_store *open_rw(const nnl_sweep_opts *o, char *err, size_t errlen) {
    return o->shared ? nnl_store_open_shared(o->db, err, errlen) : nnl_store_open(o->db, err, errlen);
}

/* A worker process: claims and trains runs until none is left. Exit status
 * 0 if all its runs ended as planned, 1 if one failed or diverged, 130 if
 * interrupted. */
static int worker(const nnl_sweep_opts *o, int threads) {
    char err[1024];
    const nnl_plan *plan = o->plan;
    /* a worker starts on its share of the cores and may take them all: the
     * thread count changes no result, and the network times the two counts
     * as it trains, so the last runs of a sweep get the cores the finished
     * workers left */
    const long cores = o->cores > 0 ? o->cores : sysconf(_SC_NPROCESSORS_ONLN);
    const int most = cores > threads ? (int)cores : threads;
    nnl_store *s = open_rw(o, err, sizeof err);
    if (!s) { fprintf(stderr, "%s\n", err); return 1; }
    pruner pr = {s, plan->name, plan->prune == NNL_PRUNE_MEDIAN ? plan->prune_after : 0, o->peers, 0};
    int status = 0;
    while (!*o->stop) {
        int64_t id = nnl_store_claim_queued(s, plan->name, err, sizeof err);
        if (id < 0) { fprintf(stderr, "%s\n", err); status = 1; break; }
        if (!id) break;
        nnl_run_row row;
        nnl_config cfg;
        char src[64];
        snprintf(src, sizeof src, "run %lld's config", (long long)id);
        if (nnl_store_run_get(s, id, &row, err, sizeof err)) { fprintf(stderr, "%s\n", err); status = 1; break; }
        if (nnl_config_parse(src, row.config ? row.config : "", row.config ? strlen(row.config) : 0, NULL, 0, &cfg,
                             err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            nnl_store_run_status(s, id, "failed", err, NULL, 0);
            nnl_run_row_free(&row);
            status = 1;
            continue;
        }
        /* successive halving: up to the run's rung; one that got there
         * (a crash between its epoch and its status) waits at once */
        pr.until = 0;
        if (plan->prune == NNL_PRUNE_HALVING) {
            int u = nnl_search_until(s, id, err, sizeof err);
            pr.until = u > 0 && u < cfg.epochs ? u : 0;
            if (pr.until && row.epochs_done >= pr.until) {
                nnl_store_run_status(s, id, "interrupted", NNL_RUNG_WAIT, NULL, 0);
                nnl_run_row_free(&row);
                continue;
            }
        }
        /* train.threads, when the experiment sets it, still caps the count */
        int cap = cfg.threads > 0 && cfg.threads < most ? cfg.threads : most;
        cfg.threads = cap;
        char label[300];
        snprintf(label, sizeof label, "[%s]", row.name ? row.name : "?");
        nnl_train_opts to = {.cfg = &cfg, .store = s, .experiment = plan->name, .name = row.name,
                             .resume_run = id, .progress = o->progress && o->jobs == 1,
                             .label = o->jobs > 1 ? label : NULL, .stop = o->stop,
                             .on_epoch = prune_check, .ud = &pr, .start_threads = threads < cap ? threads : cap,
                             .wait_reason = NNL_RUNG_WAIT};
        if (o->jobs == 1)
            fprintf(stderr, "%s run %lld%s\n", label, (long long)id, row.epochs_done ? " (resuming)" : "");
        nnl_train_result r;
        nnl_outcome out = nnl_train(&to, &r, err, sizeof err);
        if (out == NNL_RUN_FINISHED)
            fprintf(stderr, "%s run %lld finished: test accuracy %.2f%%, best validation %.2f%% (%.0f s)\n", label,
                    (long long)id, 100 * r.test_acc, 100 * r.best_val_acc, r.seconds);
        else
            fprintf(stderr, "%s run %lld %s%s%s\n", label, (long long)id, outcome_name(out),
                    out == NNL_RUN_FAILED || out == NNL_RUN_DIVERGED ? ": " : "",
                    out == NNL_RUN_FAILED || out == NNL_RUN_DIVERGED ? err : "");
        nnl_run_row_free(&row);
        if (out == NNL_RUN_INTERRUPTED) { status = 130; break; }
        if (out == NNL_RUN_FAILED || out == NNL_RUN_DIVERGED) status = 1;
    }
    nnl_store_close(s);
    return status;
}

static void print_counts(FILE *f, const nnl_sweep_counts *c) {
    fprintf(f, "%d finished, %d failed, %d diverged, %d pruned, %d interrupted", c->finished, c->failed,
            c->diverged, c->pruned, c->interrupted);
    if (c->running) fprintf(f, ", %d running elsewhere", c->running);
    if (c->queued + c->missing) fprintf(f, ", %d not run", c->queued + c->missing);
}

/* A worker killed by a signal (the OOM killer, a crash, kill -9 of it
 * alone) cannot record it: its run stayed "running" with a dead pid, so
 * every round requeued it and a run that always killed its worker made the
 * sweep loop forever (found with tests/faultinject.so). Its runs become
 * failed with the reason; the next sweep retries them once, from their last
 * checkpoint. */
static void worker_died(const nnl_sweep_opts *o, pid_t pid, int sig) {
    char err[512], msg[160], host[256];
    int64_t ids[16];
    nnl_store *s = nnl_store_open(o->db, err, sizeof err);
    if (!s) { fprintf(stderr, "%s\n", err); return; }
    if (gethostname(host, sizeof host)) host[0] = 0;
    int n = nnl_store_running_ids(s, host, pid, ids, 16, err, sizeof err);
    if (n < 0) fprintf(stderr, "%s\n", err);
    snprintf(msg, sizeof msg, "its worker process %d died of signal %d (%s)", (int)pid, sig, strsignal(sig));
    /* killed while the sweep was being stopped (a second Ctrl-C): the user's
     * doing, not the run's; it resumes from its checkpoint like any other */
    const char *why = *o->stop && (sig == SIGINT || sig == SIGTERM) ? "interrupted" : "failed";
    for (int i = 0; i < n; i++) {
        if (nnl_store_run_status(s, ids[i], why, msg, err, sizeof err)) fprintf(stderr, "%s\n", err);
        else fprintf(stderr, "run %lld %s: %s\n", (long long)ids[i], why, msg);
    }
    nnl_store_close(s);
}

/* forks n workers of t threads and waits for them; their worst status */
static int run_workers(const nnl_sweep_opts *o, int n, int t, char *err, size_t errlen) {
    pid_t kids[MAX_JOBS];
    int nk = 0, status = 0;
    for (int j = 0; j < n; j++) {
        pid_t pid = fork();
        if (pid < 0) { snprintf(err, errlen, "fork: %s", strerror(errno)); status = 1; break; }
        if (pid == 0) _exit(worker(o, t));
        kids[nk++] = pid;
    }
    int forwarded = 0, left = nk;
    while (left > 0) {
        int ws;
        pid_t p = waitpid(-1, &ws, 0);
        if (p < 0) {
            if (errno != EINTR) break;
            /* SIGTERM to the sweep reaches the workers too (Ctrl-C already does) */
            if (*o->stop && !forwarded) {
                for (int k = 0; k < nk; k++) kill(kids[k], SIGTERM);
                forwarded = 1;
            }
            continue;
        }
        left--;
        if (WIFSIGNALED(ws)) worker_died(o, p, WTERMSIG(ws));
        int rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
        if (rc == 130 || status == 130) status = 130;
        else if (rc) status = 1;
    }
    return status;
}

/* --print: every run known now, and what the runs to come wait for */
static int print_plan(const nnl_sweep_opts *o, char *err, size_t errlen) {
    const nnl_plan *plan = o->plan;
    nnl_sweep_counts c;
    nnl_live live = {0};
    /* read-only: a dry run writes nothing, not even a new database */
    nnl_store *s = access(o->db, F_OK) ? NULL : nnl_store_open_readonly(o->db, err, errlen);
    if (!s && !access(o->db, F_OK)) return 2;
    if (nnl_search_refresh(s, o->peers, o->peer_db, plan, 0, &live, err, errlen) ||
        (s && nnl_sweep_count(s, &live.plan, &c, err, errlen))) {
        nnl_live_free(&live);
        nnl_store_close(s);
        return 2;
    }
    if (!s) {
        memset(&c, 0, sizeof c);
        c.total = c.missing = live.plan.nruns;
    }
    int done = c.finished + c.diverged + c.pruned;
    printf("%s: %d runs (%d finished, %d to run) from %s\n", plan->name, c.total, done,
           c.total - done - c.running, plan->base);
    for (int i = 0; i < live.plan.nruns; i++) {
        const nnl_planned_run *r = &live.plan.runs[i];
        const char *st = "new";
        nnl_run_row row = {0};
        int64_t id = s ? nnl_store_find_key(s, r->key, plan->name, err, errlen) : 0;
        if (id > 0 && !nnl_store_run_get(s, id, &row, err, errlen)) st = row.status;
        char where[48] = "";
        if (r->batch >= 0) snprintf(where, sizeof where, "  [tpe %llu, batch %d]", (unsigned long long)r->search, r->batch);
        printf("  %-16s  %-11s  %s%s\n", r->key, st, r->name, where);
        if (id > 0) nnl_run_row_free(&row);
    }
    if (live.pending)
        printf("%d tpe sample%s not suggested yet, each to run %d time%s (once per seed):\n%s", live.pending,
               live.pending == 1 ? "" : "s", plan->tpe->nseeds, plan->tpe->nseeds == 1 ? "" : "s", live.notes);
    nnl_live_free(&live);
    nnl_store_close(s);
    return 0;
}

/* ---- a Slurm task's share of a live plan */

/* The live runs this task runs: its ordinals (fixed before any result, so
 * every task agrees), minus those another database has ended (the main
 * database's earlier sweeps, an earlier submission's shards) and its own
 * shard has not. With ntasks 0, the whole live plan. */
static int take_share(const nnl_sweep_opts *o, const nnl_live *l, nnl_plan *share, char *err, size_t errlen) {
    *share = l->plan;
    if (o->ntasks <= 0) return 0;
    share->runs = malloc(sizeof *share->runs * (size_t)(l->plan.nruns + 1));
    share->nruns = 0;
    if (!share->runs) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int i = 0; i < l->plan.nruns; i++) {
        const nnl_live_state *st = &l->state[i];
        if (l->plan.runs[i].ordinal % o->ntasks != o->task) continue;
        if (!st->own && st->status[0] && nnl_store_status_final(st->status)) continue;
        share->runs[share->nruns++] = l->plan.runs[i];
    }
    return 0;
}

static void free_share(const nnl_sweep_opts *o, nnl_plan *share) {
    if (o->ntasks > 0) free(share->runs);
    share->runs = NULL;
}

enum { LIVE_ENDED, LIVE_WAIT, LIVE_BLOCKED };

/* Where the whole live plan stands, from every database's best copy: ended;
 * blocked when every run not ended has failed or waits at a rung, and one
 * has failed (nothing can move without a retry); else it waits for runs
 * running, queued, or not yet started by their task. */
static int live_outlook(const nnl_sweep_opts *o, const nnl_live *l, int *open, int *failed, int *at_rung) {
    int active = 0;
    *open = *failed = *at_rung = 0;
    for (int i = 0; i < l->plan.nruns; i++) {
        const nnl_live_state *st = &l->state[i];
        if (st->status[0] && nnl_store_status_final(st->status)) continue;
        (*open)++;
        /* failed in an earlier submission: its task retries it when it starts */
        int retried = o->since && st->ended[0] && strcmp(st->ended, o->since) < 0;
        if (!strcmp(st->status, "failed") && !retried) (*failed)++;
        else if (!strcmp(st->status, "interrupted") && st->until > 0 && st->epochs_done >= st->until) (*at_rung)++;
        else active++;
    }
    if (!*open && !l->pending) return LIVE_ENDED;
    return *failed && !active ? LIVE_BLOCKED : LIVE_WAIT;
}

static int poll_ms(void) {
    const char *e = getenv("NNLAB_POLL_MS");
    int ms = e ? atoi(e) : 0;
    return ms > 0 ? ms : 5000;
}

/* sleeps ms, or less when the sweep is stopped */
static void nap_ms(const nnl_sweep_opts *o, int ms) {
    for (; ms > 0 && !*o->stop; ms -= 100) {
        struct timespec t = {0, (ms < 100 ? ms : 100) * 1000000L};
        nanosleep(&t, NULL);
    }
}

/* A task with nothing queued: LIVE_ENDED, LIVE_WAIT after a nap, or
 * LIVE_BLOCKED. Blocked must be seen on 3 looks in a row: another task
 * may be about to decide a rung its own runs wait at. said: the last wait
 * line printed, so that each is printed once. */
static int task_wait(const nnl_sweep_opts *o, const nnl_live *l, int *blocked_looks, char *said, size_t saidlen) {
    int open, failed, at_rung, out = live_outlook(o, l, &open, &failed, &at_rung);
    if (out == LIVE_ENDED) return out;
    char line[sizeof l->notes + 256];
    if (l->notes[0]) snprintf(line, sizeof line, "%s", l->notes);
    else snprintf(line, sizeof line, "%d run%s of the plan not ended, in this task or others (%d waiting at a rung, "
                  "%d failed)\n", open, open == 1 ? "" : "s", at_rung, failed);
    if (strcmp(line, said)) {
        fprintf(stderr, "%s: task %d of %d: nothing to run now; waiting: %s", o->plan->name, o->task, o->ntasks, line);
        snprintf(said, saidlen, "%s", line);
    }
    *blocked_looks = out == LIVE_BLOCKED ? *blocked_looks + 1 : 0;
    if (*blocked_looks >= 3) {
        fprintf(stderr, "%s: task %d of %d: stops waiting: %d run%s it waits for failed, and nothing else can "
                        "move; read the logs, then submit again to retry %s\n", o->plan->name, o->task, o->ntasks,
                failed, failed == 1 ? "" : "s", failed == 1 ? "it" : "them");
        return LIVE_BLOCKED;
    }
    nap_ms(o, poll_ms());
    return LIVE_WAIT;
}

/* ---- the sweep */

/* the first round's line: what there is to do */
static void say_plan(const nnl_sweep_opts *o, const nnl_live *l, const nnl_plan *mine, int done_before, int busy,
                     int todo, long cores, int jobs) {
    int w = jobs > todo ? (todo > 0 ? todo : 1) : jobs;
    int t = cores > w ? (int)(cores / w) : 1;
    char more[96] = "", share[96] = "";
    if (l->pending) snprintf(more, sizeof more, " (and %d tpe samples to suggest from their results)", l->pending);
    if (o->ntasks > 0)
        snprintf(share, sizeof share, " (task %d of %d: its %d)", o->task, o->ntasks, mine->nruns);
    printf("%s: %d runs%s%s: %d already done, %d running elsewhere, %d to run with %d worker%s of %d thread%s%s\n",
           o->plan->name, l->plan.nruns, more, share, done_before, busy, todo, w, w == 1 ? "" : "s", t,
           t == 1 ? "" : "s", t < cores ? " (each takes more when it finds cores idle)" : "");
    fflush(stdout);
}

/* One look: the live plan, this sweep's share of it (into mine), enqueued.
 * Returns 0 or -1 with err. */
static int look(const nnl_sweep_opts *o, int round, nnl_live *live, nnl_plan *mine, nnl_sweep_counts *before,
                nnl_sweep_counts *after, int *here, int *other, char *err, size_t errlen) {
    nnl_store *s = open_rw(o, err, errlen);
    if (!s) return -1;
    int rc = nnl_search_refresh(s, o->peers, o->peer_db, o->plan, 1, live, err, errlen) ||
             take_share(o, live, mine, err, errlen) ||
             (!round && nnl_sweep_count(s, mine, before, err, errlen)) ||
             enqueue(s, mine, round == 0, here, other, err, errlen) ||
             nnl_sweep_count(s, mine, after, err, errlen);
    /* no connection crosses a fork: the workers open their own */
    nnl_store_close(s);
    return rc ? -1 : 0;
}

int nnl_sweep(const nnl_sweep_opts *o, char *err, size_t errlen) {
    const nnl_plan *plan = o->plan;
    int jobs = o->jobs < 1 ? 1 : o->jobs > MAX_JOBS ? MAX_JOBS : o->jobs;
    long cores = o->cores > 0 ? o->cores : sysconf(_SC_NPROCESSORS_ONLN);
    nnl_sweep_counts before, after;
    nnl_store *s;
    nnl_live live = {0};
    nnl_plan mine = {0};

    if (o->dry_run) return print_plan(o, err, errlen);

    int status = 0, done_before = 0, waiting_said = 0, blocked_looks = 0;
    char said[sizeof live.notes + 256] = "";
    /* Rounds: work out the runs known now (a tpe: batch is known once the
     * batches before it have ended; a halving rung is decided once every
     * point reached it), enqueue them, run what is queued; while another
     * sweep on this host still runs some of the plan, wait for it (its runs
     * may yet need us, if it dies); a Slurm task waits for the other tasks
     * likewise. Failed runs get one more try, in the first round only. */
    for (int round = 0;; round++) {
        int here, other;
        free_share(o, &mine);
        if (look(o, round, &live, &mine, &before, &after, &here, &other, err, errlen)) {
            free_share(o, &mine);
            nnl_live_free(&live);
            return 2;
        }
        int todo = after.queued;
        if (!round) {
            done_before = before.finished + before.diverged + before.pruned;
            say_plan(o, &live, &mine, done_before, here + other, todo, cores, jobs);
        }
        else if (todo > 0) {
            /* a tpe: batch suggested, or a rung decided: say what came of it */
            printf("%s: %d more to run (%d runs known, %d ended", plan->name, todo, live.plan.nruns,
                   after.finished + after.diverged + after.pruned);
            if (live.pending) printf(", %d tpe samples still to suggest", live.pending);
            printf(")\n");
            fflush(stdout);
        }
        if (todo > 0) {
            int w = jobs > todo ? todo : jobs;
            nnl_sweep_opts wo = *o;
            wo.plan = &mine;
            int rc = run_workers(&wo, w, cores > w ? (int)(cores / w) : 1, err, errlen);
            if (rc == 130 || status == 130) status = 130;
            else if (rc) status = 1;
            if (status == 130 || *o->stop) break;
            continue;
        }
        if (*o->stop) break;
        if (here) {
            if (!waiting_said++)
                fprintf(stderr, "%s: waiting for %d run%s of another nnlab on this host\n", plan->name, here,
                        here == 1 ? "" : "s");
            nap_ms(o, 1000);
            continue;
        }
        if (o->ntasks <= 0) break;
        int w = task_wait(o, &live, &blocked_looks, said, sizeof said);
        if (w == LIVE_ENDED) break;
        if (w == LIVE_BLOCKED) { status = status == 130 ? 130 : 1; break; }
    }

    s = open_rw(o, err, errlen);
    if (!s || nnl_sweep_count(s, &mine, &after, err, errlen)) {
        nnl_store_close(s);
        free_share(o, &mine);
        nnl_live_free(&live);
        return 2;
    }
    nnl_store_close(s);
    free_share(o, &mine);
    after.skipped = done_before;
    printf("%s: ", plan->name);
    if (o->ntasks > 0) printf("task %d of %d: ", o->task, o->ntasks);
    print_counts(stdout, &after);
    printf(" (%d of them done before this sweep)\n", done_before);
    int pending = live.pending;
    if (pending) printf("%d tpe sample%s not suggested yet:\n%s", pending, pending == 1 ? "" : "s", live.notes);
    nnl_live_free(&live);
    if (o->hint) printf("%s\n", o->hint);
    else printf("compare them: nnlab compare %s --db %s\n", plan->path, o->db);
    if (status == 130 || *o->stop) return 130;
    if (after.failed || after.diverged || after.interrupted || after.queued || after.missing || after.running ||
        pending || status)
        return 1;
    return 0;
}

/* ---- compare */

/* the verdict against the best row, "-" when untested */
static const char *versus_best(int i, const nnl_compare_row *r) {
    const char *v = nnl_compare_verdict(r, i);
    return v ? v : "-";
}

int nnl_compare(nnl_store *s, const char *experiment, const char *by, int csv, FILE *out, char *err, size_t errlen) {
    nnl_comparison cmp;
    if (nnl_store_compare_by(s, experiment, by, &cmp, err, errlen)) return -1;
    if (csv) {
        for (int c = 0; c < cmp.ncols; c++) fprintf(out, "%s,", cmp.cols[c]);
        fprintf(out, "runs,finished,test_acc_mean,test_acc_std,best_val_acc_mean,best_val_acc_std,"
                     "test_acc_ci95_half,p_vs_best,p_vs_best_holm,differs_from_best\n");
    } else {
        if (by)
            fprintf(out, "%s by %s: %d values, each over the runs of every other grid point, best first (accuracy "
                         "in %%:\nmean +- std over runs, the 95%% interval of the mean; p: Welch's t-test against "
                         "the best, Holm-corrected;\ndiffers: beyond the noise at 5%%)\n", experiment, by, cmp.n);
        else
            fprintf(out, "%s: %d grid points, best first (accuracy in %%: mean +- std over seeds, the 95%% interval "
                         "of the mean;\np: Welch's t-test of each point against the best, Holm-corrected; differs: "
                         "beyond seed noise at 5%%)\n", experiment, cmp.n);
        for (int c = 0; c < cmp.ncols; c++) fprintf(out, "%-14s", cmp.cols[c]);
        fprintf(out, "%5s  %16s  %15s  %16s  %7s  %s\n", "seeds", "test acc", "95% interval", "best val acc", "p",
                "differs");
    }
    for (int i = 0; i < cmp.n; i++) {
        const nnl_compare_row *r = &cmp.rows[i];
        for (int c = 0; c < cmp.ncols; c++) {
            char v[64];
            nnl_compare_value(r, cmp.cols[c], v, sizeof v);
            if (csv) fprintf(out, "%s,", v);
            else fprintf(out, "%-14s", v);
        }
        if (csv) {
            /* a number a spreadsheet reads, or an empty field */
            char num[3][32];
            const double v[3] = {r->test_half, r->p_best, r->p_holm};
            for (int k = 0; k < 3; k++) snprintf(num[k], sizeof num[k], isfinite(v[k]) ? "%.6g" : "", v[k]);
            fprintf(out, "%d,%d,%.6f,%.6f,%.6f,%.6f,%s,%s,%s,%s\n", r->runs, r->finished, r->test_mean, r->test_std,
                    r->val_mean, r->val_std, num[0], num[1], num[2], versus_best(i, r));
            continue;
        }
        if (!r->finished) {
            fprintf(out, "%2d/%-2d  %16s  %15s  %16s  %7s  %s\n", r->finished, r->runs, "-", "-", "-", "-", "-");
            continue;
        }
        char ci[32] = "-", pv[16] = "-";
        if (isfinite(r->test_half))
            snprintf(ci, sizeof ci, "%.2f-%.2f", 100 * (r->test_mean - r->test_half), 100 * (r->test_mean + r->test_half));
        if (isfinite(r->p_holm)) snprintf(pv, sizeof pv, r->p_holm < 0.001 ? "<0.001" : "%.3f", r->p_holm);
        fprintf(out, "%2d/%-2d  %7.2f +- %5.2f  %15s  %7.2f +- %5.2f  %7s  %s\n", r->finished, r->runs,
                100 * r->test_mean, 100 * r->test_std, ci, 100 * r->val_mean, 100 * r->val_std, pv,
                versus_best(i, r));
    }
    nnl_comparison_free(&cmp);
    return 0;
}
