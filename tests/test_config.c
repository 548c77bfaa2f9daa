/* test_config.c -- the config loader (runner/config/config.c): the shipped configs,
 * every kind of user mistake and the exact line it gets, --set overrides,
 * the canonical text and the run key, and hostile input (binary junk, deep
 * nesting, huge files, random mutations) that must give an error, not a
 * crash. Runs from the repository root (it reads configs/). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../runner/config/config.h"

static char err[512];

static int parse_ov(const char *yaml, const char *const *sets, int n, nnl_config *c) {
    nnl_override ov[16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) assert_int_equal(nnl_override_parse(sets[i], &ov[i]), 0);
    err[0] = 0;
    return nnl_config_parse("t.yaml", yaml, strlen(yaml), ov, n, c, err, sizeof err);
}

static int parse(const char *yaml, nnl_config *c) { return parse_ov(yaml, NULL, 0, c); }

/* The error is one non-empty line holding every fragment given. */
static void check_err(const char *a, const char *b, const char *d) {
    const char *parts[3] = {a, b, d};
    if (!err[0]) fail_msg("no error message");
    if (strchr(err, '\n')) fail_msg("error has a newline: \"%s\"", err);
    for (int i = 0; i < 3; i++)
        if (parts[i] && !strstr(err, parts[i]))
            fail_msg("error \"%s\" lacks \"%s\"", err, parts[i]);
}

static void expect_fail(const char *yaml, const char *a, const char *b, const char *d) {
    nnl_config c;
    int rc = parse(yaml, &c);
    if (rc != -1) fail_msg("expected an error (%s) but the config loaded", a);
    check_err(a, b, d);
}

static void expect_set_fail(const char *yaml, const char *set, const char *a, const char *b) {
    nnl_config c;
    const char *sets[1] = {set};
    if (parse_ov(yaml, sets, 1, &c) != -1) fail_msg("expected an error for --set %s", set);
    check_err(a, b, NULL);
}

/* LeNet-5 with the layers on lines 3 to 14; appended text starts at line 15. */
#define LENET                                              \
    "model:\n"                                             \
    "  layers:\n"                                          \
    "    - conv: {filters: 6, kernel: 5, padding: 2}\n"    \
    "    - act\n"                                          \
    "    - pool: {size: 2}\n"                              \
    "    - conv: {filters: 16, kernel: 5}\n"               \
    "    - act\n"                                          \
    "    - pool: {size: 2}\n"                              \
    "    - flatten\n"                                      \
    "    - dense: 120\n"                                   \
    "    - act\n"                                          \
    "    - dense: 84\n"                                    \
    "    - act\n"                                          \
    "    - dense: 10\n"

/* a small valid network for tests about other sections */
#define TINY "model: {input: [1, 4, 4], layers: [flatten, dense: 3]}\n"

static size_t total_params(const nnl_config *c) {
    nn_layer_spec L[NN_MAX_LAYERS];
    size_t np[NN_MAX_LAYERS], sum = 0;
    char e[256];
    nnl_config_layers(c, L);
    assert_int_equal(nn_infer(L, c->nlayers, nn_shape3(c->input[0], c->input[1], c->input[2]),
                              NULL, np, e, sizeof e), 0);
    for (int i = 0; i < c->nlayers; i++) sum += np[i];
    return sum;
}

