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
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "input.h"
#include "names.h"
#include "slurm_int.h"

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

int sl_plan_dynamic(const nnl_plan *plan) { return plan->tpe || plan->prune == NNL_PRUNE_HALVING; }

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

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* what decides a dynamic plan's runs besides its static keys: the halving
 * rungs, and the tpe: block (sizes, seeds, distributions, and the key of
 * its probe run, which covers the base config and every override) */
static uint64_t hash_search(uint64_t h, const nnl_plan *plan) {
    char b[NNL_VAL_MAX + 256];
    snprintf(b, sizeof b, "|prune %d %d %d %d", (int)plan->prune, plan->prune_after, plan->halving_min,
             plan->halving_eta);
    h = fnv(h, b);
    const nnl_tpe_plan *t = plan->tpe;
    if (!t) return h;
    snprintf(b, sizeof b, "|tpe %d %d %d", t->samples, t->batch, t->startup);
    h = fnv(h, b);
    for (int i = 0; i < t->nsearch; i++) {
        snprintf(b, sizeof b, " s%llu", (unsigned long long)t->search[i]);
        h = fnv(h, b);
    }
    for (int i = 0; i < t->nseeds; i++) {
        snprintf(b, sizeof b, " d%llu", (unsigned long long)t->seeds[i]);
        h = fnv(h, b);
    }
    for (int i = 0; i < t->nkeys; i++) {
        const nnl_search_key *k = &t->keys[i];
        snprintf(b, sizeof b, "|%s %d %.17g %.17g %d", k->key, (int)k->dim.kind, k->dim.lo, k->dim.hi,
                 k->dim.nchoices);
        h = fnv(h, b);
        for (int c = 0; k->vals && c < k->dim.nchoices; c++) h = fnv(fnv(h, " "), k->vals[c]);
    }
    char probe[17];
    nnl_config_key(&t->probe, probe);
    return fnv(fnv(h, "|probe "), probe);
}

void sl_plan_hash(const nnl_plan *plan, char out[17]) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < plan->nruns; i++) h = fnv(h, plan->runs[i].key);
    /* a fixed plan keeps the hash it always had */
    if (sl_plan_dynamic(plan)) h = hash_search(h, plan);
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
        sscanf(line, "submitted %23s", sub->since);
    }
    fclose(f);
    return sub->job[0] ? 0 : -1;
}
