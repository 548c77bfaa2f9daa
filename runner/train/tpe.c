/* tpe.c -- see tpe.h. Follows Optuna 3.1's samplers/_tpe (sampler.py,
 * parzen_estimator.py, _truncnorm.py) in what it computes; the arithmetic
 * is our own so that it gives the same bits on every machine. */
#include "tpe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../../nn/nn.h"
#include "../../nn/nmath.h"

enum { CANDIDATES = 24 };

/* ---- exp and erfc from IEEE operations (nn_log is nn/nmath.h's) ---- */

/* e^x: x = k ln 2 + r, |r| <= ln 2 / 2, Taylor series of e^r to r^14
 * (truncation under 1e-17 relative), times 2^k exactly */
static double d_exp(double x) {
    if (x != x) return x;
    if (x > 709.78) return INFINITY;
    if (x < -745.2) return 0;
    const double k = nearbyint(x * 1.44269504088896340736);
    /* ln 2 in two parts: k * hi is exact for |k| < 2^11 */
    const double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    /* 1 / n!, each factorial exact in a double */
    static const double c[15] = {1.0,          1.0,           1.0 / 2,         1.0 / 6,          1.0 / 24,
                                 1.0 / 120,    1.0 / 720,     1.0 / 5040,      1.0 / 40320,      1.0 / 362880,
                                 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800, 1.0 / 87178291200};
    double p = c[14];
    for (int n = 13; n >= 0; n--) p = p * r + c[n];
    return ldexp(p, (int)k);
}

/* erfc x, within 2e-14 relative of glibc's up to 26 (the 1e-10 there is
 * glibc's subnormal range). Below 1.5: erf x = 2/sqrt(pi) e^(-x^2) sum
 * 2^n x^(2n+1) / (1 3 ... (2n+1)), a series of positive terms; from 1.5 on: Laplace's continued fraction
 * erfc x = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))),
 * evaluated from 100 levels down. */
static double d_erfc(double x) {
    if (x != x) return x;
    if (x < 0) return 2 - d_erfc(-x);
    const double rsqrtpi = 0.56418958354775628695;
    if (x < 1.5) {
        const double x2 = x * x;
        double term = x, sum = x;
        for (int n = 1; n < 200 && term > 1e-18 * sum; n++) {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
        }
        return 1 - 2 * rsqrtpi * d_exp(-x2) * sum;
    }
    if (x > 27.3) return 0;
    double f = x;
    for (int k = 100; k >= 1; k--) f = x + (k / 2.0) / f;
    return rsqrtpi * d_exp(-x * x) / f;
}

/* ln(Phi(b) - Phi(a)) for a < b, each tail from its own erfc */
static double log_gauss_mass(double a, double b) {
    const double r2 = 0.70710678118654752440;
    if (b <= 0) return nn_log(0.5 * (d_erfc(-b * r2) - d_erfc(-a * r2)));
    if (a >= 0) return nn_log(0.5 * (d_erfc(a * r2) - d_erfc(b * r2)));
    return nn_log(1 - 0.5 * d_erfc(-a * r2) - 0.5 * d_erfc(b * r2));
}

/* ln of the sum of e^v[i] */
static double log_sum_exp(const double *v, int n) {
    double m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    if (m == -INFINITY) return m;
    for (int i = 0; i < n; i++) s += d_exp(v[i] - m);
    return nn_log(s) + m;
}

