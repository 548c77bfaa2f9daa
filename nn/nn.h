/* nn.h -- a small CNN training library: layer list in, losses, gradients and
 * updated parameters out. It knows nothing of YAML, SQLite or command lines.
 *
 * A first screen of use (LeNet-5 on 1x28x28 images, batch 128, Adam):
 *
 *     nn_layer_spec L[] = {
 *         NN_CONV(6, 5, 1, 2), NN_ACT(NN_SIGMOID), NN_POOL(NN_AVGPOOL, 2, 2),
 *         NN_CONV(16, 5, 1, 0), NN_ACT(NN_SIGMOID), NN_POOL(NN_AVGPOOL, 2, 2),
 *         NN_FLATTEN_(), NN_DENSE(120), NN_ACT(NN_SIGMOID), NN_DENSE(84),
 *         NN_ACT(NN_SIGMOID), NN_DENSE(10)};
 *     char err[256];
 *     nn_net *net = nn_net_create(L, 12, nn_shape3(1, 28, 28), 128, 1, err, sizeof err);
 *     if (!net) { fprintf(stderr, "%s\n", err); exit(2); }
 *     nn_rng rng; nn_rng_seed(&rng, 0);
 *     nn_net_init(net, &rng);                       // PyTorch's default init
 *     nn_optim opt; nn_optim_cfg oc = nn_optim_defaults(NN_ADAM); oc.lr = 1e-3f;
 *     nn_optim_init(&opt, &oc, nn_net_nparams(net));   // the only optimizer malloc
 *     for (each batch) {
 *         float *x = nn_net_input(net);              // (B, 1, 28, 28): fill it
 *         float loss = nn_net_forward(net, B, labels, 1);   // 1 = training mode
 *         nn_net_backward(net);                      // zeroes, then fills grads
 *         nn_optim_step(&opt, nn_net_params(net), nn_net_grads(net), oc.lr);
 *     }
 *
 * Conventions are PyTorch's: NCHW tensors, cross-correlation, weights
 * (out, in, kh, kw), dense weights (out, in), gradients not negated, the loss
 * is the mean over the batch. Parameters live in one contiguous block, in the
 * order PyTorch's model.parameters() lists them; gradients and optimizer state
 * are blocks of the same layout. Everything the training loop touches is
 * allocated by nn_net_create; the loop itself never calls malloc.
 *
 * Errors: functions that can fail return NULL or a negative number and write
 * one human-readable line into the caller's err buffer. Nothing exits.
 *
 * How to add a layer (nn/gap.c, global average pooling, is the example):
 *   1. its maths: NAME_forward and NAME_backward in an op file, nn/NAME.c
 *      (plain C, sums in a fixed order, no libm: the same bits on every
 *      path) or per path in nn/kern/; declared in ops.h with their shapes
 *      and formula; checked in tests/test_nn_layers.c against a PyTorch
 *      fixture (tests/make_fixtures.py) and finite differences.
 *   2. its kind: one line at the end of NN_KINDS below, with the next free
 *      number, and NN_KIND_COUNT one more.
 *   3. its row in nn/layers.c: name, config family (its word, type and
 *      options, which configs and their canonical text follow from),
 *      infer (output shape, parameter count, errors), forward and
 *      backward, and the optional init, flags, pack, prepare and flops.
 *      The network (net.c), shape inference and the runner's configs take
 *      it from there: a kind without a row does not compile, a row without
 *      a required entry is refused by nn_infer.
 *   4. a network with it in tests/archs.h: it must train to the same bits
 *      on every path, thread count and arm64.
 */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAX_LAYERS 64

/* ------------------------------------------------------------ CPU paths */
/* The kernels exist once per instruction set, and every path gives the same
 * bits: a run may stop on one and resume on another. The best path the CPU
 * and the OS (its saved vector state) support is the default. */
typedef enum { NN_ISA_PORTABLE, NN_ISA_AVX2, NN_ISA_AVX512, NN_ISA_COUNT } nn_isa;
const char *nn_isa_name(nn_isa isa);          /* "portable", "avx2", "avx512" */
int nn_isa_parse(const char *s, nn_isa *out); /* 0, or -1 for an unknown name */
/* 1 when this build carries the path and this CPU and OS can run it */
int nn_isa_supported(nn_isa isa);
nn_isa nn_isa_best(void);
/* The path new networks start on (and ops.h's plain functions use); -1
 * with a message naming the CPU when it cannot run that path. */
int nn_isa_set_default(nn_isa isa, char *err, size_t errlen);
nn_isa nn_isa_default(void);
/* what the CPU calls itself ("AMD EPYC 7763 64-Core Processor") */
const char *nn_cpu_name(void);
/* one core's fused multiply-add peak on a path, in GFLOP/s, measured by
 * running independent fmas for about 50 ms */
