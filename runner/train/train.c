/* train.c -- the training loop of one run: load the data, split it, build
 * the network, train epoch by epoch with validation, write every epoch to the
 * store as it finishes, keep the last and the best checkpoints, and test the
 * best model at the end.
 *
 * Crash safety: an epoch's row is committed before its checkpoint is
 * renamed into place, and a resumed run restarts after the epoch its
 * checkpoint holds (rewriting any later row), so kill -9 at any point loses at
 * most the epoch in progress. The checkpoint's blob carries the loop's own
 * state (epochs done, best so far, the data-order generator and the shuffled
 * training order), so a resumed run continues bit for bit. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "augment.h"
#include "data.h"
#include "input.h"
#include "proc.h"
#include "train.h"

#define STATE_MAGIC 0x524c4e4eu /* "NNLR" */

/* The runner's part of a checkpoint, followed by ntrain ints of order. */
typedef struct {
    uint32_t magic, version;
    int32_t epochs_done, best_epoch, ntrain, pad;
    double best_val_acc;
    uint64_t data_rng[4];
    double best_val_loss;      /* early stopping: the lowest validation loss so far */
    int32_t bad_epochs, pad2;  /* epochs since it last improved by more than min_delta */
    uint64_t aug_rng[4];       /* data augmentation's generator */
} loop_state;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int nnl_threads(const nnl_config *cfg) {
    if (cfg->threads > 0) return cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void nnl_checkpoint_dir(const nnl_store *s, int64_t run, char *out, size_t n) {
    /* results/nnlab.db keeps its runs' checkpoints in results/checkpoints/nnlab/ID:
     * databases side by side never share a folder */
    char tmp[NNL_PATH_MAX], tmp2[NNL_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", nnl_store_path(s));
    snprintf(tmp2, sizeof tmp2, "%s", nnl_store_path(s));
    char *stem = basename(tmp2), *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    snprintf(out, n, "%s/checkpoints/%s/%lld", dirname(tmp), stem, (long long)run);
}

int nnl_checkpoint_load(const char *path, nn_net *net, nn_optim *opt, void *blob, size_t blobcap,
                        size_t *bloblen, char *err, size_t errlen) {
    /* the header, the parameters, buffers and optimizer state as floats, the
     * blob and the CRC; 1 MB spare for the header's future fields */
    long long cap = (1 << 20) + 4 * (long long)(nn_net_nparams(net) + nn_net_nbuffers(net) + nn_optim_state_size(opt)) +
                    (long long)blobcap;
    char why[160];
    if (nnl_input_check(path, NNL_INPUT_NOFOLLOW, cap, why, sizeof why)) {
        snprintf(err, errlen, "%s: cannot read checkpoint: %s", path, why);
        return -1;
    }
    return nn_checkpoint_load(path, net, opt, blob, blobcap, bloblen, err, errlen);
}

/* ---- progress on a terminal: one line, redrawn at most 10 times a second */

typedef struct { double start, last; int shown; } progress;

static void progress_draw(progress *p, int epoch, int epochs, int batch, int nbatches,
                          long images, double loss) {
    double t = now();
    if (t - p->last < 0.1 && batch < nbatches) return;
    p->last = t;
    p->shown = 1;
    double el = t - p->start, rate = el > 0 ? images / el : 0;
    double eta = batch > 0 ? el / batch * (nbatches - batch) : 0;
    char bar[31];
    int fill = nbatches ? 30 * batch / nbatches : 0;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %d/%d  %.0f img/s  loss %.4f  ETA %.0fs",
            epoch, epochs, bar, batch, nbatches, rate, loss, eta);
    fflush(stderr);
}

static void progress_clear(progress *p) {
    if (p->shown) fputs("\r\033[K", stderr);
    p->shown = 0;
}

/* ---- evaluation: mean loss and accuracy over idx[0..n), eval mode */

void nnl_evaluate(nn_net *net, const nnl_images *im, const int *idx, int n, int B,
                     int *labels, double *loss, double *acc, int64_t *confusion) {
    double total = 0;
    long correct = 0;
    int NC = nn_net_nclasses(net);
    for (int b = 0; b < n; b += B) {
        int nb = n - b < B ? n - b : B;
        nnl_batch_fill(im, idx + b, nb, nn_net_input(net), labels);
        total += (double)nn_net_forward(net, nb, labels, 0) * nb;
        correct += nn_net_correct(net, labels, nb);
        if (confusion) {
            const float *z = nn_net_logits(net);
            for (int i = 0; i < nb; i++) {
                int best = 0;
                for (int k = 1; k < NC; k++) if (z[(size_t)i * NC + k] > z[(size_t)i * NC + best]) best = k;
                confusion[labels[i] * NC + best]++;
            }
        }
    }
    *loss = n ? total / n : NAN;
    *acc = n ? (double)correct / n : NAN;
}

int nnl_train_check(const nnl_config *c, const nnl_images *train, char *err, size_t errlen) {
    if (train->rows != c->input[1] || train->cols != c->input[2] || c->input[0] != 1) {
        snprintf(err, errlen, "model.input is %dx%dx%d but the images are 1x%dx%d",
                 c->input[0], c->input[1], c->input[2], train->rows, train->cols);
        return -1;
    }
    /* The loss reads the score of every label: fewer scores than classes
     * read past the logits, a heap overflow that tests/bad/config/
     * wrong-class-count.yaml (dense: 7) found. */
    nn_layer_spec specs[NN_MAX_LAYERS];
    nn_shape out[NN_MAX_LAYERS];
    nnl_config_layers(c, specs);
    if (nn_infer(specs, c->nlayers, nn_shape3(c->input[0], c->input[1], c->input[2]), out, NULL, err, errlen))
        return -1;
    int nc = out[c->nlayers - 1].c * out[c->nlayers - 1].h * out[c->nlayers - 1].w;
    if (nc < NNL_CLASSES) {
        snprintf(err, errlen, "model.layers: the last layer gives %d class scores but the dataset has %d "
                 "classes (end with dense: %d)", nc, NNL_CLASSES, NNL_CLASSES);
        return -1;
    }
    return 0;
}

static void add_param(const char *key, const char *value, void *ud) {
    void **a = ud;
    nnl_store *s = a[0];
    int64_t run = *(int64_t *)a[1];
    if (!*(int *)a[2]) *(int *)a[2] = nnl_store_param_add(s, run, key, value, (char *)a[3], 512);
}

static int record_params(nnl_store *s, int64_t run, const nnl_config *c, const nn_net *net, int threads,
                         int ntrain, int nval, char *err, size_t errlen) {
    char e[512] = "";
    int failed = nnl_store_begin(s, err, errlen);
    if (failed) return -1;
    void *ud[4] = {s, &run, &failed, e};
    nnl_config_foreach(c, add_param, ud);
    /* what the run resolved beyond the config: it decides the bits */
    char v[32];
    snprintf(v, sizeof v, "%d", threads);
    if (!failed) failed = nnl_store_param_add(s, run, "run.threads", v, e, sizeof e);
    snprintf(v, sizeof v, "%d", ntrain);
    if (!failed) failed = nnl_store_param_add(s, run, "run.n_train", v, e, sizeof e);
    snprintf(v, sizeof v, "%d", nval);
    if (!failed) failed = nnl_store_param_add(s, run, "run.n_val", v, e, sizeof e);
    snprintf(v, sizeof v, "%llu", (unsigned long long)c->seed);
    if (!failed) failed = nnl_store_param_add(s, run, "run.split_seed", v, e, sizeof e);
    /* the kernel path and CPU of the run's last start: they change no bit, but
     * they say where its time figures come from */
    if (!failed) failed = nnl_store_param_add(s, run, "run.isa", nn_isa_name(nn_net_isa(net)), e, sizeof e);
    if (!failed) failed = nnl_store_param_add(s, run, "run.cpu", nn_cpu_name(), e, sizeof e);
    if (failed) {
        nnl_store_rollback(s, NULL, 0);
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    return nnl_store_commit(s, err, errlen);
}

/* ---- one run, step by step ----------------------------------------------
 *
 * nnl_train runs these steps in order, each on the run's state below:
 *   run_setup      network, data, split, generators, initial weights
 *   run_open       the run's row: a new one, or the resumed one and its last checkpoint
 *   run_epoch      one epoch of training batches (interrupt, divergence)
 *   epoch_record   validation, the epoch's row, checkpoints, on_epoch's verdict
 *   early_stop     whether validation loss has stalled for train.early_stop.patience epochs
 *   run_test       the timing figures, then the best checkpoint on the test set
 * A step returns STEP_NEXT to go on, STEP_END when the run ends here with
 * r->out set, or STEP_FAIL with err set. */

enum { STEP_NEXT = 0, STEP_END = 1, STEP_FAIL = -1 };

typedef struct {
    const nnl_train_opts *o;
    const nnl_config *c;
    nnl_store *s;
    nnl_train_result *res;
    nnl_outcome out;
    int64_t run;
    int owned;                 /* a failure from here on marks the run's row failed */
    int threads, B, ntrain, nval;
    nn_layer_spec specs[NN_MAX_LAYERS];
    /* everything the run allocates, freed in one place */
    nnl_dataset ds;
    int have_ds;
    int *idx, *labels;
    float *aug_scratch;        /* one image, for the random crop */
    nn_net *net;
    nn_optim opt;
    loop_state *state;         /* followed by the training order, shuffled every epoch */
    size_t statesz;
    /* the loop's state, saved in every checkpoint */
    nn_rng data_rng, aug_rng;
    int start_epoch, best_epoch, bad_epochs;
    double best_val, best_loss;
    char ckdir[NNL_PATH_MAX], last_path[NNL_PATH_MAX + 16], best_path[NNL_PATH_MAX + 16];
} run_state;

static void run_state_free(run_state *r) {
    if (r->have_ds) nnl_dataset_free(&r->ds);
    free(r->idx);
    free(r->labels);
    free(r->aug_scratch);
    nn_optim_free(&r->opt);
    nn_net_free(r->net);
    free(r->state);
}

static int *run_order(run_state *r) { return (int *)(r->state + 1); }

static const char *run_label_sep(const run_state *r) { return r->o->label ? "  " : ""; }

/* the network, the data and its split, the generators, the initial weights */
static int run_setup(run_state *r, char *err, size_t errlen) {
    const nnl_config *c = r->c;
    r->threads = nnl_threads(c);
    r->B = c->batch_size;
    nnl_config_layers(c, r->specs);
    r->net = nn_net_create(r->specs, c->nlayers, nn_shape3(c->input[0], c->input[1], c->input[2]), r->B,
                           r->threads, err, errlen);
    if (!r->net) return STEP_FAIL;
    if (r->o->start_threads > 0) nn_net_set_base_threads(r->net, r->o->start_threads);
    if (nnl_dataset_load(c->data_dir, c->train_limit, c->test_limit, &r->ds, err, errlen)) return STEP_FAIL;
    r->have_ds = 1;
    if (nnl_train_check(c, &r->ds.train, err, errlen)) return STEP_FAIL;
    int n = r->ds.train.n;
    r->idx = malloc(sizeof(int) * (size_t)n);
    r->labels = malloc(sizeof(int) * (size_t)r->B);
    r->aug_scratch = malloc(sizeof(float) * (size_t)c->input[0] * c->input[1] * c->input[2]);
    r->statesz = sizeof(loop_state) + sizeof(int) * (size_t)n;
    r->state = calloc(1, r->statesz);
    if (!r->idx || !r->labels || !r->aug_scratch || !r->state ||
        nn_optim_init(&r->opt, &c->optim, nn_net_nparams(r->net))) {
        snprintf(err, errlen, "out of memory");
        return STEP_FAIL;
    }
    if (nnl_split(n, c->val_split, c->seed, r->idx, &r->ntrain, err, errlen)) return STEP_FAIL;
    r->nval = n - r->ntrain;
    nn_rng init_rng;
    nn_rng_seed(&init_rng, c->seed);
    nn_rng_seed(&r->data_rng, c->seed ^ 0x6461746172756e31ULL); /* independent of the init stream */
    nn_rng_seed(&r->aug_rng, c->seed ^ 0x6175676d656e7431ULL);
    nn_net_init(r->net, &init_rng);
    nn_net_seed(r->net, c->seed ^ 0x64726f706f757431ULL);
    memcpy(run_order(r), r->idx, sizeof(int) * (size_t)r->ntrain);
    r->best_val = -1;
    r->best_loss = INFINITY;
    return STEP_NEXT;
}

static void run_paths(run_state *r) {
    nnl_checkpoint_dir(r->s, r->run, r->ckdir, sizeof r->ckdir);
    snprintf(r->last_path, sizeof r->last_path, "%s/last.ckpt", r->ckdir);
    snprintf(r->best_path, sizeof r->best_path, "%s/best.ckpt", r->ckdir);
}

/* a resumed run continues from its last checkpoint, when it finished an epoch */
static int run_resume(run_state *r, char *err, size_t errlen) {
    nnl_run_row row;
    if (nnl_store_run_get(r->s, r->run, &row, err, errlen)) return STEP_FAIL;
    int had_epochs = row.epochs_done > 0;
    nnl_run_row_free(&row);
    /* a run with no finished epoch starts afresh, whatever a folder of an
     * older database of the same name left there */
    if (!had_epochs || access(r->last_path, F_OK)) return STEP_NEXT;
    size_t got = 0;
    loop_state *st = r->state;
    if (nnl_checkpoint_load(r->last_path, r->net, &r->opt, st, r->statesz, &got, err, errlen)) return STEP_FAIL;
    if (got != r->statesz || st->magic != STATE_MAGIC || st->ntrain != r->ntrain) {
        snprintf(err, errlen, "%s: checkpoint does not belong to this run's data split", r->last_path);
        return STEP_FAIL;
    }
    int from = nn_net_loaded_isa(r->net);
    if (!r->o->quiet && from >= 0 && from != (int)nn_net_isa(r->net))
        fprintf(stderr, "resuming on the %s kernels a run saved on %s: the same bits as if it had not stopped\n",
                nn_isa_name(nn_net_isa(r->net)), nn_isa_name((nn_isa)from));
    r->start_epoch = st->epochs_done;
    r->best_epoch = st->best_epoch;
    r->best_val = st->best_val_acc;
    r->best_loss = st->best_val_loss;
    r->bad_epochs = st->bad_epochs;
    memcpy(r->data_rng.s, st->data_rng, sizeof r->data_rng.s);
    memcpy(r->aug_rng.s, st->aug_rng, sizeof r->aug_rng.s);
    return STEP_NEXT;
}

/* the run's row: the resumed one (running again) or a new one; its params
 * and checkpoint folder */
static int run_open(run_state *r, char *err, size_t errlen) {
    const nnl_config *c = r->c;
    if (r->run) {
        r->owned = 1;
        run_paths(r);
        if (run_resume(r, err, errlen) || nnl_store_run_status(r->s, r->run, "running", NULL, err, errlen))
            return STEP_FAIL;
    } else {
        char key[17];
        nnl_config_key(c, key);
        char *canon = nnl_config_canonical(c);
        nnl_run_info ri = {.key = key, .name = r->o->name ? r->o->name : c->name, .experiment = r->o->experiment,
                           .config = canon, .seed = c->seed, .nparams = (int64_t)nn_net_nparams(r->net)};
        int64_t id = nnl_store_run_create(r->s, &ri, err, errlen);
        free(canon);
        if (id < 0) return STEP_FAIL;
        r->run = id;
        r->owned = 1;
        run_paths(r);
    }
    if (nnl_store_run_checkpoint_dir(r->s, r->run, r->ckdir, err, errlen) ||
        record_params(r->s, r->run, c, r->net, r->threads, r->ntrain, r->nval, err, errlen) ||
        nnl_mkdirs(r->ckdir, 0755, "directory", err, errlen))
        return STEP_FAIL;
    r->res->run = r->run;
    r->res->nparams = nn_net_nparams(r->net);
    r->res->threads = r->threads;
    return STEP_NEXT;
}

/* the batches of epoch ep (from 0), begun at time t0, at row->lr; row gets
 * the training loss and accuracy */
static int run_epoch(run_state *r, int ep, double t0, nnl_epoch_row *row, char *err, size_t errlen) {
    const nnl_config *c = r->c;
    const int B = r->B, ntrain = r->ntrain, nbatches = (ntrain + B - 1) / B;
    int *order = run_order(r);
    nn_rng_shuffle(&r->data_rng, order, ntrain);
    double loss_sum = 0;
    long correct = 0, seen = 0;
    progress pg = {t0, 0, 0};
    for (int b = 0; b < nbatches; b++) {
        if (r->o->stop && *r->o->stop) {
            progress_clear(&pg);
            r->out = NNL_RUN_INTERRUPTED;
            nnl_store_run_status(r->s, r->run, "interrupted", "stopped by a signal", NULL, 0);
            return STEP_END;
        }
        int nb = ntrain - b * B < B ? ntrain - b * B : B;
        nnl_batch_fill(&r->ds.train, order + b * B, nb, nn_net_input(r->net), r->labels);
        if (nnl_augment_on(&c->augment))
            nnl_augment(nn_net_input(r->net), nb, c->input[0], c->input[1], c->input[2], &c->augment, &r->aug_rng,
                        r->aug_scratch);
        float loss = nn_net_forward(r->net, nb, r->labels, 1);
        if (!isfinite(loss)) {
            progress_clear(&pg);
            r->res->diverged_epoch = ep + 1;
            char msg[128];
            snprintf(msg, sizeof msg, "loss became %s in epoch %d, batch %d", isnan(loss) ? "NaN" : "infinite",
                     ep + 1, b + 1);
            if (nnl_store_run_diverged(r->s, r->run, ep + 1, err, errlen) ||
                nnl_store_run_status(r->s, r->run, "diverged", msg, err, errlen))
                return STEP_FAIL;
            snprintf(err, errlen, "%s", msg);
            r->out = NNL_RUN_DIVERGED;
            return STEP_END;
        }
        correct += nn_net_correct(r->net, r->labels, nb);
        nn_net_backward(r->net);
        nn_optim_step(&r->opt, nn_net_params(r->net), nn_net_grads(r->net), row->lr);
        loss_sum += (double)loss * nb;
        seen += nb;
        if (r->o->progress) progress_draw(&pg, ep + 1, c->epochs, b + 1, nbatches, seen, loss_sum / seen);
    }
    progress_clear(&pg);
    row->train_loss = loss_sum / seen;
    row->train_acc = (double)correct / seen;
    return STEP_NEXT;
}

/* validation, the epoch's row, then its checkpoints (a crash between them
 * re-runs the epoch), and on_epoch's verdict */
static int epoch_record(run_state *r, int ep, nnl_epoch_row *row, double t0, char *err, size_t errlen) {
    const nnl_train_opts *o = r->o;
    nnl_evaluate(r->net, &r->ds.train, r->idx + r->ntrain, r->nval, r->B, r->labels, &row->val_loss, &row->val_acc,
                 NULL);
    row->seconds = now() - t0;
    int improved = row->val_acc > r->best_val;
    if (improved) { r->best_val = row->val_acc; r->best_epoch = ep + 1; }
    if (row->val_loss < r->best_loss - r->c->early_stop.min_delta) { r->best_loss = row->val_loss; r->bad_epochs = 0; }
    else r->bad_epochs++;
    if (nnl_store_epoch_add(r->s, r->run, row, err, errlen)) return STEP_FAIL;
    loop_state *st = r->state;
    *st = (loop_state){STATE_MAGIC, 3, ep + 1, r->best_epoch, r->ntrain, 0, r->best_val, {0}, r->best_loss,
                       r->bad_epochs, 0, {0}};
    memcpy(st->data_rng, r->data_rng.s, sizeof r->data_rng.s);
    memcpy(st->aug_rng, r->aug_rng.s, sizeof r->aug_rng.s);
    if ((improved && nn_checkpoint_save(r->best_path, r->net, &r->opt, st, r->statesz, err, errlen)) ||
        nn_checkpoint_save(r->last_path, r->net, &r->opt, st, r->statesz, err, errlen))
        return STEP_FAIL;
    int epochs = r->c->epochs;
    if (!o->quiet)
        fprintf(stderr, "%s%sepoch %*d/%d  train loss %.4f acc %6.2f%%  val loss %.4f acc %6.2f%%  lr %.3g  %.1f s%s\n",
                o->label ? o->label : "", run_label_sep(r), epochs >= 10 ? 2 : 1, ep + 1, epochs, row->train_loss,
                100 * row->train_acc, row->val_loss, 100 * row->val_acc, (double)row->lr, row->seconds,
                improved ? "  *best" : "");
    r->res->epochs_done = ep + 1;
    const char *verdict = o->on_epoch ? o->on_epoch(r->run, row, o->ud) : NULL;
    if (!verdict) return STEP_NEXT;
    if (!strcmp(verdict, "waiting")) {
        r->out = NNL_RUN_PAUSED;
        return nnl_store_run_status(r->s, r->run, "interrupted", o->wait_reason, err, errlen) ? STEP_FAIL : STEP_END;
    }
    r->out = strcmp(verdict, "interrupted") ? NNL_RUN_STOPPED : NNL_RUN_INTERRUPTED;
    return nnl_store_run_status(r->s, r->run, verdict, NULL, err, errlen) ? STEP_FAIL : STEP_END;
}

/* after epoch ep (from 0): STEP_END when validation loss has not improved
 * for patience epochs and epochs remain; the epoch is recorded in params and
 * in res->early_stop_epoch */
static int early_stop(run_state *r, int ep, char *err, size_t errlen) {
    const nnl_config *c = r->c;
    if (!c->early_stop.patience || r->bad_epochs < c->early_stop.patience || ep + 1 >= c->epochs) return STEP_NEXT;
    char v[16];
    snprintf(v, sizeof v, "%d", ep + 1);
    if (nnl_store_param_add(r->s, r->run, "run.early_stop_epoch", v, err, errlen)) return STEP_FAIL;
    if (!r->o->quiet)
        fprintf(stderr, "%s%searly stop: validation loss has not improved by more than %g for %d epochs\n",
                r->o->label ? r->o->label : "", run_label_sep(r), c->early_stop.min_delta, r->bad_epochs);
    r->res->early_stop_epoch = ep + 1;
    return STEP_END;
}

/* the epochs' timing per layer, before the test pass adds to it */
static void run_timing(run_state *r) {
    nnl_train_result *res = r->res;
    res->nlayers = nn_net_nlayers(r->net);
    res->threads_at_end = nn_net_threads_in_use(r->net);
    res->flops_per_epoch = 0;
    for (int i = 0; i < res->nlayers; i++) {
        res->kind[i] = r->specs[i].kind;
        nn_net_timing(r->net, i, &res->t_fwd[i], &res->t_bwd[i]);
        res->flops_fwd[i] = (double)(r->ntrain + r->nval) * nn_net_flops_forward(r->net, i);
        res->flops_bwd[i] = (double)r->ntrain * nn_net_flops_backward(r->net, i);
        res->flops_per_epoch += res->flops_fwd[i] + res->flops_bwd[i];
    }
    res->isa = nn_net_isa(r->net);
}

/* the best checkpoint on the test set: loss, accuracy, confusion matrix and
 * per-class accuracy in the store, and the run finished */
static int run_test(run_state *r, char *err, size_t errlen) {
    int NC = nn_net_nclasses(r->net), nt = r->ds.test.n;
    size_t got;
    if (nnl_checkpoint_load(r->best_path, r->net, &r->opt, r->state, r->statesz, &got, err, errlen)) return STEP_FAIL;
    int *tidx = malloc(sizeof(int) * (size_t)nt);
    int64_t *conf = calloc((size_t)NC * NC, sizeof(int64_t));
    double *cacc = calloc((size_t)NC, sizeof(double));
    int rc = -1;
    if (!tidx || !conf || !cacc) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < nt; i++) tidx[i] = i;
    nnl_evaluate(r->net, &r->ds.test, tidx, nt, r->B, r->labels, &r->res->test_loss, &r->res->test_acc, conf);
    for (int k = 0; k < NC; k++) {
        int64_t tot = 0;
        for (int j = 0; j < NC; j++) tot += conf[k * NC + j];
        cacc[k] = tot ? (double)conf[k * NC + k] / tot : NAN;
    }
    rc = nnl_store_test_result(r->s, r->run, r->res->test_loss, r->res->test_acc, conf, cacc, NC, err, errlen);
out:
    free(tidx); free(conf); free(cacc);
    return rc || nnl_store_run_status(r->s, r->run, "finished", NULL, err, errlen) ? STEP_FAIL : STEP_NEXT;
}

/* every epoch from the first not done, then the test: STEP_END with r->out
 * set when the run ends early (interrupted, diverged, stopped) */
static int run_epochs(run_state *r, char *err, size_t errlen) {
    const nnl_config *c = r->c;
    for (int ep = r->start_epoch; ep < c->epochs; ep++) {
        double t0 = now();
        nnl_epoch_row row = {.epoch = ep + 1, .lr = nn_sched_lr(&c->sched, c->optim.lr, ep, c->epochs)};
        int step = run_epoch(r, ep, t0, &row, err, errlen);
        if (step == STEP_NEXT) step = epoch_record(r, ep, &row, t0, err, errlen);
        if (step != STEP_NEXT) return step;
        step = early_stop(r, ep, err, errlen);
        if (step == STEP_FAIL) return STEP_FAIL;
        if (step == STEP_END) break;
    }
    int stopped_early = r->res->early_stop_epoch;
    r->res->epochs_done = stopped_early ? stopped_early : c->epochs;
    run_timing(r);
    if (run_test(r, err, errlen)) return STEP_FAIL;
    r->out = NNL_RUN_FINISHED;
    return STEP_END;
}

nnl_outcome nnl_train(const nnl_train_opts *o, nnl_train_result *res, char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    double t_start = now();
    run_state rs = {.o = o, .c = o->cfg, .s = o->store, .res = res, .out = NNL_RUN_FAILED, .run = o->resume_run};
    run_state *r = &rs;
    int step = run_setup(r, err, errlen);
    if (step == STEP_NEXT) step = run_open(r, err, errlen);
    if (step == STEP_NEXT) step = run_epochs(r, err, errlen);
    if (step == STEP_FAIL && r->owned) {
        /* keep the reason in the run's row; the store may be what failed */
        char e2[512];
        snprintf(e2, sizeof e2, "%s", err);
        nnl_store_run_status(r->s, r->run, "failed", e2, NULL, 0);
        snprintf(err, errlen, "%s", e2);
    }
    if (step == STEP_FAIL) {
        res->run = r->run;
    } else {
        res->best_epoch = r->best_epoch;
        res->best_val_acc = r->best_val;
    }
    res->seconds = now() - t_start;
    nnl_outcome out = step == STEP_FAIL ? NNL_RUN_FAILED : r->out;
    run_state_free(r);
    return out;
}
