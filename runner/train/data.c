/* data.c -- reads FashionMNIST's IDX files (plain or gzip, told apart by
 * content), splits the training set with a seeded shuffle, and turns batches
 * of byte images into floats. See data.h for the layout and the checks.
 *
 * A file is read through an idx_reader: one input buffer of the raw file,
 * passed through zlib's inflate when the file starts with the gzip magic,
 * or copied as it is otherwise. Images are read straight into their final
 * buffer, so loading needs the dataset's bytes and 64 KB more.
 */
#include "data.h"

const char *const nnl_class_names[NNL_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
#include "../../nn/nn.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "input.h"

#define IN_BUF (64 * 1024)
#define IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ the reader */

typedef struct {
    const char *path;
    FILE *f;
    int gzip;
    int zlive;       /* inflateInit2 succeeded: inflateEnd is owed */
    int cut;         /* gzip: the file ended inside a gzip member */
    int ended;       /* gzip: the file ended cleanly after a member */
    long long size;  /* plain regular file: its size in bytes; else -1 */
    z_stream z;      /* next_in/avail_in: unread bytes of in, in both modes */
    unsigned char *in; /* IN_BUF bytes */
} idx_reader;

static void reader_close(idx_reader *r) {
    if (r->zlive) inflateEnd(&r->z);
    if (r->f) fclose(r->f);
    free(r->in);
    memset(r, 0, sizeof *r);
}

/* Appends to the unread input what the file has next; 0 at end of file. */
static int reader_fill(idx_reader *r, char *err, size_t errlen) {
    if (r->z.avail_in > 0 && r->z.next_in != r->in)
        memmove(r->in, r->z.next_in, r->z.avail_in);
    r->z.next_in = r->in;
    size_t got = fread(r->in + r->z.avail_in, 1, IN_BUF - r->z.avail_in, r->f);
    if (got == 0 && ferror(r->f)) {
        seterr(err, errlen, "%s: read error: %s", r->path, strerror(errno));
        return -1;
    }
    r->z.avail_in += (uInt)got;
    return (int)(got > 0);
}

static int reader_open(idx_reader *r, const char *path, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->size = -1;
    /* only a regular file: a FIFO or device in the data folder would hang
     * or never end (the header bounds what is read from a regular one) */
    char why[160];
    int fd = nnl_input_open(path, 0, NULL, why, sizeof why);
    if (fd < 0 || !(r->f = fdopen(fd, "rb"))) {
        seterr(err, errlen, "%s: cannot open: %s", path, fd < 0 ? why : strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    r->in = malloc(IN_BUF);
    if (!r->in) {
        seterr(err, errlen, "%s: out of memory for a %d-byte read buffer", path, IN_BUF);
        reader_close(r);
        return -1;
    }
    r->z.next_in = r->in;
    if (reader_fill(r, err, errlen) < 0) { reader_close(r); return -1; }
    if (r->z.avail_in >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b) {
        r->gzip = 1;
        int ret = inflateInit2(&r->z, 16 + MAX_WBITS); /* gzip wrapper only */
        if (ret != Z_OK) {
            seterr(err, errlen, "%s: cannot start gzip decompression: %s", path,
                   r->z.msg ? r->z.msg : zError(ret));
            reader_close(r);
            return -1;
        }
        r->zlive = 1;
    } else {
        struct stat st;
        if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode)) r->size = st.st_size;
    }
    return 0;
}

/* Decompresses up to n bytes into buf. Returns the count (less than n only
 * at the end of the data; r->cut then says whether the file ended inside a
 * gzip member) or -1 on corrupt data. Gzip members following one another
 * are read as one stream, as gzip -d does; anything else after the last
 * member is an error. */
static long long gz_read(idx_reader *r, unsigned char *buf, size_t n, char *err, size_t errlen) {
    size_t done = 0;
    while (done < n && !r->ended) {
        if (r->z.avail_in == 0) {
            int got = reader_fill(r, err, errlen);
            if (got < 0) return -1;
            if (got == 0) { r->cut = 1; break; }
        }
        size_t chunk = n - done < UINT_MAX ? n - done : UINT_MAX;
        r->z.next_out = buf + done;
        r->z.avail_out = (uInt)chunk;
        int ret = inflate(&r->z, Z_NO_FLUSH);
        done += chunk - r->z.avail_out;
        if (ret == Z_OK || (ret == Z_BUF_ERROR && r->z.avail_in == 0)) continue;
        if (ret != Z_STREAM_END) {
            seterr(err, errlen, "%s: corrupt gzip data: %s", r->path,
                   r->z.msg ? r->z.msg : zError(ret));
            return -1;
        }
        /* end of a member (its CRC and length checked): another, or the end? */
        if (r->z.avail_in < 2 && reader_fill(r, err, errlen) < 0) return -1;
        if (r->z.avail_in == 0) { r->ended = 1; break; }
        if (r->z.avail_in < 2 || r->z.next_in[0] != 0x1f || r->z.next_in[1] != 0x8b) {
            seterr(err, errlen, "%s: corrupt gzip data: junk after the end of the gzip stream",
                   r->path);
            return -1;
        }
        inflateReset(&r->z);
    }
    return (long long)done;
}

/* Reads up to n bytes into buf: the count, less than n only at the end of
 * the data, or -1 with err set. */
static long long reader_read(idx_reader *r, void *buf, size_t n, char *err, size_t errlen) {
    if (r->gzip) return gz_read(r, buf, n, err, errlen);
    size_t have = r->z.avail_in < n ? r->z.avail_in : n;
    memcpy(buf, r->z.next_in, have);
    r->z.next_in += have;
    r->z.avail_in -= (uInt)have;
    if (have == n) return (long long)n;
    size_t got = fread((unsigned char *)buf + have, 1, n - have, r->f);
    if (got < n - have && ferror(r->f)) {
        seterr(err, errlen, "%s: read error: %s", r->path, strerror(errno));
        return -1;
    }
    return (long long)(have + got);
}

/* Reads and discards the rest of the data: its length, or -1. */
static long long reader_drain(idx_reader *r, char *err, size_t errlen) {
    unsigned char scratch[4096];
    long long total = 0, got;
    while ((got = reader_read(r, scratch, sizeof scratch, err, errlen)) > 0) total += got;
    return got < 0 ? -1 : total;
}

/* ------------------------------------------------------------ IDX files */

typedef struct {
    idx_reader r;
    const char *what;   /* "images" or "labels" */
    int hdrlen;         /* 16 or 8 */
    uint32_t n, rows, cols; /* rows = cols = 1 for labels */
} idx_file;

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens PATH and checks its header. */
static int idx_open(idx_file *x, const char *path, int images, char *err, size_t errlen) {
    uint32_t magic = images ? IMAGES_MAGIC : LABELS_MAGIC;
    x->what = images ? "images" : "labels";
    x->hdrlen = images ? 16 : 8;
    if (reader_open(&x->r, path, err, errlen)) return -1;
    unsigned char h[16];
    long long got = reader_read(&x->r, h, (size_t)x->hdrlen, err, errlen);
    if (got < 0) goto fail;
    if (got >= 4 && be32(h) != magic) {
        uint32_t other = images ? LABELS_MAGIC : IMAGES_MAGIC;
        seterr(err, errlen, "%s: bad magic 0x%08x (expected 0x%08x, an IDX %s file%s)",
               path, be32(h), magic, images ? "image" : "label",
               be32(h) == other ? (images ? "; this is a label file" : "; this is an image file") : "");
        goto fail;
    }
    if (got < x->hdrlen) {
        seterr(err, errlen, "%s: truncated: %lld bytes, shorter than the %d-byte IDX %s header%s",
               path, got, x->hdrlen, images ? "image" : "label",
               x->r.cut ? " (the gzip stream is cut short)" : "");
        goto fail;
    }
    x->n = be32(h + 4);
    x->rows = images ? be32(h + 8) : 1;
    x->cols = images ? be32(h + 12) : 1;
    if (x->n == 0 || x->n > INT_MAX) {
        seterr(err, errlen, "%s: header says %u %s (expected 1..%d)", path, x->n, x->what, INT_MAX);
        goto fail;
    }
    if (x->rows < 1 || x->rows > NNL_IDX_MAX_SIDE || x->cols < 1 || x->cols > NNL_IDX_MAX_SIDE) {
        seterr(err, errlen, "%s: header says images of %ux%u pixels (rows and cols must be 1..%d)",
               path, x->rows, x->cols, NNL_IDX_MAX_SIDE);
        goto fail;
    }
    /* A plain file's size is known up front: check it before allocating. */
    long long want = (long long)x->n * x->rows * x->cols;
    if (x->r.size >= 0 && x->r.size - x->hdrlen != want) {
        long long has = x->r.size - x->hdrlen;
        seterr(err, errlen, "%s: %s: header promises %lld bytes of %s, file has %lld", path,
               has < want ? "truncated" : "trailing bytes", want, x->what, has);
        goto fail;
    }
    return 0;
fail:
    reader_close(&x->r);
    return -1;
}

/* Reads the first n records (n * rows * cols bytes) into buf; when they are
 * all of the file's records, also checks that nothing follows them. */
static int idx_read(idx_file *x, uint8_t *buf, int n, char *err, size_t errlen) {
    size_t rec = (size_t)x->rows * x->cols;
    long long want = (long long)x->n * (long long)rec;
    size_t need = (size_t)n * rec;
    long long got = reader_read(&x->r, buf, need, err, errlen);
    if (got < 0) return -1;
    if ((size_t)got < need) {
        seterr(err, errlen, "%s: truncated: header promises %lld bytes of %s, file has %lld%s",
               x->r.path, want, x->what, got,
               x->r.cut ? " (the gzip stream is cut short)" : "");
        return -1;
    }
    if ((uint32_t)n < x->n) return 0;
    long long more = reader_drain(&x->r, err, errlen);
    if (more < 0) return -1;
    if (more > 0) {
        seterr(err, errlen, "%s: trailing bytes: header promises %lld bytes of %s, file has %lld",
               x->r.path, want, x->what, want + more);
        return -1;
    }
    if (x->r.cut) {
        seterr(err, errlen, "%s: truncated gzip stream: the data is all there but the file "
               "ends before the gzip trailer (CRC and length)", x->r.path);
        return -1;
    }
    return 0;
}

void nnl_images_free(nnl_images *im) {
    free(im->pixels);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

int nnl_idx_load(const char *images_path, const char *labels_path, int limit,
                 nnl_images *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (limit < 0) {
        seterr(err, errlen, "%s: limit %d is negative (0 keeps every image)", images_path, limit);
        return -1;
    }
    idx_file im = {0}, lb = {0};
    if (idx_open(&im, images_path, 1, err, errlen)) return -1;
    if (idx_open(&lb, labels_path, 0, err, errlen)) goto fail;
    if (lb.n != im.n) {
        seterr(err, errlen, "%s: %u labels for the %u images of %s", labels_path, lb.n, im.n,
               images_path);
        goto fail;
    }
    int n = limit > 0 && (uint32_t)limit < im.n ? limit : (int)im.n;
    size_t npix = (size_t)n * im.rows * im.cols;
    out->n = n;
    out->rows = (int)im.rows;
    out->cols = (int)im.cols;
    out->pixels = malloc(npix);
    out->labels = malloc((size_t)n);
    if (!out->pixels || !out->labels) {
        seterr(err, errlen, "%s: out of memory for %d images of %ux%u (%zu bytes)", images_path,
               n, im.rows, im.cols, npix);
        goto fail;
    }
    if (idx_read(&im, out->pixels, n, err, errlen)) goto fail;
    if (idx_read(&lb, out->labels, n, err, errlen)) goto fail;
    for (int i = 0; i < n; i++) {
        if (out->labels[i] >= NNL_CLASSES) {
            seterr(err, errlen, "%s: label %d of image %d is out of range (expected 0..%d)",
                   labels_path, out->labels[i], i, NNL_CLASSES - 1);
            goto fail;
        }
    }
    reader_close(&im.r);
    reader_close(&lb.r);
    return 0;
fail:
    reader_close(&im.r);
    reader_close(&lb.r);
    nnl_images_free(out);
    return -1;
}

/* ------------------------------------------------------------ the dataset */

static const char *const FILES[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

#define INSTALL_HINT "install it with 'sudo apt-get install dataset-fashion-mnist', or point " \
    "data.dir, --data or NNLAB_DATA at a folder holding the four IDX files"

int nnl_dataset_load(const char *dir, int train_limit, int test_limit,
                     nnl_dataset *ds, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    if (!dir || !*dir) dir = NNL_DATA_DEFAULT_DIR;
    struct stat st;
    int exists = stat(dir, &st) == 0;
    if (!exists || !S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "dataset not found in %s: %s; " INSTALL_HINT, dir,
               exists ? "not a directory" : "no such directory");
        return -1;
    }
    char path[4][4096];
    char missing[256] = "";
    int nmissing = 0;
    for (int i = 0; i < 4; i++) {
        /* NAME first, then NAME.gz; the content, not the name, says gzip */
        const char *suffix[2] = {"", ".gz"};
        int found = 0;
        for (int s = 0; s < 2 && !found; s++) {
            int len = snprintf(path[i], sizeof path[i], "%s/%s%s", dir, FILES[i], suffix[s]);
            if (len < 0 || (size_t)len >= sizeof path[i]) {
                seterr(err, errlen, "dataset directory path too long: %s", dir);
                return -1;
            }
            found = stat(path[i], &st) == 0;
        }
        if (!found) {
            size_t m = strlen(missing);
            snprintf(missing + m, sizeof missing - m, "%s%s(.gz)", nmissing ? ", " : "", FILES[i]);
            nmissing++;
        }
    }
    if (nmissing) {
        seterr(err, errlen, "dataset not found in %s: %s %s missing; " INSTALL_HINT, dir, missing,
               nmissing > 1 ? "are" : "is");
        return -1;
    }
    if (nnl_idx_load(path[0], path[1], train_limit, &ds->train, err, errlen)) return -1;
    if (nnl_idx_load(path[2], path[3], test_limit, &ds->test, err, errlen)) {
        nnl_dataset_free(ds);
        return -1;
    }
    if (ds->test.rows != ds->train.rows || ds->test.cols != ds->train.cols) {
        seterr(err, errlen, "%s: test images are %dx%d but training images (%s) are %dx%d",
               path[2], ds->test.rows, ds->test.cols, path[0], ds->train.rows, ds->train.cols);
        nnl_dataset_free(ds);
        return -1;
    }
    return 0;
}

void nnl_dataset_free(nnl_dataset *ds) {
    nnl_images_free(&ds->train);
    nnl_images_free(&ds->test);
}

/* ------------------------------------------------------------ split, batches */

int nnl_split(int n, double val_split, uint64_t seed, int *idx, int *ntrain,
              char *err, size_t errlen) {
    if (!(val_split > 0 && val_split < 1)) {
        seterr(err, errlen, "val_split %g is out of range (expected a fraction between 0 and 1, "
               "exclusive)", val_split);
        return -1;
    }
    long nval = n > 0 ? lround(n * val_split) : 0;
    if (n < 2 || nval < 1 || nval > n - 1) {
        seterr(err, errlen, "val_split %g of %d images leaves %ld for training and %ld for "
               "validation (each needs at least 1)", val_split, n, n > 0 ? n - nval : 0, nval);
        return -1;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    nn_rng r;
    nn_rng_seed(&r, seed);
    nn_rng_shuffle(&r, idx, n);
    *ntrain = n - (int)nval;
    return 0;
}

/* float(p) / 255.0f for every byte p, folded by the compiler with IEEE
 * single-precision division as torchvision's ToTensor computes it. */
#define TO_UNIT1(p) ((float)(p) / 255.0f)
#define TO_UNIT4(p) TO_UNIT1(p), TO_UNIT1((p) + 1), TO_UNIT1((p) + 2), TO_UNIT1((p) + 3)
#define TO_UNIT16(p) TO_UNIT4(p), TO_UNIT4((p) + 4), TO_UNIT4((p) + 8), TO_UNIT4((p) + 12)
#define TO_UNIT64(p) TO_UNIT16(p), TO_UNIT16((p) + 16), TO_UNIT16((p) + 32), TO_UNIT16((p) + 48)
static const float TO_UNIT[256] = {TO_UNIT64(0), TO_UNIT64(64), TO_UNIT64(128), TO_UNIT64(192)};

void nnl_batch_fill(const nnl_images *im, const int *idx, int B, float *x, int *labels) {
    size_t rec = (size_t)im->rows * im->cols;
    for (int b = 0; b < B; b++) {
        const uint8_t *src = im->pixels + (size_t)idx[b] * rec;
        float *dst = x + (size_t)b * rec;
        /* the images come in shuffled order, each from anywhere in the set:
         * ask for the one after the next while this one converts (the loads
         * otherwise wait on memory for most of this loop's time) */
        if (b + 2 < B)
            for (size_t o = 0; o < rec; o += 64) __builtin_prefetch(im->pixels + (size_t)idx[b + 2] * rec + o);
        for (size_t j = 0; j < rec; j++) dst[j] = TO_UNIT[src[j]];
        if (labels) labels[b] = im->labels[idx[b]];
    }
}
