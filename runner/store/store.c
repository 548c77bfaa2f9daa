/* store.c -- the SQLite results store behind store.h: opening and migrating
 * the schema, checking it, the statement cache, the row checks and the
 * transactions that the rest of the store is built on. The write path is in
 * store_write.c, the read path in store_read.c, the comparison of an
 * experiment's grid points in store_compare.c and the merge of a shard in
 * store_merge.c. No file outside these includes sqlite3.h.
 *
 * Concurrency rests on three choices. WAL lets readers and one writer work
 * at once. Every write is a BEGIN IMMEDIATE transaction: it takes the write
 * lock before reading anything, so a waiting writer is queued by the busy
 * timeout instead of failing with SQLITE_BUSY as a deferred transaction
 * does when it must upgrade a stale read snapshot. And every transaction is
 * short (one epoch, one status change), so no writer waits long.
 *
 * Statements are prepared once per handle, on first use, and always reset
 * after use: a statement left mid-step would hold a read snapshot open and
 * stop WAL checkpoints.
 */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "input.h"
#include "names.h"
#include "signals.h"
#include "store_int.h"

/* The Makefile defines it; a build without it still records something. */
#ifndef NNLAB_VERSION
#define NNLAB_VERSION "unknown"
#endif

/* Long enough for a busy sweep's queue of short transactions; a writer that
 * still cannot get the lock after this reports "database is locked". */
#define BUSY_TIMEOUT_MS 30000


/* migrations[v] takes the schema from version v-1 to v and ends by setting
 * user_version, so the version moves in the same transaction as the tables. */
static const char *const migrations[NNL_STORE_SCHEMA_VERSION + 1] = {
    NULL,
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL,"
    "  name TEXT,"
    "  experiment TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('queued','running','finished',"
    "         'failed','diverged','interrupted','pruned')),"
    "  config TEXT,"
    "  seed INTEGER,"
    "  created TEXT NOT NULL,"
    "  started TEXT,"
    "  finished TEXT,"
    "  host TEXT,"
    "  pid INTEGER,"
    "  version TEXT,"
    "  git_commit TEXT,"
    "  nparams INTEGER,"
    "  epochs_done INTEGER NOT NULL DEFAULT 0,"
    "  best_epoch INTEGER,"
    "  best_val_acc REAL,"
    "  test_loss REAL,"
    "  test_acc REAL,"
    "  diverged_epoch INTEGER,"
    "  error TEXT,"
    "  checkpoint_dir TEXT);"
    "CREATE INDEX runs_key ON runs(key);"
    "CREATE INDEX runs_experiment ON runs(experiment);"
    "CREATE TABLE params ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT,"
    "  PRIMARY KEY (run_id, key));"
    "CREATE TABLE epochs ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  epoch INTEGER NOT NULL,"
    "  train_loss REAL, train_acc REAL,"
    "  val_loss REAL, val_acc REAL,"
    "  lr REAL,"
    "  seconds REAL,"
    "  PRIMARY KEY (run_id, epoch));"
    "CREATE TABLE confusion ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  true_label INTEGER NOT NULL,"
    "  pred_label INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, true_label, pred_label));"
    "CREATE TABLE class_acc ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  label INTEGER NOT NULL,"
    "  accuracy REAL,"
    "  PRIMARY KEY (run_id, label));"
    "PRAGMA user_version = 1;",
};

