/* slurm_status.c -- `nnlab status`, and what it shares with submitting:
 * the state of each run of the plan across the main database and the
 * shards, and the job's array tasks from squeue (and sacct when the cluster
 * keeps accounting). */
#define _GNU_SOURCE
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "slurm_int.h"

int sl_run_rank(const char *status, int epochs, int has_test) {
    return (nnl_store_status_final(status) ? 1 << 28 : 0) + epochs * 2 + (has_test ? 1 : 0);
}

/* Folds the runs of one database into st (plan->nruns states); a missing
 * file is no run. */
static int fold_db(const char *path, const nnl_plan *plan, run_state *st, int *have) {
    char err[1024];
    if (access(path, F_OK)) return 0;
    nnl_store *s = nnl_store_open_readonly(path, err, sizeof err);
    if (!s) { fprintf(stderr, "%s\n", err); return -1; }
    int rc = 0;
    for (int i = 0; i < plan->nruns && !rc; i++) {
        nnl_key_state k;
        int found = nnl_store_key_state(s, plan->runs[i].key, plan->name, &k, err, sizeof err);
        const char *status = k.status;
        int ep = k.epochs_done;
        if (found < 0) {
            fprintf(stderr, "%s\n", err);
            rc = -1;
        } else if (found && (!nnl_store_status_known(status) || ep < 0 || ep > NNL_STORE_MAX_EPOCH)) {
            /* a database from elsewhere may hold anything (store.h) */
            fprintf(stderr, "%s: damaged database: run %s of %s has status %s and %d epochs; pass another path "
                    "or move the file aside\n", path, plan->runs[i].key, plan->name,
                    nnl_store_status_known(status) ? status : "(not a run status)", ep);
            rc = -1;
        } else if (found) {
            int rank = sl_run_rank(status, ep, k.has_test);
            /* the best copy names the state; a copy running now beats an unfinished one */
            int running = !strcmp(status, "running") && !nnl_store_status_final(st[i].status);
            if (!st[i].status[0] || rank > st[i].rank || running) {
                snprintf(st[i].status, sizeof st[i].status, "%s", status);
                st[i].epochs = ep;
                if (rank > st[i].rank) st[i].rank = rank;
            }
            if (have) (*have)++;
        }
    }
    nnl_store_close(s);
    return rc;
}

int sl_plan_states(const char *db, const char *dir, const nnl_plan *plan, run_state *st, int *nshards,
                       int *in_main) {
    memset(st, 0, sizeof *st * (size_t)plan->nruns);
    if (in_main) *in_main = 0;
    if (fold_db(db, plan, st, in_main)) return -1;
    char pat[NNL_PATH_MAX + 16];
    snprintf(pat, sizeof pat, "%s/task-*.db", dir);
    glob_t g;
    int rc = 0;
    *nshards = 0;
    if (!glob(pat, 0, NULL, &g)) {
        for (size_t i = 0; i < g.gl_pathc && !rc; i++) rc = fold_db(g.gl_pathv[i], plan, st, NULL);
        *nshards = (int)g.gl_pathc;
        globfree(&g);
    }
    return rc;
}

int sl_view_load(const char *db, const char *dir, const nnl_plan *plan, sl_view *v) {
    char err[1024];
    memset(v, 0, sizeof *v);
    v->known = plan;
    if (sl_plan_dynamic(plan)) {
        if (nnl_search_refresh(NULL, dir, db, plan, 0, &v->live, err, sizeof err)) {
            fprintf(stderr, "nnlab: %s: %s\n", plan->path, err);
            return -1;
        }
        v->known = &v->live.plan;
        v->pending = v->live.pending;
    }
    v->st = calloc((size_t)v->known->nruns + 1, sizeof *v->st);
    if (!v->st) { fprintf(stderr, "nnlab: out of memory\n"); sl_view_free(v); return -1; }
    if (sl_plan_states(db, dir, v->known, v->st, &v->nshards, &v->in_main)) { sl_view_free(v); return -1; }
    return 0;
}

void sl_view_free(sl_view *v) {
    free(v->st);
    nnl_live_free(&v->live);
    memset(v, 0, sizeof *v);
}

int sl_view_ended(const sl_view *v) {
    for (int i = 0; i < v->known->nruns; i++)
        if (!nnl_store_status_final(v->st[i].status)) return 0;
    return !v->pending;
}

void sl_count_states(const nnl_plan *plan, const run_state *st, counts *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < plan->nruns; i++) {
        const char *s = st[i].status;
        if (!strcmp(s, "finished")) c->finished++;
        else if (!strcmp(s, "running")) c->running++;
        else if (!strcmp(s, "diverged")) c->diverged++;
        else if (!strcmp(s, "pruned")) c->pruned++;
        else if (!strcmp(s, "failed")) c->failed++;
        else if (st[i].epochs) c->resume++;
        else c->queued++;
    }
}

void sl_print_counts(FILE *f, const counts *c) {
    fprintf(f, "%d finished, %d running, %d queued, %d to resume, %d failed, %d diverged, %d pruned", c->finished,
            c->running, c->queued, c->resume, c->failed, c->diverged, c->pruned);
}

