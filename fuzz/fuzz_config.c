/* fuzz_config.c -- YAML text in, an error or a valid config out.
 *
 * A config that loads must also: describe a network whose shapes infer,
 * print canonically, and reload from its canonical text (what the database
 * stores and `nnlab train --resume` parses) to the same run key. An error
 * must be one line. The input's first line, when it starts with "#set ",
 * is also tried as a --set override, so the override grafting is fuzzed. */
#include "fuzz.h"
#include "../runner/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024], err2[1024], ovbuf[512];
    static nnl_config c, c2;
    nnl_override ov[1];
    int nov = 0;
    if (size > 5 && !memcmp(data, "#set ", 5)) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t n = (size_t)((nl ? nl : data + size) - data) - 5;
        if (n < sizeof ovbuf && !memchr(data + 5, 0, n)) {
            memcpy(ovbuf, data + 5, n);
            ovbuf[n] = 0;
            nov = nnl_override_parse(ovbuf, &ov[0]) == 0;
        }
    }
    if (nnl_config_parse("fuzz.yaml", (const char *)data, size, ov, nov, &c, err, sizeof err)) {
        FUZZ_ASSERT(err[0] && !strchr(err, '\n'), "error is not one line: [%s]", err);
        return 0;
    }
    nn_layer_spec specs[NN_MAX_LAYERS];
    size_t np[NN_MAX_LAYERS];
    nnl_config_layers(&c, specs);
    FUZZ_ASSERT(!nn_infer(specs, c.nlayers, nn_shape3(c.input[0], c.input[1], c.input[2]), NULL, np, err,
                          sizeof err), "a valid config's layers do not infer: %s", err);
    char *text = nnl_config_canonical(&c);
    FUZZ_ASSERT(text, "no canonical text");
    char k1[17], k2[17];
    nnl_config_key(&c, k1);
    FUZZ_ASSERT(!nnl_config_parse("canonical", text, strlen(text), NULL, 0, &c2, err2, sizeof err2),
                "canonical text does not reload: %s\n%s", err2, text);
    nnl_config_key(&c2, k2);
    FUZZ_ASSERT(!strcmp(k1, k2), "key %s reloads as %s", k1, k2);
    free(text);
    return 0;
}