/* The cached statements of the write path and of single-row reads. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_RUN_INSERT] =
        "INSERT INTO runs(key, name, experiment, status, config, seed, created,"
        " started, host, pid, version, git_commit, nparams, checkpoint_dir)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, " NOW ","
        " CASE WHEN ?4 = 'running' THEN " NOW " END,"
        " ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_PARAM_PUT] =
        "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?1, ?2, ?3)",
    [ST_EPOCH_PUT] =
        "INSERT OR REPLACE INTO epochs(run_id, epoch, train_loss, train_acc,"
        " val_loss, val_acc, lr, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_EPOCH_TRIM] =
        "DELETE FROM epochs WHERE run_id = ?1 AND epoch > ?2",
    /* Recomputed from the rows, not compared with the old best, because a
     * rewritten epoch may have lowered what used to be the best. */
    [ST_EPOCH_SUMMARY] =
        "UPDATE runs SET epochs_done = ?2,"
        " best_epoch = (SELECT epoch FROM epochs WHERE run_id = ?1"
        "   AND val_acc IS NOT NULL ORDER BY val_acc DESC, epoch ASC LIMIT 1),"
        " best_val_acc = (SELECT max(val_acc) FROM epochs WHERE run_id = ?1)"
        " WHERE id = ?1",
    /* ?4: the status is terminal; ?5, ?6: host and pid of a new owner. */
    [ST_RUN_STATUS] =
        "UPDATE runs SET status = ?2, error = ?3,"
        " finished = CASE WHEN ?4 THEN " NOW " END,"
        " started = CASE WHEN ?2 = 'running' THEN coalesce(started, " NOW ")"
        "   ELSE started END,"
        " host = CASE WHEN ?2 = 'running' THEN ?5 ELSE host END,"
        " pid = CASE WHEN ?2 = 'running' THEN ?6 ELSE pid END"
        " WHERE id = ?1",
    [ST_RUN_DIVERGED] =
        "UPDATE runs SET status = 'diverged', diverged_epoch = ?2,"
        " finished = " NOW " WHERE id = ?1",
    [ST_TEST_RUN] =
        "UPDATE runs SET test_loss = ?2, test_acc = ?3 WHERE id = ?1",
    [ST_CONF_CLEAR] = "DELETE FROM confusion WHERE run_id = ?1",
    [ST_CONF_PUT] =
        "INSERT INTO confusion(run_id, true_label, pred_label, count)"
        " VALUES (?1, ?2, ?3, ?4)",
    [ST_CACC_CLEAR] = "DELETE FROM class_acc WHERE run_id = ?1",
    [ST_CACC_PUT] =
        "INSERT INTO class_acc(run_id, label, accuracy) VALUES (?1, ?2, ?3)",
    [ST_CLAIM_PICK] =
        "SELECT id FROM runs WHERE experiment IS ?1 AND status = 'queued'"
        " ORDER BY id LIMIT 1",
    [ST_FIND_ID] = "SELECT id FROM runs WHERE id = ?1",
    [ST_FIND_PREFIX] =
        "SELECT id FROM runs WHERE substr(key, 1, length(?1)) = ?1 ORDER BY id",
    [ST_FIND_KEY] =
        "SELECT id FROM runs WHERE key = ?1 AND experiment IS ?2"
        " ORDER BY id DESC LIMIT 1",
    [ST_RUN_GET] =
        "SELECT id, key, name, experiment, status, config, seed, created,"
        " started, finished, host, pid, version, git_commit, nparams,"
        " epochs_done, best_epoch, best_val_acc, test_loss, test_acc,"
        " diverged_epoch, error, checkpoint_dir FROM runs WHERE id = ?1",
    [ST_RUN_CKDIR] = "UPDATE runs SET checkpoint_dir = ?2 WHERE id = ?1",
};


static const char *const statuses[] = {
    "queued", "running", "finished", "failed", "diverged", "interrupted", "pruned",
};


/* --- errors ------------------------------------------------------------- */

/* "path: <message>" into err. */
void store_errf(const nnl_store *s, char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    int n = snprintf(err, errlen, "%s: ", s->path);
    if (n < 0 || (size_t)n >= errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    /* one line, whatever a path, a row or SQLite's message about a damaged
     * file (which quotes the file's object names) holds */
    nnl_text_one_line(err);
}

/* "path: <what>: <SQLite's message>". Call before anything that could
 * replace SQLite's message, such as a rollback. */
void store_db_fail(const nnl_store *s, char *err, size_t errlen, const char *what)
{
    store_errf(s, err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* "path: damaged database: <message>; ...": a value no nnlab writes, found
 * where a row is read. Such a value is reported, never used. */
int store_damaged(const nnl_store *s, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    store_errf(s, err, errlen, "damaged database: %s; nnlab never writes this (use another copy of the file)", msg);
    return -1;
}

/* --- statements --------------------------------------------------------- */

sqlite3_stmt *store_stmt(nnl_store *s, int which, char *err, size_t errlen,
                          const char *what)
{
    if (!s->st[which] &&
        sqlite3_prepare_v2(s->db, stmt_sql[which], -1, &s->st[which], NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, what);
        return NULL;
    }
    return s->st[which];
}

/* Binds parameters 1, 2, ... from fmt: 'I' int64_t, 'i' int, 'd' double
 * (NaN binds NULL), 't' const char * (NULL binds NULL). */
static int vbindf(sqlite3_stmt *q, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 'I': rc = sqlite3_bind_int64(q, i, va_arg(ap, int64_t)); break;
        case 'i': rc = sqlite3_bind_int(q, i, va_arg(ap, int)); break;
        case 'd': {
            double v = va_arg(ap, double);
            rc = isnan(v) ? sqlite3_bind_null(q, i) : sqlite3_bind_double(q, i, v);
            break;
        }
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(q, i);
            break;
        }
        default: rc = SQLITE_MISUSE; break;
        }
    }
    return rc;
}