int sl_query_queue(const char *job, queue_counts *q, int print) {
    char out[65536];
    char *argv[] = {"squeue", "-h", "-r", "-j", (char *)job, "-o", "%i %T %M %R", NULL};
    memset(q, 0, sizeof *q);
    int rc = sl_run_capture(argv, ERR_CAPTURE, out, sizeof out);
    if (rc) {
        /* a job that ended long ago is forgotten (MinJobAge) */
        if (strstr(out, "Invalid job id")) { q->gone = 1; return 0; }
        return -1;
    }
    int n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char id[64], state[32];
        if (sscanf(line, "%63s %31s", id, state) != 2) continue;
        if (!strcmp(state, "RUNNING") || !strcmp(state, "COMPLETING")) q->running++;
        else if (!strcmp(state, "PENDING") || !strcmp(state, "REQUEUED")) q->pending++;
        else q->other++;
        if (print && n++ < 40) printf("  %s\n", line);
    }
    if (print && n > 40) printf("  ... and %d more\n", n - 40);
    if (!q->running && !q->pending && !q->other) q->gone = 1;
    return 0;
}

void sl_report_sacct(const char *job) {
    char out[65536];
    char *argv[] = {"sacct", "-n", "-P", "-X", "-j", (char *)job, "-o", "JobID,State,ExitCode", NULL};
    /* without accounting sacct only says so: nothing to report */
    if (sl_run_capture(argv, ERR_DROP, out, sizeof out)) return;
    int said = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "|COMPLETED|")) continue;
        if (!said++) printf("tasks that did not complete (sacct):\n");
        printf("  %s\n", line);
    }
}

static const nnl_command status_cmd = {
    .name = "status", .args = "EXPERIMENT", .min_args = 1, .max_args = 1, .missing = "an EXPERIMENT file",
    .about =
        "For a sweep submitted with 'nnlab sweep --slurm': its runs finished,\n"
        "running, queued (not started or to resume) and failed, read from the main\n"
        "database and the shards, and its array tasks from squeue. Give the same\n"
        "--set options as to the sweep. For a tpe: search or successive halving: the\n"
        "runs known so far, and what the next batch waits for.\n",
    .opts = {SL_OPT_MAIN_DB, SL_OPT_SHARDS, SL_OPT_SETS, {NNL_OPT_DATA}},
};

int nnl_status_cmd(int argc, char **argv) {
    opts o;
    int rc = nnl_cli_parse(&status_cmd, argc, argv, &o);
    if (rc || o.help) return rc;
    nnl_plan plan;
    if (sl_load_plan("status", &o, &plan)) return 2;
    char dir[NNL_PATH_MAX];
    if (sl_shards_dir(&o, &plan, dir, sizeof dir)) { nnl_plan_free(&plan); return 2; }
    sl_view v;
    if (sl_view_load(o.db, dir, &plan, &v)) { nnl_plan_free(&plan); return 2; }
    counts c;
    sl_count_states(v.known, v.st, &c);
    printf("%s: %d runs", plan.name, v.known->nruns);
    if (v.pending) printf(" known so far (and %d tpe samples to suggest)", v.pending);
    printf(": ");
    sl_print_counts(stdout, &c);
    printf("\n  from %s (%d of them) and %d shard%s in %s\n", o.db, v.in_main, v.nshards, v.nshards == 1 ? "" : "s",
           dir);
    if (v.pending) printf("%s", v.live.notes);
    submission sub;
    if (sl_read_submission(dir, &sub)) {
        printf("no Slurm job submitted for it yet (nnlab sweep %s --slurm)\n", o.positional);
    } else {
        char h[17];
        sl_plan_hash(&plan, h);
        if (strcmp(h, sub.plan))
            printf("note: the experiment's plan changed since job %s was submitted (other --set options?)\n", sub.job);
        queue_counts q;
        printf("slurm job %s (%d task%s, %d run%s each):", sub.job, sub.tasks, sub.tasks == 1 ? "" : "s", sub.per_task,
               sub.per_task == 1 ? "" : "s");
        fflush(stdout);
        if (sl_query_queue(sub.job, &q, 0)) printf(" squeue did not answer\n");
        else if (q.gone) {
            printf(" no longer in the queue\n");
            sl_report_sacct(sub.job);
            if (c.running)
                printf("%d run%s marked running, but %s array task ended without stopping it (timeout, "
                       "preemption, node failure): submit again to resume %s\n", c.running,
                       c.running == 1 ? " is" : "s are", c.running == 1 ? "its" : "their",
                       c.running == 1 ? "it" : "them");
            printf("merge the shards: nnlab merge --db %s %s/task-*.db\n", o.db, dir);
        } else {
            printf(" %d running, %d pending\n", q.running, q.pending);
            sl_query_queue(sub.job, &q, 1);
        }
        printf("task output: %s/logs/%s_TASK.out\n", dir, sub.job);
    }
    sl_view_free(&v);
    nnl_plan_free(&plan);
    return 0;
}
