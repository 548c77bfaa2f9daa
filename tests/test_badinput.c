/* test_badinput.c -- the malformed-input corpus in tests/bad/, each file
 * run through the nnlab binary (NNLAB_BIN, default ./nnlab):
 *
 *   tests/bad/config/NAME.yaml       nnlab train FILE --db DB, nnlab check FILE
 *   tests/bad/experiment/NAME.yaml   nnlab sweep FILE --db DB, nnlab check FILE
 *
 * Each file's first line is a comment that says what it is and what nnlab
 * must answer, in fields separated by " | ":
 *
 *   # DESCRIPTION | expect: 10:7: train.lr: expected a number
 *       stderr is "FILE:" followed by this (line and column where there are)
 *   # DESCRIPTION | raw: dataset not found in /nonexistent
 *       stderr holds this, for errors about another file (the base config,
 *       the data folder) rather than FILE
 *   | check: ...  the expectation for `nnlab check` when it differs
 *   | only: train  (or sweep, check) run only that command
 *
 * Every case must exit 2 with exactly one line on stderr, within the time
 * limit, without a sanitizer report, and leave no database behind. The
 * inputs that have no first line of their own (an empty file, a missing
 * path, a directory) are made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "tmpdir.h"
#include "nnlab_bin.h"

static char dir[64], db[128], errout[1 << 14];
static int ncases;

static int setup(void **state) {
    if (tmpdir_make(dir, "bad")) return -1;
    snprintf(db, sizeof db, "%s/r/nnlab.db", dir);
    return 0;
}

static int teardown(void **state) {
    printf("badinput: %d command runs on malformed input\n", ncases);
    return tmpdir_remove(dir);
}

/* runs nnlab CMD PATH [--db DB] under `timeout`; its exit status, -1 if it
 * died of a signal (a sanitizer aborts) or timed out */
static int run(const char *cmd, const char *path) {
    char line[4096], e[128];
    snprintf(e, sizeof e, "%s/err", dir);
    int withdb = strcmp(cmd, "check") != 0;
    snprintf(line, sizeof line, "timeout -s KILL 60 %s %s '%s'%s%s >/dev/null 2>%s </dev/null", nnlab_bin(), cmd,
             path, withdb ? " --db " : "", withdb ? db : "", e);
    int ws = system(line);
    FILE *f = fopen(e, "r");
    size_t n = f ? fread(errout, 1, sizeof errout - 1, f) : 0;
    errout[n] = 0;
    if (f) fclose(f);
    ncases++;
    return WIFEXITED(ws) && WEXITSTATUS(ws) != 124 && WEXITSTATUS(ws) != 137 ? WEXITSTATUS(ws) : -1;
}

/* The text of field NAME ("expect", "raw", "check", "only") of a header, in
 * out; 0 if absent. */
