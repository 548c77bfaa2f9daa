/* test_hostile.c -- issue 11: hostile names, files and databases. Opening a
 * colleague's experiment, a shard copied back from a cluster or a database
 * published with a paper must be as safe as opening a text file: no byte
 * of a name, value or row runs as code, nothing lands outside results/,
 * nothing hangs. One test per case of the issue, each of which failed on
 * commit 3c05e4e (in the way its comment says).
 *
 * Databases are written with the store API and then damaged with plain
 * SQL (and PRAGMA writable_schema, which is how a crafted file gets NULLs
 * past its own NOT NULL); no training. The commands run through the nnlab
 * binary (NNLAB_BIN) under `timeout -s KILL`, so a hang is a failure, not
 * a stuck test. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../runner/config/experiment.h"
#include "../runner/report/report.h"
#include "../runner/signals.h"
#include "../runner/slurm/slurm.h"
#include "../runner/store/store.h"
#include "../runner/store/store_int.h" /* nnl_store_db: the tests look behind the store */
#include "nnlab_bin.h"
#include "tmpdir.h"

static char dir[64], cwd[512], out[1 << 16], err[2048];

static int setup(void **state) {
    if (tmpdir_make(dir, "hostile") || !getcwd(cwd, sizeof cwd)) return -1;
    char plots[1100];
    snprintf(plots, sizeof plots, "%s/plots", cwd);
    setenv("NNLAB_PLOTS", plots, 1);
    return 0;
}

static int teardown(void **state) { return tmpdir_remove(dir); }

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path) {
    static char buf[1 << 17];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    return buf;
}

/* Runs `nnlab ARGS` (a shell command line after the binary) killed after
 * limit seconds; stdout and stderr into out. Its exit status, or -1 when
 * it was killed or died of a signal. *secs: how long it took. */
static int nnlab(int limit, double *secs, const char *args) {
    char line[8192], o[128];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(line, sizeof line, "timeout -s KILL %d %s %s >%s 2>&1 </dev/null", limit, nnlab_bin(), args, o);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int ws = system(line);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (secs) *secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    snprintf(out, sizeof out, "%s", slurp(o));
    return WIFEXITED(ws) && WEXITSTATUS(ws) != 137 ? WEXITSTATUS(ws) : -1;
}

/* nnlab ARGS must exit 2, within a second, saying want */
static void refused_fast(const char *args, const char *want) {
    double secs;
    int rc = nnlab(20, &secs, args);
    if (rc != 2 || secs > 1.0 || !strstr(out, want))
        fail_msg("nnlab %s: exit %d after %.2f s (want 2 in under 1 s, saying \"%s\"):\n%s", args, rc, secs, want,
                 out);
}

/* A small valid database of experiment `exp`: one run per point (its
 * sweep.point param), two epochs and a 10-class test result each, all
 * finished; run i is named names[i] (NULL: "run-i"). */
static void make_db(const char *path, const char *exp, const char *const *points, const char *const *names, int n) {
    nnl_store *s = nnl_store_open(path, err, sizeof err);
    if (!s) fail_msg("%s", err);
    for (int i = 0; i < n; i++) {
        char key[17], name[64];
        snprintf(key, sizeof key, "%016x", 0xabc0 + i);
        snprintf(name, sizeof name, "run-%d", i);
        nnl_run_info ri = {.key = key, .name = names && names[i] ? names[i] : name, .experiment = exp,
                           .config = "name: x\n", .seed = 0, .nparams = 10};
        int64_t id = nnl_store_run_create(s, &ri, err, sizeof err);
        if (id < 0 || nnl_store_param_add(s, id, "sweep.point", points[i], err, sizeof err)) fail_msg("%s", err);
        for (int e = 1; e <= 2; e++) {
            nnl_epoch_row row = {.epoch = e, .train_loss = 1.0 / e, .train_acc = 0.5 + 0.1 * e + 0.01 * i,
                                 .val_loss = 1.1 / e, .val_acc = 0.4 + 0.1 * e + 0.01 * i, .lr = 0.001, .seconds = 1};
            if (nnl_store_epoch_add(s, id, &row, err, sizeof err)) fail_msg("%s", err);
        }
        int64_t conf[100] = {0};
        double cacc[10];
        for (int k = 0; k < 10; k++) conf[k * 11] = 10, cacc[k] = 1;
        if (nnl_store_test_result(s, id, 0.5, 0.8 + 0.01 * i, conf, cacc, 10, err, sizeof err) ||
            nnl_store_run_status(s, id, "finished", NULL, err, sizeof err))
            fail_msg("%s", err);
    }
    nnl_store_close(s);
}