static int has_line(const char *canon, const char *line) {
    size_t n = strlen(line);
    for (const char *p = canon; (p = strstr(p, line)); p++)
        if ((p == canon || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

#define assert_has_line(canon, line) \
    do { if (!has_line(canon, line)) fail_msg("canonical text lacks \"%s\":\n%s", line, canon); } while (0)

/* ----------------------------------------------------------- shipped files */

static void config_lenet5_file_loads_as_the_tutorial(void **state) {
    nnl_config c;
    assert_int_equal(nnl_config_load("configs/lenet5.yaml", NULL, 0, &c, err, sizeof err), 0);
    assert_string_equal(c.name, "lenet5");
    assert_int_equal(c.input[0], 1);
    assert_int_equal(c.input[1], 28);
    assert_int_equal(c.input[2], 28);
    assert_int_equal(c.activation, NN_SIGMOID);
    assert_int_equal(c.pool, NN_AVGPOOL);
    assert_int_equal(c.nlayers, 12);
    assert_int_equal(c.optim.kind, NN_ADAM);
    assert_true(c.optim.lr == 0.001f);
    assert_true(c.optim.beta1 == 0.9f && c.optim.beta2 == 0.999f && c.optim.eps == 1e-8f);
    assert_true(c.optim.weight_decay == 0.f);
    assert_int_equal(c.batch_size, 128);
    assert_int_equal(c.epochs, 10);
    assert_int_equal(c.seed, 0);
    assert_int_equal(c.sched.kind, NN_SCHED_CONSTANT);
    assert_true(c.val_split == 0.2);

    nn_layer_spec L[NN_MAX_LAYERS];
    nnl_config_layers(&c, L);
    const nn_kind want[12] = {NN_CONV2D, NN_SIGMOID, NN_AVGPOOL, NN_CONV2D, NN_SIGMOID, NN_AVGPOOL,
                              NN_FLATTEN, NN_DENSE, NN_SIGMOID, NN_DENSE, NN_SIGMOID, NN_DENSE};
    for (int i = 0; i < 12; i++) assert_int_equal(L[i].kind, want[i]);
    assert_int_equal(L[0].out, 6);
    assert_int_equal(L[0].kernel, 5);
    assert_int_equal(L[0].stride, 1);
    assert_int_equal(L[0].padding, 2);
    assert_int_equal(L[2].kernel, 2);
    assert_int_equal(L[2].stride, 2);
    assert_int_equal(L[3].padding, 0);
    assert_int_equal(L[7].out, 120);
    assert_int_equal(L[9].out, 84);
    assert_int_equal(L[11].out, 10);
}

static void config_lenet5_has_61706_params(void **state) {
    nnl_config c;
    assert_int_equal(nnl_config_load("configs/lenet5.yaml", NULL, 0, &c, err, sizeof err), 0);
    assert_int_equal(total_params(&c), 61706);
}

static void config_relu_max_differs_only_in_activation_and_pool(void **state) {
    nnl_config a, b;
    assert_int_equal(nnl_config_load("configs/lenet5.yaml", NULL, 0, &a, err, sizeof err), 0);
    assert_int_equal(nnl_config_load("configs/lenet5-relu-max.yaml", NULL, 0, &b, err, sizeof err), 0);
    assert_string_equal(b.name, "lenet5-relu-max");
    assert_int_equal(b.activation, NN_RELU);
    assert_int_equal(b.pool, NN_MAXPOOL);
    assert_int_equal(total_params(&b), 61706);
    nn_layer_spec L[NN_MAX_LAYERS];
    nnl_config_layers(&b, L);
    assert_int_equal(L[1].kind, NN_RELU);
    assert_int_equal(L[2].kind, NN_MAXPOOL);
    assert_int_equal(L[10].kind, NN_RELU);
    /* the same run as lenet5 with the two keys switched by --set */
    const char *sets[2] = {"model.activation=relu", "model.pool=max"};
    nnl_override ov[2];
    for (int i = 0; i < 2; i++) nnl_override_parse(sets[i], &ov[i]);
    assert_int_equal(nnl_config_load("configs/lenet5.yaml", ov, 2, &a, err, sizeof err), 0);
    char ka[17], kb[17];
    nnl_config_key(&a, ka);
    nnl_config_key(&b, kb);
    assert_string_equal(ka, kb);
}

static void config_defaults_are_the_tutorials(void **state) {
    nnl_config c;
    unsetenv("NNLAB_DATA");
    nnl_config_defaults(&c);
    assert_int_equal(c.nlayers, 0);
    assert_int_equal(c.optim.kind, NN_ADAM);
    assert_true(c.optim.lr == 0.001f);
    assert_int_equal(c.batch_size, 128);
    assert_int_equal(c.epochs, 10);
    assert_int_equal(c.sched.step_size, 10);
    assert_true(c.sched.gamma == 0.1f);
    assert_string_equal(c.data_dir, "/usr/share/datasets/fashion-mnist");
    assert_true(c.val_split == 0.2);
}

static void config_data_dir_defaults_to_env(void **state) {
    nnl_config c;
    setenv("NNLAB_DATA", "/tmp/somewhere", 1);
    assert_int_equal(parse(TINY, &c), 0);
    assert_string_equal(c.data_dir, "/tmp/somewhere");
    assert_int_equal(parse(TINY "data: {dir: /data/fm}\n", &c), 0);
    assert_string_equal(c.data_dir, "/data/fm");
    unsetenv("NNLAB_DATA");
    assert_int_equal(parse(TINY, &c), 0);
    assert_string_equal(c.data_dir, "/usr/share/datasets/fashion-mnist");
}

static void config_name_defaults_to_file_base_name(void **state) {
    nnl_config c;
    err[0] = 0;
    assert_int_equal(nnl_config_parse("some/dir/my-run.v2.yaml", TINY, strlen(TINY), NULL, 0, &c,
                                      err, sizeof err), 0);
    assert_string_equal(c.name, "my-run.v2");
    assert_int_equal(parse("name: other\n" TINY, &c), 0);
    assert_string_equal(c.name, "other");
}

/* ------------------------------------------------------------- unknown keys */

static void config_rejects_unknown_key(void **state) {
    expect_fail("train:\n"
                "  optimizer: adam\n"
                "  batch_size: 64\n"
                "  epochs: 2\n"
                "  lrr: 0.1\n" LENET,
                "t.yaml:5:3: ", "unknown key 'lrr' in train", NULL);
}

static void config_suggests_closest_key(void **state) {
    expect_fail(LENET "train:\n  bach_size: 64\n", "t.yaml:16:3:", "did you mean 'batch_size'?", NULL);
    expect_fail(LENET "train:\n  lrr: 0.1\n", "did you mean 'lr'?", NULL, NULL);
    expect_fail(LENET "data:\n  val_spilt: 0.1\n", "did you mean 'val_split'?", NULL, NULL);
    expect_fail(LENET "train:\n  schedule: {type: step, step_szie: 3}\n",
                "in train.schedule (did you mean 'step_size'?)", NULL, NULL);
}

static void config_unknown_key_without_close_match_lists_keys(void **state) {
    expect_fail(LENET "train:\n  banana: 1\n", "unknown key 'banana' in train (expected optimizer, lr,",
                "batch_size", "schedule");
}

static void config_rejects_unknown_section(void **state) {
    expect_fail("modle:\n  input: [1, 28, 28]\n", "t.yaml:1:1: unknown key 'modle' at the top level",
                "did you mean 'model'?", NULL);
    expect_fail(LENET "optimizer: adam\n", "t.yaml:15:1:", "unknown key 'optimizer' at the top level",
                "expected name, model, train, data");
}

static void config_rejects_unknown_layer_with_suggestion(void **state) {
    expect_fail("model:\n"
                "  layers:\n"
                "    - convv: {filters: 6, kernel: 5}\n",
                "t.yaml:3:7: unknown layer 'convv' (did you mean 'conv'?); ",
                "expected conv, pool, act, dense, flatten, batchnorm, dropout", NULL);
    expect_fail("model: {layers: [flatten, relu, dense: 10]}\n", "unknown layer 'relu'; expected conv",
                NULL, NULL);
}

static void config_rejects_unknown_layer_option(void **state) {
    expect_fail("model:\n  layers:\n    - conv: {fliters: 6, kernel: 5}\n",
                "t.yaml:3:14: unknown key 'fliters' in model.layers.0.conv (did you mean 'filters'?)",
                NULL, NULL);
}

/* ---------------------------------------------------------- YAML structure */

static void config_yaml_syntax_error_has_line_col(void **state) {
    expect_fail("model:\n"
                "  input: [1, 28, 28]\n"
                "  pool: avg: max\n",
                "t.yaml:3:12: YAML syntax error: mapping values are not allowed in this context",
                NULL, NULL);
    expect_fail("train:\n  lr: [0.1\n", "t.yaml:", "YAML syntax error", NULL);
    expect_fail("model:\n\tlayers: []\n", "t.yaml:2:1: YAML syntax error: a tab (indent with spaces)",
                NULL, NULL);
}

static void config_rejects_duplicate_key(void **state) {
    expect_fail(LENET "train:\n"
                "  lr: 0.1\n"
                "  epochs: 3\n"
                "  lr: 0.2\n",
                "t.yaml:18:3: duplicate key 'lr' in train (first at line 16)", NULL, NULL);
    expect_fail(LENET "train: {}\ntrain: {}\n", "t.yaml:16:1: duplicate key 'train' at the top level",
                NULL, NULL);
    expect_fail("model:\n  layers:\n    - conv: {filters: 6, filters: 5}\n",
                "duplicate key 'filters' in model.layers.0.conv", NULL, NULL);
}

static void config_rejects_deep_nesting(void **state) {
    char yaml[256] = "model:\n  input: ";
    size_t o = strlen(yaml);
    for (int i = 0; i < 40; i++) yaml[o++] = '[';
    for (int i = 0; i < 40; i++) yaml[o++] = ']';
    yaml[o++] = '\n';
    yaml[o] = 0;
    expect_fail(yaml, "t.yaml:2:", "nested more than 32 levels deep", NULL);
    /* block style nests just as deep */
    char *deep = malloc(64 * 1024);
    assert_non_null(deep);
    o = 0;
    for (int i = 0; i < 100; i++) o += (size_t)sprintf(deep + o, "%*sk%d:\n", i, "", i);
    expect_fail(deep, "nested more than 32 levels deep", NULL, NULL);
    free(deep);
}

static void config_rejects_empty_file(void **state) {
    expect_fail("", "t.yaml: the config is empty", NULL, NULL);
    expect_fail("# only a comment\n\n", "t.yaml: the config is empty", NULL, NULL);
    expect_fail("---\n", "the config is empty", NULL, NULL);
}

static void config_rejects_non_mapping_top_level(void **state) {
    expect_fail("- a\n- b\n", "t.yaml:1:1: the top level must be a mapping", "got a list", NULL);
    expect_fail("hello\n", "the top level must be a mapping", "got 'hello'", NULL);
}

static void config_rejects_binary_junk(void **state) {
    unsigned char junk[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1664525u + 1013904223u;
        junk[i] = (unsigned char)(s >> 24);
    }
    nnl_config c;
    err[0] = 0;
    assert_int_equal(nnl_config_parse("t.bin", (const char *)junk, sizeof junk, NULL, 0, &c, err,
                                      sizeof err), -1);
    check_err("t.bin:", NULL, NULL);
    /* an ELF-like header: NUL bytes */
    err[0] = 0;
    assert_int_equal(nnl_config_parse("t.bin", "\x7f" "ELF\x02\x01\x01\0\0\0", 10, NULL, 0, &c, err,
                                      sizeof err), -1);
    check_err("t.bin:1:", "NUL byte", NULL);
}

static void config_rejects_invalid_utf8(void **state) {
    expect_fail(LENET "name: caf\xe9\n", "t.yaml:15:10: not valid UTF-8 text (byte 0xe9)", NULL, NULL);
    expect_fail("name: \xed\xa0\x80\n", "not valid UTF-8", NULL, NULL);     /* a surrogate */
    expect_fail("name: \xc0\xaf\n", "not valid UTF-8", NULL, NULL);         /* overlong */
    expect_fail("name: \xf0\x9f\x98\n", "not valid UTF-8", NULL, NULL);     /* cut short */
    /* control characters are not YAML either */
    expect_fail("name: a\x01" "b\n", "t.yaml:1:", "YAML syntax error", NULL);
}

static void config_rejects_nul_byte(void **state) {
    const char text[] = "name: a\0b\n" TINY;
    nnl_config c;
    err[0] = 0;
    assert_int_equal(nnl_config_parse("t.yaml", text, sizeof text - 1, NULL, 0, &c, err, sizeof err), -1);
    check_err("t.yaml:1:8: contains a NUL byte", NULL, NULL);
    /* and a NUL escaped inside a quoted value */
    expect_fail(TINY "name: \"a\\0b\"\n", "t.yaml:2:7: a value contains a NUL character", NULL, NULL);
}

static void config_rejects_aliases(void **state) {
    expect_fail(TINY "train:\n  lr: &x 0.1\n  eps: *x\n", "t.yaml:4:8: YAML aliases (*x) are not supported",
                NULL, NULL);
}

static void config_rejects_second_document(void **state) {
    expect_fail(TINY "---\n" TINY, "t.yaml:2:1:", "second YAML document", NULL);
}

static void config_rejects_complex_keys(void **state) {
    expect_fail("? [a, b]\n: 1\n", "t.yaml:1:3: a key must be a plain word", NULL, NULL);
}

/* --------------------------------------------------------------- the values */

static void config_rejects_wrong_type(void **state) {
    expect_fail(LENET "train:\n  lr: fast\n", "t.yaml:16:7: train.lr: expected a number, got 'fast'",
                NULL, NULL);
    expect_fail(LENET "train:\n  epochs: [1]\n", "train.epochs: expected an integer, got a list",
                NULL, NULL);
    expect_fail(LENET "train:\n  lr:\n", "train.lr: expected a number, got nothing", NULL, NULL);
    expect_fail(LENET "train: 5\n", "t.yaml:15:8: train: expected a mapping, got '5'", NULL, NULL);
    expect_fail(LENET "train:\n  lr: 0x10\n", "expected a number, got '0x10'", NULL, NULL);
    expect_fail(LENET "train:\n  lr: .inf\n", "expected a number, got '.inf'", NULL, NULL);
    expect_fail(LENET "train:\n  lr: nan\n", "expected a number, got 'nan'", NULL, NULL);
    expect_fail("model:\n  input: [1, 28]\n  layers: [flatten, dense: 2]\n",
                "model.input: expected a list [c, h, w], got a list of 2", NULL, NULL);
}

static void config_rejects_fractional_integer(void **state) {
    expect_fail(LENET "train:\n  batch_size: 12.5\n",
                "t.yaml:16:15: train.batch_size: expected an integer, got '12.5'", NULL, NULL);
    nnl_config c;
    assert_int_equal(parse(LENET "train:\n  batch_size: 1e2\n  epochs: 3.0\n", &c), 0);
    assert_int_equal(c.batch_size, 100);
    assert_int_equal(c.epochs, 3);
}

static void config_rejects_overflowing_numbers(void **state) {
    expect_fail(LENET "train:\n  epochs: 1e30\n", "train.epochs: must be between 1 and 100000, got 1e30",
                NULL, NULL);
    expect_fail(LENET "train:\n  epochs: 99999999999999999999999\n",
                "train.epochs: must be between 1 and 100000, got 99999999999999999999999", NULL, NULL);
    expect_fail(LENET "train:\n  epochs: 4294967297\n", "must be between 1 and 100000", NULL, NULL);
    expect_fail(LENET "train:\n  lr: 1e40\n", "train.lr: 1e40 is too large for a float", NULL, NULL);
    expect_fail(LENET "train:\n  lr: 1e999\n", "train.lr: 1e999 is too large", NULL, NULL);
    expect_fail(LENET "train:\n  lr: 1e-50\n", "train.lr: must be > 0, got 1e-50", NULL, NULL);
    expect_fail(LENET "train:\n  seed: 18446744073709551616\n",
                "train.seed: must be an integer between 0 and 18446744073709551615", NULL, NULL);
    expect_fail(LENET "train:\n  seed: -1\n", "train.seed: must be an integer between 0", NULL, NULL);
    expect_fail(LENET "data:\n  train_limit: 3000000000\n",
                "data.train_limit: must be between 0 and 2147483647, got 3000000000", NULL, NULL);
    nnl_config c;
    assert_int_equal(parse(LENET "train:\n  seed: 18446744073709551615\n", &c), 0);
    assert_true(c.seed == UINT64_MAX);
}

static void config_rejects_batch_size_zero(void **state) {
    expect_fail(LENET "train:\n  batch_size: 0\n",
                "t.yaml:16:15: train.batch_size: must be between 1 and 65536, got 0", NULL, NULL);
    expect_fail(LENET "train:\n  batch_size: 65537\n", "must be between 1 and 65536, got 65537", NULL, NULL);
}

static void config_rejects_val_split_out_of_range(void **state) {
    expect_fail(LENET "data:\n  val_split: 1.5\n",
                "t.yaml:16:14: data.val_split: must be strictly between 0 and 1, got 1.5", NULL, NULL);
    expect_fail(LENET "data:\n  val_split: 0\n", "must be strictly between 0 and 1, got 0", NULL, NULL);
    expect_fail(LENET "data:\n  val_split: 1\n", "must be strictly between 0 and 1, got 1", NULL, NULL);
}

static void config_rejects_bad_ranges(void **state) {
    expect_fail(LENET "train:\n  lr: 0\n", "train.lr: must be > 0, got 0", NULL, NULL);
    expect_fail(LENET "train:\n  lr: -0.1\n", "train.lr: must be > 0, got -0.1", NULL, NULL);
    expect_fail(LENET "train:\n  weight_decay: -1\n", "train.weight_decay: must be >= 0, got -1",
                NULL, NULL);
    expect_fail(LENET "train:\n  betas: [0.9, 1]\n", "train.betas.1: must be in [0, 1), got 1", NULL, NULL);
    expect_fail(LENET "train:\n  eps: 0\n", "train.eps: must be > 0, got 0", NULL, NULL);
    expect_fail(LENET "train:\n  optimizer: sgd\n  momentum: 1\n", "train.momentum: must be in [0, 1), got 1",
                NULL, NULL);
    expect_fail(LENET "train:\n  threads: 257\n", "train.threads: must be between 0 and 256", NULL, NULL);
    expect_fail(LENET "train:\n  epochs: 0\n", "train.epochs: must be between 1 and 100000, got 0",
                NULL, NULL);
    expect_fail(LENET "data:\n  test_limit: -1\n", "data.test_limit: must be between 0 and", NULL, NULL);
    expect_fail(LENET "data:\n  dir: ''\n", "data.dir: must not be empty", NULL, NULL);
    expect_fail(LENET "name: ~\n", "name: expected a string, got nothing", NULL, NULL);
    expect_fail("model: {input: [0, 28, 28], layers: [flatten, dense: 2]}\n",
                "model.input.0: must be between 1 and 65536, got 0", NULL, NULL);
    expect_fail("model: {input: [64, 4096, 4096], layers: [flatten, dense: 2]}\n",
                "model.input: 64x4096x4096 is too large", NULL, NULL);
}

static void config_rejects_unknown_activation(void **state) {
    expect_fail("model:\n  activation: relu6\n  layers: [flatten, dense: 2]\n",
                "t.yaml:2:15: model.activation: unknown activation 'relu6' "
                "(expected sigmoid, relu, tanh, leaky_relu)", NULL, NULL);
    expect_fail(LENET "train:\n  optimizer: sgdd\n",
                "train.optimizer: unknown optimizer 'sgdd' (expected sgd, adam, adamw)", NULL, NULL);
    expect_fail("model:\n  pool: min\n  layers: [flatten, dense: 2]\n",
                "model.pool: unknown pool type 'min' (expected avg, max)", NULL, NULL);
    expect_fail(LENET "train:\n  schedule: linear\n",
                "train.schedule.type: unknown schedule 'linear' (expected constant, step, cosine)",
                NULL, NULL);
}

static void config_parses_booleans(void **state) {
    nnl_config c;
    const char *yes[] = {"true", "yes", "True", "YES"}, *no[] = {"false", "no", "False"};
    char yaml[1024];
    for (int i = 0; i < 4; i++) {
        snprintf(yaml, sizeof yaml, LENET "train: {optimizer: sgd, momentum: 0.9, nesterov: %s}\n", yes[i]);
        assert_int_equal(parse(yaml, &c), 0);
        assert_int_equal(c.optim.nesterov, 1);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(yaml, sizeof yaml, LENET "train: {optimizer: sgd, nesterov: %s}\n", no[i]);
        assert_int_equal(parse(yaml, &c), 0);
        assert_int_equal(c.optim.nesterov, 0);
    }
    expect_fail(LENET "train: {optimizer: sgd, nesterov: maybe}\n",
                "train.nesterov: expected true or false, got 'maybe'", NULL, NULL);
    expect_fail(LENET "train: {optimizer: sgd, nesterov: 1}\n", "expected true or false, got '1'",
                NULL, NULL);
}

static void config_rejects_nesterov_without_momentum(void **state) {
    expect_fail(LENET "train:\n  optimizer: sgd\n  nesterov: true\n",
                "t.yaml:17:13: train.nesterov: needs momentum > 0 and dampening 0", NULL, NULL);
    expect_fail(LENET "train: {optimizer: sgd, momentum: 0.9, dampening: 0.1, nesterov: yes}\n",
                "needs momentum > 0 and dampening 0", NULL, NULL);
}

static void config_rejects_keys_the_optimizer_does_not_use(void **state) {
    expect_fail(LENET "train:\n  momentum: 0.9\n",
                "t.yaml:16:3: train.momentum: is only used by optimizer sgd (the optimizer is adam)",
                NULL, NULL);
    expect_fail(LENET "train:\n  optimizer: sgd\n  betas: [0.9, 0.99]\n",
                "train.betas: is only used by optimizers adam and adamw", NULL, NULL);
    expect_fail(LENET "train:\n  schedule: {type: cosine, step_size: 3}\n",
                "train.schedule.step_size: is only used by schedule step (the schedule is cosine)",
                NULL, NULL);
    expect_fail(LENET "train:\n  schedule: {gamma: 0.5}\n",
                "train.schedule.gamma: is only used by schedule step (the schedule is constant)",
                NULL, NULL);
    /* at their defaults they change nothing, and the canonical text lists them all */
    nnl_config c;
    assert_int_equal(parse(LENET "train: {momentum: 0, nesterov: false, schedule: {gamma: 0.1}}\n",
                           &c), 0);
    assert_int_equal(parse(LENET "train: {optimizer: sgd, betas: [0.9, 0.999], eps: 1e-8}\n", &c), 0);
}

static void config_optimizer_defaults_follow_pytorch(void **state) {
    nnl_config c;
    assert_int_equal(parse(LENET "train: {optimizer: adamw}\n", &c), 0);
    assert_int_equal(c.optim.kind, NN_ADAMW);
    assert_true(c.optim.weight_decay == 0.01f);
    assert_true(c.optim.lr == 0.001f);
    assert_int_equal(parse(LENET "train: {optimizer: adamw, weight_decay: 0}\n", &c), 0);
    assert_true(c.optim.weight_decay == 0.f);
    assert_int_equal(parse(LENET "train: {weight_decay: 0.5, optimizer: adamw, lr: 0.01}\n", &c), 0);
    assert_true(c.optim.weight_decay == 0.5f);   /* order in the file does not matter */
    assert_true(c.optim.lr == 0.01f);
    assert_int_equal(parse(LENET "train: {optimizer: sgd, momentum: 0.9, dampening: 0.1}\n", &c), 0);
    assert_int_equal(c.optim.kind, NN_SGD);
    assert_true(c.optim.momentum == 0.9f && c.optim.dampening == 0.1f);
    assert_true(c.optim.weight_decay == 0.f);
    assert_true(c.optim.lr == 0.001f);
}

static void config_reads_schedules(void **state) {
    nnl_config c;
    assert_int_equal(parse(LENET "train:\n  schedule: cosine\n", &c), 0);
    assert_int_equal(c.sched.kind, NN_SCHED_COSINE);
    assert_int_equal(parse(LENET "train:\n  schedule: {type: step, step_size: 3, gamma: 0.5, warmup: 2}\n",
                           &c), 0);
    assert_int_equal(c.sched.kind, NN_SCHED_STEP);
    assert_int_equal(c.sched.step_size, 3);
    assert_true(c.sched.gamma == 0.5f);
    assert_int_equal(c.sched.warmup, 2);
    assert_int_equal(parse(LENET "train:\n  schedule: {type: cosine, t_max: 5, eta_min: 1e-5}\n", &c), 0);
    assert_int_equal(c.sched.t_max, 5);
    assert_true(c.sched.eta_min == 1e-5f);
    expect_fail(LENET "train:\n  schedule: {type: step, step_size: 0}\n",
                "train.schedule.step_size: must be between 1 and", NULL, NULL);
    expect_fail(LENET "train:\n  schedule: {type: step, gamma: 0}\n",
                "train.schedule.gamma: must be in (0, 1], got 0", NULL, NULL);
    expect_fail(LENET "train:\n  schedule: {type: step, gamma: 1.5}\n", "must be in (0, 1], got 1.5",
                NULL, NULL);
    expect_fail(LENET "train:\n  schedule: {type: cosine, eta_min: -1}\n",
                "train.schedule.eta_min: must be >= 0", NULL, NULL);
    expect_fail(LENET "train:\n  epochs: 3\n  schedule: {warmup: 3}\n",
                "t.yaml:17:22: train.schedule.warmup: must be less than train.epochs (3), got 3",
                NULL, NULL);
    expect_fail(LENET "train:\n  schedule: [step]\n",
                "train.schedule: expected a mapping or a type, got a list", NULL, NULL);
}

/* ------------------------------------------------------------------- layers */

static void config_reads_every_layer_form(void **state) {
    nnl_config c;
    assert_int_equal(parse("model:\n"
                           "  input: [3, 8, 8]\n"
                           "  layers:\n"
                           "    - conv: {filters: 4, kernel: 3, stride: 1, padding: 1}\n" /* 0 */
                           "    - batchnorm\n"                                            /* 1 */
                           "    - act: {type: leaky_relu, slope: 0.1}\n"                  /* 2 */
                           "    - pool\n"                                                 /* 3 */
                           "    - pool: {type: max, size: 2, stride: 1}\n"                /* 4 */
                           "    - act: tanh\n"                                            /* 5 */
                           "    - flatten\n"                                              /* 6 */
                           "    - dropout: 0.25\n"                                        /* 7 */
                           "    - dense: {units: 16}\n"                                   /* 8 */
                           "    - act: {type: leaky_relu}\n"                              /* 9 */
                           "    - dropout\n"                                              /* 10 */
                           "    - dense: 5\n",                                            /* 11 */
                           &c), 0);
    assert_int_equal(c.nlayers, 12);
    nn_layer_spec L[NN_MAX_LAYERS];
    nnl_config_layers(&c, L);
    assert_int_equal(L[0].kind, NN_CONV2D);
    assert_int_equal(L[0].padding, 1);
    assert_int_equal(L[1].kind, NN_BATCHNORM);
    assert_int_equal(L[2].kind, NN_LEAKY_RELU);
    assert_true(L[2].slope == 0.1f);
    assert_int_equal(c.layers[2].kind_default, 0);
    assert_int_equal(L[3].kind, NN_AVGPOOL);
    assert_int_equal(L[3].kernel, 2);
    assert_int_equal(L[3].stride, 2);
    assert_int_equal(c.layers[3].kind_default, 1);
    assert_int_equal(L[4].kind, NN_MAXPOOL);
    assert_int_equal(L[4].stride, 1);
    assert_int_equal(c.layers[4].kind_default, 0);
    assert_int_equal(L[5].kind, NN_TANH);
    assert_int_equal(L[6].kind, NN_FLATTEN);
    assert_int_equal(L[7].kind, NN_DROPOUT);
    assert_true(L[7].rate == 0.25f);
    assert_int_equal(L[8].out, 16);
    assert_true(L[9].slope == 0.01f);
    assert_true(L[10].rate == 0.5f);
    assert_int_equal(L[11].out, 5);
}

static void config_layer_shape_error_names_layer(void **state) {
    expect_fail("model:\n"
                "  layers:\n"
                "    - conv: {filters: 16, kernel: 5}\n"
                "    - pool: {size: 2}\n"
                "    - pool: {size: 3}\n"
                "    - conv: {filters: 8, kernel: 5}\n"
                "    - flatten\n"
                "    - dense: 10\n",
                "t.yaml:6:7: model.layers: layer 3 (conv2d): kernel 5 is larger than its input 16x4x4 "
                "with padding 0", NULL, NULL);
    expect_fail("model:\n  layers:\n    - dense: 10\n", "t.yaml:3:7: model.layers: layer 0 (dense): "
                "needs a flat input, got 1x28x28", NULL, NULL);
}

static void config_last_layer_must_be_dense(void **state) {
    expect_fail("model:\n  layers:\n    - conv: {filters: 6, kernel: 5}\n    - act\n",
                "t.yaml:4:7: model.layers: the last layer must be dense (the class scores)",
                "layer 1 (sigmoid) outputs 6x24x24", NULL);
    expect_fail("model:\n  layers: [flatten, dense: 1]\n", "needs at least 2", NULL, NULL);
}

static void config_rejects_absurdly_large_networks(void **state) {
    expect_fail("model:\n  layers: [flatten, dense: 1048576, dense: 1048576, dense: 2]\n",
                "t.yaml:2:37: model.layers: more than 1073741824 parameters by layer 2 (dense)", NULL, NULL);
}

static void config_requires_layers(void **state) {
    expect_fail("train: {lr: 0.1}\n", "t.yaml: model.layers is missing", NULL, NULL);
    expect_fail("model:\n  input: [1, 28, 28]\n", "t.yaml:2:3: model.layers is missing", NULL, NULL);
    expect_fail("model:\n  layers: []\n", "t.yaml:2:11: model.layers: the list is empty", NULL, NULL);
    expect_fail("model:\n  layers: flatten\n", "model.layers: expected a list of layers, got 'flatten'",
                NULL, NULL);
    char yaml[4096] = "model:\n  input: [1, 2, 2]\n  layers: [flatten";
    for (int i = 0; i < 64; i++) strcat(yaml, ", dense: 4");
    strcat(yaml, "]\n");
    expect_fail(yaml, "model.layers: at most 64 layers, got 65", NULL, NULL);
}

static void config_conv_requires_filters(void **state) {
    expect_fail("model:\n  layers:\n    - conv: {kernel: 5}\n",
                "t.yaml:3:7: model.layers.0.conv: missing filters (e.g. conv: {filters: 6, kernel: 5})",
                NULL, NULL);
    expect_fail("model:\n  layers:\n    - conv\n", "model.layers.0.conv: missing filters", NULL, NULL);
    expect_fail("model:\n  layers:\n    - dense\n", "model.layers.0.dense: missing units", NULL, NULL);
    expect_fail("model:\n  layers:\n    - conv: 6\n",
                "model.layers.0.conv: expected a mapping of options (filters, kernel, stride, padding), "
                "got '6'", NULL, NULL);
    expect_fail("model:\n  layers:\n    - flatten: yes\n", "model.layers.0.flatten: takes no options",
                NULL, NULL);
    expect_fail("model:\n  layers:\n    - dropout: 1\n", "model.layers.0.dropout.p: must be in [0, 1), got 1",
                NULL, NULL);
    expect_fail("model:\n  layers:\n    - conv: {filters: 0, kernel: 5}\n",
                "model.layers.0.conv.filters: must be between 1 and 65536, got 0", NULL, NULL);
}

static void config_layer_item_with_two_keys_is_error(void **state) {
    /* the classic indentation slip: the options beside the kind, not under it */
    expect_fail("model:\n  layers:\n    - conv:\n      filters: 6\n",
                "t.yaml:3:7: model.layers.0: a layer is one kind with its options, got 2 keys",
                "indent the options under the kind", NULL);
}

static void config_slope_needs_leaky_relu(void **state) {
    expect_fail("model:\n  layers: [flatten, act: {type: relu, slope: 0.2}, dense: 2]\n",
                "model.layers.1.act.slope: is only used by leaky_relu (this layer is relu)", NULL, NULL);
    expect_fail("model:\n  layers: [flatten, act: {slope: 0.2}, dense: 2]\n",
                "(this layer is sigmoid, from model.activation)", NULL, NULL);
    nnl_config c;
    assert_int_equal(parse("model:\n  activation: leaky_relu\n  layers: [flatten, act: {slope: 0.2}, "
                           "dense: 2]\n", &c), 0);
    nn_layer_spec L[NN_MAX_LAYERS];
    nnl_config_layers(&c, L);
    assert_true(L[1].slope == 0.2f);
}

/* issue 13: global average pooling, added through nn's layer table alone,
 * reads, prints and loads back like the layers before it */
static void config_gap_reads_prints_and_loads_back(void **state) {
    nnl_config c, d;
    assert_int_equal(parse("model: {input: [3, 9, 7], layers: [conv: {filters: 4, kernel: 3}, gap, flatten, "
                           "dense: 5]}\n", &c), 0);
    nn_layer_spec L[NN_MAX_LAYERS];
    nnl_config_layers(&c, L);
    assert_int_equal(L[1].kind, NN_GAP);
    assert_int_equal(total_params(&c), 4 * 3 * 9 + 4 + 4 * 5 + 5);
    char *t = nnl_config_canonical(&c);
    assert_has_line(t, "model.layers.1.gap: true");
    assert_int_equal(nnl_config_parse("canonical", t, strlen(t), NULL, 0, &d, err, sizeof err), 0);
    char *u = nnl_config_canonical(&d);
    assert_string_equal(t, u);
    free(t);
    free(u);
    expect_fail("model:\n  layers:\n    - gap: {size: 2}\n", "model.layers.0.gap: takes no options", NULL, NULL);
    expect_fail("model:\n  layers: [flatten, gap, dense: 2]\n",
                "layer 1 (gap): needs a CxHxW input, got 784 (a gap after flatten or dense?)", NULL, NULL);
}

/* ---------------------------------------------------------------- overrides */

static void config_override_parse_splits_at_first_equals(void **state) {
    nnl_override ov;
    assert_int_equal(nnl_override_parse("data.dir=/a=b", &ov), 0);
    assert_int_equal(strcspn(ov.key, "="), 8);
    assert_int_equal(strncmp(ov.key, "data.dir", 8), 0);
    assert_string_equal(ov.value, "/a=b");
    assert_int_equal(nnl_override_parse("train.lr", &ov), -1);
    nnl_config c;
    const char *sets[1] = {"data.dir=/a=b"};
    assert_int_equal(parse_ov(TINY, sets, 1, &c), 0);
    assert_string_equal(c.data_dir, "/a=b");
}

static void config_set_overrides_lr(void **state) {
    nnl_config c;
    const char *sets[1] = {"train.lr=0.05"};
    assert_int_equal(parse_ov(LENET "train:\n  lr: 0.1\n", sets, 1, &c), 0);
    assert_true(c.optim.lr == 0.05f);
    /* no train section in the file */
    assert_int_equal(parse_ov(LENET, sets, 1, &c), 0);
    assert_true(c.optim.lr == 0.05f);
}

static void config_set_applies_in_order(void **state) {
    nnl_config c;
    const char *sets[3] = {"train.epochs=3", "train.epochs=7", "train.batch_size=32"};
    assert_int_equal(parse_ov(LENET, sets, 3, &c), 0);
    assert_int_equal(c.epochs, 7);
    assert_int_equal(c.batch_size, 32);
}

static void config_set_activation_switches_default_layers_only(void **state) {
    const char *yaml = "model:\n"
                       "  activation: sigmoid\n"
                       "  layers: [flatten, dense: 8, act, dense: 8, act: tanh, dense: 8, act, dense: 2]\n";
    nnl_config c;
    nn_layer_spec L[NN_MAX_LAYERS];
    const char *sets[1] = {"model.activation=relu"};
    assert_int_equal(parse_ov(yaml, sets, 1, &c), 0);
    nnl_config_layers(&c, L);
    assert_int_equal(L[2].kind, NN_RELU);
    assert_int_equal(L[4].kind, NN_TANH);   /* explicit: not switched */
    assert_int_equal(L[6].kind, NN_RELU);
    /* switching the struct's default directly works the same way */
    c.activation = NN_LEAKY_RELU;
    nnl_config_layers(&c, L);
    assert_int_equal(L[2].kind, NN_LEAKY_RELU);
    assert_true(L[2].slope == 0.01f);
    assert_int_equal(L[4].kind, NN_TANH);
    assert_true(L[4].slope == 0.f);
}

static void config_set_pool_switches_default_layers_only(void **state) {
    const char *yaml = "model:\n"
                       "  input: [1, 8, 8]\n"
                       "  layers: [pool, pool: {type: avg, size: 2}, flatten, dense: 2]\n";
    nnl_config c;
    nn_layer_spec L[NN_MAX_LAYERS];
    const char *sets[1] = {"model.pool=max"};
    assert_int_equal(parse_ov(yaml, sets, 1, &c), 0);
    nnl_config_layers(&c, L);
    assert_int_equal(L[0].kind, NN_MAXPOOL);
    assert_int_equal(L[1].kind, NN_AVGPOOL);
}

static void config_set_layer_option_by_index(void **state) {
    nnl_config c;
    const char *sets[3] = {"model.layers.0.conv.filters=8", "model.layers.7.dense=100",
                           "model.layers.9.dense.units=50"};
    assert_int_equal(parse_ov(LENET, sets, 3, &c), 0);
    assert_int_equal(c.layers[0].spec.out, 8);
    assert_int_equal(c.layers[0].spec.kernel, 5);   /* the rest of the mapping stays */
    assert_int_equal(c.layers[7].spec.out, 100);
    assert_int_equal(c.layers[9].spec.out, 50);
    assert_int_equal(total_params(&c), 8 * 25 + 8 + 16 * 8 * 25 + 16 + 400 * 100 + 100 + 100 * 50 + 50 +
                                           50 * 10 + 10);
}

static void config_set_turns_bare_layers_into_mappings(void **state) {
    nnl_config c;
    nn_layer_spec L[NN_MAX_LAYERS];
    const char *sets[3] = {"model.layers.2.pool.type=max", "model.layers.1.act=relu",
                           "model.layers.4.act.type=tanh"};
    assert_int_equal(parse_ov(LENET, sets, 3, &c), 0);
    nnl_config_layers(&c, L);
    assert_int_equal(L[2].kind, NN_MAXPOOL);
    assert_int_equal(c.layers[2].kind_default, 0);
    assert_int_equal(L[2].kernel, 2);
    assert_int_equal(L[1].kind, NN_RELU);
    assert_int_equal(c.layers[1].kind_default, 0);
    assert_int_equal(L[4].kind, NN_TANH);
    assert_int_equal(L[5].kind, NN_AVGPOOL);
    assert_int_equal(c.layers[5].kind_default, 1);
    /* "- act" has no pool inside */
    expect_set_fail(LENET, "model.layers.1.pool.size=3",
                    "--set model.layers.1.pool.size=3: model.layers.1 is 'act', which has no 'pool'", NULL);
}

static void config_set_replaces_and_appends_layers(void **state) {
    nnl_config c;
    const char *sets[2] = {"model.layers.11={dense: 32}", "model.layers.12=act"};
    const char *sets2[1] = {"model.layers.13=dense: 10"};
    nnl_override ov[3];
    nnl_override_parse(sets[0], &ov[0]);
    nnl_override_parse(sets[1], &ov[1]);
    nnl_override_parse(sets2[0], &ov[2]);
    err[0] = 0;
    assert_int_equal(nnl_config_parse("t.yaml", LENET, strlen(LENET), ov, 3, &c, err, sizeof err), 0);
    assert_int_equal(c.nlayers, 14);
    assert_int_equal(c.layers[11].spec.out, 32);
    assert_int_equal(c.layers[12].spec.kind, NN_SIGMOID);
    assert_int_equal(c.layers[13].spec.out, 10);
    expect_set_fail(LENET, "model.layers.20.conv.filters=3",
                    "--set model.layers.20.conv.filters=3: model.layers has 12 items: index 20 is out "
                    "of range", NULL);
    expect_set_fail(LENET, "model.layers.first=flatten", "model.layers is a list: expected an index",
                    NULL);
}

static void config_set_creates_missing_sections(void **state) {
    nnl_config c;
    const char *sets[2] = {"train.schedule.type=cosine", "train.schedule.warmup=2"};
    assert_int_equal(parse_ov(LENET, sets, 2, &c), 0);
    assert_int_equal(c.sched.kind, NN_SCHED_COSINE);
    assert_int_equal(c.sched.warmup, 2);
    /* a null section in the file too */
    assert_int_equal(parse_ov(LENET "train:\n", sets, 2, &c), 0);
    assert_int_equal(c.sched.kind, NN_SCHED_COSINE);
}

static void config_set_schedule_shorthand(void **state) {
    nnl_config c;
    const char *a[1] = {"train.schedule=cosine"};
    assert_int_equal(parse_ov(LENET "train:\n  schedule: {type: step, warmup: 1}\n", a, 1, &c), 0);
    assert_int_equal(c.sched.kind, NN_SCHED_COSINE);
    assert_int_equal(c.sched.warmup, 0);   /* a value replaces what was there */
    const char *b[1] = {"train.schedule.warmup=3"};
    assert_int_equal(parse_ov(LENET "train:\n  schedule: step\n", b, 1, &c), 0);
    assert_int_equal(c.sched.kind, NN_SCHED_STEP);
    assert_int_equal(c.sched.warmup, 3);
}

static void config_set_parses_flow_values(void **state) {
    nnl_config c;
    const char *sets[3] = {"train.betas=[0.8, 0.99]", "train.schedule={type: cosine, warmup: 2}",
                           "model.input=[1, 28, 28]"};
    assert_int_equal(parse_ov(LENET, sets, 3, &c), 0);
    assert_true(c.optim.beta1 == 0.8f && c.optim.beta2 == 0.99f);
    assert_int_equal(c.sched.kind, NN_SCHED_COSINE);
    assert_int_equal(c.sched.warmup, 2);
    const char *one[1] = {"train.betas.1=0.9"};
    assert_int_equal(parse_ov(LENET "train: {betas: [0.9, 0.999]}\n", one, 1, &c), 0);
    assert_true(c.optim.beta1 == 0.9f && c.optim.beta2 == 0.9f);
}

static void config_set_unknown_key_names_override(void **state) {
    expect_set_fail(LENET "train:\n  lr: 0.1\n", "train.lrr=0.1",
                    "--set train.lrr=0.1: unknown key 'lrr' in train (did you mean 'lr'?)", NULL);
    expect_set_fail(LENET, "trian.lr=0.1", "--set trian.lr=0.1: unknown key 'trian' at the top level",
                    "did you mean 'train'?");
    expect_set_fail(LENET, "train.lr=fast", "--set train.lr=fast: train.lr: expected a number, got 'fast'",
                    NULL);
    expect_set_fail(LENET, "train.lr.x=1", "--set train.lr.x=1: train.lr: expected a number, got a mapping",
                    NULL);
    expect_set_fail(LENET "train: {lr: 0.1}\n", "train.lr.x=1", "train.lr is '0.1', which has no 'x'",
                    NULL);
    expect_set_fail(LENET, "train..lr=1", "--set train..lr=1: empty part in key", NULL);
    expect_set_fail(LENET, "=1", "--set =1: empty key", NULL);
    expect_set_fail(LENET, "train.lr=[0.1", "--set train.lr=[0.1: YAML syntax error", NULL);
    expect_set_fail(LENET, "train={lr: 1, lr: 2}", "duplicate key 'lr' in train", NULL);
}

/* ----------------------------------------------------------- canonical form */

static void config_canonical_lists_every_resolved_key(void **state) {
    nnl_config c;
    unsetenv("NNLAB_DATA");
    assert_int_equal(nnl_config_load("configs/lenet5.yaml", NULL, 0, &c, err, sizeof err), 0);
    char *s = nnl_config_canonical(&c);
    assert_non_null(s);
    const char *lines[] = {
        "name: lenet5", "model.input: [1, 28, 28]", "model.activation: sigmoid", "model.pool: avg",
        "model.layers.0.conv.filters: 6", "model.layers.0.conv.kernel: 5",
        "model.layers.0.conv.stride: 1", "model.layers.0.conv.padding: 2",
        "model.layers.1.act: sigmoid", "model.layers.2.pool.type: avg", "model.layers.2.pool.size: 2",
        "model.layers.2.pool.stride: 2", "model.layers.2.pool.padding: 0",
        "model.layers.6.flatten: true", "model.layers.7.dense: 120", "model.layers.11.dense: 10",
        "train.optimizer: adam", "train.lr: 0.001", "train.momentum: 0", "train.dampening: 0",
        "train.nesterov: false", "train.weight_decay: 0", "train.betas: [0.9, 0.999]",
        "train.eps: 1e-08", "train.batch_size: 128", "train.epochs: 10", "train.seed: 0",
        "train.threads: 0", "train.schedule.type: constant", "train.schedule.step_size: 10",
        "train.schedule.gamma: 0.1", "train.schedule.t_max: 0", "train.schedule.eta_min: 0",
        "train.schedule.warmup: 0", "train.early_stop.patience: 0", "train.early_stop.min_delta: 0",
        "data.dir: /usr/share/datasets/fashion-mnist",
        "data.val_split: 0.2", "data.train_limit: 0", "data.test_limit: 0",
        "data.augment.flip: 0", "data.augment.crop: 0", "data.augment.erase: 0",
        "data.augment.erase_max: 0.33",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) assert_has_line(s, lines[i]);
    /* sorted, with layer indices compared as numbers */
    const char *l2 = strstr(s, "model.layers.2."), *l10 = strstr(s, "model.layers.10.");
    const char *l11 = strstr(s, "model.layers.11.");
    assert_non_null(l10);
    assert_true(l2 < l10 && l10 < l11);
    assert_true(strstr(s, "model.activation:") < strstr(s, "model.input:"));
    assert_true(strstr(s, "data.dir:") < strstr(s, "model.") && strstr(s, "name:") < strstr(s, "train."));
    /* no key twice, every line "key: value" */
    int n = 0;
    for (const char *p = s; *p; p = strchr(p, '\n') + 1, n++) assert_non_null(strstr(p, ": "));
    assert_int_equal(n, 32 + 24); /* 32 settings; 2 conv x 4, 2 pool x 4, 4 act, flatten, 3 dense */
    free(s);
}

static void config_canonical_prints_shortest_floats(void **state) {
    nnl_config c;
    assert_int_equal(parse(LENET "train: {optimizer: sgd, lr: 0.3, momentum: 0.9, weight_decay: 5e-4}\n"
                           "data: {val_split: 0.1}\n", &c), 0);
    char *s = nnl_config_canonical(&c);
    assert_non_null(s);
    assert_has_line(s, "train.lr: 0.3");
    assert_has_line(s, "train.momentum: 0.9");
    assert_has_line(s, "train.weight_decay: 0.0005");
    assert_has_line(s, "data.val_split: 0.1");
    free(s);
    assert_int_equal(parse("model: {activation: leaky_relu, layers: [flatten, act, dropout: 0.3, "
                           "dense: 2]}\n", &c), 0);
    s = nnl_config_canonical(&c);
    assert_has_line(s, "model.layers.1.act: leaky_relu");
    assert_has_line(s, "model.layers.1.act.slope: 0.01");
    assert_has_line(s, "model.layers.2.dropout: 0.3");
    assert_ptr_equal(strstr(s, ".slope"), strstr(s, "model.layers.1.act.slope") + 18);
    assert_null(strstr(strstr(s, ".slope") + 1, ".slope"));   /* the one leaky_relu layer */
    free(s);
    assert_int_equal(parse(LENET, &c), 0);
    s = nnl_config_canonical(&c);
    assert_null(strstr(s, "slope"));  /* only leaky_relu layers have one */
    free(s);
}

static void config_canonical_is_stable_and_key_ignores_name(void **state) {
    nnl_config a, b;
    char ka[17], kb[17];
    unsetenv("NNLAB_DATA");
    assert_int_equal(nnl_config_load("configs/lenet5.yaml", NULL, 0, &a, err, sizeof err), 0);
    /* the same meaning written differently, with another name and data dir */
    const char *same =
        "data: {val_split: 0.2, dir: /elsewhere}\n"
        "train: {seed: 0, epochs: 10, batch_size: 128, lr: 1e-3, betas: [0.9, 0.999]}\n"
        "name: another\n"
        "model:\n"
        "  layers: [{conv: {kernel: 5, filters: 6, padding: 2, stride: 1}}, act: sigmoid,\n"
        "           pool: {size: 2, stride: 2}, conv: {filters: 16, kernel: 5}, act, pool,\n"
        "           flatten, dense: {units: 120}, act, dense: 84, act, dense: 10]\n";
    assert_int_equal(parse(same, &b), 0);
    char *sa = nnl_config_canonical(&a), *sa2 = nnl_config_canonical(&a), *sb = nnl_config_canonical(&b);
    assert_string_equal(sa, sa2);
    assert_string_not_equal(sa, sb); /* the name and data.dir lines differ */
    nnl_config_key(&a, ka);
    nnl_config_key(&b, kb);
    assert_int_equal(strlen(ka), 16);
    assert_int_equal(strspn(ka, "0123456789abcdef"), 16);
    assert_string_equal(ka, kb);
    free(sa);
    free(sa2);
    free(sb);
    /* the key is FNV-1a 64 of the canonical text without the name, data.dir
     * and train.threads lines */
    nnl_config_defaults(&b);
    b.name[0] = 0;
    char *t = nnl_config_canonical(&b);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (char *line = t; *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, "name: ", 6) && strncmp(line, "data.dir: ", 10) && strncmp(line, "train.threads: ", 15))
            for (char *p = line; p <= nl; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
        line = nl + 1;
    }
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
    nnl_config_key(&b, kb);
    assert_string_equal(kb, want);
    free(t);
}

static void config_key_changes_with_what_is_computed(void **state) {
    nnl_config a, b;
    char ka[17], kb[17];
    assert_int_equal(parse(LENET, &a), 0);
    nnl_config_key(&a, ka);
    const char *sets[][1] = {{"train.lr=0.002"}, {"train.seed=1"}, {"model.layers.0.conv.filters=7"},
                             {"model.activation=relu"}, {"data.train_limit=100"}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        assert_int_equal(parse_ov(LENET, sets[i], 1, &b), 0);
        nnl_config_key(&b, kb);
        if (!strcmp(ka, kb)) fail_msg("--set %s did not change the run key", sets[i][0]);
    }
    /* a sweep resumed with another -j gives its runs another thread count */
    const char *same[][1] = {{"name=x"}, {"train.threads=2"}, {"data.dir=/elsewhere"}};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(parse_ov(LENET, same[i], 1, &b), 0);
        nnl_config_key(&b, kb);
        assert_string_equal(ka, kb);
    }
}

/* The canonical text is itself a config (flat dotted keys) that loads back
 * to the same run: the store keeps it and rebuilds runs from it. */
static void check_round_trip(const char *yaml) {
    nnl_config a, b;
    char ka[17], kb[17];
    if (parse(yaml, &a)) fail_msg("does not load: %s", err);
    char *t = nnl_config_canonical(&a);
    assert_non_null(t);
    err[0] = 0;
    if (nnl_config_parse("canonical", t, strlen(t), NULL, 0, &b, err, sizeof err))
        fail_msg("canonical text does not load back: %s\n%s", err, t);
    char *u = nnl_config_canonical(&b);
    assert_string_equal(t, u);
    nnl_config_key(&a, ka);
    nnl_config_key(&b, kb);
    assert_string_equal(ka, kb);
    free(t);
    free(u);
}

static void config_canonical_text_loads_back_as_the_same_run(void **state) {
    check_round_trip(LENET);
    check_round_trip("name: \"odd: name #1\"\n"
                     "model:\n"
                     "  input: [3, 16, 12]\n"
                     "  activation: leaky_relu\n"
                     "  pool: max\n"
                     "  layers: [conv: {filters: 4, kernel: 3, padding: 1, stride: 2}, batchnorm, act,\n"
                     "           act: {type: leaky_relu, slope: 0.2}, pool, pool: {type: avg, size: 1},\n"
                     "           flatten, dropout: 0.1, dense: 7, act: tanh, dropout, dense: 3]\n"
                     "train: {optimizer: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4,\n"
                     "        batch_size: 7, epochs: 12, seed: 18446744073709551615, threads: 3,\n"
                     "        schedule: {type: step, step_size: 4, gamma: 0.3, warmup: 2}}\n"
                     "data: {dir: '/data/with space/and: colon', val_split: 0.125, train_limit: 1000,\n"
                     "       test_limit: 500}\n");
    check_round_trip(LENET "train: {optimizer: adamw, betas: [0.8, 0.95], eps: 1e-6,\n"
                     "        schedule: {type: cosine, t_max: 7, eta_min: 1e-5}}\n");
    char big[8192] = "model:\n  input: [1, 2, 2]\n  layers: [flatten";
    for (int i = 0; i < 63; i++) strcat(big, i % 2 ? ", act" : ", dense: 5");
    strcat(big, "]\n");
    check_round_trip(big);
}

static void config_canonical_quotes_strings_yaml_would_misread(void **state) {
    nnl_config c;
    assert_int_equal(parse("name: '#1: [x]'\n" TINY "data: {dir: /plain/path-1.2_x}\n", &c), 0);
    char *s = nnl_config_canonical(&c);
    assert_has_line(s, "name: \"#1: [x]\"");
    assert_has_line(s, "data.dir: /plain/path-1.2_x");
    free(s);
}

static void config_reads_flat_dotted_keys(void **state) {
    nnl_config c;
    assert_int_equal(parse("model.input: [1, 8, 8]\n"
                           "model.layers.0.flatten: true\n"
                           "model.layers.1.dense: 4\n"
                           "model.layers.2.act: leaky_relu\n"
                           "model.layers.2.act.slope: 0.3\n"
                           "model.layers.3.dense: 2\n"
                           "train.lr: 0.25\n"
                           "train:\n"
                           "  epochs: 3\n"
                           "train.schedule.type: cosine\n", &c), 0);
    assert_int_equal(c.nlayers, 4);
    assert_int_equal(c.input[1], 8);
    assert_true(c.optim.lr == 0.25f);
    assert_int_equal(c.epochs, 3);
    assert_int_equal(c.sched.kind, NN_SCHED_COSINE);
    assert_true(c.layers[2].spec.slope == 0.3f);
    expect_fail(TINY "train: {lr: 0.1}\ntrain.lr: 0.2\n", "t.yaml:3:1: train.lr is given twice",
                NULL, NULL);
    expect_fail(TINY "train.lrr: 0.2\n", "t.yaml:2:1: unknown key 'lrr' in train (did you mean 'lr'?)",
                NULL, NULL);
    expect_fail("model.layers.1.dense: 4\n", "t.yaml:1:1: model.layers has 0 items: index 1 is out of "
                "range", NULL, NULL);
    expect_fail(TINY "train..lr: 1\n", "t.yaml:2:1: empty part in key 'train..lr'", NULL, NULL);
}

static void config_every_canonical_line_is_a_set_path(void **state) {
    nnl_config a, b;
    assert_int_equal(nnl_config_load("configs/lenet5-relu-max.yaml", NULL, 0, &a, err, sizeof err), 0);
    char *t = nnl_config_canonical(&a);
    /* each "key: value" line as --set key=value on the tutorial config */
    nnl_override ov[128];
    char *lines[128];
    int n = 0;
    for (char *p = t; *p && n < 128; n++) {
        char *nl = strchr(p, '\n'), *colon = strstr(p, ": ");
        *nl = 0;
        *colon = '=';
        memmove(colon + 1, colon + 2, strlen(colon + 2) + 1);
        lines[n] = p;
        assert_int_equal(nnl_override_parse(lines[n], &ov[n]), 0);
        p = nl + 1;
    }
    err[0] = 0;
    if (nnl_config_load("configs/lenet5.yaml", ov, n, &b, err, sizeof err)) fail_msg("%s", err);
    char ka[17], kb[17];
    nnl_config_key(&a, ka);
    nnl_config_key(&b, kb);
    assert_string_equal(ka, kb);
    assert_string_equal(b.name, "lenet5-relu-max");
    free(t);
}

typedef struct { char buf[8192]; size_t n; int calls; } collect_ud;

static void collect_kv(const char *key, const char *value, void *ud) {
    collect_ud *u = ud;
    u->n += (size_t)snprintf(u->buf + u->n, sizeof u->buf - u->n, "%s: %s\n", key, value);
    u->calls++;
}

static void config_foreach_matches_canonical(void **state) {
    nnl_config c;
    collect_ud u = {{0}, 0, 0};
    assert_int_equal(nnl_config_load("configs/lenet5-relu-max.yaml", NULL, 0, &c, err, sizeof err), 0);
    nnl_config_foreach(&c, collect_kv, &u);
    char *s = nnl_config_canonical(&c);
    assert_string_equal(u.buf, s);
    assert_true(u.calls > 30);
    free(s);
}

/* ----------------------------------------------------------- files on disk */

static char tmpdir[64];

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int setup_tmp(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_config.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void config_missing_file(void **state) {
    nnl_config c;
    char path[128];
    snprintf(path, sizeof path, "%s/none.yaml", tmpdir);
    assert_int_equal(nnl_config_load(path, NULL, 0, &c, err, sizeof err), -1);
    char want[192];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);
}

static void config_directory_is_error(void **state) {
    nnl_config c;
    assert_int_equal(nnl_config_load(tmpdir, NULL, 0, &c, err, sizeof err), -1);
    check_err(tmpdir, ": cannot read: is a directory", NULL);
}

static void config_rejects_huge_file(void **state) {
    nnl_config c;
    char path[128];
    size_t n = (1 << 20) + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    for (size_t i = 79; i < n; i += 80) big[i] = '\n';
    snprintf(path, sizeof path, "%s/big.yaml", tmpdir);
    write_file(path, big, n);
    assert_int_equal(nnl_config_load(path, NULL, 0, &c, err, sizeof err), -1);
    check_err(path, "too large", NULL);
    /* a comment-only file just under the limit is merely empty */
    write_file(path, big, n - 2);
    assert_int_equal(nnl_config_load(path, NULL, 0, &c, err, sizeof err), -1);
    check_err("the config is empty", NULL, NULL);
    free(big);
}

static void config_load_reports_file_name_and_position(void **state) {
    nnl_config c;
    char path[128], want[192];
    snprintf(path, sizeof path, "%s/bad.yaml", tmpdir);
    const char *text = LENET "train:\n  lrr: 0.1\n";
    write_file(path, text, strlen(text));
    assert_int_equal(nnl_config_load(path, NULL, 0, &c, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:16:3: unknown key 'lrr' in train (did you mean 'lr'?)", path);
    assert_string_equal(err, want);
}

static void config_failed_load_leaves_config_untouched(void **state) {
    nnl_config c, before;
    assert_int_equal(parse(LENET, &c), 0);
    before = c;
    assert_int_equal(parse(LENET "train: {lr: 0.5, epochs: 0}\n", &c), -1);
    assert_memory_equal(&c, &before, sizeof c);
}

static void config_error_is_one_line_even_with_newlines_in_keys(void **state) {
    expect_fail(LENET "train:\n  \"l\\nr\": 1\n", "unknown key 'l\\x0ar' in train", NULL, NULL);
    char small[16];
    nnl_config c;
    assert_int_equal(nnl_config_parse("t.yaml", "x: 1\n", 5, NULL, 0, &c, small, sizeof small), -1);
    assert_true(strlen(small) < sizeof small);
}

/* ------------------------------------------------------------ never a crash */

/* Every prefix and thousands of random mutations of a real config either
 * load or give one line; under ASan/valgrind this is the fuzz smoke test. */
static void config_mutations_never_crash(void **state) {
    FILE *f = fopen("configs/lenet5.yaml", "rb");
    assert_non_null(f);
    char base[8192];
    size_t n = fread(base, 1, sizeof base, f);
    fclose(f);
    assert_true(n > 100 && n < sizeof base);
    char buf[8300];
    nnl_config c;
    for (size_t k = 0; k <= n; k++) {
        err[0] = 0;
        if (nnl_config_parse("m.yaml", base, k, NULL, 0, &c, err, sizeof err)) check_err("m.yaml", NULL, NULL);
    }
    uint32_t s = 1;
#define RND() (s = s * 1664525u + 1013904223u, s >> 8)
    const char alphabet[] = "{}[]:-,#&*!|>'\"%@` \n\t.0123456789eE+abz\\\x80\xc3\xff";
    int ok = 0;
    for (int it = 0; it < 4000; it++) {
        size_t m = n;
        memcpy(buf, base, n);
        int edits = 1 + (int)(RND() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = RND() % (m + 1);
            int op = (int)(RND() % 3);
            char ch = alphabet[RND() % (sizeof alphabet - 1)];
            if (op == 0 && at < m) buf[at] = ch;
            else if (op == 1 && m < sizeof buf - 1) {
                memmove(buf + at + 1, buf + at, m - at);
                buf[at] = ch;
                m++;
            } else if (at < m) {
                memmove(buf + at, buf + at + 1, m - at - 1);
                m--;
            }
        }
        err[0] = 0;
        if (nnl_config_parse("m.yaml", buf, m, NULL, 0, &c, err, sizeof err) == 0) {
            ok++;
            char *t = nnl_config_canonical(&c);
            assert_non_null(t);
            free(t);
        } else {
            check_err("m.yaml", NULL, NULL);
        }
    }
    assert_true(ok > 0); /* some mutations (in comments) still load */
#undef RND
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_lenet5_file_loads_as_the_tutorial),
        cmocka_unit_test(config_lenet5_has_61706_params),
        cmocka_unit_test(config_relu_max_differs_only_in_activation_and_pool),
        cmocka_unit_test(config_defaults_are_the_tutorials),
        cmocka_unit_test(config_data_dir_defaults_to_env),
        cmocka_unit_test(config_name_defaults_to_file_base_name),
        cmocka_unit_test(config_rejects_unknown_key),
        cmocka_unit_test(config_suggests_closest_key),
        cmocka_unit_test(config_unknown_key_without_close_match_lists_keys),
        cmocka_unit_test(config_rejects_unknown_section),
        cmocka_unit_test(config_rejects_unknown_layer_with_suggestion),
        cmocka_unit_test(config_rejects_unknown_layer_option),
        cmocka_unit_test(config_yaml_syntax_error_has_line_col),
        cmocka_unit_test(config_rejects_duplicate_key),
        cmocka_unit_test(config_rejects_deep_nesting),
        cmocka_unit_test(config_rejects_empty_file),
        cmocka_unit_test(config_rejects_non_mapping_top_level),
        cmocka_unit_test(config_rejects_binary_junk),
        cmocka_unit_test(config_rejects_invalid_utf8),
        cmocka_unit_test(config_rejects_nul_byte),
        cmocka_unit_test(config_rejects_aliases),
        cmocka_unit_test(config_rejects_second_document),
        cmocka_unit_test(config_rejects_complex_keys),
        cmocka_unit_test(config_rejects_wrong_type),
        cmocka_unit_test(config_rejects_fractional_integer),
        cmocka_unit_test(config_rejects_overflowing_numbers),
        cmocka_unit_test(config_rejects_batch_size_zero),
        cmocka_unit_test(config_rejects_val_split_out_of_range),
        cmocka_unit_test(config_rejects_bad_ranges),
        cmocka_unit_test(config_rejects_unknown_activation),
        cmocka_unit_test(config_parses_booleans),
        cmocka_unit_test(config_rejects_nesterov_without_momentum),
        cmocka_unit_test(config_rejects_keys_the_optimizer_does_not_use),
        cmocka_unit_test(config_optimizer_defaults_follow_pytorch),
        cmocka_unit_test(config_reads_schedules),
        cmocka_unit_test(config_reads_every_layer_form),
        cmocka_unit_test(config_layer_shape_error_names_layer),
        cmocka_unit_test(config_last_layer_must_be_dense),
        cmocka_unit_test(config_rejects_absurdly_large_networks),
        cmocka_unit_test(config_requires_layers),
        cmocka_unit_test(config_conv_requires_filters),
        cmocka_unit_test(config_layer_item_with_two_keys_is_error),
        cmocka_unit_test(config_slope_needs_leaky_relu),
        cmocka_unit_test(config_gap_reads_prints_and_loads_back),
        cmocka_unit_test(config_override_parse_splits_at_first_equals),
        cmocka_unit_test(config_set_overrides_lr),
        cmocka_unit_test(config_set_applies_in_order),
        cmocka_unit_test(config_set_activation_switches_default_layers_only),
        cmocka_unit_test(config_set_pool_switches_default_layers_only),
        cmocka_unit_test(config_set_layer_option_by_index),
        cmocka_unit_test(config_set_turns_bare_layers_into_mappings),
        cmocka_unit_test(config_set_replaces_and_appends_layers),
        cmocka_unit_test(config_set_creates_missing_sections),
        cmocka_unit_test(config_set_schedule_shorthand),
        cmocka_unit_test(config_set_parses_flow_values),
        cmocka_unit_test(config_set_unknown_key_names_override),
        cmocka_unit_test(config_canonical_lists_every_resolved_key),
        cmocka_unit_test(config_canonical_prints_shortest_floats),
        cmocka_unit_test(config_canonical_is_stable_and_key_ignores_name),
        cmocka_unit_test(config_key_changes_with_what_is_computed),
        cmocka_unit_test(config_foreach_matches_canonical),
        cmocka_unit_test(config_canonical_text_loads_back_as_the_same_run),
        cmocka_unit_test(config_canonical_quotes_strings_yaml_would_misread),
        cmocka_unit_test(config_reads_flat_dotted_keys),
        cmocka_unit_test(config_every_canonical_line_is_a_set_path),
        cmocka_unit_test_setup_teardown(config_missing_file, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(config_directory_is_error, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(config_rejects_huge_file, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(config_load_reports_file_name_and_position, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test(config_failed_load_leaves_config_untouched),
        cmocka_unit_test(config_error_is_one_line_even_with_newlines_in_keys),
        cmocka_unit_test(config_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