static double uniform01(nn_rng *r) { return (double)(nn_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- ranking and weights ---- */

int nnl_tpe_gamma(int n) {
    const int g = (n + 9) / 10; /* ceil(0.1 n) */
    return g < 25 ? g : 25;
}

void nnl_tpe_weights(int n, double *w) {
    if (n < 25) {
        for (int i = 0; i < n; i++) w[i] = 1;
        return;
    }
    /* numpy's linspace(1/n, 1, n - 25), then 25 ones */
    const int m = n - 25;
    const double lo = 1.0 / n, step = m > 1 ? (1 - lo) / (m - 1) : 0;
    for (int i = 0; i < m; i++) w[i] = i == m - 1 && m > 1 ? 1.0 : lo + i * step;
    for (int i = m; i < n; i++) w[i] = 1;
}

/* rank order: finished first (Optuna's step -inf), then pruned at later
 * epochs first; within each, higher scores first, NaN last; ties by run */
static int ranks_before(const nnl_tpe_obs *a, int ia, const nnl_tpe_obs *b, int ib) {
    const double sa = a->pruned_at ? -(double)a->pruned_at : -INFINITY;
    const double sb = b->pruned_at ? -(double)b->pruned_at : -INFINITY;
    if (sa != sb) return sa < sb;
    const int na = a->score != a->score, nb = b->score != b->score;
    if (na != nb) return nb;
    if (!na && a->score != b->score) return a->score > b->score;
    return ia < ib;
}

void nnl_tpe_split(const nnl_tpe_obs *obs, int n, int nbelow, int *below, int *above) {
    /* rank of each run: how many runs come before it */
    int nb = 0, na = 0;
    for (int i = 0; i < n; i++) {
        int rank = 0;
        for (int j = 0; j < n; j++)
            if (j != i && ranks_before(&obs[j], j, &obs[i], i)) rank++;
        if (rank < nbelow) below[nb++] = i;
        else above[na++] = i;
    }
}

/* ---- the Parzen estimator ---- */

void nnl_parzen_free(nnl_parzen *pe) {
    free(pe->w);
    free(pe->mu);
    free(pe->sigma);
    free(pe->cw);
    memset(pe, 0, sizeof *pe);
}

int nnl_parzen_init(nnl_parzen *pe, const nnl_tpe_dim *d, const double *obs, int nobs) {
    memset(pe, 0, sizeof *pe);
    pe->d = *d;
    const int n = nobs + 1;
    pe->n = n;
    pe->w = malloc(sizeof(double) * n);
    if (!pe->w) return -1;
    nnl_tpe_weights(nobs, pe->w);
    pe->w[nobs] = 1; /* the prior's weight */
    double sum = 0;
    for (int i = 0; i < n; i++) sum += pe->w[i];
    for (int i = 0; i < n; i++) pe->w[i] /= sum;

    if (d->kind == NNL_TPE_CHOICE) {
        const int K = d->nchoices;
        pe->cw = malloc(sizeof(double) * n * K);
        if (!pe->cw) { nnl_parzen_free(pe); return -1; }
        /* each observation: 1 / n on every choice, + 1 on its own; the prior: uniform */
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < K; k++) pe->cw[i * K + k] = 1.0 / n;
            if (i < nobs) pe->cw[i * K + (int)obs[i]] += 1;
            double s = 0;
            for (int k = 0; k < K; k++) s += pe->cw[i * K + k];
            for (int k = 0; k < K; k++) pe->cw[i * K + k] /= s;
        }
        return 0;
    }
    pe->lo = d->kind == NNL_TPE_LOG ? nn_log(d->lo) : d->kind == NNL_TPE_INT ? d->lo - 0.5 : d->lo;
    pe->hi = d->kind == NNL_TPE_LOG ? nn_log(d->hi) : d->kind == NNL_TPE_INT ? d->hi + 0.5 : d->hi;
    pe->mu = malloc(sizeof(double) * n);
    pe->sigma = malloc(sizeof(double) * n);
    int *order = malloc(sizeof(int) * n);
    double *s = malloc(sizeof(double) * (n + 2));
    if (!pe->mu || !pe->sigma || !order || !s) {
        free(order);
        free(s);
        nnl_parzen_free(pe);
        return -1;
    }
    const double lo = pe->lo, hi = pe->hi;
    for (int i = 0; i < nobs; i++) pe->mu[i] = d->kind == NNL_TPE_LOG ? nn_log(obs[i]) : obs[i];
    pe->mu[nobs] = 0.5 * (lo + hi);
    /* the means in ascending order (stable), framed by the bounds; each
     * sigma the larger gap to a neighbour, the outermost ones the inner gap */
    for (int i = 0; i < n; i++) {
        int j = i;
        for (; j > 0 && pe->mu[order[j - 1]] > pe->mu[i]; j--) order[j] = order[j - 1];
        order[j] = i;
    }
    s[0] = lo;
    for (int i = 0; i < n; i++) s[i + 1] = pe->mu[order[i]];
    s[n + 1] = hi;
    const double minsigma = (hi - lo) / (1.0 + n < 100 ? 1.0 + n : 100), maxsigma = hi - lo;
    for (int i = 0; i < n; i++) {
        const double left = s[i + 1] - s[i], right = s[i + 2] - s[i + 1];
        double sg = left > right ? left : right;
        if (n + 2 >= 4 && i == 0) sg = s[2] - s[1];
        if (n + 2 >= 4 && i == n - 1) sg = s[n] - s[n - 1];
        sg = sg < minsigma ? minsigma : sg > maxsigma ? maxsigma : sg;
        pe->sigma[order[i]] = sg;
    }
    pe->sigma[nobs] = hi - lo;
    free(order);
    free(s);
    return 0;
}