double nn_isa_peak_gflops(nn_isa isa);

/* ---------------------------------------------------------------- random */
/* xoshiro256** seeded through splitmix64: fast, good, and ours, so runs are
 * reproducible bit for bit across machines and library versions. */
typedef struct { uint64_t s[4]; } nn_rng;
void nn_rng_seed(nn_rng *r, uint64_t seed);
uint64_t nn_rng_next(nn_rng *r);
float nn_rng_uniform(nn_rng *r);           /* [0, 1) with 24 random bits */
uint32_t nn_rng_below(nn_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
void nn_rng_shuffle(nn_rng *r, int *a, int n); /* Fisher-Yates */

/* ---------------------------------------------------------------- layers */
/* The layer kinds: each has one row in the layer table (nn/layers.c) and
 * this list names that row (layer_NAME), so a kind without a row does not
 * compile. The list is in the order configs list the layers; the numbers
 * are each kind's value, saved in every checkpoint's architecture hash:
 * never renumber, and give a new kind the next free number. */
#define NN_KINDS(X)                     \
    X(NN_CONV2D, 0, conv2d)             \
    X(NN_AVGPOOL, 1, avgpool)           \
    X(NN_MAXPOOL, 2, maxpool)           \
    X(NN_SIGMOID, 5, sigmoid)           \
    X(NN_RELU, 6, relu)                 \
    X(NN_TANH, 7, tanh)                 \
    X(NN_LEAKY_RELU, 8, leaky_relu)     \
    X(NN_DENSE, 3, dense)               \
    X(NN_FLATTEN, 4, flatten)           \
    X(NN_BATCHNORM, 9, batchnorm)       \
    X(NN_DROPOUT, 10, dropout)          \
    X(NN_GAP, 11, gap)

typedef enum {
#define NN_KIND_VALUE_(kind, value, name) kind = value,
    NN_KINDS(NN_KIND_VALUE_)
#undef NN_KIND_VALUE_
    NN_KIND_COUNT = 12  /* one more than the largest value */
} nn_kind;

typedef struct {
    nn_kind kind;
    int out;     /* conv: filters; dense: units */
    int kernel;  /* conv kernel, pool window */
    int stride;  /* conv and pool; 0 means the default (1 for conv, kernel for pool) */
    int padding; /* conv and pool */
    float slope; /* leaky ReLU: y = slope * x for x < 0 (0 means 0.01) */
    float rate;  /* dropout: the probability of zeroing a value */
} nn_layer_spec;

#define NN_CONV(f, k, s, p) ((nn_layer_spec){.kind = NN_CONV2D, .out = (f), .kernel = (k), .stride = (s), .padding = (p)})
#define NN_POOL(kind_, k, s) ((nn_layer_spec){.kind = (kind_), .kernel = (k), .stride = (s)})
#define NN_DENSE(n)         ((nn_layer_spec){.kind = NN_DENSE, .out = (n)})
#define NN_ACT(kind_)       ((nn_layer_spec){.kind = (kind_)})
#define NN_FLATTEN_()       ((nn_layer_spec){.kind = NN_FLATTEN})
#define NN_BN()             ((nn_layer_spec){.kind = NN_BATCHNORM})
#define NN_DROP(p)          ((nn_layer_spec){.kind = NN_DROPOUT, .rate = (p)})

const char *nn_kind_name(nn_kind k); /* "conv2d", "relu", ...; "?" for no kind */
/* The spec as the network runs it: defaults filled in (stride, slope) and
 * the options its kind does not use set to 0. */
nn_layer_spec nn_layer_resolve(nn_layer_spec s);

/* Layers as a config names them, for a program that reads configs (nn
 * itself reads none). Kinds come in families, each written with one word
 * and told apart by a type: `pool: {type: max, size: 2}`, `act: relu`,
 * `dense: 120`, `flatten`. An option is a named int or float field of
 * nn_layer_spec with the values it may take. */
enum { NN_OPT_HI = 1, NN_OPT_LO_OPEN = 2, NN_OPT_HI_OPEN = 4 };
typedef struct {
    const char *name;   /* "filters" */
    int is_float;       /* a float field, else an int */
    size_t off;         /* offsetof(nn_layer_spec, the field) */
    double lo, hi;      /* value >= lo (> with NN_OPT_LO_OPEN); with NN_OPT_HI, <= hi (<) */
    unsigned bounds;
    int required;       /* a config must give it */
    unsigned kinds;     /* the kinds it applies to, bit 1 << kind; 0: every kind of its family */
} nn_layer_opt;

typedef struct {
    const char *key;       /* the config's word: "pool" */
    const char *types;     /* what its kinds' types are called ("pool type"); NULL: one kind */
    const char *shorthand; /* the option a scalar sets: "dense: 120" is {units: 120}; "type" */
    const char *example;   /* "pool: {type: max, size: 2}" */
    nn_layer_spec init;    /* the spec before any option */
    const nn_layer_opt *opts;
    int nopts;
} nn_layer_family;

/* every family, in the order configs list them; returns the count */
int nn_layer_families(const nn_layer_family **out, int max);
/* the kinds of family f in that order (out: NN_KIND_COUNT); returns the count */
int nn_family_kinds(const nn_layer_family *f, nn_kind *out);
const nn_layer_family *nn_kind_family(nn_kind k);
/* the kind's type in its family ("max"), or NULL in a family of one kind */
const char *nn_kind_type(nn_kind k);
/* does option o of k's family apply to kind k? */
int nn_opt_applies(const nn_layer_opt *o, nn_kind k);

/* A per-sample shape: rank 3 is (c, h, w), rank 1 is (c) with h = w = 1. */
typedef struct { int rank, c, h, w; } nn_shape;
static inline nn_shape nn_shape3(int c, int h, int w) { nn_shape s = {3, c, h, w}; return s; }
static inline nn_shape nn_shape1(int c) { nn_shape s = {1, c, 1, 1}; return s; }
static inline size_t nn_shape_size(nn_shape s) { return (size_t)s.c * s.h * s.w; }
/* "6x28x28" or "120" into buf; returns buf */
char *nn_shape_str(nn_shape s, char *buf, size_t n);

/* Shape inference alone, with no allocation: fills out[i] with the output
 * shape of layer i and nparams[i] with its parameter count (either may be
 * NULL). Returns 0, or -1 with a message naming the layer index and shapes. */
int nn_infer(const nn_layer_spec *layers, int n, nn_shape input,
             nn_shape *out, size_t *nparams, char *err, size_t errlen);

/* ---------------------------------------------------------------- network */
typedef struct nn_net nn_net;

/* Builds the network for batches of up to max_batch samples, using up to
 * nthreads threads. Results are bitwise the same whatever the thread count:
 * a batch is cut into slices by its size alone, and gradients are summed
 * slice by slice in order. So while training, the network times one thread
 * against nthreads now and then and runs on whichever is faster (one,
 * when another program holds a core). It starts on nthreads.
 * The last layer's output is the logits, fed to softmax cross-entropy. */
nn_net *nn_net_create(const nn_layer_spec *layers, int n, nn_shape input,
                      int max_batch, int nthreads, char *err, size_t errlen);
void nn_net_free(nn_net *net);

int nn_net_nlayers(const nn_net *net);
nn_shape nn_net_out_shape(const nn_net *net, int layer);
size_t nn_net_layer_nparams(const nn_net *net, int layer);
size_t nn_net_nparams(const nn_net *net);
int nn_net_nclasses(const nn_net *net);
int nn_net_max_batch(const nn_net *net);
int nn_net_nthreads(const nn_net *net);
/* the thread count the network runs on at the moment: 1 (or the base
 * count) or nn_net_nthreads */
int nn_net_threads_in_use(const nn_net *net);
/* the path the network's kernels run on (nn_isa_default() when it was
 * created); switching changes no result, only the speed */
nn_isa nn_net_isa(const nn_net *net);
int nn_net_set_isa(nn_net *net, nn_isa isa, char *err, size_t errlen);
/* Start on n threads and try nn_net_nthreads against n, not against 1: a
 * sweep worker sharing the machine with others starts on its share of the
 * cores, and takes them all when it finds itself alone. */
void nn_net_set_base_threads(nn_net *net, int n);
/* FNV-1a hash of the layer list and input shape: identifies the architecture */
uint64_t nn_net_arch_hash(const nn_net *net);

float *nn_net_params(nn_net *net); /* nparams floats, PyTorch's order */
float *nn_net_grads(nn_net *net);  /* same layout */
/* batch-norm running statistics (mean then var per BN layer), and count */
float *nn_net_buffers(nn_net *net);
size_t nn_net_nbuffers(const nn_net *net);

/* PyTorch's default init: conv and dense weights and biases uniform in
 * +-1/sqrt(fan_in); BN gamma 1, beta 0, running mean 0, running var 1.
 * Layers are initialized in order, weight then bias, from r. */
void nn_net_init(nn_net *net, nn_rng *r);
/* Seeds the generator used for dropout masks. */
void nn_net_seed(nn_net *net, uint64_t seed);
nn_rng *nn_net_rng(nn_net *net);

/* (max_batch, input size) floats to fill before nn_net_forward */
float *nn_net_input(nn_net *net);
/* Forward pass over the first B samples of the input. With labels, returns
 * the mean softmax cross-entropy; without (NULL), returns 0. train selects
 * batch statistics and dropout (1) or running statistics (0). */
float nn_net_forward(nn_net *net, int B, const int *labels, int train);
/* (B, nclasses) logits and (B, nclasses) softmax probabilities of the last forward */
const float *nn_net_logits(const nn_net *net);
const float *nn_net_probs(const nn_net *net);
/* number of samples whose argmax logit equals the label, last forward */
int nn_net_correct(const nn_net *net, const int *labels, int B);
/* Backward pass of the last training forward: zeroes grads, then fills them. */
void nn_net_backward(nn_net *net);

/* Per-layer wall time of forward and backward in seconds, accumulated since
 * the last reset (for the benchmark's per-layer table). */
void nn_net_timing(const nn_net *net, int layer, double *fwd, double *bwd);
void nn_net_timing_reset(nn_net *net);
/* floating-point operations of one forward pass (per sample, multiply-add = 2) */
double nn_net_flops_forward(const nn_net *net, int layer);
double nn_net_flops_backward(const nn_net *net, int layer);

/* ------------------------------------------------------------- optimizers */
typedef enum { NN_SGD, NN_ADAM, NN_ADAMW } nn_optim_kind;

typedef struct {
    nn_optim_kind kind;
    float lr;
    float momentum;     /* SGD */
    float dampening;    /* SGD */
    int nesterov;       /* SGD */
    float weight_decay; /* SGD, Adam: L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2, eps;
} nn_optim_cfg;

/* PyTorch 1.13's defaults for the kind (AdamW: weight_decay 0.01). */
nn_optim_cfg nn_optim_defaults(nn_optim_kind kind);

typedef struct {
    nn_optim_cfg cfg;
    size_t n;
    int64_t step;  /* updates done */
    float *state;  /* 2n floats: SGD momentum buffer; Adam exp_avg then exp_avg_sq */
} nn_optim;

int nn_optim_init(nn_optim *o, const nn_optim_cfg *cfg, size_t nparams);
void nn_optim_free(nn_optim *o);
/* One update with learning rate lr (the schedule's value for this step). */
void nn_optim_step(nn_optim *o, float *params, const float *grads, float lr);
/* How many floats of state the optimizer keeps (saved in checkpoints). */
size_t nn_optim_state_size(const nn_optim *o);

/* Learning-rate schedules, evaluated per epoch (0-based), as PyTorch's
 * StepLR and CosineAnnealingLR, after an optional linear warm-up over
 * warmup epochs (epoch e < warmup uses lr * (e + 1) / (warmup + 1));
 * the schedule then counts epochs from the end of the warm-up. */
typedef enum { NN_SCHED_CONSTANT, NN_SCHED_STEP, NN_SCHED_COSINE } nn_sched_kind;
typedef struct {
    nn_sched_kind kind;
    int step_size;  /* step: epochs between decays */
    float gamma;    /* step: decay factor */
    int t_max;      /* cosine: period in epochs (0: the epochs after warm-up) */
    float eta_min;  /* cosine: floor */
    int warmup;     /* epochs of linear warm-up, 0 for none */
} nn_sched;
float nn_sched_lr(const nn_sched *s, float base_lr, int epoch, int total_epochs);

/* ------------------------------------------------------------ checkpoints */
/* A checkpoint holds: magic "NNLABCK1", format version, the architecture
 * hash, parameters, BN buffers, dropout generator, optimizer config, step and
 * state, and an opaque blob the caller owns (the runner keeps its epoch
 * counter and data-order generator there). Every section is length-checked
 * and the file ends with a CRC-32 (zlib) of everything before it. The path
 * (nn_isa) that wrote it is recorded too, for the record only: every path
 * continues a checkpoint to the same bits.
 * Saving writes to PATH.tmp, fsyncs, then renames over PATH: a crash leaves
 * the old checkpoint or the new one, never a torn one. */
int nn_checkpoint_save(const char *path, nn_net *net, const nn_optim *opt,
                       const void *blob, size_t bloblen, char *err, size_t errlen);
/* Loads into an already built net and initialized optimizer of the same
 * architecture; blob receives up to blobcap bytes (NULL: ignore the stored
 * blob), *bloblen the stored size.
 * A foreign, truncated or corrupt file is an error, never a crash; on error
 * net and opt are left untouched. */
int nn_checkpoint_load(const char *path, nn_net *net, nn_optim *opt,
                       void *blob, size_t blobcap, size_t *bloblen,
                       char *err, size_t errlen);
/* the path that wrote the checkpoint last loaded into net, or -1 when it
 * was written before paths were recorded */
int nn_net_loaded_isa(const nn_net *net);

#endif
