/* store_merge.c -- a shard database merged into another (store.h): the
 * shard is attached to the main connection, and in one transaction each of
 * its runs is added, or copied over main's copy of the same key and
 * experiment when the caller's rule says it is the better copy, with its
 * params, epochs and test result. Which copy wins is the caller's (a Slurm
 * sweep's, slurm_merge.c); which columns a run has is the store's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

#define RUN_COLS "key, name, experiment, status, config, seed, created, started, finished, host, pid, version," \
                 " git_commit, nparams, epochs_done, best_epoch, best_val_acc, test_loss, test_acc," \
                 " diverged_epoch, error"

static int exec_bound(sqlite3 *db, const char *sql, int64_t a, int64_t b, const char *t) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(q, 1, a);
    sqlite3_bind_int64(q, 2, b);
    if (t) sqlite3_bind_text(q, 3, t, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* the run's params, epochs and test result from the shard's run `from`
 * into main's run `to`, replacing what main had */
static int copy_children(sqlite3 *db, int64_t from, int64_t to) {
    static const char *const sql[] = {
        "DELETE FROM main.params WHERE run_id = ?2",
        "DELETE FROM main.epochs WHERE run_id = ?2",
        "DELETE FROM main.confusion WHERE run_id = ?2",
        "DELETE FROM main.class_acc WHERE run_id = ?2",
        "INSERT INTO main.params(run_id, key, value) SELECT ?2, key, value FROM shard.params WHERE run_id = ?1",
        "INSERT INTO main.epochs(run_id, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds)"
        " SELECT ?2, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds FROM shard.epochs WHERE run_id = ?1",
        "INSERT INTO main.confusion(run_id, true_label, pred_label, count)"
        " SELECT ?2, true_label, pred_label, count FROM shard.confusion WHERE run_id = ?1",
        "INSERT INTO main.class_acc(run_id, label, accuracy) SELECT ?2, label, accuracy FROM shard.class_acc"
        " WHERE run_id = ?1",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (exec_bound(db, sql[i], from, to, NULL)) return -1;
    return 0;
}

/* a row of the runs queries below: id, key, status, experiment, finished,
 * error, epochs_done, has a test result [, checkpoint_dir]; its strings are
 * the statement's, valid until it steps again */
static void merge_run_read(sqlite3_stmt *q, nnl_merge_run *r) {
    /* a shard's rows were checked (nnl_store_check); main's are read as
     * carefully, NULLs as "" */
    const char *key = (const char *)sqlite3_column_text(q, 1), *status = (const char *)sqlite3_column_text(q, 2);
    r->id = sqlite3_column_int64(q, 0);
    r->key = key ? key : "";
    r->status = status ? status : "";
    r->experiment = (const char *)sqlite3_column_text(q, 3);
    r->finished = (const char *)sqlite3_column_text(q, 4);
    r->error = (const char *)sqlite3_column_text(q, 5);
    r->epochs_done = sqlite3_column_int(q, 6);
    r->has_test = sqlite3_column_int(q, 7);
    r->checkpoint_dir = sqlite3_column_count(q) > 8 ? (const char *)sqlite3_column_text(q, 8) : NULL;
}

static int merge_runs(nnl_store *main_db, nnl_merge_decide decide, void *ud, nnl_merge_counts *c) {
    sqlite3 *db = main_db->db;
    sqlite3_stmt *ls, *find;
    if (sqlite3_prepare_v2(db, "SELECT id, key, status, experiment, finished, error, epochs_done, test_acc IS NOT NULL"
                               " FROM shard.runs ORDER BY id", -1, &ls, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT id, key, status, experiment, finished, error, epochs_done,"
                               " test_acc IS NOT NULL, checkpoint_dir FROM main.runs"
                               " WHERE key = ?1 AND experiment IS ?2 ORDER BY id DESC LIMIT 1",
                           -1, &find, NULL) != SQLITE_OK) {
        sqlite3_finalize(ls);
        return -1;
    }
    int rc = 0, r;
    while (!rc && (r = sqlite3_step(ls)) == SQLITE_ROW) {
        nnl_merge_run s = {0}, m = {0};
        merge_run_read(ls, &s);
        sqlite3_bind_text(find, 1, s.key, -1, SQLITE_STATIC);
        if (s.experiment) sqlite3_bind_text(find, 2, s.experiment, -1, SQLITE_STATIC);
        else sqlite3_bind_null(find, 2);
        int fr = sqlite3_step(find);
        if (fr == SQLITE_ROW) merge_run_read(find, &m);
        else if (fr != SQLITE_DONE) rc = -1;
        char ck[4096];
        int copy = rc ? 0 : decide(&s, m.id ? &m : NULL, ck, sizeof ck, ud);
        sqlite3_reset(find); /* m's strings end here, before main.runs is written */
        if (!rc && !m.id) {
            rc = exec_bound(db, "INSERT INTO main.runs(" RUN_COLS ", checkpoint_dir) SELECT " RUN_COLS
                                ", ?3 FROM shard.runs WHERE id = ?1", s.id, 0, ck);
            if (!rc) rc = copy_children(db, s.id, sqlite3_last_insert_rowid(db));
            c->added += !rc;
        } else if (!rc && copy) {
            rc = exec_bound(db, "UPDATE main.runs SET (" RUN_COLS ", checkpoint_dir) = (SELECT " RUN_COLS
                                ", ?3 FROM shard.runs WHERE id = ?1) WHERE id = ?2", s.id, m.id, ck);
            if (!rc) rc = copy_children(db, s.id, m.id);
            c->updated += !rc;
        } else if (!rc) {
            c->unchanged++;
        }
    }
    if (!rc && r != SQLITE_DONE) rc = -1;
    sqlite3_finalize(ls);
    sqlite3_finalize(find);
    return rc;
}

int nnl_store_merge(nnl_store *main_db, nnl_store *shard, nnl_merge_decide decide, void *ud, nnl_merge_counts *c,
                    char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    sqlite3 *db = main_db->db;
    const char *abs = nnl_store_path(shard);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS shard", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, abs, -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(q);
    }
    if (rc != SQLITE_OK) {
        store_errf(main_db, err, errlen, "attaching %s: %s", abs, sqlite3_errmsg(db));
        return -1;
    }
    if (nnl_store_begin(main_db, err, errlen)) rc = -1;
    else if (merge_runs(main_db, decide, ud, c)) {
        store_errf(main_db, err, errlen, "merging %s: %s", abs, sqlite3_errmsg(db));
        nnl_store_rollback(main_db, NULL, 0);
        rc = -1;
    } else {
        rc = nnl_store_commit(main_db, err, errlen);
    }
    sqlite3_exec(db, "DETACH DATABASE shard", NULL, NULL, NULL);
    if (rc) memset(c, 0, sizeof *c);
    return rc ? -1 : 0;
}
