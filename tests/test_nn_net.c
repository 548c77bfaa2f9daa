/* test_nn_net.c -- whole networks against PyTorch: LeNet-5 sigmoid/avg,
 * ReLU/max and a batch-norm variant (logits, loss, every gradient, 10 Adam
 * and 10 SGD-momentum steps), the optimizers' update rules and schedules,
 * shape inference errors, determinism and checkpoints. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "../nn/nn.h"
#include "fixture.h"

#include "archs.h"

/* copies param.0, param.1, ... (PyTorch's model.parameters() order) into the block */
static void load_params(fx_file *fx, const char *prefix, float *dst, size_t n) {
    size_t off = 0;
    for (int i = 0; off < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        fx_tensor *t = fx_get(fx, name);
        assert_true(off + t->n <= n);
        memcpy(dst + off, t->data, 4 * t->n);
        off += t->n;
    }
    assert_int_equal(off, n);
}

static void check_lenet(const char *variant, int nthreads) {
    char path[128];
    snprintf(path, sizeof path, "tests/fixtures/lenet_%s.bin", variant);
    fx_file *fx = fx_load(path);
    assert_non_null(fx);
    nn_layer_spec L[MAXL];
    int n = lenet(L, variant), bn = !strcmp(variant, "bn");
    char err[256];
    nn_net *net = nn_net_create(L, n, nn_shape3(1, 28, 28), 16, nthreads, err, sizeof err);
    assert_non_null(net);
    size_t np = nn_net_nparams(net);
    float *init = malloc(4 * np), *want = malloc(4 * np);
    load_params(fx, "param", init, np);
    fx_tensor *x = fx_get(fx, "x"), *y = fx_get(fx, "y");
    int labels[16];
    for (int i = 0; i < 16; i++) labels[i] = (int)y->data[i];

    memcpy(nn_net_params(net), init, 4 * np);
    memcpy(nn_net_input(net), x->data, 4 * x->n);
    float loss = nn_net_forward(net, 16, labels, 1);
    assert_int_equal(fx_mismatches("logits", nn_net_logits(net), fx_get(fx, "logits")->data, 160, 1e-4f, 1e-5f), 0);
    assert_int_equal(fx_mismatches("loss", &loss, fx_get(fx, "loss")->data, 1, 1e-5f, 1e-6f), 0);
    nn_net_backward(net);
    load_params(fx, "grad", want, np);
    /* atol 1e-5: a conv bias feeding batch norm has a true gradient of 0, and
     * both sides return round-off of order 1e-6 there */
    assert_int_equal(fx_mismatches("grads", nn_net_grads(net), want, np, 1e-3f, 1e-5f), 0);
    if (bn) {
        size_t nb = nn_net_nbuffers(net), off = 0;
        float *buf = nn_net_buffers(net);
        for (int i = 0; off < nb; i++) {
            char name[32];
            snprintf(name, sizeof name, "buffer.%d", i);
            fx_tensor *t = fx_get(fx, name);
            assert_int_equal(fx_mismatches(name, buf + off, t->data, t->n, 1e-4f, 1e-6f), 0);
            off += t->n;
        }
        nn_net_forward(net, 16, labels, 0);
        assert_int_equal(fx_mismatches("eval_logits", nn_net_logits(net), fx_get(fx, "eval_logits")->data, 160,
                                       1e-4f, 1e-5f), 0);
    }

    /* 10 optimizer steps on the same batch from the same start */
    for (int o = 0; o < 2; o++) {
        nn_optim opt;
        nn_optim_cfg oc = nn_optim_defaults(o ? NN_SGD : NN_ADAM);
        if (o) { oc.lr = 0.01f; oc.momentum = 0.9f; } else oc.lr = 0.001f;
        assert_int_equal(nn_optim_init(&opt, &oc, np), 0);
        nn_net_init(net, &(nn_rng){{1, 2, 3, 4}}); /* resets BN buffers to 0 / 1 */
        memcpy(nn_net_params(net), init, 4 * np);
        float losses[10];
        for (int s = 0; s < 10; s++) {
            memcpy(nn_net_input(net), x->data, 4 * x->n);
            losses[s] = nn_net_forward(net, 16, labels, 1);
            nn_net_backward(net);
            nn_optim_step(&opt, nn_net_params(net), nn_net_grads(net), oc.lr);
        }
        const char *name = o ? "sgd_losses" : "adam_losses";
        assert_int_equal(fx_mismatches(name, losses, fx_get(fx, name)->data, 10, 1e-4f, 1e-5f), 0);
        nn_optim_free(&opt);
    }
    free(init); free(want);
    nn_net_free(net);
    fx_free(fx);
}

