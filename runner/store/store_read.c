/* store_read.c -- the store's read path (store.h): resolving what a user
 * typed to a run, a run's row, epochs, params and test result, listings,
 * and the checks of a whole database. Every row is checked as it is read
 * (store_row_ok): a database from elsewhere may hold anything. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

int64_t nnl_store_find_run(nnl_store *s, const char *spec, char *err, size_t errlen)
{
    const char *what = "finding a run";
    size_t n = spec ? strlen(spec) : 0;
    size_t digits = strspn(spec ? spec : "", "0123456789");
    if (n == 0) {
        store_errf(s, err, errlen, "%s: empty run id or key", what);
        return -1;
    }
    int64_t id = 0;
    if (digits == n && n < 16) {
        sqlite3_stmt *q = store_bound(s, ST_FIND_ID, err, errlen, what, "I",
                                (int64_t)strtoll(spec, NULL, 10));
        int found = q ? store_query_int(s, q, &id, err, errlen, what) : -1;
        if (found == 0) store_errf(s, err, errlen, "no run with id %s", spec);
        return found == 1 ? id : -1;
    }
    char prefix[17];
    int hex = n <= 16;
    for (size_t i = 0; hex && i < n; i++) {
        hex = isxdigit((unsigned char)spec[i]);
        prefix[i] = (char)tolower((unsigned char)spec[i]);
    }
    if (!hex) {
        store_errf(s, err, errlen, "'%s' is neither a run id nor a run key prefix "
             "(up to 16 hex digits)", spec);
        return -1;
    }
    prefix[n] = 0;

    sqlite3_stmt *q = store_bound(s, ST_FIND_PREFIX, err, errlen, what, "t", prefix);
    if (!q) return -1;
    /* Name a few of the matches so the user can pick one by id. */
    char ids[64] = "";
    size_t used = 0;
    int count = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t m = sqlite3_column_int64(q, 0);
        if (count++ == 0) id = m;
        if (count <= 5 && used < sizeof ids) {
            int w = snprintf(ids + used, sizeof ids - used, "%s%lld",
                             count > 1 ? ", " : "", (long long)m);
            if (w > 0) used += (size_t)w;
        }
    }
    if (rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    store_stmt_done(q);
    if (rc != SQLITE_DONE) return -1;
    if (count == 0) {
        store_errf(s, err, errlen, "no run key starts with '%s'", prefix);
        return -1;
    }
    if (count > 1) {
        store_errf(s, err, errlen, "run key prefix '%s' matches %d runs (ids %s%s); "
             "give more digits or a run id", prefix, count, ids, count > 5 ? ", ..." : "");
        return -1;
    }
    return id;
}

int64_t nnl_store_find_key(nnl_store *s, const char *key,
                           const char *experiment_or_null, char *err, size_t errlen)
{
    const char *what = "looking up a run key";
    int64_t id = 0;
    sqlite3_stmt *q = store_bound(s, ST_FIND_KEY, err, errlen, what, "tt", key, experiment_or_null);
    int found = q ? store_query_int(s, q, &id, err, errlen, what) : -1;
    return found < 0 ? -1 : found ? id : 0;
}