void store_stmt_done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* The cached statement `which` with fmt's parameters bound, or NULL with
 * err written. */
sqlite3_stmt *store_bound(nnl_store *s, int which, char *err, size_t errlen,
                           const char *what, const char *fmt, ...)
{
    sqlite3_stmt *q = store_stmt(s, which, err, errlen, what);
    if (!q) return NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = vbindf(q, fmt, ap);
    va_end(ap);
    if (rc != SQLITE_OK) {
        store_errf(s, err, errlen, "%s: binding parameters: %s", what, sqlite3_errstr(rc));
        store_stmt_done(q);
        return NULL;
    }
    return q;
}

/* Runs a bound write statement to completion and resets it. Returns 0, or
 * SQLite's extended error code with err written. */
int store_exec(nnl_store *s, sqlite3_stmt *q, char *err, size_t errlen,
                     const char *what)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) rc = 0;
    else store_db_fail(s, err, errlen, what);
    store_stmt_done(q);
    return rc;
}

/* Steps a bound query that yields at most one integer. Returns 1 with *out
 * set, 0 for no row (or a NULL value), -1 with err written. Resets q. */
int store_query_int(nnl_store *s, sqlite3_stmt *q, int64_t *out,
                     char *err, size_t errlen, const char *what)
{
    int rc = sqlite3_step(q), found = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
        *out = sqlite3_column_int64(q, 0);
        found = 1;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, err, errlen, what);
        found = -1;
    }
    store_stmt_done(q);
    return found;
}

double store_col_double(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

/* Text columns longer than this are no nnlab's: names, hosts, errors and
 * paths are far shorter (a config's text is bounded as a config file is). */
#define TEXT_MAX 4096
#define CONFIG_MAX (1 << 20)

/* Checks the row q holds, column by column, against spec: one letter per
 * column, lower case where NULL is allowed too:
 *   I/i  an integer                E/e  an epoch count, 0 to NNL_STORE_MAX_EPOCH
 *   P/p  a count, 0 or more        K    a run key: 16 hex digits
 *   S    a run status              N/n  one line of printable text
 *   c    a config's text (lines)   a    an accuracy, 0 to 1
 *   r    a number                  .    anything
 * A database from elsewhere may hold anything in any column, whatever the
 * schema says (a crafted file need not obey its NOT NULL and CHECK): what
 * is read is checked here before it is used. what names the row in the
 * message ("run 12"). 0, or -1 with err written. */
int store_row_ok(const nnl_store *s, sqlite3_stmt *q, const char *spec, const char *what,
                  char *err, size_t errlen)
{
    for (int i = 0; spec[i]; i++) {
        char k = spec[i];
        if (k == '.') continue;
        int t = sqlite3_column_type(q, i);
        const char *col = sqlite3_column_name(q, i);
        if (t == SQLITE_NULL) {
            if (k >= 'A' && k <= 'Z') return store_damaged(s, err, errlen, "%s: %s is NULL", what, col ? col : "?");
            continue;
        }
        const char *bad = NULL;
        char why[160];
        switch (k | 0x20) {
        case 'i': case 'e': case 'p': {
            if (t != SQLITE_INTEGER) { bad = "is not an integer"; break; }
            int64_t v = sqlite3_column_int64(q, i);
            if ((k | 0x20) == 'e' && (v < 0 || v > NNL_STORE_MAX_EPOCH)) {
                snprintf(why, sizeof why, "is %lld (expected 0 to %d)", (long long)v, NNL_STORE_MAX_EPOCH);
                bad = why;
            } else if ((k | 0x20) == 'p' && v < 0) {
                snprintf(why, sizeof why, "is %lld (expected 0 or more)", (long long)v);
                bad = why;
            }
            break;
        }
        case 'a': case 'r': {
            if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) { bad = "is not a number"; break; }
            double v = sqlite3_column_double(q, i);
            if (k == 'a' && !(v >= 0 && v <= 1)) {
                snprintf(why, sizeof why, "is %g (expected an accuracy from 0 to 1)", v);
                bad = why;
            }
            break;
        }
        case 'k': {
            const char *v = (const char *)sqlite3_column_text(q, i);
            size_t n = v ? strlen(v) : 0;
            int hex = t == SQLITE_TEXT && n == 16;
            for (size_t j = 0; hex && j < n; j++) hex = isxdigit((unsigned char)v[j]);
            if (!hex) bad = "is not a run key (16 hex digits)";
            break;
        }
        case 's': {
            const char *v = t == SQLITE_TEXT ? (const char *)sqlite3_column_text(q, i) : NULL;
            if (!nnl_store_status_known(v)) bad = "is not a run status (queued, running, finished, failed, "
                                                  "diverged, interrupted or pruned)";
            break;
        }
        case 'n': case 'c': {
            const char *v = (const char *)sqlite3_column_text(q, i);
            if (t != SQLITE_TEXT || !v) { bad = "is not text"; break; }
            const char *p = nnl_text_problem(v, k == 'c' ? CONFIG_MAX : TEXT_MAX, k == 'c');
            if (p) {
                snprintf(why, sizeof why, "%s", p);
                bad = why;
            }
            break;
        }
        default: break;
        }
        if (bad) return store_damaged(s, err, errlen, "%s: %s %s", what, col ? col : "?", bad);
    }
    return 0;
}

