/* test_augment.c -- data augmentation: each transform does what torchvision's
 * does to one image, the choices are seeded, and the config keys reach it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../runner/train/augment.h"
#include "../runner/config/config.h"

enum { H = 6, W = 5 };

static void fill(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = (float)(i + 1);
}

static void flip_mirrors_every_row(void **s) {
    float x[H * W], y[H * W], tmp[H * W];
    fill(x, H * W);
    memcpy(y, x, sizeof x);
    nnl_augment_cfg a = {.flip = 1.0};
    nn_rng r;
    nn_rng_seed(&r, 1);
    nnl_augment(y, 1, 1, H, W, &a, &r, tmp);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) assert_float_equal(y[i * W + j], x[i * W + (W - 1 - j)], 0);
}

static void crop_translates_with_zero_fill(void **s) {
    float x[H * W], tmp[H * W];
    nnl_augment_cfg a = {.crop = 2};
    nn_rng r;
    nn_rng_seed(&r, 2);
    int moved = 0;
    for (int t = 0; t < 50; t++) {
        fill(x, H * W);
        nnl_augment(x, 1, 1, H, W, &a, &r, tmp);
        /* find the shift: the value v = i*W + j + 1 sits at (i - sy, j - sx) */
        int sy = 99, sx = 99;
        for (int p = 0; p < H * W && sy == 99; p++)
            if (x[p] != 0) {
                int v = (int)x[p] - 1;
                sy = v / W - p / W;
                sx = v % W - p % W;
            }
        assert_true(abs(sy) <= 2 && abs(sx) <= 2);
        moved += sy || sx;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int si = i + sy, sj = j + sx;
                float want = si >= 0 && si < H && sj >= 0 && sj < W ? (float)(si * W + sj + 1) : 0.f;
                assert_float_equal(x[i * W + j], want, 0);
            }
    }
    assert_true(moved > 30); /* 24 of 25 offsets move the image */
}

static void erase_blanks_one_rectangle_of_bounded_area(void **s) {
    enum { S = 28 };
    static float x[S * S], tmp[S * S];
    nnl_augment_cfg a = {.erase = 1.0, .erase_max = 0.33};
    nn_rng r;
    nn_rng_seed(&r, 3);
    int erased = 0;
    for (int t = 0; t < 200; t++) {
        for (int i = 0; i < S * S; i++) x[i] = 1.f;
        nnl_augment(x, 1, 1, S, S, &a, &r, tmp);
        int zeros = 0, i0 = S, i1 = -1, j0 = S, j1 = -1;
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++)
                if (x[i * S + j] == 0.f) {
                    zeros++;
                    i0 = i < i0 ? i : i0; i1 = i > i1 ? i : i1;
                    j0 = j < j0 ? j : j0; j1 = j > j1 ? j : j1;
                }
        if (!zeros) continue;
        erased++;
        assert_int_equal(zeros, (i1 - i0 + 1) * (j1 - j0 + 1)); /* one solid rectangle */
        assert_true(zeros <= 0.40 * S * S);                      /* 0.33 of the area, plus rounding */
    }
    assert_true(erased > 150);
}

static void augmentation_is_seeded(void **s) {
    enum { B = 8, S = 28 };
    static float a1[B * S * S], a2[B * S * S], tmp[S * S];
    nnl_augment_cfg a = {.flip = 0.5, .crop = 4, .erase = 0.5, .erase_max = 0.33};
    for (int k = 0; k < 2; k++) {
        float *x = k ? a2 : a1;
        for (int i = 0; i < B * S * S; i++) x[i] = (float)(i % 97) / 97.f;
        nn_rng r;
        nn_rng_seed(&r, 42);
        nnl_augment(x, B, 1, S, S, &a, &r, tmp);
    }
    assert_memory_equal(a1, a2, sizeof a1);
}

static void config_reads_data_augment(void **s) {
    const char *yaml = "model:\n  layers: [flatten, dense: 10]\n"
                       "data:\n  augment: {flip: 0.5, crop: 4, erase: 0.25}\n";
    nnl_config c;
    char err[512];
    if (nnl_config_parse("a.yaml", yaml, strlen(yaml), NULL, 0, &c, err, sizeof err)) fail_msg("%s", err);
    assert_float_equal(c.augment.flip, 0.5, 0);
    assert_int_equal(c.augment.crop, 4);
    assert_float_equal(c.augment.erase, 0.25, 0);
    assert_float_equal(c.augment.erase_max, 0.33, 1e-12);
    const char *bad = "model:\n  layers: [flatten, dense: 10]\ndata:\n  augment: {flip: 1.5}\n";
    assert_int_equal(nnl_config_parse("a.yaml", bad, strlen(bad), NULL, 0, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "a.yaml:4:19: data.augment.flip: must be between 0 and 1, got 1.5"));
    nnl_override ov[] = {{"data.augment.crop", "2"}};
    if (nnl_config_parse("a.yaml", yaml, strlen(yaml), ov, 1, &c, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(c.augment.crop, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flip_mirrors_every_row),
        cmocka_unit_test(crop_translates_with_zero_fill),
        cmocka_unit_test(erase_blanks_one_rectangle_of_bounded_area),
        cmocka_unit_test(augmentation_is_seeded),
        cmocka_unit_test(config_reads_data_augment),
    };
    return cmocka_run_group_tests_name("augment", tests, NULL, NULL);
}