void nnl_run_row_free(nnl_run_row *r)
{
    if (!r) return;
    char **strs[] = {&r->key, &r->name, &r->experiment, &r->status, &r->config,
                     &r->created, &r->started, &r->finished, &r->host,
                     &r->version, &r->git_commit, &r->error, &r->checkpoint_dir};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

int nnl_store_run_get(nnl_store *s, int64_t run, nnl_run_row *out,
                      char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "reading run %lld", (long long)run);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = store_bound(s, ST_RUN_GET, err, errlen, what, "I", run);
    if (!q) return -1;
    int rc = sqlite3_step(q), oom = 0, bad = 0;
    /* id key name experiment status config seed created started finished
     * host pid version git_commit nparams epochs_done best_epoch
     * best_val_acc test_loss test_acc diverged_epoch error checkpoint_dir */
    char row[48];
    snprintf(row, sizeof row, "run %lld", (long long)run);
    if (rc == SQLITE_ROW) bad = store_row_ok(s, q, "IKnnScinnnninnpEearaenn", row, err, errlen);
    if (rc == SQLITE_ROW && !bad) {
        out->id = sqlite3_column_int64(q, 0);
        out->key = store_col_strdup(q, 1, &oom);
        out->name = store_col_strdup(q, 2, &oom);
        out->experiment = store_col_strdup(q, 3, &oom);
        out->status = store_col_strdup(q, 4, &oom);
        out->config = store_col_strdup(q, 5, &oom);
        out->seed = (uint64_t)sqlite3_column_int64(q, 6);
        out->created = store_col_strdup(q, 7, &oom);
        out->started = store_col_strdup(q, 8, &oom);
        out->finished = store_col_strdup(q, 9, &oom);
        out->host = store_col_strdup(q, 10, &oom);
        out->pid = sqlite3_column_int64(q, 11);
        out->version = store_col_strdup(q, 12, &oom);
        out->git_commit = store_col_strdup(q, 13, &oom);
        out->nparams = sqlite3_column_int64(q, 14);
        out->epochs_done = sqlite3_column_int(q, 15);
        out->best_epoch = sqlite3_column_int(q, 16);
        out->best_val_acc = store_col_double(q, 17);
        out->test_loss = store_col_double(q, 18);
        out->test_acc = store_col_double(q, 19);
        out->diverged_epoch = sqlite3_column_int(q, 20);
        out->error = store_col_strdup(q, 21, &oom);
        out->checkpoint_dir = store_col_strdup(q, 22, &oom);
    } else if (rc == SQLITE_DONE) {
        store_errf(s, err, errlen, "no run with id %lld", (long long)run);
    } else if (rc != SQLITE_ROW) {
        store_db_fail(s, err, errlen, what);
    }
    store_stmt_done(q);
    if (rc == SQLITE_ROW && oom) store_errf(s, err, errlen, "%s: out of memory", what);
    if (rc != SQLITE_ROW || oom || bad) {
        nnl_run_row_free(out);
        return -1;
    }
    return 0;
}


int nnl_store_epochs_get(nnl_store *s, int64_t run, nnl_epoch_row **rows,
                         char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "reading the epochs of run %lld", (long long)run);
    *rows = NULL;
    sqlite3_stmt *q = store_prepare(s, "SELECT epoch, train_loss, train_acc, val_loss, val_acc,"
                              " lr, seconds FROM epochs WHERE run_id = ?1 ORDER BY epoch",
                              err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_int64(q, 1, run);
    nnl_epoch_row *r = NULL;
    int n = 0, cap = 0, rc, bad = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        /* epoch train_loss train_acc val_loss val_acc lr seconds: an epoch
         * counts from 1, each once (the report loops up to the last one) */
        if (store_row_ok(s, q, "Erararr", what, err, errlen)) { bad = 1; break; }
        int e = sqlite3_column_int(q, 0);
        if (e < 1 || (n && e <= r[n - 1].epoch)) {
            store_damaged(s, err, errlen, "%s: epoch %d %s", what, e, e < 1 ? "(epochs count from 1)" : "comes twice");
            bad = 1;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            nnl_epoch_row *g = realloc(r, (size_t)cap * sizeof *r);
            if (!g) { rc = SQLITE_NOMEM; break; }
            r = g;
        }
        r[n++] = (nnl_epoch_row){
            .epoch = sqlite3_column_int(q, 0),
            .train_loss = store_col_double(q, 1), .train_acc = store_col_double(q, 2),
            .val_loss = store_col_double(q, 3), .val_acc = store_col_double(q, 4),
            .lr = store_col_double(q, 5), .seconds = store_col_double(q, 6),
        };
    }
    if (bad) rc = SQLITE_ERROR;
    else if (rc == SQLITE_NOMEM) store_errf(s, err, errlen, "%s: out of memory", what);
    else if (rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        free(r);
        return -1;
    }
    *rows = r;
    return n;
}

