/* net.c -- a network: the layer list with shapes, one block of parameters
 * (and one of gradients, same layout), activation buffers sized once for
 * max_batch, and the forward/backward passes that call the kernels in ops.h.
 *
 * Buffers: each layer owns y (its output) and dy (the loss gradient with
 * respect to y), both (max_batch, out size). Flatten owns nothing: it is a
 * view of its input. Activations and dropout run in place on the output of a
 * conv, dense, pooling or batch-norm layer (none of which reads its own output
 * in backward), which halves activation memory in the usual stacks.
 *
 * Threads: a batch is cut into slices (32 images; 4 to 16 slices) that
 * depend only on the batch size. Each slice goes through every layer up to
 * the next batch norm on whichever thread takes it, with every kernel called
 * single-threaded; a slice's weight gradients go to its own block, and the
 * blocks are summed in slice order. So the bits of every result depend on
 * the batch size alone, never on the thread count, and the threads meet
 * about twice per batch (once more per batch norm, which needs the whole
 * batch and runs over channels) instead of at every layer, and slices are
 * handed out one at a time so a faster thread takes more of them.
 *
 * Since the thread count cannot change a result, the network also chooses
 * it as it goes (see adapt below): when another program holds a core, a
 * thread sharing that core keeps the other waiting at every meeting, and
 * one thread is faster than two. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn.h"
#include "ops.h"
#include "par.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f
#define ADAPT_MIN_PERIOD 32   /* training batches between trials of the other thread count ... */
#define ADAPT_MAX_PERIOD 256  /* ... growing to this while the trials keep losing (under an
                               * epoch of LeNet-5, so a sweep worker whose neighbour has
                               * ended takes its core soon) */
#define ADAPT_TRIAL 4         /* batches per trial; the first of them warms up and is not counted */

/* slices of a batch of B: of 32 images, but at least 4 (small batches
 * still split over threads) and at most 16 (each slice keeps a block of
 * gradients); a function of B alone */
static int nslices(int B) {
    int n = (B + 31) / 32;
    n = n < 4 ? 4 : n > 16 ? 16 : n;
    return n < B ? n : B > 1 ? B : 1;
}

typedef struct {
    nn_layer_spec spec;
    nn_shape in, out;
    size_t outsz;        /* per sample */
    size_t np, p_off;    /* parameters: count, offset in the block */
    size_t nbuf, b_off;  /* BN running stats: count (2C), offset */
    nn_conv_geom g;      /* conv and pooling */
    float *y, *dy;       /* (max_batch, outsz); aliases for flatten and in-place layers */
    float *aux;          /* BN xhat, dropout mask: (max_batch, outsz) */
    float *invstd;       /* BN: (C) */
    int *argmax;         /* maxpool: (max_batch, outsz) */
    int owns;            /* y, dy allocated here (not aliases) */
    double t_fwd, t_bwd;
} layer;

struct nn_net {
    int n;
    layer L[NN_MAX_LAYERS];
    nn_shape input;
    size_t insz;
    int max_batch, nthreads, nclasses;
    size_t nparams, nbuffers;
    float *params, *grads, *buffers;
    float *x;        /* (max_batch, insz) */
    float *probs;    /* (max_batch, nclasses) */
    int *labels;     /* (max_batch): labels of the last forward */
    const nn_kernels *K; /* the path the kernels run on */
    int loaded_isa;  /* the path that wrote the last checkpoint loaded, or -1 */
    float *scratch;  /* conv: per thread, the largest conv2d_scratch_size(g, 1) */
    size_t scr1;     /* floats of scratch per thread */
    float *gslice;   /* (slices, nparams): each slice's gradients (batch norm's: all in slice 0) */
    float *wpack;    /* (nparams): dense weights transposed for the forward, at their offsets */
    double *tt;      /* (nthreads, layers, 2): seconds each thread spent per layer */
    struct {
        int cur;         /* threads the slices run on now: base or nthreads */
        int base;        /* the smaller count tried: 1, or nn_net_set_base_threads's */
        int probe_left;  /* training batches left in a trial of the other count; 0: none */
        int until_probe; /* training batches before the next trial */
        int period;      /* batches between trials: doubled each time a trial loses */
        double cost[2];  /* recent seconds per image: [0] one thread, [1] nthreads */
        double t0;       /* when this training batch's forward began */
    } adapt;
    int last_B, last_train;
    nn_rng rng;      /* dropout masks */
    uint64_t arch_hash;
};

