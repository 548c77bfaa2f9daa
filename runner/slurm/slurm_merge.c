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

static const nnl_command merge_cmd = {
    .name = "merge", .args = "SHARD.db...", .min_args = 1, .max_args = -1,
    .missing = "SHARD.db files, e.g. results/slurm/EXPERIMENT/task-*.db",
    .about =
        "Merges shard databases (results/slurm/EXPERIMENT/task-*.db, written by\n"
        "'nnlab sweep --slurm') into the main database, one transaction per shard.\n"
        "Runs are matched by key and experiment: a run the database lacks is added\n"
        "with its params, epochs and test result; one it has is replaced only by a\n"
        "more complete copy (finished, then more epochs). Merging twice adds nothing.\n",
    .opts = {SL_OPT_MAIN_DB},
};

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* the Slurm rule: a more complete copy wins (sl_run_rank), or the same copy,
 * merged before, that has moved on since */
static int shard_copy_wins(const nnl_merge_run *s, const nnl_merge_run *m, char *ck, size_t n, void *ud) {
    nnl_checkpoint_dir(ud, s->id, ck, n);
    if (!m) return 1;
    int rs = sl_run_rank(s->status, s->epochs_done, s->has_test), rm = sl_run_rank(m->status, m->epochs_done, m->has_test);
    int newer = rs == rm && same_text(m->checkpoint_dir, ck) &&
                (strcmp(s->status, m->status) || !same_text(s->finished, m->finished) ||
                 !same_text(s->error, m->error));
    return rs > rm || newer;
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
    int rc = nnl_store_merge(main_db, s, shard_copy_wins, s, c, err, errlen);
    nnl_store_close(s);
    return rc;
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
    opts o;
    int rc = nnl_cli_parse(&merge_cmd, argc, argv, &o);
    if (rc || o.help) return rc;
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
