/* test_report.c -- `nnlab report` on small real runs (the first images of
 * FashionMNIST, Debian's dataset-fashion-mnist): every figure of a run and
 * of an experiment exists as a real PNG and SVG with its data and script,
 * index.html links only to files that exist, a sweep in progress says so,
 * and the two ways gnuplot can let a user down -- not installed, or a
 * template with a mistake -- are one clear line each. The templates come
 * from plots/ of the repository (NNLAB_PLOTS), as the test binary does not
 * sit beside them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "../runner/config/config.h"
#include "../runner/config/experiment.h"
#include "../runner/report/report.h"
#include "../runner/store/store.h"
#include "../runner/train/sweep.h"
#include "../runner/train/train.h"

static char dir[64], db[128], sdb[128], plots[1024], err[2048];
static int64_t lone_run;
static volatile sig_atomic_t no_stop;
static const nnl_override small[] = {
    {"data.train_limit", "600"}, {"data.test_limit", "200"}, {"train.epochs", "2"}};

static int have_data(void) { return access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0; }

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* --- searches: a database written through the store API alone ------------ */

/* The searches of experiment search-exp: random searches 0 and 1 and a TPE
 * search 0, 6 samples (trials) each with 2 training seeds, over train.lr
 * (log), train.batch_size (choice) and train.weight_decay (float). The
 * samples are written out of trial order, and a few runs are not plain
 * finished ones: a diverged run (no accuracy, but a run spent), a pruned
 * one (stopped at epoch 1) and a sample not yet run (queued). */
#define NTRIALS 6
#define NSEEDS 2
static const int trial_order[NTRIALS] = {3, 0, 5, 1, 4, 2};
static const char *const batch_sizes[3] = {"128", "32", "64"};
static const char search_keys[] = "train.lr:log,train.batch_size:choice,train.weight_decay:float";

typedef struct { const char *method; int search; } search_id;
static const search_id searches[3] = {{"random", 0}, {"random", 1}, {"tpe", 0}};

static const char *run_status(int sr, int trial, int seed) {
    if (sr == 0 && trial == 3 && seed == 1) return "diverged";
    if (sr == 2 && trial == 4 && seed == 0) return "pruned";
    if (sr == 2 && trial == 5) return "queued";
    return "finished";
}

/* the best validation accuracy of a run (fraction), NaN when it has none */
static double run_acc(int sr, int trial, int seed) {
    const char *st = run_status(sr, trial, seed);
    if (!strcmp(st, "diverged") || !strcmp(st, "queued")) return NAN;
    return 0.70 + 0.03 * ((trial * 5 + sr * 2 + seed) % 7);
}

static int64_t search_run_key;

/* One run with its params, and epochs whose best validation accuracy is
 * acc: finished runs climb to it at epoch 2 and fall back at epoch 3. */
static int64_t add_run(nnl_store *s, const char *experiment, const char *const (*kv)[2], int nkv,
                       const char *status, double acc) {
    char key[17];
    snprintf(key, sizeof key, "%016llx", (unsigned long long)++search_run_key);
    nnl_run_info ri = {.key = key, .name = "lenet5", .experiment = experiment, .config = "model: {}\n",
                       .status = "running"};
    int64_t id = nnl_store_run_create(s, &ri, err, sizeof err);
    if (id < 0) fail_msg("%s", err);
    for (int i = 0; i < nkv; i++)
        if (nnl_store_param_add(s, id, kv[i][0], kv[i][1], err, sizeof err)) fail_msg("%s", err);
    int nep = !strcmp(status, "queued") ? 0 : !strcmp(status, "pruned") ? 1 : 3;
    for (int e = 1; e <= nep; e++) {
        double v = isnan(acc) ? NAN : e == 2 || nep == 1 ? acc : e == 1 ? acc - 0.05 : acc - 0.01;
        nnl_epoch_row row = {.epoch = e, .train_loss = 0.5, .train_acc = 0.8, .val_loss = 0.7 - 0.05 * e, .val_acc = v,
                             .lr = 0.001, .seconds = 1};
        if (nnl_store_epoch_add(s, id, &row, err, sizeof err)) fail_msg("%s", err);
    }
    if (nnl_store_run_status(s, id, status, NULL, err, sizeof err)) fail_msg("%s", err);
    return id;
}