static int is_activation(nn_kind k) {
    return k == NN_SIGMOID || k == NN_RELU || k == NN_TANH || k == NN_LEAKY_RELU;
}

/* a layer whose backward does not read its own output can host an in-place successor */
static int can_host_inplace(nn_kind k) {
    return k == NN_CONV2D || k == NN_DENSE || k == NN_AVGPOOL || k == NN_MAXPOOL || k == NN_BATCHNORM;
}

static void *xcalloc(size_t n, size_t sz, int *failed) {
    void *p = calloc(n ? n : 1, sz);
    if (!p) *failed = 1;
    return p;
}

static uint64_t fnv1a(uint64_t h, int64_t v) {
    for (int i = 0; i < 8; i++) { h ^= (uint64_t)(v >> (8 * i)) & 0xff; h *= 0x100000001b3ULL; }
    return h;
}

nn_net *nn_net_create(const nn_layer_spec *layers, int n, nn_shape input,
                      int max_batch, int nthreads, char *err, size_t errlen) {
    nn_shape shapes[NN_MAX_LAYERS];
    size_t nps[NN_MAX_LAYERS];
    char sb[64];
    if (nn_infer(layers, n, input, shapes, nps, err, errlen)) return NULL;
    nn_shape last = shapes[n - 1];
    if (last.rank != 1 || last.c < 2) {
        snprintf(err, errlen, "the last layer must give a flat output of at least 2 class scores, got %s",
                 nn_shape_str(last, sb, sizeof sb));
        return NULL;
    }
    if (max_batch < 1) { snprintf(err, errlen, "max_batch must be at least 1, got %d", max_batch); return NULL; }
    nn_net *net = calloc(1, sizeof *net);
    if (!net) { snprintf(err, errlen, "out of memory creating the network"); return NULL; }
    net->n = n;
    net->input = input;
    net->insz = nn_shape_size(input);
    net->max_batch = max_batch;
    net->nthreads = nthreads < 1 ? 1 : nthreads;
    net->adapt.cur = net->nthreads;
    net->adapt.base = 1;
    net->adapt.period = net->adapt.until_probe = ADAPT_MIN_PERIOD;
    net->K = nn_kernels_default();
    net->loaded_isa = -1;
    net->nclasses = last.c;
    nn_rng_seed(&net->rng, 0);

    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, input.rank); h = fnv1a(h, input.c); h = fnv1a(h, input.h); h = fnv1a(h, input.w);
    size_t colmax = 0;
    nn_shape in = input;
    for (int i = 0; i < n; i++) {
        layer *l = &net->L[i];
        l->spec = layers[i];
        l->in = in;
        l->out = shapes[i];
        l->outsz = nn_shape_size(shapes[i]);
        l->np = nps[i];
        l->p_off = net->nparams;
        net->nparams += l->np;
        nn_kind k = l->spec.kind;
        if (k == NN_CONV2D || k == NN_AVGPOOL || k == NN_MAXPOOL) {
            int conv = k == NN_CONV2D;
            l->spec.stride = l->spec.stride ? l->spec.stride : (conv ? 1 : l->spec.kernel);
            l->g = (nn_conv_geom){in.c, in.h, in.w, l->out.c, l->spec.kernel, l->spec.stride,
                                  l->spec.padding, l->out.h, l->out.w};
            if (conv) {
                size_t col = net->K->conv2d_scratch_size(&l->g, 1);
                if (col > colmax) colmax = col;
            }
        }
        if (k == NN_LEAKY_RELU && l->spec.slope == 0.f) l->spec.slope = 0.01f;
        if (k == NN_BATCHNORM) {
            l->nbuf = 2 * (size_t)in.c;
            l->b_off = net->nbuffers;
            net->nbuffers += l->nbuf;
        }
        h = fnv1a(h, k); h = fnv1a(h, l->spec.out); h = fnv1a(h, l->spec.kernel);
        h = fnv1a(h, l->spec.stride); h = fnv1a(h, l->spec.padding);
        /* and one float: from the first checkpoint format on, the field
         * `alpha`, which held leaky ReLU's slope or dropout's rate. A layer
         * uses at most one of the two fields now and the other is 0, so
         * their bits together are that float's: old checkpoints still load. */
        uint32_t slb, rb;
        memcpy(&slb, &l->spec.slope, sizeof slb);
        memcpy(&rb, &l->spec.rate, sizeof rb);
        h = fnv1a(h, slb | rb);
        in = shapes[i];
    }
    net->arch_hash = h;

    int failed = 0;
    size_t B = (size_t)max_batch;
    net->params = xcalloc(net->nparams, sizeof(float), &failed);
    net->grads = xcalloc(net->nparams, sizeof(float), &failed);
    net->buffers = xcalloc(net->nbuffers, sizeof(float), &failed);
    net->x = xcalloc(B * net->insz, sizeof(float), &failed);
    net->probs = xcalloc(B * net->nclasses, sizeof(float), &failed);
    net->labels = xcalloc(B, sizeof(int), &failed);
    net->scr1 = colmax;
    net->scratch = xcalloc((size_t)net->nthreads * colmax, sizeof(float), &failed);
    net->gslice = xcalloc((size_t)nslices(max_batch) * net->nparams, sizeof(float), &failed);
    net->wpack = xcalloc(net->nparams, sizeof(float), &failed);
    net->tt = xcalloc((size_t)net->nthreads * NN_MAX_LAYERS * 2, sizeof(double), &failed);
    for (int i = 0; i < n && !failed; i++) {
        layer *l = &net->L[i];
        nn_kind k = l->spec.kind;
        layer *prev = i > 0 ? &net->L[i - 1] : NULL;
        if (k == NN_FLATTEN) {
            l->y = prev ? prev->y : net->x;
            l->dy = prev ? prev->dy : NULL;
        } else if ((is_activation(k) || k == NN_DROPOUT) && prev && can_host_inplace(prev->spec.kind)) {
            l->y = prev->y;
            l->dy = prev->dy;
        } else {
            l->owns = 1;
            l->y = xcalloc(B * l->outsz, sizeof(float), &failed);
            l->dy = xcalloc(B * l->outsz, sizeof(float), &failed);
        }
        if (k == NN_BATCHNORM) {
            l->aux = xcalloc(B * l->outsz, sizeof(float), &failed);
            l->invstd = xcalloc((size_t)l->in.c, sizeof(float), &failed);
        }
        if (k == NN_DROPOUT) l->aux = xcalloc(B * l->outsz, sizeof(float), &failed);
        if (k == NN_MAXPOOL) l->argmax = xcalloc(B * l->outsz, sizeof(int), &failed);
    }
    if (failed) {
        nn_net_free(net);
        snprintf(err, errlen, "out of memory allocating the network for batch %d", max_batch);
        return NULL;
    }
    /* BN: gamma 1, running var 1 even before nn_net_init */
    for (int i = 0; i < n; i++) {
        layer *l = &net->L[i];
        if (l->spec.kind != NN_BATCHNORM) continue;
        for (int c = 0; c < l->in.c; c++) {
            net->params[l->p_off + c] = 1.f;
            net->buffers[l->b_off + l->in.c + c] = 1.f;
        }
    }
    return net;
}

