/* slurm_int.h -- what the files of the Slurm commands share (slurm.h is
 * their public side): the options of every command, the record of a
 * submission, the state of each run across the databases, and the helpers
 * of each file. Names are sl_ so that none can meet another file's. */
#ifndef NNL_SLURM_INT_H
#define NNL_SLURM_INT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "cli.h"
#include "config.h"
#include "experiment.h"
#include "proc.h"
#include "search.h"
#include "slurm.h"

#define DEFAULT_DB NNL_DEFAULT_DB
#define MAX_SETS NNL_MAX_SETS

/* what the Slurm commands say of their shared options (cli.h) */
#define SL_OPT_MAIN_DB {NNL_OPT_DB, "the main database (default " DEFAULT_DB ")"}
#define SL_OPT_SHARDS {NNL_OPT_SHARDS, "the shards' folder (default: slurm/EXPERIMENT beside the database)"}
#define SL_OPT_SETS {NNL_OPT_SET, "override a config value in every run, as the sweep did (repeatable)"}

/* every Slurm command's options (cli.h) */
typedef nnl_args opts;

enum { ERR_SHOW = NNL_CHILD_SHOW, ERR_CAPTURE = NNL_CHILD_TOO, ERR_DROP = NNL_CHILD_DROP };

/* DIR/job: the last submission */
/* DIR/job: the last submission; since: when it was made (UTC, ISO 8601) */
typedef struct { char job[64]; int tasks, per_task; char plan[17]; char since[24]; } submission;

typedef struct {
    char status[16];
    int epochs;
    int rank;                 /* how complete: see run_rank */
} run_state;

typedef struct { int finished, running, queued, resume, failed, diverged, pruned; } counts;

typedef struct { int running, pending, other, gone; } queue_counts;

/* the plan with --data folded in as the last override */
int sl_load_plan(const char *cmd, opts *o, nnl_plan *plan);
/* a plan with a tpe: block or successive halving: its runs depend on
 * results, so its tasks share a live plan (slurm_worker.c) */
int sl_plan_dynamic(const nnl_plan *plan);
/* an absolute path for p: realpath when it exists, else the current folder
 * before it */
int sl_abs_path(const char *p, char *out, size_t n);
/* the shards' folder: --shards, else DBDIR/slurm/EXPERIMENT; absolute */
int sl_shards_dir(const opts *o, const nnl_plan *plan, char *out, size_t n);
/* mkdir -p, the error said on stderr */
int sl_mkdirs(const char *path);
/* writes text to path through a temporary file and a rename */
int sl_write_file(const char *path, const char *text, mode_t mode);
/* Runs argv (a command from PATH), its stdout into out; its stderr goes
 * to ours, into out too, or nowhere. Returns its exit status, 127 when it
 * could not run. */
int sl_run_capture(char *const argv[], int errmode, char *out, size_t n);
/* FNV-1a of the plan's keys in order, and for a dynamic plan of its tpe:
 * block and halving settings: the worker checks it is running the plan
 * that was submitted, since its share depends on them */
void sl_plan_hash(const nnl_plan *plan, char out[17]);
/* A small file of the shards' folder (job, done) opened for reading, or
 * NULL: like every input (input.h), only a regular file of at most cap
 * bytes, so a FIFO left there cannot hang a task. */
FILE *sl_open_small(const char *path, long long cap);
int sl_read_submission(const char *dir, submission *sub);
/* finished (diverged, pruned) beats unfinished, then more epochs, then a
 * test result */
int sl_run_rank(const char *status, int epochs, int has_test);
/* every run's best state from the main database and DIR/task-*.db;
 * *nshards gets the number of shard files, in_main the runs main has */
int sl_plan_states(const char *db, const char *dir, const nnl_plan *plan, run_state *st, int *nshards,
                   int *in_main);
void sl_count_states(const nnl_plan *plan, const run_state *st, counts *c);

/* The runs known now and their best states across the main database and
 * the shards: the plan's runs, or for a dynamic plan the live plan as the
 * databases make it known (read-only: search.h), with its pending samples. */
typedef struct {
    const nnl_plan *known;    /* plan, or &live.plan */
    nnl_live live;
    run_state *st;            /* one per known run */
    int nshards, in_main;
    int pending;              /* tpe samples not suggested yet */
} sl_view;
int sl_view_load(const char *db, const char *dir, const nnl_plan *plan, sl_view *v);
void sl_view_free(sl_view *v);
/* every known run ended and nothing pending: nothing left to submit */
int sl_view_ended(const sl_view *v);
void sl_print_counts(FILE *f, const counts *c);
/* the job's array tasks in the queue; print: list them. Returns 0, or -1
 * when squeue could not answer. */
int sl_query_queue(const char *job, queue_counts *q, int print);
/* Where the job's tasks ended, from sacct when the cluster keeps
 * accounting; prints the ones that did not complete. */
void sl_report_sacct(const char *job);
int sl_merge_dir(const char *db, const char *dir);
/* One submission. *submitted: 1 if a job went in (its id in job), 0 when
 * every run was done. Returns 0 or 2. */
int sl_submit(opts *o, const nnl_plan *plan, const char *dir, int *submitted, char *job, size_t joblen);

#endif