/* every run of searches[sr] into experiment */
static void add_search(nnl_store *s, const char *experiment, int sr) {
    for (int o = 0; o < NTRIALS; o++)
        for (int seed = 0; seed < NSEEDS; seed++) {
            int t = trial_order[o];
            char lr[32], wd[32], search[16], trial[16], sd[16], batch[16];
            snprintf(lr, sizeof lr, "%.6g", pow(10, -4 + 0.4 * t + 0.1 * sr));
            snprintf(wd, sizeof wd, "%.6g", 0.0001 * t);
            snprintf(search, sizeof search, "%d", searches[sr].search);
            snprintf(trial, sizeof trial, "%d", t);
            snprintf(sd, sizeof sd, "%d", seed);
            snprintf(batch, sizeof batch, "%d", t / 2);
            const char *const kv[][2] = {
                {"train.lr", lr}, {"train.batch_size", batch_sizes[t % 3]}, {"train.weight_decay", wd},
                {"train.seed", sd}, {"sweep.method", searches[sr].method}, {"sweep.search", search},
                {"sweep.trial", trial}, {"sweep.keys", search_keys}, {"sweep.seed", sd},
                {"sweep.batch", batch}};
            int nkv = strcmp(searches[sr].method, "tpe") ? 9 : 10;
            add_run(s, experiment, kv, nkv, run_status(sr, t, seed), run_acc(sr, t, seed));
        }
}

/* The search database: search-exp (the three searches), search-b (a TPE
 * search alone, to compare with), grid-only (a grid sweep's runs and runs
 * of a database older than sweep.method) and hostile (a search whose key
 * name and values are gnuplot code). */
static int make_search_db(void) {
    snprintf(sdb, sizeof sdb, "%s/search.db", dir);
    nnl_store *s = nnl_store_open(sdb, err, sizeof err);
    if (!s) return -1;
    for (int sr = 0; sr < 3; sr++) add_search(s, "search-exp", sr);
    add_search(s, "search-b", 2);
    for (int i = 0; i < 4; i++) {
        const char *const kv[][2] = {{"train.lr", i % 2 ? "0.01" : "0.001"}, {"sweep.method", "grid"},
                                     {"sweep.point", i % 2 ? "lr=0.01" : "lr=0.001"}};
        add_run(s, "grid-only", kv, i < 2 ? 3 : 1, "finished", 0.8 + 0.01 * i);
    }
    /* a key name that closes the string and runs a command, a value with a
     * backquote and one that is a macro; the store refuses control characters
     * (a newline) in params, so those cannot reach the report from a database */
    /* (gnuplot runs in the report folder: the files would appear there) */
    const char *touch1 = "x\"; system(\"touch pwned1\"); y=\"%s%n", *touch2 = "`touch pwned2`",
               *touch3 = "\"); system(\"touch pwned3\"); @x (\"";
    char keys[512];
    snprintf(keys, sizeof keys, "%s:choice,train.lr:log", touch1);
    for (int t = 0; t < 4; t++) {
        char trial[16], lr[16];
        snprintf(trial, sizeof trial, "%d", t);
        snprintf(lr, sizeof lr, "%g", 0.001 * (t + 1));
        const char *const kv[][2] = {{touch1, t % 2 ? touch2 : touch3}, {"train.lr", lr},
                                     {"sweep.method", "random"}, {"sweep.search", "0"}, {"sweep.trial", trial},
                                     {"sweep.keys", keys}};
        add_run(s, "hostile", kv, 6, "finished", 0.8 + 0.01 * t);
        /* a distribution this nnlab does not know */
        const char *const bad[][2] = {{"train.lr", lr}, {"sweep.method", "tpe"}, {"sweep.search", "0"},
                                      {"sweep.trial", trial}, {"sweep.keys", "train.lr:gaussian"}};
        add_run(s, "bad-keys", bad, 5, "finished", 0.8 + 0.01 * t);
    }
    nnl_store_close(s);
    return 0;
}