/* A malloc'd copy of a text column, NULL for NULL; *oom set on failure. */
char *store_col_strdup(sqlite3_stmt *q, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    if (!t) return NULL;
    char *c = strdup((const char *)t);
    if (!c) *oom = 1;
    return c;
}


/* The loops below prepare their own statements rather than use the cache,
 * so a callback may call back into the store to read. */
sqlite3_stmt *store_prepare(nnl_store *s, const char *sql, char *err, size_t errlen,
                             const char *what)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, what);
        return NULL;
    }
    return q;
}

/* --- transactions ------------------------------------------------------- */

/* Starts the transaction of one write operation: its own BEGIN IMMEDIATE,
 * or a savepoint when the caller has a group open, so that a failed
 * operation undoes only itself. Returns TX_OWN, TX_SAVEPOINT or -1. */
int store_tx_begin(nnl_store *s, char *err, size_t errlen, const char *what)
{
    if (s->readonly) {
        store_errf(s, err, errlen, "%s: the database was opened read-only", what);
        return -1;
    }
    int own = sqlite3_get_autocommit(s->db);
    if (sqlite3_exec(s->db, own ? "BEGIN IMMEDIATE" : "SAVEPOINT nnl_op",
                     NULL, NULL, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, what);
        return -1;
    }
    return own ? TX_OWN : TX_SAVEPOINT;
}

/* Ends what tx_begin started: commits when ok, else rolls back (err already
 * holds the reason). Returns 0 when committed, -1 otherwise. */
int store_tx_end(nnl_store *s, int tx, int ok, char *err, size_t errlen,
                  const char *what)
{
    if (ok) {
        if (sqlite3_exec(s->db, tx == TX_OWN ? "COMMIT" : "RELEASE nnl_op",
                         NULL, NULL, NULL) == SQLITE_OK)
            return 0;
        store_db_fail(s, err, errlen, what);
    }
    if (tx == TX_OWN) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        sqlite3_exec(s->db, "ROLLBACK TO nnl_op; RELEASE nnl_op", NULL, NULL, NULL);
    }
    return -1;
}

int nnl_store_begin(nnl_store *s, char *err, size_t errlen)
{
    if (s->readonly) {
        store_errf(s, err, errlen, "starting a transaction: the database was opened read-only");
        return -1;
    }
    if (!sqlite3_get_autocommit(s->db)) {
        store_errf(s, err, errlen, "starting a transaction: one is already open "
             "(nnl_store_begin called twice without commit or rollback)");
        return -1;
    }
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, "starting a transaction");
        return -1;
    }
    return 0;
}

