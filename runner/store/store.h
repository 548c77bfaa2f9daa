/* store.h -- the results store: one SQLite database (results/nnlab.db by
 * default) that holds every run, its config parameters, per-epoch metrics,
 * test confusion matrix and per-class accuracy.
 *
 * Every query nnlab makes is behind this header: callers get typed rows
 * (runs with their params, epoch series, comparison rows, the runs of a
 * shard being merged), never SQL or the connection. Only the files of store/
 * include sqlite3.h.
 *
 * Several processes (parallel sweep workers) write one database at once.
 * The store makes that safe: WAL journal mode, a 30 s busy timeout, and every
 * write is its own short BEGIN IMMEDIATE transaction, so writers queue
 * instead of failing with "database is locked", and a process killed at any
 * moment leaves every committed epoch in place.
 *
 *     char err[512];
 *     nnl_store *s = nnl_store_open("results/nnlab.db", err, sizeof err);
 *     if (!s) { fprintf(stderr, "%s\n", err); return 2; }
 *     nnl_run_info ri = {.key = key, .name = "lenet5", .config = text, .seed = 0};
 *     int64_t run = nnl_store_run_create(s, &ri, err, sizeof err);
 *     for (each epoch e = 1, 2, ...) {
 *         nnl_epoch_row row = {.epoch = e, .train_loss = ..., .val_acc = ...};
 *         if (nnl_store_epoch_add(s, run, &row, err, sizeof err)) ...;
 *     }
 *     nnl_store_test_result(s, run, loss, acc, confusion, class_acc, 10, err, sizeof err);
 *     nnl_store_run_status(s, run, "finished", NULL, err, sizeof err);
 *     nnl_store_close(s);
 *
 * Errors: every function that can fail returns -1 (or NULL) and writes one
 * line into err naming the database, what failed and SQLite's message:
 *   "results/nnlab.db: writing epoch 3 of run 12: disk I/O error".
 * err may be NULL when the caller does not want the message.
 *
 * Conventions: epochs count from 1; accuracies are fractions in [0, 1];
 * a NaN double is stored as NULL (e.g. val_acc without a validation split)
 * and NULL reads back as NaN. Times are ISO-8601 UTC text,
 * "2025-01-31T12:00:00Z". A run's status is one of queued, running,
 * finished, failed, diverged, interrupted, pruned.
 *
 * A store handle belongs to one thread and one process: after fork() the
 * child opens its own.
 */
#ifndef NNL_STORE_H
#define NNL_STORE_H

#include <stddef.h>
#include <stdint.h>

/* The schema version this nnlab writes, kept in PRAGMA user_version. */
#define NNL_STORE_SCHEMA_VERSION 1

/* The largest epoch number a database may hold (train.epochs' limit): a
 * larger one, as a NULL where nnlab writes none, a label outside
 * 0..classes-1 or a negative count, is reported as a damaged database. */
#define NNL_STORE_MAX_EPOCH 100000

typedef struct nnl_store nnl_store;

/* What a new run records; strings are copied, pointers need only live for
 * the call. */
typedef struct {
    const char *key;            /* 16 hex digits, the hash of the resolved config */
    const char *name;           /* config name; may be NULL */
    const char *experiment;     /* sweep name; NULL for a lone `nnlab train` */
    const char *config;         /* resolved canonical config text */
    uint64_t seed;
    int64_t nparams;
    const char *checkpoint_dir; /* may be NULL */
    const char *status;         /* NULL means "running" */
} nnl_run_info;

/* One epoch's metrics. Doubles may be NaN (stored as NULL). */
typedef struct {
    int epoch;                  /* 1, 2, ... */
    double train_loss, train_acc;
    double val_loss, val_acc;
    double lr;
    double seconds;             /* wall time of the epoch */
} nnl_epoch_row;

/* Every column of one run. Strings are malloc'd copies, NULL where the
 * column is NULL; release them with nnl_run_row_free. Missing numbers read
 * as 0 for integers (no epoch is 0) and NaN for doubles. */