/* Runs SQL on the database file as any program could. */
static void sql(const char *path, const char *text) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", text, msg);
    sqlite3_close(db);
}

/* Case 1: gp_quote escaped " \ and newline but not the backquote, and
 * gnuplot runs `...` even inside double quotes: these names ran touch
 * during `nnlab report` and again at each redraw of the saved scripts. */
static void gnuplot_runs_no_backquoted_name(void **state) {
    char db[128], marker[3][128], pts[2][256], name[256], outdir[128], line[512];
    for (int i = 0; i < 3; i++) snprintf(marker[i], sizeof marker[i], "%s/ran-%d", dir, i);
    snprintf(pts[0], sizeof pts[0], "value=a`touch %s`", marker[0]);
    snprintf(pts[1], sizeof pts[1], "value=b");
    snprintf(name, sizeof name, "x`touch %s`", marker[1]);
    const char *points[] = {pts[0], pts[1]}, *names[] = {name, NULL};
    snprintf(db, sizeof db, "%s/c1/nnlab.db", dir);
    make_db(db, "exp`touch /nonexistent-dir/x`", points, names, 2);
    snprintf(outdir, sizeof outdir, "%s/c1/report", dir);
    snprintf(line, sizeof line, "report 'exp`touch /nonexistent-dir/x`' --db %s --out %s", db, outdir);
    assert_int_equal(nnlab(120, NULL, line), 0);
    snprintf(line, sizeof line, "report 1 --db %s --out %s-run", db, outdir);
    assert_int_equal(nnlab(120, NULL, line), 0);
    assert_false(exists(marker[0]));
    assert_false(exists(marker[1]));
    /* the saved scripts redraw as safely */
    snprintf(line, sizeof line, "cd %s && { gnuplot exp-bars.gp && gnuplot exp-curves.gp && cd %s-run && "
             "gnuplot run-curves.gp; } >%s/gp.out 2>&1", outdir, outdir, dir);
    char gpout[128];
    snprintf(gpout, sizeof gpout, "%s/gp.out", dir);
    if (system(line)) fail_msg("redrawing the saved scripts failed:\n%s", slurp(gpout));
    assert_false(exists(marker[0]));
    assert_false(exists(marker[1]));
    /* and the name still reads as written in the figure's script */
    snprintf(line, sizeof line, "%s/exp-bars.gp", outdir);
    assert_non_null(strstr(slurp(line), "value=a\\140touch"));
}

/* Case 2: a newline in an experiment name went raw into the comment,
 * --job-name and --output lines of job.sh, and --partition and --time took
 * newlines too: the next line ran as a shell command on the cluster. */
