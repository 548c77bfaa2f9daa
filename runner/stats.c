/* stats.c -- see stats.h. The t distribution goes through the regularized
 * incomplete beta function, P(|T| > t) = I_x(df / 2, 1 / 2) with
 * x = df / (df + t^2), evaluated by its continued fraction (modified Lentz;
 * Abramowitz and Stegun 26.5.8, 26.7.1). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

/* the continued fraction of I_x(a, b), for x < (a + 1) / (a + b + 2) */
static double beta_cf(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-16;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        const int m2 = 2 * m;
        /* the even step, then the odd one */
        double aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        const double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    return h;
}

/* the regularized incomplete beta function I_x(a, b), 0 <= x <= 1 */
static double beta_inc(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

/* P(|T| > |t|) */
static double t_two_sided(double t, double df) {
    if (isnan(t) || isnan(df) || df <= 0) return NAN;
    if (isinf(t)) return 0;
    return beta_inc(df / 2, 0.5, df / (df + t * t));
}

double nnl_t_cdf(double t, double df) {
    const double tail = t_two_sided(t, df) / 2;
    return t > 0 ? 1 - tail : tail;
}

double nnl_t_quantile(double p, double df) {
    if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
    if (p == 0.5) return 0;
    if (p < 0.5) return -nnl_t_quantile(1 - p, df);
    /* t > 0 with P(|T| > t) = 2 (1 - p): that tail falls as t grows */
    const double want = 2 * (1 - p);
    double lo = 0, hi = 1;
    while (t_two_sided(hi, df) > want && hi < 1e300) hi *= 2;
    for (int i = 0; i < 2000 && hi - lo > 4e-16 * hi; i++) {
        const double mid = lo + (hi - lo) / 2;
        if (t_two_sided(mid, df) > want) lo = mid;
        else hi = mid;
    }
    return lo + (hi - lo) / 2;
}

/* mean and sample variance, two passes */
static void moments(const double *x, int n, double *mean, double *var) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    double q = 0;
    for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *var = n > 1 ? q / (n - 1) : NAN;
}

nnl_summary nnl_summarize(const double *x, int n) {
    nnl_summary s = {n, NAN, NAN, NAN};
    if (n < 1) return s;
    double var;
    moments(x, n, &s.mean, &var);
    if (n < 2) return s;
    s.sd = sqrt(var);
    s.half = nnl_t_quantile(0.975, n - 1) * s.sd / sqrt(n);
    return s;
}

nnl_welch nnl_welch_test(const double *a, int na, const double *b, int nb) {
    nnl_welch w = {NAN, NAN, NAN};
    if (na < 2 || nb < 2) return w;
    double ma, va, mb, vb;
    moments(a, na, &ma, &va);
    moments(b, nb, &mb, &vb);
    const double sa = va / na, sb = vb / nb, se2 = sa + sb;
    if (se2 == 0) {
        w.t = ma == mb ? 0 : ma > mb ? INFINITY : -INFINITY;
        w.p = ma == mb ? 1 : 0;
        return w;
    }
    w.t = (ma - mb) / sqrt(se2);
    w.df = se2 * se2 / (sa * sa / (na - 1) + sb * sb / (nb - 1));
    w.p = t_two_sided(w.t, w.df);
    return w;
}

void nnl_holm(const double *p, int m, double *adj) {
    if (m <= 0) return;
    int *order = malloc(sizeof(int) * (size_t)m);
    double *out = malloc(sizeof(double) * (size_t)m);
    if (!order || !out) {
        /* no memory for the order: Bonferroni's bound is never below Holm's */
        for (int i = 0; i < m; i++) adj[i] = isnan(p[i]) ? NAN : fmin(1, p[i] * m);
        free(order);
        free(out);
        return;
    }
    /* the p-values that are numbers, in ascending order (insertion: m is
     * the number of variants, and ties keep their order) */
    int k = 0;
    for (int i = 0; i < m; i++) {
        if (isnan(p[i])) continue;
        int j = k++;
        for (; j > 0 && p[order[j - 1]] > p[i]; j--) order[j] = order[j - 1];
        order[j] = i;
    }
    for (int i = 0; i < m; i++) out[i] = NAN;
    double run = 0;
    for (int j = 0; j < k; j++) {
        const double v = fmin(1, (k - j) * p[order[j]]);
        run = fmax(run, v);
        out[order[j]] = run;
    }
    for (int i = 0; i < m; i++) adj[i] = out[i];
    free(order);
    free(out);
}

void nnl_versus_best(const double *const *x, const int *n, int m, int best, double *p, double *p_holm,
                     int *differs) {
    for (int i = 0; i < m; i++) p[i] = i == best ? NAN : nnl_welch_test(x[best], n[best], x[i], n[i]).p;
    nnl_holm(p, m, p_holm);
    for (int i = 0; i < m; i++) differs[i] = isnan(p_holm[i]) ? -1 : p_holm[i] < 0.05;
}