typedef struct {
    int64_t id;
    char *key, *name, *experiment, *status, *config;
    uint64_t seed;
    char *created, *started, *finished;
    char *host;
    int64_t pid;
    char *version, *git_commit;
    int64_t nparams;
    int epochs_done;            /* the last epoch written */
    int best_epoch;             /* 0: no validation accuracy yet */
    double best_val_acc;
    double test_loss, test_acc;
    int diverged_epoch;         /* 0: did not diverge */
    char *error;
    char *checkpoint_dir;
} nnl_run_row;

/* One line of `nnlab ls`. The strings belong to the store and are valid
 * only during the callback that receives them. */
typedef struct {
    int64_t id;
    const char *key, *name, *experiment, *status;
    const char *created, *finished, *error;
    int epochs_done;
    double best_val_acc;        /* NaN: none */
    double test_acc;            /* NaN: none */
} nnl_run_summary;

/* --- opening ------------------------------------------------------------ */

/* Opens (creating if needed) the database at path for reading and writing.
 * Creates the parent directory if it is missing (one level), switches to
 * WAL, and brings the schema up to NNL_STORE_SCHEMA_VERSION. Refuses a file
 * that is not SQLite, an SQLite file that is not nnlab's, a read-only file,
 * and a schema newer than this program's:
 *   "results/nnlab.db: schema version 3 is newer than this nnlab (1); upgrade nnlab".
 * Safe to call from many processes at once on a new file. */
nnl_store *nnl_store_open(const char *path, char *err, size_t errlen);

/* Like nnl_store_open, but with a rollback journal (journal_mode DELETE,
 * synchronous FULL) instead of WAL: for a database on a network file system
 * that one host writes while others read it (the shards of `nnlab sweep
 * --slurm`). WAL needs every reader on the writer's host; a rollback journal
 * needs only working file locks. Writers take turns, so keep it to one
 * writing process at a time. */
nnl_store *nnl_store_open_shared(const char *path, char *err, size_t errlen);

/* Opens an existing database for reading only (`nnlab ls`, reports): never
 * creates, migrates or writes; every write function fails with a clear
 * error. */
nnl_store *nnl_store_open_readonly(const char *path, char *err, size_t errlen);

/* Like nnl_store_open_readonly, waiting at most busy_ms for a lock rather
 * than 30 s: for a glance at a database another host is writing (the
 * median pruner reads the other shards of a Slurm sweep). */
nnl_store *nnl_store_open_readonly_busy(const char *path, int busy_ms, char *err, size_t errlen);

/* The other databases of a folder: calls fn with each *.db file in dir but
 * the one named like own's last part, opened with
 * nnl_store_open_readonly_busy(path, busy_ms), as any database from
 * elsewhere is (a file put in the folder must not run a view or a trigger
 * in every reader). fn owns the handle: it closes it or keeps it. A file
 * that cannot be opened at the moment (being written on another node) is
 * left out. fn returns non-zero to stop. */
void nnl_store_peers_foreach(const char *dir, const char *own, int busy_ms, int (*fn)(nnl_store *peer, void *ud),
                             void *ud);

/* Databases travel (a colleague's, a shard from a cluster, one published
 * with a paper), so every open treats the file as hostile: a FIFO or a
 * device is refused before SQLite opens it; the connection runs SQLite's
 * defensive mode with trusted_schema off and no triggers or views; the
 * schema must be exactly the one nnlab's migrations create (a trigger, a
 * view, an extra index or a table of other columns is refused with one
 * line naming it); and every row read below is checked before use (NULLs
 * where nnlab writes none, statuses, labels outside 0..classes-1, negative
 * counts, epochs out of order or past NNL_STORE_MAX_EPOCH, control
 * characters in text): "results/nnlab.db: damaged database: ...". Once
 * Ctrl-C or SIGTERM has set nnl_stop (signals.h), a statement still running
 * after 2 s is interrupted. */

/* Closes the database and frees s; NULL is allowed. */
void nnl_store_close(nnl_store *s);

/* The path the store was opened with. */
const char *nnl_store_path(const nnl_store *s);

/* --- transactions ------------------------------------------------------- */

/* Groups several writes into one transaction (BEGIN IMMEDIATE ... COMMIT),
 * e.g. every param of a run. Each write function below is atomic by itself;
 * inside a group it becomes a savepoint of the group. Keep groups short:
 * they block every other writer. */
