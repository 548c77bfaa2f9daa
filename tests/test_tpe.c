/* test_tpe.c -- runner/tpe.c against Optuna's own TPE code (every case of
 * tests/fixtures/tpe.txt, written by tests/make_tpe_fixtures.py), then what
 * a suggestion must do: repeat itself, stay in range, follow the good runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../runner/train/tpe.h"

enum { MAXV = 256 };

/* the numbers of one '|' field */
static int numbers(char *s, double *v) {
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, " \n", &save); tok && n < MAXV; tok = strtok_r(NULL, " \n", &save))
        v[n++] = strtod(tok, NULL);
    return n;
}

static void close_to(int line, const char *what, double got, double want, double rel) {
    if (isinf(want) && got == want) return;
    if (!(fabs(got - want) <= fmax(rel * fabs(want), 1e-12)))
        fail_msg("tpe.txt:%d: %s is %.17g, Optuna says %.17g", line, what, got, want);
}

static void every_case_matches_optuna(void **state) {
    FILE *f = fopen("tests/fixtures/tpe.txt", "r");
    if (!f) fail_msg("tests/fixtures/tpe.txt: cannot open (run from the repository root)");
    static char line[1 << 16];
    int lineno = 0, counted[4] = {0};
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *field[3] = {line, NULL, NULL};
        for (int i = 1; i < 3; i++) {
            char *bar = field[i - 1] ? strchr(field[i - 1], '|') : NULL;
            if (bar) { *bar = 0; field[i] = bar + 1; }
        }
        char kind[16], sub[16];
        double a[MAXV], b[MAXV];
        if (sscanf(field[0], "%15s", kind) != 1 || !field[1]) fail_msg("tpe.txt:%d: malformed", lineno);
        if (!strcmp(kind, "pe")) {
            double lo, hi;
            int nch;
            if (sscanf(field[0], "pe %15s %lf %lf %d", sub, &lo, &hi, &nch) != 4 || !field[2])
                fail_msg("tpe.txt:%d: malformed pe line", lineno);
            const nnl_tpe_kind k = !strcmp(sub, "float") ? NNL_TPE_FLOAT : !strcmp(sub, "log") ? NNL_TPE_LOG
                                 : !strcmp(sub, "int") ? NNL_TPE_INT : NNL_TPE_CHOICE;
            const nnl_tpe_dim d = {k, lo, hi, nch};
            const int nobs = numbers(field[1], a), np = numbers(field[2], b);
            nnl_parzen pe;
            assert_int_equal(nnl_parzen_init(&pe, &d, a, nobs), 0);
            for (int i = 0; i + 1 < np; i += 2) {
                char what[64];
                snprintf(what, sizeof what, "%s log_pdf(%g)", sub, b[i]);
                close_to(lineno, what, nnl_parzen_log_pdf(&pe, b[i]), b[i + 1], 1e-11);
            }
            nnl_parzen_free(&pe);
            counted[0]++;
        } else if (!strcmp(kind, "split")) {
            const int nbelow = atoi(field[0] + 5), n2 = numbers(field[1], a), nw = numbers(field[2], b);
            const int n = n2 / 2;
            nnl_tpe_obs obs[MAXV];
            for (int i = 0; i < n; i++) obs[i] = (nnl_tpe_obs){(int)a[2 * i], a[2 * i + 1]};
            int below[MAXV], above[MAXV];
            nnl_tpe_split(obs, n, nbelow, below, above);
            assert_int_equal(nw, nbelow);
            for (int i = 0; i < nbelow; i++)
                if (below[i] != (int)b[i]) fail_msg("tpe.txt:%d: good run %d is %d, Optuna says %d", lineno, i, below[i], (int)b[i]);
            /* the others, in run order, are every run not among the good ones */
            for (int i = 0, j = 0, k = 0; i < n; i++) {
                if (j < nbelow && below[j] == i) { j++; continue; }
                assert_int_equal(above[k++], i);
            }
            counted[1]++;
        } else if (!strcmp(kind, "weights")) {
            const int n = atoi(field[0] + 7), nw = numbers(field[1], b);
            double w[MAXV];
            assert_int_equal(nw, n);
            nnl_tpe_weights(n, w);
            for (int i = 0; i < n; i++) close_to(lineno, "weight", w[i], b[i], 1e-15);
            counted[2]++;
        } else if (!strcmp(kind, "gamma")) {
            numbers(field[1], b);
            assert_int_equal(nnl_tpe_gamma(atoi(field[0] + 5)), (int)b[0]);
            counted[3]++;
        } else {
            fail_msg("tpe.txt:%d: unknown kind '%s'", lineno, kind);
        }
    }
    fclose(f);
    for (int k = 0; k < 4; k++) assert_true(counted[k] >= 5); /* a truncated file must not pass */
}

static const nnl_tpe_dim dims[4] = {
    {NNL_TPE_LOG, 1e-4, 1e-2, 0}, {NNL_TPE_CHOICE, 0, 0, 3}, {NNL_TPE_FLOAT, 0, 0.001, 0}, {NNL_TPE_INT, 1, 10, 0}};

static void in_range(const double *x) {
    assert_true(x[0] >= 1e-4 && x[0] <= 1e-2);
    assert_true(x[1] == 0 || x[1] == 1 || x[1] == 2);
    assert_true(x[2] >= 0 && x[2] <= 0.001);
    assert_true(x[3] >= 1 && x[3] <= 10 && x[3] == floor(x[3]));
}

