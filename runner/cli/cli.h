/* cli.h -- the one option parser of every nnlab command, table-driven.
 *
 * Every option any command takes is described once, in cli.c's table: its
 * name, its value, where the value goes in nnl_args, its check and its help
 * line. A command names the options it takes (nnl_command), and its
 * `--help` is written from the same lists, so an option cannot be parsed
 * without being documented, nor documented without being parsed.
 *
 *     static const nnl_command ls_cmd = {
 *         .name = "ls", .about = "Lists the runs ...\n",
 *         .opts = {{NNL_OPT_DB}, {NNL_OPT_EXPERIMENT}},
 *     };
 *     nnl_args a;
 *     int rc = nnl_cli_parse(&ls_cmd, argc, argv, &a);
 *     if (rc || a.help) return rc;          // bad usage said on stderr; --help printed
 *     ... a.db, a.experiment, a.pos[0..a.npos) ...
 *
 * Options and arguments may come in any order; `--name=value`, `--name
 * value`, `-j N` and `-jN` all work, a unique prefix of a long name stands
 * for it, and `--` ends the options. */
#ifndef NNL_CLI_H
#define NNL_CLI_H

#include <stdio.h>
#include "config.h"

#define NNL_DEFAULT_DB "results/nnlab.db"
#define NNL_MAX_SETS 256
#define NNL_MAX_SBATCH_ARGS 64

/* Every option of every command. */
typedef enum {
    NNL_OPT_NONE,                   /* ends a command's list */
    NNL_OPT_SET, NNL_OPT_DB, NNL_OPT_DATA, NNL_OPT_QUIET, NNL_OPT_PRINT, NNL_OPT_EXPERIMENT,
    NNL_OPT_JOBS, NNL_OPT_DRY_RUN, NNL_OPT_CSV, NNL_OPT_BY, NNL_OPT_RESUME, NNL_OPT_OUT,
    /* the Slurm commands */
    NNL_OPT_SLURM, NNL_OPT_PARTITION, NNL_OPT_TIME, NNL_OPT_CPUS, NNL_OPT_PARALLEL, NNL_OPT_PER_TASK,
    NNL_OPT_SBATCH_ARG, NNL_OPT_WAIT, NNL_OPT_RETRIES, NNL_OPT_POLL, NNL_OPT_SHARDS,
    NNL_OPT_TASK, NNL_OPT_NTASKS, NNL_OPT_PLAN,
    NNL_OPT_COUNT
} nnl_opt_id;

/* What a command line gave; what it did not give keeps its default. */
typedef struct {
    const char *db;                 /* --db (default NNL_DEFAULT_DB) */
    const char *data;               /* --data: folded in by the command as the last --set data.dir */
    const char *experiment, *resume, *out;
    const char *by;                 /* compare --by KEY */
    nnl_override sets[NNL_MAX_SETS];  /* --set, in order */
    const char *set_text[NNL_MAX_SETS]; /* each --set as typed (a Slurm task's command line) */
    int nsets;
    int quiet, print, dry_run, csv, help;
    int jobs;                       /* -j (default 1) */
    /* Slurm */
    const char *shards, *partition, *time, *plan_hash;
    const char *sbatch_args[NNL_MAX_SBATCH_ARGS];
    int nsbatch;
    int slurm, wait;
    int cpus, parallel, per_task, retries, poll, task, ntasks; /* defaults 1, 0, 1, 0, 10, -1, -1 */
    /* the arguments that are not options, in order */
    char **pos;
    int npos;
    const char *positional;         /* pos[0], or NULL */
} nnl_args;

/* One option of a command: which, and (when the command says more than the
 * table does) its own help text. */
typedef struct {
    nnl_opt_id id;
    const char *help;
} nnl_cmd_opt;

#define NNL_CMD_MAX_OPTS 24

typedef struct {
    const char *name;               /* "train" */
    const char *args;               /* its arguments in the usage line: "CONFIG", "[CONFIG]", "SHARD.db..." */
    int min_args, max_args;         /* how many; max -1: no limit */
    const char *missing;            /* "expected ..." when too few: "a CONFIG", "an EXPERIMENT file" */
    const char *usage;              /* the whole usage line(s) when they say more than one form; NULL:
                                       written from args and the options */
    const char *about;              /* what it does, between the usage and the options */
    const char *after;              /* after the options (exit status, what next); may be NULL */
    nnl_cmd_opt opts[NNL_CMD_MAX_OPTS]; /* the options it takes, in the order --help lists them */
} nnl_command;

/* Parses argv (argv[0] the command's name) into a. Returns 0, or 2 (the
 * exit status of bad usage) after one line on stderr naming the command and
 * the option. --help or -h prints the help on stdout, sets a->help and
 * returns 0. */
int nnl_cli_parse(const nnl_command *cmd, int argc, char **argv, nnl_args *a);

/* Writes cmd's --help. */
void nnl_cli_help(const nnl_command *cmd, FILE *f);

#endif
