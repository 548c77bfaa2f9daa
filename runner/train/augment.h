/* augment.h -- data augmentation of training batches, in place on the float
 * batch nnl_batch_fill made: random horizontal flip, random crop with zero
 * padding (a random translation, as torchvision's RandomCrop(size,
 * padding)), and random erasing (torchvision's RandomErasing with value 0).
 * Every choice comes from the caller's generator, so a run's augmentation is
 * seeded, recorded (in the checkpoint) and reproducible. */
#ifndef NNL_AUGMENT_H
#define NNL_AUGMENT_H

#include "../../nn/nn.h"

typedef struct {
    double flip;       /* probability of a horizontal flip; 0: off */
    int crop;          /* padding in pixels of the random crop; 0: off */
    double erase;      /* probability of erasing a rectangle; 0: off */
    double erase_max;  /* largest erased area as a share of the image (smallest: 0.02) */
} nnl_augment_cfg;

static inline int nnl_augment_on(const nnl_augment_cfg *a) { return a->flip > 0 || a->crop > 0 || a->erase > 0; }

/* x: (B, C, H, W) floats, changed in place. scratch: C*H*W floats. */
void nnl_augment(float *x, int B, int C, int H, int W, const nnl_augment_cfg *a, nn_rng *r, float *scratch);

#endif
