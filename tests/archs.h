/* archs.h -- the networks the bit-for-bit tests train on every kernel path
 * (test_nn_net.c, and crossbits.c for the arm64 build under qemu): LeNet-5
 * three ways (the fixtures' variants), a 3x3 CNN, a network of odd shapes and
 * one that ends in global average pooling, and a training loop on synthetic data that returns every loss and the
 * final weights. Needs only nn.h, so it builds for any target. */
#ifndef NNLAB_TEST_ARCHS_H
#define NNLAB_TEST_ARCHS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../nn/nn.h"

#define MAXL 16

/* Under AddressSanitizer the portable path's lanes are function calls
 * (nn/kern/v16.h), tens of times slower: the tests that train on every path
 * take fewer steps and images there, and still compare every bit. */
#if defined(__SANITIZE_ADDRESS__)
#define NN_TEST_SANITIZED 1
#else
#define NN_TEST_SANITIZED 0
#endif

static inline int lenet(nn_layer_spec *L, const char *variant) {
    int n = 0;
    if (!strcmp(variant, "bn")) {
        L[n++] = NN_CONV(6, 5, 1, 2); L[n++] = NN_BN(); L[n++] = NN_ACT(NN_RELU); L[n++] = NN_POOL(NN_MAXPOOL, 2, 2);
        L[n++] = NN_CONV(16, 5, 1, 0); L[n++] = NN_BN(); L[n++] = NN_ACT(NN_RELU); L[n++] = NN_POOL(NN_MAXPOOL, 2, 2);
        L[n++] = NN_FLATTEN_(); L[n++] = NN_DENSE(120); L[n++] = NN_BN(); L[n++] = NN_ACT(NN_RELU);
        L[n++] = NN_DENSE(84); L[n++] = NN_ACT(NN_RELU); L[n++] = NN_DENSE(10);
        return n;
    }
    nn_kind a = strcmp(variant, "sigmoid_avg") ? NN_RELU : NN_SIGMOID;
    nn_kind p = strcmp(variant, "sigmoid_avg") ? NN_MAXPOOL : NN_AVGPOOL;
    L[n++] = NN_CONV(6, 5, 1, 2); L[n++] = NN_ACT(a); L[n++] = NN_POOL(p, 2, 2);
    L[n++] = NN_CONV(16, 5, 1, 0); L[n++] = NN_ACT(a); L[n++] = NN_POOL(p, 2, 2);
    L[n++] = NN_FLATTEN_(); L[n++] = NN_DENSE(120); L[n++] = NN_ACT(a);
    L[n++] = NN_DENSE(84); L[n++] = NN_ACT(a); L[n++] = NN_DENSE(10);
    return n;
}

typedef struct {
    const char *name;
    nn_layer_spec L[MAXL];
    int n;
    nn_shape in;
    nn_optim_kind opt;
} arch;

/* the shipped networks' shapes and the odd ones users write: 7x7 stride 2,
 * 1x1, 3x3 pooling at stride 1 and 2, 12 and 20 channels, batch norm,
 * dropout, tanh and leaky ReLU; Adam, SGD with Nesterov, AdamW */
