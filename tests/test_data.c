/* test_data.c -- the dataset module: IDX files, plain and gzip, written by
 * each test into its own mkdtemp directory (5 images of 4x3 unless said
 * otherwise), every malformation the loader must reject with a one-line
 * message naming the file, the seeded split, the float conversion, and
 * the real FashionMNIST when Debian's dataset-fashion-mnist is installed.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "../runner/train/data.h"

#define N 5
#define R 4
#define C 3
#define REAL_DIR "/usr/share/datasets/fashion-mnist"

static const uint8_t LABELS[N] = {9, 0, 3, 7, 2};

static uint8_t pixel(int i, int j) { return (uint8_t)(i * 50 + j * 7 + 3); }

/* ------------------------------------------------------------ helpers */

typedef struct { char dir[64]; char err[1024]; } fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/nnlab-test-data-XXXXXX");
    if (!mkdtemp(f->dir)) { free(f); return -1; }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* f->dir/name in a static ring of buffers, so a test can hold a few */
static const char *path_of(const fx *f, const char *name) {
    static char ring[8][512];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, 512, "%s/%s", f->dir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t len, int gz) {
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        if (len) assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *o = fopen(path, "wb");
        assert_non_null(o);
        assert_int_equal(fwrite(data, 1, len, o), len);
        assert_int_equal(fclose(o), 0);
    }
}

/* the whole file into buf (cap bytes): its length */
static size_t read_bytes(const char *path, unsigned char *buf, size_t cap) {
    FILE *i = fopen(path, "rb");
    assert_non_null(i);
    size_t len = fread(buf, 1, cap, i);
    assert_true(len < cap);
    fclose(i);
    return len;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* An IDX file: magic, the given dims, then datalen bytes of data. */
static void write_idx(const char *path, uint32_t magic, int ndims, const uint32_t *dims,
                      const uint8_t *data, size_t datalen, int gz) {
    unsigned char *buf = malloc(4 + 4 * (size_t)ndims + datalen);
    assert_non_null(buf);
    put32(buf, magic);
    for (int d = 0; d < ndims; d++) put32(buf + 4 + 4 * d, dims[d]);
    if (datalen) memcpy(buf + 4 + 4 * ndims, data, datalen);
    write_bytes(path, buf, 4 + 4 * (size_t)ndims + datalen, gz);
    free(buf);
}

/* images: header says n images of RxC, the file holds `have` images' bytes
 * plus `extra` bytes */
static void write_images(const char *path, uint32_t n, int have, int extra, int gz) {
    uint8_t data[64 * R * C];
    size_t len = (size_t)have * R * C + (size_t)extra;
    assert_true(len <= sizeof data);
    for (size_t k = 0; k < len; k++) data[k] = pixel((int)(k / (R * C)), (int)(k % (R * C)));
    uint32_t dims[3] = {n, R, C};
    write_idx(path, 0x00000803, 3, dims, data, len, gz);
}

static void write_labels(const char *path, uint32_t n, const uint8_t *labels, size_t len, int gz) {
    write_idx(path, 0x00000801, 1, &n, labels, len, gz);
}

/* the standard pair, 5 images of 4x3 with LABELS */
static void write_pair(const char *img, const char *lab, int gz) {
    write_images(img, N, N, 0, gz);
    write_labels(lab, N, LABELS, N, gz);
}

static void assert_standard(const nnl_images *im, int n) {
    assert_int_equal(im->n, n);
    assert_int_equal(im->rows, R);
    assert_int_equal(im->cols, C);
    for (int i = 0; i < n; i++) {
        assert_int_equal(im->labels[i], LABELS[i]);
        for (int j = 0; j < R * C; j++) assert_int_equal(im->pixels[i * R * C + j], pixel(i, j));
    }
}

/* err holds every one of the given substrings (NULL-terminated) */
static void assert_err_has(const char *err, ...) {
    va_list ap;
    va_start(ap, err);
    const char *s;
    while ((s = va_arg(ap, const char *))) {
        if (!strstr(err, s)) {
            print_error("error message \"%s\" lacks \"%s\"\n", err, s);
            va_end(ap);
            fail();
        }
    }
    va_end(ap);
    assert_null(strchr(err, '\n')); /* one line */
}

/* loads img+lab, expecting failure with an error naming `names` and holding
 * every substring given */
#define EXPECT_FAIL(f, img, lab, limit, ...) do { \
        nnl_images im_; \
        assert_int_equal(nnl_idx_load((img), (lab), (limit), &im_, (f)->err, sizeof (f)->err), -1); \
        assert_null(im_.pixels); assert_null(im_.labels); \
        assert_err_has((f)->err, __VA_ARGS__, (const char *)NULL); \
    } while (0)

