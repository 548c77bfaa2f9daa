/* store_write.c -- the store's write path (store.h): new runs, params,
 * epochs, statuses, test results, and the queue that sweep workers share.
 * Every write is one short BEGIN IMMEDIATE transaction (a savepoint inside
 * a caller's group), so concurrent writers queue rather than fail. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "store_int.h"
#include "version.h"

#ifndef NNLAB_VERSION
#define NNLAB_VERSION "unknown"
#endif

static int is_terminal(const char *st)
{
    return strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
}

static int check_status(const nnl_store *s, const char *st, char *err, size_t errlen,
                        const char *what)
{
    if (nnl_store_status_known(st)) return 0;
    store_errf(s, err, errlen, "%s: unknown run status '%s' (expected queued, running, "
         "finished, failed, diverged, interrupted or pruned)", what, st ? st : "(null)");
    return -1;
}

/* The hostname, or NULL when the system will not say. */
static const char *host_name(char *buf, size_t n)
{
    if (gethostname(buf, n) != 0) return NULL;
    buf[n - 1] = 0;
    return buf;
}

/* A run that does not exist shows up as a foreign key failure on insert;
 * name the run instead. */
static void name_missing_run(const nnl_store *s, int rc, int64_t run,
                             char *err, size_t errlen, const char *what)
{
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        store_errf(s, err, errlen, "%s: no run with id %lld", what, (long long)run);
}

int64_t nnl_store_run_create(nnl_store *s, const nnl_run_info *info,
                             char *err, size_t errlen)
{
    const char *what = "creating a run";
    char key[17];
    size_t klen = info->key ? strlen(info->key) : 0;
    int hex = klen == 16;
    for (size_t i = 0; hex && i < klen; i++) {
        hex = isxdigit((unsigned char)info->key[i]);
        key[i] = (char)tolower((unsigned char)info->key[i]);
    }
    if (!hex) {
        store_errf(s, err, errlen, "%s: run key '%s' is not 16 hex digits", what,
             info->key ? info->key : "(null)");
        return -1;
    }
    key[16] = 0;
    const char *status = info->status ? info->status : "running";
    if (check_status(s, status, err, errlen, what) != 0) return -1;

    char host[256];
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_bound(s, ST_RUN_INSERT, err, errlen, what, "tttttItIttIt",
                            key, info->name, info->experiment, status, info->config,
                            (int64_t)info->seed, host_name(host, sizeof host),
                            (int64_t)getpid(), NNLAB_VERSION,
                            nnl_git_commit[0] ? nnl_git_commit : NULL,
                            info->nparams, info->checkpoint_dir);
    int ok = q && store_exec(s, q, err, errlen, what) == 0;
    int64_t id = ok ? sqlite3_last_insert_rowid(s->db) : -1;
    return store_tx_end(s, tx, ok, err, errlen, what) == 0 ? id : -1;
}

int nnl_store_param_add(nnl_store *s, int64_t run, const char *key,
                        const char *value, char *err, size_t errlen)
{
    char what[160];
    snprintf(what, sizeof what, "recording param '%s' of run %lld",
             key ? key : "(null)", (long long)run);
    if (!key || !*key) {
        store_errf(s, err, errlen, "%s: the key is empty", what);
        return -1;
    }
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_bound(s, ST_PARAM_PUT, err, errlen, what, "Itt", run, key, value);
    int rc = q ? store_exec(s, q, err, errlen, what) : -1;
    name_missing_run(s, rc, run, err, errlen, what);
    return store_tx_end(s, tx, rc == 0, err, errlen, what);
}

int nnl_store_epoch_add(nnl_store *s, int64_t run, const nnl_epoch_row *row,
                        char *err, size_t errlen)
{
    char what[96];
    snprintf(what, sizeof what, "writing epoch %d of run %lld", row->epoch, (long long)run);
    if (row->epoch < 1) {
        store_errf(s, err, errlen, "%s: epochs count from 1", what);
        return -1;
    }
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_bound(s, ST_EPOCH_PUT, err, errlen, what, "Iidddddd", run,
                            row->epoch, row->train_loss, row->train_acc,
                            row->val_loss, row->val_acc, row->lr, row->seconds);
    int rc = q ? store_exec(s, q, err, errlen, what) : -1;
    name_missing_run(s, rc, run, err, errlen, what);
    if (rc == 0) {
        q = store_bound(s, ST_EPOCH_TRIM, err, errlen, what, "Ii", run, row->epoch);
        rc = q ? store_exec(s, q, err, errlen, what) : -1;
    }
    if (rc == 0) {
        q = store_bound(s, ST_EPOCH_SUMMARY, err, errlen, what, "Ii", run, row->epoch);
        rc = q ? store_exec(s, q, err, errlen, what) : -1;
    }
    return store_tx_end(s, tx, rc == 0, err, errlen, what);
}

/* Runs a bound UPDATE of one run inside its own transaction; a run that
 * does not exist is an error. */
static int update_run(nnl_store *s, int tx, sqlite3_stmt *q, int64_t run,
                      char *err, size_t errlen, const char *what)
{
    int ok = q && store_exec(s, q, err, errlen, what) == 0;
    if (ok && sqlite3_changes(s->db) == 0) {
        store_errf(s, err, errlen, "%s: no run with id %lld", what, (long long)run);
        ok = 0;
    }
    return store_tx_end(s, tx, ok, err, errlen, what);
}