void nn_net_free(nn_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        if (l->owns) { free(l->y); free(l->dy); }
        free(l->aux); free(l->invstd); free(l->argmax);
    }
    free(net->params); free(net->grads); free(net->buffers); free(net->x);
    free(net->probs); free(net->labels); free(net->scratch);
    free(net->gslice); free(net->wpack); free(net->tt);
    free(net);
}

int nn_net_nlayers(const nn_net *net) { return net->n; }
nn_shape nn_net_out_shape(const nn_net *net, int i) { return net->L[i].out; }
size_t nn_net_layer_nparams(const nn_net *net, int i) { return net->L[i].np; }
size_t nn_net_nparams(const nn_net *net) { return net->nparams; }
int nn_net_nclasses(const nn_net *net) { return net->nclasses; }
int nn_net_max_batch(const nn_net *net) { return net->max_batch; }
int nn_net_nthreads(const nn_net *net) { return net->nthreads; }
uint64_t nn_net_arch_hash(const nn_net *net) { return net->arch_hash; }
float *nn_net_params(nn_net *net) { return net->params; }
float *nn_net_grads(nn_net *net) { return net->grads; }
float *nn_net_buffers(nn_net *net) { return net->buffers; }
size_t nn_net_nbuffers(const nn_net *net) { return net->nbuffers; }
float *nn_net_input(nn_net *net) { return net->x; }
const float *nn_net_logits(const nn_net *net) { return net->L[net->n - 1].y; }
const float *nn_net_probs(const nn_net *net) { return net->probs; }
void nn_net_seed(nn_net *net, uint64_t seed) { nn_rng_seed(&net->rng, seed); }
nn_rng *nn_net_rng(nn_net *net) { return &net->rng; }

