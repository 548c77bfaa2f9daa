/* experiment.h -- an experiment file declares a comparison: a base config,
 * fixed overrides, a grid of values per dotted key, seeds, and optionally
 * random samples, and a pruner. It expands into a plan: one resolved config
 * per run, each with a readable name and its key.
 *
 *   name: act-pool
 *   base: ../configs/lenet5.yaml      # relative to this file, or absolute
 *   set: {train.epochs: 10}           # fixed overrides
 *   grid:                             # the product of all lists
 *     model.activation: [sigmoid, relu]
 *     model.pool: [avg, max]
 *   seeds: [0, 1, 2]                  # every grid point once per seed
 *   random:                           # optional: samples drawn from a seeded generator
 *     samples: 8
 *     seed: 0
 *     train.lr: {loguniform: [1e-4, 1e-2]}
 *     train.batch_size: {choice: [64, 128, 256]}
 *   tpe:                              # optional: model-based search (runner/train/search.c)
 *     samples: 24                     # suggestions in all, each run once per seed
 *     batch: 4                        # suggested together from the runs finished before
 *     startup: 8                      # drawn at random first
 *     seed: [0, 1, 2]                 # one search per seed (random: takes a list too)
 *     train.lr: {loguniform: [1e-4, 1e-2]}
 *   prune: {after_epoch: 3}           # median pruner (also {type: median, after_epoch: 3})
 *   prune: {type: halving, min_epochs: 2, eta: 3}   # successive halving
 */
#ifndef NNL_EXPERIMENT_H
#define NNL_EXPERIMENT_H

#include <stdint.h>
#include "config.h"
#include "tpe.h"

#define NNL_MAX_GRID 16       /* keys in a grid or random section */
#define NNL_MAX_PLAN 100000   /* runs in one experiment */
#define NNL_MAX_SEARCHES 16   /* search seeds of a random: or tpe: block */
#define NNL_VAL_MAX 256       /* a grid or choice value as flow text */

/* One run of the plan. */
typedef struct {
    char name[300];           /* the values that vary: "activation=relu,pool=max,seed=1" */
    char point[256];          /* the same without the seed: runs of one grid point share it */
    char key[17];             /* nnl_config_key of cfg */
    uint64_t seed;
    /* how it came to be: "grid", "variants", "random" or "tpe"; a search's
     * run also has its search seed, its sample's number in that search (its
     * trial, from 0; the seeds of one sample share it) and, tpe, its batch */
    const char *method;
    uint64_t search;
    int trial, batch;
    /* its place in the whole plan, fixed before any result is known: the
     * static runs 0 .. nruns-1 in order, then tpe: runs from nruns on by
     * (search, trial, seed) (nnl_plan_tpe_run); a Slurm task's share */
    int ordinal;
    nnl_config cfg;
} nnl_planned_run;

typedef enum { NNL_PRUNE_NONE, NNL_PRUNE_MEDIAN, NNL_PRUNE_HALVING } nnl_prune_kind;

/* One searched key of a tpe: block: its distribution for the sampler and,
 * for a choice, the values its indices stand for. */
typedef struct {
    char key[128];            /* dotted config key */
    char shortname[64];       /* what run names call it */
    nnl_tpe_dim dim;
    char (*vals)[NNL_VAL_MAX];/* dim.nchoices values (choice keys) */
} nnl_search_key;

/* A tpe: block: its suggestions depend on results, so they are not in
 * plan->runs; runner/train/search.c computes them batch by batch. */
typedef struct {
    int samples, batch, startup;
    int nsearch;
    uint64_t search[NNL_MAX_SEARCHES];
    int nkeys;
    nnl_search_key keys[NNL_MAX_GRID];
    int nseeds;
    uint64_t seeds[1024];     /* the training seeds each suggestion runs with */
    int nfixed;               /* the overrides every suggestion is loaded with: the */
    nnl_override *fixed;      /* experiment's set:, then (after the values and the */
    int nafter;               /* seed) the command line's: fixed[nfixed..nfixed+nafter) */
    char *text;               /* the strings fixed points into */
    nnl_config probe;         /* a run with the low end of every key (checked against the data) */
} nnl_tpe_plan;

typedef struct {
    char name[NNL_NAME_MAX];
    char path[NNL_PATH_MAX];  /* the experiment file */
    char base[NNL_PATH_MAX];  /* the base config, resolved against path's folder */
    nnl_prune_kind prune;
    int prune_after;          /* median pruner from this epoch on */
    int halving_min, halving_eta; /* successive halving: rungs at min x eta^k epochs */
    uint64_t random_seed;     /* the first search seed of random samples */
    char random_keys[1024];   /* the random: keys as "train.lr:log,train.batch_size:choice" */
    nnl_tpe_plan *tpe;        /* NULL: no tpe: block */
    int nruns;
    nnl_planned_run *runs;    /* nruns, malloc'd */
} nnl_plan;

/* Reads the experiment file and expands it, with the command line's
 * overrides applied to every run after the experiment's own. Every run's
 * config is loaded and validated, so a grid key that is not a config key or
 * a value of the wrong type is an error here, before anything runs:
 *   "experiments/x.yaml:6:5: grid: model.activaton: unknown key ... (did you mean ...)".
 * Returns 0, or -1 with one line in err. */
int nnl_plan_load(const char *path, const nnl_override *ov, int nov, nnl_plan *plan,
                  char *err, size_t errlen);
void nnl_plan_free(nnl_plan *plan);

/* The runs the plan will have in all: its runs, and a tpe: block's
 * suggestions times the training seeds. */
int nnl_plan_max_runs(const nnl_plan *plan);

/* A config of the plan, for what all its runs share (the data folder):
 * its first run's, or with a tpe: block alone, the block's probe. */
const nnl_config *nnl_plan_any_config(const nnl_plan *plan);

/* The keys of a tpe: block as recorded with each of its runs (sweep.keys). */
void nnl_tpe_keys_text(const nnl_tpe_plan *t, char *out, size_t n);

/* Rounds a suggestion to what a run is given (4 significant digits, whole
 * numbers for int keys), in place, so the history holds what ran. */
void nnl_tpe_round(const nnl_tpe_plan *t, double *vals);

/* One run of a tpe: suggestion: vals (one per key, rounded), its search
 * (index into t->search), trial, batch and training seed (index into
 * t->seeds). Loaded and validated as a planned run; 0 or -1 with err. */
int nnl_plan_tpe_run(const nnl_plan *plan, int search, int trial, int batch, const double *vals, int seed,
                     nnl_planned_run *r, char *err, size_t errlen);

#endif
