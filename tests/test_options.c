/* test_options.c -- the one option parser (runner/cli/cli.c, issue 13):
 * every form of an option is read into nnl_args, each mistake is one line
 * naming the command and the option, and --help lists every option a
 * command takes, because both come from the same table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "../runner/cli/cli.h"

static const nnl_command demo = {
    .name = "demo", .args = "FILE", .min_args = 1, .max_args = 1, .missing = "a FILE",
    .about = "A command for the tests.\n",
    .opts = {{NNL_OPT_SET}, {NNL_OPT_DB}, {NNL_OPT_JOBS}, {NNL_OPT_QUIET}, {NNL_OPT_PARTITION}},
};

static char errbuf[4096];

/* parses the words of line as demo's argv; stderr goes to errbuf */
static int parse(const char *line, nnl_args *a) {
    static char text[1024];
    static char *argv[64];
    snprintf(text, sizeof text, "demo %s", line);
    int argc = 0;
    for (char *w = strtok(text, " "); w && argc < 63; w = strtok(NULL, " ")) argv[argc++] = w;
    argv[argc] = NULL;
    fflush(stderr);
    FILE *f = tmpfile();
    int saved = dup(2);
    dup2(fileno(f), 2);
    int rc = nnl_cli_parse(&demo, argc, argv, a);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(errbuf, 1, sizeof errbuf - 1, f);
    errbuf[n] = 0;
    fclose(f);
    return rc;
}

static void every_form_of_an_option_is_read(void **state) {
    nnl_args a;
    assert_int_equal(parse("--db=x.db f.yaml -j3 --set train.lr=0.1 --quiet --set a.b=c", &a), 0);
    assert_string_equal(a.db, "x.db");
    assert_int_equal(a.jobs, 3);
    assert_int_equal(a.quiet, 1);
    assert_int_equal(a.nsets, 2);
    assert_string_equal(a.sets[0].value, "0.1");
    assert_string_equal(a.set_text[1], "a.b=c");
    assert_string_equal(a.positional, "f.yaml");
    assert_int_equal(parse("--jo 4 --db y.db -- -f.yaml", &a), 0); /* a unique prefix; -- ends the options */
    assert_int_equal(a.jobs, 4);
    assert_string_equal(a.db, "y.db");
    assert_string_equal(a.positional, "-f.yaml");
    assert_int_equal(parse("f.yaml", &a), 0);
    assert_string_equal(a.db, NNL_DEFAULT_DB);
    assert_int_equal(a.jobs, 1);
}

static void each_mistake_is_one_line_naming_the_option(void **state) {
    nnl_args a;
    struct { const char *line, *want; } cases[] = {
        {"f.yaml --bogus", "nnlab demo: unknown option '--bogus' (see 'nnlab demo --help')\n"},
        {"f.yaml --csv", "nnlab demo: option '--csv' does not apply to demo (see 'nnlab demo --help')\n"},
        {"f.yaml --db", "nnlab demo: option '--db' needs a value (see 'nnlab demo --help')\n"},
        {"f.yaml --quiet=1", "nnlab demo: option '--quiet' takes no value (see 'nnlab demo --help')\n"},
        {"f.yaml -j 0", "nnlab demo: -j 0: expected a whole number from 1 to 64\n"},
        {"f.yaml --jobs=x", "nnlab demo: --jobs x: expected a whole number from 1 to 64\n"},
        {"f.yaml --set lr", "nnlab demo: --set lr: expected KEY=VALUE, e.g. --set train.lr=0.01\n"},
        {"", "nnlab demo: expected a FILE (see 'nnlab demo --help')\n"},
        {"f.yaml g.yaml", "nnlab demo: unexpected argument 'g.yaml'\n"},
        {"f.yaml --p", "nnlab demo: option '--p' is ambiguous (see 'nnlab demo --help')\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse(cases[i].line, &a);
        if (rc != 2 || strcmp(errbuf, cases[i].want))
            fail_msg("demo %s: exit %d, stderr \"%s\", want \"%s\"", cases[i].line, rc, errbuf, cases[i].want);
    }
}

/* a newline in an #SBATCH value would make the rest of the line a command */
static void sbatch_values_refuse_control_characters(void **state) {
    nnl_args a;
    static char line[] = "f.yaml --partition x\ty";
    assert_int_equal(parse(line, &a), 2);
    assert_non_null(strstr(errbuf, "nnlab demo: --partition: the value contains a control character"));
}

static void help_lists_every_option_the_command_takes(void **state) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    nnl_cli_help(&demo, m);
    fclose(m);
    assert_non_null(strstr(buf, "usage: nnlab demo FILE"));
    const char *want[] = {"--set KEY=VALUE", "--db PATH", "-j N, --jobs N", "--quiet", "--partition P"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(buf, want[i])) fail_msg("--help lacks %s:\n%s", want[i], buf);
    assert_null(strstr(buf, "--csv"));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_form_of_an_option_is_read),
        cmocka_unit_test(each_mistake_is_one_line_naming_the_option),
        cmocka_unit_test(sbatch_values_refuse_control_characters),
        cmocka_unit_test(help_lists_every_option_the_command_takes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
