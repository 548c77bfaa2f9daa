/* shape.c -- shape inference: what each layer makes of its input shape, how
 * many parameters it has, and a clear message when it cannot apply (each
 * kind's own rule is its row's infer, layers.c). Allocates nothing, so the
 * runner can check a config and print a model summary without building a
 * network. */
#include <stdio.h>
#include "layer.h"

char *nn_shape_str(nn_shape s, char *buf, size_t n) {
    if (s.rank == 3) snprintf(buf, n, "%dx%dx%d", s.c, s.h, s.w);
    else snprintf(buf, n, "%d", s.c);
    return buf;
}

int nn_infer(const nn_layer_spec *layers, int n, nn_shape input,
             nn_shape *out, size_t *nparams, char *err, size_t errlen) {
    char sb[64], why[200];
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
        const nn_layer_def *d = nn_layer_def_of(layers[i].kind, why, sizeof why);
        nn_layer_spec r = nn_layer_resolve(layers[i]);
        if (!d || d->infer(&r, s, &o, &np, why, sizeof why)) {
            snprintf(err, errlen, "layer %d (%s): %s", i, nn_kind_name(layers[i].kind), why);
            return -1;
        }
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
