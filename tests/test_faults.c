/* test_faults.c -- faults from outside, run against the nnlab binary
 * (NNLAB_BIN, default ./nnlab) on the first images of FashionMNIST:
 *
 *   - kill -9 of a sweep at random moments (epoch loop, checkpoint writes):
 *     after each kill the database passes PRAGMA integrity_check, its epoch
 *     rows run 1..epochs_done without a gap, every checkpoint on disk has a
 *     good CRC (the old one or the new one, never torn), and re-running the
 *     sweep ends with the bits of an uninterrupted run. NNLAB_KILL_TRIALS
 *     sets the number of trials (default 3; `make kill-campaign` runs 40);
 *   - kill -9 at exact steps of checkpoint writes (tests/faultinject.so,
 *     an LD_PRELOAD shim): after a torn fsync, before and after the rename;
 *   - SIGINT to the sweep's process group, SIGTERM to the sweep alone and
 *     to its whole group (what scancel does): exit 130, runs interrupted
 *     (none left running or failed), a rerun finishes them;
 *   - -j 8 on two cores, one database: every run and epoch row, no
 *     "database is locked";
 *   - a database that is not SQLite, one from a newer schema, a read-only
 *     database and results folder (read-only bind mounts), a full disk (a
 *     1 MB tmpfs): one clear line, nothing committed lost;
 *   - truncated and foreign checkpoints: refused with a clear error.
 * Mounting needs root; without it those cases say so and are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <zlib.h>
#include <cmocka.h>
#include "nnlab_bin.h"
#include "../runner/store/store.h"

static char dir[64], errout[1 << 15], base[600];
static long rows_checked, kill_trials, ckpts_checked;

static int have_data(void) { return access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0; }

static int setup(void **state) {
    strcpy(dir, "/tmp/nnlab-faults-XXXXXX");
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    snprintf(base, sizeof base, "%s/configs/lenet5-relu-max.yaml", cwd);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    printf("faults: %ld kill -9 trials, %ld epoch rows and %ld checkpoints checked\n", kill_trials, rows_checked,
           ckpts_checked);
    /* a failed assertion can leave a mount behind: never leave one */
    for (const char *const *m = (const char *const[]){"ro", "full", "probe-mnt", NULL}; *m; m++) {
        snprintf(cmd, sizeof cmd, "umount %s/%s 2>/dev/null", dir, *m);
        if (system(cmd)) {}
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* a path in the test's folder; valid for the next 63 calls */
static const char *path_in(const char *name) {
    static char p[64][256];
    static int k;
    char *s = p[k++ & 63];
    snprintf(s, sizeof p[0], "%s/%s", dir, name);
    return s;
}

/* runs nnlab with the shell words in args; its exit status (-1: a signal) */
static int nnlab(const char *args) {
    char cmd[4096], e[128];
    snprintf(e, sizeof e, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "timeout -s KILL 300 %s %s >/dev/null 2>%s </dev/null", nnlab_bin(), args, e);
    int ws = system(cmd);
    FILE *f = fopen(e, "r");
    size_t n = f ? fread(errout, 1, sizeof errout - 1, f) : 0;
    errout[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(ws) && WEXITSTATUS(ws) != 137 ? WEXITSTATUS(ws) : -1;
}

static int lines_of(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* tests/faultinject.so, built beside this binary */
static const char *shim_path(void) {
    static char p[1024];
    ssize_t n = readlink("/proc/self/exe", p, sizeof p - 32);
    if (n <= 0) return NULL;
    p[n] = 0;
    strcpy(strrchr(p, '/') + 1, "faultinject.so");
    return access(p, R_OK) ? NULL : p;
}

static const char *fault; /* NNLAB_FI for the next spawn_sweep, or NULL */

/* nnlab sweep EXP --db DB [-j N] in its own process group */
static pid_t spawn_sweep(const char *exp, const char *db, const char *jobs) {
    pid_t pid = fork();
    if (pid == 0) {
        if (fault) {
            /* the shim is not instrumented: ASan need not come first */
            const char *a = getenv("ASAN_OPTIONS");
            char opts[1024];
            snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", a ? a : "", a && *a ? ":" : "");
            setenv("ASAN_OPTIONS", opts, 1);
            setenv("LD_PRELOAD", shim_path(), 1);
            setenv("NNLAB_FI", fault, 1);
        }
        char log[128];
        snprintf(log, sizeof log, "%s/spawn.log", dir);
        setpgid(0, 0);
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
        execl(nnlab_bin(), "nnlab", "sweep", exp, "--db", db, "-j", jobs, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static int wait_exit(pid_t pid) {
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* wait_exit, but kill -9 the group and fail after secs seconds */
static int wait_exit_within(pid_t pid, int secs, const char *what) {
    struct timespec nap = {0, 50 * 1000 * 1000};
    for (int i = 0; i < secs * 20; i++) {
        int ws;
        pid_t p = waitpid(pid, &ws, WNOHANG);
        if (p == pid) return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL);
    wait_exit(pid);
    fail_msg("%s: still running after %d s", what, secs);
    return -1;
}

/* one integer from the database, read-only; missing db or table reads 0 */
static int64_t q1(const char *db, const char *sql) {
    sqlite3 *h;
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (access(db, F_OK)) return 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 10000);
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

static void exec_sql(const char *db, const char *sql) {
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(h);
}

static const char *write_exp(const char *name, const char *body) {
    const char *p = path_in(name);
    FILE *f = fopen(p, "w");
    fprintf(f, "name: %s\nbase: %s\n%s", name, base, body);
    fclose(f);
    return p;
}

/* integrity_check, and every run's epoch rows are 1..epochs_done */
static void check_consistent(const char *db) {
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT r.id, r.epochs_done, count(e.epoch), coalesce(max(e.epoch), 0),"
                                           " coalesce(min(e.epoch), 1) FROM runs r LEFT JOIN epochs e ON e.run_id = r.id"
                                           " GROUP BY r.id", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), done = sqlite3_column_int64(st, 1), n = sqlite3_column_int64(st, 2);
        int64_t mx = sqlite3_column_int64(st, 3), mn = sqlite3_column_int64(st, 4);
        if (n != mx || mn != 1 || done != mx)
            fail_msg("run %lld: epochs_done %lld but %lld rows from %lld to %lld", (long long)id, (long long)done,
                     (long long)n, (long long)mn, (long long)mx);
        rows_checked += n;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/* every .ckpt under folder: a whole file whose CRC-32 trailer matches */
/* Every checkpoint under folder (its runs' folders included) is whole;
 * returns how many it checked. A missing folder has none: a run killed
 * before its first epoch ended has not written one yet. */
static long check_checkpoint_files(const char *folder) {
    long checked = 0;
    DIR *d = opendir(folder);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", folder, e->d_name);
        struct stat st;
        if (stat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) { checked += check_checkpoint_files(p); continue; }
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".ckpt")) continue; /* a .tmp may be torn: it is never read */
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        unsigned char *buf = malloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        uint32_t want;
        if (n < 12 || memcmp(buf, "NNLABCK1", 8)) fail_msg("%s: torn (%zu bytes)", p, n);
        memcpy(&want, buf + n - 4, 4);
        if (want != (uint32_t)crc32(0L, buf, (uInt)(n - 4))) fail_msg("%s: torn: CRC mismatch", p);
        free(buf);
        checked++;
    }
    closedir(d);
    ckpts_checked += checked;
    return checked;
}

/* The same where the run has finished an epoch, so its checkpoints must be
 * there: a check that found nothing to check would prove nothing. */
static void check_checkpoints(const char *folder) {
    if (access(folder, F_OK)) fail_msg("%s: no checkpoint folder: %s", folder, strerror(errno));
    if (check_checkpoint_files(folder) < 1) fail_msg("%s: not one checkpoint in it", folder);
}

/* a run's results as exact text: test loss and accuracy, every epoch's losses */
static void run_fingerprint(const char *db, int64_t id, char *out, size_t cap) {
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT printf('%%!.17g %%!.17g', test_loss, test_acc) FROM runs WHERE id = %lld"
             " UNION ALL SELECT printf('%%d %%!.17g %%!.17g %%!.17g', epoch, train_loss, val_loss, val_acc)"
             " FROM (SELECT * FROM epochs WHERE run_id = %lld ORDER BY epoch)", (long long)id, (long long)id);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    size_t o = 0;
    out[0] = 0;
    while (sqlite3_step(st) == SQLITE_ROW && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%s\n", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define KILL_EPOCHS 3
#define KILL_EXP "seeds: [7]\nset: {train.epochs: 3, data.train_limit: 800, data.test_limit: 100}\n"

static void kill9_at_random_moments_loses_nothing(void **state) {
    if (!have_data()) skip();
    const char *env = getenv("NNLAB_KILL_TRIALS");
    int trials = env && atoi(env) > 0 ? atoi(env) : 3;
    const char *exp = write_exp("kill", KILL_EXP);
    const char *ref = path_in("kill-ref.db");
    double t0 = now();
    assert_int_equal(wait_exit(spawn_sweep(exp, ref, "1")), 0);
    double full = now() - t0;
    char want[4096], got[4096];
    run_fingerprint(ref, 1, want, sizeof want);
    assert_int_equal(lines_of(want), KILL_EPOCHS + 1);
    unsigned seed = 12345;
    for (int t = 0; t < trials; t++) {
        char db[128], cmd[600];
        snprintf(db, sizeof db, "%s/kill-%d.db", dir, t);
        snprintf(cmd, sizeof cmd, "rm -rf %s/kill-%d.db* %s/checkpoints/kill-%d", dir, t, dir, t);
        assert_int_equal(system(cmd), 0);
        char ckdir[300];
        snprintf(ckdir, sizeof ckdir, "%s/checkpoints/kill-%d", dir, t);
        /* up to three kills per trial, each at a random moment of the run */
        for (int k = 0; k < 3; k++) {
            pid_t pid = spawn_sweep(exp, db, "1");
            double delay = full * (double)(rand_r(&seed) % 1000) / 1000.0;
            struct timespec nap = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
            nanosleep(&nap, NULL);
            kill(-pid, SIGKILL);
            wait_exit(pid);
            kill_trials++;
            if (!access(db, F_OK) && q1(db, "SELECT count(*) FROM sqlite_master") > 0) check_consistent(db);
            check_checkpoint_files(ckdir);
        }
        /* the rerun finishes the run, with the same bits */
        int rc = wait_exit(spawn_sweep(exp, db, "1"));
        if (rc) {
            char log[8192] = "";
            FILE *f = fopen(path_in("spawn.log"), "r");
            if (f) {
                fseek(f, 0, SEEK_END);
                long end = ftell(f);
                fseek(f, end > 4000 ? end - 4000 : 0, SEEK_SET);
                log[fread(log, 1, sizeof log - 1, f)] = 0;
                fclose(f);
            }
            fail_msg("trial %d: the resuming sweep exited %d:\n%s", t, rc, log);
        }
        check_consistent(db);
        check_checkpoints(ckdir);
        assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
        run_fingerprint(db, q1(db, "SELECT id FROM runs"), got, sizeof got);
        if (strcmp(want, got)) fail_msg("trial %d: resumed run differs:\n%s\nuninterrupted:\n%s", t, got, want);
    }
}

/* kill -9 at each step of a checkpoint write (the shim decides exactly
 * where): the torn temporary file is never taken for a checkpoint, the
 * database is whole, and the rerun ends with the uninterrupted run's bits. */
static void kill9_inside_checkpoint_writes_leaves_old_or_new(void **state) {
    if (!have_data()) skip();
    if (!shim_path()) fail_msg("faultinject.so is missing beside the test binary (make builds it)");
    const char *exp = write_exp("kill", KILL_EXP);
    const char *ref = path_in("ckw-ref.db");
    assert_int_equal(wait_exit(spawn_sweep(exp, ref, "1")), 0);
    char want[4096], got[4096];
    run_fingerprint(ref, 1, want, sizeof want);
    const char *modes[] = {"fsync", "rename", "after-rename"};
    for (int m = 0; m < 3; m++)
        for (int n = 1; n <= 4; n += 3) { /* the first write; one in a later epoch */
            char fi[64], db[128], ckdir[256], cmd[600];
            snprintf(fi, sizeof fi, "%s:%d", modes[m], n);
            snprintf(db, sizeof db, "%s/ckw.db", dir);
            snprintf(ckdir, sizeof ckdir, "%s/checkpoints/ckw", dir);
            snprintf(cmd, sizeof cmd, "rm -rf %s* %s", db, ckdir);
            assert_int_equal(system(cmd), 0);
            fault = fi;
            /* the sweep used to requeue its killed worker's run forever */
            int rc = wait_exit_within(spawn_sweep(exp, db, "1"), 300, fi);
            fault = NULL;
            if (rc == 0) fail_msg("%s: the worker was not killed", fi);
            kill_trials++;
            check_consistent(db);
            check_checkpoint_files(ckdir); /* killed in the first write, there may be none yet */
            rc = wait_exit(spawn_sweep(exp, db, "1"));
            if (rc) fail_msg("%s: the resuming sweep exited %d", fi, rc);
            check_consistent(db);
            check_checkpoints(ckdir);
            run_fingerprint(db, 1, got, sizeof got);
            if (strcmp(want, got)) fail_msg("%s: resumed run differs:\n%s\nuninterrupted:\n%s", fi, got, want);
        }
}

static void sigint_and_sigterm_stop_a_sweep_cleanly(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("sig", "seeds: [1, 2]\n"
                                       "set: {train.epochs: 3, data.train_limit: 1500, data.test_limit: 100}\n");
    const char *db = path_in("sig.db");
    for (int round = 0; round < 3; round++) {
        int64_t before = round ? q1(db, "SELECT count(*) FROM epochs") : 0;
        pid_t pid = spawn_sweep(exp, db, "2");
        struct timespec nap = {0, 20 * 1000 * 1000};
        for (int i = 0; i < 6000 && q1(db, "SELECT count(*) FROM epochs") <= before; i++) nanosleep(&nap, NULL);
        if (round == 0) kill(-pid, SIGINT);       /* Ctrl-C: the whole process group */
        else if (round == 1) kill(pid, SIGTERM); /* SIGTERM to the sweep alone: it tells its workers */
        else kill(-pid, SIGTERM);                /* scancel, systemd, timeout: everyone at once */
        int rc = wait_exit(pid);
        if (q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'") == 2) continue; /* too late to tell */
        if (rc != 130 || q1(db, "SELECT count(*) FROM runs WHERE status NOT IN ('finished', 'interrupted')"))
            fail_msg("round %d: exit %d, %lld finished, %lld interrupted, %lld failed, %lld running", round, rc,
                     (long long)q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"),
                     (long long)q1(db, "SELECT count(*) FROM runs WHERE status = 'interrupted'"),
                     (long long)q1(db, "SELECT count(*) FROM runs WHERE status = 'failed'"),
                     (long long)q1(db, "SELECT count(*) FROM runs WHERE status = 'running'"));
        assert_true(q1(db, "SELECT count(*) FROM runs WHERE status = 'interrupted'") >= 1);
        check_consistent(db);
    }
    assert_int_equal(wait_exit(spawn_sweep(exp, db, "2")), 0);
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 2);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs"), 6);
    check_consistent(db);
}

static void eight_workers_on_two_cores_share_one_database(void **state) {
    if (!have_data()) skip();
    const char *exp = write_exp("many", "seeds: [0, 1, 2, 3, 4, 5, 6, 7]\n"
                                        "set: {train.epochs: 2, data.train_limit: 400, data.test_limit: 50}\n");
    const char *db = path_in("many.db");
    char a[600];
    snprintf(a, sizeof a, "sweep %s --db %s -j 8", exp, db);
    int rc = nnlab(a);
    if (rc) fail_msg("exit %d: %s", rc, errout);
    assert_null(strstr(errout, "locked"));
    assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 8);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs"), 16);
    assert_int_equal(q1(db, "SELECT count(*) FROM confusion"), 8 * 100);
    check_consistent(db);
}

/* bad input: exit 2 and one line that names the database */
static void expect_db_refused(const char *db, const char *want) {
    char a[600];
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s --set train.epochs=1 --set data.train_limit=100", db);
    int rc = nnlab(a);
    if (rc != 2 || lines_of(errout) != 1 || !strstr(errout, db) || !strstr(errout, want))
        fail_msg("--db %s: exit %d, want one line with \"%s\", stderr:\n%s", db, rc, want, errout);
}

static void foreign_and_newer_databases_are_refused(void **state) {
    if (!have_data()) skip();
    const char *junk = path_in("junk.db");
    FILE *f = fopen(junk, "w");
    for (int i = 0; i < 200; i++) fputs("this is not a database, it is a text file\n", f);
    fclose(f);
    struct stat before, after;
    stat(junk, &before);
    expect_db_refused(junk, "not a database");
    stat(junk, &after);
    assert_int_equal(before.st_size, after.st_size);

    const char *newer = path_in("newer.db");
    exec_sql(newer, "CREATE TABLE runs(id INTEGER PRIMARY KEY); PRAGMA user_version = 99;");
    expect_db_refused(newer, "newer than this nnlab");

    const char *other = path_in("other.db");
    exec_sql(other, "CREATE TABLE photos(id INTEGER PRIMARY KEY, path TEXT);");
    expect_db_refused(other, "not nnlab's");
}

/* root and mount(8): else the case is skipped with a message */
static int can_mount(void) {
    if (geteuid() != 0 || system("command -v mount >/dev/null 2>&1")) return 0;
    char cmd[300];
    const char *m = path_in("probe-mnt");
    mkdir(m, 0755);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null && umount %s", m, m);
    return system(cmd) == 0;
}

static void read_only_database_and_folder_are_refused(void **state) {
    if (!have_data()) skip();
    if (!can_mount()) {
        printf("faults: SKIPPED read-only cases: mounting needs root and mount(8)\n");
        skip();
    }
    const char *ro = path_in("ro");
    char db[300], cmd[1024], err[512];
    mkdir(ro, 0755);
    snprintf(db, sizeof db, "%s/nnlab.db", ro);
    nnl_store *s = nnl_store_open(db, err, sizeof err);
    if (!s) fail_msg("%s", err);
    nnl_store_close(s);
    snprintf(cmd, sizeof cmd, "mount --bind %s %s && mount -o remount,bind,ro %s", ro, ro, ro);
    if (system(cmd)) {
        snprintf(cmd, sizeof cmd, "umount %s 2>/dev/null", ro);
        if (system(cmd)) {}
        printf("faults: SKIPPED read-only cases: a read-only bind mount failed\n");
        skip();
    }
    expect_db_refused(db, "read-only");
    snprintf(db, sizeof db, "%s/sub/nnlab.db", ro); /* a results folder that cannot be made */
    expect_db_refused(db, "Read-only file system");
    snprintf(cmd, sizeof cmd, "umount %s", ro);
    assert_int_equal(system(cmd), 0);
}

static void full_disk_stops_the_run_and_keeps_what_was_committed(void **state) {
    if (!have_data()) skip();
    if (!can_mount()) {
        printf("faults: SKIPPED full-disk case: mounting needs root and mount(8)\n");
        skip();
    }
    const char *m = path_in("full");
    char cmd[600], a[900], db[300];
    mkdir(m, 0755);
    /* LeNet's checkpoint is 0.7 MB (weights and Adam's two moments): the
     * first fits, the second does not */
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=1200k tmpfs %s", m);
    assert_int_equal(system(cmd), 0);
    snprintf(db, sizeof db, "%s/nnlab.db", m);
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s --set train.epochs=5 --set data.train_limit=600 "
             "--set data.test_limit=100", db);
    int rc = nnlab(a);
    int64_t epochs = q1(db, "SELECT count(*) FROM epochs");
    int ok = 1;
    if (rc != 1 || !strstr(errout, "No space left on device")) {
        print_error("full disk: exit %d, stderr:\n%s\n", rc, errout);
        ok = 0;
    }
    if (ok) {
        check_consistent(db);
        assert_true(epochs >= 1);
        assert_int_equal(q1(db, "SELECT count(*) FROM runs WHERE status = 'failed' AND error LIKE '%space%'"), 1);
    }
    snprintf(cmd, sizeof cmd, "umount %s", m);
    assert_int_equal(system(cmd), 0);
    assert_true(ok);
}

static void truncated_and_foreign_checkpoints_are_refused(void **state) {
    if (!have_data()) skip();
    const char *db = path_in("ck.db");
    char a[900], cmd[1200], ck[600];
    const char *sets = "--set train.epochs=1 --set data.train_limit=300 --set data.test_limit=50";
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s %s", db, sets);
    assert_int_equal(nnlab(a), 0);
    snprintf(a, sizeof a, "train configs/lenet5.yaml --db %s %s --set model.layers.0.conv.filters=4", db, sets);
    assert_int_equal(nnlab(a), 0);
    snprintf(ck, sizeof ck, "%s/checkpoints/ck/1/last.ckpt", dir);
    /* run 1 cut short: its last checkpoint torn in half, then another run's */
    exec_sql(db, "UPDATE runs SET status = 'interrupted' WHERE id = 1");
    snprintf(cmd, sizeof cmd, "truncate -s 20000 %s", ck);
    assert_int_equal(system(cmd), 0);
    snprintf(a, sizeof a, "train --resume 1 --db %s", db);
    assert_int_equal(nnlab(a), 1);
    if (!strstr(errout, "last.ckpt: truncated or corrupt checkpoint (20000 bytes, expected ")) fail_msg("%s", errout);
    exec_sql(db, "UPDATE runs SET status = 'interrupted' WHERE id = 1");
    snprintf(cmd, sizeof cmd, "cp %s/checkpoints/ck/2/last.ckpt %s", dir, ck);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(nnlab(a), 1);
    if (!strstr(errout, "last.ckpt: checkpoint is for another architecture (")) fail_msg("%s", errout);
    assert_int_equal(q1(db, "SELECT count(*) FROM epochs WHERE run_id = 1"), 1); /* nothing lost */
    check_consistent(db);
}

int main(void) {
    if (access(nnlab_bin(), X_OK)) {
        fprintf(stderr, "test_faults: %s is missing: run from the repository root after make\n", nnlab_bin());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreign_and_newer_databases_are_refused),
        cmocka_unit_test(read_only_database_and_folder_are_refused),
        cmocka_unit_test(full_disk_stops_the_run_and_keeps_what_was_committed),
        cmocka_unit_test(truncated_and_foreign_checkpoints_are_refused),
        cmocka_unit_test(kill9_at_random_moments_loses_nothing),
        cmocka_unit_test(kill9_inside_checkpoint_writes_leaves_old_or_new),
        cmocka_unit_test(sigint_and_sigterm_stop_a_sweep_cleanly),
        cmocka_unit_test(eight_workers_on_two_cores_share_one_database),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