void nn_net_init(nn_net *net, nn_rng *r) {
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        float *p = net->params + l->p_off;
        nn_kind k = l->spec.kind;
        if (k == NN_CONV2D || k == NN_DENSE) {
            /* kaiming_uniform(a = sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
             * the same bound PyTorch uses for the bias */
            size_t fan_in = k == NN_CONV2D ? (size_t)l->in.c * l->g.K * l->g.K : (size_t)l->in.c;
            float bound = 1.f / sqrtf((float)fan_in);
            for (size_t j = 0; j < l->np; j++) p[j] = (2.f * nn_rng_uniform(r) - 1.f) * bound;
        } else if (k == NN_BATCHNORM) {
            int C = l->in.c;
            for (int c = 0; c < C; c++) {
                p[c] = 1.f; p[C + c] = 0.f;
                net->buffers[l->b_off + c] = 0.f;
                net->buffers[l->b_off + C + c] = 1.f;
            }
        }
    }
}

/* per-sample input size of layer i */
static size_t in_size(const nn_net *net, int i) { return i ? net->L[i - 1].outsz : net->insz; }

/* layer i forward on the nb images from n0, single-threaded, on thread t's scratch */
static void layer_forward(nn_net *net, int i, int n0, int nb, int train, int t) {
    layer *l = &net->L[i];
    const float *x = (i ? net->L[i - 1].y : net->x) + (size_t)n0 * in_size(net, i);
    const float *w = net->params + l->p_off;
    float *y = l->y + (size_t)n0 * l->outsz;
    size_t nel = (size_t)nb * l->outsz;
    switch (l->spec.kind) {
    case NN_CONV2D:
        net->K->conv2d_forward(y, x, w, w + (l->np - l->g.OC), nb, &l->g, net->scratch + (size_t)t * net->scr1, 1);
        break;
    case NN_AVGPOOL: net->K->avgpool_forward(y, x, nb, &l->g, 1); break;
    case NN_MAXPOOL: net->K->maxpool_forward(y, l->argmax + (size_t)n0 * l->outsz, x, nb, &l->g, 1); break;
    case NN_DENSE:
        net->K->dense_forward_packed(y, x, net->wpack + l->p_off, w + (size_t)l->spec.out * l->in.c, nb, l->in.c,
                             l->spec.out);
        break;
    case NN_SIGMOID: net->K->sigmoid_forward(y, x, nel, 1); break;
    case NN_RELU: net->K->relu_forward(y, x, nel, 1); break;
    case NN_TANH: net->K->tanh_forward(y, x, nel, 1); break;
    case NN_LEAKY_RELU: net->K->leaky_relu_forward(y, x, l->spec.slope, nel, 1); break;
    case NN_DROPOUT:
        if (train) {
            const float *mask = l->aux + (size_t)n0 * l->outsz;
            for (size_t j = 0; j < nel; j++) y[j] = x[j] * mask[j];
        } else if (y != x) {
            memcpy(y, x, sizeof(float) * nel);
        }
        break;
    default: break; /* flatten: a view; batch norm runs on the whole batch */
    }
}

/* layer i backward on the nb images from n0 of slice s: conv and dense
 * weight gradients into the slice's block */