static inline int archs(arch *a) {
    int k = 0;
    const char *v[] = {"sigmoid_avg", "relu_max", "bn"};
    for (int i = 0; i < 3; i++, k++) {
        a[k].name = v[i];
        a[k].n = lenet(a[k].L, v[i]);
        a[k].in = nn_shape3(1, 28, 28);
        a[k].opt = NN_ADAM;
    }
    arch *c = &a[k++];
    nn_layer_spec cnn[] = {NN_CONV(8, 3, 1, 1), NN_ACT(NN_RELU), NN_POOL(NN_MAXPOOL, 2, 2), NN_CONV(12, 3, 1, 1),
                           NN_ACT(NN_RELU), NN_POOL(NN_MAXPOOL, 2, 2), NN_FLATTEN_(), NN_DENSE(32), NN_ACT(NN_RELU),
                           NN_DROP(0.25f), NN_DENSE(10)};
    *c = (arch){.name = "cnn3x3", .n = 11, .in = nn_shape3(1, 28, 28), .opt = NN_SGD};
    memcpy(c->L, cnn, sizeof cnn);
    c = &a[k++];
    nn_layer_spec odd[] = {NN_CONV(12, 7, 2, 3), NN_BN(), NN_ACT(NN_LEAKY_RELU), NN_POOL(NN_MAXPOOL, 3, 2),
                           NN_CONV(20, 1, 1, 0), NN_ACT(NN_TANH), NN_POOL(NN_AVGPOOL, 3, 1), NN_CONV(16, 3, 2, 1),
                           NN_ACT(NN_SIGMOID), NN_FLATTEN_(), NN_DENSE(10)};
    *c = (arch){.name = "odd", .n = 11, .in = nn_shape3(3, 30, 30), .opt = NN_ADAMW};
    memcpy(c->L, odd, sizeof odd);
    c->L[3].padding = 1;  /* 3x3 max pooling, stride 2, padding 1 */
    c->L[6].padding = 1;  /* 3x3 average pooling, stride 1, padding 1 */
    /* global average pooling (issue 13) over an 8x6 plane, batch norm before
     * it and tanh in place on its output */
    c = &a[k++];
    nn_layer_spec gap[] = {NN_CONV(10, 3, 1, 1), NN_ACT(NN_RELU), NN_CONV(16, 3, 2, 1), NN_BN(), NN_ACT(NN_RELU),
                           (nn_layer_spec){.kind = NN_GAP}, NN_ACT(NN_TANH), NN_FLATTEN_(), NN_DENSE(10)};
    *c = (arch){.name = "gap", .n = 9, .in = nn_shape3(2, 15, 11), .opt = NN_ADAM};
    memcpy(c->L, gap, sizeof gap);
    return k;
}

/* steps of training on path isa with nthreads threads: every loss (and an
 * evaluation pass's after them), then the parameters and BN buffers at the
 * end (malloc'd). 0, or -1 with err filled. */
static inline int train_on(const arch *a, nn_isa isa, int nthreads, int steps, float *losses, float **params,
                           size_t *np, char *err, size_t errlen) {
    enum { B = 16 };
    nn_net *net = nn_net_create(a->L, a->n, a->in, B, nthreads, err, errlen);
    if (!net) return -1;
    if (nn_net_set_isa(net, isa, err, errlen) || nn_net_isa(net) != isa) { nn_net_free(net); return -1; }
    nn_rng r, data;
    nn_rng_seed(&r, 5);
    nn_rng_seed(&data, 6);
    nn_net_init(net, &r);
    nn_net_seed(net, 7);
    nn_optim o;
    nn_optim_cfg oc = nn_optim_defaults(a->opt);
    if (a->opt == NN_SGD) { oc.momentum = 0.9f; oc.nesterov = 1; oc.weight_decay = 5e-4f; }
    nn_optim_init(&o, &oc, nn_net_nparams(net));
    const size_t insz = nn_shape_size(a->in);
    int labels[B];
    for (int st = 0; st < steps; st++) {
        float *x = nn_net_input(net);
        for (size_t i = 0; i < B * insz; i++) x[i] = nn_rng_uniform(&data) * 2 - 1;
        for (int i = 0; i < B; i++) labels[i] = (int)nn_rng_below(&data, 10);
        losses[st] = nn_net_forward(net, B, labels, 1);
        nn_net_backward(net);
        nn_optim_step(&o, nn_net_params(net), nn_net_grads(net), oc.lr);
    }
    /* and an evaluation pass (BN running statistics, no dropout) */
    losses[steps] = nn_net_forward(net, B, labels, 0);
    *np = nn_net_nparams(net) + nn_net_nbuffers(net);
    *params = malloc(4 * *np);
    memcpy(*params, nn_net_params(net), 4 * nn_net_nparams(net));
    memcpy(*params + nn_net_nparams(net), nn_net_buffers(net), 4 * nn_net_nbuffers(net));
    nn_optim_free(&o);
    nn_net_free(net);
    return *params ? 0 : (snprintf(err, errlen, "out of memory"), -1);
}

/* The bits of a training, as one number: FNV-1a over every loss, then the
 * parameters and buffers. tests/fixtures/trained_bits.txt records them. */
static inline uint64_t bits_hash(const float *losses, size_t nloss, const float *params, size_t np) {
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *b = (const unsigned char *)losses;
    for (size_t i = 0; i < 4 * nloss; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    b = (const unsigned char *)params;
    for (size_t i = 0; i < 4 * np; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}


#endif