static void slurm_script_takes_no_control_character(void **state) {
    char exp[128], line[1024];
    snprintf(exp, sizeof exp, "%s/c2.yaml", dir);
    snprintf(line, sizeof line, "name: \"x\\ntouch /tmp/owned\"\nbase: %s/configs/lenet5.yaml\nseeds: [0]\n", cwd);
    write_text(exp, line);
    snprintf(line, sizeof line, "sweep %s --slurm --print --db %s/c2/nnlab.db", exp, dir);
    refused_fast(line, ":1:7: name: contains a control character (byte 0x0a at byte 2)");

    snprintf(line, sizeof line, "name: my exp\nbase: %s/configs/lenet5.yaml\nseeds: [0]\n", cwd);
    write_text(exp, line);
    snprintf(line, sizeof line, "sweep %s --slurm --print --db %s/c2/nnlab.db --partition \"$(printf 'cpu\\ntouch /tmp/x')\"",
             exp, dir);
    refused_fast(line, "--partition: the value contains a control character");
    snprintf(line, sizeof line, "sweep %s --slurm --print --db %s/c2/nnlab.db --time \"$(printf '1:00\\r')\"", exp, dir);
    refused_fast(line, "--time: the value contains a control character");
    snprintf(line, sizeof line, "sweep %s --slurm --print --db %s/c2/nnlab.db --sbatch-arg \"$(printf 'a\\033b')\"", exp,
             dir);
    refused_fast(line, "--sbatch-arg: the value contains a control character");
    /* a name with a space is one quoted value of each #SBATCH line */
    snprintf(line, sizeof line, "sweep %s --slurm --print --db %s/c2/nnlab.db --partition 'a b'", exp, dir);
    assert_int_equal(nnlab(20, NULL, line), 0);
    assert_non_null(strstr(out, "\n#SBATCH --job-name=\"nnlab-my exp\"\n"));
    assert_non_null(strstr(out, "\n#SBATCH --partition=\"a b\"\n"));
    assert_non_null(strstr(out, "/slurm/my_exp/logs/%A_%a.out\"\n"));
}

/* Case 3: an experiment named ../../../x made the shard folder (job.sh,
 * done, logs/) outside results/, before sbatch was even called. sbatch and
 * squeue here are stand-ins that fail, so nothing is ever submitted. */
static void shard_folder_stays_inside_results(void **state) {
    char exp[128], bin[128], line[2048], p[256];
    snprintf(bin, sizeof bin, "%s/c3bin", dir);
    mkdir(bin, 0755);
    snprintf(p, sizeof p, "%s/sbatch", bin);
    write_text(p, "#!/bin/sh\necho 'sbatch: stand-in' >&2\nexit 1\n");
    chmod(p, 0755);
    snprintf(p, sizeof p, "%s/squeue", bin);
    write_text(p, "#!/bin/sh\nexit 1\n");
    chmod(p, 0755);
    snprintf(exp, sizeof exp, "%s/c3.yaml", dir);
    snprintf(line, sizeof line, "name: ../../../escaped\nbase: %s/configs/lenet5.yaml\nseeds: [0]\n", cwd);
    write_text(exp, line);
    snprintf(p, sizeof p, "%s/a/b", dir);
    snprintf(line, sizeof line, "mkdir -p %s", p);
    assert_int_equal(system(line), 0);
    /* the stand-ins go first in PATH: run it by hand */
    char cmd[4096], o[128];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(cmd, sizeof cmd, "PATH=%s:$PATH timeout -s KILL 60 %s sweep %s --slurm --db %s/nnlab.db >%s 2>&1", bin,
             nnlab_bin(), exp, p, o);
    int ws = system(cmd);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 2); /* the stand-in sbatch refused */
    snprintf(line, sizeof line, "%s/escaped", dir);
    assert_false(exists(line));
    snprintf(line, sizeof line, "%s/a/b/slurm/.._.._.._escaped/job.sh", dir);
    if (!exists(line)) fail_msg("%s is missing; nnlab said:\n%s", line, slurp(o));
}

/* Case 4: nnl_store_test_get sized its arrays by the largest label and
 * never checked for negative ones: label -3 was a stack-buffer-underflow
 * WRITE under ASan (silent corruption otherwise), and merge copied such
 * rows unchecked. */
