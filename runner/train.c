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

static int mkdirs(const char *path, char *err, size_t errlen) {
    char p[NNL_PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *c = p + 1; ; c++) {
        if (*c == '/' || *c == 0) {
            char keep = *c;
            *c = 0;
            if (mkdir(p, 0755) && errno != EEXIST) {
                snprintf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
                return -1;
            }
            *c = keep;
            if (!keep) return 0;
        }
    }
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

/* everything a run allocates, freed in one place */
typedef struct {
    nnl_dataset ds;
    int have_ds;
    int *idx, *labels;
    float *aug_scratch;        /* one image, for the random crop */
    nn_net *net;
    nn_optim opt;
    loop_state *state;
    size_t statesz;
} run_mem;

static void run_mem_free(run_mem *m) {
    if (m->have_ds) nnl_dataset_free(&m->ds);
    free(m->idx);
    free(m->labels);
    free(m->aug_scratch);
    nn_optim_free(&m->opt);
    nn_net_free(m->net);
    free(m->state);
}

nnl_outcome nnl_train(const nnl_train_opts *o, nnl_train_result *res, char *err, size_t errlen) {
    const nnl_config *c = o->cfg;
    nnl_store *s = o->store;
    run_mem m = {0};
    nnl_outcome out = NNL_RUN_FAILED;
    int64_t run = o->resume_run;
    char ckdir[NNL_PATH_MAX], last_path[NNL_PATH_MAX + 16], best_path[NNL_PATH_MAX + 16];
    char e2[512];
    memset(res, 0, sizeof *res);
    double t_start = now();

    int threads = nnl_threads(c), B = c->batch_size;
    nn_layer_spec specs[NN_MAX_LAYERS];
    nnl_config_layers(c, specs);
    m.net = nn_net_create(specs, c->nlayers, nn_shape3(c->input[0], c->input[1], c->input[2]), B,
                          threads, err, errlen);
    if (!m.net) goto fail_early;
    if (o->start_threads > 0) nn_net_set_base_threads(m.net, o->start_threads);
    if (nnl_dataset_load(c->data_dir, c->train_limit, c->test_limit, &m.ds, err, errlen)) goto fail_early;
    m.have_ds = 1;
    if (nnl_train_check(c, &m.ds.train, err, errlen)) goto fail_early;
    int n = m.ds.train.n, ntrain;
    m.idx = malloc(sizeof(int) * (size_t)n);
    m.labels = malloc(sizeof(int) * (size_t)B);
    m.aug_scratch = malloc(sizeof(float) * (size_t)c->input[0] * c->input[1] * c->input[2]);
    m.statesz = sizeof(loop_state) + sizeof(int) * (size_t)n;
    m.state = calloc(1, m.statesz);
    if (!m.idx || !m.labels || !m.aug_scratch || !m.state || nn_optim_init(&m.opt, &c->optim, nn_net_nparams(m.net))) {
        snprintf(err, errlen, "out of memory");
        goto fail_early;
    }
    if (nnl_split(n, c->val_split, c->seed, m.idx, &ntrain, err, errlen)) goto fail_early;
    int nval = n - ntrain;
    int *order = (int *)(m.state + 1); /* the training order, shuffled every epoch */

    nn_rng init_rng, data_rng, aug_rng;
    nn_rng_seed(&init_rng, c->seed);
    nn_rng_seed(&data_rng, c->seed ^ 0x6461746172756e31ULL); /* independent of the init stream */
    nn_rng_seed(&aug_rng, c->seed ^ 0x6175676d656e7431ULL);
    nn_net_init(m.net, &init_rng);
    nn_net_seed(m.net, c->seed ^ 0x64726f706f757431ULL);
    memcpy(order, m.idx, sizeof(int) * (size_t)ntrain);
    int start_epoch = 0, best_epoch = 0, bad_epochs = 0, stopped_early = 0;
    double best_val = -1, best_loss = INFINITY;

    if (run) {
        nnl_checkpoint_dir(s, run, ckdir, sizeof ckdir);
        snprintf(last_path, sizeof last_path, "%s/last.ckpt", ckdir);
        snprintf(best_path, sizeof best_path, "%s/best.ckpt", ckdir);
        nnl_run_row row;
        if (nnl_store_run_get(s, run, &row, err, errlen)) goto fail_run;
        int had_epochs = row.epochs_done > 0;
        nnl_run_row_free(&row);
        /* a run with no finished epoch starts afresh, whatever a folder of an
         * older database of the same name left there */
        if (had_epochs && access(last_path, F_OK) == 0) {
            size_t got = 0;
            if (nnl_checkpoint_load(last_path, m.net, &m.opt, m.state, m.statesz, &got, err, errlen)) goto fail_run;
            if (got != m.statesz || m.state->magic != STATE_MAGIC || m.state->ntrain != ntrain) {
                snprintf(err, errlen, "%s: checkpoint does not belong to this run's data split", last_path);
                goto fail_run;
            }
            start_epoch = m.state->epochs_done;
            int from = nn_net_loaded_isa(m.net);
            if (!o->quiet && from >= 0 && from != (int)nn_net_isa(m.net))
                fprintf(stderr, "resuming on the %s kernels a run saved on %s: the same bits as if it had not stopped\n",
                        nn_isa_name(nn_net_isa(m.net)), nn_isa_name((nn_isa)from));
            best_epoch = m.state->best_epoch;
            best_val = m.state->best_val_acc;
            best_loss = m.state->best_val_loss;
            bad_epochs = m.state->bad_epochs;
            memcpy(data_rng.s, m.state->data_rng, sizeof data_rng.s);
            memcpy(aug_rng.s, m.state->aug_rng, sizeof aug_rng.s);
        }
        if (nnl_store_run_status(s, run, "running", NULL, err, errlen) ||
            nnl_store_run_checkpoint_dir(s, run, ckdir, err, errlen) ||
            record_params(s, run, c, m.net, threads, ntrain, nval, err, errlen))
            goto fail_run;
    } else {
        char key[17];
        nnl_config_key(c, key);
        char *canon = nnl_config_canonical(c);
        nnl_run_info ri = {.key = key, .name = o->name ? o->name : c->name, .experiment = o->experiment,
                           .config = canon, .seed = c->seed, .nparams = (int64_t)nn_net_nparams(m.net)};
        run = nnl_store_run_create(s, &ri, err, errlen);
        free(canon);
        if (run < 0) { run = 0; goto fail_early; }
        nnl_checkpoint_dir(s, run, ckdir, sizeof ckdir);
        snprintf(last_path, sizeof last_path, "%s/last.ckpt", ckdir);
        snprintf(best_path, sizeof best_path, "%s/best.ckpt", ckdir);
        if (nnl_store_run_checkpoint_dir(s, run, ckdir, err, errlen) ||
            record_params(s, run, c, m.net, threads, ntrain, nval, err, errlen))
            goto fail_run;
    }
    if (mkdirs(ckdir, err, errlen)) goto fail_run;
    res->run = run;
    res->nparams = nn_net_nparams(m.net);
    res->threads = threads;

    const int nbatches = (ntrain + B - 1) / B;
    for (int ep = start_epoch; ep < c->epochs; ep++) {
        double t0 = now();
        float lr = nn_sched_lr(&c->sched, c->optim.lr, ep, c->epochs);
        nn_rng_shuffle(&data_rng, order, ntrain);
        double loss_sum = 0;
        long correct = 0, seen = 0;
        progress pg = {t0, 0, 0};
        for (int b = 0; b < nbatches; b++) {
            if (o->stop && *o->stop) {
                progress_clear(&pg);
                out = NNL_RUN_INTERRUPTED;
                nnl_store_run_status(s, run, "interrupted", "stopped by a signal", NULL, 0);
                goto done;
            }
            int nb = ntrain - b * B < B ? ntrain - b * B : B;
            nnl_batch_fill(&m.ds.train, order + b * B, nb, nn_net_input(m.net), m.labels);
            if (nnl_augment_on(&c->augment))
                nnl_augment(nn_net_input(m.net), nb, c->input[0], c->input[1], c->input[2], &c->augment, &aug_rng,
                            m.aug_scratch);
            float loss = nn_net_forward(m.net, nb, m.labels, 1);
            if (!isfinite(loss)) {
                progress_clear(&pg);
                res->diverged_epoch = ep + 1;
                char msg[128];
                snprintf(msg, sizeof msg, "loss became %s in epoch %d, batch %d", isnan(loss) ? "NaN" : "infinite",
                         ep + 1, b + 1);
                if (nnl_store_run_diverged(s, run, ep + 1, err, errlen) ||
                    nnl_store_run_status(s, run, "diverged", msg, err, errlen))
                    goto fail_run;
                snprintf(err, errlen, "%s", msg);
                out = NNL_RUN_DIVERGED;
                goto done;
            }
            correct += nn_net_correct(m.net, m.labels, nb);
            nn_net_backward(m.net);
            nn_optim_step(&m.opt, nn_net_params(m.net), nn_net_grads(m.net), lr);
            loss_sum += (double)loss * nb;
            seen += nb;
            if (o->progress) progress_draw(&pg, ep + 1, c->epochs, b + 1, nbatches, seen, loss_sum / seen);
        }
        progress_clear(&pg);
        nnl_epoch_row row = {.epoch = ep + 1, .train_loss = loss_sum / seen, .train_acc = (double)correct / seen,
                             .lr = lr};
        nnl_evaluate(m.net, &m.ds.train, m.idx + ntrain, nval, B, m.labels, &row.val_loss, &row.val_acc, NULL);
        row.seconds = now() - t0;
        int improved = row.val_acc > best_val;
        if (improved) { best_val = row.val_acc; best_epoch = ep + 1; }
        if (row.val_loss < best_loss - c->early_stop.min_delta) { best_loss = row.val_loss; bad_epochs = 0; }
        else bad_epochs++;
        /* the row first, then the checkpoint: a crash between them re-runs this epoch */
        if (nnl_store_epoch_add(s, run, &row, err, errlen)) goto fail_run;
        *m.state = (loop_state){STATE_MAGIC, 3, ep + 1, best_epoch, ntrain, 0, best_val, {0}, best_loss, bad_epochs, 0, {0}};
        memcpy(m.state->data_rng, data_rng.s, sizeof data_rng.s);
        memcpy(m.state->aug_rng, aug_rng.s, sizeof aug_rng.s);
        if ((improved && nn_checkpoint_save(best_path, m.net, &m.opt, m.state, m.statesz, err, errlen)) ||
            nn_checkpoint_save(last_path, m.net, &m.opt, m.state, m.statesz, err, errlen))
            goto fail_run;
        if (!o->quiet)
            fprintf(stderr, "%s%sepoch %*d/%d  train loss %.4f acc %6.2f%%  val loss %.4f acc %6.2f%%  lr %.3g  %.1f s%s\n",
                    o->label ? o->label : "", o->label ? "  " : "", c->epochs >= 10 ? 2 : 1, ep + 1, c->epochs, row.train_loss, 100 * row.train_acc, row.val_loss,
                    100 * row.val_acc, (double)lr, row.seconds, improved ? "  *best" : "");
        res->epochs_done = ep + 1;
        const char *verdict = o->on_epoch ? o->on_epoch(run, &row, o->ud) : NULL;
        if (verdict) {
            out = strcmp(verdict, "interrupted") ? NNL_RUN_STOPPED : NNL_RUN_INTERRUPTED;
            if (nnl_store_run_status(s, run, verdict, NULL, err, errlen)) goto fail_run;
            goto done;
        }
        if (c->early_stop.patience && bad_epochs >= c->early_stop.patience && ep + 1 < c->epochs) {
            char v[16];
            snprintf(v, sizeof v, "%d", ep + 1);
            if (nnl_store_param_add(s, run, "run.early_stop_epoch", v, err, errlen)) goto fail_run;
            if (!o->quiet)
                fprintf(stderr, "%s%searly stop: validation loss has not improved by more than %g for %d epochs\n",
                        o->label ? o->label : "", o->label ? "  " : "", c->early_stop.min_delta, bad_epochs);
            stopped_early = ep + 1;
            break;
        }
    }
    res->epochs_done = stopped_early ? stopped_early : c->epochs;
    res->early_stop_epoch = stopped_early;
    /* the epochs' timing, before the test pass adds to it */
    res->nlayers = nn_net_nlayers(m.net);
    res->threads_at_end = nn_net_threads_in_use(m.net);
    res->flops_per_epoch = 0;
    for (int i = 0; i < res->nlayers; i++) {
        res->kind[i] = specs[i].kind;
        nn_net_timing(m.net, i, &res->t_fwd[i], &res->t_bwd[i]);
        res->flops_fwd[i] = (double)(ntrain + nval) * nn_net_flops_forward(m.net, i);
        res->flops_bwd[i] = (double)ntrain * nn_net_flops_backward(m.net, i);
        res->flops_per_epoch += res->flops_fwd[i] + res->flops_bwd[i];
    }
    res->isa = nn_net_isa(m.net);

    /* the test of the best model */
    {
        int NC = nn_net_nclasses(m.net), nt = m.ds.test.n;
        size_t got;
        if (nnl_checkpoint_load(best_path, m.net, &m.opt, m.state, m.statesz, &got, err, errlen)) goto fail_run;
        int *tidx = malloc(sizeof(int) * (size_t)nt);
        int64_t *conf = calloc((size_t)NC * NC, sizeof(int64_t));
        double *cacc = calloc((size_t)NC, sizeof(double));
        if (!tidx || !conf || !cacc) {
            free(tidx); free(conf); free(cacc);
            snprintf(err, errlen, "out of memory");
            goto fail_run;
        }
        for (int i = 0; i < nt; i++) tidx[i] = i;
        nnl_evaluate(m.net, &m.ds.test, tidx, nt, B, m.labels, &res->test_loss, &res->test_acc, conf);
        for (int k = 0; k < NC; k++) {
            int64_t tot = 0;
            for (int j = 0; j < NC; j++) tot += conf[k * NC + j];
            cacc[k] = tot ? (double)conf[k * NC + k] / tot : NAN;
        }
        int rc = nnl_store_test_result(s, run, res->test_loss, res->test_acc, conf, cacc, NC, err, errlen);
        free(tidx); free(conf); free(cacc);
        if (rc || nnl_store_run_status(s, run, "finished", NULL, err, errlen)) goto fail_run;
    }
    out = NNL_RUN_FINISHED;
done:
    res->best_epoch = best_epoch;
    res->best_val_acc = best_val;
    res->seconds = now() - t_start;
    run_mem_free(&m);
    return out;
fail_run:
    /* keep the reason in the run's row; the store may be what failed */
    snprintf(e2, sizeof e2, "%s", err);
    nnl_store_run_status(s, run, "failed", e2, NULL, 0);
    snprintf(err, errlen, "%s", e2);
fail_early:
    res->run = run;
    res->seconds = now() - t_start;
    run_mem_free(&m);
    return NNL_RUN_FAILED;
}