/* a history of n runs: the good ones near lr 1e-3, choice 2, 5e-4, 7 */
static void history(int n, double *hist, nnl_tpe_obs *obs) {
    for (int i = 0; i < n; i++) {
        nnl_tpe_random(dims, 4, 99, (uint64_t)i, hist + 4 * i);
        const double dl = log10(hist[4 * i]) + 3, dc = hist[4 * i + 1] == 2 ? 0 : 1;
        const double dw = (hist[4 * i + 2] - 5e-4) * 1e3, di = (hist[4 * i + 3] - 7) / 9;
        obs[i] = (nnl_tpe_obs){0, 0.9 - 0.05 * (dl * dl + dc + dw * dw + di * di)};
    }
}

static void suggestions_repeat_and_stay_in_range(void **state) {
    double hist[4 * 40], a[4], b[4], c[4];
    nnl_tpe_obs obs[40];
    history(40, hist, obs);
    for (int t = 0; t < 20; t++) {
        nnl_tpe_random(dims, 4, 5, (uint64_t)t, a);
        in_range(a);
        assert_int_equal(nnl_tpe_suggest(dims, 4, hist, obs, 40, 5, (uint64_t)t, b), 0);
        assert_int_equal(nnl_tpe_suggest(dims, 4, hist, obs, 40, 5, (uint64_t)t, c), 0);
        in_range(b);
        assert_memory_equal(b, c, sizeof b); /* the same inputs, the same bits */
    }
    /* another trial number or seed, another draw */
    nnl_tpe_suggest(dims, 4, hist, obs, 40, 5, 0, a);
    nnl_tpe_suggest(dims, 4, hist, obs, 40, 5, 1, b);
    nnl_tpe_suggest(dims, 4, hist, obs, 40, 6, 0, c);
    assert_true(memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a));
    /* no history: a draw from the prior, still in range */
    assert_int_equal(nnl_tpe_suggest(dims, 4, hist, obs, 0, 5, 0, a), 0);
    in_range(a);
}

/* Worked by hand: one key on [0, 1], runs at 0.1, 0.2, 0.8, 0.3 scoring
 * 0.5, 0.6, 0.9, 0.55. gamma(4) = 1, so l is built from {0.8} and g from
 * {0.1, 0.2, 0.3}. l: mus 0.8 and the prior 0.5; sorted 0.5, 0.8 framed by
 * 0 and 1; with two means the outer rule gives both the inner gap 0.3;
 * clip [1/3, 1] -> 1/3; the prior's sigma 1; weights 1/2, 1/2. At x = 0.8:
 * l = 0.5 N(0.8; 0.8, 1/3) / M1 + 0.5 N(0.8; 0.5, 1) / M2 with M the mass
 * of each on [0, 1]. The suggestion must land where l/g is large: above
 * 0.5, far from the bad runs. */
static void a_small_history_worked_by_hand(void **state) {
    const nnl_tpe_dim d = {NNL_TPE_FLOAT, 0, 1, 0};
    const double obsv[1] = {0.8};
    nnl_parzen l;
    assert_int_equal(nnl_parzen_init(&l, &d, obsv, 1), 0);
    assert_true(fabs(l.sigma[0] - 1.0 / 3) < 1e-15 && l.sigma[1] == 1 && l.mu[1] == 0.5);
    assert_true(l.w[0] == 0.5 && l.w[1] == 0.5);
    const double s = 1.0 / 3, rs2 = 0.70710678118654752440, rs2pi = 0.39894228040143267794;
    const double m1 = 0.5 * (erf((1 - 0.8) / s * rs2) - erf((0 - 0.8) / s * rs2));
    const double m2 = 0.5 * (erf((1 - 0.5) * rs2) - erf((0 - 0.5) * rs2));
    const double want = 0.5 * rs2pi / s / m1 + 0.5 * rs2pi * exp(-0.5 * 0.09) / m2;
    assert_true(fabs(nnl_parzen_log_pdf(&l, 0.8) - log(want)) < 1e-13);
    nnl_parzen_free(&l);
    const double hist[4] = {0.1, 0.2, 0.8, 0.3};
    const nnl_tpe_obs obs[4] = {{0, 0.5}, {0, 0.6}, {0, 0.9}, {0, 0.55}};
    for (uint64_t t = 0; t < 10; t++) {
        double x;
        nnl_tpe_suggest(&d, 1, hist, obs, 4, 1, t, &x);
        if (!(x > 0.5 && x <= 1)) fail_msg("trial %d: suggested %g, where the bad runs are", (int)t, x);
    }
}

/* with many runs, the suggestions crowd around the good region */
static void suggestions_follow_the_good_runs(void **state) {
    double hist[4 * 60], x[4];
    nnl_tpe_obs obs[60];
    history(60, hist, obs);
    int near = 0, choice2 = 0;
    for (int t = 0; t < 40; t++) {
        nnl_tpe_suggest(dims, 4, hist, obs, 60, 3, (uint64_t)t, x);
        near += fabs(log10(x[0]) + 3) < 0.5;
        choice2 += x[1] == 2;
    }
    /* a random draw lands within half a decade of 1e-3 half the time, on choice 2 a third */
    if (near < 30 || choice2 < 30) fail_msg("%d of 40 near lr 1e-3, %d on choice 2: TPE does not follow", near, choice2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_case_matches_optuna),
        cmocka_unit_test(suggestions_repeat_and_stay_in_range),
        cmocka_unit_test(a_small_history_worked_by_hand),
        cmocka_unit_test(suggestions_follow_the_good_runs),
    };
    return cmocka_run_group_tests_name("tpe", tests, NULL, NULL);
}
