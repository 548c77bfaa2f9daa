/* slurm.c -- an experiment's sweep as a Slurm job array (see slurm.h for
 * the layout of the shared results folder).
 *
 * Submitting reads what is done (finished, diverged or pruned in the main
 * database or in any shard), writes the keys of those runs to DIR/done, and
 * submits an array of only the tasks that still have something to run, with
 * their stable indices. Each task (`nnlab worker`) takes its share of the
 * plan minus DIR/done, and runs it through nnl_sweep on its own shard with
 * one worker process: finished runs are skipped, runs cut short resume from
 * their last checkpoint. Nothing but the task writes its shard, so a run
 * the shard still calls running was left so by a task that died (timeout,
 * preemption, node failure): the task marks it interrupted first, and
 * nnl_sweep resumes it.
 *
 * Slurm is driven through its commands (sbatch, squeue, sacct), never its
 * library, so nnlab builds without Slurm installed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "data.h"
#include "experiment.h"
#include "input.h"
#include "names.h"
#include "proc.h"
#include "signals.h"
#include "slurm.h"
#include "sweep.h"
#include "train.h"

#define DEFAULT_DB "results/nnlab.db"
#define MAX_SETS 256
#define MAX_SBATCH_ARGS 64

static const char usage_slurm_sweep[] =
    "usage: nnlab sweep EXPERIMENT --slurm [--partition P] [--time T] [--cpus-per-task C]\n"
    "         [--array-parallel M] [--runs-per-task K] [--sbatch-arg ARG]... [--print]\n"
    "         [--wait [--retries N]] [--db PATH] [--shards DIR] [--set KEY=VALUE]... [--data DIR]\n"
    "\n"
    "Runs the experiment as a Slurm job array: writes an sbatch script with one\n"
    "array task per run (or per K runs), submits it with sbatch and prints the\n"
    "job id. Each task runs 'nnlab worker' on a compute node and writes its runs\n"
    "to its own SQLite file, DIR/task-I.db, checkpoints beside it in\n"
    "DIR/checkpoints/task-I/; DIR is results/slurm/EXPERIMENT beside the\n"
    "database. The results folder, this nnlab binary and the data must be on a\n"
    "file system every node sees.\n"
    "\n"
    "Submit again to run only what is missing: runs done in the database or in\n"
    "any shard are skipped, and tasks that were cancelled, timed out, preempted\n"
    "or lost with their node continue their runs from their checkpoints.\n"
    "\n"
    "  --partition P        sbatch --partition (default: the cluster's default)\n"
    "  --time T             sbatch --time, per task, e.g. 2:00:00\n"
    "  --cpus-per-task C    cores per task (default 1); a task trains with C threads\n"
    "  --array-parallel M   at most M tasks at once (--array=...%M)\n"
    "  --runs-per-task K    K runs per task, run one after the other (default 1)\n"
    "  --sbatch-arg ARG     one more '#SBATCH ARG' line, e.g. --sbatch-arg=--mem=2G\n"
    "                       (repeatable)\n"
    "  --print              print the sbatch script; submit nothing, write nothing\n"
    "  --wait               wait for the array to end (polling squeue), then merge\n"
    "                       the shards into the database (nnlab merge)\n"
    "  --retries N          with --wait: submit again up to N times while runs are\n"
    "                       unfinished (a task timed out or was preempted)\n"
    "  --poll SECONDS       with --wait: how often to ask squeue (default 10)\n"
    "  --db PATH            the main database (default " DEFAULT_DB ")\n"
    "  --shards DIR         the shards' folder (default: beside the database)\n"
    "  --set KEY=VALUE      override a config value in every run (repeatable)\n"
    "  --data DIR           the FashionMNIST folder (same as --set data.dir=DIR)\n"
    "\n"
    "Then: nnlab status EXPERIMENT; nnlab merge; nnlab compare EXPERIMENT.\n"
    "exit status: 0 submitted (with --wait: every run finished), 1 with --wait:\n"
    "some run failed or is unfinished, 2 bad input or sbatch failed, 130\n"
    "interrupted while waiting (the job goes on).\n";

static const char usage_worker[] =
    "usage: nnlab worker EXPERIMENT --shards DIR --task I --ntasks N [--plan HASH]\n"
    "         [--set KEY=VALUE]... [--data DIR]\n"
    "\n"
    "One array task of 'nnlab sweep --slurm' (its sbatch script calls this):\n"
    "runs the experiment's runs I, I + N, I + 2N, ... that DIR/done does not\n"
    "list, on the shard DIR/task-I.db, one at a time with the task's cores\n"
    "($SLURM_CPUS_PER_TASK), resuming what an earlier attempt cut short.\n"
    "  --plan HASH   refuse to run if the experiment's plan is no longer the one\n"
    "                submitted (the file was edited in between)\n";

static const char usage_merge[] =
    "usage: nnlab merge [--db PATH] SHARD.db...\n"
    "\n"
    "Merges shard databases (results/slurm/EXPERIMENT/task-*.db, written by\n"
    "'nnlab sweep --slurm') into the main database, one transaction per shard.\n"
    "Runs are matched by key and experiment: a run the database lacks is added\n"
    "with its params, epochs and test result; one it has is replaced only by a\n"
    "more complete copy (finished, then more epochs). Merging twice adds nothing.\n"
    "  --db PATH   the main database (default " DEFAULT_DB ")\n";

static const char usage_status[] =
    "usage: nnlab status EXPERIMENT [--db PATH] [--shards DIR] [--set KEY=VALUE]... [--data DIR]\n"
    "\n"
    "For a sweep submitted with 'nnlab sweep --slurm': its runs finished,\n"
    "running, queued (not started or to resume) and failed, read from the main\n"
    "database and the shards, and its array tasks from squeue. Give the same\n"
    "--set options as to the sweep.\n";


/* ---- options */

typedef struct {
    const char *db, *shards, *partition, *time, *positional, *data;
    nnl_override sets[MAX_SETS];
    const char *set_text[MAX_SETS]; /* as typed, for the worker's command line */
    int nsets;
    const char *sbatch_args[MAX_SBATCH_ARGS];
    int nsbatch;
    int cpus, parallel, per_task, print, wait, retries, poll, help;
    int task, ntasks;
    const char *plan_hash;
    int npos;
    char **pos;
} opts;

enum {
    O_SET = 1000, O_DB, O_DATA, O_SHARDS, O_PARTITION, O_TIME, O_CPUS, O_PARALLEL, O_PER_TASK,
    O_SBATCH_ARG, O_PRINT, O_WAIT, O_RETRIES, O_POLL, O_TASK, O_NTASKS, O_PLAN, O_SLURM
};

