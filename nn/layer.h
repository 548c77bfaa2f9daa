/* layer.h -- inside nn/: a layer as the network holds it, and the row of
 * the layer table (layers.c) that tells the network and shape inference
 * how to build, initialize and run each kind. net.c and shape.c call the
 * rows and never name a kind. */
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include <stddef.h>
#include "nn.h"
#include "ops.h"

struct nn_layer_def;

/* One layer of a network (net.c), shapes per sample. */
typedef struct {
    const struct nn_layer_def *def;
    nn_layer_spec spec;  /* resolved (nn_layer_resolve) */
    nn_shape in, out;
    size_t outsz;        /* per sample */
    size_t np, p_off;    /* parameters: count, offset in the block */
    size_t nbuf, b_off;  /* running statistics: count, offset */
    nn_conv_geom g;      /* the spec's window on the shapes (conv and pooling use it) */
    float *y, *dy;       /* (max_batch, outsz); aliases for views and in-place layers */
    float *saved;        /* NN_L_SAVES: (max_batch, outsz), what backward needs (BN xhat, dropout mask) */
    float *chan;         /* NN_L_STATS: (in.c) per channel (BN invstd) */
    int *argmax;         /* NN_L_ARGMAX: (max_batch, outsz) */
    int owns;            /* y, dy allocated here (not aliases) */
    double t_fwd, t_bwd;
} nn_layer;

/* What a forward or backward call gets: images [n0, n0 + n) of the batch,
 * on one thread for a slice, on nthreads for an NN_L_BATCH layer (n0 = 0
 * and n the whole batch). */
typedef struct {
    const nn_kernels *K;
    int n0, n, train, nthreads;
    const float *x;      /* (n, in size) at image n0 */
    float *y;            /* (n, outsz) */
    float *dx;           /* (n, in size), written; NULL: not needed */
    const float *dy;     /* (n, outsz) */
    const float *w;      /* the layer's parameters */
    float *dw;           /* their gradients for these images: zeroed, to accumulate into */
    const float *wpack;  /* the layer's share of the packed block (dense) */
    float *buf;          /* the layer's running statistics */
    float *scratch;      /* this thread's scratch */
} nn_pass;

/* flags: how the network places a layer's buffers and runs it */
enum {
    NN_L_VIEW = 1,     /* its output is its input's buffer (flatten) */
    NN_L_INPLACE = 2,  /* element-wise: may run in place on a host's output */
    NN_L_HOST = 4,     /* its backward never reads its own output, so it can host one */
    NN_L_BATCH = 8,    /* needs the whole batch at once: runs between slices, on all threads */
    NN_L_SAVES = 16,   /* keeps a float per output value for backward (saved) */
    NN_L_ARGMAX = 32,  /* keeps an int per output value (argmax) */
    NN_L_STATS = 64,   /* running mean and variance per input channel (2C buffers, C in chan) */
};

/* A row of the layer table. name, family, infer, forward and backward are
 * required (nn_layer_def_of refuses a row without them); NULL elsewhere
 * means "nothing to do". */
typedef struct nn_layer_def {
    const char *name;                 /* nn_kind_name */
    const nn_layer_family *family;    /* how configs write it */
    const char *type;                 /* its type in the family, NULL in a family of one */
    unsigned flags;
    /* fill in defaults (a stride of 0 is the window) */
    void (*resolve)(nn_layer_spec *s);
    /* the output shape and parameter count from the input shape, or -1 and
     * why (after "layer 3 (conv2d): ") */
    int (*infer)(const nn_layer_spec *s, nn_shape in, nn_shape *out, size_t *np, char *why, size_t n);
    /* PyTorch's default initialization from r; with r NULL, only what draws
     * nothing (at creation: batch norm's gamma and running variance of 1) */
    void (*init)(const nn_layer *l, float *w, float *buf, nn_rng *r);
    /* floats of scratch per thread */
    size_t (*scratch)(const nn_kernels *K, const nn_layer *l);
    /* before the slices of a training batch of B, in layer order (dropout's masks) */
    void (*prepare)(nn_layer *l, int B, nn_rng *r);
    /* before the slices of any batch: thread t of nt packs its share of w */
    void (*pack)(const nn_layer *l, const float *w, float *wpack, int t, int nt);
    void (*forward)(const nn_layer *l, const nn_pass *p);
    void (*backward)(const nn_layer *l, const nn_pass *p);
    /* flops per sample: pass 0 forward, 1 backward, 2 backward of the first
     * layer (no input gradient); NULL: one per output value */
    double (*flops)(const nn_layer *l, int pass);
} nn_layer_def;

/* the row of kind k, or NULL (with why) when k is no kind or its row lacks
 * a required entry */
const nn_layer_def *nn_layer_def_of(nn_kind k, char *why, size_t n);

#endif
