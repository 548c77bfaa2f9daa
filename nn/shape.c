/* shape.c -- layer names and shape inference: what each layer makes of its
 * input shape, how many parameters it has, and a clear message when it
 * cannot apply. Allocates nothing, so the runner can check a config and
 * print a model summary without building a network. */
#include <stdio.h>
#include "nn.h"

static const char *const kind_names[NN_KIND_COUNT] = {
    [NN_CONV2D] = "conv2d", [NN_AVGPOOL] = "avgpool", [NN_MAXPOOL] = "maxpool",
    [NN_DENSE] = "dense", [NN_FLATTEN] = "flatten", [NN_SIGMOID] = "sigmoid",
    [NN_RELU] = "relu", [NN_TANH] = "tanh", [NN_LEAKY_RELU] = "leaky_relu",
    [NN_BATCHNORM] = "batchnorm", [NN_DROPOUT] = "dropout",
};

const char *nn_kind_name(nn_kind k) {
    return (k >= 0 && k < NN_KIND_COUNT) ? kind_names[k] : "?";
}

char *nn_shape_str(nn_shape s, char *buf, size_t n) {
    if (s.rank == 3) snprintf(buf, n, "%dx%dx%d", s.c, s.h, s.w);
    else snprintf(buf, n, "%d", s.c);
    return buf;
}

/* output size of a sliding window along one axis, or 0 if it does not fit */
static int window_out(int in, int k, int s, int p) {
    if (in + 2 * p < k) return 0;
    return (in + 2 * p - k) / s + 1;
}

/* One layer: out shape and parameter count from in, or -1 with a message. */
static int infer_one(const nn_layer_spec *L, int i, nn_shape in, nn_shape *out,
                     size_t *np, char *err, size_t errlen) {
    char sb[64];
    const char *name = nn_kind_name(L->kind);
    *np = 0;
    *out = in;
#define FAIL(...) do { int o_ = snprintf(err, errlen, "layer %d (%s): ", i, name); \
        if (o_ >= 0 && (size_t)o_ < errlen) snprintf(err + o_, errlen - (size_t)o_, __VA_ARGS__); \
        return -1; } while (0)
    switch (L->kind) {
    case NN_CONV2D:
    case NN_AVGPOOL:
    case NN_MAXPOOL: {
        int conv = L->kind == NN_CONV2D;
        int k = L->kernel, s = L->stride ? L->stride : (conv ? 1 : L->kernel), p = L->padding;
        if (in.rank != 3) FAIL("needs a CxHxW input, got %s (a %s after flatten or dense?)",
                               nn_shape_str(in, sb, sizeof sb), name);
        if (conv && L->out < 1) FAIL("filters must be at least 1, got %d", L->out);
        if (k < 1) FAIL("%s must be at least 1, got %d", conv ? "kernel" : "size", k);
        if (s < 1) FAIL("stride must be at least 1, got %d", s);
        if (p < 0) FAIL("padding must be 0 or more, got %d", p);
        if (!conv && p > k / 2) FAIL("padding %d is more than half the window %d", p, k);
        int oh = window_out(in.h, k, s, p), ow = window_out(in.w, k, s, p);
        if (!oh || !ow)
            FAIL("%s %d is larger than its input %s with padding %d",
                 conv ? "kernel" : "window", k, nn_shape_str(in, sb, sizeof sb), p);
        *out = nn_shape3(conv ? L->out : in.c, oh, ow);
        if (conv) *np = (size_t)L->out * in.c * k * k + L->out;
        return 0;
    }
    case NN_DENSE:
        if (in.rank != 1) FAIL("needs a flat input, got %s: add a flatten layer before it",
                               nn_shape_str(in, sb, sizeof sb));
        if (L->out < 1) FAIL("units must be at least 1, got %d", L->out);
        *out = nn_shape1(L->out);
        *np = (size_t)L->out * in.c + L->out;
        return 0;
    case NN_FLATTEN:
        *out = nn_shape1((int)nn_shape_size(in));
        return 0;
    case NN_SIGMOID: case NN_RELU: case NN_TANH:
        return 0;
    case NN_LEAKY_RELU:
        if (L->slope < 0) FAIL("slope must be 0 or more, got %g", (double)L->slope);
        return 0;
    case NN_BATCHNORM:
        *np = 2 * (size_t)in.c;
        return 0;
    case NN_DROPOUT:
        if (!(L->rate >= 0 && L->rate < 1)) FAIL("probability must be in [0, 1), got %g", (double)L->rate);
        return 0;
    default:
        FAIL("unknown layer kind %d", (int)L->kind);
    }
#undef FAIL
}

int nn_infer(const nn_layer_spec *layers, int n, nn_shape input,
             nn_shape *out, size_t *nparams, char *err, size_t errlen) {
    char sb[64];
    if (n < 1 || n > NN_MAX_LAYERS) {
        snprintf(err, errlen, "a network needs 1 to %d layers, got %d", NN_MAX_LAYERS, n);
        return -1;
    }
    if (input.c < 1 || input.h < 1 || input.w < 1 || (input.rank != 1 && input.rank != 3)) {
        snprintf(err, errlen, "input shape %s is not a positive CxHxW or C shape",
                 nn_shape_str(input, sb, sizeof sb));
        return -1;
    }
    nn_shape s = input;
    for (int i = 0; i < n; i++) {
        nn_shape o;
        size_t np;
        if (infer_one(&layers[i], i, s, &o, &np, err, errlen)) return -1;
        if (nn_shape_size(o) > ((size_t)1 << 28)) {
            snprintf(err, errlen, "layer %d (%s): output %s is too large",
                     i, nn_kind_name(layers[i].kind), nn_shape_str(o, sb, sizeof sb));
            return -1;
        }
        if (out) out[i] = o;
        if (nparams) nparams[i] = np;
        s = o;
    }
    return 0;
}
