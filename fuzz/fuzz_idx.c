/* fuzz_idx.c -- bytes in, an error or images out, from the IDX reader.
 *
 * Input layout: byte 0 picks the limit (0: all, else 1..255 images), bytes
 * 1-2 (little-endian) the length of the image file, taken modulo what is
 * left; the image file's bytes follow, then the label file's. Either file
 * may be gzip (the content says so). Loaded images must hold what the
 * header promised and labels must be < NNL_CLASSES. */
#include "fuzz.h"
#include "../runner/train/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int limit = data[0];
    size_t rest = size - 3, ni = (size_t)(data[1] | data[2] << 8) % (rest + 1);
    const char *ip = fuzz_write("images", data + 3, ni);
    const char *lp = fuzz_write("labels", data + 3 + ni, rest - ni);
    nnl_images im;
    char err[1024];
    if (nnl_idx_load(ip, lp, limit, &im, err, sizeof err)) {
        FUZZ_ASSERT(err[0] && !strchr(err, '\n'), "error is not one line: [%s]", err);
        FUZZ_ASSERT(!im.pixels && !im.labels, "memory left after an error");
        return 0;
    }
    FUZZ_ASSERT(im.n > 0 && (!limit || im.n <= limit), "n %d, limit %d", im.n, limit);
    FUZZ_ASSERT(im.rows > 0 && im.cols > 0 && im.rows <= NNL_IDX_MAX_SIDE && im.cols <= NNL_IDX_MAX_SIDE, "%dx%d",
                im.rows, im.cols);
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)im.n * im.rows * im.cols; i++) sum += im.pixels[i]; /* all readable */
    for (int i = 0; i < im.n; i++) FUZZ_ASSERT(im.labels[i] < NNL_CLASSES, "label %d", im.labels[i]);
    (void)sum;
    nnl_images_free(&im);
    return 0;
}