static void negative_labels_are_damage_not_indexes(void **state) {
    char db[128], shard[128];
    const char *points[] = {"v=1"};
    snprintf(db, sizeof db, "%s/c4/nnlab.db", dir);
    make_db(db, "e", points, NULL, 1);
    sql(db, "UPDATE confusion SET true_label = -3 WHERE true_label = 2 AND pred_label = 2");
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    assert_non_null(s);
    int64_t conf[10 * 10 + 8];
    double cacc[10];
    conf[100] = 12345;
    assert_int_equal(nnl_store_test_get(s, 1, conf, cacc, 10, err, sizeof err), -1);
    assert_non_null(strstr(err, "damaged database: reading the test result of run 1: a confusion row with labels -3, 2"));
    nnl_store_close(s);
    char line[256];
    snprintf(line, sizeof line, "show 1 --db %s", db);
    refused_fast(line, "damaged database: reading the test result of run 1: a confusion row with labels -3, 2");

    /* the same in a shard: merge copies nothing of it */
    snprintf(shard, sizeof shard, "%s/c4/task-0.db", dir);
    make_db(shard, "e", points, NULL, 1);
    sql(shard, "UPDATE class_acc SET label = -3 WHERE label = 4");
    nnl_store *m = nnl_store_open(":memory:", err, sizeof err);
    assert_non_null(m);
    nnl_merge_counts c;
    assert_int_equal(nnl_merge_shard(m, shard, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "a class_acc row with label -3"));
    assert_non_null(strstr(err, "nothing merged"));
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(nnl_store_db(m), "SELECT count(*) FROM runs", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);
    nnl_store_close(m);
}

/* Case 5: the "No heat map: ..." note went into index.html unescaped: a
 * one-key grid with this value put a script element in the page. */
static void heat_map_note_is_escaped(void **state) {
    char db[128], outdir[128], line[512];
    const char *points[] = {"v=Q,<script>alert(1)</script>=1"};
    snprintf(db, sizeof db, "%s/c5/nnlab.db", dir);
    make_db(db, "e5", points, NULL, 1);
    snprintf(outdir, sizeof outdir, "%s/c5/report", dir);
    snprintf(line, sizeof line, "report e5 --db %s --out %s", db, outdir);
    assert_int_equal(nnlab(120, NULL, line), 0);
    snprintf(line, sizeof line, "%s/index.html", outdir);
    const char *html = slurp(line);
    assert_non_null(strstr(html, "No heat map"));
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "&lt;script&gt;"));
}

/* Case 6: a config's name refused control characters, experiment and
 * variant names did not: a newline in a variant name injected a fake row
 * into exp-curves.dat, ESC and BEL reached the terminal. */