/* ln of component i's density (or mass, for whole numbers) at t, t in the
 * estimator's space */
static double component_log_pdf(const nnl_parzen *pe, int i, double t) {
    const double mu = pe->mu[i], sg = pe->sigma[i];
    const double norm = log_gauss_mass((pe->lo - mu) / sg, (pe->hi - mu) / sg);
    if (pe->d.kind == NNL_TPE_INT) {
        const double a = t - 0.5 > pe->lo ? t - 0.5 : pe->lo, b = t + 0.5 < pe->hi ? t + 0.5 : pe->hi;
        return log_gauss_mass((a - mu) / sg, (b - mu) / sg) - norm;
    }
    const double z = (t - mu) / sg;
    /* ln phi(z) - ln sigma: 0.5 ln(2 pi) = 0.91893853320467274178 */
    return -0.5 * z * z - 0.91893853320467274178 - nn_log(sg) - norm;
}

double nnl_parzen_log_pdf(const nnl_parzen *pe, double x) {
    if (pe->d.kind == NNL_TPE_CHOICE) {
        const int k = (int)x, K = pe->d.nchoices;
        double p = 0;
        for (int i = 0; i < pe->n; i++) p += pe->w[i] * pe->cw[i * K + k];
        return nn_log(p);
    }
    if (!(x >= pe->d.lo && x <= pe->d.hi)) return -INFINITY;
    double t = pe->d.kind == NNL_TPE_LOG ? nn_log(x) : x;
    t = t < pe->lo ? pe->lo : t > pe->hi ? pe->hi : t; /* ln of a bound, an ulp off */
    double v[64], *buf = pe->n <= 64 ? v : malloc(sizeof(double) * pe->n);
    if (!buf) return NAN;
    for (int i = 0; i < pe->n; i++) buf[i] = nn_log(pe->w[i]) + component_log_pdf(pe, i, t);
    const double r = log_sum_exp(buf, pe->n);
    if (buf != v) free(buf);
    return r;
}

/* a standard normal draw (Marsaglia's polar method: log and sqrt only) */
static double normal(nn_rng *r) {
    for (;;) {
        const double u = 2 * uniform01(r) - 1, v = 2 * uniform01(r) - 1, s = u * u + v * v;
        if (s > 0 && s < 1) return u * sqrt(-2 * nn_log(s) / s);
    }
}

/* a draw from the estimator, as a value of the key */
static double parzen_sample(const nnl_parzen *pe, nn_rng *r) {
    /* the component, by its weight */
    double u = uniform01(r), c = 0;
    int i = 0;
    for (; i < pe->n - 1; i++) {
        c += pe->w[i];
        if (u < c) break;
    }
    if (pe->d.kind == NNL_TPE_CHOICE) {
        const int K = pe->d.nchoices;
        u = uniform01(r);
        c = 0;
        int k = 0;
        for (; k < K - 1; k++) {
            c += pe->cw[i * K + k];
            if (u < c) break;
        }
        return k;
    }
    /* the truncated normal by rejection: the mean lies inside and sigma is
     * at least a hundredth of the range, so about half the draws land */
    double t = pe->mu[i];
    for (int tries = 0; tries < 10000; tries++) {
        const double z = pe->mu[i] + pe->sigma[i] * normal(r);
        if (z >= pe->lo && z <= pe->hi) { t = z; break; }
    }
    switch (pe->d.kind) {
    case NNL_TPE_LOG: {
        const double x = d_exp(t);
        return x < pe->d.lo ? pe->d.lo : x > pe->d.hi ? pe->d.hi : x;
    }
    case NNL_TPE_INT: {
        const double x = nearbyint(t - pe->d.lo) + pe->d.lo;
        return x < pe->d.lo ? pe->d.lo : x > pe->d.hi ? pe->d.hi : x;
    }
    default: return t;
    }
}