static void lenet_sigmoid_avg_matches_pytorch(void **s) { check_lenet("sigmoid_avg", 1); }
static void lenet_relu_max_matches_pytorch(void **s) { check_lenet("relu_max", 1); }
static void lenet_batchnorm_matches_pytorch(void **s) { check_lenet("bn", 1); }
static void lenet_matches_pytorch_with_two_threads(void **s) {
    check_lenet("sigmoid_avg", 2);
    check_lenet("bn", 2);
}

static void optimizers_match_pytorch_update_rules(void **s) {
    fx_file *fx = fx_load("tests/fixtures/optim.bin");
    assert_non_null(fx);
    const float *p0 = fx_get(fx, "p0")->data, *grads = fx_get(fx, "grads")->data;
    struct { const char *name; nn_optim_kind k; float lr, mom, damp, wd, b1, b2, eps; int nest; } cases[] = {
        {"sgd", NN_SGD, 0.1f, 0, 0, 0, 0, 0, 0, 0},
        {"sgd_mom", NN_SGD, 0.1f, 0.9f, 0, 0, 0, 0, 0, 0},
        {"sgd_nesterov_wd", NN_SGD, 0.1f, 0.9f, 0, 0.01f, 0, 0, 0, 1},
        {"sgd_damp", NN_SGD, 0.1f, 0.9f, 0.1f, 0, 0, 0, 0, 0},
        {"adam", NN_ADAM, 0.01f, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0},
        {"adam_wd", NN_ADAM, 0.01f, 0, 0, 0.1f, 0.9f, 0.999f, 1e-8f, 0},
        {"adamw", NN_ADAMW, 0.01f, 0, 0, 0.1f, 0.9f, 0.999f, 1e-8f, 0},
        {"adam_betas", NN_ADAM, 0.01f, 0, 0, 0, 0.8f, 0.99f, 1e-6f, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nn_optim_cfg oc = nn_optim_defaults(cases[c].k);
        oc.lr = cases[c].lr; oc.momentum = cases[c].mom; oc.dampening = cases[c].damp;
        oc.weight_decay = cases[c].wd; oc.nesterov = cases[c].nest;
        if (cases[c].k != NN_SGD) { oc.beta1 = cases[c].b1; oc.beta2 = cases[c].b2; oc.eps = cases[c].eps; }
        nn_optim o;
        assert_int_equal(nn_optim_init(&o, &oc, 64), 0);
        float p[64], hist[640];
        memcpy(p, p0, sizeof p);
        for (int k = 0; k < 10; k++) {
            nn_optim_step(&o, p, grads + 64 * k, oc.lr);
            memcpy(hist + 64 * k, p, sizeof p);
        }
        char name[64];
        snprintf(name, sizeof name, "%s.params", cases[c].name);
        assert_int_equal(fx_mismatches(name, hist, fx_get(fx, name)->data, 640, 1e-5f, 1e-6f), 0);
        nn_optim_free(&o);
    }
    fx_free(fx);
}

static void schedules_match_pytorch(void **s) {
    fx_file *fx = fx_load("tests/fixtures/optim.bin");
    assert_non_null(fx);
    nn_sched step = {NN_SCHED_STEP, 5, 0.5f, 0, 0, 0};
    nn_sched cosine = {NN_SCHED_COSINE, 0, 0, 20, 0.001f, 0};
    nn_sched cshort = {NN_SCHED_COSINE, 0, 0, 8, 0.f, 0};
    const nn_sched *all[] = {&step, &cosine, &cshort};
    const char *names[] = {"sched_step", "sched_cosine", "sched_cosine_short"};
    for (int k = 0; k < 3; k++) {
        float lr[20];
        for (int e = 0; e < 20; e++) lr[e] = nn_sched_lr(all[k], 0.1f, e, 20);
        assert_int_equal(fx_mismatches(names[k], lr, fx_get(fx, names[k])->data, 20, 1e-5f, 1e-7f), 0);
    }
    fx_free(fx);
}

static void warmup_ramps_then_hands_over(void **s) {
    nn_sched w = {NN_SCHED_COSINE, 0, 0, 0, 0.f, 3};
    assert_float_equal(nn_sched_lr(&w, 0.4f, 0, 13), 0.1f, 1e-7f);
    assert_float_equal(nn_sched_lr(&w, 0.4f, 2, 13), 0.3f, 1e-7f);
    assert_float_equal(nn_sched_lr(&w, 0.4f, 3, 13), 0.4f, 1e-7f);   /* cosine starts at the base */
    assert_float_equal(nn_sched_lr(&w, 0.4f, 8, 13), 0.2f, 1e-6f);   /* half-way through 10 epochs */
}

static void lenet5_has_61706_params(void **s) {
    nn_layer_spec L[MAXL];
    int n = lenet(L, "sigmoid_avg");
    size_t np[MAXL], total = 0;
    nn_shape out[MAXL];
    char err[256];
    assert_int_equal(nn_infer(L, n, nn_shape3(1, 28, 28), out, np, err, sizeof err), 0);
    for (int i = 0; i < n; i++) total += np[i];
    assert_int_equal(total, 61706);
    assert_int_equal(np[0], 156);
    assert_int_equal(out[5].c * out[5].h * out[5].w, 400);
}

static void infer_errors_name_layer_and_shapes(void **s) {
    char err[256];
    nn_layer_spec big[] = {NN_CONV(6, 5, 1, 0), NN_POOL(NN_AVGPOOL, 2, 2), NN_CONV(16, 5, 1, 0),
                           NN_POOL(NN_AVGPOOL, 2, 2), NN_CONV(32, 5, 1, 0), NN_FLATTEN_(), NN_DENSE(10)};
    assert_int_equal(nn_infer(big, 7, nn_shape3(1, 28, 28), NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "layer 4 (conv2d)"));
    assert_non_null(strstr(err, "16x4x4"));
    nn_layer_spec noflat[] = {NN_CONV(6, 5, 1, 0), NN_DENSE(10)};
    assert_int_equal(nn_infer(noflat, 2, nn_shape3(1, 28, 28), NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "layer 1 (dense)"));
    assert_non_null(strstr(err, "flatten"));
    nn_layer_spec flat_conv[] = {NN_FLATTEN_(), NN_CONV(6, 5, 1, 0)};
    assert_int_equal(nn_infer(flat_conv, 2, nn_shape3(1, 28, 28), NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "layer 1 (conv2d)"));
    nn_layer_spec one[] = {NN_FLATTEN_(), NN_DENSE(1)};
    assert_null(nn_net_create(one, 2, nn_shape3(1, 28, 28), 8, 1, err, sizeof err));
    assert_non_null(strstr(err, "at least 2 class"));
}

/* Trains a few steps on synthetic data; returns the losses (bitwise). */
static void train_steps(const char *variant, int nthreads, float *losses, int steps) {
    nn_layer_spec L[MAXL + 1];
    int n = lenet(L, variant);
    if (!strcmp(variant, "bn")) { memmove(L + 10, L + 9, sizeof L[0] * (size_t)(n - 9)); L[9] = NN_DROP(0.3f); n++; }
    char err[256];
    nn_net *net = nn_net_create(L, n, nn_shape3(1, 28, 28), 32, nthreads, err, sizeof err);
    assert_non_null(net);
    nn_rng r, data;
    nn_rng_seed(&r, 5);
    nn_rng_seed(&data, 6);
    nn_net_init(net, &r);
    nn_net_seed(net, 7);
    nn_optim o;
    nn_optim_cfg oc = nn_optim_defaults(NN_ADAM);
    nn_optim_init(&o, &oc, nn_net_nparams(net));
    int labels[32];
    for (int s = 0; s < steps; s++) {
        float *x = nn_net_input(net);
        for (int i = 0; i < 32 * 784; i++) x[i] = nn_rng_uniform(&data);
        for (int i = 0; i < 32; i++) labels[i] = (int)nn_rng_below(&data, 10);
        losses[s] = nn_net_forward(net, 32, labels, 1);
        nn_net_backward(net);
        nn_optim_step(&o, nn_net_params(net), nn_net_grads(net), oc.lr);
    }
    nn_optim_free(&o);
    nn_net_free(net);
}

static void same_seed_gives_bitwise_identical_losses(void **s) {
    const char *variants[] = {"sigmoid_avg", "bn"};
    for (int v = 0; v < 2; v++)
        for (int nt = 1; nt <= 2; nt++) {
            float a[8], b[8];
            train_steps(variants[v], nt, a, 8);
            train_steps(variants[v], nt, b, 8);
            assert_memory_equal(a, b, sizeof a);
            assert_true(a[7] < a[0] + 1.0f && isfinite(a[7]));
        }
}

/* The thread count never changes a bit: the same training on 1, 2 and 3
 * threads gives the same losses. 80 steps take the 2- and 3-thread nets
 * through their trials of one thread (they switch as they go), and dropout
 * and batch norm are in the "bn" variant. */
static void thread_count_changes_no_bit(void **s) {
    const char *variants[] = {"sigmoid_avg", "relu_max", "bn"};
    enum { STEPS = 80 };
    for (int v = 0; v < 3; v++) {
        float ref[STEPS], got[STEPS];
        train_steps(variants[v], 1, ref, STEPS);
        for (int nt = 2; nt <= 3; nt++) {
            train_steps(variants[v], nt, got, STEPS);
            for (int i = 0; i < STEPS; i++)
                if (memcmp(&ref[i], &got[i], sizeof ref[i]))
                    fail_msg("%s, %d threads: step %d loss %.9g, one thread %.9g", variants[v], nt, i, got[i], ref[i]);
        }
    }
}

static char tmpdir[64];
static int mk_tmp(void **s) { strcpy(tmpdir, "/tmp/nnlab-ck-XXXXXX"); return mkdtemp(tmpdir) ? 0 : -1; }

/* A run stopped after k steps and resumed from its checkpoint continues
 * exactly as if never stopped: parameters, Adam state and step, BN running
 * statistics and the dropout generator all come back. */
static void checkpoint_resume_is_exact(void **s) {
    nn_layer_spec L[MAXL + 1];
    int n = lenet(L, "bn");
    memmove(L + 10, L + 9, sizeof L[0] * (size_t)(n - 9));
    L[9] = NN_DROP(0.3f);
    n++;
    char err[256], path[128];
    snprintf(path, sizeof path, "%s/a.ckpt", tmpdir);
    float ref[6], got[6];
    int labels[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int pass = 0; pass < 2; pass++) {
        nn_net *net = nn_net_create(L, n, nn_shape3(1, 28, 28), 8, 1, err, sizeof err);
        nn_rng r;
        nn_rng_seed(&r, 11);
        nn_net_init(net, &r);
        nn_net_seed(net, 12);
        nn_optim o;
        nn_optim_cfg oc = nn_optim_defaults(NN_ADAM);
        nn_optim_init(&o, &oc, nn_net_nparams(net));
        for (int st = 0; st < 6; st++) {
            if (pass == 1 && st == 3) {
                /* "crash": a fresh process builds a new net and loads the checkpoint */
                nn_net_free(net);
                nn_optim_free(&o);
                net = nn_net_create(L, n, nn_shape3(1, 28, 28), 8, 1, err, sizeof err);
                nn_optim_init(&o, &oc, nn_net_nparams(net));
                int blob = 0;
                size_t bl = 0;
                if (nn_checkpoint_load(path, net, &o, &blob, sizeof blob, &bl, err, sizeof err)) fail_msg("%s", err);
                assert_int_equal(bl, sizeof blob);
                assert_int_equal(blob, 3);
            }
            float *x = nn_net_input(net);
            for (int i = 0; i < 8 * 784; i++) x[i] = (float)((i * 7 + st * 13) % 255) / 255.f;
            float loss = nn_net_forward(net, 8, labels, 1);
            nn_net_backward(net);
            nn_optim_step(&o, nn_net_params(net), nn_net_grads(net), oc.lr);
            (pass ? got : ref)[st] = loss;
            if (pass == 0 && st == 2) {
                int blob = 3;
                assert_int_equal(nn_checkpoint_save(path, net, &o, &blob, sizeof blob, err, sizeof err), 0);
            }
        }
        nn_optim_free(&o);
        nn_net_free(net);
    }
    assert_memory_equal(ref, got, sizeof ref);
}

/* ---- the same bits on every kernel path (issue 12) */

/* the paths this CPU runs, portable first */
static int paths(nn_isa *p) {
    int n = 0;
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (nn_isa_supported((nn_isa)i)) p[n++] = (nn_isa)i;
    return n;
}

/* Every path this CPU runs (portable always, AVX2 and AVX-512 where the CPU
 * has them) trains each network to the same losses and weights, bit for
 * bit, on one thread or two. */
static void every_path_trains_to_the_same_bits(void **s) {
    arch a[8];
    const int na = archs(a);
    nn_isa p[NN_ISA_COUNT];
    const int np = paths(p);
    enum { STEPS = NN_TEST_SANITIZED ? 2 : 12 };
    for (int i = 0; i < na; i++) {
        float ref[STEPS + 1] = {0}, got[STEPS + 1] = {0}, *pref = NULL, *pgot = NULL;
        size_t n = 0, n2 = 0;
        char err[256];
        if (train_on(&a[i], NN_ISA_PORTABLE, 1, STEPS, ref, &pref, &n, err, sizeof err)) fail_msg("%s", err);
        assert_true(isfinite(ref[STEPS]));
        for (int k = 0; k < np; k++)
            for (int nt = 1; nt <= 2; nt++) {
                if (p[k] == NN_ISA_PORTABLE && nt == 1) continue;
                if (train_on(&a[i], p[k], nt, STEPS, got, &pgot, &n2, err, sizeof err)) fail_msg("%s", err);
                for (int st = 0; st <= STEPS; st++)
                    if (memcmp(&ref[st], &got[st], sizeof ref[st]))
                        fail_msg("%s on %s, %d threads: step %d loss %.9g, portable %.9g", a[i].name,
                                 nn_isa_name(p[k]), nt, st, got[st], ref[st]);
                assert_int_equal(n, n2);
                if (memcmp(pref, pgot, 4 * n)) fail_msg("%s on %s: other weights than portable", a[i].name, nn_isa_name(p[k]));
                free(pgot);
            }
        free(pref);
    }
}

/* The bits themselves stay as they were recorded: a change of kernels that
 * moved every path alike would pass the test above and still change every
 * result users have. tests/fixtures/trained_bits.txt holds one line per
 * network, "NAME HASH" (crossbits' hash of 12 steps on one thread); a change
 * that means to change the bits rewrites it with
 *   ./build/tests/crossbits portable | awk '{print $1, $3}' */
static void training_gives_the_recorded_bits(void **s) {
    if (NN_TEST_SANITIZED) skip(); /* the sanitized build trains fewer steps */
    FILE *f = fopen("tests/fixtures/trained_bits.txt", "r");
    if (!f) fail_msg("tests/fixtures/trained_bits.txt: %s", strerror(errno));
    arch a[8];
    const int na = archs(a);
    enum { STEPS = 12 };
    char name[64], line[128];
    unsigned long long want;
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%63s %llx", name, &want) != 2) fail_msg("trained_bits.txt: bad line '%s'", line);
        int i = 0;
        while (i < na && strcmp(a[i].name, name)) i++;
        if (i == na) fail_msg("trained_bits.txt names '%s', which tests/archs.h does not have", name);
        float losses[STEPS + 1], *w = NULL;
        size_t n = 0;
        char err[256];
        if (train_on(&a[i], NN_ISA_PORTABLE, 1, STEPS, losses, &w, &n, err, sizeof err)) fail_msg("%s", err);
        const unsigned long long got = bits_hash(losses, STEPS + 1, w, n);
        free(w);
        if (got != want)
            fail_msg("%s trains to other bits (%016llx) than recorded (%016llx): every result users have "
                     "would change; if that is meant, rewrite tests/fixtures/trained_bits.txt",
                     name, got, want);
        checked++;
    }
    fclose(f);
    if (checked != na) fail_msg("trained_bits.txt records %d of the %d networks of tests/archs.h", checked, na);
}