/* ------------------------------------------------------------ reading */

static void data_reads_plain_idx(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_pair(img, lab, 0);
    nnl_images im;
    assert_int_equal(nnl_idx_load(img, lab, 0, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, N);
    nnl_images_free(&im);
    assert_null(im.pixels);
}

static void data_reads_gzip_idx(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img.gz"), *lab = path_of(f, "lab.gz");
    write_pair(img, lab, 1);
    unsigned char raw[512];
    assert_true(read_bytes(img, raw, sizeof raw) > 2);
    assert_true(raw[0] == 0x1f && raw[1] == 0x8b); /* really compressed */
    nnl_images im;
    assert_int_equal(nnl_idx_load(img, lab, 0, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, N);
    nnl_images_free(&im);
}

/* Two gzip members back to back decompress as one stream (gzip -d does so;
 * `cat a.gz b.gz` and parallel compressors make such files). */
static void data_reads_multi_member_gzip(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab"), *part = path_of(f, "part");
    write_images(img, N, N, 0, 0);
    unsigned char whole[256], joined[1024];
    size_t len = read_bytes(img, whole, sizeof whole);
    write_bytes(part, whole, 20, 1);
    size_t a = read_bytes(part, joined, sizeof joined);
    write_bytes(part, whole + 20, len - 20, 1);
    size_t b = read_bytes(part, joined + a, sizeof joined - a);
    write_bytes(img, joined, a + b, 0);
    write_labels(lab, N, LABELS, N, 1);
    nnl_images im;
    assert_int_equal(nnl_idx_load(img, lab, 0, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, N);
    nnl_images_free(&im);
}

/* The content decides, not the name: gzip data in a file without .gz, and
 * plain data in a file named .gz, both load. */
static void data_detects_gzip_by_magic(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab.gz");
    write_images(img, N, N, 0, 1);
    write_labels(lab, N, LABELS, N, 0);
    nnl_images im;
    assert_int_equal(nnl_idx_load(img, lab, 0, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, N);
    nnl_images_free(&im);
}

/* ------------------------------------------------------------ rejecting */

static void data_rejects_bad_magic(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_pair(img, lab, 0);
    /* the image file given as labels */
    EXPECT_FAIL(f, img, img, 0, img, "bad magic 0x00000803",
                "expected 0x00000801, an IDX label file");
    /* 3 dims but int32 elements (type 0x0C) */
    uint32_t dims[3] = {N, R, C};
    uint8_t data[N * R * C] = {0};
    write_idx(img, 0x00000C03, 3, dims, data, sizeof data, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "bad magic 0x00000c03", "expected 0x00000803");
    /* a gzip file's magic is checked after decompression */
    write_labels(lab, N, LABELS, N, 1);
    EXPECT_FAIL(f, lab, lab, 0, lab, "bad magic 0x00000801", "expected 0x00000803");
}

static void data_rejects_bad_header(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_labels(lab, N, LABELS, N, 0);
    uint8_t data[N * R * C] = {0};
    uint32_t zero_rows[3] = {N, 0, C}, tall[3] = {1, 4097, 1}, wide[3] = {1, 1, 4097},
             none[3] = {0, R, C};
    write_idx(img, 0x00000803, 3, zero_rows, data, 0, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "0x3 pixels", "1..4096");
    write_idx(img, 0x00000803, 3, tall, data, 0, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "4097x1 pixels");
    write_idx(img, 0x00000803, 3, wide, data, 0, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "1x4097 pixels");
    write_idx(img, 0x00000803, 3, none, data, 0, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "header says 0 images");
    write_bytes(img, "\0\0\x08\x03\0\0", 6, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "truncated", "6 bytes", "16-byte IDX image header");
    write_bytes(img, "", 0, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "truncated", "0 bytes");
    EXPECT_FAIL(f, path_of(f, "nonexistent"), lab, 0, "nonexistent: cannot open");
}

static void data_rejects_truncated_images(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_labels(lab, N, LABELS, N, 0);
    /* plain: caught from the file size before anything is allocated */
    write_images(img, N, N - 1, 6, 0);
    EXPECT_FAIL(f, img, lab, 0, img, ": truncated: header promises 60 bytes of images, file has 54");
    /* gzip: a complete gzip stream of too little data */
    const char *gz = path_of(f, "img.gz");
    write_images(gz, N, N - 1, 6, 1);
    EXPECT_FAIL(f, gz, lab, 0, gz, ": truncated: header promises 60 bytes of images, file has 54");
    /* labels too */
    write_images(img, N, N, 0, 0);
    write_labels(lab, N, LABELS, N - 2, 1);
    EXPECT_FAIL(f, img, lab, 0, lab, "truncated: header promises 5 bytes of labels, file has 3");
}

/* A gzip file cut short, by a failed download or a full disk. */
static void data_rejects_cut_gzip_stream(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img.gz"), *lab = path_of(f, "lab");
    write_labels(lab, N, LABELS, N, 0);
    write_images(img, N, N, 0, 1);
    unsigned char whole[512];
    size_t len = read_bytes(img, whole, sizeof whole);
    /* all the data but without the 8-byte trailer: CRC unverifiable */
    write_bytes(img, whole, len - 8, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "truncated gzip stream");
    /* cut in the middle of the compressed data */
    write_bytes(img, whole, len / 2, 0);
    EXPECT_FAIL(f, img, lab, 0, img, "truncated");
}

static void data_rejects_trailing_bytes(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_labels(lab, N, LABELS, N, 0);
    write_images(img, N, N, 1, 0);
    EXPECT_FAIL(f, img, lab, 0, img, ": trailing bytes: header promises 60 bytes of images, file has 61");
    const char *gz = path_of(f, "img.gz");
    write_images(gz, N, N, 7, 1);
    EXPECT_FAIL(f, gz, lab, 0, gz, ": trailing bytes: header promises 60 bytes of images, file has 67");
    /* junk after the gzip stream itself */
    write_images(gz, N, N, 0, 1);
    unsigned char buf[512];
    size_t len = read_bytes(gz, buf, sizeof buf - 4);
    memcpy(buf + len, "JUNK", 4);
    write_bytes(gz, buf, len + 4, 0);
    EXPECT_FAIL(f, gz, lab, 0, gz, "junk after the end of the gzip stream");
    /* labels */
    write_images(img, N, N, 0, 0);
    uint8_t more[N + 1] = {1, 2, 3, 4, 5, 6};
    write_labels(lab, N, more, N + 1, 0);
    EXPECT_FAIL(f, img, lab, 0, lab, "trailing bytes: header promises 5 bytes of labels, file has 6");
}

static void data_rejects_count_mismatch(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_images(img, N, N, 0, 0);
    write_labels(lab, N - 1, LABELS, N - 1, 0);
    EXPECT_FAIL(f, img, lab, 0, lab, "4 labels for the 5 images of", img);
    /* a limit does not excuse it */
    EXPECT_FAIL(f, img, lab, 2, lab, "4 labels for the 5 images");
}

static void data_rejects_label_out_of_range(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img"), *lab = path_of(f, "lab");
    write_images(img, N, N, 0, 0);
    uint8_t ok[N] = {0, 9, 5, 9, 0}, bad[N] = {0, 9, 5, 10, 0};
    write_labels(lab, N, ok, N, 0);
    nnl_images im;
    assert_int_equal(nnl_idx_load(img, lab, 0, &im, f->err, sizeof f->err), 0);
    nnl_images_free(&im);
    write_labels(lab, N, bad, N, 0);
    EXPECT_FAIL(f, img, lab, 0, lab, "label 10 of image 3 is out of range (expected 0..9)");
    write_labels(lab, N, bad, N, 1);
    EXPECT_FAIL(f, img, lab, 0, lab, "label 10 of image 3");
}

static void data_rejects_corrupt_gzip(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img.gz"), *lab = path_of(f, "lab");
    write_labels(lab, N, LABELS, N, 0);
    write_images(img, N, N, 0, 1);
    unsigned char whole[512], bad[512];
    size_t len = read_bytes(img, whole, sizeof whole);
    /* gzopen writes a bare 10-byte header (no file name): byte 10 starts the
     * first deflate block; BTYPE 11 is reserved */
    assert_int_equal(whole[3], 0); /* FLG: no optional fields */
    memcpy(bad, whole, len);
    bad[10] |= 0x06;
    write_bytes(img, bad, len, 0);
    EXPECT_FAIL(f, img, lab, 0, img, ": corrupt gzip data: invalid block type");
    /* the data decompresses but its CRC does not match */
    memcpy(bad, whole, len);
    bad[len - 8] ^= 0x01;
    write_bytes(img, bad, len, 0);
    EXPECT_FAIL(f, img, lab, 0, img, ": corrupt gzip data: incorrect data check");
    /* nor its length */
    memcpy(bad, whole, len);
    bad[len - 4] ^= 0x01;
    write_bytes(img, bad, len, 0);
    EXPECT_FAIL(f, img, lab, 0, img, ": corrupt gzip data: incorrect length check");
}

/* ------------------------------------------------------------ the dataset */

static void write_dataset(const fx *f, const char *suffix, int gz, int ntrain, int ntest) {
    static const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                   "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    char p[4][256];
    for (int i = 0; i < 4; i++) snprintf(p[i], sizeof p[i], "%s/%s%s", f->dir, names[i], suffix);
    write_images(p[0], (uint32_t)ntrain, ntrain, 0, gz);
    write_labels(p[1], (uint32_t)ntrain, LABELS, (size_t)ntrain, gz);
    write_images(p[2], (uint32_t)ntest, ntest, 0, gz);
    write_labels(p[3], (uint32_t)ntest, LABELS, (size_t)ntest, gz);
}

static void data_missing_dir_names_debian_package(void **state) {
    fx *f = *state;
    nnl_dataset ds;
    const char *nodir = path_of(f, "no-such-dir");
    assert_int_equal(nnl_dataset_load(nodir, 0, 0, &ds, f->err, sizeof f->err), -1);
    assert_err_has(f->err, "dataset not found in", nodir,
                   "sudo apt-get install dataset-fashion-mnist", "data.dir, --data or NNLAB_DATA",
                   (const char *)NULL);
    /* a directory holding three of the four files */
    write_dataset(f, ".gz", 1, N, 3);
    unlink(path_of(f, "t10k-labels-idx1-ubyte.gz"));
    assert_int_equal(nnl_dataset_load(f->dir, 0, 0, &ds, f->err, sizeof f->err), -1);
    assert_err_has(f->err, f->dir, "t10k-labels-idx1-ubyte(.gz) is missing",
                   "dataset-fashion-mnist", (const char *)NULL);
    assert_null(strstr(f->err, "train-images"));
    assert_null(ds.train.pixels);
}

/* NAME is preferred to NAME.gz, and either may hold either format. */
static void data_dataset_loads_plain_or_gzip_names(void **state) {
    fx *f = *state;
    write_dataset(f, "", 1, N, 3);          /* gzip content, plain names */
    write_bytes(path_of(f, "train-images-idx3-ubyte.gz"), "not this one", 12, 0);
    nnl_dataset ds;
    assert_int_equal(nnl_dataset_load(f->dir, 0, 0, &ds, f->err, sizeof f->err), 0);
    assert_standard(&ds.train, N);
    assert_standard(&ds.test, 3);
    nnl_dataset_free(&ds);
    assert_null(ds.train.pixels);
    assert_null(ds.test.labels);
    /* an error in the test set frees the training set (checked by ASan/valgrind) */
    write_labels(path_of(f, "t10k-labels-idx1-ubyte"), 2, LABELS, 2, 0);
    assert_int_equal(nnl_dataset_load(f->dir, 0, 0, &ds, f->err, sizeof f->err), -1);
    assert_err_has(f->err, "t10k-labels-idx1-ubyte: 2 labels for the 3 images", (const char *)NULL);
    assert_null(ds.train.pixels);
}

static void data_limit_keeps_first_n(void **state) {
    fx *f = *state;
    const char *img = path_of(f, "img.gz"), *lab = path_of(f, "lab");
    write_images(img, N, N, 0, 1);
    write_labels(lab, N, LABELS, N, 0);
    nnl_images im;
    assert_int_equal(nnl_idx_load(img, lab, 3, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, 3);
    nnl_images_free(&im);
    assert_int_equal(nnl_idx_load(img, lab, N, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, N);
    nnl_images_free(&im);
    assert_int_equal(nnl_idx_load(img, lab, 1000, &im, f->err, sizeof f->err), 0);
    assert_standard(&im, N);
    nnl_images_free(&im);
    EXPECT_FAIL(f, img, lab, -1, "limit -1 is negative");
    /* through the dataset */
    write_dataset(f, "", 0, N, 4);
    nnl_dataset ds;
    assert_int_equal(nnl_dataset_load(f->dir, 2, 1, &ds, f->err, sizeof f->err), 0);
    assert_standard(&ds.train, 2);
    assert_standard(&ds.test, 1);
    nnl_dataset_free(&ds);
    /* a plain file's size is checked even under a limit: it costs nothing */
    write_images(img, N, N, 2, 0);
    EXPECT_FAIL(f, img, lab, 2, "trailing bytes");
}

/* ------------------------------------------------------------ split, batches */

static void data_split_is_seeded_and_disjoint(void **state) {
    fx *f = *state;
    enum { M = 1000 };
    static int a[M], b[M], c[M];
    int na, nb, nc;
    assert_int_equal(nnl_split(M, 0.2, 42, a, &na, f->err, sizeof f->err), 0);
    assert_int_equal(nnl_split(M, 0.2, 42, b, &nb, f->err, sizeof f->err), 0);
    assert_int_equal(nnl_split(M, 0.2, 43, c, &nc, f->err, sizeof f->err), 0);
    assert_int_equal(na, 800);
    assert_int_equal(nb, 800);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* a permutation of 0..M-1, shuffled (not sorted) on both sides */
    static char seen[M];
    memset(seen, 0, sizeof seen);
    int sorted_train = 1, sorted_val = 1;
    for (int i = 0; i < M; i++) {
        assert_in_range(a[i], 0, M - 1);
        assert_int_equal(seen[a[i]], 0);
        seen[a[i]] = 1;
        if (i > 0 && i < na && a[i] < a[i - 1]) sorted_train = 0;
        if (i > na && a[i] < a[i - 1]) sorted_val = 0;
    }
    assert_false(sorted_train);
    assert_false(sorted_val);
    /* the sizes round: 60000 * 0.2 is 12000, 7 * 0.25 = 1.75 rounds to 2 */
    static int big[60000];
    assert_int_equal(nnl_split(60000, 0.2, 0, big, &na, f->err, sizeof f->err), 0);
    assert_int_equal(na, 48000);
    assert_int_equal(nnl_split(7, 0.25, 0, a, &na, f->err, sizeof f->err), 0);
    assert_int_equal(na, 5);
    assert_int_equal(nnl_split(2, 0.5, 0, a, &na, f->err, sizeof f->err), 0);
    assert_int_equal(na, 1);
    /* each side needs an image */
    assert_int_equal(nnl_split(10, 0.01, 0, a, &na, f->err, sizeof f->err), -1);
    assert_err_has(f->err, "leaves 10 for training and 0 for validation", (const char *)NULL);
    assert_int_equal(nnl_split(10, 0.97, 0, a, &na, f->err, sizeof f->err), -1);
    assert_int_equal(nnl_split(1, 0.5, 0, a, &na, f->err, sizeof f->err), -1);
    assert_int_equal(nnl_split(10, 0.0, 0, a, &na, f->err, sizeof f->err), -1);
    assert_int_equal(nnl_split(10, 1.0, 0, a, &na, f->err, sizeof f->err), -1);
    assert_int_equal(nnl_split(10, 0.0 / 0.0, 0, a, &na, f->err, sizeof f->err), -1);
    assert_err_has(f->err, "val_split", (const char *)NULL);
}

static void data_batch_fill_scales_like_totensor(void **state) {
    (void)state;
    /* image 0 holds every byte value, image 1 the same reversed */
    uint8_t pix[2 * 256], lab[2] = {4, 7};
    for (int p = 0; p < 256; p++) { pix[p] = (uint8_t)p; pix[256 + p] = (uint8_t)(255 - p); }
    nnl_images im = {2, 16, 16, pix, lab};
    int idx[3] = {1, 0, 1}, labels[3];
    static float x[3 * 256];
    nnl_batch_fill(&im, idx, 3, x, labels);
    volatile float d = 255.0f; /* divided at run time, as torch does */
    int differs_from_multiply = 0;
    for (int p = 0; p < 256; p++) {
        float want = (float)p / d;
        assert_memory_equal(&x[256 + p], &want, sizeof want);        /* bit for bit */
        float rev = (float)(255 - p) / d;
        assert_memory_equal(&x[p], &rev, sizeof rev);
        assert_memory_equal(&x[512 + p], &rev, sizeof rev);
        if ((float)p * (1.0f / d) != want) differs_from_multiply++;
    }
    /* the reason for dividing: multiplying by 1/255 misses some values */
    assert_true(differs_from_multiply > 0);
    assert_true(x[256] == 0.0f && x[256 + 255] == 1.0f);
    assert_int_equal(labels[0], 7);
    assert_int_equal(labels[1], 4);
    assert_int_equal(labels[2], 7);
    nnl_batch_fill(&im, idx + 1, 1, x, NULL); /* labels optional */
    assert_true(x[255] == 1.0f);
}

/* ------------------------------------------------------------ the real data */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Checksums computed independently, with Python's gzip module. */
static void data_loads_real_fashion_mnist(void **state) {
    fx *f = *state;
    struct stat st;
    if (stat(REAL_DIR, &st) != 0) {
        print_message("%s not installed (apt-get install dataset-fashion-mnist): skipped\n", REAL_DIR);
        skip();
    }
    nnl_dataset ds;
    double t0 = now();
    int rc = nnl_dataset_load(REAL_DIR, 0, 0, &ds, f->err, sizeof f->err);
    double dt = now() - t0;
    if (rc) print_error("%s\n", f->err);
    assert_int_equal(rc, 0);
    print_message("loaded FashionMNIST (60000 + 10000 images) in %.3f s\n", dt);
    assert_int_equal(ds.train.n, 60000);
    assert_int_equal(ds.test.n, 10000);
    assert_int_equal(ds.train.rows, 28);
    assert_int_equal(ds.train.cols, 28);
    assert_int_equal(ds.test.rows, 28);
    assert_int_equal(ds.test.cols, 28);
    assert_int_equal(ds.train.labels[0], 9); /* Ankle boot */
    assert_int_equal(ds.test.labels[0], 9);
    assert_int_equal(ds.train.labels[1], 0); /* T-shirt/top */
    assert_int_equal(ds.test.labels[1], 2);  /* Pullover */
    int count[NNL_CLASSES] = {0};
    for (int i = 0; i < ds.train.n; i++) {
        assert_true(ds.train.labels[i] < NNL_CLASSES);
        count[ds.train.labels[i]]++;
    }
    for (int k = 0; k < NNL_CLASSES; k++) assert_int_equal(count[k], 6000); /* balanced */
    uint64_t first = 0, all = 0, tfirst = 0, tall = 0;
    for (size_t j = 0; j < 784; j++) { first += ds.train.pixels[j]; tfirst += ds.test.pixels[j]; }
    for (size_t j = 0; j < (size_t)60000 * 784; j++) all += ds.train.pixels[j];
    for (size_t j = 0; j < (size_t)10000 * 784; j++) tall += ds.test.pixels[j];
    assert_int_equal(first, 76247);
    assert_int_equal(all, 3431114169ull);
    assert_int_equal(tfirst, 33456);
    assert_int_equal(tall, 573469082ull);
    nnl_dataset_free(&ds);
    /* bytes, not floats: the whole load stays well under 80 MB resident */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    print_message("peak resident memory %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    assert_true(ru.ru_maxrss < 80 * 1024);

    /* a limit reads only the start */
    t0 = now();
    assert_int_equal(nnl_dataset_load(REAL_DIR, 1000, 100, &ds, f->err, sizeof f->err), 0);
    print_message("loaded the first 1000 + 100 images in %.3f s\n", now() - t0);
    assert_int_equal(ds.train.n, 1000);
    assert_int_equal(ds.test.n, 100);
    first = 0;
    for (size_t j = 0; j < 784; j++) first += ds.train.pixels[j];
    assert_int_equal(first, 76247);
    nnl_dataset_free(&ds);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(data_reads_plain_idx),
        T(data_reads_gzip_idx),
        T(data_reads_multi_member_gzip),
        T(data_detects_gzip_by_magic),
        T(data_rejects_bad_magic),
        T(data_rejects_bad_header),
        T(data_rejects_truncated_images),
        T(data_rejects_cut_gzip_stream),
        T(data_rejects_trailing_bytes),
        T(data_rejects_count_mismatch),
        T(data_rejects_label_out_of_range),
        T(data_rejects_corrupt_gzip),
        T(data_missing_dir_names_debian_package),
        T(data_dataset_loads_plain_or_gzip_names),
        T(data_limit_keeps_first_n),
        T(data_split_is_seeded_and_disjoint),
        T(data_batch_fill_scales_like_totensor),
        T(data_loads_real_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