int nnl_store_begin(nnl_store *s, char *err, size_t errlen);
int nnl_store_commit(nnl_store *s, char *err, size_t errlen);
/* Undoes the group; harmless when no group is open. */
int nnl_store_rollback(nnl_store *s, char *err, size_t errlen);

/* --- writing ------------------------------------------------------------ */

/* Inserts a run and returns its id (> 0), or -1. Also records created (now),
 * started (now, when the status is running), host (gethostname), pid,
 * version (NNLAB_VERSION) and git_commit (nnl_git_commit, version.h). */
int64_t nnl_store_run_create(nnl_store *s, const nnl_run_info *info,
                             char *err, size_t errlen);

/* Records one resolved config value ("train.lr" = "0.001"). Writing a key
 * again replaces its value, so a resumed run can record its params again.
 * Wrap many in nnl_store_begin/commit to write them in one transaction. */
int nnl_store_param_add(nnl_store *s, int64_t run, const char *key,
                        const char *value, char *err, size_t errlen);

/* In one transaction: writes the epoch row (replacing an earlier row of the
 * same epoch), deletes rows of later epochs, and sets the run's epochs_done
 * to row->epoch and best_epoch/best_val_acc to the highest val_acc so far
 * (the earlier epoch on ties). Later rows go because rewriting epoch e means
 * the run resumed from a checkpoint before e, and those rows belong to the
 * abandoned attempt. */
int nnl_store_epoch_add(nnl_store *s, int64_t run, const nnl_epoch_row *row,
                        char *err, size_t errlen);

/* Sets the status and error message (NULL clears it). A terminal status
 * (finished, failed, diverged, interrupted, pruned) sets finished to now;
 * running clears finished, sets started if it was unset, and records this
 * host and pid as the run's owner. */
int nnl_store_run_status(nnl_store *s, int64_t run, const char *status,
                         const char *error_or_null, char *err, size_t errlen);

/* Records where the run's checkpoints live (known once its id is). */
int nnl_store_run_checkpoint_dir(nnl_store *s, int64_t run, const char *dir,
                                 char *err, size_t errlen);

/* Marks the run diverged at epoch (status diverged, finished now). */
int nnl_store_run_diverged(nnl_store *s, int64_t run, int epoch,
                           char *err, size_t errlen);

/* In one transaction: test loss and accuracy, the confusion matrix and the
 * per-class accuracy, replacing any earlier test result of the run.
 *   confusion: (nclasses, nclasses) row-major, [true][predicted] counts
 *   class_acc: (nclasses,) or NULL */
int nnl_store_test_result(nnl_store *s, int64_t run, double test_loss,
                          double test_acc, const int64_t *confusion,
                          const double *class_acc, int nclasses,
                          char *err, size_t errlen);

/* Deletes a run that never started (a queued run an experiment's plan no
 * longer has), with whatever it holds. */
int nnl_store_run_drop(nnl_store *s, int64_t run, char *err, size_t errlen);

/* For sweep workers sharing a queue: atomically takes the oldest queued run
 * of experiment (NULL: lone runs), marks it running with this host and pid,
 * and returns its id; 0 when none is left; -1 on error. */
int64_t nnl_store_claim_queued(nnl_store *s, const char *experiment,
                               char *err, size_t errlen);

/* --- reading ------------------------------------------------------------ */

/* Resolves what a user typed: all digits (fewer than 16) is a run id, else a
 * prefix of a run key, case-insensitive. No match, or a prefix that matches
 * several runs, is an error ("... matches 3 runs (ids 4, 9, 12); give more
 * digits or a run id"). Returns the id or -1. */
int64_t nnl_store_find_run(nnl_store *s, const char *spec,
                           char *err, size_t errlen);

/* The newest run with exactly this key in this experiment (NULL: a lone
 * run), for resuming; 0 if there is none, -1 on error. */
int64_t nnl_store_find_key(nnl_store *s, const char *key,
                           const char *experiment_or_null,
                           char *err, size_t errlen);

/* Fills out with every column of the run. On success release with
 * nnl_run_row_free; on error out holds nothing to free. */
int nnl_store_run_get(nnl_store *s, int64_t run, nnl_run_row *out,
                      char *err, size_t errlen);
void nnl_run_row_free(nnl_run_row *r);

