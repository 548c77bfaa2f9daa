/* net.c -- a network: the layer list with shapes, one block of parameters
 * (and one of gradients, same layout), activation buffers sized once for
 * max_batch, and the forward/backward passes that call the kernels in ops.h.
 *
 * Each kind's part is its row in the layer table (layer.h, layers.c): this
 * file places the buffers, cuts the batch and calls the rows; it never
 * names a kind.
 *
 * Buffers: each layer owns y (its output) and dy (the loss gradient with
 * respect to y), both (max_batch, out size). A view (flatten) owns nothing:
 * it is its input. Element-wise layers (activations, dropout) run in place
 * on the output of a layer whose backward does not read its own output
 * (conv, dense, pooling, batch norm), which halves activation memory in
 * the usual stacks.
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
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layer.h"
#include "par.h"

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

typedef nn_layer layer;

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
    float *gslice;   /* (slices, nparams): each slice's gradients (whole-batch layers': all in slice 0) */
    float *wpack;    /* (nparams): packed weights (dense: transposed) for the forward, at their offsets */
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
        l->def = nn_layer_def_of(layers[i].kind, err, errlen); /* nn_infer has checked it */
        l->spec = nn_layer_resolve(layers[i]);
        l->in = in;
        l->out = shapes[i];
        l->outsz = nn_shape_size(shapes[i]);
        l->np = nps[i];
        l->p_off = net->nparams;
        net->nparams += l->np;
        l->g = (nn_conv_geom){in.c, in.h, in.w, l->out.c, l->spec.kernel, l->spec.stride,
                              l->spec.padding, l->out.h, l->out.w};
        if (l->def->scratch) {
            size_t col = l->def->scratch(net->K, l);
            if (col > colmax) colmax = col;
        }
        if (l->def->flags & NN_L_STATS) {
            l->nbuf = 2 * (size_t)in.c;
            l->b_off = net->nbuffers;
            net->nbuffers += l->nbuf;
        }
        nn_kind k = l->spec.kind;
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
        const unsigned f = l->def->flags;
        layer *prev = i > 0 ? &net->L[i - 1] : NULL;
        if (f & NN_L_VIEW) {
            l->y = prev ? prev->y : net->x;
            l->dy = prev ? prev->dy : NULL;
        } else if ((f & NN_L_INPLACE) && prev && (prev->def->flags & NN_L_HOST)) {
            l->y = prev->y;
            l->dy = prev->dy;
        } else {
            l->owns = 1;
            l->y = xcalloc(B * l->outsz, sizeof(float), &failed);
            l->dy = xcalloc(B * l->outsz, sizeof(float), &failed);
        }
        if (f & NN_L_SAVES) l->saved = xcalloc(B * l->outsz, sizeof(float), &failed);
        if (f & NN_L_STATS) l->chan = xcalloc((size_t)l->in.c, sizeof(float), &failed);
        if (f & NN_L_ARGMAX) l->argmax = xcalloc(B * l->outsz, sizeof(int), &failed);
    }
    if (failed) {
        nn_net_free(net);
        snprintf(err, errlen, "out of memory allocating the network for batch %d", max_batch);
        return NULL;
    }
    /* what needs no random numbers (batch norm: gamma 1, running var 1)
     * holds even before nn_net_init */
    for (int i = 0; i < n; i++) {
        layer *l = &net->L[i];
        if (l->def->init) l->def->init(l, net->params + l->p_off, net->buffers + l->b_off, NULL);
    }
    return net;
}

void nn_net_free(nn_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        if (l->owns) { free(l->y); free(l->dy); }
        free(l->saved); free(l->chan); free(l->argmax);
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
        if (l->def->init) l->def->init(l, net->params + l->p_off, net->buffers + l->b_off, r);
    }
}

/* per-sample input size of layer i */
static size_t in_size(const nn_net *net, int i) { return i ? net->L[i - 1].outsz : net->insz; }

/* what layer i's forward or backward gets for the nb images from n0: on
 * thread t's scratch, with slice s's block of gradients */
