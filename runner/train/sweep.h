/* sweep.h -- running an experiment's plan: enqueue what is missing in the
 * database, run it with N worker processes, resume what was cut short, and
 * compare the results. */
#ifndef NNL_SWEEP_H
#define NNL_SWEEP_H

#include <signal.h>
#include <stdio.h>
#include "experiment.h"
#include "store.h"

typedef struct {
    const nnl_plan *plan;
    const char *db;           /* database path */
    int jobs;                 /* worker processes (>= 1) */
    int dry_run;              /* print the plan, write nothing */
    int progress;             /* a terminal: progress bars when jobs == 1 */
    int cores;                /* the cores the workers share; 0: every online core */
    int shared;               /* open db with nnl_store_open_shared (a Slurm shard) */
    volatile sig_atomic_t *stop;
    const char *hint;         /* the closing "what next" line; NULL: how to compare the runs */
    const char *peers;        /* a folder of other databases (*.db, read-only) whose finished runs
                               * the median pruner counts too: a Slurm sweep's other shards */
    /* A Slurm array task of a tpe:/halving plan: after each look at the
     * live plan (with peers and peer_db, the main database, read-only) it
     * runs only the live runs with ordinal % ntasks == task that no other
     * database has ended, and waits for the other tasks while the plan is
     * not complete (see nnl_sweep). ntasks 0: every run, no waiting. */
    const char *peer_db;
    int task, ntasks;
    /* when this submission was made ("2026-01-31T12:00:00Z", or NULL): a
     * run that failed before it waits for its own task's retry rather
     * than blocking the plan */
    const char *since;
} nnl_sweep_opts;

/* Counts of a plan's runs by their status in the database. */
typedef struct {
    int total, finished, failed, diverged, pruned, interrupted, running, queued, missing;
    int skipped;              /* already finished, diverged or pruned before this sweep */
} nnl_sweep_counts;

/* Enqueues and runs the plan. Returns the exit status: 0 when every run of
 * the plan finished (or was pruned), 1 when some failed or diverged, 2 on
 * bad input or a database that cannot be opened, 130 when interrupted.
 * A task (ntasks > 0) with nothing queued while the live plan is not
 * complete sleeps and looks again (every NNLAB_POLL_MS milliseconds,
 * default 5000), saying once per change what it waits for; it returns 1
 * when what it waits for cannot come (a run it waits for failed). */
int nnl_sweep(const nnl_sweep_opts *o, char *err, size_t errlen);

/* A run marked running whose process is gone from this host (kill -9, a
 * crash, a power loss): it can be resumed. */
int nnl_run_is_stale(const nnl_run_row *r);

/* The plan's runs counted by status (nothing written). */
int nnl_sweep_count(nnl_store *s, const nnl_plan *plan, nnl_sweep_counts *c, char *err, size_t errlen);

/* `nnlab compare`: one row per grid point of the experiment, seeds
 * aggregated as mean +- std of test accuracy and best validation accuracy,
 * best first; csv for spreadsheets. Returns 0 or -1. */
int nnl_compare(nnl_store *s, const char *experiment, const char *by, int csv, FILE *out, char *err, size_t errlen);

#endif
