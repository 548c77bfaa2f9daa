/* test_merge.c -- tests of `nnlab merge` (nnl_merge_shard in
 * runner/slurm/slurm_merge.c), which brings the shard databases of a Slurm job array
 * back into the main database. Its promises (issue 7): idempotent (merging
 * twice adds nothing), keyed by run key, keeping the most complete copy of a
 * run, never duplicating epochs. The shards here are written with the store
 * API, without training and without Slurm; tests/test_slurm.sh does the
 * real thing.
 */
#define _GNU_SOURCE             /* nftw, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runner/slurm/slurm.h"
#include "../runner/store/store.h"
#include "../runner/store/store_int.h" /* nnl_store_db: the tests look behind the store */
#include "../runner/train/train.h"

#define KEY_A "aaaa000000000001"
#define KEY_B "bbbb000000000002"

typedef struct {
    char dir[64];               /* /tmp/nnl-merge-XXXXXX */
    char db[128];               /* dir/results/nnlab.db */
    char shard[2][128];         /* dir/results/slurm/x/task-0.db, task-1.db */
    char err[1024];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    strcpy(f->dir, "/tmp/nnl-merge-XXXXXX");
    if (!mkdtemp(f->dir)) { free(f); return -1; }
    char p[128];
    snprintf(p, sizeof p, "%s/results", f->dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/results/slurm", f->dir);
    mkdir(p, 0755);
    snprintf(f->db, sizeof f->db, "%s/results/nnlab.db", f->dir);
    for (int i = 0; i < 2; i++) snprintf(f->shard[i], sizeof f->shard[i], "%s/results/slurm/x/task-%d.db", f->dir, i);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state) {
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* a run of experiment x in the shard: nepochs epochs, a test result when
 * finished; returns its id */
static int64_t put_run(fixture *f, int shard, const char *key, const char *status, int nepochs) {
    nnl_store *s = nnl_store_open_shared(f->shard[shard], f->err, sizeof f->err);
    assert_non_null(s);
    int64_t id = nnl_store_find_key(s, key, "x", f->err, sizeof f->err);
    if (!id) {
        nnl_run_info ri = {.key = key, .name = key, .experiment = "x", .config = "train: {}", .status = "running"};
        id = nnl_store_run_create(s, &ri, f->err, sizeof f->err);
        assert_true(id > 0);
        assert_int_equal(nnl_store_param_add(s, id, "train.lr", "0.001", f->err, sizeof f->err), 0);
    }
    for (int e = 1; e <= nepochs; e++) {
        nnl_epoch_row row = {.epoch = e, .train_loss = 1.0 / e, .train_acc = 0.5, .val_loss = 1.0 / e,
                             .val_acc = 0.5 + 0.01 * e, .lr = 0.001, .seconds = 1};
        assert_int_equal(nnl_store_epoch_add(s, id, &row, f->err, sizeof f->err), 0);
    }
    if (!strcmp(status, "finished")) {
        int64_t conf[4] = {5, 1, 2, 6};
        double acc[2] = {5.0 / 6, 6.0 / 8};
        assert_int_equal(nnl_store_test_result(s, id, 0.5, 11.0 / 14, conf, acc, 2, f->err, sizeof f->err), 0);
    }
    assert_int_equal(nnl_store_run_status(s, id, status, NULL, f->err, sizeof f->err), 0);
    nnl_store_close(s);
    return id;
}

static int64_t count(nnl_store *m, const char *sql) {
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(nnl_store_db(m), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static nnl_merge_counts merge(fixture *f, nnl_store *m, int shard) {
    nnl_merge_counts c;
    if (nnl_merge_shard(m, f->shard[shard], &c, f->err, sizeof f->err)) fail_msg("%s", f->err);
    return c;
}

static void merge_adds_runs_with_everything(void **state) {
    fixture *f = *state;
    put_run(f, 0, KEY_A, "finished", 3);
    put_run(f, 0, KEY_B, "interrupted", 2);
    nnl_store *m = nnl_store_open(f->db, f->err, sizeof f->err);
    assert_non_null(m);
    nnl_merge_counts c = merge(f, m, 0);
    assert_int_equal(c.added, 2);
    assert_int_equal(count(m, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(count(m, "SELECT count(*) FROM epochs"), 5);
    assert_int_equal(count(m, "SELECT count(*) FROM params"), 2);
    assert_int_equal(count(m, "SELECT count(*) FROM confusion"), 4);
    assert_int_equal(count(m, "SELECT count(*) FROM class_acc"), 2);
    assert_int_equal(count(m, "SELECT count(*) FROM runs WHERE key = '" KEY_A "' AND status = 'finished'"
                              " AND epochs_done = 3 AND best_epoch = 3 AND test_acc > 0.78"), 1);
    /* the checkpoints stay where the task wrote them: beside the shard */
    nnl_run_row r;
    int64_t id = nnl_store_find_key(m, KEY_A, "x", f->err, sizeof f->err);
    assert_int_equal(nnl_store_run_get(m, id, &r, f->err, sizeof f->err), 0);
    char real[PATH_MAX], want[PATH_MAX + 64];
    assert_non_null(realpath(f->dir, real));
    snprintf(want, sizeof want, "%s/results/slurm/x/checkpoints/task-0/1", real);
    assert_string_equal(r.checkpoint_dir, want);
    nnl_run_row_free(&r);
    nnl_store_close(m);
}

static void merge_twice_changes_nothing(void **state) {
    fixture *f = *state;
    put_run(f, 0, KEY_A, "finished", 3);
    put_run(f, 1, KEY_B, "running", 1);
    nnl_store *m = nnl_store_open(f->db, f->err, sizeof f->err);
    assert_non_null(m);
    merge(f, m, 0);
    merge(f, m, 1);
    int64_t runs = count(m, "SELECT count(*) FROM runs"), epochs = count(m, "SELECT count(*) FROM epochs");
    nnl_merge_counts c0 = merge(f, m, 0), c1 = merge(f, m, 1);
    assert_int_equal(c0.added + c0.updated + c1.added + c1.updated, 0);
    assert_int_equal(c0.unchanged + c1.unchanged, 2);
    assert_int_equal(count(m, "SELECT count(*) FROM runs"), runs);
    assert_int_equal(count(m, "SELECT count(*) FROM epochs"), epochs);
    nnl_store_close(m);
}

/* the same run in two shards (a resubmission with another --runs-per-task):
 * the finished copy wins, whichever order the shards come in */
static void merge_keeps_the_most_complete_copy(void **state) {
    fixture *f = *state;
    put_run(f, 0, KEY_A, "interrupted", 2);
    put_run(f, 1, KEY_A, "finished", 4);
    for (int order = 0; order < 2; order++) {
        unlink(f->db);
        nnl_store *m = nnl_store_open(f->db, f->err, sizeof f->err);
        assert_non_null(m);
        merge(f, m, order);
        merge(f, m, 1 - order);
        merge(f, m, order);
        assert_int_equal(count(m, "SELECT count(*) FROM runs"), 1);
        assert_int_equal(count(m, "SELECT count(*) FROM runs WHERE status = 'finished' AND epochs_done = 4"), 1);
        assert_int_equal(count(m, "SELECT count(*) FROM epochs"), 4);
        assert_int_equal(count(m, "SELECT count(DISTINCT epoch) FROM epochs"), 4);
        nnl_store_close(m);
    }
}

/* merged while its task ran, then the task went on: the same copy, newer */
static void merge_takes_the_newer_state_of_the_same_copy(void **state) {
    fixture *f = *state;
    put_run(f, 0, KEY_A, "running", 2);
    nnl_store *m = nnl_store_open(f->db, f->err, sizeof f->err);
    assert_non_null(m);
    merge(f, m, 0);
    put_run(f, 0, KEY_A, "interrupted", 0);
    nnl_merge_counts c = merge(f, m, 0);
    assert_int_equal(c.updated, 1);
    assert_int_equal(count(m, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND epochs_done = 2"), 1);
    put_run(f, 0, KEY_A, "finished", 3);
    c = merge(f, m, 0);
    assert_int_equal(c.updated, 1);
    assert_int_equal(count(m, "SELECT count(*) FROM epochs"), 3);
    assert_int_equal(count(m, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
    nnl_store_close(m);
}

static void merge_refuses_a_missing_or_foreign_file(void **state) {
    fixture *f = *state;
    nnl_store *m = nnl_store_open(f->db, f->err, sizeof f->err);
    assert_non_null(m);
    nnl_merge_counts c;
    assert_int_equal(nnl_merge_shard(m, f->shard[0], &c, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, ": no such shard database"));
    char other[160];
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE runs(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(nnl_merge_shard(m, other, &c, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "other.db: an SQLite database, but not nnlab's ("));
    assert_int_equal(count(m, "SELECT count(*) FROM runs"), 0);
    nnl_store_close(m);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(merge_adds_runs_with_everything),
        T(merge_twice_changes_nothing),
        T(merge_keeps_the_most_complete_copy),
        T(merge_takes_the_newer_state_of_the_same_copy),
        T(merge_refuses_a_missing_or_foreign_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
