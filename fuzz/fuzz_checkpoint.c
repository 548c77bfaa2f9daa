/* fuzz_checkpoint.c -- a checkpoint file damaged in every way, in.
 *
 * A valid checkpoint of a small network (conv, batch norm, dense; Adam,
 * a 24-byte blob) is made once; each input edits it: byte 0 holds flags
 * (bit 0: recompute the CRC after the edits, so damage gets past the CRC
 * to the header checks), bytes 1-2 a new length (ffff: as it is; else modulo
 * the valid length plus 65: truncated or padded with zeros), then (offset u16, byte) edits.
 * Loading must refuse with one line or succeed; a refusal must leave the
 * network's parameters untouched. */
#include <zlib.h>
#include "fuzz.h"
#include "../nn/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nn_net *net;
static nn_optim opt;
static unsigned char *good;
static size_t goodlen;

static void init(void) {
    nn_layer_spec L[] = {NN_CONV(2, 3, 1, 1), NN_BN(), NN_ACT(NN_RELU), NN_POOL(NN_MAXPOOL, 2, 2),
                         NN_FLATTEN_(), NN_DENSE(3)};
    char err[256];
    net = nn_net_create(L, 6, nn_shape3(1, 4, 4), 2, 1, err, sizeof err);
    if (!net) { fprintf(stderr, "%s\n", err); abort(); }
    nn_rng r;
    nn_rng_seed(&r, 1);
    nn_net_init(net, &r);
    nn_optim_cfg oc = nn_optim_defaults(NN_ADAM);
    if (nn_optim_init(&opt, &oc, nn_net_nparams(net))) abort();
    char blob[24] = "the trainer's loop state";
    char path[600];
    snprintf(path, sizeof path, "%s/good.ckpt", fuzz_scratch());
    if (nn_checkpoint_save(path, net, &opt, blob, sizeof blob, err, sizeof err)) { fprintf(stderr, "%s\n", err); abort(); }
    FILE *f = fopen(path, "rb");
    good = malloc(1 << 16);
    goodlen = fread(good, 1, 1 << 16, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!net) init();
    if (size < 3) return 0;
    unsigned v = (unsigned)(data[1] | data[2] << 8);
    size_t len = v == 0xffff ? goodlen : v % (goodlen + 65);
    unsigned char *d = calloc(1, len + 1);
    memcpy(d, good, len < goodlen ? len : goodlen);
    for (size_t i = 3; i + 3 <= size && len; i += 3) d[(size_t)(data[i] | data[i + 1] << 8) % len] = data[i + 2];
    if ((data[0] & 1) && len >= 4) {
        uint32_t crc = (uint32_t)crc32(0L, d, (uInt)(len - 4));
        memcpy(d + len - 4, &crc, 4);
    }
    const char *path = fuzz_write("x.ckpt", d, len);
    free(d);
    size_t np = nn_net_nparams(net);
    float *before = malloc(4 * np);
    memcpy(before, nn_net_params(net), 4 * np);
    char err[1024], blob[64];
    size_t bloblen = 0;
    if (nn_checkpoint_load(path, net, &opt, blob, sizeof blob, &bloblen, err, sizeof err)) {
        FUZZ_ASSERT(err[0] && !strchr(err, '\n'), "error is not one line: [%s]", err);
        FUZZ_ASSERT(!memcmp(before, nn_net_params(net), 4 * np), "a refused checkpoint changed the weights");
    } else {
        FUZZ_ASSERT(bloblen <= sizeof blob, "blob %zu", bloblen);
    }
    free(before);
    return 0;
}
