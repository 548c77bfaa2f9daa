/* tpe.h -- the Tree-structured Parzen Estimator (Bergstra et al., NIPS
 * 2011) as Optuna's TPESampler does it by default (Optuna 3.1: independent
 * per key, prior weight 1, magic clip, no endpoints, 24 candidates,
 * gamma(n) = min(ceil(n / 10), 25), weights ramping below the newest 25).
 * Pure arithmetic on a history; nothing here reads a file or a database.
 *
 *     nnl_tpe_dim d[2] = {{NNL_TPE_LOG, 1e-4, 1e-2, 0}, {NNL_TPE_CHOICE, 0, 0, 3}};
 *     // hist: n runs x 2 values (a choice as its index), score: their
 *     // results in run order (higher is better), pruned ones with the
 *     // epoch they reached
 *     nnl_tpe_suggest(d, 2, hist, obs, n, seed, trial, out);
 *
 * The same history, seed and trial number give the same suggestion on
 * every machine: the randomness is nn's generator seeded from (seed,
 * trial), and exp, log and erfc are written out with IEEE operations
 * (glibc's differ in the last bit between CPUs, and a last bit of a
 * learning rate is another run). Checked against Optuna's own
 * _ParzenEstimator by tests/make_tpe_fixtures.py and tests/test_tpe.c. */
#ifndef NNL_TPE_H
#define NNL_TPE_H

#include <stdint.h>

typedef enum { NNL_TPE_FLOAT, NNL_TPE_LOG, NNL_TPE_INT, NNL_TPE_CHOICE } nnl_tpe_kind;

/* one searched key: [lo, hi] (LOG: lo > 0; INT: whole numbers, step 1), or
 * nchoices categories 0..nchoices-1 */
typedef struct {
    nnl_tpe_kind kind;
    double lo, hi;
    int nchoices;
} nnl_tpe_dim;

/* A run's result as TPE ranks it: finished runs by score, higher first;
 * then pruned ones, those that reached a later epoch first, by the score
 * they had there. A finished run has epoch 0. */
typedef struct {
    int pruned_at;   /* 0: finished; else the last epoch it reached */
    double score;    /* best validation accuracy (NAN ranks last) */
} nnl_tpe_obs;

/* Optuna's default_gamma and default_weights: how many of n runs are the
 * good ones, and the weight of each run in run order (w: n values). */
int nnl_tpe_gamma(int n);
void nnl_tpe_weights(int n, double *w);

/* The good runs (the first nbelow by rank) and the others, each list in
 * run order. below and above hold nbelow and n - nbelow indices. */
void nnl_tpe_split(const nnl_tpe_obs *obs, int n, int nbelow, int *below, int *above);

/* The Parzen estimator of one key over nobs observed values (in run order):
 * a mixture of truncated normals (of log x for LOG; binned by whole
 * numbers for INT) or of categorical distributions, plus the prior. */
typedef struct {
    nnl_tpe_dim d;
    int n;              /* components: the observations, then the prior */
    double lo, hi;      /* the bounds it lives in: ln lo, ln hi for LOG, lo - 0.5, hi + 0.5 for INT */
    double *w;          /* n weights, summing to 1 */
    double *mu, *sigma; /* n of each (numerical keys) */
    double *cw;         /* n x nchoices (categorical keys) */
} nnl_parzen;
int nnl_parzen_init(nnl_parzen *pe, const nnl_tpe_dim *d, const double *obs, int nobs);
void nnl_parzen_free(nnl_parzen *pe);
/* log density at x (a value of the key: for CHOICE its index; for INT a whole number) */
double nnl_parzen_log_pdf(const nnl_parzen *pe, double x);

/* The value of every key for run number `trial`, from the n runs before it
 * (hist: n x nd values; NAN where a run lacks the key). Fewer than 2 runs
 * in the history, or nothing that ranks: a draw from the prior. Returns 0,
 * or -1 when out of memory. */
int nnl_tpe_suggest(const nnl_tpe_dim *d, int nd, const double *hist, const nnl_tpe_obs *obs, int n,
                    uint64_t seed, uint64_t trial, double *out);

/* A draw from the key's own distribution (uniform, log-uniform, whole
 * numbers, choices): the runs before TPE has a history, seeded alike. */
void nnl_tpe_random(const nnl_tpe_dim *d, int nd, uint64_t seed, uint64_t trial, double *out);

#endif
