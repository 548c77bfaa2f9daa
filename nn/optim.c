/* optim.c -- SGD (momentum, dampening, Nesterov, weight decay), Adam and
 * AdamW with PyTorch 1.13's update rules (torch/optim/sgd.py, adam.py,
 * adamw.py, single-tensor path), and the per-epoch learning-rate schedules.
 * The whole parameter block is one loop: that is why it is one block. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "nmath.h"
#include "nn.h"

nn_optim_cfg nn_optim_defaults(nn_optim_kind kind) {
    nn_optim_cfg c = {kind, 1e-3f, 0.f, 0.f, 0, 0.f, 0.9f, 0.999f, 1e-8f};
    if (kind == NN_SGD) c.lr = 0.01f;
    if (kind == NN_ADAMW) c.weight_decay = 0.01f;
    return c;
}

int nn_optim_init(nn_optim *o, const nn_optim_cfg *cfg, size_t nparams) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = nparams;
    o->state = calloc(2 * (nparams ? nparams : 1), sizeof(float));
    return o->state ? 0 : -1;
}

void nn_optim_free(nn_optim *o) {
    free(o->state);
    o->state = NULL;
}

size_t nn_optim_state_size(const nn_optim *o) { return 2 * o->n; }

void nn_optim_step(nn_optim *o, float *p, const float *g, float lr) {
    const nn_optim_cfg *c = &o->cfg;
    const size_t n = o->n;
    const float wd = c->weight_decay;
    o->step++;
    if (c->kind == NN_SGD) {
        /* d = g + wd p;  buf = step 1 ? d : mu buf + (1 - damp) d;
         * d = nesterov ? d + mu buf : buf;  p -= lr d */
        float *buf = o->state;
        const float mu = c->momentum, damp = c->dampening;
        for (size_t i = 0; i < n; i++) {
            float d = wd != 0.f ? g[i] + wd * p[i] : g[i];
            if (mu != 0.f) {
                buf[i] = o->step == 1 ? d : mu * buf[i] + (1.f - damp) * d;
                d = c->nesterov ? d + mu * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
        return;
    }
    /* Adam: g += wd p (AdamW instead: p *= 1 - lr wd)
     * m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
     * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
     * Bias corrections are computed in double, as Python does (powers by
 * repeated squaring, nmath.h: libm's pow differs between CPUs). */
    float *m = o->state, *v = o->state + n;
    const float b1 = c->beta1, b2 = c->beta2;
    const double bc1 = 1.0 - nn_powi(b1, o->step), bc2 = 1.0 - nn_powi(b2, o->step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.f - lr * wd;
    const int adamw = c->kind == NN_ADAMW;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (adamw) p[i] *= decay;
        else if (wd != 0.f) gi += wd * p[i];
        m[i] = m[i] * b1 + (1.f - b1) * gi;
        v[i] = v[i] * b2 + (1.f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + c->eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

float nn_sched_lr(const nn_sched *s, float base_lr, int epoch, int total_epochs) {
    if (epoch < s->warmup) return base_lr * (float)(epoch + 1) / (float)(s->warmup + 1);
    int e = epoch - s->warmup;
    switch (s->kind) {
    case NN_SCHED_STEP:
        return base_lr * (float)nn_powi(s->gamma, e / (s->step_size > 0 ? s->step_size : 1));
    case NN_SCHED_COSINE: {
        /* CosineAnnealingLR's closed form; like PyTorch's it is periodic past t_max */
        int tmax = s->t_max > 0 ? s->t_max : total_epochs - s->warmup;
        if (tmax < 1) tmax = 1;
        return (float)(s->eta_min + (base_lr - s->eta_min) * (1.0 + nn_cos(M_PI * e / tmax)) / 2.0);
    }
    default:
        return base_lr;
    }
}
