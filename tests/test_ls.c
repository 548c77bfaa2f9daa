/* test_ls.c -- `nnlab ls`'s name column (runner/cli/ls.c): a name that
 * does not fit shows what varies and the seed, then is cut at a whole
 * character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../runner/cli/ls.h"

static void fit(const char *name, int width, const char *want) {
    char out[512];
    nnl_ls_fit(name, width, out, sizeof out);
    if (strcmp(out, want)) fail_msg("'%s' in %d: '%s', want '%s'", name, width, out, want);
}

static void names_fit_by_their_values_then_are_cut(void **state) {
    const char *n = "activation=sigmoid,pool=max,seed=2";
    fit(n, 0, n);                     /* no width: whole */
    fit(n, 34, n);                    /* just fits */
    fit(n, 33, "sigmoid,max,seed=2"); /* the values, the seed with its key */
    fit(n, 18, "sigmoid,max,seed=2");
    fit(n, 12, "sigmoid,max\xe2\x80\xa6");
    fit("lenet5", 4, "len\xe2\x80\xa6");
    /* whole characters: an accented value is not cut inside its bytes */
    fit("opt=\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9,seed=0", 4, "\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x80\xa6");
    /* width in characters, not bytes: 5 characters fit in 5 */
    fit("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 5, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_fit_by_their_values_then_are_cut),
    };
    return cmocka_run_group_tests_name("ls", tests, NULL, NULL);
}