/* The run's epoch rows in epoch order: returns their count (0 is fine) and
 * sets *rows to a malloc'd array the caller frees (NULL when the count is
 * 0), or returns -1. */
int nnl_store_epochs_get(nnl_store *s, int64_t run, nnl_epoch_row **rows,
                         char *err, size_t errlen);

/* Calls fn for each run in id order, only those of experiment unless it is
 * NULL. fn returns 0 to go on, non-zero to stop. Returns 0 or -1.
 * fn may read from the store but should not write to it: the listing holds
 * a read snapshot, and a write from inside it fails with "database is
 * locked" if another process has written since the snapshot began. */
int nnl_store_runs_foreach(nnl_store *s, const char *experiment,
                           int (*fn)(const nnl_run_summary *r, void *ud),
                           void *ud, char *err, size_t errlen);

/* Calls fn for each recorded param of the run, sorted by key. */
int nnl_store_params_foreach(nnl_store *s, int64_t run,
                             void (*fn)(const char *key, const char *value, void *ud),
                             void *ud, char *err, size_t errlen);

/* One param of the run into out (n bytes, cut to fit): 1 when the run has
 * it, 0 when not (out is ""), -1 on error. Every param of the run is read
 * and checked, as nnl_store_params_foreach does. */
int nnl_store_param_get(nnl_store *s, int64_t run, const char *key, char *out, size_t n,
                        char *err, size_t errlen);

/* The run's test result: returns nclasses (0: none recorded) or -1.
 * Fills confusion (nclasses, nclasses) row-major [true][predicted] and
 * class_acc (nclasses,) with NaN for a missing class; either may be NULL.
 * cap is the room the caller has: confusion must hold cap*cap entries and
 * class_acc cap; more than cap classes is an error. */
int nnl_store_test_get(nnl_store *s, int64_t run, int64_t *confusion,
                       double *class_acc, int cap, char *err, size_t errlen);

/* 1 when some run belongs to experiment, 0 when none does, -1 on error. */
int nnl_store_has_experiment(nnl_store *s, const char *experiment, char *err, size_t errlen);

/* The ids of the runs marked running (on host with pid, where host is not
 * NULL and pid not 0), at most cap of them in id order: their count or -1.
 * A sweep asks after a worker died; a Slurm task about the runs a dead
 * attempt of it left. */
int nnl_store_running_ids(nnl_store *s, const char *host, int64_t pid, int64_t *ids, int cap,
                          char *err, size_t errlen);

/* The newest run with key in experiment, as a Slurm submission and `nnlab
 * status` weigh the copies of a run across databases. The values are as
 * the file holds them (status "" for NULL): the caller checks them. */
typedef struct {
    char status[16];
    int epochs_done, has_test;
} nnl_key_state;

/* 1 with *out filled, 0 when there is no such run, -1 on error. */
int nnl_store_key_state(nnl_store *s, const char *key, const char *experiment, nnl_key_state *out,
                        char *err, size_t errlen);

/* Calls fn with the key and the validation accuracy at epoch of each
 * finished run of experiment that has one (the median pruner's sample);
 * fn returns non-zero to stop. Rows that cannot be read end the list
 * quietly: a pruner that cannot ask lets the run go on. 0 or -1. */
int nnl_store_epoch_val_accs(nnl_store *s, const char *experiment, int epoch,
                             int (*fn)(const char *key, double val_acc, void *ud), void *ud,
                             char *err, size_t errlen);

/* --- merging one database into another (store_merge.c) ------------------ */

typedef struct { int added, updated, unchanged; } nnl_merge_counts;

/* One run as a merge weighs its copies: the shard's, or main's newest of
 * the same key and experiment. The strings are valid during the callback. */
typedef struct {
    int64_t id;
    const char *key, *status;           /* never NULL */
    const char *experiment, *finished, *error;
    const char *checkpoint_dir;         /* main's copy only */
    int epochs_done, has_test;
} nnl_merge_run;

/* Decides for one run of the shard: writes into ckdir (n bytes) where the
 * shard's copy keeps its checkpoints, and returns 1 to copy the shard's
 * run over main's, 0 to keep main's. main is NULL when main lacks the run:
 * it is then added whatever the answer. */
