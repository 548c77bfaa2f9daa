/* data.h -- the dataset: FashionMNIST's four IDX files read into memory as
 * bytes, a seeded train/validation split, and batches converted to floats.
 *
 *     nnl_dataset ds;
 *     char err[512];
 *     if (nnl_dataset_load(NNL_DATA_DEFAULT_DIR, 0, 0, &ds, err, sizeof err))
 *         { fprintf(stderr, "%s\n", err); exit(2); }
 *     int *idx = malloc(ds.train.n * sizeof *idx), ntrain;
 *     nnl_split(ds.train.n, 0.2, seed, idx, &ntrain, err, sizeof err);
 *     nnl_batch_fill(&ds.train, idx, 128, nn_net_input(net), labels);  // first batch
 *     ...
 *     nnl_dataset_free(&ds);
 *
 * Images stay as bytes (60000 * 784 = 47 MB for the training set, 55 MB for
 * both sets); only the batch being trained on is ever converted to floats,
 * so a training process stays well under 80 MB resident.
 *
 * The files are those of Debian's dataset-fashion-mnist package. Each may be
 * gzip-compressed or plain whatever its name: the content decides (gzip
 * magic 1f 8b). IDX layout: a big-endian uint32 magic (0x00000803 for
 * images: unsigned bytes, 3 dimensions; 0x00000801 for labels), one
 * big-endian uint32 per dimension, then the bytes.
 *
 * Errors: functions that can fail return -1 and write one line naming the
 * file and what is wrong into err; on error nothing stays allocated.
 */
#ifndef NNL_DATA_H
#define NNL_DATA_H

#include <stddef.h>
#include <stdint.h>

#define NNL_CLASSES 10 /* FashionMNIST: T-shirt/top ... Ankle boot; labels are 0..9 */

/* FashionMNIST's class names, by label */
extern const char *const nnl_class_names[NNL_CLASSES];
#define NNL_DATA_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define NNL_IDX_MAX_SIDE 4096 /* largest rows or cols accepted from a header */

typedef struct {
    int n, rows, cols;
    uint8_t *pixels; /* (n, rows, cols), row-major, 0..255 */
    uint8_t *labels; /* (n), each < NNL_CLASSES */
} nnl_images;

typedef struct { nnl_images train, test; } nnl_dataset;

/* Reads an IDX image file and its IDX label file. limit > 0 keeps only the
 * first limit images (fewer if the files hold fewer); 0 keeps all.
 *
 * Checks: magic numbers, rows and cols in 1..NNL_IDX_MAX_SIDE, a non-zero
 * count equal in both files, that each file holds exactly the bytes its
 * header promises (a short file is "truncated", a long one has "trailing
 * bytes"), gzip integrity (CRC and length), and labels < NNL_CLASSES.
 * With a limit only the needed bytes are read: a plain file's size is still
 * checked (from its directory entry, for free), but a gzip file is only
 * decompressed, and so only checked, as far as the limit. */
int nnl_idx_load(const char *images_path, const char *labels_path, int limit,
                 nnl_images *out, char *err, size_t errlen);
void nnl_images_free(nnl_images *im);

/* Loads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte, each found as NAME
 * or else NAME.gz; DIR NULL or "" means NNL_DATA_DEFAULT_DIR. A missing
 * directory or file is an error that says how to install the Debian package
 * or where else to point (data.dir, --data, NNLAB_DATA). Limits as
 * nnl_idx_load's, 0 for all. */
int nnl_dataset_load(const char *dir, int train_limit, int test_limit,
                     nnl_dataset *ds, char *err, size_t errlen);
void nnl_dataset_free(nnl_dataset *ds);

/* Seeded train/validation split of n images: idx (n ints) receives 0..n-1
 * shuffled by nn_rng_shuffle on an nn_rng seeded with seed; the first
 * *ntrain = n - round(n * val_split) entries are the training images, the
 * rest the validation images, both left in the shuffled order (not sorted).
 * round() rounds halves away from zero. val_split must leave at least one
 * image on each side (0 < val_split < 1 and n >= 2), or -1 is returned. */
int nnl_split(int n, double val_split, uint64_t seed, int *idx, int *ntrain,
              char *err, size_t errlen);

/* x: (B, 1, rows, cols) floats, x = float(pixel) / 255.0f, bit for bit as
 * torchvision's ToTensor (a division, not a multiplication by 1/255, which
 * differs in the last bit for some pixels). labels: (B) ints, or NULL to
 * skip. Image b of the batch is im's image idx[b]. */
void nnl_batch_fill(const nnl_images *im, const int *idx, int B, float *x, int *labels);

#endif
