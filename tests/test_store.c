/* test_store.c -- tests of the SQLite results store (runner/store/):
 * schema creation and versioning, refusal of wrong files, the write path's
 * bookkeeping (best epoch, rewrites, status times), lookups by id and key
 * prefix, and the two promises sweeps depend on: parallel writers never see
 * "database is locked", and a writer killed mid-run leaves every committed
 * epoch consistent.
 *
 * Each test gets a fresh directory under /tmp and a database path one
 * missing directory below it, as results/nnlab.db is on a first run.
 */
#define _GNU_SOURCE             /* nftw, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../runner/store/store.h"
#include "../runner/store/store_int.h" /* nnl_store_db: the tests look behind the store */

#define KEY_A "abcdef0123456789"
#define KEY_B "abd0000000000000"

typedef struct {
    char dir[64];               /* /tmp/nnl-store-XXXXXX */
    char db[128];               /* dir/results/nnlab.db */
    char err[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    strcpy(f->dir, "/tmp/nnl-store-XXXXXX");
    if (!mkdtemp(f->dir)) { free(f); return -1; }
    snprintf(f->db, sizeof f->db, "%s/results/nnlab.db", f->dir);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* --- helpers ------------------------------------------------------------ */

static nnl_store *open_ok(fixture *f)
{
    nnl_store *s = nnl_store_open(f->db, f->err, sizeof f->err);
    if (!s) fail_msg("open %s: %s", f->db, f->err);
    return s;
}

static int64_t run_ok(fixture *f, nnl_store *s, const char *key,
                      const char *experiment, const char *status)
{
    nnl_run_info ri = {.key = key, .name = "lenet5", .experiment = experiment,
                       .config = "train.lr: 0.001\n", .seed = 7, .nparams = 61706,
                       .checkpoint_dir = "results/ckpt", .status = status};
    int64_t id = nnl_store_run_create(s, &ri, f->err, sizeof f->err);
    if (id <= 0) fail_msg("run_create: %s", f->err);
    return id;
}

static void epoch_ok(fixture *f, nnl_store *s, int64_t run, int epoch, double val_acc)
{
    nnl_epoch_row row = {.epoch = epoch, .train_loss = 1.0 / epoch, .train_acc = 0.5,
                         .val_loss = 2.0 / epoch, .val_acc = val_acc, .lr = 1e-3,
                         .seconds = 0.25};
    if (nnl_store_epoch_add(s, run, &row, f->err, sizeof f->err) != 0)
        fail_msg("epoch_add: %s", f->err);
}

/* One integer from an SQL query with up to one integer parameter ?1;
 * INT64_MIN when it yields no row. */
static int64_t q_int(sqlite3 *db, const char *sql, int64_t p1)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("prepare '%s': %s", sql, sqlite3_errmsg(db));
    if (sqlite3_bind_parameter_count(q) > 0) sqlite3_bind_int64(q, 1, p1);
    int64_t v = INT64_MIN;
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Runs SQL on a plain connection of our own, as another program would. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw '%s': %s", sql, msg);
    sqlite3_close(db);
}

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) fail_msg("expected '%s' in '%s'", needle, hay);
}

static int is_iso_utc(const char *t)
{
    /* 2025-01-31T12:00:00Z */
    return t && strlen(t) == 20 && t[4] == '-' && t[7] == '-' && t[10] == 'T' &&
           t[13] == ':' && t[16] == ':' && t[19] == 'Z';
}

/* --- opening and schema ------------------------------------------------- */