static void layer_backward(nn_net *net, int i, int n0, int nb, int s, int t) {
    layer *l = &net->L[i];
    const size_t isz = in_size(net, i);
    const float *x = (i ? net->L[i - 1].y : net->x) + (size_t)n0 * isz;
    float *dx = i && net->L[i - 1].dy ? net->L[i - 1].dy + (size_t)n0 * isz : NULL; /* NULL: a flatten of the input */
    const float *w = net->params + l->p_off;
    const float *y = l->y + (size_t)n0 * l->outsz, *dy = l->dy + (size_t)n0 * l->outsz;
    float *dw = net->gslice + (size_t)s * net->nparams + l->p_off;
    size_t nel = (size_t)nb * l->outsz;
    switch (l->spec.kind) {
    case NN_CONV2D:
        memset(dw, 0, sizeof(float) * l->np);
        net->K->conv2d_backward(dx, dw, dw + (l->np - l->g.OC), dy, x, w, nb, &l->g,
                                net->scratch + (size_t)t * net->scr1, 1);
        break;
    case NN_AVGPOOL: if (dx) net->K->avgpool_backward(dx, dy, nb, &l->g, 1); break;
    case NN_MAXPOOL: if (dx) net->K->maxpool_backward(dx, dy, l->argmax + (size_t)n0 * l->outsz, nb, &l->g, 1); break;
    case NN_DENSE:
        memset(dw, 0, sizeof(float) * l->np);
        net->K->dense_backward(dx, dw, dw + (size_t)l->spec.out * l->in.c, dy, x, w, nb, l->in.c, l->spec.out);
        break;
    case NN_SIGMOID: if (dx) net->K->sigmoid_backward(dx, dy, y, nel, 1); break;
    case NN_RELU: if (dx) net->K->relu_backward(dx, dy, y, nel, 1); break;
    case NN_TANH: if (dx) net->K->tanh_backward(dx, dy, y, nel, 1); break;
    case NN_LEAKY_RELU: if (dx) net->K->leaky_relu_backward(dx, dy, y, l->spec.slope, nel, 1); break;
    case NN_DROPOUT:
        if (dx) {
            const float *mask = l->aux + (size_t)n0 * l->outsz;
            for (size_t j = 0; j < nel; j++) dx[j] = dy[j] * mask[j];
        }
        break;
    default: break;
    }
}

/* slice s of B images through layers [lo, hi) (backward: from hi - 1 down to lo) */
static void run_slice(nn_net *net, int lo, int hi, int B, int s, int train, int bwd, int t) {
    const int ns = nslices(B);
    const int n0 = (int)((long)B * s / ns), nb = (int)((long)B * (s + 1) / ns) - n0;
    double *tt = net->tt + (size_t)t * NN_MAX_LAYERS * 2;
    for (int k = 0; k < hi - lo; k++) {
        int i = bwd ? hi - 1 - k : lo + k;
        double t0 = omp_get_wtime();
        if (bwd) layer_backward(net, i, n0, nb, s, t);
        else layer_forward(net, i, n0, nb, train, t);
        tt[2 * i + bwd] += omp_get_wtime() - t0;
    }
}

/* every slice through layers [lo, hi), slices handed to the threads one at a time */
static void run_slices(nn_net *net, int lo, int hi, int B, int train, int bwd) {
    const int ns = nslices(B), nt = net->adapt.cur < ns ? net->adapt.cur : ns;
    if (nt <= 1) {
        for (int s = 0; s < ns; s++) run_slice(net, lo, hi, B, s, train, bwd, 0);
    } else {
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
            for (int s = 0; s < ns; s++) run_slice(net, lo, hi, B, s, train, bwd, t);
        }
    }
    /* per-layer time: thread-seconds over the threads, about the wall time */
    for (int t = 0; t < net->nthreads; t++) {
        double *tt = net->tt + (size_t)t * NN_MAX_LAYERS * 2;
        for (int i = lo; i < hi; i++) {
            *(bwd ? &net->L[i].t_bwd : &net->L[i].t_fwd) += tt[2 * i + bwd] / net->nthreads;
            tt[2 * i + bwd] = 0;
        }
    }
}