int nnl_store_run_status(nnl_store *s, int64_t run, const char *status,
                         const char *error_or_null, char *err, size_t errlen)
{
    char what[96];
    snprintf(what, sizeof what, "setting the status of run %lld", (long long)run);
    if (check_status(s, status, err, errlen, what) != 0) return -1;
    /* one line, as the readers require of every text column: a message
     * that quotes a path or a name with a control character must not make
     * nnlab's own database read as damaged */
    char *error = error_or_null ? strdup(error_or_null) : NULL;
    if (error_or_null && !error) {
        store_errf(s, err, errlen, "%s: out of memory", what);
        return -1;
    }
    for (char *p = error; p && *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f) *p = ' ';
    char host[256];
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) { free(error); return -1; }
    sqlite3_stmt *q = store_bound(s, ST_RUN_STATUS, err, errlen, what, "IttitI", run,
                            status, error, is_terminal(status),
                            host_name(host, sizeof host), (int64_t)getpid());
    int rc = update_run(s, tx, q, run, err, errlen, what);
    free(error);
    return rc;
}

int nnl_store_run_checkpoint_dir(nnl_store *s, int64_t run, const char *dir,
                                 char *err, size_t errlen)
{
    char what[96];
    snprintf(what, sizeof what, "recording the checkpoint folder of run %lld", (long long)run);
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_bound(s, ST_RUN_CKDIR, err, errlen, what, "It", run, dir);
    return update_run(s, tx, q, run, err, errlen, what);
}

int nnl_store_run_diverged(nnl_store *s, int64_t run, int epoch,
                           char *err, size_t errlen)
{
    char what[96];
    snprintf(what, sizeof what, "marking run %lld diverged", (long long)run);
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_bound(s, ST_RUN_DIVERGED, err, errlen, what, "Ii", run, epoch);
    return update_run(s, tx, q, run, err, errlen, what);
}

int nnl_store_test_result(nnl_store *s, int64_t run, double test_loss,
                          double test_acc, const int64_t *confusion,
                          const double *class_acc, int nclasses,
                          char *err, size_t errlen)
{
    char what[96];
    snprintf(what, sizeof what, "writing the test result of run %lld", (long long)run);
    if (nclasses < 1 || !confusion) {
        store_errf(s, err, errlen, "%s: needs a confusion matrix of at least one class "
             "(got %d classes)", what, nclasses);
        return -1;
    }
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_bound(s, ST_TEST_RUN, err, errlen, what, "Idd", run, test_loss, test_acc);
    int ok = q && store_exec(s, q, err, errlen, what) == 0;
    if (ok && sqlite3_changes(s->db) == 0) {
        store_errf(s, err, errlen, "%s: no run with id %lld", what, (long long)run);
        ok = 0;
    }
    if (ok) {
        q = store_bound(s, ST_CONF_CLEAR, err, errlen, what, "I", run);
        ok = q && store_exec(s, q, err, errlen, what) == 0;
    }
    if (ok) {
        q = store_bound(s, ST_CACC_CLEAR, err, errlen, what, "I", run);
        ok = q && store_exec(s, q, err, errlen, what) == 0;
    }
    /* Every cell, zeros included, so the matrix's size reads back even when
     * the last classes were never seen or predicted. */
    for (int t = 0; ok && t < nclasses; t++)
        for (int p = 0; ok && p < nclasses; p++) {
            q = store_bound(s, ST_CONF_PUT, err, errlen, what, "IiiI", run, t, p,
                      confusion[(size_t)t * (size_t)nclasses + (size_t)p]);
            ok = q && store_exec(s, q, err, errlen, what) == 0;
        }
    for (int c = 0; ok && class_acc && c < nclasses; c++) {
        q = store_bound(s, ST_CACC_PUT, err, errlen, what, "Iid", run, c, class_acc[c]);
        ok = q && store_exec(s, q, err, errlen, what) == 0;
    }
    return store_tx_end(s, tx, ok, err, errlen, what);
}

int64_t nnl_store_claim_queued(nnl_store *s, const char *experiment,
                               char *err, size_t errlen)
{
    const char *what = "claiming a queued run";
    char host[256];
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    int64_t id = 0;
    sqlite3_stmt *q = store_bound(s, ST_CLAIM_PICK, err, errlen, what, "t", experiment);
    int found = q ? store_query_int(s, q, &id, err, errlen, what) : -1;
    if (found == 1) {
        q = store_bound(s, ST_RUN_STATUS, err, errlen, what, "IttitI", id, "running",
                  (const char *)NULL, 0, host_name(host, sizeof host), (int64_t)getpid());
        if (!q || store_exec(s, q, err, errlen, what) != 0) found = -1;
    }
    if (store_tx_end(s, tx, found >= 0, err, errlen, what) != 0) return -1;
    return found == 1 ? id : 0;
}


int nnl_store_run_drop(nnl_store *s, int64_t run, char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "dropping queued run %lld", (long long)run);
    int tx = store_tx_begin(s, err, errlen, what);
    if (tx < 0) return -1;
    sqlite3_stmt *q = store_prepare(s, "DELETE FROM runs WHERE id = ?1", err, errlen, what);
    int ok = q != NULL;
    if (ok) {
        sqlite3_bind_int64(q, 1, run);
        if (sqlite3_step(q) != SQLITE_DONE) {
            store_db_fail(s, err, errlen, what);
            ok = 0;
        }
        sqlite3_finalize(q);
    }
    return store_tx_end(s, tx, ok, err, errlen, what);
}
