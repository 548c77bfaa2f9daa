/* slurm_merge.c -- `nnlab merge`: the shard databases of a Slurm sweep
 * into the main database, one transaction per shard (nnl_merge_shard in
 * slurm.h says which copy of a run wins). */
#define _GNU_SOURCE
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include "names.h"
#include "slurm_int.h"
#include "train.h"

static const char usage_merge[] =
    "usage: nnlab merge [--db PATH] SHARD.db...\n"
    "\n"
    "Merges shard databases (results/slurm/EXPERIMENT/task-*.db, written by\n"
    "'nnlab sweep --slurm') into the main database, one transaction per shard.\n"
    "Runs are matched by key and experiment: a run the database lacks is added\n"
    "with its params, epochs and test result; one it has is replaced only by a\n"
    "more complete copy (finished, then more epochs). Merging twice adds nothing.\n"
    "  --db PATH   the main database (default " DEFAULT_DB ")\n";

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

typedef struct {
    int64_t id;
    char key[17], status[16];
    char *experiment, *finished, *error, *ckdir;
    int epochs, has_test;
} merge_row;

static char *dup_col(sqlite3_stmt *q, int i) {
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? strdup((const char *)t) : NULL;
}

static void merge_row_free(merge_row *r) {
    free(r->experiment);
    free(r->finished);
    free(r->error);
    free(r->ckdir);
}

/* a row of the runs queries below: id, key, status, experiment, finished,
 * error, epochs_done, has a test result [, checkpoint_dir] */
static void merge_row_read(sqlite3_stmt *q, merge_row *r) {
    /* a shard's rows were checked (nnl_store_check); main's are read as
     * carefully, NULLs as "" */
    const char *key = (const char *)sqlite3_column_text(q, 1), *status = (const char *)sqlite3_column_text(q, 2);
    r->id = sqlite3_column_int64(q, 0);
    snprintf(r->key, sizeof r->key, "%s", key ? key : "");
    snprintf(r->status, sizeof r->status, "%s", status ? status : "");
    r->experiment = dup_col(q, 3);
    r->finished = dup_col(q, 4);
    r->error = dup_col(q, 5);
    r->epochs = sqlite3_column_int(q, 6);
    r->has_test = sqlite3_column_int(q, 7);
    if (sqlite3_column_count(q) > 8) r->ckdir = dup_col(q, 8);
}

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int merge_runs(nnl_store *shard, sqlite3 *db, nnl_merge_counts *c) {
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
        merge_row s = {0}, m = {0};
        merge_row_read(ls, &s);
        char ck[NNL_PATH_MAX];
        nnl_checkpoint_dir(shard, s.id, ck, sizeof ck);
        sqlite3_bind_text(find, 1, s.key, -1, SQLITE_STATIC);
        if (s.experiment) sqlite3_bind_text(find, 2, s.experiment, -1, SQLITE_STATIC);
        else sqlite3_bind_null(find, 2);
        int fr = sqlite3_step(find);
        if (fr == SQLITE_ROW) {
            merge_row_read(find, &m);
        } else if (fr != SQLITE_DONE) rc = -1;
        sqlite3_reset(find);
        if (!rc && !m.id) {
            rc = exec_bound(db, "INSERT INTO main.runs(" RUN_COLS ", checkpoint_dir) SELECT " RUN_COLS
                                ", ?3 FROM shard.runs WHERE id = ?1", s.id, 0, ck);
            if (!rc) rc = copy_children(db, s.id, sqlite3_last_insert_rowid(db));
            c->added += !rc;
        } else if (!rc) {
            int rs = sl_run_rank(s.status, s.epochs, s.has_test), rm = sl_run_rank(m.status, m.epochs, m.has_test);
            /* the same copy, merged before, that has moved on since */
            int newer = rs == rm && same_text(m.ckdir, ck) &&
                        (strcmp(s.status, m.status) || !same_text(s.finished, m.finished) ||
                         !same_text(s.error, m.error));
            if (rs > rm || newer) {
                rc = exec_bound(db, "UPDATE main.runs SET (" RUN_COLS ", checkpoint_dir) = (SELECT " RUN_COLS
                                    ", ?3 FROM shard.runs WHERE id = ?1) WHERE id = ?2", s.id, m.id, ck);
                if (!rc) rc = copy_children(db, s.id, m.id);
                c->updated += !rc;
            } else {
                c->unchanged++;
            }
        }
        merge_row_free(&s);
        merge_row_free(&m);
    }
    if (!rc && r != SQLITE_DONE) rc = -1;
    sqlite3_finalize(ls);
    sqlite3_finalize(find);
    return rc;
}