static void store_creates_schema_version_1(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    struct stat sb;
    assert_int_equal(stat(f->dir, &sb), 0);
    char results[128];
    snprintf(results, sizeof results, "%s/results", f->dir);
    assert_int_equal(stat(results, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));

    sqlite3 *db = nnl_store_db(s);
    assert_int_equal(q_int(db, "PRAGMA user_version", 0), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                           " AND name IN ('runs','params','epochs','confusion','class_acc')", 0), 5);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                           " AND name IN ('runs_key','runs_experiment')", 0), 2);
    assert_int_equal(q_int(db, "PRAGMA foreign_keys", 0), 1);
    assert_int_equal(q_int(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode", 0), 1);
    assert_int_equal(q_int(db, "PRAGMA synchronous", 0), 1);        /* NORMAL */
    assert_int_equal(q_int(db, "PRAGMA busy_timeout", 0), 30000);
    run_ok(f, s, KEY_A, NULL, NULL);
    nnl_store_close(s);

    /* Reopening finds version 1 and leaves the data alone. */
    s = open_ok(f);
    assert_int_equal(q_int(nnl_store_db(s), "PRAGMA user_version", 0), 1);
    assert_int_equal(q_int(nnl_store_db(s), "SELECT count(*) FROM runs", 0), 1);
    nnl_store_close(s);
}

static void store_rejects_newer_schema(void **state)
{
    fixture *f = *state;
    nnl_store_close(open_ok(f));
    raw_exec(f->db, "PRAGMA user_version = 3");
    assert_null(nnl_store_open(f->db, f->err, sizeof f->err));
    char want[256];
    snprintf(want, sizeof want,
             "%s: schema version 3 is newer than this nnlab (1); upgrade nnlab", f->db);
    assert_string_equal(f->err, want);
    assert_null(nnl_store_open_readonly(f->db, f->err, sizeof f->err));
    assert_string_equal(f->err, want);
}

static void store_rejects_non_sqlite_file(void **state)
{
    fixture *f = *state;
    char results[128];
    snprintf(results, sizeof results, "%s/results", f->dir);
    assert_int_equal(mkdir(results, 0777), 0);
    const char *yaml = "name: lenet5\nmodel:\n  layers: [flatten, {dense: 10}]\n"
                       "this is a config file, not a database, and long enough to\n"
                       "fill more than the hundred bytes of an SQLite header.\n";
    FILE *fp = fopen(f->db, "w");
    assert_non_null(fp);
    fputs(yaml, fp);
    fclose(fp);

    assert_null(nnl_store_open(f->db, f->err, sizeof f->err));
    assert_true(strncmp(f->err, f->db, strlen(f->db)) == 0);
    assert_has(f->err, "not an SQLite database");

    /* The file must be left exactly as it was. */
    char back[512] = "";
    fp = fopen(f->db, "r");
    assert_non_null(fp);
    size_t n = fread(back, 1, sizeof back - 1, fp);
    fclose(fp);
    back[n] = 0;
    assert_string_equal(back, yaml);
}

/* A wrong --db path that points at some other program's SQLite file must
 * not get nnlab's tables added to it. */
static void store_rejects_foreign_sqlite_db(void **state)
{
    fixture *f = *state;
    char results[128];
    snprintf(results, sizeof results, "%s/results", f->dir);
    assert_int_equal(mkdir(results, 0777), 0);
    raw_exec(f->db, "CREATE TABLE photos(id INTEGER PRIMARY KEY, path TEXT)");
    assert_null(nnl_store_open(f->db, f->err, sizeof f->err));
    assert_has(f->err, f->db);
    assert_has(f->err, "not nnlab's");

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master", 0), 1);
    sqlite3_close(db);
}

static void store_missing_grandparent_dir_is_clear_error(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/a/b/nnlab.db", f->dir);
    assert_null(nnl_store_open(path, f->err, sizeof f->err));
    assert_has(f->err, path);
    assert_has(f->err, "cannot create directory");
    assert_has(f->err, "No such file or directory");
}

/* --- runs --------------------------------------------------------------- */

static void store_run_create_records_provenance(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    nnl_run_info ri = {.key = "ABCDEF0123456789", .name = "lenet5", .experiment = NULL,
                       .config = "model.activation: sigmoid\ntrain.lr: 0.001\n",
                       .seed = UINT64_MAX, .nparams = 61706,
                       .checkpoint_dir = "results/ckpt/abcdef0123456789"};
    int64_t id = nnl_store_run_create(s, &ri, f->err, sizeof f->err);
    assert_true(id > 0);

    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_int_equal(r.id, id);
    assert_string_equal(r.key, KEY_A);            /* stored lower-case */
    assert_string_equal(r.name, "lenet5");
    assert_null(r.experiment);
    assert_string_equal(r.status, "running");
    assert_string_equal(r.config, ri.config);
    assert_true(r.seed == UINT64_MAX);
    assert_int_equal(r.nparams, 61706);
    assert_string_equal(r.checkpoint_dir, ri.checkpoint_dir);
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    assert_string_equal(r.host, host);
    assert_int_equal(r.pid, getpid());
    assert_string_equal(r.version, NNLAB_VERSION);
    assert_true(is_iso_utc(r.created));
    assert_true(is_iso_utc(r.started));
    assert_null(r.finished);
    assert_int_equal(r.epochs_done, 0);
    assert_int_equal(r.best_epoch, 0);
    assert_true(isnan(r.best_val_acc));
    assert_true(isnan(r.test_acc));
    assert_int_equal(r.diverged_epoch, 0);
    assert_null(r.error);
    nnl_run_row_free(&r);

    /* A queued run has not started. */
    int64_t q = run_ok(f, s, KEY_B, "sweep1", "queued");
    assert_int_equal(nnl_store_run_get(s, q, &r, f->err, sizeof f->err), 0);
    assert_string_equal(r.status, "queued");
    assert_string_equal(r.experiment, "sweep1");
    assert_null(r.started);
    nnl_run_row_free(&r);

    assert_int_equal(nnl_store_run_get(s, 999, &r, f->err, sizeof f->err), -1);
    assert_has(f->err, "no run with id 999");
    nnl_store_close(s);
}

static void store_run_create_rejects_bad_key_and_status(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    nnl_run_info ri = {.key = "abc", .config = "x: 1\n"};
    assert_int_equal(nnl_store_run_create(s, &ri, f->err, sizeof f->err), -1);
    assert_has(f->err, "run key 'abc' is not 16 hex digits");
    ri.key = "abcdef012345678g";
    assert_int_equal(nnl_store_run_create(s, &ri, f->err, sizeof f->err), -1);
    ri.key = KEY_A;
    ri.status = "done";
    assert_int_equal(nnl_store_run_create(s, &ri, f->err, sizeof f->err), -1);
    assert_has(f->err, f->db);
    assert_has(f->err, "unknown run status 'done'");
    assert_int_equal(q_int(nnl_store_db(s), "SELECT count(*) FROM runs", 0), 0);
    nnl_store_close(s);
}

/* Values travel as bound parameters: quotes and SQL in them are data. */
static void store_values_are_bound_not_formatted(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    const char *evil = "Robert'); DROP TABLE runs;--";
    nnl_run_info ri = {.key = KEY_A, .name = evil, .experiment = "it's \"quoted\"",
                       .config = "x: 1\n"};
    int64_t id = nnl_store_run_create(s, &ri, f->err, sizeof f->err);
    assert_true(id > 0);
    assert_int_equal(nnl_store_param_add(s, id, "data.dir", evil, f->err, sizeof f->err), 0);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_string_equal(r.name, evil);
    assert_string_equal(r.experiment, "it's \"quoted\"");
    nnl_run_row_free(&r);
    assert_int_equal(nnl_store_find_key(s, KEY_A, "it's \"quoted\"", f->err, sizeof f->err), id);
    nnl_store_close(s);
}

static void collect_param(const char *key, const char *value, void *ud)
{
    char *buf = ud;
    size_t n = strlen(buf);
    snprintf(buf + n, 4096 - n, "%s=%s;", key, value);
}

static void store_params_group_commits_and_rolls_back(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    sqlite3 *db = nnl_store_db(s);
    char key[32], val[32];

    assert_int_equal(nnl_store_begin(s, f->err, sizeof f->err), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k.%03d", i);
        assert_int_equal(nnl_store_param_add(s, id, key, "v", f->err, sizeof f->err), 0);
    }
    /* A second begin inside a group is a caller's bug, and says so. */
    assert_int_equal(nnl_store_begin(s, f->err, sizeof f->err), -1);
    assert_has(f->err, "already open");
    assert_int_equal(nnl_store_rollback(s, f->err, sizeof f->err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM params", 0), 0);

    assert_int_equal(nnl_store_begin(s, f->err, sizeof f->err), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k.%03d", i);
        snprintf(val, sizeof val, "%d", i);
        assert_int_equal(nnl_store_param_add(s, id, key, val, f->err, sizeof f->err), 0);
    }
    /* A failed write inside the group undoes itself only. */
    assert_int_equal(nnl_store_param_add(s, 999, "k.x", "1", f->err, sizeof f->err), -1);
    assert_has(f->err, "no run with id 999");
    assert_int_equal(nnl_store_commit(s, f->err, sizeof f->err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM params WHERE run_id = ?1", id), 100);

    /* Recording a key again (a resumed run) replaces its value. */
    assert_int_equal(nnl_store_param_add(s, id, "k.007", "seven", f->err, sizeof f->err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM params", 0), 100);
    char *buf = calloc(1, 4096);
    assert_int_equal(nnl_store_params_foreach(s, id, collect_param, buf, f->err, sizeof f->err), 0);
    assert_true(strncmp(buf, "k.000=0;k.001=1;", 16) == 0);
    assert_has(buf, "k.007=seven;");
    free(buf);

    assert_int_equal(nnl_store_commit(s, f->err, sizeof f->err), -1);
    assert_has(f->err, "no transaction is open");
    nnl_store_close(s);
}

/* --- epochs ------------------------------------------------------------- */

static void store_epoch_replace_on_rewrite(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    epoch_ok(f, s, id, 1, 0.50);
    epoch_ok(f, s, id, 2, 0.60);
    nnl_epoch_row again = {.epoch = 2, .train_loss = 0.125, .train_acc = 0.75,
                           .val_loss = 0.25, .val_acc = 0.65, .lr = 5e-4, .seconds = 3.5};
    assert_int_equal(nnl_store_epoch_add(s, id, &again, f->err, sizeof f->err), 0);

    nnl_epoch_row *rows = NULL;
    assert_int_equal(nnl_store_epochs_get(s, id, &rows, f->err, sizeof f->err), 2);
    assert_int_equal(rows[0].epoch, 1);
    assert_int_equal(rows[1].epoch, 2);
    assert_true(rows[1].train_loss == 0.125 && rows[1].train_acc == 0.75);
    assert_true(rows[1].val_loss == 0.25 && rows[1].val_acc == 0.65);
    assert_true(rows[1].lr == 5e-4 && rows[1].seconds == 3.5);
    free(rows);

    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_int_equal(r.epochs_done, 2);
    assert_int_equal(r.best_epoch, 2);
    assert_true(r.best_val_acc == 0.65);
    nnl_run_row_free(&r);
    nnl_store_close(s);
}

/* Resuming from a checkpoint of epoch 2 after epochs 3..5 were written
 * rewrites epoch 3; rows 4 and 5 belong to the abandoned attempt and the
 * best epoch must not point at them. */
static void store_epoch_rewrite_drops_later_epochs(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    for (int e = 1; e <= 5; e++) epoch_ok(f, s, id, e, 0.1 * e);
    epoch_ok(f, s, id, 3, 0.05);

    nnl_epoch_row *rows = NULL;
    assert_int_equal(nnl_store_epochs_get(s, id, &rows, f->err, sizeof f->err), 3);
    assert_int_equal(rows[2].epoch, 3);
    assert_true(rows[2].val_acc == 0.05);
    free(rows);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_int_equal(r.epochs_done, 3);
    assert_int_equal(r.best_epoch, 2);
    assert_true(r.best_val_acc == 0.2);
    nnl_run_row_free(&r);
    nnl_store_close(s);
}

static void store_best_epoch_tracks_max_val_acc(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    nnl_run_row r;
    /* epoch:            1     2     3 (tie)  4     5 (no val)  6 */
    const double acc[] = {0.50, 0.70, 0.70, 0.60, NAN, 0.80};
    const int best[] = {1, 2, 2, 2, 2, 6};
    for (int e = 1; e <= 6; e++) {
        epoch_ok(f, s, id, e, acc[e - 1]);
        assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
        assert_int_equal(r.epochs_done, e);
        assert_int_equal(r.best_epoch, best[e - 1]);
        assert_true(r.best_val_acc == acc[best[e - 1] - 1]);
        nnl_run_row_free(&r);
    }
    /* NaN goes in as NULL and comes back as NaN. */
    nnl_epoch_row *rows = NULL;
    assert_int_equal(nnl_store_epochs_get(s, id, &rows, f->err, sizeof f->err), 6);
    assert_true(isnan(rows[4].val_acc));
    free(rows);

    /* A run without a validation split has no best epoch. */
    int64_t nv = run_ok(f, s, KEY_B, NULL, NULL);
    epoch_ok(f, s, nv, 1, NAN);
    assert_int_equal(nnl_store_run_get(s, nv, &r, f->err, sizeof f->err), 0);
    assert_int_equal(r.best_epoch, 0);
    assert_true(isnan(r.best_val_acc));
    nnl_run_row_free(&r);
    nnl_store_close(s);
}

static void store_epoch_rejects_epoch_zero_and_missing_run(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    nnl_epoch_row row = {.epoch = 0};
    assert_int_equal(nnl_store_epoch_add(s, id, &row, f->err, sizeof f->err), -1);
    assert_has(f->err, "epochs count from 1");
    row.epoch = 1;
    assert_int_equal(nnl_store_epoch_add(s, 42, &row, f->err, sizeof f->err), -1);
    assert_has(f->err, f->db);
    assert_has(f->err, "writing epoch 1 of run 42: no run with id 42");
    assert_int_equal(q_int(nnl_store_db(s), "SELECT count(*) FROM epochs", 0), 0);
    nnl_store_close(s);
}

/* --- status and results ------------------------------------------------- */

static void store_run_status_sets_finished_for_terminal(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, "queued");
    nnl_run_row r;

    assert_int_equal(nnl_store_run_status(s, id, "running", NULL, f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_true(is_iso_utc(r.started));
    assert_null(r.finished);
    char started[32];
    strcpy(started, r.started);
    nnl_run_row_free(&r);

    const char *terminal[] = {"finished", "failed", "diverged", "interrupted", "pruned"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(nnl_store_run_status(s, id, terminal[i], "out of memory",
                                              f->err, sizeof f->err), 0);
        assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
        assert_string_equal(r.status, terminal[i]);
        assert_true(is_iso_utc(r.finished));
        assert_string_equal(r.error, "out of memory");
        nnl_run_row_free(&r);
    }
    /* Resuming: running again clears finished and error, keeps started. */
    assert_int_equal(nnl_store_run_status(s, id, "running", NULL, f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_null(r.finished);
    assert_null(r.error);
    assert_string_equal(r.started, started);
    nnl_run_row_free(&r);

    assert_int_equal(nnl_store_run_status(s, id, "exploded", NULL, f->err, sizeof f->err), -1);
    assert_has(f->err, "unknown run status 'exploded'");
    assert_int_equal(nnl_store_run_status(s, 77, "failed", NULL, f->err, sizeof f->err), -1);
    assert_has(f->err, "no run with id 77");
    nnl_store_close(s);
}

static void store_run_diverged_records_epoch(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    epoch_ok(f, s, id, 1, 0.3);
    assert_int_equal(nnl_store_run_diverged(s, id, 2, f->err, sizeof f->err), 0);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_string_equal(r.status, "diverged");
    assert_int_equal(r.diverged_epoch, 2);
    assert_true(is_iso_utc(r.finished));
    nnl_run_row_free(&r);
    assert_int_equal(nnl_store_run_diverged(s, 5, 2, f->err, sizeof f->err), -1);
    assert_has(f->err, "no run with id 5");
    nnl_store_close(s);
}

static void store_test_result_roundtrip(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    int64_t conf[10][10], back[10][10];
    double acc[10], accb[10];
    for (int t = 0; t < 10; t++) {
        for (int p = 0; p < 10; p++) conf[t][p] = t == p ? 900 + t : t * 10 + p;
        acc[t] = (900.0 + t) / 1000.0;
    }
    assert_int_equal(nnl_store_test_get(s, id, &back[0][0], accb, 10, f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_test_result(s, id, 0.3125, 0.905, &conf[0][0], acc, 10,
                                           f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_test_get(s, id, &back[0][0], accb, 10, f->err, sizeof f->err), 10);
    assert_memory_equal(back, conf, sizeof conf);
    assert_memory_equal(accb, acc, sizeof acc);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    assert_true(r.test_loss == 0.3125 && r.test_acc == 0.905);
    nnl_run_row_free(&r);

    assert_int_equal(nnl_store_test_get(s, id, &back[0][0], accb, 9, f->err, sizeof f->err), -1);
    assert_has(f->err, "10 classes");

    /* A second result replaces the first entirely, smaller matrix included. */
    int64_t small[3][3] = {{5, 0, 0}, {0, 4, 1}, {0, 0, 0}};
    assert_int_equal(nnl_store_test_result(s, id, 1.0, 0.9, &small[0][0], NULL, 3,
                                           f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_test_get(s, id, &back[0][0], accb, 10, f->err, sizeof f->err), 3);
    assert_memory_equal(back, small, sizeof small);
    assert_true(isnan(accb[0]) && isnan(accb[2]));

    assert_int_equal(nnl_store_test_result(s, 99, 1.0, 0.9, &small[0][0], NULL, 3,
                                           f->err, sizeof f->err), -1);
    assert_has(f->err, "no run with id 99");
    nnl_store_close(s);
}

/* --- lookups ------------------------------------------------------------ */

static void store_find_run_by_id_and_prefix(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t a = run_ok(f, s, KEY_A, NULL, NULL);
    int64_t b = run_ok(f, s, KEY_B, NULL, NULL);
    int64_t d = run_ok(f, s, "1234567890123456", NULL, NULL);   /* all digits */
    char id[16];
    snprintf(id, sizeof id, "%lld", (long long)b);

    assert_int_equal(nnl_store_find_run(s, id, f->err, sizeof f->err), b);
    assert_int_equal(nnl_store_find_run(s, "abc", f->err, sizeof f->err), a);
    assert_int_equal(nnl_store_find_run(s, "ABD", f->err, sizeof f->err), b);
    assert_int_equal(nnl_store_find_run(s, KEY_A, f->err, sizeof f->err), a);
    /* 16 digits is a key, not an id. */
    assert_int_equal(nnl_store_find_run(s, "1234567890123456", f->err, sizeof f->err), d);

    assert_int_equal(nnl_store_find_run(s, "99", f->err, sizeof f->err), -1);
    assert_has(f->err, "no run with id 99");
    assert_int_equal(nnl_store_find_run(s, "fff", f->err, sizeof f->err), -1);
    assert_has(f->err, "no run key starts with 'fff'");
    assert_int_equal(nnl_store_find_run(s, "lenet", f->err, sizeof f->err), -1);
    assert_has(f->err, "neither a run id nor a run key prefix");
    assert_int_equal(nnl_store_find_run(s, "", f->err, sizeof f->err), -1);
    nnl_store_close(s);
}

static void store_find_run_ambiguous_prefix_is_error(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t a = run_ok(f, s, KEY_A, NULL, NULL);
    int64_t b = run_ok(f, s, KEY_B, NULL, NULL);
    char want[64];
    snprintf(want, sizeof want, "matches 2 runs (ids %lld, %lld)", (long long)a, (long long)b);
    assert_int_equal(nnl_store_find_run(s, "ab", f->err, sizeof f->err), -1);
    assert_has(f->err, f->db);
    assert_has(f->err, want);
    assert_has(f->err, "give more digits or a run id");

    /* The same config run twice: even the full key is ambiguous. */
    run_ok(f, s, KEY_A, "sweep1", NULL);
    assert_int_equal(nnl_store_find_run(s, KEY_A, f->err, sizeof f->err), -1);
    assert_has(f->err, "matches 2 runs");
    nnl_store_close(s);
}

static void store_find_key_newest_in_experiment(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    run_ok(f, s, KEY_A, NULL, NULL);
    int64_t in_sweep = run_ok(f, s, KEY_A, "sweep1", NULL);
    int64_t lone = run_ok(f, s, KEY_A, NULL, NULL);
    assert_int_equal(nnl_store_find_key(s, KEY_A, NULL, f->err, sizeof f->err), lone);
    assert_int_equal(nnl_store_find_key(s, KEY_A, "sweep1", f->err, sizeof f->err), in_sweep);
    assert_int_equal(nnl_store_find_key(s, KEY_A, "sweep2", f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_find_key(s, KEY_B, NULL, f->err, sizeof f->err), 0);
    nnl_store_close(s);
}

typedef struct { int64_t ids[16]; int n; int stop_after; } listing;

static int collect_run(const nnl_run_summary *r, void *ud)
{
    listing *l = ud;
    assert_non_null(r->key);
    assert_non_null(r->status);
    assert_true(is_iso_utc(r->created));
    l->ids[l->n++] = r->id;
    return l->n == l->stop_after;
}

static void store_runs_foreach_lists_and_filters(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t a = run_ok(f, s, KEY_A, "sweep1", NULL);
    int64_t b = run_ok(f, s, KEY_B, NULL, NULL);
    int64_t c = run_ok(f, s, KEY_B, "sweep1", NULL);
    epoch_ok(f, s, c, 1, 0.75);

    listing l = {.stop_after = -1};
    assert_int_equal(nnl_store_runs_foreach(s, NULL, collect_run, &l, f->err, sizeof f->err), 0);
    assert_int_equal(l.n, 3);
    assert_true(l.ids[0] == a && l.ids[1] == b && l.ids[2] == c);

    l = (listing){.stop_after = -1};
    assert_int_equal(nnl_store_runs_foreach(s, "sweep1", collect_run, &l, f->err, sizeof f->err), 0);
    assert_int_equal(l.n, 2);
    assert_true(l.ids[0] == a && l.ids[1] == c);

    l = (listing){.stop_after = 1};
    assert_int_equal(nnl_store_runs_foreach(s, NULL, collect_run, &l, f->err, sizeof f->err), 0);
    assert_int_equal(l.n, 1);
    nnl_store_close(s);
}

static void store_claim_queued_takes_oldest_first(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) ids[i] = run_ok(f, s, KEY_A, "sweep1", "queued");
    int64_t lone = run_ok(f, s, KEY_B, NULL, "queued");
    for (int i = 0; i < 3; i++)
        assert_int_equal(nnl_store_claim_queued(s, "sweep1", f->err, sizeof f->err), ids[i]);
    assert_int_equal(nnl_store_claim_queued(s, "sweep1", f->err, sizeof f->err), 0);
    assert_int_equal(nnl_store_claim_queued(s, NULL, f->err, sizeof f->err), lone);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, ids[1], &r, f->err, sizeof f->err), 0);
    assert_string_equal(r.status, "running");
    assert_true(is_iso_utc(r.started));
    assert_int_equal(r.pid, getpid());
    nnl_run_row_free(&r);
    nnl_store_close(s);
}

/* --- integrity ---------------------------------------------------------- */

static void store_foreign_keys_cascade_on_delete(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    int64_t keep = run_ok(f, s, KEY_B, NULL, NULL);
    assert_int_equal(nnl_store_param_add(s, id, "train.lr", "0.001", f->err, sizeof f->err), 0);
    epoch_ok(f, s, id, 1, 0.5);
    epoch_ok(f, s, keep, 1, 0.5);
    int64_t conf[4] = {1, 2, 3, 4};
    double acc[2] = {0.5, 0.5};
    assert_int_equal(nnl_store_test_result(s, id, 1, 0.5, conf, acc, 2, f->err, sizeof f->err), 0);

    sqlite3 *db = nnl_store_db(s);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "DELETE FROM runs WHERE id = ?1", -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_int64(q, 1, id);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    assert_int_equal(q_int(db, "SELECT count(*) FROM params", 0), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM epochs", 0), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM confusion", 0), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM class_acc", 0), 0);
    nnl_store_close(s);
}

/* --- many processes ----------------------------------------------------- */

#define WORKERS 8
#define WORKER_EPOCHS 50

/* Child side: everything it does must end in _exit, never in cmocka. */
static void worker(const char *path, int n)
{
    char err[512];
    nnl_store *s = nnl_store_open(path, err, sizeof err);
    if (!s) { fprintf(stderr, "worker %d: %s\n", n, err); _exit(1); }
    char key[17];
    snprintf(key, sizeof key, "%016x", 0xa000 + n);
    nnl_run_info ri = {.key = key, .name = "w", .experiment = "par", .config = "x: 1\n"};
    int64_t id = nnl_store_run_create(s, &ri, err, sizeof err);
    int rc = id > 0 ? 0 : 1;
    for (int e = 1; !rc && e <= WORKER_EPOCHS; e++) {
        nnl_epoch_row row = {.epoch = e, .train_loss = 1, .val_acc = e / 100.0};
        rc = nnl_store_epoch_add(s, id, &row, err, sizeof err) != 0;
    }
    if (!rc) rc = nnl_store_run_status(s, id, "finished", NULL, err, sizeof err) != 0;
    if (rc) fprintf(stderr, "worker %d: %s\n", n, err);
    nnl_store_close(s);
    _exit(rc);
}

/* Eight sweep workers create one new database at once and each write 50
 * epochs with no pause: the busy timeout and BEGIN IMMEDIATE must queue
 * them all, with no "database is locked" in any of them. */
static void store_parallel_writers_no_lock_errors(void **state)
{
    fixture *f = *state;
    pid_t pids[WORKERS];
    fflush(NULL);
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) worker(f->db, i);
    }
    int failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
    }
    assert_int_equal(failed, 0);

    nnl_store *s = open_ok(f);
    sqlite3 *db = nnl_store_db(s);
    assert_int_equal(q_int(db, "SELECT count(*) FROM epochs", 0), WORKERS * WORKER_EPOCHS);
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs WHERE status = 'finished'"
                           " AND epochs_done = 50 AND best_epoch = 50", 0), WORKERS);
    nnl_store_close(s);
}

/* Workers pulling from one queue: each queued run goes to exactly one. The
 * claimer bumps nparams, so a run claimed twice would show 2. */
static void store_parallel_claims_take_each_run_once(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    for (int i = 0; i < 40; i++) {
        nnl_run_info ri = {.key = KEY_A, .experiment = "q", .config = "x: 1\n",
                           .nparams = 0, .status = "queued"};
        assert_true(nnl_store_run_create(s, &ri, f->err, sizeof f->err) > 0);
    }
    nnl_store_close(s);

    pid_t pids[WORKERS];
    fflush(NULL);
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] != 0) continue;
        char err[512];
        nnl_store *w = nnl_store_open(f->db, err, sizeof err);
        int rc = !w;
        int64_t id = 0;
        while (!rc && (id = nnl_store_claim_queued(w, "q", err, sizeof err)) > 0) {
            sqlite3_stmt *q;
            rc = sqlite3_prepare_v2(nnl_store_db(w), "UPDATE runs SET nparams = nparams + 1"
                                    " WHERE id = ?1", -1, &q, NULL) != SQLITE_OK;
            if (!rc) {
                sqlite3_bind_int64(q, 1, id);
                rc = sqlite3_step(q) != SQLITE_DONE;
                if (rc) snprintf(err, sizeof err, "%s", sqlite3_errmsg(nnl_store_db(w)));
                sqlite3_finalize(q);
            }
            if (!rc) rc = nnl_store_run_status(w, id, "finished", NULL, err, sizeof err) != 0;
        }
        if (!rc && id < 0) rc = 1;
        if (rc) fprintf(stderr, "claimer %d: %s\n", i, w ? err : "open failed");
        nnl_store_close(w);
        _exit(rc);
    }
    int failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
    }
    assert_int_equal(failed, 0);
    s = open_ok(f);
    assert_int_equal(q_int(nnl_store_db(s), "SELECT count(*) FROM runs WHERE nparams = 1"
                           " AND status = 'finished'", 0), 40);
    nnl_store_close(s);
}

/* kill -9 in the middle of training: whatever was committed is there, and
 * each epoch row and the run's epochs_done moved together. */
static void store_survives_kill_9_mid_write(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[512];
        nnl_store *w = nnl_store_open(f->db, err, sizeof err);
        for (int e = 1; w && e < 1000000; e++) {
            nnl_epoch_row row = {.epoch = e, .train_loss = 1, .val_acc = 0.5};
            if (nnl_store_epoch_add(w, id, &row, err, sizeof err) != 0) break;
        }
        _exit(1);
    }
    /* Wait for some progress, then kill without warning. */
    sqlite3 *db = nnl_store_db(s);
    int64_t done = 0;
    struct timespec nap = {0, 1000000};
    for (int i = 0; i < 5000 && done < 30; i++) {
        nanosleep(&nap, NULL);
        done = q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", id);
    }
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_true(done >= 30);
    nnl_store_close(s);

    s = open_ok(f);
    db = nnl_store_db(s);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    int64_t n = q_int(db, "SELECT count(*) FROM epochs WHERE run_id = ?1", id);
    assert_true(n >= done);
    assert_int_equal(q_int(db, "SELECT epochs_done FROM runs WHERE id = ?1", id), n);
    assert_int_equal(q_int(db, "SELECT max(epoch) FROM epochs WHERE run_id = ?1", id), n);
    nnl_store_close(s);
}

/* --- read-only ---------------------------------------------------------- */

static void store_readonly_db_is_clear_error(void **state)
{
    fixture *f = *state;
    nnl_store *s = open_ok(f);
    int64_t id = run_ok(f, s, KEY_A, NULL, NULL);
    nnl_store_close(s);

    /* Opened read-only: reads work, every write is an error naming the file. */
    s = nnl_store_open_readonly(f->db, f->err, sizeof f->err);
    if (!s) fail_msg("open_readonly: %s", f->err);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, id, &r, f->err, sizeof f->err), 0);
    nnl_run_row_free(&r);
    nnl_run_info ri = {.key = KEY_B, .config = "x: 1\n"};
    assert_int_equal(nnl_store_run_create(s, &ri, f->err, sizeof f->err), -1);
    assert_has(f->err, f->db);
    assert_has(f->err, "read-only");
    nnl_epoch_row row = {.epoch = 1};
    assert_int_equal(nnl_store_epoch_add(s, id, &row, f->err, sizeof f->err), -1);
    assert_has(f->err, "read-only");
    assert_int_equal(nnl_store_begin(s, f->err, sizeof f->err), -1);
    /* The guard above is ours; SQLite must refuse too, should a caller
     * write through nnl_store_db(). */
    assert_int_not_equal(sqlite3_exec(nnl_store_db(s), "DELETE FROM runs", NULL, NULL, NULL),
                         SQLITE_OK);
    nnl_store_close(s);

    /* Read-only opening never creates a file. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.db", f->dir);
    assert_null(nnl_store_open_readonly(missing, f->err, sizeof f->err));
    assert_has(f->err, missing);
    assert_has(f->err, "No such file or directory");
    assert_int_equal(access(missing, F_OK), -1);

    /* A file without write permission. Root ignores permission bits, so as
     * root the chmod stops nothing and this half cannot be tested; the
     * read-only open above covers the same error path. */
    if (geteuid() == 0) return;
    assert_int_equal(chmod(f->db, 0444), 0);
    s = nnl_store_open(f->db, f->err, sizeof f->err);
    if (s) {
        int64_t w = nnl_store_run_create(s, &ri, f->err, sizeof f->err);
        nnl_store_close(s);
        assert_int_equal(w, -1);
    }
    assert_has(f->err, f->db);
    assert_has(f->err, "read-only");
    chmod(f->db, 0644);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(store_creates_schema_version_1),
        T(store_rejects_newer_schema),
        T(store_rejects_non_sqlite_file),
        T(store_rejects_foreign_sqlite_db),
        T(store_missing_grandparent_dir_is_clear_error),
        T(store_run_create_records_provenance),
        T(store_run_create_rejects_bad_key_and_status),
        T(store_values_are_bound_not_formatted),
        T(store_params_group_commits_and_rolls_back),
        T(store_epoch_replace_on_rewrite),
        T(store_epoch_rewrite_drops_later_epochs),
        T(store_best_epoch_tracks_max_val_acc),
        T(store_epoch_rejects_epoch_zero_and_missing_run),
        T(store_run_status_sets_finished_for_terminal),
        T(store_run_diverged_records_epoch),
        T(store_test_result_roundtrip),
        T(store_find_run_by_id_and_prefix),
        T(store_find_run_ambiguous_prefix_is_error),
        T(store_find_key_newest_in_experiment),
        T(store_runs_foreach_lists_and_filters),
        T(store_claim_queued_takes_oldest_first),
        T(store_foreign_keys_cascade_on_delete),
        T(store_parallel_writers_no_lock_errors),
        T(store_parallel_claims_take_each_run_once),
        T(store_survives_kill_9_mid_write),
        T(store_readonly_db_is_clear_error),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
