/* test_sweep.c -- experiments: expansion and naming, random samples from a
 * seed, bad experiment files, and real sweeps on the first images of
 * FashionMNIST: parallel workers, reruns that skip, kill -9 of the sweep and
 * a resume that ends bit for bit like an uninterrupted sweep, two sweeps at
 * once, the median pruner and early stopping. The kill tests run the
 * ./nnlab binary (make test builds it first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "tmpdir.h"
#include "nnlab_bin.h"
#include "../runner/config/experiment.h"
#include "../runner/store/store.h"
#include "../runner/store/store_int.h" /* nnl_store_db: the tests look behind the store */
#include "../runner/train/search.h"
#include "../runner/train/sweep.h"
#include "../runner/slurm/slurm.h"

static char dir[64];
static char err[1024];

static int have_data(void) { return access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0; }

static int setup(void **state) { return tmpdir_make(dir, "sweep"); }
static int teardown(void **state) { return tmpdir_remove(dir); }

/* writes an experiment file in the temp dir; base is relative to the repo */
static const char *write_exp(const char *name, const char *body) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "name: %s\nbase: %s/configs/lenet5-relu-max.yaml\n%s", name, getcwd((char[512]){0}, 512), body);
    fclose(f);
    return path;
}

static void plan_expands_grid_times_seeds_with_names(void **state) {
    nnl_plan p;
    if (nnl_plan_load("experiments/act-pool.yaml", NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(p.name, "act-pool");
    assert_int_equal(p.nruns, 12);
    assert_string_equal(p.runs[0].name, "activation=sigmoid,pool=avg,seed=0");
    assert_string_equal(p.runs[0].point, "activation=sigmoid,pool=avg");
    assert_string_equal(p.runs[11].name, "activation=relu,pool=max,seed=2");
    assert_int_equal(p.runs[4].seed, 1);
    assert_int_equal(p.runs[4].cfg.seed, 1);
    assert_int_equal(p.runs[4].cfg.pool, NN_MAXPOOL);
    assert_int_equal(p.runs[4].cfg.activation, NN_SIGMOID);
    for (int i = 0; i < p.nruns; i++)
        for (int j = i + 1; j < p.nruns; j++) assert_string_not_equal(p.runs[i].key, p.runs[j].key);
    nnl_plan_free(&p);
    /* command-line overrides reach every run */
    nnl_override ov[] = {{"train.epochs", "3"}};
    if (nnl_plan_load("experiments/lr-batch.yaml", ov, 1, &p, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(p.nruns, 24);
    assert_string_equal(p.runs[2].name, "lr=0.0003,batch_size=128,seed=0");
    for (int i = 0; i < p.nruns; i++) assert_int_equal(p.runs[i].cfg.epochs, 3);
    nnl_plan_free(&p);
}

/* variants: named steps (not a product), each with its overrides, times the
 * grid and the seeds */
static void plan_variants_are_named_steps_times_grid_and_seeds(void **state) {
    nnl_plan p;
    if (nnl_plan_load("experiments/tutorial-improvements.yaml", NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(p.nruns, 18);
    assert_string_equal(p.runs[0].name, "variant=1-tutorial,seed=0");
    assert_string_equal(p.runs[17].point, "variant=6-cosine");
    assert_int_equal(p.runs[0].cfg.activation, NN_SIGMOID);
    assert_int_equal(p.runs[3].cfg.activation, NN_RELU);
    assert_int_equal(p.runs[3].cfg.pool, NN_AVGPOOL);
    assert_int_equal(p.runs[6].cfg.pool, NN_MAXPOOL);
    assert_int_equal(p.runs[9].cfg.nlayers, 16);            /* batch norm layers added */
    assert_true(p.runs[9].cfg.augment.flip == 0);
    assert_true(p.runs[12].cfg.augment.flip == 0.5);
    assert_int_equal(p.runs[15].cfg.sched.kind, NN_SCHED_COSINE);
    assert_int_equal(p.runs[12].cfg.sched.kind, NN_SCHED_CONSTANT);
    assert_int_equal(p.runs[15].cfg.epochs, 20);
    nnl_plan_free(&p);
    const char *body = "variants:\n  - name: a\n  - name: b\n    set: {model.activation: swish}\n"
                       "grid:\n  train.lr: [0.001, 0.002]\nseeds: [0]\n";
    assert_int_equal(nnl_plan_load(write_exp("var", body), NULL, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "var.yaml:5:5: variant b: model.activation"));
    assert_non_null(strstr(err, "unknown activation 'swish' (expected sigmoid, relu, tanh, leaky_relu)"));
    const char *twice = "variants:\n  - name: a\n  - name: a\n";
    assert_int_equal(nnl_plan_load(write_exp("var", twice), NULL, 0, &p, err, sizeof err), -1);
    if (!strstr(err, "var.yaml:5:11: variants: the name 'a' is used twice")) fail_msg("%s", err);
}

static void plan_random_samples_are_reproducible_from_their_seed(void **state) {
    const char *body = "random:\n  samples: 6\n  seed: %d\n  train.lr: {loguniform: [1e-4, 1e-2]}\n"
                       "  train.batch_size: {choice: [32, 64, 128]}\n  model.layers.0.conv.filters: {int: [4, 8]}\n"
                       "seeds: [0, 1]\n";
    char b1[512], b2[512];
    snprintf(b1, sizeof b1, body, 3);
    snprintf(b2, sizeof b2, body, 4);
    nnl_plan a, b, c;
    if (nnl_plan_load(write_exp("rnd", b1), NULL, 0, &a, err, sizeof err)) fail_msg("%s", err);
    if (nnl_plan_load(write_exp("rnd", b1), NULL, 0, &b, err, sizeof err)) fail_msg("%s", err);
    if (nnl_plan_load(write_exp("rnd", b2), NULL, 0, &c, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(a.nruns, 12);
    int differ = 0;
    for (int i = 0; i < a.nruns; i++) {
        assert_string_equal(a.runs[i].name, b.runs[i].name);
        assert_string_equal(a.runs[i].key, b.runs[i].key);
        differ += strcmp(a.runs[i].key, c.runs[i].key) != 0;
        float lr = a.runs[i].cfg.optim.lr;
        assert_true(lr >= 1e-4f * 0.999f && lr <= 1e-2f * 1.001f);
        int bs = a.runs[i].cfg.batch_size, f = a.runs[i].cfg.layers[0].spec.out;
        assert_true(bs == 32 || bs == 64 || bs == 128);
        assert_true(f >= 4 && f <= 8);
    }
    assert_true(differ > 0);
    /* a sample's two seeds share a point */
    assert_string_equal(a.runs[0].point, a.runs[1].point);
    assert_non_null(strstr(a.runs[1].name, "seed=1"));
    nnl_plan_free(&a);
    nnl_plan_free(&b);
    nnl_plan_free(&c);
}

static void expect_plan_error(const char *body, const char *want1, const char *want2) {
    nnl_plan p;
    const char *path = write_exp("bad", body);
    if (!nnl_plan_load(path, NULL, 0, &p, err, sizeof err)) fail_msg("loaded: %s", body);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2))) fail_msg("got: %s", err);
    assert_null(strchr(err, '\n'));
}

static void plan_rejects_bad_experiment_files(void **state) {
    expect_plan_error("grid:\n  model.activaton: [relu]\n", "bad.yaml:4:", "did you mean 'activation'");
    expect_plan_error("grid:\n  model.activation: [relu, swish]\n", "bad.yaml:4:", "unknown activation 'swish'");
    expect_plan_error("grid:\n  train.lr: [fast]\n", "train.lr", "expected a number");
    expect_plan_error("gird:\n  train.lr: [0.1]\n", "did you mean 'grid'", NULL);
    expect_plan_error("grid:\n  train.lr: 0.1\n", "expected a non-empty list", NULL);
    expect_plan_error("seeds: [1, 1]\n", "listed twice", NULL);
    expect_plan_error("random:\n  train.lr: {loguniform: [0, 1]}\n", "needs 'samples", NULL);
    /* 10^9 grid points */
    char big[2048] = "grid:\n";
    const char *keys[] = {"train.lr", "train.batch_size", "train.seed", "data.train_limit", "train.epochs",
                          "train.weight_decay", "model.layers.0.conv.filters", "model.layers.3.conv.filters",
                          "model.layers.7.dense"};
    for (int k = 0; k < 9; k++) {
        strcat(big, "  ");
        strcat(big, keys[k]);
        strcat(big, ": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n");
    }
    expect_plan_error(big, "more than 100000 runs", NULL);
    nnl_plan p;
    assert_int_equal(nnl_plan_load("/nonexistent/x.yaml", NULL, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.yaml: cannot read"));
}

static nnl_plan small_plan(const char *exp, int epochs, int limit) {
    char e[16], l[16];
    snprintf(e, sizeof e, "%d", epochs);
    snprintf(l, sizeof l, "%d", limit);
    nnl_override ov[] = {{"train.epochs", e}, {"data.train_limit", l}, {"data.test_limit", "100"}};
    nnl_plan p;
    if (nnl_plan_load(exp, ov, 3, &p, err, sizeof err)) fail_msg("%s", err);
    return p;
}

static int64_t q1(const char *db, const char *sql) {
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    if (!s) fail_msg("%s", err);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(nnl_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    nnl_store_close(s);
    return v;
}

static volatile sig_atomic_t no_stop;

static void sweep_runs_all_in_parallel_then_skips_on_rerun(void **state) {
    if (!have_data()) skip();
    nnl_plan p = small_plan("experiments/act-pool.yaml", 2, 300);
    char db[128];
    snprintf(db, sizeof db, "%s/a.db", dir);
    nnl_sweep_opts o = {.plan = &p, .db = db, .jobs = 4, .stop = &no_stop};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished' AND experiment = 'act-pool'"), 12);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs"), 24);
    assert_int_equal(q1(db, "SELECT count(DISTINCT run_id) FROM confusion"), 12);
    int64_t last = q1(db, "SELECT max(finished) IS NOT NULL FROM runs");
    assert_int_equal(last, 1);
    /* each worker may take every core (it starts on its share) */
    char want[96];
    snprintf(want, sizeof want, "SELECT count(*) FROM params WHERE key = 'run.threads' AND value = '%ld'",
             sysconf(_SC_NPROCESSORS_ONLN));
    assert_int_equal(q1(db, want), 12);
    /* again: nothing to run, nothing changes */
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs"), 12);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs"), 24);
    /* compare groups the 3 seeds of each of the 4 points */
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nnl_compare(s, "act-pool", NULL, 1, f, err, sizeof err), 0);
    fclose(f);
    int lines = 0;
    for (char *c = buf; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 5);
    assert_non_null(strstr(buf, "relu,max,3,3,"));
    /* how sure: the interval, Welch's p against the best, Holm's, and the verdict; one best */
    assert_non_null(strstr(buf, ",test_acc_ci95_half,p_vs_best,p_vs_best_holm,differs_from_best\n"));
    int best = 0;
    for (char *c = strstr(buf, ",best\n"); c; c = strstr(c + 1, ",best\n")) best++;
    assert_int_equal(best, 1);
    free(buf);
    /* --by activation: two rows, each pooling the 6 runs of both poolings */
    f = open_memstream(&buf, &len);
    assert_int_equal(nnl_compare(s, "act-pool", "activation", 1, f, err, sizeof err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "activation,runs,finished,"));
    assert_non_null(strstr(buf, "\nrelu,6,6,"));
    assert_non_null(strstr(buf, "\nsigmoid,6,6,"));
    lines = 0;
    for (char *c = buf; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 3);
    free(buf);
    /* a key the grid does not have says which it has */
    f = open_memstream(&buf, &len);
    assert_int_equal(nnl_compare(s, "act-pool", "train.lr", 0, f, err, sizeof err), -1);
    fclose(f);
    free(buf);
    if (!strstr(err, "compare --by train.lr: no grid key 'train.lr' in experiment act-pool (its keys: activation, pool)"))
        fail_msg("%s", err);
    nnl_store_close(s);
    nnl_plan_free(&p);
}

/* train.threads in the experiment still caps what a worker may take */
static void sweep_workers_keep_to_train_threads(void **state) {
    if (!have_data()) skip();
    nnl_override ov[] = {{"train.epochs", "1"}, {"data.train_limit", "200"}, {"data.test_limit", "50"},
                         {"train.threads", "1"}};
    nnl_plan p;
    if (nnl_plan_load(write_exp("cap", "seeds: [0, 1]\n"), ov, 4, &p, err, sizeof err)) fail_msg("%s", err);
    char db[128];
    snprintf(db, sizeof db, "%s/cap.db", dir);
    nnl_sweep_opts o = {.plan = &p, .db = db, .jobs = 1, .stop = &no_stop};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(db, "SELECT count(*) FROM params WHERE key = 'run.threads' AND value = '1'"), 2);
    nnl_plan_free(&p);
}

/* runs nnlab (NNLAB_BIN) with args in its own process group; returns its pid */
/* runs ./nnlab in its own process group, stderr to log, stdout to out */
static pid_t spawn_to(char *const argv[], const char *log, const char *out) {
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        if (!freopen(out, "w", stdout)) _exit(127);
        execv(nnlab_bin(), argv);
        _exit(127);
    }
    return pid;
}

static pid_t spawn(char *const argv[], const char *log) { return spawn_to(argv, log, "/dev/null"); }

static int wait_exit(pid_t pid) {
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static int64_t q1_retry(const char *db, const char *sql) {
    /* the database may not exist, or not have its tables, while the sweep starts */
    nnl_store *s = access(db, F_OK) ? NULL : nnl_store_open_readonly(db, err, sizeof err);
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (s && sqlite3_prepare_v2(nnl_store_db(s), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    nnl_store_close(s);
    return v;
}

/* kill -9 of a sweep in the middle of its second run's epochs: rerunning
 * it keeps every finished epoch, repeats no finished run, and ends with the
 * same bits as an uninterrupted sweep. */
static void sweep_resumes_after_kill9_like_an_uninterrupted_sweep(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("kill", "grid:\n  train.lr: [0.001, 0.002]\nseeds: [5]\n"
                                        "set: {train.epochs: 4, data.train_limit: 4000, data.test_limit: 200}\n");
    char ref[128], db[128], log[128];
    snprintf(ref, sizeof ref, "%s/ref.db", dir);
    snprintf(db, sizeof db, "%s/kill.db", dir);
    snprintf(log, sizeof log, "%s/kill.log", dir);
    char *ref_argv[] = {"nnlab", "sweep", (char *)exp, "--db", ref, NULL};
    assert_int_equal(wait_exit(spawn(ref_argv, log)), 0);

    char *argv[] = {"nnlab", "sweep", (char *)exp, "--db", db, NULL};
    pid_t pid = spawn(argv, log);
    /* wait until the second run has finished an epoch, then kill -9 */
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 3000; i++) {
        if (q1_retry(db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.id = 2") >= 1) break;
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL);
    wait_exit(pid);
    assert_int_equal(q1(db, "SELECT status = 'finished' FROM runs WHERE id = 1"), 1);
    assert_int_equal(q1(db, "SELECT status = 'running' FROM runs WHERE id = 2"), 1); /* its pid is dead */
    int64_t kept = q1(db, "SELECT count(*) FROM epochs WHERE run_id = 2");
    assert_true(kept >= 1 && kept < 4);
    int64_t first_finished = q1(db, "SELECT finished IS NOT NULL FROM runs WHERE id = 1");
    assert_int_equal(first_finished, 1);

    assert_int_equal(wait_exit(spawn(argv, log)), 0);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs"), 8);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 2);
    /* the same bits: every epoch's metrics and the test result */
    char sql[512];
    snprintf(sql, sizeof sql,
             "ATTACH '%s' AS ref; SELECT 1", ref);
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    assert_int_equal(sqlite3_exec(nnl_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(nnl_store_db(s),
                                        "SELECT count(*) FROM epochs a JOIN runs ra ON ra.id = a.run_id"
                                        " JOIN ref.runs rb ON rb.key = ra.key JOIN ref.epochs b ON b.run_id = rb.id"
                                        " AND b.epoch = a.epoch WHERE a.train_loss = b.train_loss AND"
                                        " a.val_loss = b.val_loss AND a.val_acc = b.val_acc AND"
                                        " ra.test_loss = rb.test_loss",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 8);
    sqlite3_finalize(st);
    nnl_store_close(s);
}

/* Two sweeps started at once on one experiment and database: every run
 * runs exactly once. */
static void two_sweeps_at_once_never_run_a_run_twice(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("twice", "grid:\n  train.lr: [0.001, 0.002, 0.003]\nseeds: [1, 2]\n"
                                         "set: {train.epochs: 2, data.train_limit: 500, data.test_limit: 100}\n");
    char db[128], log1[128], log2[128];
    snprintf(db, sizeof db, "%s/twice.db", dir);
    snprintf(log1, sizeof log1, "%s/t1.log", dir);
    snprintf(log2, sizeof log2, "%s/t2.log", dir);
    char *argv[] = {"nnlab", "sweep", (char *)exp, "--db", db, "-j", "2", NULL};
    pid_t a = spawn(argv, log1), b = spawn(argv, log2);
    int ra = wait_exit(a), rb = wait_exit(b);
    assert_int_equal(ra, 0);
    assert_int_equal(rb, 0);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs"), 6);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 6);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs"), 12);
    /* each run trained once: count "finished" reports in both logs */
    int finished = 0;
    const char *logs[] = {log1, log2};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(logs[i], "r");
        char line[1024];
        while (fgets(line, sizeof line, f)) finished += strstr(line, " finished: test accuracy") != NULL;
        fclose(f);
    }
    assert_int_equal(finished, 6);
}

/* A run whose validation accuracy at the pruning epoch is below the median
 * of the finished runs stops as pruned. */
static void median_pruner_stops_runs_below_the_median(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("prune", "grid:\n  train.lr: [0.003, 0.0000001]\nseeds: [3]\n"
                                         "prune: {after_epoch: 1}\n"
                                         "set: {train.epochs: 3, data.train_limit: 1500, data.test_limit: 100}\n");
    nnl_plan p;
    if (nnl_plan_load(exp, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(p.prune_after, 1);
    char db[128];
    snprintf(db, sizeof db, "%s/prune.db", dir);
    nnl_sweep_opts o = {.plan = &p, .db = db, .jobs = 1, .stop = &no_stop};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(db, "SELECT status = 'finished' FROM runs WHERE name LIKE 'lr=0.003,%'"), 1);
    assert_int_equal(q1(db, "SELECT status = 'pruned' FROM runs WHERE name LIKE 'lr=0.0000001,%'"), 1);
    assert_int_equal(q1(db, "SELECT epochs_done FROM runs WHERE name LIKE 'lr=0.0000001,%'"), 1);
    nnl_plan_free(&p);
}

/* A Slurm sweep's array tasks each write their own shard: one task's
 * pruner counts the finished runs in the other shards too, or a task with a
 * single run would never have anything to compare with. */
static void pruner_counts_the_finished_runs_of_other_shards(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("shardprune", "grid:\n  train.lr: [0.003, 0.0000001]\nseeds: [3]\n"
                                              "prune: {after_epoch: 1}\n"
                                              "set: {train.epochs: 3, data.train_limit: 1500, data.test_limit: 100}\n");
    nnl_plan p;
    if (nnl_plan_load(exp, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_non_null(strstr(p.runs[0].name, "lr=0.003"));
    char shards[128], task0[160], task1[160], alone[160];
    snprintf(shards, sizeof shards, "%s/shards", dir);
    assert_int_equal(mkdir(shards, 0777), 0);
    snprintf(task0, sizeof task0, "%s/task-0.db", shards);
    snprintf(task1, sizeof task1, "%s/task-1.db", shards);
    snprintf(alone, sizeof alone, "%s/alone.db", dir);
    nnl_plan good = p, poor = p;
    good.runs = &p.runs[0];
    poor.runs = &p.runs[1];
    good.nruns = poor.nruns = 1;
    nnl_sweep_opts o = {.plan = &good, .db = task0, .jobs = 1, .shared = 1, .stop = &no_stop, .peers = shards};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(task0, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
    /* alone, the poor run has nothing to be compared with and runs to the end */
    o = (nnl_sweep_opts){.plan = &poor, .db = alone, .jobs = 1, .shared = 1, .stop = &no_stop};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(alone, "SELECT epochs_done FROM runs WHERE status = 'finished'"), 3);
    /* beside task 0's shard, it is pruned at epoch 1 */
    o = (nnl_sweep_opts){.plan = &poor, .db = task1, .jobs = 1, .shared = 1, .stop = &no_stop, .peers = shards};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    assert_int_equal(q1(task1, "SELECT epochs_done FROM runs WHERE status = 'pruned'"), 1);
    nnl_plan_free(&p);
}

/* Validation loss that never improves by min_delta stops the run after
 * patience epochs; the run still gets its test result. */
static void early_stopping_ends_a_run_after_patience_epochs(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("early", "seeds: [0]\n"
                                         "set: {train.epochs: 6, train.early_stop: {patience: 2, min_delta: 100},"
                                         " data.train_limit: 500, data.test_limit: 100}\n");
    nnl_plan p;
    if (nnl_plan_load(exp, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    char db[128];
    snprintf(db, sizeof db, "%s/early.db", dir);
    nnl_sweep_opts o = {.plan = &p, .db = db, .jobs = 1, .stop = &no_stop};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    /* epoch 1 sets the best; epochs 2 and 3 fail to beat it by 100 */
    assert_int_equal(q1(db, "SELECT epochs_done FROM runs"), 3);
    assert_int_equal(q1(db, "SELECT status = 'finished' AND test_acc IS NOT NULL FROM runs"), 1);
    assert_int_equal(q1(db, "SELECT value FROM params WHERE key = 'run.early_stop_epoch'"), 3);
    nnl_plan_free(&p);
}

/* ---- tpe: and successive halving */

/* the rows of sql, columns joined by '|', rows by '\n' (malloc'd) */
static char *qtext(const char *db, const char *sql) {
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    if (!s) fail_msg("%s", err);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(nnl_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sql);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++)
            fprintf(f, "%s%s", c ? "|" : "", sqlite3_column_text(st, c) ? (const char *)sqlite3_column_text(st, c) : "");
        fputc('\n', f);
    }
    fclose(f);
    sqlite3_finalize(st);
    nnl_store_close(s);
    return buf;
}

#define PARAM(k) "(SELECT value FROM params p WHERE p.run_id = r.id AND p.key = '" k "')"
/* every run of a search in (search, trial, seed) order, with its results */
#define SEARCH_ROWS "SELECT " PARAM("sweep.search") ", " PARAM("sweep.trial") ", " PARAM("sweep.batch") \
    ", r.key, r.status, r.epochs_done, r.best_val_acc, r.test_loss FROM runs r ORDER BY " \
    "CAST(" PARAM("sweep.search") " AS INT), CAST(" PARAM("sweep.trial") " AS INT), r.seed"

static const char tpe_body[] =
    "set: {train.epochs: 2, data.train_limit: 1500, data.test_limit: 200}\n"
    "seeds: [0, 1]\n"
    "tpe:\n  samples: 6\n  batch: 2\n  startup: 2\n  seed: [0, 3]\n"
    "  train.lr: {loguniform: [1e-4, 1e-2]}\n  train.batch_size: {choice: [64, 128, 256]}\n"
    "  train.weight_decay: {uniform: [0, 0.001]}\n";

/* The same tpe: file with one and with two workers: the same runs in the
 * same trials, each batch started only after the batches before it ended,
 * and each suggestion after the random start is TPE's from those results. */
static void tpe_gives_the_same_runs_with_one_or_two_workers(void **state) {
    if (!have_data()) skip();
    nnl_plan p;
    if (nnl_plan_load(write_exp("tpe", tpe_body), NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(p.nruns, 0);
    assert_non_null(p.tpe);
    char db[2][128];
    char *rows[2];
    for (int j = 0; j < 2; j++) {
        snprintf(db[j], sizeof db[j], "%s/tpe%d.db", dir, j + 1);
        nnl_sweep_opts o = {.plan = &p, .db = db[j], .jobs = j + 1, .stop = &no_stop};
        assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
        assert_int_equal(q1(db[j], "SELECT count(*) FROM runs WHERE status = 'finished'"), 24);
        rows[j] = qtext(db[j], SEARCH_ROWS);
    }
    assert_string_equal(rows[0], rows[1]);
    /* a batch starts after every run of the batches before it finished */
    assert_int_equal(q1(db[1], "SELECT count(*) FROM runs a JOIN runs b ON " "(SELECT value FROM params WHERE run_id = a.id AND key = 'sweep.search') = "
                               "(SELECT value FROM params WHERE run_id = b.id AND key = 'sweep.search') AND "
                               "CAST((SELECT value FROM params WHERE run_id = a.id AND key = 'sweep.batch') AS INT) < "
                               "CAST((SELECT value FROM params WHERE run_id = b.id AND key = 'sweep.batch') AS INT) "
                               "WHERE b.started < a.finished"), 0);
    /* the suggestions: search 0's history as the database holds it, given to
     * the sampler batch by batch, names the runs that were made */
    const nnl_tpe_plan *t = p.tpe;
    nnl_tpe_dim d[3];
    for (int k = 0; k < 3; k++) d[k] = t->keys[k].dim;
    double hist[6 * 3];
    nnl_tpe_obs obs[6];
    nnl_store *s = nnl_store_open_readonly(db[0], err, sizeof err);
    for (int trial = 0; trial < 6; trial++) {
        double *v = hist + 3 * trial;
        int t0 = trial / 2 * 2;
        if (trial < 2) nnl_tpe_random(d, 3, 0, (uint64_t)trial, v);
        else assert_int_equal(nnl_tpe_suggest(d, 3, hist, obs, t0, 0, (uint64_t)trial, v), 0);
        nnl_tpe_round(t, v);
        double sum = 0;
        for (int sd = 0; sd < 2; sd++) {
            nnl_planned_run r;
            assert_int_equal(nnl_plan_tpe_run(&p, 0, trial, trial / 2, v, sd, &r, err, sizeof err), 0);
            int64_t id = nnl_store_find_key(s, r.key, "tpe", err, sizeof err);
            if (id <= 0) fail_msg("trial %d seed %d: no run %s (%s)", trial, sd, r.key, r.name);
            nnl_run_row row;
            assert_int_equal(nnl_store_run_get(s, id, &row, err, sizeof err), 0);
            sum += row.best_val_acc;
            nnl_run_row_free(&row);
        }
        obs[trial] = (nnl_tpe_obs){0, sum / 2};
    }
    nnl_store_close(s);
    free(rows[0]);
    free(rows[1]);
    nnl_plan_free(&p);
}

/* kill -9 of a tpe: sweep while a later batch runs: the rerun resumes into
 * the same plan and ends with the same bits as a sweep never stopped. */
static void tpe_resumes_after_kill9_in_a_batch(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("tpekill", "set: {train.epochs: 3, data.train_limit: 4000, data.test_limit: 200}\n"
                                           "tpe:\n  samples: 5\n  batch: 2\n  startup: 2\n"
                                           "  train.lr: {loguniform: [1e-4, 1e-2]}\n"
                                           "  train.batch_size: {choice: [64, 128]}\n");
    char ref[128], db[128], log[128];
    snprintf(ref, sizeof ref, "%s/tperef.db", dir);
    snprintf(db, sizeof db, "%s/tpekill.db", dir);
    snprintf(log, sizeof log, "%s/tpekill.log", dir);
    char *ref_argv[] = {"nnlab", "sweep", (char *)exp, "--db", ref, NULL};
    assert_int_equal(wait_exit(spawn(ref_argv, log)), 0);
    char *argv[] = {"nnlab", "sweep", (char *)exp, "--db", db, "-j", "2", NULL};
    pid_t pid = spawn(argv, log);
    /* batch 1 (samples 2 and 3) is under way: one of its runs has an epoch */
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 3000; i++) {
        if (q1_retry(db, "SELECT count(*) FROM epochs e JOIN params p ON p.run_id = e.run_id AND "
                         "p.key = 'sweep.batch' AND p.value = '1'") >= 1)
            break;
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL);
    wait_exit(pid);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs r WHERE " PARAM("sweep.batch") " = '2'"), 0);
    assert_true(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'") < 5);
    /* --print says what waits for what, and writes nothing */
    char *pargv[] = {"nnlab", "sweep", (char *)exp, "--db", db, "--print", NULL};
    char plog[160];
    snprintf(plog, sizeof plog, "%s/print.log", dir);
    assert_int_equal(wait_exit(spawn_to(pargv, log, plog)), 0);
    FILE *f = fopen(plog, "r");
    char text[8192] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    if (!strstr(text, "tpe search 0: batch 2 (samples 4-4) waits for batch 1:")) fail_msg("--print said:\n%s", text);
    assert_int_equal(wait_exit(spawn(argv, log)), 0);
    char *a = qtext(db, SEARCH_ROWS), *b = qtext(ref, SEARCH_ROWS);
    assert_string_equal(a, b);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 5);
    free(a);
    free(b);
    /* every epoch's numbers too */
    a = qtext(db, "SELECT r.key, e.epoch, e.train_loss, e.val_loss FROM epochs e JOIN runs r ON r.id = e.run_id "
                  "ORDER BY r.key, e.epoch");
    b = qtext(ref, "SELECT r.key, e.epoch, e.train_loss, e.val_loss FROM epochs e JOIN runs r ON r.id = e.run_id "
                   "ORDER BY r.key, e.epoch");
    assert_string_equal(a, b);
    free(a);
    free(b);
}

/* kill -9 of a halving sweep while some runs wait at a rung and others
 * train toward it: the rerun decides the same rungs and ends with the same
 * bits as a sweep never stopped. */
static void halving_resumes_after_kill9_at_a_rung(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("halvkill", "set: {train.epochs: 4, data.train_limit: 4000, data.test_limit: 200}\n"
                                            "grid:\n  train.lr: [0.0003, 0.001, 0.003, 0.01]\n"
                                            "prune: {type: halving, min_epochs: 1, eta: 2}\n");
    char ref[128], db[128], log[128];
    snprintf(ref, sizeof ref, "%s/halvref.db", dir);
    snprintf(db, sizeof db, "%s/halvkill.db", dir);
    snprintf(log, sizeof log, "%s/halvkill.log", dir);
    char *ref_argv[] = {"nnlab", "sweep", (char *)exp, "--db", ref, NULL};
    assert_int_equal(wait_exit(spawn(ref_argv, log)), 0);
    char *argv[] = {"nnlab", "sweep", (char *)exp, "--db", db, NULL};
    pid_t pid = spawn(argv, log);
    /* one run waits at the first rung, a later one is training toward it */
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 6000; i++) {
        if (q1_retry(db, "SELECT count(*) FROM runs WHERE status = 'interrupted'") >= 1 &&
            q1_retry(db, "SELECT count(*) FROM runs WHERE status = 'running'") >= 1)
            break;
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL);
    wait_exit(pid);
    assert_true(q1(db, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND error LIKE 'waiting at a rung%'") >= 1);
    /* nnlab ls says which runs wait at a rung */
    char lsout[160];
    snprintf(lsout, sizeof lsout, "%s/ls.out", dir);
    char *ls_argv[] = {"nnlab", "ls", "--db", db, NULL};
    assert_int_equal(wait_exit(spawn_to(ls_argv, log, lsout)), 0);
    FILE *lf = fopen(lsout, "r");
    char text[8192] = "";
    text[fread(text, 1, sizeof text - 1, lf)] = 0;
    fclose(lf);
    if (!strstr(text, "  waiting  ")) fail_msg("nnlab ls said:\n%s", text);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status IN ('finished', 'pruned')"), 0);
    assert_int_equal(wait_exit(spawn(argv, log)), 0);
    const char *sql = "SELECT r.name, r.status, r.epochs_done, e.epoch, e.train_loss, e.val_loss, r.test_loss "
                      "FROM runs r JOIN epochs e ON e.run_id = r.id ORDER BY r.name, e.epoch";
    char *a = qtext(db, sql), *b = qtext(ref, sql);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'pruned'"), 3);
}

/* Successive halving over 6 learning rates, 2 seeds, 6 epochs, rungs at 1,
 * 2 and 4 epochs, eta 2: at each rung the best half of the points that got
 * there (mean validation accuracy at that epoch) go on, the same with one
 * or two workers. */
static void halving_keeps_the_best_of_each_rung(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("halv", "set: {train.epochs: 6, data.train_limit: 1500, data.test_limit: 200}\n"
                                        "grid:\n  train.lr: [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03]\n"
                                        "seeds: [0, 1]\nprune: {type: halving, min_epochs: 1, eta: 2}\n");
    nnl_plan p;
    if (nnl_plan_load(exp, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(p.prune, NNL_PRUNE_HALVING);
    char db[2][128];
    char *rows[2];
    for (int j = 0; j < 2; j++) {
        snprintf(db[j], sizeof db[j], "%s/halv%d.db", dir, j + 1);
        nnl_sweep_opts o = {.plan = &p, .db = db[j], .jobs = j + 1, .stop = &no_stop};
        assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
        rows[j] = qtext(db[j], "SELECT name, status, epochs_done, best_val_acc FROM runs ORDER BY name");
    }
    assert_string_equal(rows[0], rows[1]);
    free(rows[0]);
    free(rows[1]);
    /* rung by rung from the epochs table: the points that reached it, by
     * mean validation accuracy there; the best max(1, m/2) went past it */
    const int rung[3] = {1, 2, 4}, keep[3] = {3, 1, 1};
    int reached = 6;
    for (int k = 0; k < 3; k++) {
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "SELECT " PARAM("sweep.point") " AS pt, avg(e.val_acc) AS v, min(r.epochs_done) > %d AS went_on "
                 "FROM runs r JOIN epochs e ON e.run_id = r.id AND e.epoch = %d "
                 "GROUP BY pt ORDER BY v DESC, min(r.id)", rung[k], rung[k]);
        char *t = qtext(db[0], sql);
        int i = 0;
        for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"), i++)
            if ((line[strlen(line) - 1] == '1') != (i < keep[k])) fail_msg("rung %d, rank %d: %s", rung[k], i, line);
        assert_int_equal(i, reached);
        reached = keep[k];
        free(t);
    }
    assert_int_equal(q1(db[0], "SELECT count(*) FROM runs WHERE status = 'finished' AND epochs_done = 6"), 2);
    assert_int_equal(q1(db[0], "SELECT count(*) FROM runs WHERE status = 'pruned'"), 10);
    assert_int_equal(q1(db[0], "SELECT count(*) FROM runs WHERE status = 'pruned' AND error LIKE "
                               "'successive halving: at the rung of epoch _ %'"), 10);
    nnl_plan_free(&p);
}

/* ---- Slurm array tasks sharing a live plan (runner/slurm/slurm_worker.c) */

#define RUN_ROWS "SELECT r.key, r.status, r.epochs_done, r.best_val_acc, (SELECT group_concat(e.epoch || ':' || " \
    "e.train_loss || '/' || e.val_loss, ';') FROM epochs e WHERE e.run_id = r.id) FROM runs r ORDER BY r.key"

static const char share_body[] =
    "set: {train.epochs: 3, data.train_limit: 1500, data.test_limit: 200}\n"
    "seeds: [0, 1]\n"
    "tpe:\n  samples: 4\n  batch: 2\n  startup: 2\n  seed: 5\n"
    "  train.lr: {loguniform: [1e-3, 1e-2]}\n  train.batch_size: {choice: [64, 128]}\n"
    "prune: {type: halving, min_epochs: 1, eta: 2}\n";

/* task `task` of 2 on DIR/shards/task-I.db, in a child process */
static pid_t fork_task_since(const nnl_plan *p, const char *shards, int task, const char *since) {
    /* or the child writes the parent's unwritten lines a second time */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid) return pid;
    char db[192], e[1024];
    snprintf(db, sizeof db, "%s/task-%d.db", shards, task);
    nnl_sweep_opts o = {.plan = p, .db = db, .jobs = 1, .cores = 1, .shared = 1, .stop = &no_stop,
                        .peers = shards, .task = task, .ntasks = 2, .since = since};
    FILE *f = freopen("/dev/null", "w", stdout);
    (void)f;
    int rc = nnl_sweep(&o, e, sizeof e);
    if (rc == 2) fprintf(stderr, "task %d: %s\n", task, e);
    _exit(rc);
}

static pid_t fork_task(const nnl_plan *p, const char *shards, int task) { return fork_task_since(p, shards, task, NULL); }

/* Two array tasks of a tpe: search with successive halving, at once, each
 * reading the other's shard: together they hold exactly the runs of a
 * sweep on one machine, each run once, with the same bits; merged, the
 * same database rows. Each waited for the other between batches and rungs. */
static void two_tasks_share_a_live_plan_like_one_sweep(void **state) {
    if (!have_data()) skip();
    nnl_plan p;
    if (nnl_plan_load(write_exp("share", share_body), NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    char ref[128], shards[128], merged[128];
    snprintf(ref, sizeof ref, "%s/share-ref.db", dir);
    snprintf(shards, sizeof shards, "%s/share-shards", dir);
    snprintf(merged, sizeof merged, "%s/share-merged.db", dir);
    assert_int_equal(mkdir(shards, 0777), 0);
    nnl_sweep_opts o = {.plan = &p, .db = ref, .jobs = 1, .stop = &no_stop};
    assert_int_equal(nnl_sweep(&o, err, sizeof err), 0);
    setenv("NNLAB_POLL_MS", "50", 1);
    pid_t t0 = fork_task(&p, shards, 0), t1 = fork_task(&p, shards, 1);
    assert_int_equal(wait_exit(t0), 0);
    assert_int_equal(wait_exit(t1), 0);
    unsetenv("NNLAB_POLL_MS");
    char s0[192], s1[192];
    snprintf(s0, sizeof s0, "%s/task-0.db", shards);
    snprintf(s1, sizeof s1, "%s/task-1.db", shards);
    int64_t n = q1(ref, "SELECT count(*) FROM runs");
    assert_int_equal(n, 8);
    assert_true(q1(ref, "SELECT count(*) FROM runs WHERE status = 'pruned'") > 0);
    /* each run once: no key in both shards, and as many runs as the reference */
    assert_int_equal(q1(s0, "SELECT count(*) FROM runs") + q1(s1, "SELECT count(*) FROM runs"), n);
    assert_true(q1(s0, "SELECT count(*) FROM runs") > 0 && q1(s1, "SELECT count(*) FROM runs") > 0);
    nnl_store *m = nnl_store_open(merged, err, sizeof err);
    if (!m) fail_msg("%s", err);
    nnl_merge_counts c;
    for (int i = 0; i < 2; i++)
        if (nnl_merge_shard(m, i ? s1 : s0, &c, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(m);
    char *a = qtext(merged, RUN_ROWS), *b = qtext(ref, RUN_ROWS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    nnl_plan_free(&p);
}

/* A task whose next batch waits for a run that failed in another task's
 * shard stops waiting with status 1, instead of holding its Slurm
 * allocation until the time limit. */
static void task_stops_waiting_when_an_earlier_batch_failed(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("blocked", "set: {train.epochs: 1, data.train_limit: 500, data.test_limit: 100}\n"
                                           "tpe:\n  samples: 4\n  batch: 2\n  startup: 2\n"
                                           "  train.lr: {loguniform: [1e-3, 1e-2]}\n");
    nnl_plan p;
    if (nnl_plan_load(exp, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    char shards[128], s1[192];
    snprintf(shards, sizeof shards, "%s/blocked-shards", dir);
    snprintf(s1, sizeof s1, "%s/task-1.db", shards);
    assert_int_equal(mkdir(shards, 0777), 0);
    /* batch 0 is trials 0 and 1 (ordinals 0 and 1): task 1's failed */
    nnl_live live = {0};
    assert_int_equal(nnl_search_refresh(NULL, NULL, NULL, &p, 0, &live, err, sizeof err), 0);
    assert_int_equal(live.plan.nruns, 2);
    assert_int_equal(live.plan.runs[1].ordinal, 1);
    nnl_store *s = nnl_store_open_shared(s1, err, sizeof err);
    if (!s) fail_msg("%s", err);
    char *canon = nnl_config_canonical(&live.plan.runs[1].cfg);
    nnl_run_info ri = {.key = live.plan.runs[1].key, .name = live.plan.runs[1].name, .experiment = p.name,
                       .config = canon, .seed = live.plan.runs[1].seed, .status = "failed"};
    assert_true(nnl_store_run_create(s, &ri, err, sizeof err) > 0);
    free(canon);
    nnl_store_close(s);
    nnl_live_free(&live);
    setenv("NNLAB_POLL_MS", "50", 1);
    time_t t = time(NULL);
    assert_int_equal(wait_exit(fork_task(&p, shards, 0)), 1);
    unsetenv("NNLAB_POLL_MS");
    assert_true(time(NULL) - t < 30);
    char s0[192];
    snprintf(s0, sizeof s0, "%s/task-0.db", shards);
    /* its own run of batch 0 finished; batch 1 was never suggested */
    assert_int_equal(q1(s0, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
    assert_int_equal(q1(s0, "SELECT count(*) FROM runs"), 1);

    /* submitted again: the run failed before this submission, so task 0
     * waits for task 1 to retry it instead of giving up, and then the two
     * finish the plan */
    nnl_store *t1 = nnl_store_open_shared(s1, err, sizeof err);
    if (!t1) fail_msg("%s", err);
    assert_int_equal(nnl_store_run_status(t1, q1(s1, "SELECT id FROM runs"), "failed", "a node died", err, sizeof err), 0);
    nnl_store_close(t1);
    char since[32];
    time_t later = time(NULL) + 1;
    struct tm tm;
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&later, &tm));
    setenv("NNLAB_POLL_MS", "50", 1);
    pid_t task0 = fork_task_since(&p, shards, 0, since);
    struct timespec nap = {1, 0};
    nanosleep(&nap, NULL);
    int ws;
    assert_int_equal(waitpid(task0, &ws, WNOHANG), 0); /* still waiting, after some 20 looks */
    pid_t task1 = fork_task_since(&p, shards, 1, since);
    assert_int_equal(wait_exit(task1), 0);
    assert_int_equal(wait_exit(task0), 0);
    unsetenv("NNLAB_POLL_MS");
    assert_int_equal(q1(s0, "SELECT count(*) FROM runs WHERE status = 'finished'") +
                     q1(s1, "SELECT count(*) FROM runs WHERE status = 'finished'"), 4);
    nnl_plan_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_expands_grid_times_seeds_with_names),
        cmocka_unit_test(plan_variants_are_named_steps_times_grid_and_seeds),
        cmocka_unit_test(plan_random_samples_are_reproducible_from_their_seed),
        cmocka_unit_test(plan_rejects_bad_experiment_files),
        cmocka_unit_test(sweep_runs_all_in_parallel_then_skips_on_rerun),
        cmocka_unit_test(sweep_workers_keep_to_train_threads),
        cmocka_unit_test(sweep_resumes_after_kill9_like_an_uninterrupted_sweep),
        cmocka_unit_test(two_sweeps_at_once_never_run_a_run_twice),
        cmocka_unit_test(median_pruner_stops_runs_below_the_median),
        cmocka_unit_test(pruner_counts_the_finished_runs_of_other_shards),
        cmocka_unit_test(early_stopping_ends_a_run_after_patience_epochs),
        cmocka_unit_test(tpe_gives_the_same_runs_with_one_or_two_workers),
        cmocka_unit_test(tpe_resumes_after_kill9_in_a_batch),
        cmocka_unit_test(halving_keeps_the_best_of_each_rung),
        cmocka_unit_test(halving_resumes_after_kill9_at_a_rung),
        cmocka_unit_test(two_tasks_share_a_live_plan_like_one_sweep),
        cmocka_unit_test(task_stops_waiting_when_an_earlier_batch_failed),
    };
    return cmocka_run_group_tests_name("sweep", tests, setup, teardown);
}