int nnl_merge_shard(nnl_store *main_db, const char *shard, nnl_merge_counts *c, char *err, size_t errlen) {
    char abs[NNL_PATH_MAX];
    memset(c, 0, sizeof *c);
    if (access(shard, F_OK)) {
        snprintf(err, errlen, "%s: no such shard database", shard);
        return -1;
    }
    if (sl_abs_path(shard, abs, sizeof abs)) {
        snprintf(err, errlen, "%s: path too long", shard);
        return -1;
    }
    /* opened for writing: this checks it is an nnlab database, upgrades an
     * old schema and rolls back what a killed task left half-written */
    nnl_store *s = nnl_store_open_shared(abs, err, errlen);
    if (!s) return -1;
    /* a shard may come from anywhere: every row is checked before one is
     * copied (a label of -3 was copied and later written out of bounds) */
    if (nnl_store_check(s, err, errlen)) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, "; nothing merged");
        nnl_store_close(s);
        return -1;
    }
    sqlite3 *db = nnl_store_db(main_db);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS shard", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, abs, -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(q);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: attaching %s: %s", nnl_store_path(main_db), abs, sqlite3_errmsg(db));
        nnl_text_one_line(err);
        nnl_store_close(s);
        return -1;
    }
    if (nnl_store_begin(main_db, err, errlen)) rc = -1;
    else if (merge_runs(s, db, c)) {
        snprintf(err, errlen, "%s: merging %s: %s", nnl_store_path(main_db), abs, sqlite3_errmsg(db));
        nnl_text_one_line(err);
        nnl_store_rollback(main_db, NULL, 0);
        rc = -1;
    } else {
        rc = nnl_store_commit(main_db, err, errlen);
    }
    sqlite3_exec(db, "DETACH DATABASE shard", NULL, NULL, NULL);
    nnl_store_close(s);
    if (rc) memset(c, 0, sizeof *c);
    return rc ? -1 : 0;
}

/* merges every path into db; prints a line per shard. Returns 0 or 2. */
static int merge_all(const char *db, char **paths, int n) {
    char err[1024];
    nnl_store *m = nnl_store_open(db, err, sizeof err);
    if (!m) { fprintf(stderr, "%s\n", err); return 2; }
    int rc = 0;
    nnl_merge_counts total = {0};
    for (int i = 0; i < n; i++) {
        nnl_merge_counts c;
        if (nnl_merge_shard(m, paths[i], &c, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            rc = 2;
            continue;
        }
        printf("%s: %d run%s added, %d updated, %d unchanged\n", paths[i], c.added, c.added == 1 ? "" : "s",
               c.updated, c.unchanged);
        total.added += c.added;
        total.updated += c.updated;
        total.unchanged += c.unchanged;
    }
    if (n > 1)
        printf("merged %d shards into %s: %d added, %d updated, %d unchanged\n", n, db, total.added, total.updated,
               total.unchanged);
    nnl_store_close(m);
    return rc;
}

int sl_merge_dir(const char *db, const char *dir) {
    char pat[NNL_PATH_MAX + 16];
    snprintf(pat, sizeof pat, "%s/task-*.db", dir);
    glob_t g;
    if (glob(pat, 0, NULL, &g)) {
        printf("%s: no shard databases to merge\n", dir);
        return 0;
    }
    int rc = merge_all(db, g.gl_pathv, (int)g.gl_pathc);
    globfree(&g);
    return rc;
}

int nnl_merge_cmd(int argc, char **argv) {
    static const int allowed[] = {O_DB, 0};
    opts o;
    int rc = sl_parse_opts(argc, argv, "merge", allowed, &o);
    if (rc || o.help) { if (o.help) fputs(usage_merge, stdout); return rc; }
    if (!o.npos) {
        fprintf(stderr, "nnlab merge: expected SHARD.db files, e.g. results/slurm/EXPERIMENT/task-*.db "
                        "(see 'nnlab merge --help')\n");
        return 2;
    }
    for (int i = 0; i < o.npos; i++) {
        char a[NNL_PATH_MAX], b[NNL_PATH_MAX];
        if (!sl_abs_path(o.pos[i], a, sizeof a) && !sl_abs_path(o.db, b, sizeof b) && !strcmp(a, b)) {
            fprintf(stderr, "nnlab merge: %s is the main database itself (--db)\n", o.pos[i]);
            return 2;
        }
        if (access(o.pos[i], F_OK)) {
            fprintf(stderr, "nnlab merge: %s: no such shard database\n", o.pos[i]);
            return 2;
        }
    }
    return merge_all(o.db, o.pos, o.npos);
}
