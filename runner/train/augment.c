/* augment.c -- see augment.h. Per image, in torchvision's order when they
 * are composed as RandomHorizontalFlip, RandomCrop, ToTensor, RandomErasing:
 * flip, then crop, then erase. */
#include <math.h>
#include <string.h>
#include "augment.h"

/* y[i][j] = x[i][W-1-j] */
static void flip(float *img, int C, int H, int W) {
    for (int p = 0; p < C * H; p++) {
        float *row = img + (size_t)p * W;
        for (int j = 0; j < W / 2; j++) {
            float t = row[j];
            row[j] = row[W - 1 - j];
            row[W - 1 - j] = t;
        }
    }
}

/* The image zero-padded by pad on every side, then the H x W window at
 * (dy, dx), dy, dx in [0, 2 pad]: y[i][j] = x[i + dy - pad][j + dx - pad] or 0. */
static void crop(float *img, float *tmp, int C, int H, int W, int pad, int dy, int dx) {
    memcpy(tmp, img, sizeof(float) * (size_t)C * H * W);
    int sy = dy - pad, sx = dx - pad;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++) {
            float *dst = img + ((size_t)c * H + i) * W;
            int si = i + sy;
            if (si < 0 || si >= H) { memset(dst, 0, sizeof(float) * W); continue; }
            const float *src = tmp + ((size_t)c * H + si) * W;
            for (int j = 0; j < W; j++) {
                int sj = j + sx;
                dst[j] = sj >= 0 && sj < W ? src[sj] : 0.f;
            }
        }
}

/* RandomErasing: area share in [0.02, max], log-uniform aspect ratio in
 * [0.3, 3.3]; up to 10 tries to fit the rectangle, else nothing is erased. */
static void erase(float *img, int C, int H, int W, double max_share, nn_rng *r) {
    const double lo = log(0.3), hi = log(3.3);
    for (int t = 0; t < 10; t++) {
        double area = H * W * (0.02 + nn_rng_uniform(r) * (max_share - 0.02));
        double ratio = exp(lo + nn_rng_uniform(r) * (hi - lo));
        int h = (int)lround(sqrt(area * ratio)), w = (int)lround(sqrt(area / ratio));
        if (h < 1 || w < 1 || h >= H || w >= W) continue;
        int i0 = (int)nn_rng_below(r, (uint32_t)(H - h + 1)), j0 = (int)nn_rng_below(r, (uint32_t)(W - w + 1));
        for (int c = 0; c < C; c++)
            for (int i = i0; i < i0 + h; i++) memset(img + ((size_t)c * H + i) * W + j0, 0, sizeof(float) * w);
        return;
    }
}

void nnl_augment(float *x, int B, int C, int H, int W, const nnl_augment_cfg *a, nn_rng *r, float *scratch) {
    const size_t sz = (size_t)C * H * W;
    for (int b = 0; b < B; b++) {
        float *img = x + (size_t)b * sz;
        if (a->flip > 0 && nn_rng_uniform(r) < a->flip) flip(img, C, H, W);
        if (a->crop > 0) {
            int dy = (int)nn_rng_below(r, (uint32_t)(2 * a->crop + 1));
            int dx = (int)nn_rng_below(r, (uint32_t)(2 * a->crop + 1));
            if (dy != a->crop || dx != a->crop) crop(img, scratch, C, H, W, a->crop, dy, dx);
        }
        if (a->erase > 0 && nn_rng_uniform(r) < a->erase) erase(img, C, H, W, a->erase_max, r);
    }
}
