/* train.h -- one run from a resolved config to a finished database row:
 * data, network, epochs with validation, checkpoints, the test of the best
 * model; and the evaluation of a stored run (`nnlab test`). */
#ifndef NNL_TRAIN_H
#define NNL_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include "config.h"
#include "data.h"
#include "store.h"

/* Exit-like outcomes of a run */
typedef enum {
    NNL_RUN_FINISHED = 0,
    NNL_RUN_FAILED = 1,       /* an error: err says what */
    NNL_RUN_DIVERGED = 3,     /* NaN or infinite loss */
    NNL_RUN_STOPPED = 4,      /* ended early by on_epoch (pruned, early stop) */
    NNL_RUN_PAUSED = 5,       /* on_epoch said "waiting": kept as interrupted, to go on later */
    NNL_RUN_INTERRUPTED = 130 /* SIGINT or SIGTERM */
} nnl_outcome;

typedef struct {
    const nnl_config *cfg;
    nnl_store *store;
    const char *experiment;   /* NULL for a lone run */
    const char *name;         /* run name; NULL: cfg->name */
    int64_t resume_run;       /* 0: a new run; else continue this run from its last checkpoint */
    int progress;             /* 1: a live progress bar on stderr (a terminal) */
    int quiet;                /* 1: no per-epoch lines */
    const char *label;        /* prefix of the per-epoch lines (parallel sweeps); may be NULL */
    volatile sig_atomic_t *stop; /* set by a signal handler: stop after this batch */
    /* called after each epoch is recorded (may be NULL); a non-zero return
     * ends the run there with that status ("pruned", "interrupted"...);
     * "waiting" pauses it: status interrupted, why NNL_RUNG_WAIT-like text
     * from wait_reason, outcome NNL_RUN_PAUSED */
    const char *(*on_epoch)(int64_t run, const nnl_epoch_row *row, void *ud);
    void *ud;
    const char *wait_reason;
    /* 0: start on cfg's thread count (and try one thread against it); else
     * start on this many and try cfg's count against it (sweep workers) */
    int start_threads;
} nnl_train_opts;

typedef struct {
    int64_t run;
    int epochs_done, best_epoch, diverged_epoch;
    int early_stop_epoch;     /* 0: ran every epoch */
    double best_val_acc, test_loss, test_acc;
    double seconds;
    size_t nparams;
    int threads;
    int threads_at_end;       /* the count the network had chosen by the end: 1 or threads */
    /* where the time went, for `nnlab bench`: per layer, summed over the
     * run's epochs (training forward + validation forward, and backward) */
    int nlayers;
    nn_kind kind[NN_MAX_LAYERS];
    double t_fwd[NN_MAX_LAYERS], t_bwd[NN_MAX_LAYERS];
    double flops_per_epoch;   /* forward + backward of the training images, forward of the validation images */
    double flops_fwd[NN_MAX_LAYERS], flops_bwd[NN_MAX_LAYERS]; /* per layer and epoch, the same count */
    nn_isa isa;               /* the kernel path the run ended on */
} nnl_train_result;

/* Trains, recording everything in the store. Returns the outcome; on
 * NNL_RUN_FAILED err holds one line. The run's row says the same. */
nnl_outcome nnl_train(const nnl_train_opts *o, nnl_train_result *res, char *err, size_t errlen);

/* Whether the config fits the data: its input is one image's shape and its
 * last layer gives a score for every class (fewer would make the loss read
 * past the scores). nnl_train checks it; a caller that wants bad input to
 * touch no database checks it first, on the images of a probe load.
 * Returns 0, or -1 with one line in err. */
int nnl_train_check(const nnl_config *c, const nnl_images *train, char *err, size_t errlen);

/* Evaluates net (eval mode) on images idx[0..n) of im in batches of B:
 * mean loss, accuracy and, when confusion is not NULL, adds the counts to
 * the (nclasses, nclasses) [true][predicted] matrix. labels: B ints. */
void nnl_evaluate(nn_net *net, const nnl_images *im, const int *idx, int n, int B, int *labels,
                  double *loss, double *acc, int64_t *confusion);

/* Where a run's checkpoints live: DIR/checkpoints/STEM/ID for the database
 * DIR/STEM.db (results/checkpoints/nnlab/12) */
void nnl_checkpoint_dir(const nnl_store *s, int64_t run, char *out, size_t n);

/* Loads a checkpoint of net through nn_checkpoint_load, after checking the
 * file as nnlab checks every input (nnl_input_open: a regular file, not a
 * symbolic link) and that it is no larger than a checkpoint of this network
 * and optimizer with a blob of blobcap bytes can be: its path may come from
 * a database written elsewhere (nnlab test). */
int nnl_checkpoint_load(const char *path, nn_net *net, nn_optim *opt, void *blob, size_t blobcap,
                        size_t *bloblen, char *err, size_t errlen);

/* The thread count a config asks for: train.threads, or every online core. */
int nnl_threads(const nnl_config *cfg);

#endif