int nnl_store_commit(nnl_store *s, char *err, size_t errlen)
{
    if (sqlite3_get_autocommit(s->db)) {
        store_errf(s, err, errlen, "committing: no transaction is open (nnl_store_begin first)");
        return -1;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, "committing");
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int nnl_store_rollback(nnl_store *s, char *err, size_t errlen)
{
    if (sqlite3_get_autocommit(s->db)) return 0;
    if (sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, "rolling back");
        return -1;
    }
    return 0;
}

/* --- opening ------------------------------------------------------------ */

/* Creates the directory part of path if it is missing ("results/" of
 * "results/nnlab.db"); deeper missing directories are reported, not made. */
static int make_parent_dir(const nnl_store *s, char *err, size_t errlen)
{
    const char *slash = strrchr(s->path, '/');
    if (!slash || slash == s->path) return 0;
    size_t n = (size_t)(slash - s->path);
    char *dir = malloc(n + 1);
    if (!dir) { store_errf(s, err, errlen, "out of memory"); return -1; }
    memcpy(dir, s->path, n);
    dir[n] = 0;
    int rc = 0;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        store_errf(s, err, errlen, "cannot create directory '%s': %s", dir, strerror(errno));
        rc = -1;
    }
    free(dir);
    return rc;
}

/* PRAGMA user_version, or -1; *objects gets the number of tables, indexes,
 * views and triggers. Both come from one statement, hence one snapshot:
 * read apart, another process's migration could commit in between and
 * show version 0 beside a full schema. This is also the first read of the
 * file, where a file that is not SQLite shows itself. */
static int64_t schema_version(nnl_store *s, int64_t *objects, char *err, size_t errlen)
{
    const char *what = "reading the schema version";
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT user_version, (SELECT count(*)"
                                " FROM sqlite_master) FROM pragma_user_version",
                                -1, &q, NULL);
    int64_t v = -1;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            v = sqlite3_column_int64(q, 0);
            *objects = sqlite3_column_int64(q, 1);
        }
    }
    if (rc == SQLITE_ROW && v < 0) {
        store_errf(s, err, errlen, "schema version %lld is not one nnlab writes; "
             "pass another path", (long long)v);
        v = -1;
    } else if (v < 0) {
        if ((rc & 0xff) == SQLITE_NOTADB)
            store_errf(s, err, errlen, "not an SQLite database (%s); pass another path "
                 "or move the file aside", sqlite3_errmsg(s->db));
        else
            store_db_fail(s, err, errlen, what);
    }
    sqlite3_finalize(q);
    return v;
}

/* Brings the schema from its current version to ours. Concurrent openers of
 * a new file all get here; the write lock serialises them and the version
 * is read again under it, so exactly one of them migrates. */
static int migrate(nnl_store *s, char *err, size_t errlen)
{
    const char *what = "upgrading the schema";
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    int64_t objects;
    int64_t v = schema_version(s, &objects, err, errlen);
    int ok = v >= 0;
    if (ok && v > NNL_STORE_SCHEMA_VERSION) {
        store_errf(s, err, errlen, "schema version %lld is newer than this nnlab (%d); "
             "upgrade nnlab", (long long)v, NNL_STORE_SCHEMA_VERSION);
        ok = 0;
    }
    for (int64_t i = v + 1; ok && i <= NNL_STORE_SCHEMA_VERSION; i++) {
        if (sqlite3_exec(s->db, migrations[i], NULL, NULL, NULL) != SQLITE_OK) {
            char w[64];
            snprintf(w, sizeof w, "upgrading the schema to version %lld", (long long)i);
            store_db_fail(s, err, errlen, w);
            ok = 0;
        }
    }
    return store_tx_end(s, tx, ok, err, errlen, what);
}

/* Switches the file to WAL. The switch needs the file to itself and SQLite
 * does not call the busy handler for it, so the busy timeout does not help:
 * when several workers open a new database at once, all but one see
 * SQLITE_BUSY here. They retry with backoff within the same budget. WAL is
 * a property of the file, so once any of them has switched, the others'
 * next try finds it done. */
