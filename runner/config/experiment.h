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
 *   prune: {after_epoch: 3}           # median pruner
 */
#ifndef NNL_EXPERIMENT_H
#define NNL_EXPERIMENT_H

#include <stdint.h>
#include "config.h"

#define NNL_MAX_GRID 16       /* keys in a grid or random section */
#define NNL_MAX_PLAN 100000   /* runs in one experiment */

/* One run of the plan. */
typedef struct {
    char name[300];           /* the values that vary: "activation=relu,pool=max,seed=1" */
    char point[256];          /* the same without the seed: runs of one grid point share it */
    char key[17];             /* nnl_config_key of cfg */
    uint64_t seed;
    nnl_config cfg;
} nnl_planned_run;

typedef struct {
    char name[NNL_NAME_MAX];
    char path[NNL_PATH_MAX];  /* the experiment file */
    char base[NNL_PATH_MAX];  /* the base config, resolved against path's folder */
    int prune_after;          /* median pruner from this epoch on; 0: none */
    uint64_t random_seed;     /* the sweep seed of random samples (recorded) */
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

#endif