static int parse_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "nnlab %s: %s %s: expected a whole number from %d to %d\n", cmd, opt, v, lo, hi);
        return 2;
    }
    *out = (int)x;
    return 0;
}

/* A value that becomes an #SBATCH line: a newline would end the line and
 * make the rest a command of the job script, and other control characters
 * (a carriage return, ESC) have no business there either. 0, or 2 after
 * saying so. */
static int sbatch_value_bad(const char *cmd, const char *opt, const char *v) {
    const char *why = nnl_text_problem(v, 4096, 0);
    if (!why) return 0;
    fprintf(stderr, "nnlab %s: %s: the value %s; it goes into an #SBATCH line of the job script\n", cmd, opt, why);
    return 2;
}

/* allowed: the O_ options the command takes, as a 0-terminated list */
static int parse_opts(int argc, char **argv, const char *cmd, const int *allowed, opts *o) {
    static const struct option lo[] = {
        {"set", required_argument, 0, O_SET}, {"db", required_argument, 0, O_DB},
        {"data", required_argument, 0, O_DATA}, {"shards", required_argument, 0, O_SHARDS},
        {"partition", required_argument, 0, O_PARTITION}, {"time", required_argument, 0, O_TIME},
        {"cpus-per-task", required_argument, 0, O_CPUS}, {"array-parallel", required_argument, 0, O_PARALLEL},
        {"runs-per-task", required_argument, 0, O_PER_TASK}, {"sbatch-arg", required_argument, 0, O_SBATCH_ARG},
        {"print", no_argument, 0, O_PRINT}, {"wait", no_argument, 0, O_WAIT},
        {"retries", required_argument, 0, O_RETRIES}, {"poll", required_argument, 0, O_POLL},
        {"task", required_argument, 0, O_TASK}, {"ntasks", required_argument, 0, O_NTASKS},
        {"plan", required_argument, 0, O_PLAN}, {"slurm", no_argument, 0, O_SLURM},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->db = DEFAULT_DB;
    o->cpus = o->per_task = 1;
    o->poll = 10;
    o->task = o->ntasks = -1;
    optind = 1;
    opterr = 0;
    int ch, rc = 0;
    while (!rc && (ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 'h') { o->help = 1; return 0; }
        if (ch == '?') {
            fprintf(stderr, "nnlab %s: unknown option '%s' (see 'nnlab %s --help')\n", cmd, argv[optind - 1], cmd);
            return 2;
        }
        int ok = 0;
        for (const int *a = allowed; *a; a++) ok |= *a == ch;
        if (!ok) {
            fprintf(stderr, "nnlab %s: option '%s' does not apply here (see 'nnlab %s --help')\n", cmd,
                    argv[optind - 1], cmd);
            return 2;
        }
        switch (ch) {
        case O_SET:
            if (nnl_cli_set(cmd, optarg, o->sets, &o->nsets, MAX_SETS)) return 2;
            o->set_text[o->nsets - 1] = optarg;
            break;
        case O_DB: o->db = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_SHARDS: o->shards = optarg; break;
        case O_PARTITION:
        case O_TIME:
            if (sbatch_value_bad(cmd, ch == O_PARTITION ? "--partition" : "--time", optarg)) return 2;
            if (ch == O_PARTITION) o->partition = optarg;
            else o->time = optarg;
            break;
        case O_CPUS: rc = parse_int(cmd, "--cpus-per-task", optarg, 1, 4096, &o->cpus); break;
        case O_PARALLEL: rc = parse_int(cmd, "--array-parallel", optarg, 1, 1000000, &o->parallel); break;
        case O_PER_TASK: rc = parse_int(cmd, "--runs-per-task", optarg, 1, NNL_MAX_PLAN, &o->per_task); break;
        case O_SBATCH_ARG:
            if (o->nsbatch == MAX_SBATCH_ARGS) { fprintf(stderr, "nnlab %s: more than %d --sbatch-arg options\n", cmd, MAX_SBATCH_ARGS); return 2; }
            if (sbatch_value_bad(cmd, "--sbatch-arg", optarg)) return 2;
            o->sbatch_args[o->nsbatch++] = optarg;
            break;
        case O_PRINT: o->print = 1; break;
        case O_WAIT: o->wait = 1; break;
        case O_RETRIES: rc = parse_int(cmd, "--retries", optarg, 0, 100, &o->retries); break;
        case O_POLL: rc = parse_int(cmd, "--poll", optarg, 1, 3600, &o->poll); break;
        case O_TASK: rc = parse_int(cmd, "--task", optarg, 0, NNL_MAX_PLAN, &o->task); break;
        case O_NTASKS: rc = parse_int(cmd, "--ntasks", optarg, 1, NNL_MAX_PLAN, &o->ntasks); break;
        case O_PLAN: o->plan_hash = optarg; break;
        case O_SLURM: break;
        }
    }
    if (rc) return rc;
    o->npos = argc - optind;
    o->pos = argv + optind;
    o->positional = o->npos ? o->pos[0] : NULL;
    return 0;
}

static int one_positional(const char *cmd, const opts *o) {
    if (o->npos == 1) return 0;
    if (!o->npos) fprintf(stderr, "nnlab %s: expected an EXPERIMENT file (see 'nnlab %s --help')\n", cmd, cmd);
    else fprintf(stderr, "nnlab %s: unexpected argument '%s'\n", cmd, o->pos[1]);
    return 2;
}

/* the plan with --data folded in as the last override */
static int load_plan(const char *cmd, opts *o, nnl_plan *plan) {
    char err[1024];
    if (o->data) {
        if (o->nsets == MAX_SETS) { fprintf(stderr, "nnlab %s: more than %d --set options\n", cmd, MAX_SETS); return 2; }
        o->sets[o->nsets] = (nnl_override){"data.dir", o->data};
        o->set_text[o->nsets] = NULL; /* passed on as --data */
        o->nsets++;
    }
    if (nnl_plan_load(o->positional, o->sets, o->nsets, plan, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    return 0;
}

/* ---- paths, files and commands */

/* an absolute path for p: realpath when it exists, else the current folder
 * before it */
static int abs_path(const char *p, char *out, size_t n) {
    char buf[PATH_MAX];
    if (realpath(p, buf)) return snprintf(out, n, "%s", buf) >= (int)n ? -1 : 0;
    if (p[0] == '/') return snprintf(out, n, "%s", p) >= (int)n ? -1 : 0;
    if (!getcwd(buf, sizeof buf)) return -1;
    return snprintf(out, n, "%s/%s", buf, p) >= (int)n ? -1 : 0;
}

/* the shards' folder: --shards, else DBDIR/slurm/EXPERIMENT; absolute */
static int shards_dir(const opts *o, const nnl_plan *plan, char *out, size_t n) {
    char tmp[NNL_PATH_MAX];
    if (o->shards) snprintf(tmp, sizeof tmp, "%s", o->shards);
    else {
        const char *slash = strrchr(o->db, '/');
        /* the folder is named after the experiment the way report folders
         * are: an experiment named ../../x stays inside slurm/ */
        char folder[NNL_NAME_MAX];
        nnl_name_to_path(plan->name, "experiment", folder, sizeof folder);
        if (slash) snprintf(tmp, sizeof tmp, "%.*s/slurm/%s", (int)(slash - o->db), o->db, folder);
        else snprintf(tmp, sizeof tmp, "slurm/%s", folder);
    }
    if (abs_path(tmp, out, n)) {
        fprintf(stderr, "nnlab: %s: path too long\n", tmp);
        return 2;
    }
    return 0;
}

/* mkdir -p, the error said on stderr */
static int mkdirs(const char *path) {
    char err[NNL_PATH_MAX + 200];
    if (!nnl_mkdirs(path, 0755, "directory", err, sizeof err)) return 0;
    fprintf(stderr, "nnlab: %s\n", err);
    return -1;
}

/* writes text to path through a temporary file and a rename */
static int write_file(const char *path, const char *text, mode_t mode) {
    char tmp[NNL_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) || chmod(tmp, mode) || rename(tmp, path)) {
        fprintf(stderr, "nnlab: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

enum { ERR_SHOW = NNL_CHILD_SHOW, ERR_CAPTURE = NNL_CHILD_TOO, ERR_DROP = NNL_CHILD_DROP };

/* Runs argv (a command from PATH), its stdout into out; its stderr goes
 * to ours, into out too, or nowhere. Returns its exit status, 127 when it
 * could not run. */
static int run_capture(char *const argv[], int errmode, char *out, size_t n) {
    nnl_child_opts co = {.capture = NNL_CHILD_STDOUT, .other = errmode};
    int ws;
    if (nnl_child_run(argv, &co, out, n, &ws)) {
        if (n) out[0] = 0;
        return 127;
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 127;
}

/* a shell word: 'text', with ' as '\'' */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

/* The rest of an #SBATCH line: prefix and s as one double-quoted argument
 * with " and \\ escaped, as sbatch reads its #SBATCH lines, then the end
 * of the line; a space or a # in a name or a folder stays in the value.
 * Control characters never get here (names.h, sbatch_value_bad). */
static void put_sbatch_quoted(FILE *f, const char *prefix, const char *s) {
    fputc('"', f);
    for (const char *p = prefix; *p; p++) fputc(*p, f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputs("\"\n", f);
}

/* FNV-1a of the plan's keys in order: the worker checks it is running the
 * plan that was submitted, since its share depends on the order */
static void plan_hash(const nnl_plan *plan, char out[17]) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < plan->nruns; i++)
        for (const char *k = plan->runs[i].key; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* DIR/job: the last submission */
typedef struct { char job[64]; int tasks, per_task; char plan[17]; } submission;

/* A small file of the shards' folder (job, done) opened for reading, or
 * NULL: like every input (input.h), only a regular file of at most cap
 * bytes, so a FIFO left there cannot hang a task. */
static FILE *open_small(const char *path, long long cap) {
    char why[160];
    struct stat st;
    int fd = nnl_input_open(path, 0, &st, why, sizeof why);
    if (fd < 0) return NULL;
    FILE *f = st.st_size <= cap ? fdopen(fd, "r") : NULL;
    if (!f) close(fd);
    return f;
}

static int read_submission(const char *dir, submission *sub) {
    char path[NNL_PATH_MAX + 8], line[256];
    memset(sub, 0, sizeof *sub);
    snprintf(path, sizeof path, "%s/job", dir);
    FILE *f = open_small(path, 1 << 16);
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "job %63s", sub->job);
        sscanf(line, "tasks %d", &sub->tasks);
        sscanf(line, "runs_per_task %d", &sub->per_task);
        sscanf(line, "plan %16s", sub->plan);
    }
    fclose(f);
    return sub->job[0] ? 0 : -1;
}

/* ---- what is done, across the main database and the shards */

typedef struct {
    char status[16];
    int epochs;
    int rank;                 /* how complete: see run_rank */
} run_state;

static int is_final(const char *st) {
    return !strcmp(st, "finished") || !strcmp(st, "diverged") || !strcmp(st, "pruned");
}

/* finished (diverged, pruned) beats unfinished, then more epochs, then a
 * test result */
static int run_rank(const char *status, int epochs, int has_test) {
    return (is_final(status) ? 1 << 28 : 0) + epochs * 2 + (has_test ? 1 : 0);
}

/* Folds the runs of one database into st (plan->nruns states); a missing
 * file is no run. */
static int fold_db(const char *path, const nnl_plan *plan, run_state *st, int *have) {
    char err[1024];
    if (access(path, F_OK)) return 0;
    nnl_store *s = nnl_store_open_readonly(path, err, sizeof err);
    if (!s) { fprintf(stderr, "%s\n", err); return -1; }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(nnl_store_db(s),
                           "SELECT status, epochs_done, test_acc IS NOT NULL FROM runs"
                           " WHERE key = ?1 AND experiment = ?2 ORDER BY id DESC LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(nnl_store_db(s)));
        nnl_store_close(s);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < plan->nruns && !rc; i++) {
        sqlite3_bind_text(q, 1, plan->runs[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, plan->name, -1, SQLITE_STATIC);
        int r = sqlite3_step(q);
        const char *status = r == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
        int ep = r == SQLITE_ROW ? sqlite3_column_int(q, 1) : 0;
        if (r == SQLITE_ROW && (!nnl_store_status_known(status) || ep < 0 || ep > NNL_STORE_MAX_EPOCH)) {
            /* a database from elsewhere may hold anything (store.h) */
            fprintf(stderr, "%s: damaged database: run %s of %s has status %s and %d epochs; pass another path "
                    "or move the file aside\n", path, plan->runs[i].key, plan->name,
                    status && nnl_store_status_known(status) ? status : "(not a run status)", ep);
            rc = -1;
        } else if (r == SQLITE_ROW) {
            int rank = run_rank(status, ep, sqlite3_column_int(q, 2));
            /* the best copy names the state; a copy running now beats an unfinished one */
            int running = !strcmp(status, "running") && !is_final(st[i].status);
            if (!st[i].status[0] || rank > st[i].rank || running) {
                snprintf(st[i].status, sizeof st[i].status, "%s", status);
                st[i].epochs = ep;
                if (rank > st[i].rank) st[i].rank = rank;
            }
            if (have) (*have)++;
        } else if (r != SQLITE_DONE) {
            fprintf(stderr, "%s: reading runs: %s\n", path, sqlite3_errmsg(nnl_store_db(s)));
            rc = -1;
        }
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    nnl_store_close(s);
    return rc;
}

/* every run's best state from the main database and DIR/task-*.db;
 * *nshards gets the number of shard files, in_main the runs main has */
static int plan_states(const char *db, const char *dir, const nnl_plan *plan, run_state *st, int *nshards,
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

typedef struct { int finished, running, queued, resume, failed, diverged, pruned; } counts;

static void count_states(const nnl_plan *plan, const run_state *st, counts *c) {
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

static void print_counts(FILE *f, const counts *c) {
    fprintf(f, "%d finished, %d running, %d queued, %d to resume, %d failed, %d diverged, %d pruned", c->finished,
            c->running, c->queued, c->resume, c->failed, c->diverged, c->pruned);
}

/* ---- squeue */

typedef struct { int running, pending, other, gone; } queue_counts;

/* the job's array tasks in the queue; print: list them. Returns 0, or -1
 * when squeue could not answer. */
static int query_queue(const char *job, queue_counts *q, int print) {
    char out[65536];
    char *argv[] = {"squeue", "-h", "-r", "-j", (char *)job, "-o", "%i %T %M %R", NULL};
    memset(q, 0, sizeof *q);
    int rc = run_capture(argv, ERR_CAPTURE, out, sizeof out);
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

/* Where the job's tasks ended, from sacct when the cluster keeps
 * accounting; prints the ones that did not complete. */
static void report_sacct(const char *job) {
    char out[65536];
    char *argv[] = {"sacct", "-n", "-P", "-X", "-j", (char *)job, "-o", "JobID,State,ExitCode", NULL};
    /* without accounting sacct only says so: nothing to report */
    if (run_capture(argv, ERR_DROP, out, sizeof out)) return;
    int said = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "|COMPLETED|")) continue;
        if (!said++) printf("tasks that did not complete (sacct):\n");
        printf("  %s\n", line);
    }
}

/* ---- the worker */

static int read_done(const char *dir, char (**keys)[17], int *n) {
    char path[NNL_PATH_MAX + 8], line[64];
    snprintf(path, sizeof path, "%s/done", dir);
    *keys = NULL;
    *n = 0;
    if (access(path, F_OK)) return 0;
    FILE *f = open_small(path, 17LL * NNL_MAX_PLAN + 4096); /* a key a line */
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
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(nnl_store_db(s), "SELECT id FROM runs WHERE status = 'running'", -1, &q, NULL);
    int64_t ids[1024];
    int n = 0;
    while (rc == SQLITE_OK && n < 1024 && sqlite3_step(q) == SQLITE_ROW) ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    int failed = rc != SQLITE_OK;
    if (failed) snprintf(err, errlen, "%.512s: %.400s", shard, sqlite3_errmsg(nnl_store_db(s)));
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

int nnl_worker_cmd(int argc, char **argv) {
    static const int allowed[] = {O_SET, O_DATA, O_SHARDS, O_TASK, O_NTASKS, O_PLAN, 0};
    opts o;
    int rc = parse_opts(argc, argv, "worker", allowed, &o);
    if (rc || o.help) { if (o.help) fputs(usage_worker, stdout); return rc; }
    if ((rc = one_positional("worker", &o))) return rc;
    if (!o.shards || o.task < 0 || o.ntasks < 1) {
        fprintf(stderr, "nnlab worker: --shards, --task and --ntasks are required (see 'nnlab worker --help')\n");
        return 2;
    }
    if (o.task >= o.ntasks) {
        fprintf(stderr, "nnlab worker: --task %d: expected 0 to %d (--ntasks %d)\n", o.task, o.ntasks - 1, o.ntasks);
        return 2;
    }
    nnl_plan plan;
    if (load_plan("worker", &o, &plan)) return 2;
    char h[17], err[1024];
    plan_hash(&plan, h);
    if (o.plan_hash && strcmp(o.plan_hash, h)) {
        fprintf(stderr, "nnlab worker: %s: the experiment's plan changed since it was submitted (plan %s, now %s); "
                        "submit it again with 'nnlab sweep %s --slurm'\n", o.positional, o.plan_hash, h, o.positional);
        nnl_plan_free(&plan);
        return 2;
    }
    char (*done)[17];
    int ndone;
    if (read_done(o.shards, &done, &ndone)) {
        fprintf(stderr, "nnlab worker: %s/done: cannot read it (not a regular file, too large, or out of memory)\n",
                o.shards);
        nnl_plan_free(&plan);
        return 2;
    }
    nnl_plan sub = plan;
    sub.runs = malloc(sizeof *sub.runs * (size_t)(plan.nruns / o.ntasks + 1));
    sub.nruns = 0;
    for (int i = o.task; sub.runs && i < plan.nruns; i += o.ntasks)
        if (!listed(done, ndone, plan.runs[i].key)) sub.runs[sub.nruns++] = plan.runs[i];
    free(done);
    if (!sub.runs) { fprintf(stderr, "nnlab worker: out of memory\n"); nnl_plan_free(&plan); return 2; }
    char shard[NNL_PATH_MAX + 32];
    snprintf(shard, sizeof shard, "%s/task-%d.db", o.shards, o.task);
    char host[256] = "?";
    gethostname(host, sizeof host);
    printf("nnlab worker: task %d of %d on %s: %d run%s of %s into %s\n", o.task, o.ntasks, host, sub.nruns,
           sub.nruns == 1 ? "" : "s", plan.name, shard);
    fflush(stdout);
    if (!sub.nruns) rc = 0;
    else if (mkdirs(o.shards)) rc = 2;
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
        rc = nnl_sweep(&so, err, sizeof err);
        if (rc == 2) fprintf(stderr, "%s\n", err);
    }
    free(sub.runs);
    nnl_plan_free(&plan);
    return rc;
}

/* ---- merge */

#define RUN_COLS "key, name, experiment, status, config, seed, created, started, finished, host, pid, version," \
                 " git_commit, nparams, epochs_done, best_epoch, best_val_acc, test_loss, test_acc," \
                 " diverged_epoch, error"

static int exec_bound(sqlite3 *db, const char *sql, int64_t a, int64_t b, const char *t) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(q, 1, a);
    sqlite3_bind_int64(q, 2, b);
    if (t) sqlite3_bind_text(q, 3, t, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* the run's params, epochs and test result from the shard's run `from`
 * into main's run `to`, replacing what main had */
static int copy_children(sqlite3 *db, int64_t from, int64_t to) {
    static const char *const sql[] = {
        "DELETE FROM main.params WHERE run_id = ?2",
        "DELETE FROM main.epochs WHERE run_id = ?2",
        "DELETE FROM main.confusion WHERE run_id = ?2",
        "DELETE FROM main.class_acc WHERE run_id = ?2",
        "INSERT INTO main.params(run_id, key, value) SELECT ?2, key, value FROM shard.params WHERE run_id = ?1",
        "INSERT INTO main.epochs(run_id, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds)"
        " SELECT ?2, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds FROM shard.epochs WHERE run_id = ?1",
        "INSERT INTO main.confusion(run_id, true_label, pred_label, count)"
        " SELECT ?2, true_label, pred_label, count FROM shard.confusion WHERE run_id = ?1",
        "INSERT INTO main.class_acc(run_id, label, accuracy) SELECT ?2, label, accuracy FROM shard.class_acc"
        " WHERE run_id = ?1",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (exec_bound(db, sql[i], from, to, NULL)) return -1;
    return 0;
}

typedef struct {
    int64_t id;
    char key[17], status[16];
    char *experiment, *finished, *error, *ckdir;
    int epochs, has_test;
} merge_row;

static char *dup_col(sqlite3_stmt *q, int i) {
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? strdup((const char *)t) : NULL;
}

static void merge_row_free(merge_row *r) {
    free(r->experiment);
    free(r->finished);
    free(r->error);
    free(r->ckdir);
}

/* a row of the runs queries below: id, key, status, experiment, finished,
 * error, epochs_done, has a test result [, checkpoint_dir] */
static void merge_row_read(sqlite3_stmt *q, merge_row *r) {
    /* a shard's rows were checked (nnl_store_check); main's are read as
     * carefully, NULLs as "" */
    const char *key = (const char *)sqlite3_column_text(q, 1), *status = (const char *)sqlite3_column_text(q, 2);
    r->id = sqlite3_column_int64(q, 0);
    snprintf(r->key, sizeof r->key, "%s", key ? key : "");
    snprintf(r->status, sizeof r->status, "%s", status ? status : "");
    r->experiment = dup_col(q, 3);
    r->finished = dup_col(q, 4);
    r->error = dup_col(q, 5);
    r->epochs = sqlite3_column_int(q, 6);
    r->has_test = sqlite3_column_int(q, 7);
    if (sqlite3_column_count(q) > 8) r->ckdir = dup_col(q, 8);
}

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int merge_runs(nnl_store *shard, sqlite3 *db, nnl_merge_counts *c) {
    sqlite3_stmt *ls, *find;
    if (sqlite3_prepare_v2(db, "SELECT id, key, status, experiment, finished, error, epochs_done, test_acc IS NOT NULL"
                               " FROM shard.runs ORDER BY id", -1, &ls, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT id, key, status, experiment, finished, error, epochs_done,"
                               " test_acc IS NOT NULL, checkpoint_dir FROM main.runs"
                               " WHERE key = ?1 AND experiment IS ?2 ORDER BY id DESC LIMIT 1",
                           -1, &find, NULL) != SQLITE_OK) {
        sqlite3_finalize(ls);
        return -1;
    }
    int rc = 0, r;
    while (!rc && (r = sqlite3_step(ls)) == SQLITE_ROW) {
        merge_row s = {0}, m = {0};
        merge_row_read(ls, &s);
        char ck[NNL_PATH_MAX];
        nnl_checkpoint_dir(shard, s.id, ck, sizeof ck);
        sqlite3_bind_text(find, 1, s.key, -1, SQLITE_STATIC);
        if (s.experiment) sqlite3_bind_text(find, 2, s.experiment, -1, SQLITE_STATIC);
        else sqlite3_bind_null(find, 2);
        int fr = sqlite3_step(find);
        if (fr == SQLITE_ROW) {
            merge_row_read(find, &m);
        } else if (fr != SQLITE_DONE) rc = -1;
        sqlite3_reset(find);
        if (!rc && !m.id) {
            rc = exec_bound(db, "INSERT INTO main.runs(" RUN_COLS ", checkpoint_dir) SELECT " RUN_COLS
                                ", ?3 FROM shard.runs WHERE id = ?1", s.id, 0, ck);
            if (!rc) rc = copy_children(db, s.id, sqlite3_last_insert_rowid(db));
            c->added += !rc;
        } else if (!rc) {
            int rs = run_rank(s.status, s.epochs, s.has_test), rm = run_rank(m.status, m.epochs, m.has_test);
            /* the same copy, merged before, that has moved on since */
            int newer = rs == rm && same_text(m.ckdir, ck) &&
                        (strcmp(s.status, m.status) || !same_text(s.finished, m.finished) ||
                         !same_text(s.error, m.error));
            if (rs > rm || newer) {
                rc = exec_bound(db, "UPDATE main.runs SET (" RUN_COLS ", checkpoint_dir) = (SELECT " RUN_COLS
                                    ", ?3 FROM shard.runs WHERE id = ?1) WHERE id = ?2", s.id, m.id, ck);
                if (!rc) rc = copy_children(db, s.id, m.id);
                c->updated += !rc;
            } else {
                c->unchanged++;
            }
        }
        merge_row_free(&s);
        merge_row_free(&m);
    }
    if (!rc && r != SQLITE_DONE) rc = -1;
    sqlite3_finalize(ls);
    sqlite3_finalize(find);
    return rc;
}

int nnl_merge_shard(nnl_store *main_db, const char *shard, nnl_merge_counts *c, char *err, size_t errlen) {
    char abs[NNL_PATH_MAX];
    memset(c, 0, sizeof *c);
    if (access(shard, F_OK)) {
        snprintf(err, errlen, "%s: no such shard database", shard);
        return -1;
    }
    if (abs_path(shard, abs, sizeof abs)) {
        snprintf(err, errlen, "%s: path too long", shard);
        return -1;
    }
    /* opened for writing: this checks it is an nnlab database, upgrades an
     * old schema and rolls back what a killed task left half-written */
    nnl_store *s = nnl_store_open_shared(abs, err, errlen);
    if (!s) return -1;
    /* a shard may come from anywhere: every row is checked before one is
     * copied (a label of -3 was copied and later written out of bounds) */
    if (nnl_store_check(s, err, errlen)) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, "; nothing merged");
        nnl_store_close(s);
        return -1;
    }
    sqlite3 *db = nnl_store_db(main_db);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS shard", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, abs, -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(q);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: attaching %s: %s", nnl_store_path(main_db), abs, sqlite3_errmsg(db));
        nnl_text_one_line(err);
        nnl_store_close(s);
        return -1;
    }
    if (nnl_store_begin(main_db, err, errlen)) rc = -1;
    else if (merge_runs(s, db, c)) {
        snprintf(err, errlen, "%s: merging %s: %s", nnl_store_path(main_db), abs, sqlite3_errmsg(db));
        nnl_text_one_line(err);
        nnl_store_rollback(main_db, NULL, 0);
        rc = -1;
    } else {
        rc = nnl_store_commit(main_db, err, errlen);
    }
    sqlite3_exec(db, "DETACH DATABASE shard", NULL, NULL, NULL);
    nnl_store_close(s);
    if (rc) memset(c, 0, sizeof *c);
    return rc ? -1 : 0;
}

/* merges every path into db; prints a line per shard. Returns 0 or 2. */
static int merge_all(const char *db, char **paths, int n) {
    char err[1024];
    nnl_store *m = nnl_store_open(db, err, sizeof err);
    if (!m) { fprintf(stderr, "%s\n", err); return 2; }
    int rc = 0;
    nnl_merge_counts total = {0};
    for (int i = 0; i < n; i++) {
        nnl_merge_counts c;
        if (nnl_merge_shard(m, paths[i], &c, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            rc = 2;
            continue;
        }
        printf("%s: %d run%s added, %d updated, %d unchanged\n", paths[i], c.added, c.added == 1 ? "" : "s",
               c.updated, c.unchanged);
        total.added += c.added;
        total.updated += c.updated;
        total.unchanged += c.unchanged;
    }
    if (n > 1)
        printf("merged %d shards into %s: %d added, %d updated, %d unchanged\n", n, db, total.added, total.updated,
               total.unchanged);
    nnl_store_close(m);
    return rc;
}

static int merge_dir(const char *db, const char *dir) {
    char pat[NNL_PATH_MAX + 16];
    snprintf(pat, sizeof pat, "%s/task-*.db", dir);
    glob_t g;
    if (glob(pat, 0, NULL, &g)) {
        printf("%s: no shard databases to merge\n", dir);
        return 0;
    }
    int rc = merge_all(db, g.gl_pathv, (int)g.gl_pathc);
    globfree(&g);
    return rc;
}

int nnl_merge_cmd(int argc, char **argv) {
    static const int allowed[] = {O_DB, 0};
    opts o;
    int rc = parse_opts(argc, argv, "merge", allowed, &o);
    if (rc || o.help) { if (o.help) fputs(usage_merge, stdout); return rc; }
    if (!o.npos) {
        fprintf(stderr, "nnlab merge: expected SHARD.db files, e.g. results/slurm/EXPERIMENT/task-*.db "
                        "(see 'nnlab merge --help')\n");
        return 2;
    }
    for (int i = 0; i < o.npos; i++) {
        char a[NNL_PATH_MAX], b[NNL_PATH_MAX];
        if (!abs_path(o.pos[i], a, sizeof a) && !abs_path(o.db, b, sizeof b) && !strcmp(a, b)) {
            fprintf(stderr, "nnlab merge: %s is the main database itself (--db)\n", o.pos[i]);
            return 2;
        }
        if (access(o.pos[i], F_OK)) {
            fprintf(stderr, "nnlab merge: %s: no such shard database\n", o.pos[i]);
            return 2;
        }
    }
    return merge_all(o.db, o.pos, o.npos);
}

/* ---- submit */

typedef struct {
    int ntasks;               /* the array's size: indices 0 .. ntasks - 1 */
    int *need;                /* per task: it has a run to do */
    int nneed, ndone;
} task_plan;

static int plan_tasks(const opts *o, const nnl_plan *plan, const run_state *st, task_plan *tp) {
    tp->ntasks = (plan->nruns + o->per_task - 1) / o->per_task;
    tp->need = calloc((size_t)tp->ntasks, sizeof *tp->need);
    if (!tp->need) return -1;
    tp->nneed = tp->ndone = 0;
    for (int i = 0; i < plan->nruns; i++) {
        if (is_final(st[i].status)) tp->ndone++;
        else tp->need[i % tp->ntasks] = 1;
    }
    for (int t = 0; t < tp->ntasks; t++) tp->nneed += tp->need[t];
    return 0;
}

/* "0-3,5,7-9" */
static void array_spec(const task_plan *tp, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    for (int t = 0; t < tp->ntasks; t++) {
        if (!tp->need[t]) continue;
        int e = t;
        while (e + 1 < tp->ntasks && tp->need[e + 1]) e++;
        int w = e > t ? snprintf(out + len, n - len, "%s%d-%d", len ? "," : "", t, e)
                      : snprintf(out + len, n - len, "%s%d", len ? "," : "", t);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
        t = e;
    }
}

static void write_script(FILE *f, const opts *o, const nnl_plan *plan, const task_plan *tp, const char *exe,
                         const char *exp, const char *cwd, const char *dir, const char *hash, const char *spec) {
    fprintf(f, "#!/bin/bash\n");
    fprintf(f, "# nnlab sweep --slurm: experiment %s, %d runs in %d array tasks; this array: the %d\n", plan->name,
            plan->nruns, tp->ntasks, tp->nneed);
    fprintf(f, "# task%s with runs to do. Task I runs the plan's runs I, I + %d, ... into %s/task-I.db.\n",
            tp->nneed == 1 ? "" : "s", tp->ntasks, dir);
    fputs("#SBATCH --job-name=", f);
    put_sbatch_quoted(f, "nnlab-", plan->name);
    fprintf(f, "#SBATCH --array=%s", spec);
    if (o->parallel) fprintf(f, "%%%d", o->parallel);
    fprintf(f, "\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", o->cpus);
    if (o->partition) {
        fputs("#SBATCH --partition=", f);
        put_sbatch_quoted(f, "", o->partition);
    }
    if (o->time) {
        fputs("#SBATCH --time=", f);
        put_sbatch_quoted(f, "", o->time);
    }
    char logs[NNL_PATH_MAX + 32];
    snprintf(logs, sizeof logs, "%s/logs/%%A_%%a.out", dir);
    fputs("#SBATCH --output=", f);
    put_sbatch_quoted(f, "", logs);
    fprintf(f, "#SBATCH --open-mode=append\n#SBATCH --requeue\n");
    for (int i = 0; i < o->nsbatch; i++) fprintf(f, "#SBATCH %s\n", o->sbatch_args[i]);
    fprintf(f, "cd ");
    put_quoted(f, cwd);
    fprintf(f, " || exit 2\nexec ");
    put_quoted(f, exe);
    fprintf(f, " worker ");
    put_quoted(f, exp);
    fprintf(f, " --shards ");
    put_quoted(f, dir);
    fprintf(f, " --task \"$SLURM_ARRAY_TASK_ID\" --ntasks %d --plan %s", tp->ntasks, hash);
    for (int i = 0; i < o->nsets; i++) {
        if (!o->set_text[i]) continue;
        fprintf(f, " --set ");
        put_quoted(f, o->set_text[i]);
    }
    if (o->data) {
        char d[NNL_PATH_MAX];
        fprintf(f, " --data ");
        put_quoted(f, abs_path(o->data, d, sizeof d) ? o->data : d);
    }
    fprintf(f, "\n");
}

/* One submission. *submitted: 1 if a job went in (its id in job), 0 when
 * every run was done. Returns 0 or 2. */
static int submit(opts *o, const nnl_plan *plan, const char *dir, int *submitted, char *job, size_t joblen) {
    char exe[PATH_MAX], exp[NNL_PATH_MAX], cwd[PATH_MAX], hash[17];
    *submitted = 0;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { fprintf(stderr, "nnlab sweep: cannot find this program's path: %s\n", strerror(errno)); return 2; }
    exe[n] = 0;
    if (abs_path(o->positional, exp, sizeof exp) || !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "nnlab sweep: %s: cannot resolve the path\n", o->positional);
        return 2;
    }
    plan_hash(plan, hash);
    /* the folder goes into the script's comment and #SBATCH lines, where a
     * newline would start a command */
    const char *why = nnl_text_problem(dir, NNL_PATH_MAX, 0);
    if (why) {
        fprintf(stderr, "nnlab sweep: the shards' folder %s: its path %s; choose another with --shards DIR\n", dir, why);
        return 2;
    }

    submission last;
    if (!o->print && !read_submission(dir, &last)) {
        queue_counts q;
        if (query_queue(last.job, &q, 0) == 0 && !q.gone) {
            fprintf(stderr, "nnlab sweep: job %s of %s is still in the queue (%d running, %d pending): wait for it, "
                            "or cancel it with 'scancel %s', then submit again\n",
                    last.job, plan->name, q.running, q.pending, last.job);
            return 2;
        }
    }
    run_state *st = calloc((size_t)plan->nruns, sizeof *st);
    int nshards, in_main;
    if (!st || plan_states(o->db, dir, plan, st, &nshards, &in_main)) { free(st); return 2; }
    task_plan tp;
    if (plan_tasks(o, plan, st, &tp)) { free(st); fprintf(stderr, "nnlab sweep: out of memory\n"); return 2; }
    int rc = 0;
    char *spec = malloc((size_t)tp.ntasks * 16 + 16);
    if (!spec) { rc = 2; goto out; }
    array_spec(&tp, spec, (size_t)tp.ntasks * 16 + 16);
    if (!tp.nneed) {
        printf("%s: all %d runs are done (in %s or its shards): nothing to submit\n", plan->name, plan->nruns, o->db);
        goto out;
    }
    if (o->print) {
        write_script(stdout, o, plan, &tp, exe, exp, cwd, dir, hash, spec);
        goto out;
    }
    /* the folders sbatch needs before the job starts, the keys done, the script */
    char path[NNL_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/logs", dir);
    if (mkdirs(path)) { rc = 2; goto out; }
    {
        size_t cap = (size_t)tp.ndone * 17 + 1, len = 0;
        char *text = malloc(cap);
        if (!text) { rc = 2; goto out; }
        text[0] = 0;
        for (int i = 0; i < plan->nruns; i++)
            if (is_final(st[i].status)) len += (size_t)snprintf(text + len, cap - len, "%s\n", plan->runs[i].key);
        snprintf(path, sizeof path, "%s/done", dir);
        rc = write_file(path, text, 0644) ? 2 : 0;
        free(text);
        if (rc) goto out;
    }
    {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f) { rc = 2; goto out; }
        write_script(f, o, plan, &tp, exe, exp, cwd, dir, hash, spec);
        fclose(f);
        snprintf(path, sizeof path, "%s/job.sh", dir);
        rc = write_file(path, text, 0755) ? 2 : 0;
        free(text);
        if (rc) goto out;
    }
    {
        char out[4096];
        char *argv[] = {"sbatch", "--parsable", path, NULL};
        int st_rc = run_capture(argv, ERR_SHOW, out, sizeof out);
        if (st_rc) {
            fprintf(stderr, "nnlab sweep: sbatch %s failed (%s); the script is %s (nnlab sweep ... --print shows it)\n",
                    st_rc == 127 ? "could not run" : "refused the job", st_rc == 127 ? "is Slurm installed?" : "see above",
                    path);
            rc = 2;
            goto out;
        }
        /* --parsable: "JOBID" or "JOBID;CLUSTER" */
        out[strcspn(out, ";\n")] = 0;
        snprintf(job, joblen, "%.40s", out);
    }
    {
        char text[512];
        snprintf(text, sizeof text, "job %s\ntasks %d\nruns_per_task %d\nplan %s\n", job, tp.ntasks, o->per_task, hash);
        snprintf(path, sizeof path, "%s/job", dir);
        if (write_file(path, text, 0644)) { rc = 2; goto out; }
    }
    *submitted = 1;
    printf("%s: %d runs, %d done; submitted Slurm job %s: array tasks %s", plan->name, plan->nruns, tp.ndone, job,
           spec);
    if (o->parallel) printf(" (at most %d at once)", o->parallel);
    printf(", %d run%s per task, %d core%s each\n", o->per_task, o->per_task == 1 ? "" : "s", o->cpus,
           o->cpus == 1 ? "" : "s");
    printf("  follow it:     nnlab status %s%s%s   (or: squeue -j %s)\n", o->positional,
           strcmp(o->db, DEFAULT_DB) ? " --db " : "", strcmp(o->db, DEFAULT_DB) ? o->db : "", job);
    printf("  task output:   %s/logs/%s_TASK.out\n", dir, job);
    printf("  when it ends:  nnlab merge --db %s %s/task-*.db\n", o->db, dir);
    fflush(stdout);
out:
    free(spec);
    free(tp.need);
    free(st);
    return rc;
}

/* polls squeue until the job has left it; 0, or 130 when interrupted */
static int wait_job(const opts *o, const nnl_plan *plan, const char *dir, const char *job) {
    queue_counts last = {-1, -1, -1, 0};
    int failures = 0;
    for (;;) {
        queue_counts q;
        if (query_queue(job, &q, 0)) {
            if (++failures == 30) fprintf(stderr, "nnlab sweep: squeue keeps failing; still waiting for job %s\n", job);
        } else {
            failures = 0;
            if (q.gone) return 0;
            if (q.running != last.running || q.pending != last.pending) {
                run_state *st = calloc((size_t)plan->nruns, sizeof *st);
                int nshards;
                counts c;
                printf("job %s: %d task%s running, %d pending", job, q.running, q.running == 1 ? "" : "s", q.pending);
                if (st && !plan_states(o->db, dir, plan, st, &nshards, NULL)) {
                    count_states(plan, st, &c);
                    printf("; runs: ");
                    print_counts(stdout, &c);
                }
                printf("\n");
                fflush(stdout);
                free(st);
                last = q;
            }
        }
        for (int s = 0; s < o->poll * 10 && !nnl_stop; s++) {
            struct timespec nap = {0, 100000000};
            nanosleep(&nap, NULL);
        }
        if (nnl_stop) {
            fprintf(stderr, "nnlab sweep: stopped waiting; job %s goes on (nnlab status %s)\n", job, o->positional);
            return 130;
        }
    }
}

int nnl_slurm_requested(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) return 0;
        if (!strcmp(argv[i], "--slurm")) return 1;
    }
    return 0;
}

int nnl_slurm_sweep_cmd(int argc, char **argv) {
    static const int allowed[] = {O_SET, O_DB, O_DATA, O_SHARDS, O_PARTITION, O_TIME, O_CPUS, O_PARALLEL,
                                  O_PER_TASK, O_SBATCH_ARG, O_PRINT, O_WAIT, O_RETRIES, O_POLL, O_SLURM, 0};
    opts o;
    int rc = parse_opts(argc, argv, "sweep", allowed, &o);
    if (rc || o.help) { if (o.help) fputs(usage_slurm_sweep, stdout); return rc; }
    if ((rc = one_positional("sweep", &o))) return rc;
    if (o.print && o.wait) { fprintf(stderr, "nnlab sweep: --print submits nothing to --wait for\n"); return 2; }
    if (o.retries && !o.wait) { fprintf(stderr, "nnlab sweep: --retries goes with --wait\n"); return 2; }
    nnl_plan plan;
    if (load_plan("sweep", &o, &plan)) return 2;
    char dir[NNL_PATH_MAX], err[1024];
    if (shards_dir(&o, &plan, dir, sizeof dir)) { nnl_plan_free(&plan); return 2; }
    if (!o.print) {
        /* the data is checked here, on the submitting host: a wrong path fails now, not in every task */
        nnl_dataset probe;
        if (nnl_dataset_load(plan.runs[0].cfg.data_dir, 1, 1, &probe, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            nnl_plan_free(&plan);
            return 2;
        }
        nnl_dataset_free(&probe);
    }
    nnl_signals_install();
    for (int attempt = 0;; attempt++) {
        char job[64];
        int submitted;
        rc = submit(&o, &plan, dir, &submitted, job, sizeof job);
        if (rc || o.print || !o.wait) break;
        if (submitted && (rc = wait_job(&o, &plan, dir, job))) break;
        if (submitted) report_sacct(job);
        if ((rc = merge_dir(o.db, dir))) break;
        run_state *st = calloc((size_t)plan.nruns, sizeof *st);
        int nshards;
        counts c;
        if (!st || plan_states(o.db, dir, &plan, st, &nshards, NULL)) { free(st); rc = 2; break; }
        count_states(&plan, st, &c);
        free(st);
        printf("%s: ", plan.name);
        print_counts(stdout, &c);
        printf("\n");
        int unfinished = c.running + c.queued + c.resume + c.failed;
        if (!unfinished || attempt >= o.retries) {
            rc = unfinished || c.diverged ? 1 : 0;
            if (unfinished)
                printf("%d run%s unfinished: see %s/logs/, then submit again to continue them from their "
                       "checkpoints: nnlab sweep %s --slurm ...\n", unfinished, unfinished == 1 ? "" : "s", dir,
                       o.positional);
            else printf("compare them: nnlab compare %s --db %s\n", o.positional, o.db);
            break;
        }
        printf("submitting again for the %d unfinished run%s (retry %d of %d)\n", unfinished,
               unfinished == 1 ? "" : "s", attempt + 1, o.retries);
    }
    nnl_plan_free(&plan);
    return rc;
}

/* ---- status */

int nnl_status_cmd(int argc, char **argv) {
    static const int allowed[] = {O_SET, O_DB, O_DATA, O_SHARDS, 0};
    opts o;
    int rc = parse_opts(argc, argv, "status", allowed, &o);
    if (rc || o.help) { if (o.help) fputs(usage_status, stdout); return rc; }
    if ((rc = one_positional("status", &o))) return rc;
    nnl_plan plan;
    if (load_plan("status", &o, &plan)) return 2;
    char dir[NNL_PATH_MAX];
    if (shards_dir(&o, &plan, dir, sizeof dir)) { nnl_plan_free(&plan); return 2; }
    run_state *st = calloc((size_t)plan.nruns, sizeof *st);
    int nshards, in_main;
    if (!st || plan_states(o.db, dir, &plan, st, &nshards, &in_main)) {
        free(st);
        nnl_plan_free(&plan);
        return 2;
    }
    counts c;
    count_states(&plan, st, &c);
    printf("%s: %d runs: ", plan.name, plan.nruns);
    print_counts(stdout, &c);
    printf("\n  from %s (%d of them) and %d shard%s in %s\n", o.db, in_main, nshards, nshards == 1 ? "" : "s", dir);
    submission sub;
    if (read_submission(dir, &sub)) {
        printf("no Slurm job submitted for it yet (nnlab sweep %s --slurm)\n", o.positional);
    } else {
        char h[17];
        plan_hash(&plan, h);
        if (strcmp(h, sub.plan))
            printf("note: the experiment's plan changed since job %s was submitted (other --set options?)\n", sub.job);
        queue_counts q;
        printf("slurm job %s (%d task%s, %d run%s each):", sub.job, sub.tasks, sub.tasks == 1 ? "" : "s", sub.per_task,
               sub.per_task == 1 ? "" : "s");
        fflush(stdout);
        if (query_queue(sub.job, &q, 0)) printf(" squeue did not answer\n");
        else if (q.gone) {
            printf(" no longer in the queue\n");
            report_sacct(sub.job);
            if (c.running)
                printf("%d run%s marked running, but %s array task ended without stopping it (timeout, "
                       "preemption, node failure): submit again to resume %s\n", c.running,
                       c.running == 1 ? " is" : "s are", c.running == 1 ? "its" : "their",
                       c.running == 1 ? "it" : "them");
            printf("merge the shards: nnlab merge --db %s %s/task-*.db\n", o.db, dir);
        } else {
            printf(" %d running, %d pending\n", q.running, q.pending);
            query_queue(sub.job, &q, 1);
        }
        printf("task output: %s/logs/%s_TASK.out\n", dir, sub.job);
    }
    free(st);
    nnl_plan_free(&plan);
    return 0;
}