static void names_are_printable_text(void **state) {
    char exp[128], text[1024];
    nnl_plan p;
    snprintf(exp, sizeof exp, "%s/c6.yaml", dir);
    snprintf(text, sizeof text, "base: %s/configs/lenet5.yaml\nvariants:\n  - name: \"a\\n99.9\"\n", cwd);
    write_text(exp, text);
    assert_int_equal(nnl_plan_load(exp, NULL, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":3:11: variants: name: contains a control character (byte 0x0a at byte 2)"));
    snprintf(text, sizeof text, "name: \"x\\e[31mred\\a\"\nbase: %s/configs/lenet5.yaml\nseeds: [0]\n", cwd);
    write_text(exp, text);
    assert_int_equal(nnl_plan_load(exp, NULL, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:7: name: contains a control character (byte 0x1b at byte 2)"));
    /* C1 controls too: U+009B is CSI to a terminal */
    snprintf(text, sizeof text, "base: %s/configs/lenet5.yaml\ngrid:\n  model.pool: [max, \"a\\u009bb\"]\n", cwd);
    write_text(exp, text);
    assert_int_equal(nnl_plan_load(exp, NULL, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":3:21: grid: model.pool: the value contains a control character (U+009B"));
    /* and a database's names are checked when read */
    char db[128];
    const char *points[] = {"v=1"}, *names[] = {"ok"};
    snprintf(db, sizeof db, "%s/c6/nnlab.db", dir);
    make_db(db, "e6", points, names, 1);
    sql(db, "UPDATE runs SET name = 'a' || char(27) || '[2J'");
    char line[256];
    snprintf(line, sizeof line, "ls --db %s", db);
    refused_fast(line, "damaged database: run 1: name contains a control character (byte 0x1b at byte 2)");
}

/* Case 7: `nnlab check /dev/zero` spun at 100% CPU for ever, and a 2 GB
 * sparse file was read whole (8 s) before "too large". */
static void endless_input_is_refused_at_once(void **state) {
    char big[128], line[512];
    refused_fast("check /dev/zero", "/dev/zero: cannot read: not a regular file (a character device)");
    refused_fast("train /dev/zero --db /nonexistent/x.db", "/dev/zero: cannot read: not a regular file");
    refused_fast("sweep /dev/zero --db /nonexistent/x.db", "/dev/zero: cannot read: not a regular file");
    snprintf(big, sizeof big, "%s/big.yaml", dir);
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(truncate(big, 2LL << 30), 0);
    snprintf(line, sizeof line, "check %s", big);
    refused_fast(line, "too large");
    unlink(big);
}

/* Case 8: a FIFO as the config hung check, train and sweep in open(); so
 * did /proc/kmsg, also as an experiment's base: (it passed S_ISREG). A FIFO
 * among the IDX files and a FIFO as the database hang no more either. */
static void blocking_input_is_refused_at_once(void **state) {
    char fifo[128], exp[128], line[1024], data[128];
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    const char *cmds[] = {"check", "train", "sweep", "summary"};
    for (int i = 0; i < 4; i++) {
        snprintf(line, sizeof line, "%s %s --db %s/c8/nnlab.db", cmds[i], fifo, dir);
        if (!strcmp(cmds[i], "check") || !strcmp(cmds[i], "summary"))
            snprintf(line, sizeof line, "%s %s", cmds[i], fifo);
        refused_fast(line, "cannot read: not a regular file (a FIFO)");
    }
    snprintf(exp, sizeof exp, "%s/c8.yaml", dir);
    snprintf(line, sizeof line, "base: %s\nseeds: [0]\n", fifo);
    write_text(exp, line);
    snprintf(line, sizeof line, "check %s", exp);
    refused_fast(line, ":1:7: base:");
    write_text(exp, "base: /proc/kmsg\nseeds: [0]\n");
    snprintf(line, sizeof line, "check %s", exp);
    refused_fast(line, ":1:7: base: /proc/kmsg: cannot read: a file of the kernel's /proc file system");
    refused_fast("check /proc/kmsg", "/proc/kmsg: cannot read: a file of the kernel's /proc file system");
    /* an IDX file that is a FIFO */
    snprintf(data, sizeof data, "%s/data", dir);
    mkdir(data, 0755);
    const char *idx[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                         "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        snprintf(line, sizeof line, "%s/%s", data, idx[i]);
        assert_int_equal(mkfifo(line, 0644), 0);
    }
    snprintf(line, sizeof line, "train configs/lenet5.yaml --data %s --db %s/c8/nnlab.db", data, dir);
    char full[1200];
    snprintf(full, sizeof full, "%s", line);
    refused_fast(full, "train-images-idx3-ubyte: cannot open: not a regular file (a FIFO)");
    /* a database that is a FIFO */
    snprintf(line, sizeof line, "%s/fifo.db", dir);
    assert_int_equal(mkfifo(line, 0644), 0);
    snprintf(full, sizeof full, "ls --db %s", line);
    refused_fast(full, "cannot open the results database: not a regular file (a FIFO)");
}

/* Case 9: a trigger in the database ran silently (it rewrote names and
 * accuracies unnoticed in `nnlab ls`; one with an endless recursive CTE
 * hung `nnlab train` through SIGTERM), and a schema without NOT NULL with a
 * NULL status segfaulted compare and report (strcmp(NULL)). */
static void hostile_schema_is_refused(void **state) {
    char db[128], line[1024];
    const char *points[] = {"v=1", "v=2"};
    snprintf(db, sizeof db, "%s/c9/nnlab.db", dir);
    make_db(db, "e9", points, NULL, 2);
    sql(db, "CREATE TRIGGER hide AFTER INSERT ON epochs BEGIN UPDATE runs SET best_val_acc = 0.999; END");
    snprintf(line, sizeof line, "ls --db %s", db);
    refused_fast(line, "it has a trigger 'hide' that nnlab's schema (version 1) does not");
    snprintf(line, sizeof line, "train configs/lenet5.yaml --set data.train_limit=300 --set train.epochs=1 --db %s",
             db);
    refused_fast(line, "it has a trigger 'hide'");
    sql(db, "DROP TRIGGER hide; CREATE VIEW v AS SELECT * FROM runs");
    snprintf(line, sizeof line, "show 1 --db %s", db);
    refused_fast(line, "it has a view 'v'");
    sql(db, "DROP VIEW v");
    snprintf(line, sizeof line, "ls --db %s", db);
    assert_int_equal(nnlab(20, NULL, line), 0);

    /* a table of other constraints: runs without NOT NULL */
    sql(db, "PRAGMA writable_schema = ON;"
            "UPDATE sqlite_master SET sql = replace(sql, 'status TEXT NOT NULL', 'status TEXT') WHERE name = 'runs';");
    snprintf(line, sizeof line, "compare e9 --db %s", db);
    refused_fast(line, "its table 'runs' is not the one nnlab's schema version 1 defines");
    /* a NULL status under the schema's own text, as a crafted file has it */
    sql(db, "UPDATE runs SET status = NULL WHERE id = 2;"
            "PRAGMA writable_schema = ON;"
            "UPDATE sqlite_master SET sql = replace(sql, 'status TEXT CHECK', 'status TEXT NOT NULL CHECK')"
            " WHERE name = 'runs';");
    const char *readers[] = {"compare e9", "report e9", "ls", "show 2"};
    for (int i = 0; i < 4; i++) {
        snprintf(line, sizeof line, "%s --db %s", readers[i], db);
        refused_fast(line, "damaged database: run 2: status is NULL");
    }
}

/* Case 9 too: SIGTERM did not stop a statement that never ends (the
 * recursive CTE ran for 10 minutes until SIGKILL). Once nnl_stop is set,
 * the store's progress handler interrupts it; the child has 20 s. */
static void stop_interrupts_a_statement_that_never_ends(void **state) {
    char db[128];
    const char *points[] = {"v=1"};
    snprintf(db, sizeof db, "%s/c9b/nnlab.db", dir);
    make_db(db, "e", points, NULL, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        nnl_store *s = nnl_store_open(db, err, sizeof err);
        if (!s) _exit(3);
        nnl_stop = 1;
        int rc = sqlite3_exec(nnl_store_db(s),
                              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
                              NULL, NULL, NULL);
        _exit(rc == SQLITE_INTERRUPT ? 0 : 4);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws)) fail_msg("the statement was not interrupted (wait status %#x)", ws);
}

int main(void) {
    if (access(nnlab_bin(), X_OK)) {
        fprintf(stderr, "test_hostile: %s is missing: run from the repository root after make\n", nnlab_bin());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gnuplot_runs_no_backquoted_name),
        cmocka_unit_test(slurm_script_takes_no_control_character),
        cmocka_unit_test(shard_folder_stays_inside_results),
        cmocka_unit_test(negative_labels_are_damage_not_indexes),
        cmocka_unit_test(heat_map_note_is_escaped),
        cmocka_unit_test(names_are_printable_text),
        cmocka_unit_test(endless_input_is_refused_at_once),
        cmocka_unit_test(blocking_input_is_refused_at_once),
        cmocka_unit_test(hostile_schema_is_refused),
        cmocka_unit_test(stop_interrupts_a_statement_that_never_ends),
    };
    return cmocka_run_group_tests_name("hostile", tests, setup, teardown);
}
