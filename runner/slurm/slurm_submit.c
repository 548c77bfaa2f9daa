/* slurm_submit.c -- `nnlab sweep EXPERIMENT --slurm`: submits an
 * experiment's sweep as a Slurm job array.
 *
 * Submitting reads what is done (finished, diverged or pruned in the main
 * database or in any shard), writes the keys of those runs to DIR/done, and
 * submits an array of only the tasks that still have something to run, with
 * their stable indices. With --wait it polls squeue until the array ends,
 * merges the shards and submits again while runs are unfinished. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "data.h"
#include "names.h"
#include "signals.h"
#include "slurm_int.h"

static const nnl_command slurm_sweep_cmd = {
    .name = "sweep", .args = "EXPERIMENT --slurm", .min_args = 1, .max_args = 1, .missing = "an EXPERIMENT file",
    .about =
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
        "A tpe: search or successive halving runs too, with the same runs and bits\n"
        "as 'nnlab sweep -j 1': one task per possible run (or per K), each running\n"
        "its share of the runs as batches and rungs become known, and waiting for\n"
        "the other tasks' runs in between. So all of its tasks must run at once:\n"
        "--array-parallel P makes its array P tasks.\n",
    .opts = {{NNL_OPT_SLURM, "run the sweep as a Slurm job array (this page)"}, {NNL_OPT_PARTITION}, {NNL_OPT_TIME},
             {NNL_OPT_CPUS}, {NNL_OPT_PARALLEL}, {NNL_OPT_PER_TASK}, {NNL_OPT_SBATCH_ARG},
             {NNL_OPT_PRINT, "print the sbatch script; submit nothing, write nothing"}, {NNL_OPT_WAIT},
             {NNL_OPT_RETRIES}, {NNL_OPT_POLL}, SL_OPT_MAIN_DB, SL_OPT_SHARDS,
             {NNL_OPT_SET, "override a config value in every run (repeatable)"}, {NNL_OPT_DATA}},
    .after =
        "Then: nnlab status EXPERIMENT; nnlab merge; nnlab compare EXPERIMENT.\n"
        "exit status: 0 submitted (with --wait: every run finished), 1 with --wait:\n"
        "some run failed or is unfinished, 2 bad input or sbatch failed, 130\n"
        "interrupted while waiting (the job goes on).\n",
};

typedef struct {
    int ntasks;               /* the array's size: indices 0 .. ntasks - 1 */
    int *need;                /* per task: it has a run to do */
    int nneed, ndone;
} task_plan;

/* A fixed plan needs the tasks with a run not done. A dynamic plan's
 * tasks share runs that are not known yet (by ordinal): every task is
 * needed until the whole live plan has ended. And its tasks wait for each
 * other while holding their slots: with --array-parallel P, tasks beyond
 * the first P would never start and the first P would wait for them until
 * the time limit, so such an array has P tasks, each with more runs. */
