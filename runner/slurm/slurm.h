/* slurm.h -- an experiment's sweep as a Slurm job array, and the commands
 * around it: submit (`nnlab sweep EXPERIMENT --slurm`), the array task
 * (`nnlab worker`), `nnlab merge` and `nnlab status`.
 *
 * Layout: each array task writes its own SQLite file, so no database is
 * ever written from two hosts:
 *
 *   results/nnlab.db                             the main database (--db)
 *   results/slurm/EXPERIMENT/task-I.db           array task I's runs (a shard)
 *   results/slurm/EXPERIMENT/checkpoints/task-I/ID/   their checkpoints
 *   results/slurm/EXPERIMENT/logs/JOB_I.out      the task's output
 *   results/slurm/EXPERIMENT/job                 the last submission
 *   results/slurm/EXPERIMENT/done                keys done before it
 *
 * Task I of N runs the plan's runs I, I + N, I + 2N, ...: the indexing is
 * stable, so a resubmitted task finds its shard and resumes its runs from
 * their checkpoints. Shards use a rollback journal (nnl_store_open_shared),
 * which lets the submitting host read them while a node writes them.
 *
 * The command functions take argv with the command's name first (as main
 * passes it) and return the exit status: 0 success, 1 a run failed or is
 * not done, 2 bad input or a Slurm command that failed, 130 interrupted.
 */
#ifndef NNL_SLURM_H
#define NNL_SLURM_H

#include "store.h"

/* 1 when --slurm is among the arguments: main's `sweep` hands over. */
int nnl_slurm_requested(int argc, char **argv);

int nnl_slurm_sweep_cmd(int argc, char **argv);
int nnl_worker_cmd(int argc, char **argv);
int nnl_merge_cmd(int argc, char **argv);
int nnl_status_cmd(int argc, char **argv);

/* Merges one shard database into main in one transaction, run by run,
 * keyed by (key, experiment): a run main lacks is added with its params,
 * epochs and test result; a run main has is replaced only by a more
 * complete copy (finished beats unfinished, then more epochs, then a test
 * result) or by a newer state of the same copy. Checkpoint folders point
 * into the shard's folder. Merging again changes nothing. Returns 0, or -1
 * with one line in err (main is then unchanged). */
int nnl_merge_shard(nnl_store *main_db, const char *shard, nnl_merge_counts *c, char *err, size_t errlen);

#endif