static int set_journal_wal(nnl_store *s, char *err, size_t errlen)
{
    const char *what = "switching to WAL journal mode";
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, what);
        return -1;
    }
    int ok = 0, waited = 0, nap = 1;
    for (;;) {
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            /* SQLite answers with the mode in force; another answer means
             * the switch was refused, and concurrent writers would then
             * collide. */
            const char *mode = (const char *)sqlite3_column_text(q, 0);
            ok = mode && strcmp(mode, "wal") == 0;
            if (!ok)
                store_errf(s, err, errlen, "%s: the journal mode stayed '%s'; WAL needs a "
                     "local filesystem (not NFS)", what, mode ? mode : "?");
            break;
        }
        if ((rc & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS) {
            store_db_fail(s, err, errlen, what);
            break;
        }
        sqlite3_reset(q);
        sqlite3_sleep(nap);
        waited += nap;
        if (nap < 64) nap *= 2;
    }
    sqlite3_finalize(q);
    return ok ? 0 : -1;
}

/* type, name, tbl_name and sql of every schema object, in one order */
static const char schema_sql[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";

/* The statistics ANALYZE keeps: SQLite's own tables, read only by its query
 * planner, and a user's `sqlite3 nnlab.db ANALYZE` should not lock them out. */
static int is_stat_table(sqlite3_stmt *q)
{
    const char *type = (const char *)sqlite3_column_text(q, 0), *sql = (const char *)sqlite3_column_text(q, 3);
    return type && sql && !strcmp(type, "table") &&
           (!strcmp(sql, "CREATE TABLE sqlite_stat1(tbl,idx,stat)") ||
            !strcmp(sql, "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)"));
}

/* A name from the file for a message: control characters made '?', cut to fit. */
void store_clip_name(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (; *in && o + 1 < n; in++) out[o++] = (unsigned char)*in < ' ' || *in == 0x7f ? '?' : *in;
    out[o] = 0;
}

static const char *col_or(sqlite3_stmt *q, int i, const char *none)
{
    const char *t = q ? (const char *)sqlite3_column_text(q, i) : NULL;
    return t ? t : none;
}

/* Compares the file's schema objects with those nnlab's migrations up to
 * version v create (built in an empty in-memory database, so the text is
 * SQLite's own normal form of ours). A trigger runs on every write and a
 * view can stand in for a table: a database from elsewhere with either,
 * or with a table of other columns or constraints, is refused before
 * anything reads or writes it. 0, or -1 with err naming the object. */
static int schema_check(nnl_store *s, int64_t v, char *err, size_t errlen)
{
    sqlite3 *ref = NULL;
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = -1;
    if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        store_errf(s, err, errlen, "checking the schema: out of memory");
        goto out;
    }
    for (int64_t i = 1; i <= v && i <= NNL_STORE_SCHEMA_VERSION; i++)
        if (sqlite3_exec(ref, migrations[i], NULL, NULL, NULL) != SQLITE_OK) {
            store_errf(s, err, errlen, "checking the schema: %s", sqlite3_errmsg(ref));
            goto out;
        }
    if (sqlite3_prepare_v2(s->db, schema_sql, -1, &a, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, "reading the schema");
        goto out;
    }
    if (sqlite3_prepare_v2(ref, schema_sql, -1, &b, NULL) != SQLITE_OK) {
        store_errf(s, err, errlen, "checking the schema: %s", sqlite3_errmsg(ref));
        goto out;
    }
    /* a merge of two lists sorted the same way */
    int ra = sqlite3_step(a), rb = sqlite3_step(b);
    for (;;) {
        if (ra == SQLITE_ROW && is_stat_table(a)) { ra = sqlite3_step(a); continue; }
        if (ra != SQLITE_ROW && ra != SQLITE_DONE) {
            store_db_fail(s, err, errlen, "reading the schema");
            goto out;
        }
        if (ra == SQLITE_DONE && rb != SQLITE_ROW) break;
        int c = ra != SQLITE_ROW ? 1 : rb != SQLITE_ROW ? -1 : strcmp(col_or(a, 0, ""), col_or(b, 0, ""));
        if (!c) c = strcmp(col_or(a, 1, ""), col_or(b, 1, ""));
        char name[96];
        if (c < 0) {
            store_clip_name(col_or(a, 1, "?"), name, sizeof name);
            store_errf(s, err, errlen, "not a database as nnlab writes it: it has a %s '%s' that nnlab's schema "
                 "(version %lld) does not; a trigger or view runs on what nnlab reads and writes, so it is "
                 "refused (remove it with: sqlite3 %s 'DROP %s \"%s\"', if you trust the rest)",
                 col_or(a, 0, "?"), name, (long long)v, s->path, !strcmp(col_or(a, 0, ""), "trigger") ?
                 "TRIGGER" : !strcmp(col_or(a, 0, ""), "view") ? "VIEW" : !strcmp(col_or(a, 0, ""), "index") ?
                 "INDEX" : "TABLE", name);
            goto out;
        }
        if (c > 0) {
            store_errf(s, err, errlen, "not a database as nnlab writes it: its %s '%s' is missing (schema version "
                 "%lld); pass another path", col_or(b, 0, "?"), col_or(b, 1, "?"), (long long)v);
            goto out;
        }
        if (strcmp(col_or(a, 2, ""), col_or(b, 2, "")) || strcmp(col_or(a, 3, ""), col_or(b, 3, ""))) {
            store_errf(s, err, errlen, "not a database as nnlab writes it: its %s '%s' is not the one nnlab's "
                 "schema version %lld defines (other columns or constraints); pass another path",
                 col_or(b, 0, "?"), col_or(b, 1, "?"), (long long)v);
            goto out;
        }
        ra = sqlite3_step(a);
        rb = sqlite3_step(b);
    }
    rc = 0;
out:
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_close(ref);
    return rc;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* How long a statement may still run once Ctrl-C or SIGTERM has set
 * nnl_stop: long enough for the short writes that record the run as
 * interrupted, short enough that nothing in SQLite outlasts the signal. */
#define STOP_GRACE_SECONDS 2.0

/* SQLite calls this every few thousand steps of a statement; non-zero
 * interrupts it (SQLITE_INTERRUPT). Without it a statement that never
 * ends (a recursive view or trigger of a hostile database, a huge scan)
 * kept nnlab at 100% CPU through SIGTERM until SIGKILL. */
static int on_progress(void *ud)
{
    nnl_store *s = ud;
    if (!nnl_stop) return 0;
    double now = now_seconds();
    if (s->stop_seen == 0) s->stop_seen = now;
    return now - s->stop_seen > STOP_GRACE_SECONDS;
}

/* The connection options for a database that may come from anyone
 * (SQLite's "defense against the dark arts"): no writes to the schema
 * through PRAGMA writable_schema or sqlite_dbpage, no functions with side
 * effects called from the schema, no triggers or views at all (nnlab uses
 * neither), page checks that find a damaged file early, and the progress
 * handler. */
static int harden(nnl_store *s, char *err, size_t errlen)
{
    int ok = sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) == SQLITE_OK &&
             sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) == SQLITE_OK &&
             sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL) == SQLITE_OK &&
             sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL) == SQLITE_OK &&
             sqlite3_exec(s->db, "PRAGMA cell_size_check = ON", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        store_db_fail(s, err, errlen, "setting the connection's safety options");
        return -1;
    }
    sqlite3_progress_handler(s->db, 10000, on_progress, s);
    return 0;
}

