/* test_train.c -- short real training runs on the first images of
 * FashionMNIST (Debian's dataset-fashion-mnist): what lands in the database,
 * the checkpoints, bitwise reproducibility, and a resume that continues
 * exactly where an interrupted run stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "tmpdir.h"
#include "../runner/config/config.h"
#include "../runner/store/store.h"
#include "../runner/store/store_int.h" /* nnl_store_db: the tests look behind the store */
#include "../runner/train/train.h"
#include "archs.h"

static const char *YAML =
    "name: tiny\n"
    "model:\n"
    "  activation: relu\n"
    "  pool: max\n"
    "  layers:\n"
    "    - conv: {filters: 4, kernel: 5, padding: 2}\n"
    "    - act\n"
    "    - pool: {size: 2}\n"
    "    - conv: {filters: 8, kernel: 5}\n"
    "    - batchnorm\n"
    "    - act\n"
    "    - pool: {size: 2}\n"
    "    - flatten\n"
    "    - dense: 32\n"
    "    - act\n"
    "    - dropout: 0.2\n"
    "    - dense: 10\n"
    "train: {optimizer: adam, lr: 0.003, batch_size: 50, epochs: 3, seed: 7, threads: 2,\n"
    "        schedule: {type: cosine, warmup: 1}}\n"
    "data: {train_limit: 600, test_limit: 200, val_split: 0.25, augment: {flip: 0.5, crop: 2, erase: 0.3}}\n";

static char dir[64];

static int have_data(void) { return access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0; }

static int setup(void **state) { return tmpdir_make(dir, "train"); }
static int teardown(void **state) { return tmpdir_remove(dir); }

static void load(nnl_config *c, const nnl_override *ov, int nov) {
    char err[512];
    if (nnl_config_parse("tiny.yaml", YAML, strlen(YAML), ov, nov, c, err, sizeof err)) fail_msg("%s", err);
}

static nnl_store *open_db(const char *name) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nnl_store *s = nnl_store_open(path, err, sizeof err);
    if (!s) fail_msg("%s", err);
    return s;
}

static nnl_outcome train(nnl_store *s, const nnl_config *c, int64_t resume, volatile sig_atomic_t *stop,
                         const char *(*cb)(int64_t, const nnl_epoch_row *, void *), nnl_train_result *r) {
    char err[512];
    nnl_train_opts o = {.cfg = c, .store = s, .resume_run = resume, .quiet = 1, .stop = stop, .on_epoch = cb};
    nnl_outcome out = nnl_train(&o, r, err, sizeof err);
    if (out == NNL_RUN_FAILED) fail_msg("%s", err);
    return out;
}

static int64_t count(nnl_store *s, const char *sql, int64_t run) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(nnl_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, run);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void train_records_epochs_test_result_and_checkpoints(void **state) {
    if (!have_data()) skip();
    nnl_config c;
    load(&c, NULL, 0);
    nnl_store *s = open_db("a.db");
    nnl_train_result r;
    assert_int_equal(train(s, &c, 0, NULL, NULL, &r), NNL_RUN_FINISHED);
    assert_true(r.run > 0);
    nnl_run_row row;
    char err[512];
    assert_int_equal(nnl_store_run_get(s, r.run, &row, err, sizeof err), 0);
    assert_string_equal(row.status, "finished");
    assert_int_equal(row.epochs_done, 3);
    assert_int_equal(row.best_epoch, r.best_epoch);
    assert_true(row.test_acc > 0.3 && row.test_acc <= 1.0); /* 10% is chance */
    assert_int_equal(row.nparams, (int64_t)r.nparams);
    char key[17];
    nnl_config_key(&c, key);
    assert_string_equal(row.key, key);
    assert_non_null(strstr(row.config, "train.lr: 0.003"));
    /* checkpoints beside the database */
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/best.ckpt", row.checkpoint_dir);
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/last.ckpt", row.checkpoint_dir);
    assert_int_equal(stat(p, &st), 0);
    nnl_run_row_free(&row);

    nnl_epoch_row *rows;
    assert_int_equal(nnl_store_epochs_get(s, r.run, &rows, err, sizeof err), 3);
    /* warm-up: epoch 1 at half the rate, then cosine from the full rate */
    assert_float_equal(rows[0].lr, 0.0015, 1e-9);
    assert_float_equal(rows[1].lr, 0.003, 1e-9);
    for (int i = 0; i < 3; i++) {
        assert_true(isfinite(rows[i].train_loss) && rows[i].val_acc > 0 && rows[i].seconds > 0);
        assert_int_equal(rows[i].epoch, i + 1);
    }
    assert_true(rows[2].train_loss < rows[0].train_loss);
    free(rows);
    assert_int_equal(count(s, "SELECT sum(count) FROM confusion WHERE run_id = ?1", r.run), 200);
    assert_int_equal(count(s, "SELECT count(*) FROM class_acc WHERE run_id = ?1", r.run), 10);
    assert_int_equal(count(s, "SELECT count(*) FROM params WHERE run_id = ?1 AND key = 'train.lr' AND value = '0.003'", r.run), 1);
    assert_int_equal(count(s, "SELECT count(*) FROM params WHERE run_id = ?1 AND key = 'run.n_val' AND value = '150'", r.run), 1);
    nnl_store_close(s);
}