int nnl_store_runs_foreach(nnl_store *s, const char *experiment,
                           int (*fn)(const nnl_run_summary *r, void *ud),
                           void *ud, char *err, size_t errlen)
{
    const char *what = "listing runs";
    sqlite3_stmt *q = store_prepare(s, "SELECT id, key, name, experiment, status, created,"
                              " finished, error, epochs_done, best_val_acc, test_acc"
                              " FROM runs WHERE ?1 IS NULL OR experiment = ?1 ORDER BY id",
                              err, errlen, what);
    if (!q) return -1;
    if (experiment) sqlite3_bind_text(q, 1, experiment, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char row[48];
        snprintf(row, sizeof row, "run %lld", (long long)sqlite3_column_int64(q, 0));
        if (store_row_ok(s, q, "IKnnSnnnEaa", row, err, errlen)) {
            sqlite3_finalize(q);
            return -1;
        }
        nnl_run_summary r = {
            .id = sqlite3_column_int64(q, 0),
            .key = (const char *)sqlite3_column_text(q, 1),
            .name = (const char *)sqlite3_column_text(q, 2),
            .experiment = (const char *)sqlite3_column_text(q, 3),
            .status = (const char *)sqlite3_column_text(q, 4),
            .created = (const char *)sqlite3_column_text(q, 5),
            .finished = (const char *)sqlite3_column_text(q, 6),
            .error = (const char *)sqlite3_column_text(q, 7),
            .epochs_done = sqlite3_column_int(q, 8),
            .best_val_acc = store_col_double(q, 9),
            .test_acc = store_col_double(q, 10),
        };
        if (fn(&r, ud)) { rc = SQLITE_DONE; break; }
    }
    if (rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int nnl_store_params_foreach(nnl_store *s, int64_t run,
                             void (*fn)(const char *key, const char *value, void *ud),
                             void *ud, char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "reading the params of run %lld", (long long)run);
    sqlite3_stmt *q = store_prepare(s, "SELECT key, value FROM params WHERE run_id = ?1"
                              " ORDER BY key", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_int64(q, 1, run);
    int rc, bad = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (store_row_ok(s, q, "NN", what, err, errlen)) { bad = 1; break; }
        fn((const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1), ud);
    }
    if (bad) rc = SQLITE_ERROR;
    else if (rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

typedef struct { const char *key; char *out; size_t n; int found; } param_find;

static void find_param(const char *key, const char *value, void *ud)
{
    param_find *p = ud;
    if (strcmp(key, p->key)) return;
    snprintf(p->out, p->n, "%s", value ? value : "");
    p->found = 1;
}

int nnl_store_param_get(nnl_store *s, int64_t run, const char *key, char *out, size_t n,
                        char *err, size_t errlen)
{
    param_find f = {key, out, n, 0};
    if (n) out[0] = 0;
    if (nnl_store_params_foreach(s, run, find_param, &f, err, errlen)) return -1;
    return f.found;
}

int nnl_store_test_get(nnl_store *s, int64_t run, int64_t *confusion,
                       double *class_acc, int cap, char *err, size_t errlen)
{
    char what[80];
    snprintf(what, sizeof what, "reading the test result of run %lld", (long long)run);
    int64_t maxlabel = -1, nrows = 0;
    sqlite3_stmt *q = store_prepare(s, "SELECT max(m), count(*) FROM (SELECT max(true_label, pred_label) AS m"
                              " FROM confusion WHERE run_id = ?1"
                              " UNION ALL SELECT label FROM class_acc WHERE run_id = ?1)", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_int64(q, 1, run);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(q, 0) == SQLITE_INTEGER) maxlabel = sqlite3_column_int64(q, 0);
        nrows = sqlite3_column_int64(q, 1);
    } else {
        store_db_fail(s, err, errlen, what);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) return -1;
    if (nrows == 0) return 0;
    /* the labels size the caller's arrays: checked before any is used */
    if (maxlabel < 0) return store_damaged(s, err, errlen, "%s: no class label is a whole number from 0", what);
    if (maxlabel >= cap) {
        store_errf(s, err, errlen, "%s: it has %lld classes, more than the %d the caller "
             "has room for", what, (long long)maxlabel + 1, cap);
        return -1;
    }
    int n = (int)maxlabel + 1, bad = 0;
    if (confusion) memset(confusion, 0, (size_t)n * (size_t)n * sizeof *confusion);
    for (int c = 0; class_acc && c < n; c++) class_acc[c] = NAN;

    /* every row is read and checked, also when the caller wants only part */
    q = store_prepare(s, "SELECT true_label, pred_label, count FROM confusion WHERE run_id = ?1", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_int64(q, 1, run);
    while (!bad && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (store_row_ok(s, q, "IIP", what, err, errlen)) { bad = 1; break; }
        int64_t t = sqlite3_column_int64(q, 0), p = sqlite3_column_int64(q, 1);
        if (t < 0 || t >= n || p < 0 || p >= n) {
            store_damaged(s, err, errlen, "%s: a confusion row with labels %lld, %lld (expected 0 to %d)", what,
                    (long long)t, (long long)p, n - 1);
            bad = 1;
            break;
        }
        if (confusion) confusion[t * n + p] = sqlite3_column_int64(q, 2);
    }
    if (!bad && rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    if (bad || rc != SQLITE_DONE) return -1;

    q = store_prepare(s, "SELECT label, accuracy FROM class_acc WHERE run_id = ?1", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_int64(q, 1, run);
    while (!bad && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (store_row_ok(s, q, "Ia", what, err, errlen)) { bad = 1; break; }
        int64_t c = sqlite3_column_int64(q, 0);
        if (c < 0 || c >= n) {
            store_damaged(s, err, errlen, "%s: a class_acc row with label %lld (expected 0 to %d)", what,
                    (long long)c, n - 1);
            bad = 1;
            break;
        }
        if (class_acc) class_acc[c] = store_col_double(q, 1);
    }
    if (!bad && rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    return bad || rc != SQLITE_DONE ? -1 : n;
}

/* nnl_store_check's callback for params: reading them checks them */
static void param_seen(const char *key, const char *value, void *ud)
{
    (void)key;
    (void)value;
    (void)ud;
}

int nnl_store_check_run(nnl_store *s, int64_t run, char *err, size_t errlen)
{
    nnl_run_row r;
    nnl_epoch_row *ep = NULL;
    if (nnl_store_run_get(s, run, &r, err, errlen)) return -1;
    nnl_run_row_free(&r);
    int rc = nnl_store_epochs_get(s, run, &ep, err, errlen) < 0 ||
             nnl_store_test_get(s, run, NULL, NULL, INT32_MAX, err, errlen) < 0 ||
             nnl_store_params_foreach(s, run, param_seen, NULL, err, errlen) ? -1 : 0;
    free(ep);
    return rc;
}

int nnl_store_check(nnl_store *s, char *err, size_t errlen)
{
    /* the page structure and the NOT NULL and CHECK constraints first */
    sqlite3_stmt *q = store_prepare(s, "PRAGMA quick_check", err, errlen, "checking the database");
    if (!q) return -1;
    int rc = sqlite3_step(q);
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    if (rc == SQLITE_ROW && (!v || strcmp(v, "ok"))) {
        char msg[200];
        store_clip_name(v ? v : "?", msg, sizeof msg);
        store_damaged(s, err, errlen, "PRAGMA quick_check says: %s", msg);
        rc = SQLITE_ERROR;
    } else if (rc != SQLITE_ROW) {
        store_db_fail(s, err, errlen, "checking the database");
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) return -1;
    q = store_prepare(s, "SELECT id FROM runs ORDER BY id", err, errlen, "checking the database");
    if (!q) return -1;
    int bad = 0;
    while (!bad && (rc = sqlite3_step(q)) == SQLITE_ROW)
        bad = nnl_store_check_run(s, sqlite3_column_int64(q, 0), err, errlen) != 0;
    if (!bad && rc != SQLITE_DONE) store_db_fail(s, err, errlen, "checking the database");
    sqlite3_finalize(q);
    return bad || rc != SQLITE_DONE ? -1 : 0;
}

int nnl_store_points_foreach(nnl_store *s, const char *experiment,
                             int (*fn)(const nnl_point_run *r, void *ud), void *ud,
                             char *err, size_t errlen)
{
    char what[300];
    snprintf(what, sizeof what, "reading the runs of experiment '%.200s'", experiment);
    sqlite3_stmt *q = store_prepare(s, "SELECT r.id, coalesce(p.value, r.name, ''), r.status, r.test_acc,"
                              " r.best_val_acc FROM runs r"
                              " LEFT JOIN params p ON p.run_id = r.id AND p.key = 'sweep.point'"
                              " WHERE r.experiment = ?1 ORDER BY r.id", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_text(q, 1, experiment, -1, SQLITE_STATIC);
    int rc, bad = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char row[48];
        snprintf(row, sizeof row, "run %lld", (long long)sqlite3_column_int64(q, 0));
        if (store_row_ok(s, q, "INSaa", row, err, errlen)) { bad = 1; break; }
        nnl_point_run r = {
            .id = sqlite3_column_int64(q, 0),
            .point = (const char *)sqlite3_column_text(q, 1),
            .status = (const char *)sqlite3_column_text(q, 2),
            .test_acc = store_col_double(q, 3),
            .best_val_acc = store_col_double(q, 4),
        };
        if (fn(&r, ud)) { rc = SQLITE_DONE; break; }
    }
    if (!bad && rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    return bad || rc != SQLITE_DONE ? -1 : 0;
}


int nnl_store_has_experiment(nnl_store *s, const char *experiment, char *err, size_t errlen)
{
    const char *what = "looking for an experiment";
    sqlite3_stmt *q = store_prepare(s, "SELECT 1 FROM runs WHERE experiment = ?1 LIMIT 1", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_text(q, 1, experiment, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) store_db_fail(s, err, errlen, what);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int nnl_store_running_ids(nnl_store *s, const char *host, int64_t pid, int64_t *ids, int cap,
                          char *err, size_t errlen)
{
    const char *what = "listing the runs marked running";
    sqlite3_stmt *q = store_prepare(s, "SELECT id FROM runs WHERE status = 'running'"
                                    " AND (?1 IS NULL OR host = ?1) AND (?2 = 0 OR pid = ?2) ORDER BY id",
                                    err, errlen, what);
    if (!q) return -1;
    if (host) sqlite3_bind_text(q, 1, host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, pid);
    int n = 0, rc = SQLITE_DONE;
    while (n < cap && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (store_row_ok(s, q, "I", what, err, errlen)) { rc = SQLITE_ERROR; n = -1; break; }
        ids[n++] = sqlite3_column_int64(q, 0);
    }
    if (n >= 0 && n < cap && rc != SQLITE_DONE) {
        store_db_fail(s, err, errlen, what);
        n = -1;
    }
    sqlite3_finalize(q);
    return n;
}

int nnl_store_key_state(nnl_store *s, const char *key, const char *experiment, nnl_key_state *out,
                        char *err, size_t errlen)
{
    const char *what = "reading the newest run of a key";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = store_prepare(s, "SELECT status, epochs_done, test_acc IS NOT NULL FROM runs"
                                    " WHERE key = ?1 AND experiment = ?2 ORDER BY id DESC LIMIT 1",
                                    err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, experiment, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *st = (const char *)sqlite3_column_text(q, 0);
        snprintf(out->status, sizeof out->status, "%s", st ? st : "");
        out->epochs_done = sqlite3_column_int(q, 1);
        out->has_test = sqlite3_column_int(q, 2);
    } else if (rc != SQLITE_DONE) {
        store_db_fail(s, err, errlen, what);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int nnl_store_epoch_val_accs(nnl_store *s, const char *experiment, int epoch,
                             int (*fn)(const char *key, double val_acc, void *ud), void *ud,
                             char *err, size_t errlen)
{
    const char *what = "reading the validation accuracies of an epoch";
    sqlite3_stmt *q = store_prepare(s, "SELECT r.key, e.val_acc FROM epochs e JOIN runs r ON r.id = e.run_id"
                                    " WHERE r.experiment = ?1 AND r.status = 'finished' AND e.epoch = ?2"
                                    " AND e.val_acc IS NOT NULL", err, errlen, what);
    if (!q) return -1;
    sqlite3_bind_text(q, 1, experiment, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, epoch);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(q, 0);
        if (fn(k ? k : "", sqlite3_column_double(q, 1), ud)) break;
    }
    sqlite3_finalize(q);
    return 0;
}