float nn_net_forward(nn_net *net, int B, const int *labels, int train) {
    if (B > net->max_batch) B = net->max_batch;
    if (train) net->adapt.t0 = omp_get_wtime();
    /* dropout masks first, layer by layer, for the whole batch: one stream
     * of random numbers in one order, however the slices are run.
     * inverted dropout: keep with probability 1 - p, scale by 1 / (1 - p) */
    for (int i = 0; train && i < net->n; i++) {
        layer *l = &net->L[i];
        if (l->spec.kind != NN_DROPOUT) continue;
        float p = l->spec.rate, keep = 1.f / (1.f - p);
        for (size_t j = 0; j < (size_t)B * l->outsz; j++) l->aux[j] = nn_rng_uniform(&net->rng) < p ? 0.f : keep;
    }
    /* dense weights transposed once for all the slices, output units over the threads */
    NN_PAR(net->adapt.cur,
        for (int i = 0; i < net->n; i++) {
            layer *l = &net->L[i];
            if (l->spec.kind != NN_DENSE) continue;
            int o0, o1;
            nn_split(l->spec.out, nn_t, nn_nt, &o0, &o1);
            dense_pack(net->wpack + l->p_off, net->params + l->p_off, l->in.c, l->spec.out, o0, o1);
        }
    );
    for (int i = 0; i < net->n;) {
        int j = i;
        while (j < net->n && net->L[j].spec.kind != NN_BATCHNORM) j++;
        if (j > i) run_slices(net, i, j, B, train, 0);
        if (j < net->n) {
            /* batch norm: statistics over the whole batch, channels over the threads */
            layer *l = &net->L[j];
            double t0 = omp_get_wtime();
            const float *x = j ? net->L[j - 1].y : net->x, *w = net->params + l->p_off;
            int C = l->in.c, HW = l->in.h * l->in.w;
            float *rm = net->buffers + l->b_off, *rv = rm + C;
            if (train)
                net->K->batchnorm_forward_train(l->y, l->aux, l->invstd, rm, rv, x, w, w + C, B, C, HW, BN_MOMENTUM, BN_EPS,
                                        net->adapt.cur);
            else
                net->K->batchnorm_forward_eval(l->y, x, w, w + C, rm, rv, B, C, HW, BN_EPS, net->adapt.cur);
            l->t_fwd += omp_get_wtime() - t0;
            j++;
        }
        i = j;
    }
    net->last_B = B;
    net->last_train = train;
    if (labels) memcpy(net->labels, labels, sizeof(int) * B);
    return net->K->softmax_ce_forward(net->probs, net->L[net->n - 1].y, labels, B, net->nclasses);
}

int nn_net_correct(const nn_net *net, const int *labels, int B) {
    const float *z = nn_net_logits(net);
    int correct = 0, NC = net->nclasses;
    for (int n = 0; n < B; n++) {
        int best = 0;
        for (int k = 1; k < NC; k++) if (z[(size_t)n * NC + k] > z[(size_t)n * NC + best]) best = k;
        correct += best == labels[n];
    }
    return correct;
}

/* After each training batch: keep the recent cost per image of the thread
 * count in use, and now and then try the other one for a few batches;
 * switch when it was at least 5% faster. A trial that loses waits twice as
 * long for the next, so a machine that stays busy (or idle) costs little. */
static void adapt(nn_net *net, int B) {
    if (net->adapt.base >= net->nthreads || B < 1) return;
    double c = (omp_get_wtime() - net->adapt.t0) / B;
    int m = net->adapt.cur == net->nthreads, other = m ? net->adapt.base : net->nthreads;
    if (net->adapt.probe_left > 0) {
        /* in a trial: skip its first batch, then average the rest */
        int seen = ADAPT_TRIAL - net->adapt.probe_left;
        if (seen == 1) net->adapt.cost[m] = c;
        else if (seen > 1) net->adapt.cost[m] += (c - net->adapt.cost[m]) / seen;
        if (--net->adapt.probe_left > 0) return;
        double trial = net->adapt.cost[m], kept = net->adapt.cost[!m];
        if (trial < 0.95 * kept) {
            net->adapt.period = ADAPT_MIN_PERIOD;
        } else {
            net->adapt.cur = other;
            net->adapt.period = net->adapt.period * 2 < ADAPT_MAX_PERIOD ? net->adapt.period * 2 : ADAPT_MAX_PERIOD;
        }
        net->adapt.until_probe = net->adapt.period;
        return;
    }
    net->adapt.cost[m] = net->adapt.cost[m] > 0 ? 0.8 * net->adapt.cost[m] + 0.2 * c : c;
    if (--net->adapt.until_probe > 0) return;
    net->adapt.cur = other;
    net->adapt.probe_left = ADAPT_TRIAL;
}

