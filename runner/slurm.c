/* slurm.c -- what the Slurm commands share (see slurm.h for the layout of
 * the shared results folder): their options, the shards' folder, files
 * written whole, child commands, and the record of the last submission.
 *
 * The commands are in slurm_submit.c (`nnlab sweep --slurm`: the job
 * script, sbatch, waiting), slurm_worker.c (`nnlab worker`: one array task),
 * slurm_merge.c (`nnlab merge`: shards into the main database) and
 * slurm_status.c (`nnlab status`: what is done across the databases, and
 * squeue). Slurm is driven through its commands (sbatch, squeue, sacct),
 * never its library, so nnlab builds without Slurm installed. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "input.h"
#include "names.h"
#include "slurm_int.h"

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

int sl_parse_opts(int argc, char **argv, const char *cmd, const int *allowed, opts *o) {
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

int sl_one_positional(const char *cmd, const opts *o) {
    if (o->npos == 1) return 0;
    if (!o->npos) fprintf(stderr, "nnlab %s: expected an EXPERIMENT file (see 'nnlab %s --help')\n", cmd, cmd);
    else fprintf(stderr, "nnlab %s: unexpected argument '%s'\n", cmd, o->pos[1]);
    return 2;
}

int sl_load_plan(const char *cmd, opts *o, nnl_plan *plan) {
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

int sl_abs_path(const char *p, char *out, size_t n) {
    char buf[PATH_MAX];
    if (realpath(p, buf)) return snprintf(out, n, "%s", buf) >= (int)n ? -1 : 0;
    if (p[0] == '/') return snprintf(out, n, "%s", p) >= (int)n ? -1 : 0;
    if (!getcwd(buf, sizeof buf)) return -1;
    return snprintf(out, n, "%s/%s", buf, p) >= (int)n ? -1 : 0;
}

int sl_shards_dir(const opts *o, const nnl_plan *plan, char *out, size_t n) {
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
    if (sl_abs_path(tmp, out, n)) {
        fprintf(stderr, "nnlab: %s: path too long\n", tmp);
        return 2;
    }
    return 0;
}

int sl_mkdirs(const char *path) {
    char err[NNL_PATH_MAX + 200];
    if (!nnl_mkdirs(path, 0755, "directory", err, sizeof err)) return 0;
    fprintf(stderr, "nnlab: %s\n", err);
    return -1;
}

int sl_write_file(const char *path, const char *text, mode_t mode) {
    char tmp[NNL_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) || chmod(tmp, mode) || rename(tmp, path)) {
        fprintf(stderr, "nnlab: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int sl_run_capture(char *const argv[], int errmode, char *out, size_t n) {
    nnl_child_opts co = {.capture = NNL_CHILD_STDOUT, .other = errmode};
    int ws;
    if (nnl_child_run(argv, &co, out, n, &ws)) {
        if (n) out[0] = 0;
        return 127;
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 127;
}

void sl_plan_hash(const nnl_plan *plan, char out[17]) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < plan->nruns; i++)
        for (const char *k = plan->runs[i].key; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

FILE *sl_open_small(const char *path, long long cap) {
    char why[160];
    struct stat st;
    int fd = nnl_input_open(path, 0, &st, why, sizeof why);
    if (fd < 0) return NULL;
    FILE *f = st.st_size <= cap ? fdopen(fd, "r") : NULL;
    if (!f) close(fd);
    return f;
}

int sl_read_submission(const char *dir, submission *sub) {
    char path[NNL_PATH_MAX + 8], line[256];
    memset(sub, 0, sizeof *sub);
    snprintf(path, sizeof path, "%s/job", dir);
    FILE *f = sl_open_small(path, 1 << 16);
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