/* How store_open opens: read-write in WAL, read-only, or read-write with a
 * rollback journal (nnl_store_open_shared). */
enum { OPEN_WAL, OPEN_READONLY, OPEN_SHARED };

static nnl_store *store_open(const char *path, int mode, int busy_ms, char *err, size_t errlen)
{
    int readonly = mode == OPEN_READONLY;
    nnl_store *s = calloc(1, sizeof *s);
    if (s) s->path = strdup(path);
    if (!s || !s->path) {
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", path);
        free(s);
        return NULL;
    }
    s->readonly = readonly;
    int memory = strcmp(path, ":memory:") == 0;
    struct stat sb;
    char why[160];
    if (readonly && !memory && stat(path, &sb) != 0) {
        store_errf(s, err, errlen, "cannot open the results database: %s", strerror(errno));
        goto fail;
    }
    /* a FIFO or device would hang SQLite's open or first read */
    if (!memory && !access(path, F_OK) && nnl_input_check(path, 0, 0, why, sizeof why)) {
        store_errf(s, err, errlen, "cannot open the results database: %s", why);
        goto fail;
    }
    if (!readonly && make_parent_dir(s, err, errlen) != 0) goto fail;

    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        store_errf(s, err, errlen, "cannot open the results database: %s",
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, busy_ms);
    if (harden(s, err, errlen)) goto fail;
    /* SQLite silently opens a file it may not write read-only; say so now
     * rather than at the first epoch. */
    if (!readonly && sqlite3_db_readonly(s->db, "main") == 1) {
        store_errf(s, err, errlen, "the file is read-only; check its permissions");
        goto fail;
    }

    int64_t objects = 0;
    int64_t v = schema_version(s, &objects, err, errlen);
    if (v < 0) goto fail;
    if (v > NNL_STORE_SCHEMA_VERSION) {
        store_errf(s, err, errlen, "schema version %lld is newer than this nnlab (%d); "
             "upgrade nnlab", (long long)v, NNL_STORE_SCHEMA_VERSION);
        goto fail;
    }
    /* Version 0 with tables in it is some other program's database: adding
     * ours to it would only hide the mistaken path. */
    if (v == 0 && objects > 0) {
        store_errf(s, err, errlen, "an SQLite database, but not nnlab's (it has %lld "
             "schema objects and no nnlab schema version); pass another path",
             (long long)objects);
        goto fail;
    }
    if (v > 0 && schema_check(s, v, err, errlen)) goto fail;
    if (readonly && v < NNL_STORE_SCHEMA_VERSION) {
        if (v == 0)
            store_errf(s, err, errlen, "holds no nnlab results yet (empty database)");
        else
            store_errf(s, err, errlen, "schema version %lld is older than this nnlab (%d); "
                 "open it once for writing (e.g. nnlab train) to upgrade it",
                 (long long)v, NNL_STORE_SCHEMA_VERSION);
        goto fail;
    }

    if (mode == OPEN_WAL && !memory && set_journal_wal(s, err, errlen) != 0) goto fail;
    /* Per connection, and only outside a transaction. NORMAL is safe in WAL:
     * a power loss may drop the last commits but never corrupts; a rollback
     * journal needs FULL for that. */
    const char *pragmas = readonly ? "PRAGMA foreign_keys = ON"
                          : mode == OPEN_SHARED ? "PRAGMA foreign_keys = ON; PRAGMA journal_mode = DELETE;"
                                                  " PRAGMA synchronous = FULL"
                                                : "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL";
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        store_db_fail(s, err, errlen, "setting connection options");
        goto fail;
    }
    if (!readonly && v < NNL_STORE_SCHEMA_VERSION &&
        (migrate(s, err, errlen) != 0 || schema_check(s, NNL_STORE_SCHEMA_VERSION, err, errlen) != 0))
        goto fail;
    return s;

