/* test_stats.c -- runner/stats.c against scipy: every case of
 * tests/fixtures/stats.txt (written by tests/make_stats_fixtures.py), then
 * the edge cases scipy answers with NaN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../runner/stats.h"

/* |got - want| within rel of |want| (or 1e-13 absolute near 0) */
static void near_rel(const char *what, int line, double got, double want, double rel) {
    const double tol = fmax(rel * fabs(want), 1e-13);
    if (!(fabs(got - want) <= tol))
        fail_msg("stats.txt:%d: %s is %.17g, scipy says %.17g", line, what, got, want);
}
static void near(const char *what, int line, double got, double want) { near_rel(what, line, got, want, 1e-9); }

/* scipy's t.ppf (Cephes' stdtrit) stops at about 1e-10 in probability, so
 * its quantiles are good to about 1e-8 (t.ppf(0.95, 4) = 2.13184678134 has
 * t.cdf 0.9499999997); ours are also checked through the cdf, to 1e-13 */
static void near_quantile(const char *what, int line, double got, double want) {
    near_rel(what, line, got, want, 1e-8);
}

/* the numbers of a line before and after its '|' */
static int numbers(char *s, double *v, int max) {
    int n = 0;
    for (char *tok = strtok(s, " \n"); tok && n < max; tok = strtok(NULL, " \n")) v[n++] = strtod(tok, NULL);
    return n;
}

static void every_case_matches_scipy(void **state) {
    FILE *f = fopen("tests/fixtures/stats.txt", "r");
    if (!f) fail_msg("tests/fixtures/stats.txt: cannot open (run from the repository root)");
    char line[4096], kind[16];
    int lineno = 0, counted[5] = {0};
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *bar = strchr(line, '|');
        if (!bar || sscanf(line, "%15s", kind) != 1) fail_msg("stats.txt:%d: no '|'", lineno);
        *bar = 0;
        double in[64], want[64];
        const int ni = numbers(line + strlen(kind), in, 64), nw = numbers(bar + 1, want, 64);
        if (!strcmp(kind, "tq")) {
            const double q = nnl_t_quantile(in[0], in[1]);
            near_quantile("t quantile", lineno, q, want[0]);
            near_rel("cdf of the t quantile", lineno, nnl_t_cdf(q, in[1]), in[0], 1e-13);
            counted[0]++;
        } else if (!strcmp(kind, "tc")) {
            near("t cdf", lineno, nnl_t_cdf(in[0], in[1]), want[0]);
            counted[1]++;
        } else if (!strcmp(kind, "sum")) {
            const nnl_summary s = nnl_summarize(in, ni);
            assert_int_equal(s.n, ni);
            near("mean", lineno, s.mean, want[0]);
            near("sd", lineno, s.sd, want[1]);
            near_quantile("95% half width", lineno, s.half, want[2]);
            counted[2]++;
        } else if (!strcmp(kind, "welch")) {
            const int na = (int)in[0], nb = (int)in[1 + na];
            assert_int_equal(ni, 2 + na + nb);
            const nnl_welch w = nnl_welch_test(in + 1, na, in + 2 + na, nb);
            near("Welch t", lineno, w.t, want[0]);
            near("Welch df", lineno, w.df, want[1]);
            near("Welch p", lineno, w.p, want[2]);
            counted[3]++;
        } else if (!strcmp(kind, "holm")) {
            const int m = (int)in[0];
            double adj[64];
            assert_int_equal(nw, m);
            nnl_holm(in + 1, m, adj);
            for (int i = 0; i < m; i++) near("Holm-adjusted p", lineno, adj[i], want[i]);
            counted[4]++;
        } else {
            fail_msg("stats.txt:%d: unknown kind '%s'", lineno, kind);
        }
    }
    fclose(f);
    /* every kind was there: a truncated file must not pass */
    for (int k = 0; k < 5; k++) assert_true(counted[k] >= 4);
}

static void edges_are_defined(void **state) {
    const double one[1] = {0.9}, two[2] = {0.9, 0.8}, flat[3] = {0.9, 0.9, 0.9}, flat2[2] = {0.8, 0.8};
    nnl_summary s = nnl_summarize(one, 1);
    assert_true(s.mean == 0.9 && isnan(s.sd) && isnan(s.half));
    s = nnl_summarize(flat, 3);
    assert_true(s.sd == 0 && s.half == 0);
    /* one seed on a side: no test */
    nnl_welch w = nnl_welch_test(one, 1, two, 2);
    assert_true(isnan(w.t) && isnan(w.df) && isnan(w.p));
    /* no noise at all: equal means cannot be told apart, others can */
    w = nnl_welch_test(flat, 3, flat, 3);
    assert_true(w.p == 1 && w.t == 0);
    w = nnl_welch_test(flat, 3, flat2, 2);
    assert_true(w.p == 0 && isinf(w.t) && w.t > 0);
    /* NaN p-values are left out of m */
    const double p[3] = {0.02, NAN, 0.04};
    double adj[3];
    nnl_holm(p, 3, adj);
    assert_true(fabs(adj[0] - 0.04) < 1e-15 && isnan(adj[1]) && fabs(adj[2] - 0.04) < 1e-15);
    assert_true(isnan(nnl_t_quantile(0, 3)) && isnan(nnl_t_quantile(1, 3)) && isnan(nnl_t_quantile(0.5, 0)));
    assert_true(nnl_t_cdf(-INFINITY, 3) == 0 && nnl_t_cdf(INFINITY, 3) == 1);
}

/* compare's column: each group against the best, Holm over those tested */
static void groups_against_the_best(void **state) {
    const double best[3] = {0.8827, 0.8801, 0.8856}, worse[3] = {0.8716, 0.8702, 0.8730},
                 same[3] = {0.8830, 0.8790, 0.8861}, one[1] = {0.5};
    const double *x[4] = {best, worse, same, one};
    const int n[4] = {3, 3, 3, 1};
    double p[4], ph[4];
    int d[4];
    nnl_versus_best(x, n, 4, 0, p, ph, d);
    /* the best is not tested against itself, nor a point of one seed */
    assert_true(isnan(p[0]) && isnan(ph[0]) && d[0] == -1);
    assert_true(isnan(p[3]) && isnan(ph[3]) && d[3] == -1);
    /* scipy's ttest_ind(best, worse / same, equal_var=False) (tests/fixtures/stats.txt) */
    assert_true(fabs(p[1] - 0.0083795299563387809) < 1e-12 && fabs(p[2] - 0.97124530951028376) < 1e-12);
    /* Holm over the two tested: 2 p for the smaller, then max(that, p) */
    assert_true(fabs(ph[1] - 2 * p[1]) < 1e-15 && fabs(ph[2] - p[2]) < 1e-15);
    assert_int_equal(d[1], 1);
    assert_int_equal(d[2], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_case_matches_scipy),
        cmocka_unit_test(edges_are_defined),
        cmocka_unit_test(groups_against_the_best),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
