/* stats.h -- how sure a comparison of runs is: the mean of a few seeds'
 * accuracies with its Student-t confidence interval, Welch's t-test between
 * two variants, and Holm's correction when one variant is tested against
 * several. Plain arithmetic on doubles; nothing here reads a database.
 *
 *     nnl_summary s = nnl_summarize(acc, nseeds);       // s.mean +- s.half (95 %)
 *     nnl_welch w = nnl_welch_test(best, nb, other, no); // w.p: two-sided
 *     nnl_holm(p, m, adjusted);                         // step-down, each <= 1
 *
 * Checked against scipy (tests/make_stats_fixtures.py writes the
 * reference values, tests/test_stats.c compares). */
#ifndef NNL_STATS_H
#define NNL_STATS_H

/* n values: their mean, sample standard deviation (n - 1) and the half
 * width of the 95 % confidence interval of the mean, t(0.975, n - 1) sd /
 * sqrt(n). sd and half are NAN when n < 2 (one seed says nothing of the
 * noise). */
typedef struct {
    int n;
    double mean, sd, half;
} nnl_summary;
nnl_summary nnl_summarize(const double *x, int n);

/* Student's t distribution with df degrees of freedom (df > 0): P(T <= t),
 * and the t with P(T <= t) = p for 0 < p < 1 (NAN outside). */
double nnl_t_cdf(double t, double df);
double nnl_t_quantile(double p, double df);

/* Welch's unequal-variance t-test of mean(a) = mean(b), as scipy's
 * ttest_ind(a, b, equal_var=False): t, the Welch-Satterthwaite degrees of
 * freedom and the two-sided p-value. Needs 2 values on each side (else
 * all NAN). When neither side varies at all, p is 1 for equal means and 0
 * otherwise (no noise to hide a difference), df is NAN. */
typedef struct {
    double t, df, p;
} nnl_welch;
nnl_welch nnl_welch_test(const double *a, int na, const double *b, int nb);

/* Holm's step-down correction of m p-values (family-wise error): adj[i]
 * for p[i], monotone in the sorted order and at most 1. NAN p-values stay
 * NAN and do not count in m. adj may be p. */
void nnl_holm(const double *p, int m, double *adj);

/* m groups of values (group i: n[i] values at x[i]) against group best:
 * Welch's p-value of each (NAN for best itself and where a side has fewer
 * than 2 values), those p-values Holm-corrected over the groups tested,
 * and whether each differs from the best beyond seed noise at the 5 %
 * level: 1 yes, 0 no, -1 untested (best, or too few values). */
void nnl_versus_best(const double *const *x, const int *n, int m, int best, double *p, double *p_holm,
                     int *differs);

#endif
