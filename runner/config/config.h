/* config.h -- one run's configuration: loaded from a YAML file (libyaml),
 * overridden by --set key=value, validated, resolved and printed canonically.
 *
 * A config file has four sections (every key optional but model.layers):
 *
 *   name: lenet5
 *   model:
 *     input: [1, 28, 28]
 *     activation: sigmoid      # default for every `act` layer that names none
 *     pool: avg                # default for every `pool` layer that names none
 *     layers:
 *       - conv: {filters: 6, kernel: 5, padding: 2}
 *       - act
 *       - pool: {size: 2}
 *       - flatten
 *       - dense: 120       # also batchnorm, dropout: 0.5, gap (nn's layer table)
 *   train: {optimizer: adam, lr: 0.001, batch_size: 128, epochs: 10, seed: 0,
 *           early_stop: {patience: 3, min_delta: 0.001}}
 *   data: {dir: /usr/share/datasets/fashion-mnist, val_split: 0.2}
 *
 * Every resolved value has a dotted key (train.lr, model.layers.3.pool.type);
 * the canonical text lists them all, sorted, one `key: value` per line, and
 * its hash is the run key, so two configs that mean the same are one run.
 */
#ifndef NNL_CONFIG_H
#define NNL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "../../nn/nn.h"
#include "augment.h"

#define NNL_PATH_MAX 1024
#define NNL_NAME_MAX 128

/* A layer as written: kind_default says it takes model.activation or
 * model.pool, so sweeping those keys switches it. */
typedef struct {
    nn_layer_spec spec;
    int kind_default;
} nnl_layer;

typedef struct {
    char name[NNL_NAME_MAX];
    /* model */
    int input[3];               /* c, h, w */
    nn_kind activation;         /* NN_SIGMOID, NN_RELU, NN_TANH, NN_LEAKY_RELU */
    nn_kind pool;               /* NN_AVGPOOL, NN_MAXPOOL */
    nnl_layer layers[NN_MAX_LAYERS];
    int nlayers;
    /* train */
    nn_optim_cfg optim;         /* kind, lr, momentum, nesterov, weight_decay, betas, eps */
    int batch_size;
    int epochs;
    uint64_t seed;
    nn_sched sched;
    int threads;                /* 0: all cores */
    struct {
        int patience;           /* stop after this many epochs without a better val loss; 0: never */
        double min_delta;       /* "better" means lower by more than this */
    } early_stop;
    /* data */
    char data_dir[NNL_PATH_MAX];
    double val_split;
    int train_limit;            /* 0: all */
    nnl_augment_cfg augment;    /* data.augment: flip, crop, erase, erase_max */
    int test_limit;             /* 0: all */
} nnl_config;

/* One --set override, "train.lr=0.01" split at the first '='. */
typedef struct { const char *key; const char *value; } nnl_override;

/* Defaults: the tutorial's LeNet-5 training settings with no layers. */
void nnl_config_defaults(nnl_config *c);

/* Loads PATH, applies the overrides in order, validates and resolves.
 * Returns 0, or -1 with one line in err:
 *   "configs/x.yaml:7:5: unknown key 'lrr' in train (did you mean 'lr'?)". */
int nnl_config_load(const char *path, const nnl_override *ov, int nov,
                    nnl_config *c, char *err, size_t errlen);
/* The same from YAML text in memory; name is used in messages. */
int nnl_config_parse(const char *name, const char *text, size_t len,
                     const nnl_override *ov, int nov,
                     nnl_config *c, char *err, size_t errlen);

/* Splits "key=value" into an override (pointers into s). -1 if no '='. */
int nnl_override_parse(const char *s, nnl_override *ov);
/* A command's --set ARG, appended to sets[*n] (room for max): 0, or 2 (the
 * exit status of bad input) with one line on stderr naming cmd. */
int nnl_cli_set(const char *cmd, const char *arg, nnl_override *sets, int *n, int max);

/* The layer list with defaults applied, ready for nn_net_create. */
void nnl_config_layers(const nnl_config *c, nn_layer_spec *out);

/* Canonical text of the resolved config: every dotted key, sorted,
 * "key: value\n" each. Returns a malloc'd string. */
char *nnl_config_canonical(const nnl_config *c);
/* 16 hex digits: the run key, a hash of the canonical text without name,
 * data.dir and train.threads (they do not change what a run computes, up to
 * the order of float sums across threads). */
void nnl_config_key(const nnl_config *c, char out[17]);

/* Calls fn for every resolved dotted key and its value as text, sorted. */
void nnl_config_foreach(const nnl_config *c,
                        void (*fn)(const char *key, const char *value, void *ud),
                        void *ud);

#endif