/* A run saved on one path and resumed on another (a Slurm task requeued
 * onto an older node) ends exactly as the run never stopped; the
 * checkpoint says which path wrote it. */
static void checkpoint_resumed_on_another_path_is_exact(void **s) {
    arch a[8];
    archs(a);
    const arch *A = &a[2]; /* batch norm and dropout */
    const nn_isa best = nn_isa_best();
    char err[256], path[128];
    snprintf(path, sizeof path, "%s/p.ckpt", tmpdir);
    float ref[7], got[7];
    int labels[16];
    for (int i = 0; i < 16; i++) labels[i] = i % 10;
    for (int pass = 0; pass < 2; pass++) {
        nn_net *net = nn_net_create(A->L, A->n, A->in, 16, 1, err, sizeof err);
        assert_int_equal(nn_net_set_isa(net, best, err, sizeof err), 0);
        nn_rng r;
        nn_rng_seed(&r, 21);
        nn_net_init(net, &r);
        nn_net_seed(net, 22);
        nn_optim o;
        nn_optim_cfg oc = nn_optim_defaults(NN_ADAM);
        nn_optim_init(&o, &oc, nn_net_nparams(net));
        for (int st = 0; st < 6; st++) {
            if (pass == 1 && st == 3) {
                nn_net_free(net);
                nn_optim_free(&o);
                net = nn_net_create(A->L, A->n, A->in, 16, 1, err, sizeof err);
                assert_int_equal(nn_net_set_isa(net, NN_ISA_PORTABLE, err, sizeof err), 0);
                nn_optim_init(&o, &oc, nn_net_nparams(net));
                if (nn_checkpoint_load(path, net, &o, NULL, 0, NULL, err, sizeof err)) fail_msg("%s", err);
                assert_int_equal(nn_net_loaded_isa(net), (int)best);
            }
            float *x = nn_net_input(net);
            for (int i = 0; i < 16 * 784; i++) x[i] = (float)((i * 7 + st * 13) % 255) / 255.f;
            (pass ? got : ref)[st] = nn_net_forward(net, 16, labels, 1);
            nn_net_backward(net);
            nn_optim_step(&o, nn_net_params(net), nn_net_grads(net), oc.lr);
            if (pass == 0 && st == 2) assert_int_equal(nn_checkpoint_save(path, net, &o, NULL, 0, err, sizeof err), 0);
        }
        (pass ? got : ref)[6] = nn_net_forward(net, 16, labels, 0);
        nn_optim_free(&o);
        nn_net_free(net);
    }
    assert_memory_equal(ref, got, sizeof ref);
}