static int plan_tasks(const opts *o, const nnl_plan *plan, const sl_view *v, task_plan *tp) {
    int dynamic = sl_plan_dynamic(plan), ended = sl_view_ended(v);
    tp->ntasks = (nnl_plan_max_runs(plan) + o->per_task - 1) / o->per_task;
    if (dynamic && o->parallel > 0 && tp->ntasks > o->parallel) tp->ntasks = o->parallel;
    tp->need = calloc((size_t)tp->ntasks + 1, sizeof *tp->need);
    if (!tp->need) return -1;
    tp->nneed = tp->ndone = 0;
    for (int i = 0; i < v->known->nruns; i++) {
        if (nnl_store_status_final(v->st[i].status)) tp->ndone++;
        else if (!dynamic) tp->need[i % tp->ntasks] = 1;
    }
    for (int t = 0; t < tp->ntasks; t++) {
        if (dynamic) tp->need[t] = !ended;
        tp->nneed += tp->need[t];
    }
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

static void write_script(FILE *f, const opts *o, const nnl_plan *plan, const task_plan *tp, const char *exe,
                         const char *exp, const char *cwd, const char *dir, const char *hash, const char *spec,
                         const char *db) {
    fprintf(f, "#!/bin/bash\n");
    if (sl_plan_dynamic(plan))
        fprintf(f, "# nnlab sweep --slurm: experiment %s, at most %d runs (tpe: or halving, known as results come)\n"
                   "# in %d array tasks; task I runs those whose place in the plan is I modulo %d, into\n"
                   "# %s/task-I.db, and waits for the others between batches and rungs.\n",
                plan->name, nnl_plan_max_runs(plan), tp->ntasks, tp->ntasks, dir);
    else {
        fprintf(f, "# nnlab sweep --slurm: experiment %s, %d runs in %d array tasks; this array: the %d\n",
                plan->name, plan->nruns, tp->ntasks, tp->nneed);
        fprintf(f, "# task%s with runs to do. Task I runs the plan's runs I, I + %d, ... into %s/task-I.db.\n",
                tp->nneed == 1 ? "" : "s", tp->ntasks, dir);
    }
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
    if (sl_plan_dynamic(plan)) {
        /* the main database, read-only: runs done there count */
        fprintf(f, " --db ");
        put_quoted(f, db);
    }
    for (int i = 0; i < o->nsets; i++) {
        if (!o->set_text[i]) continue;
        fprintf(f, " --set ");
        put_quoted(f, o->set_text[i]);
    }
    if (o->data) {
        char d[NNL_PATH_MAX];
        fprintf(f, " --data ");
        put_quoted(f, sl_abs_path(o->data, d, sizeof d) ? o->data : d);
    }
    fprintf(f, "\n");
}

int sl_submit(opts *o, const nnl_plan *plan, const char *dir, int *submitted, char *job, size_t joblen) {
    char exe[PATH_MAX], exp[NNL_PATH_MAX], cwd[PATH_MAX], hash[17];
    *submitted = 0;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { fprintf(stderr, "nnlab sweep: cannot find this program's path: %s\n", strerror(errno)); return 2; }
    exe[n] = 0;
    if (sl_abs_path(o->positional, exp, sizeof exp) || !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "nnlab sweep: %s: cannot resolve the path\n", o->positional);
        return 2;
    }
    sl_plan_hash(plan, hash);
    /* the folder goes into the script's comment and #SBATCH lines, where a
     * newline would start a command */
    const char *why = nnl_text_problem(dir, NNL_PATH_MAX, 0);
    if (why) {
        fprintf(stderr, "nnlab sweep: the shards' folder %s: its path %s; choose another with --shards DIR\n", dir, why);
        return 2;
    }

    submission last;
    if (!o->print && !sl_read_submission(dir, &last)) {
        queue_counts q;
        if (sl_query_queue(last.job, &q, 0) == 0 && !q.gone) {
            fprintf(stderr, "nnlab sweep: job %s of %s is still in the queue (%d running, %d pending): wait for it, "
                            "or cancel it with 'scancel %s', then submit again\n",
                    last.job, plan->name, q.running, q.pending, last.job);
            return 2;
        }
    }
    char db[NNL_PATH_MAX];
    /* a dynamic plan's tasks get it in the script (put_quoted) */
    if (sl_abs_path(o->db, db, sizeof db) || (sl_plan_dynamic(plan) && (why = nnl_text_problem(db, NNL_PATH_MAX, 0)))) {
        fprintf(stderr, "nnlab sweep: the database %s: its path %s; choose another with --db PATH\n", o->db,
                why ? why : "is too long");
        return 2;
    }
    sl_view v;
    if (sl_view_load(o->db, dir, plan, &v)) return 2;
    task_plan tp;
    if (plan_tasks(o, plan, &v, &tp)) { sl_view_free(&v); fprintf(stderr, "nnlab sweep: out of memory\n"); return 2; }
    int rc = 0;
    char *spec = malloc((size_t)tp.ntasks * 16 + 16);
    if (!spec) { rc = 2; goto out; }
    array_spec(&tp, spec, (size_t)tp.ntasks * 16 + 16);
    if (!tp.nneed) {
        printf("%s: all %d runs are done (in %s or its shards): nothing to submit\n", plan->name, v.known->nruns,
               o->db);
        goto out;
    }
    if (o->print) {
        write_script(stdout, o, plan, &tp, exe, exp, cwd, dir, hash, spec, db);
        goto out;
    }
    /* the folders sbatch needs before the job starts, the keys done, the script */
    char path[NNL_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/logs", dir);
    if (sl_mkdirs(path)) { rc = 2; goto out; }
    /* (a dynamic plan's tasks read the main database and the shards instead) */
    if (!sl_plan_dynamic(plan)) {
        size_t cap = (size_t)tp.ndone * 17 + 1, len = 0;
        char *text = malloc(cap);
        if (!text) { rc = 2; goto out; }
        text[0] = 0;
        for (int i = 0; i < plan->nruns; i++)
            if (nnl_store_status_final(v.st[i].status)) len += (size_t)snprintf(text + len, cap - len, "%s\n", plan->runs[i].key);
        snprintf(path, sizeof path, "%s/done", dir);
        rc = sl_write_file(path, text, 0644) ? 2 : 0;
        free(text);
        if (rc) goto out;
    }
    {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f) { rc = 2; goto out; }
        write_script(f, o, plan, &tp, exe, exp, cwd, dir, hash, spec, db);
        fclose(f);
        snprintf(path, sizeof path, "%s/job.sh", dir);
        rc = sl_write_file(path, text, 0755) ? 2 : 0;
        free(text);
        if (rc) goto out;
    }
    {
        char out[4096];
        char *argv[] = {"sbatch", "--parsable", path, NULL};
        int st_rc = sl_run_capture(argv, ERR_SHOW, out, sizeof out);
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
        char text[512], since[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        snprintf(text, sizeof text, "job %s\ntasks %d\nruns_per_task %d\nplan %s\nsubmitted %s\n", job, tp.ntasks,
                 o->per_task, hash, since);
        snprintf(path, sizeof path, "%s/job", dir);
        if (sl_write_file(path, text, 0644)) { rc = 2; goto out; }
    }
    *submitted = 1;
    if (sl_plan_dynamic(plan))
        printf("%s: at most %d runs, %d known now, %d done; submitted Slurm job %s: array tasks %s", plan->name,
               nnl_plan_max_runs(plan), v.known->nruns, tp.ndone, job, spec);
    else
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
    sl_view_free(&v);
    return rc;
}

/* polls squeue until the job has left it; 0, or 130 when interrupted */
static int wait_job(const opts *o, const nnl_plan *plan, const char *dir, const char *job) {
    queue_counts last = {-1, -1, -1, 0};
    int failures = 0;
    for (;;) {
        queue_counts q;
        if (sl_query_queue(job, &q, 0)) {
            if (++failures == 30) fprintf(stderr, "nnlab sweep: squeue keeps failing; still waiting for job %s\n", job);
        } else {
            failures = 0;
            if (q.gone) return 0;
            if (q.running != last.running || q.pending != last.pending) {
                sl_view v;
                counts c;
                printf("job %s: %d task%s running, %d pending", job, q.running, q.running == 1 ? "" : "s", q.pending);
                if (!sl_view_load(o->db, dir, plan, &v)) {
                    sl_count_states(v.known, v.st, &c);
                    printf("; runs: ");
                    sl_print_counts(stdout, &c);
                    if (v.pending) printf(", %d tpe samples to suggest", v.pending);
                    sl_view_free(&v);
                }
                printf("\n");
                fflush(stdout);
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
    opts o;
    int rc = nnl_cli_parse(&slurm_sweep_cmd, argc, argv, &o);
    if (rc || o.help) return rc;
    if (o.print && o.wait) { fprintf(stderr, "nnlab sweep: --print submits nothing to --wait for\n"); return 2; }
    if (o.retries && !o.wait) { fprintf(stderr, "nnlab sweep: --retries goes with --wait\n"); return 2; }
    nnl_plan plan;
    if (sl_load_plan("sweep", &o, &plan)) return 2;
    char dir[NNL_PATH_MAX], err[1024];
    if (sl_shards_dir(&o, &plan, dir, sizeof dir)) { nnl_plan_free(&plan); return 2; }
    if (!o.print) {
        /* the data is checked here, on the submitting host: a wrong path fails now, not in every task */
        nnl_dataset probe;
        if (nnl_dataset_load(nnl_plan_any_config(&plan)->data_dir, 1, 1, &probe, err, sizeof err)) {
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
        rc = sl_submit(&o, &plan, dir, &submitted, job, sizeof job);
        if (rc || o.print || !o.wait) break;
        if (submitted && (rc = wait_job(&o, &plan, dir, job))) break;
        if (submitted) sl_report_sacct(job);
        if ((rc = sl_merge_dir(o.db, dir))) break;
        sl_view v;
        counts c;
        if (sl_view_load(o.db, dir, &plan, &v)) { rc = 2; break; }
        sl_count_states(v.known, v.st, &c);
        int pending = v.pending;
        sl_view_free(&v);
        printf("%s: ", plan.name);
        sl_print_counts(stdout, &c);
        if (pending) printf(", %d tpe samples not suggested yet", pending);
        printf("\n");
        /* a sample not suggested yet waits for a run not ended: it counts
         * with that run */
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