fail:
    nnl_store_close(s);
    return NULL;
}

nnl_store *nnl_store_open(const char *path, char *err, size_t errlen)
{
    return store_open(path, OPEN_WAL, BUSY_TIMEOUT_MS, err, errlen);
}

nnl_store *nnl_store_open_shared(const char *path, char *err, size_t errlen)
{
    return store_open(path, OPEN_SHARED, BUSY_TIMEOUT_MS, err, errlen);
}

nnl_store *nnl_store_open_readonly(const char *path, char *err, size_t errlen)
{
    return store_open(path, OPEN_READONLY, BUSY_TIMEOUT_MS, err, errlen);
}

nnl_store *nnl_store_open_readonly_busy(const char *path, int busy_ms, char *err, size_t errlen)
{
    return store_open(path, OPEN_READONLY, busy_ms, err, errlen);
}

void nnl_store_peers_foreach(const char *dir, const char *own, int busy_ms, int (*fn)(nnl_store *peer, void *ud),
                             void *ud)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return;
    const char *own_base = own && strrchr(own, '/') ? strrchr(own, '/') + 1 : own ? own : "";
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".db") || !strcmp(de->d_name, own_base)) continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        nnl_store *peer = nnl_store_open_readonly_busy(path, busy_ms, NULL, 0);
        if (peer && fn(peer, ud)) break;
    }
    closedir(d);
}

void nnl_store_close(nnl_store *s)
{
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    /* close_v2: a statement still open (a test's, through store_int.h's
     * nnl_store_db) delays the close instead of failing it. */
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

const char *nnl_store_path(const nnl_store *s) { return s->path; }


int nnl_store_status_final(const char *st)
{
    return !strcmp(st, "finished") || !strcmp(st, "diverged") || !strcmp(st, "pruned");
}

int nnl_store_status_known(const char *st)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (st && strcmp(st, statuses[i]) == 0) return 1;
    return 0;
}