/* NNLAB_ISA's names, and a path the CPU lacks is refused with its name */
static void isa_names_parse_and_unsupported_paths_are_refused(void **s) {
    for (int i = 0; i < NN_ISA_COUNT; i++) {
        nn_isa got;
        assert_int_equal(nn_isa_parse(nn_isa_name((nn_isa)i), &got), 0);
        assert_int_equal(got, i);
    }
    nn_isa got;
    assert_int_equal(nn_isa_parse("sse9", &got), -1);
    assert_true(nn_isa_supported(NN_ISA_PORTABLE));
    assert_true(nn_isa_supported(nn_isa_best()));
    assert_true(strlen(nn_cpu_name()) > 0);
    char err[256] = "";
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (!nn_isa_supported((nn_isa)i)) {
            assert_int_equal(nn_isa_set_default((nn_isa)i, err, sizeof err), -1);
            assert_non_null(strstr(err, nn_isa_name((nn_isa)i)));
        }
    assert_int_equal(nn_isa_set_default(NN_ISA_PORTABLE, err, sizeof err), 0);
    assert_int_equal(nn_isa_default(), NN_ISA_PORTABLE);
    assert_int_equal(nn_isa_set_default(nn_isa_best(), err, sizeof err), 0);
}

static void checkpoint_rejects_truncated_foreign_and_corrupt_files(void **s) {
    nn_layer_spec L[MAXL];
    int n = lenet(L, "sigmoid_avg");
    char err[256], path[128], bad[160];
    snprintf(path, sizeof path, "%s/b.ckpt", tmpdir);
    nn_net *net = nn_net_create(L, n, nn_shape3(1, 28, 28), 4, 1, err, sizeof err);
    nn_rng r;
    nn_rng_seed(&r, 1);
    nn_net_init(net, &r);
    nn_optim o;
    nn_optim_cfg oc = nn_optim_defaults(NN_ADAM);
    nn_optim_init(&o, &oc, nn_net_nparams(net));
    assert_int_equal(nn_checkpoint_save(path, net, &o, NULL, 0, err, sizeof err), 0);
    float before = nn_net_params(net)[0];

    /* truncated */
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(bad, sizeof bad, "%s/trunc.ckpt", tmpdir);
    f = fopen(bad, "wb"); fwrite(buf, 1, len / 2, f); fclose(f);
    assert_int_equal(nn_checkpoint_load(bad, net, &o, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    /* one flipped bit */
    buf[len / 2] ^= 4;
    f = fopen(bad, "wb"); fwrite(buf, 1, len, f); fclose(f);
    assert_int_equal(nn_checkpoint_load(bad, net, &o, NULL, 0, NULL, err, sizeof err), -1);
    if (!strstr(err, "CRC")) fail_msg("%s", err);
    /* not a checkpoint at all */
    f = fopen(bad, "wb"); fputs("name: lenet5\n", f); fclose(f);
    assert_int_equal(nn_checkpoint_load(bad, net, &o, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an nnlab checkpoint"));
    /* missing */
    snprintf(bad, sizeof bad, "%s/none.ckpt", tmpdir);
    assert_int_equal(nn_checkpoint_load(bad, net, &o, NULL, 0, NULL, err, sizeof err), -1);
    /* another architecture */
    L[0] = NN_CONV(8, 5, 1, 2);
    nn_net *other = nn_net_create(L, n, nn_shape3(1, 28, 28), 4, 1, err, sizeof err);
    nn_optim o2;
    nn_optim_init(&o2, &oc, nn_net_nparams(other));
    assert_int_equal(nn_checkpoint_load(path, other, &o2, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "another architecture"));
    assert_float_equal(nn_net_params(net)[0], before, 0);
    nn_optim_free(&o2);
    nn_net_free(other);
    nn_optim_free(&o);
    nn_net_free(net);
    unlink(path);
    snprintf(bad, sizeof bad, "%s/trunc.ckpt", tmpdir);
    unlink(bad);
    snprintf(bad, sizeof bad, "%s/a.ckpt", tmpdir);
    unlink(bad);
    rmdir(tmpdir);
}

static void init_uses_pytorch_bounds(void **s) {
    nn_layer_spec L[MAXL];
    int n = lenet(L, "sigmoid_avg");
    char err[256];
    nn_net *net = nn_net_create(L, n, nn_shape3(1, 28, 28), 4, 1, err, sizeof err);
    nn_rng r;
    nn_rng_seed(&r, 0);
    nn_net_init(net, &r);
    const float *p = nn_net_params(net);
    /* conv1: fan_in 25, bound 0.2; dense 400 -> 120: fan_in 400, bound 0.05 */
    float mx = 0;
    for (int i = 0; i < 156; i++) mx = fmaxf(mx, fabsf(p[i]));
    assert_true(mx <= 0.2f && mx > 0.18f);
    size_t off = 156 + 2416;
    mx = 0;
    for (size_t i = off; i < off + 48120; i++) mx = fmaxf(mx, fabsf(p[i]));
    assert_true(mx <= 0.05f && mx > 0.049f);
    nn_net_free(net);
}

/* Inverted dropout: in training a share p of the values is zeroed and the
 * rest scaled by 1 / (1 - p), the gradient takes the same mask; in eval mode
 * it is the identity. */
static void dropout_masks_scales_and_passes_gradients(void **s) {
    nn_layer_spec L[] = {NN_FLATTEN_(), NN_DENSE(400), NN_DROP(0.25f), NN_DENSE(10)};
    char err[256];
    nn_net *net = nn_net_create(L, 4, nn_shape3(1, 28, 28), 64, 1, err, sizeof err);
    assert_non_null(net);
    nn_rng r;
    nn_rng_seed(&r, 3);
    nn_net_init(net, &r);
    float *x = nn_net_input(net);
    for (int i = 0; i < 64 * 784; i++) x[i] = nn_rng_uniform(&r);
    int labels[64] = {0};
    /* eval: logits equal those of the same net with no dropout layer */
    nn_layer_spec L2[] = {NN_FLATTEN_(), NN_DENSE(400), NN_DENSE(10)};
    nn_net *plain = nn_net_create(L2, 3, nn_shape3(1, 28, 28), 64, 1, err, sizeof err);
    memcpy(nn_net_params(plain), nn_net_params(net), 4 * nn_net_nparams(net));
    memcpy(nn_net_input(plain), x, 4 * 64 * 784);
    nn_net_forward(net, 64, labels, 0);
    nn_net_forward(plain, 64, labels, 0);
    assert_memory_equal(nn_net_logits(net), nn_net_logits(plain), 4 * 640);
    /* train: the loss differs, and the first dense layer's weight gradient
     * is zero for exactly the dropped units of every sample */
    nn_net_forward(net, 64, labels, 1);
    nn_net_backward(net);
    const float *g = nn_net_grads(net);
    int dead_rows = 0;
    for (int o = 0; o < 400; o++) {
        int zero = 1;
        for (int i = 0; i < 784 && zero; i++) zero = g[(size_t)o * 784 + i] == 0.f;
        dead_rows += zero;
    }
    /* a unit dropped for all 64 samples is rare (0.25^64): no dead rows */
    assert_int_equal(dead_rows, 0);
    nn_net_free(plain);
    /* batch 1: about a quarter of the 400 units get no gradient */
    nn_net_forward(net, 1, labels, 1);
    nn_net_backward(net);
    dead_rows = 0;
    for (int o = 0; o < 400; o++) {
        int zero = 1;
        for (int i = 0; i < 784 && zero; i++) zero = g[(size_t)o * 784 + i] == 0.f;
        dead_rows += zero;
    }
    assert_true(dead_rows > 60 && dead_rows < 140);
    nn_net_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lenet_sigmoid_avg_matches_pytorch),
        cmocka_unit_test(lenet_relu_max_matches_pytorch),
        cmocka_unit_test(lenet_batchnorm_matches_pytorch),
        cmocka_unit_test(lenet_matches_pytorch_with_two_threads),
        cmocka_unit_test(optimizers_match_pytorch_update_rules),
        cmocka_unit_test(schedules_match_pytorch),
        cmocka_unit_test(warmup_ramps_then_hands_over),
        cmocka_unit_test(lenet5_has_61706_params),
        cmocka_unit_test(infer_errors_name_layer_and_shapes),
        cmocka_unit_test(init_uses_pytorch_bounds),
        cmocka_unit_test(dropout_masks_scales_and_passes_gradients),
        cmocka_unit_test(same_seed_gives_bitwise_identical_losses),
        cmocka_unit_test(thread_count_changes_no_bit),
        cmocka_unit_test_setup(checkpoint_resume_is_exact, mk_tmp),
        cmocka_unit_test(checkpoint_rejects_truncated_foreign_and_corrupt_files),
        cmocka_unit_test(every_path_trains_to_the_same_bits),
        cmocka_unit_test(training_gives_the_recorded_bits),
        cmocka_unit_test_setup(checkpoint_resumed_on_another_path_is_exact, mk_tmp),
        cmocka_unit_test(isa_names_parse_and_unsupported_paths_are_refused),
    };
    return cmocka_run_group_tests_name("nn_net", tests, NULL, NULL);
}
