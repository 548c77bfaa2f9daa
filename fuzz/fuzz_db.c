/* fuzz_db.c -- a results database from elsewhere, damaged in every way, in.
 *
 * A small valid database (an experiment of three runs with params, epochs
 * and test results, and a lone run) is made once with the store API. Each
 * input is a list of 4-byte edits of a copy of it:
 *   op % 4 == 0: the byte at offset (b1 | b2 << 8) % size becomes b3
 *   op % 4 == 1: a cell: table b1 % 5, row b2 % 8 + 1, column b3, set to one
 *                of a few hostile values (NULL, -3, 2^62, 1e308, text with
 *                ESC, ...), written past the schema's NOT NULL and CHECK as
 *                a crafted file would hold it, the schema text kept
 *   op % 4 == 2: a schema object added or changed (a trigger, a view, an
 *                index, a table's text), as a colleague's database may have
 *   op % 4 == 3: nothing
 * Then it is read as show, compare, report and merge read it: every run,
 * its epochs, test result and params; the compare table; the report of the
 * experiment and of each run (gnuplot is /bin/true: the reading is the
 * target, not the drawing); and a merge into an empty database. Each must
 * succeed or refuse with one line, never crash, leak or trip UBSan; and a
 * merge that succeeds must leave a database that passes nnl_store_check:
 * damage is never copied. */
#include <sqlite3.h>
#include <sys/stat.h>
#include "fuzz.h"
#include "../runner/report/report.h"
#include "../runner/slurm/slurm.h"
#include "../runner/store/store.h"
#include "../runner/train/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *good;
static size_t goodlen;

static void die(const char *what, const char *err) {
    fprintf(stderr, "fuzz_db: %s: %s\n", what, err);
    abort();
}

static void init(void) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/good.db", fuzz_scratch());
    unlink(path);
    /* a rollback journal: the file alone is the whole database */
    nnl_store *s = nnl_store_open_shared(path, err, sizeof err);
    if (!s) die("creating", err);
    const char *points[] = {"act=relu,pool=max", "act=relu,pool=avg", "act=sigmoid,pool=max", NULL};
    for (int i = 0; i < 4; i++) {
        char key[17];
        snprintf(key, sizeof key, "%016x", 0xfeed0 + i);
        nnl_run_info ri = {.key = key, .name = points[i] ? points[i] : "lone", .experiment = points[i] ? "e" : NULL,
                           .config = "name: x\ntrain.lr: 0.001\n", .seed = (uint64_t)i, .nparams = 61706};
        int64_t id = nnl_store_run_create(s, &ri, err, sizeof err);
        if (id < 0) die("run", err);
        if (points[i] && nnl_store_param_add(s, id, "sweep.point", points[i], err, sizeof err)) die("param", err);
        if (nnl_store_param_add(s, id, "train.lr", "0.001", err, sizeof err)) die("param", err);
        for (int e = 1; e <= 3; e++) {
            nnl_epoch_row row = {.epoch = e, .train_loss = 1.0 / e, .train_acc = 0.5 + 0.1 * e,
                                 .val_loss = 1.2 / e, .val_acc = 0.45 + 0.1 * e + 0.01 * i, .lr = 0.001,
                                 .seconds = 0.5 + i};
            if (nnl_store_epoch_add(s, id, &row, err, sizeof err)) die("epoch", err);
        }
        int64_t conf[16] = {5, 1, 0, 0, 0, 6, 0, 1, 1, 0, 4, 0, 0, 0, 2, 7};
        double cacc[4] = {0.83, 0.86, 0.8, 0.77};
        if (i < 3 && nnl_store_test_result(s, id, 0.4, 0.8 + 0.01 * i, conf, cacc, 4, err, sizeof err))
            die("test", err);
        if (nnl_store_run_status(s, id, i < 3 ? "finished" : "interrupted", NULL, err, sizeof err)) die("status", err);
    }
    nnl_store_close(s);
    FILE *f = fopen(path, "rb");
    good = malloc(1 << 20);
    goodlen = f ? fread(good, 1, 1 << 20, f) : 0;
    if (f) fclose(f);
    if (!goodlen) die("reading", path);
}

static const char *const tables[5] = {"runs", "params", "epochs", "confusion", "class_acc"};