typedef int (*nnl_merge_decide)(const nnl_merge_run *shard, const nnl_merge_run *main, char *ckdir, size_t n,
                                void *ud);

/* Merges every run of shard (an open store, already checked with
 * nnl_store_check) into s, in one transaction of s: a run s lacks is added
 * with its params, epochs and test result, one it has is replaced when
 * decide says so. 0, or -1 with err set and s unchanged. */
int nnl_store_merge(nnl_store *s, nnl_store *shard, nnl_merge_decide decide, void *ud, nnl_merge_counts *c,
                    char *err, size_t errlen);

/* One of queued, running, finished, failed, diverged, interrupted, pruned. */
int nnl_store_status_known(const char *status);
/* 1 when a run with this status has ended for good: finished, diverged or
 * pruned (a failed or interrupted run may go on; a sweep skips the others) */
int nnl_store_status_final(const char *status);

/* Reads every row of the run and checks it as the readers above do: 0, or
 * -1 with the first damage in err. */
int nnl_store_check_run(nnl_store *s, int64_t run, char *err, size_t errlen);

/* PRAGMA quick_check, then nnl_store_check_run for every run: what `nnlab
 * merge` asks of a shard before it copies a row. 0 or -1. */
int nnl_store_check(nnl_store *s, char *err, size_t errlen);

/* One run of an experiment with the grid point it belongs to (its
 * sweep.point param, else its name, else ""), for compare and report. The
 * strings are valid during the callback only. */
typedef struct {
    int64_t id;
    const char *point, *status;
    double test_acc, best_val_acc;  /* NaN: none */
} nnl_point_run;

/* Calls fn for each run of experiment in id order; fn returns non-zero to
 * stop. 0 or -1. */
int nnl_store_points_foreach(nnl_store *s, const char *experiment,
                             int (*fn)(const nnl_point_run *r, void *ud), void *ud,
                             char *err, size_t errlen);

/* --- comparing an experiment's grid points (store_compare.c) -------------- */

#define NNL_COMPARE_MAX_COLS 16

/* One grid point of an experiment: what `nnlab compare` prints as a row and
 * the report shows in its table. Accuracies are fractions. */
typedef struct {
    char point[256];            /* "k1=v1,k2=v2"; "" (or the run name) without a grid */
    int runs;                   /* the point's runs in the database */
    int finished;               /* those finished with a test result: the seeds counted */
    double test_mean, test_std; /* test accuracy; mean NaN when none finished */
    double val_mean, val_std;   /* best validation accuracy */
    double test_half;           /* half width of the 95 % interval of test_mean (Student's t); NaN under 2 seeds */
    double p_best, p_holm;      /* Welch's p against the first (best) row, and Holm-corrected over the rows */
    int differs;                /* from the best beyond seed noise (p_holm < 0.05): 1, 0, or -1 untested */
} nnl_compare_row;

typedef struct {
    nnl_compare_row *rows;      /* best mean test accuracy first, unfinished points last */
    int n;
    char cols[NNL_COMPARE_MAX_COLS][64]; /* the grid's keys, from the best point's name */
    int ncols;
} nnl_comparison;

/* The comparison of experiment: 0, or -1 with err set (also when it has no
 * runs). Release with nnl_comparison_free. */
int nnl_store_compare(nnl_store *s, const char *experiment, nnl_comparison *out, char *err, size_t errlen);
/* The same with one row per value of the grid key `by` (NULL: per point),
 * each pooling the finished runs of every point with that value: the
 * effect of one key averaged over the others. The row's point is
 * "by=value" ("by=-" for runs without the key). A key no point has is an
 * error that lists the keys there are. */
int nnl_store_compare_by(nnl_store *s, const char *experiment, const char *by, nnl_comparison *out, char *err,
                         size_t errlen);
void nnl_comparison_free(nnl_comparison *c);

/* Row i against the best (row 0): "best", "yes" (beyond the seed noise),
 * "no", or NULL when untested (fewer than 2 seeds on a side). */
const char *nnl_compare_verdict(const nnl_compare_row *r, int i);

/* The value of key col in the row's point, "-" when it has none. */
void nnl_compare_value(const nnl_compare_row *r, const char *col, char *out, size_t n);

#endif
