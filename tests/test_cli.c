/* test_cli.c -- the ./nnlab program as a user meets it: bad input gets one
 * line on stderr and exit status 2 and writes nothing to the database; a
 * short real training run lands in the database and is listed, shown,
 * tested and summarized; --set, --help and --version answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "tmpdir.h"
#include "nnlab_bin.h"

static char dir[64], out[1 << 16], errout[1 << 16], db[128];

static int setup(void **state) {
    if (tmpdir_make(dir, "cli")) return -1;
    snprintf(db, sizeof db, "%s/r/nnlab.db", dir);
    return 0;
}

static int teardown(void **state) { return tmpdir_remove(dir); }

static void slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

/* runs nnlab (NNLAB_BIN) with the shell words in args; returns its exit status */
static int nnlab(const char *args) {
    char cmd[4096], o[128], e[128];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", nnlab_bin(), args, o, e);
    int ws = system(cmd);
    slurp(o, out, sizeof out);
    slurp(e, errout, sizeof errout);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static const char *write_file(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int lines_of(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* bad input: exit 2, one line naming the problem, no database created */
static void expect_bad(const char *args, const char *want) {
    int rc = nnlab(args);
    if (rc != 2 || !strstr(errout, want) || lines_of(errout) != 1)
        fail_msg("nnlab %s: exit %d, stderr: %s", args, rc, errout);
    struct stat st;
    if (stat(db, &st) == 0) fail_msg("nnlab %s wrote %s", args, db);
}

static void bad_input_exits_2_with_one_line_and_writes_nothing(void **state) {
    char a[1024];
    const char *base = "name: t\nmodel:\n  layers: [conv: {filters: 4, kernel: 5}, act, pool, flatten, dense: 10]\n";
    char text[1024];
    struct { const char *yaml, *want; } cases[] = {
        {"model: [\n", "bad.yaml:3:1: YAML syntax error: did not find expected node content"},
        {"train: {lrr: 0.1}\n", "bad.yaml:4:9: unknown key 'lrr' in train (did you mean 'lr'?)"},
        {"train: {lr: 0}\n", "bad.yaml:4:13: train.lr: must be > 0, got 0"},
        {"train: {batch_size: 0}\n", "bad.yaml:4:21: train.batch_size: must be between 1 and 65536, got 0"},
        {"train: {epochs: 0}\n", "bad.yaml:4:17: train.epochs: must be between 1 and 100000, got 0"},
        {"data: {val_split: 1.5}\n", "bad.yaml:4:19: data.val_split: must be strictly between 0 and 1, got 1.5"},
        {"model: {activation: swish}\n", "bad.yaml:2:21: model.activation: unknown activation 'swish' (expected "
                                         "sigmoid, relu, tanh, leaky_relu)"},
        {"model: {pool: median}\n", "bad.yaml:2:15: model.pool: unknown pool type 'median' (expected avg, max)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the case's section replaces the base's where both have it */
        snprintf(text, sizeof text, "%s%s", strncmp(cases[i].yaml, "model", 5) ? base : "name: t\n", cases[i].yaml);
        const char *p = write_file("bad.yaml", text);
        snprintf(a, sizeof a, "train %s --db %s", p, db);
        expect_bad(a, cases[i].want);
    }
    const char *shrink = write_file("shrink.yaml", "model:\n  layers: [conv: {filters: 4, kernel: 5}, pool, conv: "
                                                  "{filters: 4, kernel: 5}, pool, conv: {filters: 4, kernel: 5}, "
                                                  "flatten, dense: 10]\n");
    snprintf(a, sizeof a, "train %s --db %s", shrink, db);
    expect_bad(a, "shrink.yaml:2:86: model.layers: layer 4 (conv2d): kernel 5 is larger than its input 4x4x4 "
                  "with padding 0");
    snprintf(a, sizeof a, "train %s/none.yaml --db %s", dir, db);
    expect_bad(a, "none.yaml: cannot read");
    snprintf(a, sizeof a, "train %s --db %s", dir, db);
    expect_bad(a, "is a directory");
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s --set train.lrr=1", db);
    expect_bad(a, "--set train.lrr=1: unknown key 'lrr' in train (did you mean 'lr'?)");
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s --data %s/nodata", db, dir);
    expect_bad(a, "/nodata: no such directory; install it with 'sudo apt-get install dataset-fashion-mnist', "
                  "or point data.dir, --data or NNLAB_DATA at a folder holding the four IDX files");
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s --bogus", db);
    expect_bad(a, "unknown option '--bogus'");
    expect_bad("frobnicate", "unknown command 'frobnicate'");
    snprintf(a, sizeof a, "sweep experiments/act-pool.yaml --db %s --set model.activation=swish", db);
    expect_bad(a, "unknown activation 'swish'");
    snprintf(a, sizeof a, "sweep experiments/act-pool.yaml --db %s -j 0", db);
    expect_bad(a, "nnlab sweep: -j 0: expected a whole number from 1 to 64");
}

static void help_and_version_answer(void **state) {
    assert_int_equal(nnlab("--version"), 0);
    assert_non_null(strstr(out, "nnlab 0."));
    assert_int_equal(nnlab("--help"), 0);
    const char *cmds[] = {"train", "test", "summary", "ls", "show", "check", "sweep", "compare", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) assert_non_null(strstr(out, cmds[i]));
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        assert_int_equal(nnlab(a), 0);
        assert_non_null(strstr(out, "usage: nnlab"));
    }
    assert_int_equal(nnlab(""), 2); /* no command: usage on stderr */
    assert_non_null(strstr(errout, "usage: nnlab"));
}

/* NNLAB_ISA (issue 12): a name that is no path, or a path this CPU lacks,
 * is refused with status 2 and one line; a forced path is the one train
 * names on its first line, and --version lists the paths. */
static void nnlab_isa_forces_a_path_or_is_refused(void **state) {
    setenv("NNLAB_ISA", "avx9", 1);
    expect_bad("check configs/lenet5.yaml", "NNLAB_ISA=avx9 is not a kernel path (portable, avx2, avx512)");
    const char *all[] = {"avx512", "avx2"};
    for (int i = 0; i < 2; i++) {
        setenv("NNLAB_ISA", all[i], 1);
        int rc = nnlab("check configs/lenet5.yaml");
        if (rc == 2 && !strstr(errout, "cannot run the")) fail_msg("NNLAB_ISA=%s: %s", all[i], errout);
        if (rc != 0 && rc != 2) fail_msg("NNLAB_ISA=%s: exit %d", all[i], rc);
    }
    unsetenv("NNLAB_ISA");
    assert_int_equal(nnlab("--version"), 0);
    assert_non_null(strstr(out, "kernels: "));
    assert_non_null(strstr(out, "portable"));
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) return;
    setenv("NNLAB_ISA", "portable", 1);
    char a[512];
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s/isa.db --quiet --set train.epochs=1 "
                          "--set data.train_limit=64 --set data.test_limit=32", dir);
    int rc = nnlab(a);
    unsetenv("NNLAB_ISA");
    if (rc != 0) fail_msg("train on portable: exit %d: %s", rc, errout);
    assert_non_null(strstr(errout, ", portable kernels, "));
}

static void summary_prints_the_torchsummary_table(void **state) {
    assert_int_equal(nnlab("summary configs/lenet5.yaml"), 0);
    assert_non_null(strstr(out, "Total params: 61706"));
    assert_non_null(strstr(out, "[-1, 6, 28, 28]"));
    assert_non_null(strstr(out, "[-1, 16, 5, 5]"));
    assert_int_equal(nnlab("summary configs/lenet5.yaml --set model.layers.0.conv.filters=8"), 0);
    assert_non_null(strstr(out, "[-1, 8, 28, 28]"));
}

static void check_validates_configs_and_experiments(void **state) {
    assert_int_equal(nnlab("check configs/lenet5-relu-max.yaml"), 0);
    assert_non_null(strstr(out, "ok"));
    assert_int_equal(nnlab("check experiments/act-pool.yaml"), 0);
    assert_non_null(strstr(out, "12 runs"));
    assert_int_equal(nnlab("check configs/lenet5.yaml --print --set train.lr=0.01"), 0);
    assert_non_null(strstr(out, "train.lr: 0.01\n"));
}

static void train_then_ls_show_test(void **state) {
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) skip();
    char a[512];
    snprintf(a, sizeof a,
             "train configs/lenet5-relu-max.yaml --db %s --set train.epochs=2 --set data.train_limit=1000 "
             "--set data.test_limit=300 --set model.pool=avg",
             db);
    if (nnlab(a)) fail_msg("%s", errout);
    assert_non_null(strstr(out, "run 1 finished"));
    assert_non_null(strstr(errout, "epoch 2/2")); /* not a terminal: one line per epoch */
    snprintf(a, sizeof a, "ls --db %s", db);
    assert_int_equal(nnlab(a), 0);
    assert_non_null(strstr(out, "finished"));
    snprintf(a, sizeof a, "show 1 --db %s", db);
    assert_int_equal(nnlab(a), 0);
    assert_non_null(strstr(out, "model.pool: avg"));      /* the --set is in the stored config */
    assert_non_null(strstr(out, "Ankle boot"));           /* per-class accuracy */
    assert_non_null(strstr(out, "train loss"));
    snprintf(a, sizeof a, "test 1 --db %s", db);
    assert_int_equal(nnlab(a), 0);
    assert_non_null(strstr(out, "300 test images"));
    snprintf(a, sizeof a, "show 999 --db %s", db);
    assert_int_equal(nnlab(a), 2);
    assert_non_null(strstr(errout, "no run with id 999"));
    struct stat st;
    char ck[256];
    snprintf(ck, sizeof ck, "%s/r/checkpoints/nnlab/1/best.ckpt", dir);
    assert_int_equal(stat(ck, &st), 0);
}

int main(void) {
    if (access(nnlab_bin(), X_OK)) {
        fprintf(stderr, "test_cli: %s is missing: run from the repository root after make\n", nnlab_bin());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_input_exits_2_with_one_line_and_writes_nothing),
        cmocka_unit_test(help_and_version_answer),
        cmocka_unit_test(nnlab_isa_forces_a_path_or_is_refused),
        cmocka_unit_test(summary_prints_the_torchsummary_table),
        cmocka_unit_test(check_validates_configs_and_experiments),
        cmocka_unit_test(train_then_ls_show_test),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