/* hostile values of a cell */
static const char *const values[8] = {
    "NULL", "-3", "4611686018427387904", "1e308", "'a' || char(27) || '[2J'", "''", "99999999", "'queued'"};

/* schema objects a database from elsewhere may carry */
static const char *const schema_ops[8] = {
    "CREATE TRIGGER t AFTER INSERT ON epochs BEGIN UPDATE runs SET best_val_acc = 1; END",
    "CREATE VIEW v AS SELECT * FROM runs",
    "CREATE INDEX extra ON epochs(val_acc)",
    "DROP INDEX runs_key",
    "CREATE TABLE sqlite_stat1(tbl,idx,stat)",
    "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, ' NOT NULL', '') WHERE name = 'runs'",
    "PRAGMA writable_schema = ON; UPDATE sqlite_master SET name = 'x' WHERE name = 'class_acc'",
    "CREATE TABLE more(a)",
};

/* Applies the cell and schema edits on a plain connection. Cells are set
 * past NOT NULL by taking the constraints out of the schema's text for the
 * writes and putting the text back after, as a crafted file holds it. */
static void sql_edits(const char *path, const uint8_t *data, size_t size) {
    sqlite3 *db;
    sqlite3_stmt *q;
    if (sqlite3_open(path, &db) != SQLITE_OK) { sqlite3_close(db); return; }
    int cells = 0, nsaved = 0;
    for (size_t i = 0; i + 4 <= size; i += 4) cells |= data[i] % 4 == 1;
    char *name[32], *text[32];
    if (cells) {
        /* the schema's own text, to put back after the writes */
        if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL", -1, &q, NULL) == SQLITE_OK)
            while (nsaved < 32 && sqlite3_step(q) == SQLITE_ROW) {
                name[nsaved] = strdup((const char *)sqlite3_column_text(q, 0));
                text[nsaved++] = strdup((const char *)sqlite3_column_text(q, 1));
            }
        sqlite3_finalize(q);
        sqlite3_exec(db, "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, ' NOT NULL', '');"
                         "PRAGMA writable_schema = OFF", NULL, NULL, NULL);
        sqlite3_close(db);
        if (sqlite3_open(path, &db) != SQLITE_OK) nsaved = -nsaved - 1;
        else sqlite3_exec(db, "PRAGMA ignore_check_constraints = ON; PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    }
    for (size_t i = 0; nsaved >= 0 && i + 4 <= size; i += 4) {
        const uint8_t *e = data + i;
        char stmt[512];
        if (e[0] % 4 == 1) {
            const char *t = tables[e[1] % 5];
            char col[64] = "";
            snprintf(stmt, sizeof stmt, "SELECT * FROM %s LIMIT 0", t);
            if (sqlite3_prepare_v2(db, stmt, -1, &q, NULL) == SQLITE_OK && sqlite3_column_count(q) > 0)
                snprintf(col, sizeof col, "%s", sqlite3_column_name(q, e[3] % sqlite3_column_count(q)));
            sqlite3_finalize(q);
            if (!col[0]) continue;
            snprintf(stmt, sizeof stmt, "UPDATE %s SET \"%s\" = %s WHERE rowid = %d", t, col, values[(e[3] >> 4) % 8],
                     e[2] % 8 + 1);
            sqlite3_exec(db, stmt, NULL, NULL, NULL);
        } else if (e[0] % 4 == 2) {
            sqlite3_exec(db, schema_ops[e[1] % 8], NULL, NULL, NULL);
        }
    }
    if (nsaved < 0) nsaved = -nsaved - 1;
    else if (nsaved) {
        sqlite3_exec(db, "PRAGMA writable_schema = ON", NULL, NULL, NULL);
        if (sqlite3_prepare_v2(db, "UPDATE sqlite_master SET sql = ?2 WHERE name = ?1", -1, &q, NULL) == SQLITE_OK) {
            for (int k = 0; k < nsaved; k++) {
                sqlite3_bind_text(q, 1, name[k], -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, text[k], -1, SQLITE_STATIC);
                sqlite3_step(q);
                sqlite3_reset(q);
            }
        }
        sqlite3_finalize(q);
        sqlite3_exec(db, "PRAGMA writable_schema = OFF", NULL, NULL, NULL);
    }
    for (int k = 0; k < nsaved; k++) {
        free(name[k]);
        free(text[k]);
    }
    sqlite3_close(db);
}

static void one_line(const char *err, const char *what) {
    FUZZ_ASSERT(err[0] && !strchr(err, '\n'), "%s: the error is not one line: [%s]", what, err);
}

typedef struct { int64_t id[16]; int n; } ids;

static int collect(const nnl_run_summary *r, void *ud) {
    ids *a = ud;
    if (a->n < 16) a->id[a->n++] = r->id;
    return 0;
}

static void param(const char *k, const char *v, void *ud) {
    FUZZ_ASSERT(k && v, "a NULL param reached the callback");
    *(size_t *)ud += strlen(k) + strlen(v);
}

/* what show, compare and report read */
static void read_all(const char *path) {
    char err[2048];
    nnl_store *s = nnl_store_open_readonly(path, err, sizeof err);
    if (!s) { one_line(err, "open"); return; }
    ids a = {.n = 0};
    if (nnl_store_runs_foreach(s, NULL, collect, &a, err, sizeof err)) one_line(err, "ls");
    for (int i = 0; i < a.n; i++) {
        nnl_run_row r;
        nnl_epoch_row *ep = NULL;
        int64_t conf[64 * 64];
        double cacc[64];
        size_t total = 0;
        if (nnl_store_run_get(s, a.id[i], &r, err, sizeof err)) one_line(err, "run");
        else {
            FUZZ_ASSERT(r.key && r.status, "a run without key or status was handed over");
            nnl_run_row_free(&r);
        }
        if (nnl_store_epochs_get(s, a.id[i], &ep, err, sizeof err) < 0) one_line(err, "epochs");
        free(ep);
        if (nnl_store_test_get(s, a.id[i], conf, cacc, 64, err, sizeof err) < 0) one_line(err, "test");
        if (nnl_store_params_foreach(s, a.id[i], param, &total, err, sizeof err)) one_line(err, "params");
    }
    FILE *devnull = fopen("/dev/null", "w");
    for (int csv = 0; csv < 2; csv++)
        if (nnl_compare(s, "e", NULL, csv, devnull, err, sizeof err)) one_line(err, "compare");
    fclose(devnull);
    char out[600];
    snprintf(out, sizeof out, "%s/report", fuzz_scratch());
    nnl_report_opts o = {.outdir = out, .gnuplot = "/bin/true"};
    nnl_report_result res;
    int rc = nnl_report_experiment(s, "e", &o, &res, err, sizeof err);
    if (rc) one_line(err, "report");
    for (int i = 0; i < a.n && i < 2; i++)
        if (nnl_report_run(s, a.id[i], &o, &res, err, sizeof err)) one_line(err, "report run");
    nnl_store_close(s);
}

/* what merge reads, and that it copies no damage */
static void merge(const char *path) {
    char err[2048];
    nnl_store *m = nnl_store_open(":memory:", err, sizeof err);
    if (!m) die("main", err);
    nnl_merge_counts c;
    if (nnl_merge_shard(m, path, &c, err, sizeof err)) one_line(err, "merge");
    else FUZZ_ASSERT(!nnl_store_check(m, err, sizeof err), "a merge copied damage: %s", err);
    nnl_store_close(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!good) init();
    /* libFuzzer's own signal handlers never set nnl_stop; a statement of a
     * hostile file that ran for ever would be a -timeout crash */
    char path[600], side[640];
    snprintf(path, sizeof path, "%s/x.db", fuzz_scratch());
    for (int k = 0; k < 3; k++) {
        static const char *const ext[3] = {"-journal", "-wal", "-shm"};
        snprintf(side, sizeof side, "%s%s", path, ext[k]);
        unlink(side);
    }
    unsigned char *d = malloc(goodlen);
    memcpy(d, good, goodlen);
    fuzz_write("x.db", d, goodlen);
    sql_edits(path, data, size);
    FILE *f = fopen(path, "r+b");
    struct stat st;
    if (f && !fstat(fileno(f), &st) && st.st_size > 0) {
        for (size_t i = 0; i + 4 <= size; i += 4)
            if (data[i] % 4 == 0) {
                fseek(f, (long)((size_t)(data[i + 1] | data[i + 2] << 8) % (size_t)st.st_size), SEEK_SET);
                fputc(data[i + 3], f);
            }
    }
    if (f) fclose(f);
    free(d);
    read_all(path);
    merge(path);
    return 0;
}