static void same_seed_gives_identical_epochs(void **state) {
    if (!have_data()) skip();
    nnl_config c;
    nnl_override ov[] = {{"train.epochs", "2"}};
    load(&c, ov, 1);
    nnl_store *s = open_db("b.db");
    nnl_train_result r1, r2;
    train(s, &c, 0, NULL, NULL, &r1);
    train(s, &c, 0, NULL, NULL, &r2);
    char err[512];
    nnl_epoch_row *a, *b;
    assert_int_equal(nnl_store_epochs_get(s, r1.run, &a, err, sizeof err), 2);
    assert_int_equal(nnl_store_epochs_get(s, r2.run, &b, err, sizeof err), 2);
    for (int i = 0; i < 2; i++) {
        assert_memory_equal(&a[i].train_loss, &b[i].train_loss, sizeof(double));
        assert_memory_equal(&a[i].val_loss, &b[i].val_loss, sizeof(double));
    }
    assert_memory_equal(&r1.test_loss, &r2.test_loss, sizeof(double));
    free(a);
    free(b);
    nnl_store_close(s);
}

static volatile sig_atomic_t stop_now;
static const char *stop_after_first(int64_t run, const nnl_epoch_row *row, void *ud) {
    if (row->epoch == 1) stop_now = 1; /* as if Ctrl-C came during epoch 2 */
    return NULL;
}

/* A run interrupted in epoch 2 and resumed ends with the same bits as one
 * that was never stopped: weights, Adam state, BN statistics, dropout,
 * data order and augmentation all come back from the checkpoint. */
static void interrupted_run_resumes_bitwise(void **state) {
    if (!have_data()) skip();
    nnl_config c;
    load(&c, NULL, 0);
    nnl_store *s = open_db("c.db");
    nnl_train_result full, part, rest;
    train(s, &c, 0, NULL, NULL, &full);
    stop_now = 0;
    assert_int_equal(train(s, &c, 0, &stop_now, stop_after_first, &part), NNL_RUN_INTERRUPTED);
    char err[512];
    nnl_run_row row;
    assert_int_equal(nnl_store_run_get(s, part.run, &row, err, sizeof err), 0);
    assert_string_equal(row.status, "interrupted");
    assert_int_equal(row.epochs_done, 1);
    nnl_run_row_free(&row);
    assert_int_equal(train(s, &c, part.run, NULL, NULL, &rest), NNL_RUN_FINISHED);
    assert_int_equal(rest.run, part.run);
    nnl_epoch_row *a, *b;
    assert_int_equal(nnl_store_epochs_get(s, full.run, &a, err, sizeof err), 3);
    assert_int_equal(nnl_store_epochs_get(s, part.run, &b, err, sizeof err), 3);
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(&a[i].train_loss, &b[i].train_loss, sizeof(double));
        assert_memory_equal(&a[i].val_acc, &b[i].val_acc, sizeof(double));
    }
    assert_memory_equal(&full.test_loss, &rest.test_loss, sizeof(double));
    free(a);
    free(b);
    nnl_store_close(s);
}