static void seed_for(nn_rng *r, uint64_t seed, uint64_t trial) {
    nn_rng_seed(r, seed ^ (trial + 1) * 0x9E3779B97F4A7C15ULL);
}

void nnl_tpe_random(const nnl_tpe_dim *d, int nd, uint64_t seed, uint64_t trial, double *out) {
    nn_rng r;
    seed_for(&r, seed, trial);
    for (int j = 0; j < nd; j++) {
        const double u = uniform01(&r);
        switch (d[j].kind) {
        case NNL_TPE_FLOAT: out[j] = d[j].lo + u * (d[j].hi - d[j].lo); break;
        case NNL_TPE_LOG: {
            const double a = nn_log(d[j].lo), b = nn_log(d[j].hi), x = d_exp(a + u * (b - a));
            out[j] = x < d[j].lo ? d[j].lo : x > d[j].hi ? d[j].hi : x;
            break;
        }
        case NNL_TPE_INT: out[j] = d[j].lo + nn_rng_below(&r, (uint32_t)(d[j].hi - d[j].lo + 1)); break;
        case NNL_TPE_CHOICE: out[j] = nn_rng_below(&r, (uint32_t)d[j].nchoices); break;
        }
    }
}

int nnl_tpe_suggest(const nnl_tpe_dim *d, int nd, const double *hist, const nnl_tpe_obs *obs, int n,
                    uint64_t seed, uint64_t trial, double *out) {
    if (n < 1) { nnl_tpe_random(d, nd, seed, trial, out); return 0; }
    int *below = malloc(sizeof(int) * n), *above = malloc(sizeof(int) * n);
    double *vb = malloc(sizeof(double) * n), *va = malloc(sizeof(double) * n);
    if (!below || !above || !vb || !va) {
        free(below); free(above); free(vb); free(va);
        return -1;
    }
    const int nbelow = nnl_tpe_gamma(n);
    nnl_tpe_split(obs, n, nbelow, below, above);
    nn_rng r;
    seed_for(&r, seed, trial);
    int rc = 0;
    for (int j = 0; j < nd && !rc; j++) {
        /* this key's values in the good runs and in the others (runs
         * without the key are left out), in run order */
        int nvb = 0, nva = 0;
        for (int i = 0; i < nbelow; i++) {
            const double v = hist[(size_t)below[i] * nd + j];
            if (v == v) vb[nvb++] = v;
        }
        for (int i = 0; i < n - nbelow; i++) {
            const double v = hist[(size_t)above[i] * nd + j];
            if (v == v) va[nva++] = v;
        }
        nnl_parzen l, g;
        if (nnl_parzen_init(&l, &d[j], vb, nvb)) { rc = -1; break; }
        if (nnl_parzen_init(&g, &d[j], va, nva)) { nnl_parzen_free(&l); rc = -1; break; }
        /* the candidate with the largest l(x) / g(x), the first on ties */
        double best = -INFINITY;
        out[j] = NAN;
        for (int c = 0; c < CANDIDATES; c++) {
            const double x = parzen_sample(&l, &r);
            const double sc = nnl_parzen_log_pdf(&l, x) - nnl_parzen_log_pdf(&g, x);
            if (out[j] != out[j] || sc > best) { best = sc; out[j] = x; }
        }
        nnl_parzen_free(&l);
        nnl_parzen_free(&g);
    }
    free(below); free(above); free(vb); free(va);
    return rc;
}
