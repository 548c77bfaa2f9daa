/* slurm_worker.c -- `nnlab worker`: one array task of a Slurm sweep.
 *
 * Each task takes its share of the plan minus DIR/done, and runs it through
 * nnl_sweep on its own shard with one worker process: finished runs are
 * skipped, runs cut short resume from their last checkpoint. A plan with a
 * tpe: block or successive halving has no fixed list to share out: the task
 * runs nnl_sweep with the whole plan and its index, reading the other
 * shards and the main database read-only, and nnl_sweep keeps the live runs
 * whose ordinal falls to this task, waiting for the other tasks between
 * batches and rungs. Nothing but
 * the task writes its shard, so a run the shard still calls running was
 * left so by a task that died (timeout, preemption, node failure): the task
 * marks it interrupted first, and nnl_sweep resumes it. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "signals.h"
#include "slurm_int.h"
#include "sweep.h"

static const nnl_command worker_cmd = {
    .name = "worker", .args = "EXPERIMENT", .min_args = 1, .max_args = 1, .missing = "an EXPERIMENT file",
    .usage = "usage: nnlab worker EXPERIMENT --shards DIR --task I --ntasks N [--plan HASH]\n"
             "         [--db PATH] [--set KEY=VALUE]... [--data DIR]\n",
    .about =
        "One array task of 'nnlab sweep --slurm' (its sbatch script calls this):\n"
        "runs the experiment's runs I, I + N, I + 2N, ... that DIR/done does not\n"
        "list, on the shard DIR/task-I.db, one at a time with the task's cores\n"
        "($SLURM_CPUS_PER_TASK), resuming what an earlier attempt cut short.\n"
        "With a tpe: block or successive halving, its share is the runs whose\n"
        "place in the plan is I modulo N, as the batches and rungs become known\n"
        "from every shard and the main database (--db, read-only); it waits for\n"
        "the other tasks between them (every NNLAB_POLL_MS ms, default 5000).\n",
    .opts = {{NNL_OPT_SHARDS, "the shards' folder, DIR (required)"}, {NNL_OPT_TASK, "this task's index, I (required)"},
             {NNL_OPT_NTASKS, "the array's size, N (required)"}, {NNL_OPT_PLAN},
             {NNL_OPT_DB, "the main database, read-only: its runs count as done (default " DEFAULT_DB ")"},
             SL_OPT_SETS, {NNL_OPT_DATA}},
};

static int read_done(const char *dir, char (**keys)[17], int *n) {
    char path[NNL_PATH_MAX + 8], line[64];
    snprintf(path, sizeof path, "%s/done", dir);
    *keys = NULL;
    *n = 0;
    if (access(path, F_OK)) return 0;
    FILE *f = sl_open_small(path, 17LL * NNL_MAX_PLAN + 4096); /* a key a line */
    if (!f) return -1;
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) != 16) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char (*nk)[17] = realloc(*keys, sizeof **keys * (size_t)cap);
            if (!nk) { fclose(f); return -1; }
            *keys = nk;
        }
        memcpy((*keys)[(*n)++], line, 17);
    }
    fclose(f);
    return 0;
}

static int listed(char (*keys)[17], int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], key)) return 1;
    return 0;
}

/* the cores this task may use: Slurm's allocation, else the affinity mask */
static int task_cores(void) {
    const char *c = getenv("SLURM_CPUS_PER_TASK");
    if (c && atoi(c) > 0) return atoi(c);
    cpu_set_t set;
    if (!sched_getaffinity(0, sizeof set, &set)) return CPU_COUNT(&set);
    return 0;
}

/* every run the shard calls running was left so by an attempt of this task
 * that died: only this task writes this shard */
static int release_dead_runs(const char *shard, char *err, size_t errlen) {
    if (access(shard, F_OK)) return 0;
    nnl_store *s = nnl_store_open_shared(shard, err, errlen);
    if (!s) return -1;
    int64_t ids[1024];
    int n = nnl_store_running_ids(s, NULL, 0, ids, 1024, err, errlen);
    int failed = n < 0;
    for (int i = 0; i < n && !failed; i++) {
        failed = nnl_store_run_status(s, ids[i], "interrupted",
                                      "its array task ended without stopping it (timeout, preemption or node failure)",
                                      err, errlen);
        if (!failed) fprintf(stderr, "run %lld of an earlier attempt: resuming from its last checkpoint\n",
                             (long long)ids[i]);
    }
    nnl_store_close(s);
    return failed ? -1 : 0;
}