/* ---- the same bits on every kernel path (issue 12), shipped configs */

static void epochs_of(nnl_store *s, int64_t run, int n, nnl_epoch_row **rows) {
    char err[512];
    assert_int_equal(nnl_store_epochs_get(s, run, rows, err, sizeof err), n);
}

/* bitwise equality of what a run leaves: every epoch's losses and
 * accuracies, and the test pass of its best checkpoint */
static void same_run_bits(const char *what, nnl_store *s, int64_t a, int64_t b, int epochs) {
    nnl_epoch_row *x, *y;
    epochs_of(s, a, epochs, &x);
    epochs_of(s, b, epochs, &y);
    for (int i = 0; i < epochs; i++)
        if (memcmp(&x[i].train_loss, &y[i].train_loss, sizeof(double)) ||
            memcmp(&x[i].train_acc, &y[i].train_acc, sizeof(double)) ||
            memcmp(&x[i].val_loss, &y[i].val_loss, sizeof(double)) ||
            memcmp(&x[i].val_acc, &y[i].val_acc, sizeof(double)))
            fail_msg("%s: epoch %d differs (train loss %.17g against %.17g)", what, i + 1, y[i].train_loss,
                     x[i].train_loss);
    free(x);
    free(y);
    char err[512];
    nnl_run_row ra, rb;
    assert_int_equal(nnl_store_run_get(s, a, &ra, err, sizeof err), 0);
    assert_int_equal(nnl_store_run_get(s, b, &rb, err, sizeof err), 0);
    if (memcmp(&ra.test_loss, &rb.test_loss, sizeof(double)) || memcmp(&ra.test_acc, &rb.test_acc, sizeof(double)))
        fail_msg("%s: test loss %.17g against %.17g", what, rb.test_loss, ra.test_loss);
    nnl_run_row_free(&ra);
    nnl_run_row_free(&rb);
}

static void set_path(nn_isa isa) {
    char err[256];
    if (nn_isa_set_default(isa, err, sizeof err)) fail_msg("%s", err);
}

/* Every shipped config trains on every path this CPU runs (portable
 * always) to the same losses, accuracies and test result as on portable:
 * augmentation, batch norm, dropout, AdamW and the cosine schedule of
 * lenet5-best included, on one thread and two. */
static void shipped_configs_train_to_the_same_bits_on_every_path(void **state) {
    if (!have_data()) skip();
    const char *cfgs[] = {"configs/lenet5.yaml", "configs/lenet5-relu-max.yaml", "configs/lenet5-best.yaml",
                          "configs/cnn3x3.yaml"};
    nnl_store *s = open_db("paths.db");
    /* two threads for lenet5-best alone: the thread count is held to the bits in test_nn_net */
    for (size_t f = 0; f < sizeof cfgs / sizeof cfgs[0]; f++)
        for (int nt = 1; nt <= (f == 2 ? 2 : 1); nt++) {
            char threads[16];
            snprintf(threads, sizeof threads, "%d", nt);
            nnl_override ov[] = {{"train.epochs", "2"},
                                 {"data.train_limit", NN_TEST_SANITIZED ? "40" : f == 3 ? "128" : "256"},
                                 {"data.test_limit", NN_TEST_SANITIZED ? "16" : "64"}, {"train.threads", threads},
                                 {"train.batch_size", "32"}};
            nnl_config c;
            char err[512];
            if (nnl_config_load(cfgs[f], ov, 5, &c, err, sizeof err)) fail_msg("%s", err);
            int64_t ref = 0;
            for (int i = 0; i < NN_ISA_COUNT; i++) {
                if (!nn_isa_supported((nn_isa)i)) continue;
                set_path((nn_isa)i);
                nnl_train_result r;
                assert_int_equal(train(s, &c, 0, NULL, NULL, &r), NNL_RUN_FINISHED);
                if (!ref) { ref = r.run; continue; }
                char what[128];
                snprintf(what, sizeof what, "%s on %s, %d threads", cfgs[f], nn_isa_name((nn_isa)i), nt);
                same_run_bits(what, s, ref, r.run, 2);
            }
        }
    set_path(nn_isa_best());
    nnl_store_close(s);
}