int nn_net_threads_in_use(const nn_net *net) { return net->adapt.cur; }

nn_isa nn_net_isa(const nn_net *net) { return net->K->isa; }

int nn_net_set_isa(nn_net *net, nn_isa isa, char *err, size_t errlen) {
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) {
        /* fails for the same reason, and says which */
        nn_isa_set_default(isa, err, errlen);
        return -1;
    }
    net->K = k;
    return 0;
}

int nn_net_loaded_isa(const nn_net *net) { return net->loaded_isa; }
void nn_net_set_loaded_isa_(nn_net *net, int isa) { net->loaded_isa = isa; }

void nn_net_set_base_threads(nn_net *net, int n) {
    net->adapt.base = n < 1 ? 1 : n > net->nthreads ? net->nthreads : n;
    net->adapt.cur = net->adapt.base;
    net->adapt.probe_left = 0;
    net->adapt.cost[0] = net->adapt.cost[1] = 0;
    net->adapt.period = net->adapt.until_probe = ADAPT_MIN_PERIOD;
}

void nn_net_backward(nn_net *net) {
    const int B = net->last_B;
    if (!net->last_train || B < 1) { /* gradients exist only for a training forward */
        memset(net->grads, 0, sizeof(float) * net->nparams);
        return;
    }
    layer *top = &net->L[net->n - 1];
    net->K->softmax_ce_backward(top->dy, net->probs, net->labels, B, net->nclasses);
    for (int i = net->n - 1; i >= 0;) {
        int j = i;
        while (j >= 0 && net->L[j].spec.kind != NN_BATCHNORM) j--;
        if (j < i) run_slices(net, j + 1, i + 1, B, 1, 1);
        if (j >= 0) {
            layer *l = &net->L[j];
            double t0 = omp_get_wtime();
            int C = l->in.c, HW = l->in.h * l->in.w;
            /* into slice 0's block; the other slices' blocks stay zero there */
            float *dw = net->gslice + l->p_off;
            memset(dw, 0, sizeof(float) * l->np);
            net->K->batchnorm_backward(j ? net->L[j - 1].dy : NULL, dw, dw + C, l->dy, l->aux, l->invstd,
                               net->params + l->p_off, B, C, HW, net->adapt.cur);
            l->t_bwd += omp_get_wtime() - t0;
            j--;
        }
        i = j;
    }
    /* the slices' gradients, summed in slice order (batch norm's are whole in slice 0) */
    const int ns = nslices(B);
    const size_t np = net->nparams;
    const float *gs = net->gslice;
    float *g = net->grads;
    NN_PAR_FOR(net->adapt.cur, np >= 16384, size_t, k, np,
        float a = gs[k];
        for (int s = 1; s < ns; s++) a += gs[(size_t)s * np + k];
        g[k] = a;
    );
    adapt(net, B);
}

void nn_net_timing(const nn_net *net, int i, double *fwd, double *bwd) {
    *fwd = net->L[i].t_fwd;
    *bwd = net->L[i].t_bwd;
}

void nn_net_timing_reset(nn_net *net) {
    for (int i = 0; i < net->n; i++) net->L[i].t_fwd = net->L[i].t_bwd = 0;
}

double nn_net_flops_forward(const nn_net *net, int i) {
    const layer *l = &net->L[i];
    switch (l->spec.kind) {
    case NN_CONV2D: return 2.0 * l->g.OC * l->g.OH * l->g.OW * l->g.C * l->g.K * l->g.K;
    case NN_DENSE: return 2.0 * l->in.c * l->spec.out;
    default: return (double)l->outsz;
    }
}

double nn_net_flops_backward(const nn_net *net, int i) {
    /* weight gradient always; input gradient except for the first layer */
    const layer *l = &net->L[i];
    double f = nn_net_flops_forward(net, i);
    if (l->spec.kind == NN_CONV2D || l->spec.kind == NN_DENSE) return i > 0 ? 2 * f : f;
    return f;
}