static int field(const char *head, const char *name, char *out, size_t cap) {
    char key[32];
    snprintf(key, sizeof key, "| %s: ", name);
    const char *p = strstr(head, key);
    if (!p) return 0;
    p += strlen(key);
    const char *end = strstr(p, " | ");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

static int lines_of(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* One command on one file: exit 2, one line, the expected text, no database. */
static int expect_refused(const char *cmd, const char *path, const char *head) {
    char want[512], prefixed[1024];
    int raw = 0;
    if (!strcmp(cmd, "check") && field(head, "check", want, sizeof want)) raw = 0;
    else if (field(head, "raw", want, sizeof want)) raw = 1;
    else if (!field(head, "expect", want, sizeof want)) {
        print_error("%s: first line has no expect: or raw: field\n", path);
        return 1;
    }
    snprintf(prefixed, sizeof prefixed, "%s:%s%s", path, want[0] >= '0' && want[0] <= '9' ? "" : " ", want);
    int rc = run(cmd, path);
    struct stat st;
    int wrote = stat(db, &st) == 0;
    const char *bad = rc != 2 ? "exit status" : lines_of(errout) != 1 ? "not one line" :
                      !strstr(errout, raw ? want : prefixed) ? "message" : wrote ? "wrote a database" : NULL;
    if (wrote) {
        char c[300];
        snprintf(c, sizeof c, "rm -rf %s/r", dir);
        if (system(c)) return 1;
    }
    if (!bad) return 0;
    print_error("nnlab %s %s: %s is wrong: exit %d, want \"%s\", stderr:\n%s\n", cmd, path, bad, rc,
                raw ? want : prefixed, errout);
    return 1;
}

/* Runs every file of folder through cmds (those not excluded by only:). */
static int corpus(const char *folder, const char *const *cmds, int ncmds, int *nfiles) {
    DIR *d = opendir(folder);
    if (!d) fail_msg("%s: cannot open", folder);
    struct dirent *e;
    int failures = 0;
    static char names[256][256];
    int n = 0;
    while ((e = readdir(d)) && n < 256)
        if (strstr(e->d_name, ".yaml")) snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++) {
        char path[1024], head[1024] = "", only[32];
        snprintf(path, sizeof path, "%.500s/%.255s", folder, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f || !fgets(head, sizeof head, f) || strncmp(head, "# ", 2)) {
            print_error("%s: the first line must be '# DESCRIPTION | expect: ...'\n", path);
            failures++;
            if (f) fclose(f);
            continue;
        }
        fclose(f);
        head[strcspn(head, "\n")] = 0;
        int has_only = field(head, "only", only, sizeof only);
        for (int c = 0; c < ncmds; c++)
            if (!has_only || !strcmp(only, cmds[c])) failures += expect_refused(cmds[c], path, head);
    }
    *nfiles = n;
    return failures;
}

static void every_bad_config_is_refused_with_one_line(void **state) {
    const char *cmds[] = {"train", "check"};
    int n, failures = corpus("tests/bad/config", cmds, 2, &n);
    assert_true(n >= 40);
    assert_int_equal(failures, 0);
}

static void every_bad_experiment_is_refused_with_one_line(void **state) {
    const char *cmds[] = {"sweep", "check"};
    int n, failures = corpus("tests/bad/experiment", cmds, 2, &n);
    assert_true(n >= 20);
    assert_int_equal(failures, 0);
}

/* inputs that cannot carry a first-line comment */
static void empty_missing_and_directory_paths_are_refused(void **state) {
    char path[256];
    const char *cmds[] = {"train", "sweep", "check"};
    snprintf(path, sizeof path, "%s/empty.yaml", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    /* train and check read a config, sweep an experiment: each says which one is empty */
    const char *empty[] = {
        "# a file of 0 bytes | expect: the config is empty: it needs at least model.layers (see configs/lenet5.yaml)",
        "# a file of 0 bytes | expect: the experiment is empty: it needs at least base and grid",
        "# a file of 0 bytes | expect: the config is empty: it needs at least model.layers (see configs/lenet5.yaml)",
    };
    for (int c = 0; c < 3; c++) {
        char head[256];
        snprintf(head, sizeof head, "%s", empty[c]);
        assert_int_equal(expect_refused(cmds[c], path, head), 0);
    }
    snprintf(path, sizeof path, "%s/no-such-file.yaml", dir);
    for (int c = 0; c < 3; c++) {
        char head[] = "# a path that does not exist | expect: cannot read: No such file or directory";
        assert_int_equal(expect_refused(cmds[c], path, head), 0);
    }
    for (int c = 0; c < 3; c++) {
        char head[] = "# a directory | expect: cannot read: is a directory";
        assert_int_equal(expect_refused(cmds[c], dir, head), 0);
    }
}

int main(void) {
    if (access(nnlab_bin(), X_OK)) {
        fprintf(stderr, "test_badinput: %s is missing: run from the repository root after make\n", nnlab_bin());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_bad_config_is_refused_with_one_line),
        cmocka_unit_test(every_bad_experiment_is_refused_with_one_line),
        cmocka_unit_test(empty_missing_and_directory_paths_are_refused),
    };
    return cmocka_run_group_tests_name("badinput", tests, setup, teardown);
}