/* A fixed plan's share: runs I, I + N, ... that DIR/done does not list.
 * sub->runs is malloc'd; returns 0 or 2. */
static int static_share(const opts *o, const nnl_plan *plan, nnl_plan *sub) {
    char (*done)[17];
    int ndone;
    if (read_done(o->shards, &done, &ndone)) {
        fprintf(stderr, "nnlab worker: %s/done: cannot read it (not a regular file, too large, or out of memory)\n",
                o->shards);
        return 2;
    }
    *sub = *plan;
    sub->runs = malloc(sizeof *sub->runs * (size_t)(plan->nruns / o->ntasks + 1));
    sub->nruns = 0;
    for (int i = o->task; sub->runs && i < plan->nruns; i += o->ntasks)
        if (!listed(done, ndone, plan->runs[i].key)) sub->runs[sub->nruns++] = plan->runs[i];
    free(done);
    if (!sub->runs) { fprintf(stderr, "nnlab worker: out of memory\n"); return 2; }
    return 0;
}

int nnl_worker_cmd(int argc, char **argv) {
    opts o;
    int rc = nnl_cli_parse(&worker_cmd, argc, argv, &o);
    if (rc || o.help) return rc;
    if (!o.shards || o.task < 0 || o.ntasks < 1) {
        fprintf(stderr, "nnlab worker: --shards, --task and --ntasks are required (see 'nnlab worker --help')\n");
        return 2;
    }
    if (o.task >= o.ntasks) {
        fprintf(stderr, "nnlab worker: --task %d: expected 0 to %d (--ntasks %d)\n", o.task, o.ntasks - 1, o.ntasks);
        return 2;
    }
    nnl_plan plan;
    if (sl_load_plan("worker", &o, &plan)) return 2;
    char h[17], err[1024];
    sl_plan_hash(&plan, h);
    if (o.plan_hash && strcmp(o.plan_hash, h)) {
        fprintf(stderr, "nnlab worker: %s: the experiment's plan changed since it was submitted (plan %s, now %s); "
                        "submit it again with 'nnlab sweep %s --slurm'\n", o.positional, o.plan_hash, h, o.positional);
        nnl_plan_free(&plan);
        return 2;
    }
    nnl_plan sub = plan;
    int dynamic = plan.tpe || plan.prune == NNL_PRUNE_HALVING;
    if (!dynamic && (rc = static_share(&o, &plan, &sub))) {
        nnl_plan_free(&plan);
        return rc;
    }
    char shard[NNL_PATH_MAX + 32];
    snprintf(shard, sizeof shard, "%s/task-%d.db", o.shards, o.task);
    char host[256] = "?";
    gethostname(host, sizeof host);
    if (dynamic)
        printf("nnlab worker: task %d of %d on %s: the runs of %s whose place in the plan is %d modulo %d, as "
               "its batches and rungs become known, into %s\n", o.task, o.ntasks, host, plan.name, o.task, o.ntasks,
               shard);
    else
        printf("nnlab worker: task %d of %d on %s: %d run%s of %s into %s\n", o.task, o.ntasks, host, sub.nruns,
               sub.nruns == 1 ? "" : "s", plan.name, shard);
    fflush(stdout);
    if (!sub.nruns && !dynamic) rc = 0;
    else if (sl_mkdirs(o.shards)) rc = 2;
    else if (release_dead_runs(shard, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
    } else {
        nnl_signals_install();
        /* a shard holds one task's runs: the whole sweep is seen through status */
        char hint[NNL_PATH_MAX + 128];
        snprintf(hint, sizeof hint, "the whole sweep, and how to merge its shards: nnlab status %s", o.positional);
        nnl_sweep_opts so = {.plan = &sub, .db = shard, .jobs = 1, .cores = task_cores(), .shared = 1,
                             .stop = &nnl_stop, .hint = hint, .peers = o.shards};
        submission last;
        if (dynamic) {
            /* a run that failed before this submission is retried by its
             * own task: the others wait for it rather than give up */
            if (!sl_read_submission(o.shards, &last) && last.since[0]) so.since = last.since;
            so.peer_db = o.db;
            so.task = o.task;
            so.ntasks = o.ntasks;
        }
        rc = nnl_sweep(&so, err, sizeof err);
        if (rc == 2) fprintf(stderr, "%s\n", err);
    }
    if (!dynamic) free(sub.runs);
    nnl_plan_free(&plan);
    return rc;
}