static nn_pass pass_of(nn_net *net, int i, int n0, int nb, int train, int nthreads, int s, int t) {
    layer *l = &net->L[i];
    const size_t isz = in_size(net, i);
    layer *prev = i ? &net->L[i - 1] : NULL;
    return (nn_pass){
        .K = net->K, .n0 = n0, .n = nb, .train = train, .nthreads = nthreads,
        .x = (prev ? prev->y : net->x) + (size_t)n0 * isz,
        .y = l->y + (size_t)n0 * l->outsz,
        .dx = prev && prev->dy ? prev->dy + (size_t)n0 * isz : NULL, /* NULL: a view of the input */
        .dy = l->dy + (size_t)n0 * l->outsz,
        .w = net->params + l->p_off,
        .dw = net->gslice + (size_t)s * net->nparams + l->p_off,
        .wpack = net->wpack + l->p_off,
        .buf = net->buffers + l->b_off,
        .scratch = net->scratch + (size_t)t * net->scr1,
    };
}

/* layer i forward on the nb images from n0, on nthreads (1 in a slice),
 * on thread t's scratch */
static void layer_forward(nn_net *net, int i, int n0, int nb, int train, int nthreads, int t) {
    nn_pass p = pass_of(net, i, n0, nb, train, nthreads, 0, t);
    net->L[i].def->forward(&net->L[i], &p);
}

/* layer i backward on the nb images from n0 of slice s: weight gradients
 * into the slice's block */
static void layer_backward(nn_net *net, int i, int n0, int nb, int nthreads, int s, int t) {
    layer *l = &net->L[i];
    nn_pass p = pass_of(net, i, n0, nb, 1, nthreads, s, t);
    if (l->np) memset(p.dw, 0, sizeof(float) * l->np);
    l->def->backward(l, &p);
}

/* slice s of B images through layers [lo, hi) (backward: from hi - 1 down to lo) */
static void run_slice(nn_net *net, int lo, int hi, int B, int s, int train, int bwd, int t) {
    const int ns = nslices(B);
    const int n0 = (int)((long)B * s / ns), nb = (int)((long)B * (s + 1) / ns) - n0;
    double *tt = net->tt + (size_t)t * NN_MAX_LAYERS * 2;
    for (int k = 0; k < hi - lo; k++) {
        int i = bwd ? hi - 1 - k : lo + k;
        double t0 = omp_get_wtime();
        if (bwd) layer_backward(net, i, n0, nb, 1, s, t);
        else layer_forward(net, i, n0, nb, train, 1, t);
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
    /* what a training batch draws first, layer by layer, for the whole
     * batch (dropout's masks): one stream of random numbers in one order,
     * however the slices are run */
    for (int i = 0; train && i < net->n; i++)
        if (net->L[i].def->prepare) net->L[i].def->prepare(&net->L[i], B, &net->rng);
    /* weights packed once for all the slices (dense: transposed), over the threads */
    NN_PAR(net->adapt.cur,
        for (int i = 0; i < net->n; i++) {
            layer *l = &net->L[i];
            if (l->def->pack) l->def->pack(l, net->params + l->p_off, net->wpack + l->p_off, nn_t, nn_nt);
        }
    );
    for (int i = 0; i < net->n;) {
        int j = i;
        while (j < net->n && !(net->L[j].def->flags & NN_L_BATCH)) j++;
        if (j > i) run_slices(net, i, j, B, train, 0);
        if (j < net->n) {
            /* a whole-batch layer (batch norm's statistics), its own work over the threads */
            layer *l = &net->L[j];
            double t0 = omp_get_wtime();
            layer_forward(net, j, 0, B, train, net->adapt.cur, 0);
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
        while (j >= 0 && !(net->L[j].def->flags & NN_L_BATCH)) j--;
        if (j < i) run_slices(net, j + 1, i + 1, B, 1, 1);
        if (j >= 0) {
            /* a whole-batch layer: into slice 0's block; the other slices'
             * blocks stay zero there */
            layer *l = &net->L[j];
            double t0 = omp_get_wtime();
            layer_backward(net, j, 0, B, net->adapt.cur, 0, 0);
            l->t_bwd += omp_get_wtime() - t0;
            j--;
        }
        i = j;
    }
    /* the slices' gradients, summed in slice order (whole-batch layers' are whole in slice 0) */
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
    return l->def->flops ? l->def->flops(l, 0) : (double)l->outsz;
}

double nn_net_flops_backward(const nn_net *net, int i) {
    const layer *l = &net->L[i];
    return l->def->flops ? l->def->flops(l, i > 0 ? 1 : 2) : (double)l->outsz;
}