/* A run interrupted on the best path and resumed on portable (a Slurm task
 * requeued onto an older node) ends exactly as a run never stopped, and
 * records the path it ran on last. */
static void run_resumed_on_another_path_ends_the_same(void **state) {
    if (!have_data()) skip();
    nnl_config c;
    load(&c, NULL, 0);
    nnl_store *s = open_db("resume-path.db");
    nnl_train_result full, part, rest;
    set_path(nn_isa_best());
    train(s, &c, 0, NULL, NULL, &full);
    stop_now = 0;
    assert_int_equal(train(s, &c, 0, &stop_now, stop_after_first, &part), NNL_RUN_INTERRUPTED);
    set_path(NN_ISA_PORTABLE);
    assert_int_equal(train(s, &c, part.run, NULL, NULL, &rest), NNL_RUN_FINISHED);
    set_path(nn_isa_best());
    same_run_bits("resumed on portable", s, full.run, part.run, 3);
    assert_int_equal(count(s, "SELECT count(*) FROM params WHERE run_id = ?1 AND key = 'run.isa' AND value = 'portable'",
                           part.run), 1);
    assert_int_equal(count(s, "SELECT count(*) FROM params WHERE run_id = ?1 AND key = 'run.cpu'", part.run), 1);
    nnl_store_close(s);
}

static void huge_learning_rate_marks_run_diverged(void **state) {
    if (!have_data()) skip();
    nnl_config c;
    nnl_override ov[] = {{"train.lr", "1e30"}, {"train.optimizer", "sgd"}};
    load(&c, ov, 2);
    nnl_store *s = open_db("d.db");
    nnl_train_result r;
    assert_int_equal(train(s, &c, 0, NULL, NULL, &r), NNL_RUN_DIVERGED);
    nnl_run_row row;
    char err[512];
    assert_int_equal(nnl_store_run_get(s, r.run, &row, err, sizeof err), 0);
    assert_string_equal(row.status, "diverged");
    assert_true(row.diverged_epoch >= 1);
    assert_non_null(row.error);
    nnl_run_row_free(&row);
    nnl_store_close(s);
}

static void missing_dataset_fails_before_creating_a_run(void **state) {
    nnl_config c;
    nnl_override ov[] = {{"data.dir", "/nonexistent/fashion"}};
    load(&c, ov, 1);
    nnl_store *s = open_db("e.db");
    char err[512];
    nnl_train_result r;
    nnl_train_opts o = {.cfg = &c, .store = s, .quiet = 1};
    assert_int_equal(nnl_train(&o, &r, err, sizeof err), NNL_RUN_FAILED);
    assert_non_null(strstr(err, "/nonexistent/fashion"));
    assert_non_null(strstr(err, "install it with 'sudo apt-get install dataset-fashion-mnist', or point "
                                "data.dir, --data or NNLAB_DATA at a folder holding the four IDX files"));
    assert_int_equal(r.run, 0);
    assert_int_equal(count(s, "SELECT count(*) FROM runs WHERE ?1 = ?1", 0), 0);
    nnl_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(train_records_epochs_test_result_and_checkpoints),
        cmocka_unit_test(same_seed_gives_identical_epochs),
        cmocka_unit_test(interrupted_run_resumes_bitwise),
        cmocka_unit_test(huge_learning_rate_marks_run_diverged),
        cmocka_unit_test(missing_dataset_fails_before_creating_a_run),
        cmocka_unit_test(shipped_configs_train_to_the_same_bits_on_every_path),
        cmocka_unit_test(run_resumed_on_another_path_ends_the_same),
    };
    return cmocka_run_group_tests_name("train", tests, setup, teardown);
}