/* The small real sweep and lone run every report test reads, made once. */
static int group_setup(void **state) {
    strcpy(dir, "/tmp/nnlab-report-XXXXXX");
    if (!mkdtemp(dir) || !getcwd(plots, sizeof plots - 8)) return -1;
    strcat(plots, "/plots");
    setenv("NNLAB_PLOTS", plots, 1);
    snprintf(db, sizeof db, "%s/nnlab.db", dir);
    if (make_search_db()) return -1;
    if (!have_data()) return 0;
    nnl_plan p;
    if (nnl_plan_load("experiments/act-pool.yaml", small, 3, &p, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    nnl_sweep_opts o = {.plan = &p, .db = db, .jobs = 1, .stop = &no_stop};
    int rc = nnl_sweep(&o, err, sizeof err);
    nnl_plan_free(&p);
    if (rc) { fprintf(stderr, "sweep: %s\n", err); return -1; }
    /* a grid of two numeric keys: lr spans 10x (a log axis), batch size 2x */
    char exp[128], cwd[512], text[1024];
    snprintf(exp, sizeof exp, "%s/lr-bs.yaml", dir);
    snprintf(text, sizeof text,
             "name: lr-bs\nbase: %s/configs/lenet5-relu-max.yaml\n"
             "grid:\n  train.lr: [0.001, 0.01]\n  train.batch_size: [32, 64]\nseeds: [0]\n",
             getcwd(cwd, sizeof cwd));
    FILE *f = fopen(exp, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    if (nnl_plan_load(exp, small, 3, &p, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    rc = nnl_sweep(&o, err, sizeof err);
    nnl_plan_free(&p);
    if (rc) { fprintf(stderr, "sweep: %s\n", err); return -1; }

    /* last: training in this process starts OpenMP's threads, and a sweep
     * worker forked after that would hang in libgomp */

    /* seed 5: seed 0 would be the sweep's relu/max run again, with its key */
    const nnl_override lone[] = {small[0], small[1], small[2], {"train.seed", "5"}};
    nnl_config cfg;
    if (nnl_config_load("configs/lenet5-relu-max.yaml", lone, 4, &cfg, err, sizeof err)) return -1;
    nnl_store *s = nnl_store_open(db, err, sizeof err);
    if (!s) return -1;
    nnl_train_opts to = {.cfg = &cfg, .store = s, .quiet = 1, .stop = &no_stop};
    nnl_train_result r;
    nnl_outcome out = nnl_train(&to, &r, err, sizeof err);
    lone_run = r.run;
    nnl_store_close(s);
    return out == NNL_RUN_FINISHED ? 0 : -1;
}

static int group_teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A real PNG: the 8-byte signature, an IHDR chunk first, at least
 * min_w x min_h pixels, and more than 5 KB (a blank image compresses to less). */
static void check_png(const char *path, uint32_t min_w, uint32_t min_h) {
    size_t n;
    unsigned char *b = (unsigned char *)slurp(path, &n);
    if (!b) fail_msg("%s: missing", path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 33 || memcmp(b, sig, 8) || memcmp(b + 12, "IHDR", 4)) fail_msg("%s: not a PNG", path);
    uint32_t w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    if (w < min_w || h < min_h || n <= 5000) fail_msg("%s: %ux%u, %zu bytes", path, w, h, n);
    free(b);
}

static void check_svg(const char *path) {
    size_t n;
    char *b = slurp(path, &n);
    if (!b) fail_msg("%s: missing", path);
    if (n < 5000 || !strstr(b, "<svg") || !strstr(b, "</svg>")) fail_msg("%s: not a drawn SVG (%zu bytes)", path, n);
    free(b);
}

/* Every figure of kind in folder: PNG, SVG, its data with a header comment
 * and its script, which names the template and sets the values it uses. */
static void check_figure(const char *folder, const char *kind, uint32_t min_w, uint32_t min_h) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s.png", folder, kind);
    check_png(p, min_w, min_h);
    snprintf(p, sizeof p, "%s/%s.svg", folder, kind);
    check_svg(p);
    snprintf(p, sizeof p, "%s/%s.dat", folder, kind);
    char *dat = slurp(p, NULL);
    if (!dat || dat[0] != '#') fail_msg("%s: missing or no header comment", p);
    free(dat);
    snprintf(p, sizeof p, "%s/%s.gp", folder, kind);
    char *gp = slurp(p, NULL), tmpl[1100];
    snprintf(tmpl, sizeof tmpl, "# --- %s/%s.gp ---", plots, kind);
    if (!gp || !strstr(gp, tmpl) || !strstr(gp, "datafile = \"") || !strstr(gp, "title_text = \""))
        fail_msg("%s: not the script of template %s", p, tmpl);
    free(gp);
}

/* index.html links (src= and href=) only to files in its folder that exist;
 * returns how many links it has. */
static int check_html(const char *folder) {
    char p[512];
    snprintf(p, sizeof p, "%s/index.html", folder);
    char *html = slurp(p, NULL);
    if (!html) fail_msg("%s: missing", p);
    assert_null(strstr(html, "<script"));
    int links = 0;
    for (const char *q = html; (q = strpbrk(q, "sh"));) {
        const char *v = !strncmp(q, "src=\"", 5) ? q + 5 : !strncmp(q, "href=\"", 6) ? q + 6 : NULL;
        q++;
        if (!v) continue;
        int len = (int)strcspn(v, "\"");
        char target[512];
        snprintf(target, sizeof target, "%s/%.*s", folder, len, v);
        if (strstr(target, "://") || v[0] == '/' || access(target, R_OK))
            fail_msg("%s links to %.*s, which is not a file beside it", p, len, v);
        links++;
    }
    free(html);
    return links;
}

static void report_experiment_draws_every_figure(void **state) {
    if (!have_data()) skip();
    char out[128];
    snprintf(out, sizeof out, "%s/exp", dir);
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    assert_non_null(s);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "act-pool", &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    assert_int_equal(res.runs, 12);
    assert_int_equal(res.finished, 12);
    assert_int_equal(res.in_progress, 0);
    assert_string_equal(res.warnings, "");
    assert_int_equal(res.nfigs, 4);
    check_figure(out, "exp-curves", 1000, 500);
    check_figure(out, "exp-bars", 800, 500);
    /* activation x pool is a two-key grid: a heat map with text axes */
    check_figure(out, "exp-heatmap", 800, 600);
    check_figure(out, "exp-seconds", 800, 500);
    assert_true(check_html(out) >= 4 * 5);
    char *html = slurp(res.index, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "<td class=\"k\">relu</td><td class=\"k\">avg</td><td>3 of 3</td>"));
    assert_null(strstr(html, "in progress"));
    /* how sure: the interval and the test against the best, in the table... */
    assert_non_null(strstr(html, "<th>95% interval</th>"));
    assert_non_null(strstr(html, "<td>best</td></tr>"));
    free(html);
    /* ...and in the bars: 3 seeds each, so every point has its interval, and one is the best */
    char bp[256];
    snprintf(bp, sizeof bp, "%s/exp-bars.dat", out);
    char *bars = slurp(bp, NULL);
    assert_non_null(bars);
    int rows = 0, bests = 0;
    for (char *line = strtok(bars, "\n"); line && strncmp(line, "# block 1", 9); line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        double v[10];
        if (sscanf(line, "%lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7], &v[8], &v[9]) != 10)
            fail_msg("exp-bars.dat: '%s' has not the 10 columns of its header", line);
        assert_true(v[7] <= v[2] && v[2] <= v[8]); /* the interval holds the mean */
        rows++;
        bests += v[9] == 0;
    }
    assert_int_equal(rows, 4);
    assert_int_equal(bests, 1);
    free(bars);
    /* a figure's script redraws it from the report folder alone */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cd %s && rm exp-bars.png && gnuplot exp-bars.gp 2>/dev/null", out);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/exp-bars.png", out);
    check_png(cmd, 800, 500);
}

static void report_run_draws_curves_and_confusion(void **state) {
    if (!have_data()) skip();
    char out[128];
    snprintf(out, sizeof out, "%s/run", dir);
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    assert_non_null(s);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_run(s, lone_run, &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    assert_int_equal(res.nfigs, 2);
    check_figure(out, "run-curves", 1000, 500);
    check_figure(out, "confusion", 800, 700);
    assert_true(check_html(out) >= 2 * 5);
    /* the class names label the matrix, and the counts are the 200 test images */
    char p[256];
    snprintf(p, sizeof p, "%s/confusion.gp", out);
    char *gp = slurp(p, NULL);
    assert_non_null(strstr(gp, "\"T-shirt/top\", \"Trouser\""));
    assert_non_null(strstr(gp, "\"Ankle boot\"]"));
    free(gp);
    snprintf(p, sizeof p, "%s/confusion.dat", out);
    FILE *f = fopen(p, "r");
    char line[512];
    long total = 0, v;
    while (fgets(line, sizeof line, f))
        for (char *q = line, *end; *q != '#' && (v = strtol(q, &end, 10), end != q); q = end) total += v;
    fclose(f);
    assert_int_equal(total, 200);
}

/* A folder reused for another report keeps no figure of the old one: the
 * index shows every figure there is, and a user's own files are left. */
static void report_in_a_used_folder_drops_the_old_figures(void **state) {
    if (!have_data()) skip();
    char out[128], p[256];
    snprintf(out, sizeof out, "%s/reused", dir);
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    assert_non_null(s);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "act-pool", &o, &res, err, sizeof err)) fail_msg("%s", err);
    snprintf(p, sizeof p, "%s/my-notes.png", out);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("mine\n", f);
    fclose(f);
    if (nnl_report_run(s, lone_run, &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    static const char *const gone[] = {"exp-curves", "exp-bars", "exp-heatmap", "exp-seconds"};
    static const char *const ext[] = {"png", "svg", "dat", "gp"};
    for (int k = 0; k < 4; k++)
        for (int e = 0; e < 4; e++) {
            snprintf(p, sizeof p, "%s/%s.%s", out, gone[k], ext[e]);
            if (!access(p, F_OK)) fail_msg("%s: a figure of the old report is still there", p);
        }
    check_figure(out, "run-curves", 1000, 500);
    check_figure(out, "confusion", 800, 700);
    snprintf(p, sizeof p, "%s/my-notes.png", out);
    assert_int_equal(access(p, F_OK), 0);
    assert_true(check_html(out) >= 2 * 5);
}

/* The axis of a grid key is logarithmic when its values are spaced so. */
static void log_axis_for_log_spaced_values(void **state) {
    const double lr[] = {0.0003, 0.001, 0.003, 0.01}, batch[] = {512, 32, 128}, lin[] = {1, 2, 3, 4},
                 tenfold_lin[] = {0.1, 0.5, 1}, narrow[] = {32, 64, 128}, pair[] = {0.001, 0.01},
                 neg[] = {-1, 1, 100};
    assert_true(nnl_report_log_spaced(lr, 4));
    assert_true(nnl_report_log_spaced(batch, 3));
    assert_true(nnl_report_log_spaced(pair, 2));
    assert_false(nnl_report_log_spaced(lin, 4));
    assert_false(nnl_report_log_spaced(tenfold_lin, 3));
    assert_false(nnl_report_log_spaced(narrow, 3)); /* max/min < 10 */
    assert_false(nnl_report_log_spaced(neg, 3));
    assert_false(nnl_report_log_spaced(lr, 1));
}

/* A grid of two numeric keys: value axes, log where log-spaced, numbers in
 * the cells. */
static void report_heatmap_of_numeric_grid_uses_log_axis(void **state) {
    if (!have_data()) skip();
    char text[256], out[128];
    snprintf(out, sizeof out, "%s/lr-bs", dir);
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "lr-bs", &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    check_figure(out, "exp-heatmap", 800, 600);
    snprintf(text, sizeof text, "%s/exp-heatmap.gp", out);
    char *gp = slurp(text, NULL);
    /* lr spans 10x: log; batch size 32..64 does not */
    assert_non_null(strstr(gp, "xkey = \"lr\"\nlogx = 1\n"));
    assert_non_null(strstr(gp, "ykey = \"batch_size\"\nlogy = 0\n"));
    assert_non_null(strstr(gp, "array xtic_label[2] = [\"0.001\", \"0.01\"]"));
    free(gp);
}

/* A run left running makes the report say how far the sweep has got, in
 * every figure's title and on the page. */
static void report_marks_a_sweep_in_progress(void **state) {
    if (!have_data()) skip();
    nnl_store *w = nnl_store_open(db, err, sizeof err);
    assert_non_null(w);
    if (nnl_store_run_status(w, 12, "running", NULL, err, sizeof err)) fail_msg("%s", err);
    char out[128];
    snprintf(out, sizeof out, "%s/progress", dir);
    nnl_report_opts o = {.outdir = out, .planned_runs = 12};
    nnl_report_result res;
    int rc = nnl_report_experiment(w, "act-pool", &o, &res, err, sizeof err);
    if (nnl_store_run_status(w, 12, "finished", NULL, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(w);
    if (rc) fail_msg("%s", err);
    assert_int_equal(res.in_progress, 1);
    assert_int_equal(res.finished, 11);
    char p[256];
    snprintf(p, sizeof p, "%s/index.html", out);
    char *html = slurp(p, NULL);
    assert_non_null(strstr(html, "(sweep in progress: 11 of 12 runs finished)"));
    free(html);
    snprintf(p, sizeof p, "%s/exp-bars.gp", out);
    char *gp = slurp(p, NULL);
    assert_non_null(strstr(gp, "title_note = \"(sweep in progress: 11 of 12 runs finished)\""));
    free(gp);
    check_figure(out, "exp-bars", 800, 500);
}

/* Without gnuplot, one line names the package to install, nothing is
 * written, and the command exits 2. */
static void report_without_gnuplot_names_the_package(void **state) {
    char empty[128], out[128], path[4096];
    snprintf(empty, sizeof empty, "%s/empty-bin", dir);
    snprintf(out, sizeof out, "%s/no-gnuplot", dir);
    mkdir(empty, 0755);
    snprintf(path, sizeof path, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    nnl_store *s = nnl_store_open(db, err, sizeof err);
    assert_non_null(s);
    setenv("PATH", empty, 1);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    int rc = nnl_report_run(s, 1, &o, &res, err, sizeof err);
    char *argv[] = {"report", "act-pool", "--db", db, "--out", out, NULL};
    int cmd = nnl_report_cmd(6, argv);
    setenv("PATH", path, 1);
    nnl_store_close(s);
    assert_int_equal(rc, NNL_REPORT_EINPUT);
    if (!strstr(err, "gnuplot not found") || !strstr(err, "gnuplot-nox") || strchr(err, '\n'))
        fail_msg("got: %s", err);
    assert_int_equal(cmd, 2);
    assert_int_not_equal(access(out, F_OK), 0);
    /* an explicit path that is not gnuplot says the same */
    o.gnuplot = "/nonexistent/gnuplot";
    s = nnl_store_open(db, err, sizeof err);
    assert_int_equal(nnl_report_run(s, 1, &o, &res, err, sizeof err), NNL_REPORT_EINPUT);
    nnl_store_close(s);
    assert_non_null(strstr(err, "gnuplot-nox"));
}

/* A template with a mistake: the error names that template and its line
 * (not the generated script's), and the command exits 1. */
static void report_names_the_broken_template(void **state) {
    if (!have_data()) skip();
    char bad[128], cmd[4096], out[128];
    snprintf(bad, sizeof bad, "%s/badplots", dir);
    snprintf(out, sizeof out, "%s/broken", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/*.gp %s/ && echo 'set nosuchoption 1' >> %s/exp-bars.gp", bad,
             plots, bad, bad);
    assert_int_equal(system(cmd), 0);
    char tpath[256];
    snprintf(tpath, sizeof tpath, "%s/exp-bars.gp", bad);
    char *t = slurp(tpath, NULL);
    int lines = 0;
    for (char *q = t; *q; q++) lines += *q == '\n';
    free(t);
    setenv("NNLAB_PLOTS", bad, 1);
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    int rc = nnl_report_experiment(s, "act-pool", &o, &res, err, sizeof err);
    nnl_store_close(s);
    char *argv[] = {"report", "act-pool", "--db", db, "--out", out, NULL};
    int status = nnl_report_cmd(6, argv);
    setenv("NNLAB_PLOTS", plots, 1);
    assert_int_equal(rc, NNL_REPORT_EPLOT);
    char want[300];
    snprintf(want, sizeof want, "%s:%d: gnuplot: ", tpath, lines);
    if (!strstr(err, want) || strchr(err, '\n')) fail_msg("want %s in: %s", want, err);
    assert_int_equal(status, 1);
    /* NNLAB_PLOTS naming a folder without templates is an error of its own */
    setenv("NNLAB_PLOTS", dir, 1);
    char found[1024];
    rc = nnl_report_plots_dir(found, sizeof found, err, sizeof err);
    setenv("NNLAB_PLOTS", plots, 1);
    assert_int_equal(rc, NNL_REPORT_EINPUT);
    char want_plots[1100];
    snprintf(want_plots, sizeof want_plots, "NNLAB_PLOTS=%s: no gnuplot templates there (no colors.gp)", dir);
    if (!strstr(err, want_plots)) fail_msg("want %s in: %s", want_plots, err);
}

/* The command: an experiment file, an experiment name, a run id, a key
 * prefix; the default folder beside the database; bad input exits 2. */
static void report_cmd_resolves_file_name_and_run(void **state) {
    if (!have_data()) skip();
    char out[128], idx[256], id[32];
    snprintf(out, sizeof out, "%s/cmd", dir);
    char *by_file[] = {"report", "experiments/act-pool.yaml", "--db", db, NULL};
    assert_int_equal(nnl_report_cmd(4, by_file), 0);
    snprintf(idx, sizeof idx, "%s/reports/act-pool/index.html", dir);
    assert_int_equal(access(idx, R_OK), 0);
    char *by_name[] = {"report", "act-pool", "--db", db, "--out", out, NULL};
    assert_int_equal(nnl_report_cmd(6, by_name), 0);
    snprintf(idx, sizeof idx, "%s/exp-heatmap.png", out);
    assert_int_equal(access(idx, R_OK), 0);
    snprintf(id, sizeof id, "%lld", (long long)lone_run);
    char *by_id[] = {"report", id, "--db", db, NULL};
    assert_int_equal(nnl_report_cmd(4, by_id), 0);
    snprintf(idx, sizeof idx, "%s/reports/run-%s/confusion.png", dir, id);
    assert_int_equal(access(idx, R_OK), 0);
    /* a key prefix */
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    nnl_run_row r;
    assert_int_equal(nnl_store_run_get(s, lone_run, &r, err, sizeof err), 0);
    char key[17];
    snprintf(key, sizeof key, "%.10s", r.key);
    nnl_run_row_free(&r);
    nnl_store_close(s);
    char *by_key[] = {"report", key, "--db", db, "--out", out, NULL};
    assert_int_equal(nnl_report_cmd(6, by_key), 0);

    char *nothing[] = {"report", "no-such-thing", "--db", db, NULL};
    assert_int_equal(nnl_report_cmd(4, nothing), 2);
    char *bad_opt[] = {"report", "act-pool", "--bogus", NULL};
    assert_int_equal(nnl_report_cmd(3, bad_opt), 2);
    char *no_arg[] = {"report", "--db", db, NULL};
    assert_int_equal(nnl_report_cmd(3, no_arg), 2);
    char *no_value[] = {"report", "act-pool", "--db", NULL};
    assert_int_equal(nnl_report_cmd(3, no_value), 2);
    char *help[] = {"report", "--help", NULL};
    assert_int_equal(nnl_report_cmd(2, help), 0);
}

/* The best-so-far curve of searches[sr] worked out from the values
 * add_search wrote: at each trial with a run spent, the runs spent through
 * it and the best mean-over-seeds accuracy (%) so far. */
static int expected_curve(int sr, double *xs, double *ys) {
    int n = 0, runs = 0;
    double best = -1;
    for (int t = 0; t < NTRIALS; t++) {
        int spent = 0, k = 0;
        double sum = 0;
        for (int seed = 0; seed < NSEEDS; seed++) {
            if (!strcmp(run_status(sr, t, seed), "queued")) continue;
            spent++;
            double a = run_acc(sr, t, seed);
            if (!isnan(a)) { sum += 100 * a; k++; }
        }
        if (!spent) continue;
        runs += spent;
        if (k && sum / k > best) best = sum / k;
        xs[n] = runs;
        ys[n++] = best;
    }
    return n;
}

/* The rows (runs best_acc) of the block of dat whose header line is head */
static int read_block(const char *dat, const char *head, double *xs, double *ys, int cap) {
    const char *b = strstr(dat, head);
    if (!b) fail_msg("search-best.dat has no block '%s'", head);
    int n = 0;
    for (const char *line = strchr(b, '\n') + 1; *line && *line != '\n'; line = strchr(line, '\n') + 1) {
        if (*line != '#') {
            if (n == cap || sscanf(line, "%lf %lf", &xs[n], &ys[n]) != 2) fail_msg("bad row in '%s'", head);
            n++;
        }
        if (!strchr(line, '\n')) break;
    }
    return n;
}

static void check_curve(const char *dat, const char *head, const double *xs, const double *ys, int n) {
    double gx[64], gy[64];
    int got = read_block(dat, head, gx, gy, 64);
    if (got != n) fail_msg("'%s': %d rows, want %d", head, got, n);
    for (int i = 0; i < n; i++)
        if (gx[i] != xs[i] || fabs(gy[i] - ys[i]) > 1e-6)
            fail_msg("'%s' row %d: %g %g, want %g %g", head, i, gx[i], gy[i], xs[i], ys[i]);
}

static char *slurp_in(const char *folder, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", folder, name);
    char *b = slurp(p, NULL);
    if (!b) fail_msg("%s: missing", p);
    return b;
}

/* An experiment with random and TPE searches gets the three search figures;
 * search-best.dat holds each search's best so far in trial order and the
 * mean of the two random searches; a log key gets a log axis. */
static void report_search_draws_its_figures(void **state) {
    char out[128];
    snprintf(out, sizeof out, "%s/search", dir);
    nnl_store *s = nnl_store_open_readonly(sdb, err, sizeof err);
    assert_non_null(s);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "search-exp", &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    assert_string_equal(res.warnings, "");
    check_figure(out, "search-parallel", 900, 500);
    check_figure(out, "search-keys", 900, 400);
    check_figure(out, "search-best", 900, 500);
    assert_true(check_html(out) >= 3 * 5);

    char *dat = slurp_in(out, "search-best.dat");
    double xs[3][NTRIALS], ys[3][NTRIALS];
    int n[3];
    static const char *const heads[3] = {"experiment search-exp, random, search seed 0\n",
                                         "experiment search-exp, random, search seed 1\n",
                                         "experiment search-exp, TPE, search seed 0\n"};
    for (int sr = 0; sr < 3; sr++) {
        n[sr] = expected_curve(sr, xs[sr], ys[sr]);
        check_curve(dat, heads[sr], xs[sr], ys[sr], n[sr]);
    }
    /* by hand: trial 0 of random search 0 is 70% and 73% */
    assert_non_null(strstr(dat, heads[0]));
    assert_non_null(strstr(strstr(dat, heads[0]), "# runs best_acc trial\n2 71.5 0\n"));
    /* TPE's last sample has not run: 5 trials, the pruned run spent */
    assert_int_equal(n[2], 5);
    assert_true(xs[2][4] == 10);
    /* the two random searches spend runs alike: their mean, point by point */
    double mean[NTRIALS];
    for (int i = 0; i < n[0]; i++) mean[i] = (ys[0][i] + ys[1][i]) / 2;
    check_curve(dat, "experiment search-exp, random, the mean of its 2 searches' best so far\n", xs[0], mean, n[0]);
    assert_null(strstr(dat, "TPE, the mean"));
    free(dat);
    /* the script draws the last block, the mean, thick: 3 searches and a mean */
    char *best = slurp_in(out, "search-best.gp");
    assert_non_null(strstr(best, "array block_group[4] = [1, 1, 2, 1]\narray block_mean[4] = [0, 0, 0, 1]\n"));
    free(best);

    /* 17 samples have an accuracy: 6 + 6 random, 5 TPE */
    dat = slurp_in(out, "search-parallel.dat");
    int rows = 0;
    for (char *q = dat; q && *q; q = strchr(q, '\n'), q = q ? q + 1 : NULL) rows += *q != '#' && *q != '\n';
    assert_int_equal(rows, 17);
    free(dat);
    char *gp = slurp_in(out, "search-keys.gp");
    assert_non_null(strstr(gp, "array key_title[3] = [\"train.lr\", \"train.batch_size\", \"train.weight_decay\"]"));
    assert_non_null(strstr(gp, "array axis_kind[3] = [1, 3, 0]\n")); /* lr is log */
    assert_non_null(strstr(gp, "if (axis_kind[i] == 1) { set logscale x }"));
    assert_non_null(strstr(gp, "array choice_label[3] = [\"32\", \"64\", \"128\"]")); /* by value */
    free(gp);
}

/* A key name and values that are gnuplot code stay strings: the figures are
 * drawn, and drawing them again from their scripts runs nothing either. */
static void report_search_keeps_hostile_names_strings(void **state) {
    char out[128], p[256];
    snprintf(out, sizeof out, "%s/hostile", dir);
    nnl_store *s = nnl_store_open_readonly(sdb, err, sizeof err);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "hostile", &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    assert_string_equal(res.warnings, "");
    check_figure(out, "search-parallel", 900, 500);
    check_figure(out, "search-keys", 900, 400);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && gnuplot search-parallel.gp search-keys.gp search-best.gp 2>/dev/null", out);
    assert_int_equal(system(cmd), 0);
    for (int i = 1; i <= 3; i++) {
        snprintf(p, sizeof p, "%s/pwned%d", out, i);
        if (!access(p, F_OK)) fail_msg("%s: a name ran as gnuplot code", p);
    }
    char *gp = slurp_in(out, "search-keys.gp");
    assert_null(strstr(gp, "`touch"));
    assert_non_null(strstr(gp, "\\140touch"));
    free(gp);
}

/* A sweep.keys this nnlab cannot read leaves out the figures of the keys,
 * with a note on the page that says why, but not the best so far. */
static void report_search_with_unknown_distribution_says_why(void **state) {
    char out[128], p[256];
    snprintf(out, sizeof out, "%s/bad-keys", dir);
    nnl_store *s = nnl_store_open_readonly(sdb, err, sizeof err);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "bad-keys", &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    check_figure(out, "search-best", 900, 500);
    snprintf(p, sizeof p, "%s/search-parallel.png", out);
    assert_int_not_equal(access(p, F_OK), 0);
    char *html = slurp(res.index, NULL);
    assert_non_null(strstr(html, "<p class=\"note\">No parallel coordinates and no accuracy by key: run "));
    assert_non_null(strstr(html, "sweep.keys: 'train.lr:gaussian' is not KEY:KIND with KIND float, log, int or "
                                 "choice</p>"));
    free(html);
}

/* Grid runs, and runs of a database older than sweep.method, are no search. */
static void report_without_search_runs_has_no_search_figures(void **state) {
    char out[128], p[256];
    snprintf(out, sizeof out, "%s/grid-only", dir);
    nnl_store *s = nnl_store_open_readonly(sdb, err, sizeof err);
    nnl_report_opts o = {.outdir = out};
    nnl_report_result res;
    if (nnl_report_experiment(s, "grid-only", &o, &res, err, sizeof err)) fail_msg("%s", err);
    nnl_store_close(s);
    assert_true(res.nfigs > 0);
    for (int i = 0; i < res.nfigs; i++) assert_null(strstr(res.figs[i], "/search-"));
    static const char *const kinds[] = {"search-parallel", "search-keys", "search-best"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s.dat", out, kinds[k]);
        assert_int_not_equal(access(p, F_OK), 0);
    }
}

/* `nnlab report EXP_A EXP_B`: A's report, its search-best overlaying B's
 * searches, in reports/A-vs-B; a second argument that is no experiment,
 * or a third, is bad input. */
static void report_cmd_compares_two_searches(void **state) {
    char *two[] = {"report", "search-exp", "search-b", "--db", sdb, NULL};
    assert_int_equal(nnl_report_cmd(5, two), 0);
    char out[256];
    snprintf(out, sizeof out, "%s/reports/search-exp-vs-search-b", dir);
    check_figure(out, "search-best", 900, 500);
    check_figure(out, "search-parallel", 900, 500);
    char *gp = slurp_in(out, "search-best.gp");
    assert_non_null(strstr(gp, "array group_label[3] = [\"search-exp: random\", \"search-exp: TPE\", "
                               "\"search-b: TPE\"]"));
    assert_non_null(strstr(gp, "array block_group[5] = [1, 1, 2, 3, 1]\narray block_mean[5] = [0, 0, 0, 0, 1]\n"));
    free(gp);
    char *dat = slurp_in(out, "search-best.dat");
    /* search-b's TPE search is search-exp's TPE search again: the same curve */
    double xs[NTRIALS], ys[NTRIALS];
    int n = expected_curve(2, xs, ys);
    check_curve(dat, "experiment search-b, TPE, search seed 0\n", xs, ys, n);
    check_curve(dat, "experiment search-exp, TPE, search seed 0\n", xs, ys, n);
    free(dat);

    char *not_exp[] = {"report", "search-exp", "1", "--db", sdb, NULL};
    assert_int_equal(nnl_report_cmd(5, not_exp), 2);
    char *three[] = {"report", "search-exp", "search-b", "grid-only", "--db", sdb, NULL};
    assert_int_equal(nnl_report_cmd(6, three), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_axis_for_log_spaced_values),
        cmocka_unit_test(report_experiment_draws_every_figure),
        cmocka_unit_test(report_run_draws_curves_and_confusion),
        cmocka_unit_test(report_in_a_used_folder_drops_the_old_figures),
        cmocka_unit_test(report_heatmap_of_numeric_grid_uses_log_axis),
        cmocka_unit_test(report_marks_a_sweep_in_progress),
        cmocka_unit_test(report_without_gnuplot_names_the_package),
        cmocka_unit_test(report_names_the_broken_template),
        cmocka_unit_test(report_cmd_resolves_file_name_and_run),
        cmocka_unit_test(report_search_draws_its_figures),
        cmocka_unit_test(report_search_keeps_hostile_names_strings),
        cmocka_unit_test(report_search_with_unknown_distribution_says_why),
        cmocka_unit_test(report_without_search_runs_has_no_search_figures),
        cmocka_unit_test(report_cmd_compares_two_searches),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
