/* main.c -- the nnlab command line: parses the command and its options,
 * calls config, store and train, and decides the exit status:
 *   0 success, 1 a run failed or diverged, 2 bad input (usage, config, data),
 *   130 interrupted by SIGINT or SIGTERM. */
#include <sys/resource.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "config.h"
#include "data.h"
#include "experiment.h"
#include "input.h"
#include "ls.h"
#include "report.h"
#include "slurm.h"
#include "signals.h"
#include "store.h"
#include "sweep.h"
#include "train.h"
#include "version.h"
#include "yamltree.h"

#ifndef NNLAB_VERSION
#define NNLAB_VERSION "0.0.0"
#endif

#define DEFAULT_DB NNL_DEFAULT_DB
#define MAX_SETS NNL_MAX_SETS


/* The top-level help: these lines, then the commands of cmds[] (main), then
 * the tail. */
static const char usage_head[] =
    "usage: nnlab COMMAND [OPTIONS]\n"
    "\n"
    "Config-driven experiments with small CNNs on FashionMNIST, on the CPU.\n"
    "Every run's per-epoch metrics, test result and checkpoints are kept in a\n"
    "SQLite database (default " DEFAULT_DB ", checkpoints beside it).\n"
    "\n"
    "commands:\n";
static const char usage_tail[] =
    "\n"
    "RUN is a run id or a unique prefix of its key (see 'nnlab ls').\n"
    "'nnlab COMMAND --help' tells more. 'nnlab --version' prints the version\n"
    "and the kernel paths this CPU runs.\n"
    "\n"
    "environment:\n"
    "  NNLAB_DATA   the FashionMNIST folder (default /usr/share/datasets/fashion-mnist)\n"
    "  NNLAB_ISA    avx512, avx2 or portable: the kernels to run instead of the\n"
    "               best this CPU has; every path gives the same bits, so this\n"
    "               changes the speed only (a CPU that lacks the path is refused)\n"
    "\n"
    "exit status: 0 success, 1 a run failed or diverged, 2 bad input,\n"
    "130 interrupted (the run is kept as 'interrupted').\n";

/* The commands of this file, each with the options it takes: parsing and
 * --help both come from these (cli.h). */

static const nnl_command train_cmd = {
    .name = "train", .args = "CONFIG", .min_args = 0, .max_args = 1,
    .usage = "usage: nnlab train CONFIG [--set KEY=VALUE]... [--db PATH] [--data DIR] [--quiet]\n"
             "       nnlab train --resume RUN [--db PATH] [--data DIR] [--quiet]\n",
    .about =
        "Trains the run CONFIG describes. Each epoch trains on the training split,\n"
        "evaluates on the validation split and is written to the database as soon as\n"
        "it ends. The best checkpoint (by validation accuracy) and the last one are\n"
        "kept beside the database: results/checkpoints/nnlab/RUN-ID/ for\n"
        "results/nnlab.db. After the last epoch the best checkpoint is evaluated on\n"
        "the test set (loss, accuracy, per-class accuracy, confusion matrix).\n",
    .opts = {{NNL_OPT_SET, "override a config value, e.g. --set train.lr=0.01,\n"
                           "--set model.activation=relu, --set train.epochs=2\n"
                           "(repeatable; KEY is dotted as in 'nnlab check --print')"},
             {NNL_OPT_DB}, {NNL_OPT_DATA}, {NNL_OPT_QUIET}, {NNL_OPT_RESUME}},
    .after =
        "On a terminal a progress bar shows batches, images/s, the running loss and\n"
        "the time left. Ctrl-C or SIGTERM stops after the current batch: the run is\n"
        "marked 'interrupted' with every finished epoch kept; --resume RUN continues\n"
        "it from its last checkpoint (and a failed run likewise), ending with the\n"
        "same numbers as a run never stopped. A NaN or infinite loss marks the run\n"
        "'diverged'.\n"
        "\n"
        "Threads: up to train.threads (default: every core). The thread count\n"
        "changes no result, bit for bit, so nnlab times one thread against all of\n"
        "them now and then while it trains and keeps the faster: one, when another\n"
        "program holds a core.\n",
};

static const nnl_command test_cmd = {
    .name = "test", .args = "RUN", .min_args = 1, .max_args = 1, .missing = "a RUN",
    .about =
        "Evaluates RUN's best checkpoint on the test set, as the tutorial's test\n"
        "script does, and prints loss, accuracy and per-class accuracy. Nothing is\n"
        "written to the database.\n",
    .opts = {{NNL_OPT_DB}, {NNL_OPT_DATA}},
};

static const nnl_command summary_cmd = {
    .name = "summary", .args = "CONFIG", .min_args = 1, .max_args = 1, .missing = "a CONFIG",
    .about =
        "Prints each layer with its output shape and parameter count, and the\n"
        "total, like torchsummary. LeNet-5 has 61,706 parameters.\n",
    .opts = {{NNL_OPT_SET}},
};

static const nnl_command ls_cmd = {
    .name = "ls", .min_args = 0, .max_args = 0,
    .about =
        "Lists the runs: id, key, name, experiment, status, epochs done, best\n"
        "validation accuracy, test accuracy and when it was created. The name\n"
        "column fits the terminal: a name too long for it shows its values\n"
        "and seed (sigmoid,max,seed=2) rather than a cut prefix. Piped, nothing\n"
        "is cut (set COLUMNS to fit a width).\n",
    .opts = {{NNL_OPT_DB}, {NNL_OPT_EXPERIMENT}},
};

static const nnl_command show_cmd = {
    .name = "show", .args = "RUN", .min_args = 1, .max_args = 1, .missing = "a RUN",
    .about =
        "Shows one run: status, timing, where it ran, its resolved config, every\n"
        "epoch's metrics, and its test result with per-class accuracy and the\n"
        "confusion matrix.\n",
    .opts = {{NNL_OPT_DB}},
};

static const nnl_command check_cmd = {
    .name = "check", .args = "FILE", .min_args = 1, .max_args = 1, .missing = "a FILE",
    .about =
        "Validates a config or an experiment file (one with a top-level 'base:')\n"
        "without running it: exit 0 and 'ok' if it is valid, else one line naming\n"
        "the file, line and column, and exit 2. An experiment's every run is\n"
        "resolved, so a bad grid key or value is found here.\n",
    .opts = {{NNL_OPT_SET},
             {NNL_OPT_PRINT, "a config: the fully resolved config, one dotted key per line\n"
                             "(each line is also a valid --set); an experiment: its runs"}},
};

static const nnl_command bench_cmd = {
    .name = "bench", .args = "[CONFIG]", .min_args = 0, .max_args = 1,
    .about =
        "Trains CONFIG (default configs/lenet5.yaml) in a throw-away database and\n"
        "prints the seconds of every epoch (training plus validation, as the\n"
        "PyTorch peer times them), the median, GFLOP/s, where the time went layer\n"
        "by layer (seconds, GFLOP/s, and the share of one core's fused\n"
        "multiply-add peak on the kernel path, measured at start), and the peak\n"
        "resident memory. Set the thread count and length with --set\n"
        "train.threads=N --set train.epochs=N.\n",
    .opts = {{NNL_OPT_SET}, {NNL_OPT_DATA}},
    .after =
        "The kernel path is the best this CPU runs (avx512, avx2 or portable);\n"
        "NNLAB_ISA=avx2 (or another) forces one, which changes the speed and no\n"
        "result. 'make bench' runs it beside PyTorch and prints the ratio.\n",
};

static const nnl_command sweep_cmd = {
    .name = "sweep", .args = "EXPERIMENT", .min_args = 1, .max_args = 1, .missing = "an EXPERIMENT file",
    .about =
        "Runs every run EXPERIMENT (experiments/*.yaml) declares: its grid of values\n"
        "times its seeds, and its random samples. Prints the plan (how many runs, how\n"
        "many already finished, how many to run), then runs up to N at once, each\n"
        "starting on its share of the cores and taking more once the others have\n"
        "ended (the thread count changes no result), all writing to one database.\n"
        "\n"
        "Run it again to run only what is missing: finished runs are skipped; runs\n"
        "that were interrupted (Ctrl-C, SIGTERM) or left running by a process that\n"
        "died (kill -9, power loss) continue from their last finished epoch's\n"
        "checkpoint and end with the same numbers as if never stopped. Two sweeps of\n"
        "one experiment on one database never run the same run twice.\n"
        "\n"
        "A tpe: search runs in batches: each batch is suggested from the runs of the\n"
        "batches before it, once they have all ended, so the same file gives the\n"
        "same runs in the same order with any -j, and a sweep cut short resumes into\n"
        "the same plan. With prune: {type: halving, min_epochs: M, eta: N} every run\n"
        "stops at M, M*N, M*N^2... epochs until all have got there; the best 1/N of\n"
        "the grid points (mean validation accuracy at that epoch) go on, the rest end\n"
        "as pruned. --print shows which runs are known, their status, and which\n"
        "batch waits for what.\n",
    .opts = {{NNL_OPT_JOBS}, {NNL_OPT_SET, "override a config value in every run (repeatable)"}, {NNL_OPT_DB},
             {NNL_OPT_DATA}, {NNL_OPT_DRY_RUN}, {NNL_OPT_PRINT, "the same as --dry-run"}, {NNL_OPT_SLURM}},
    .after =
        "exit status: 0 every run finished (or was pruned), 1 some failed or\n"
        "diverged, 2 bad input, 130 interrupted. Then: nnlab compare EXPERIMENT.\n",
};

static const nnl_command compare_cmd = {
    .name = "compare", .args = "EXPERIMENT", .min_args = 1, .max_args = 1, .missing = "an EXPERIMENT",
    .about =
        "One row per grid point of the experiment (a file or its name), with the\n"
        "values that vary as columns, its seeds aggregated as mean +- std of the\n"
        "test accuracy and of the best validation accuracy, best first; the 95%\n"
        "interval of the mean (Student's t), Welch's t-test of each row against\n"
        "the best, Holm-corrected over the rows, and whether the difference is\n"
        "larger than the seed noise at the 5% level. With --by activation: one\n"
        "row per activation, each pooling the runs of every other grid point.\n",
    .opts = {{NNL_OPT_DB}, {NNL_OPT_CSV}, {NNL_OPT_BY}},
};

typedef nnl_args cli;

/* Loads the config with --data folded in as the last override. */
static int load_config(cli *c, nnl_config *cfg) {
    char err[1024];
    if (c->data && c->nsets < MAX_SETS) c->sets[c->nsets++] = (nnl_override){"data.dir", c->data};
    if (nnl_config_load(c->positional, c->sets, c->nsets, cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    return 0;
}

static nnl_store *open_store(const char *path, int readonly) {
    char err[1024];
    nnl_store *s = readonly ? nnl_store_open_readonly(path, err, sizeof err) : nnl_store_open(path, err, sizeof err);
    if (!s) fprintf(stderr, "%s\n", err);
    return s;
}

static int stored_config(nnl_store *s, int64_t id, nnl_run_row *row, nnl_config *cfg, const char *data);

/* --resume RUN: the run's own config, from the database */
static int resume_config(cli *c, nnl_config *cfg, int64_t *run) {
    char err[1024];
    nnl_run_row row;
    if (access(c->db, F_OK)) { fprintf(stderr, "%s: no such database\n", c->db); return 2; }
    nnl_store *s = open_store(c->db, 1);
    if (!s) return 2;
    *run = nnl_store_find_run(s, c->resume, err, sizeof err);
    int rc = *run < 0 ? (fprintf(stderr, "%s\n", err), 2) : stored_config(s, *run, &row, cfg, c->data);
    if (!rc) {
        /* running under a process that is gone (kill -9, power loss) is as interrupted */
        int stale = !strcmp(row.status, "running") && nnl_run_is_stale(&row);
        if (!stale && (!strcmp(row.status, "finished") || !strcmp(row.status, "running") || !strcmp(row.status, "queued"))) {
            fprintf(stderr, "run %lld is %s: only an interrupted, failed, diverged or pruned run can be resumed\n",
                    (long long)*run, row.status);
            rc = 2;
        }
        nnl_run_row_free(&row);
    }
    nnl_store_close(s);
    return rc;
}

static int cmd_train(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&train_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    if (!c.positional == !c.resume) {
        fprintf(stderr, "nnlab train: give a CONFIG, or --resume RUN (see 'nnlab train --help')\n");
        return 2;
    }
    if (c.resume && c.nsets) {
        fprintf(stderr, "nnlab train: --set does not go with --resume: a run keeps its config\n");
        return 2;
    }
    nnl_config cfg;
    int64_t resume = 0;
    if (c.resume ? resume_config(&c, &cfg, &resume) : load_config(&c, &cfg)) return 2;
    /* the data is checked before the database is touched: bad input writes nothing */
    char err[1024];
    {
        nnl_dataset probe;
        if (nnl_dataset_load(cfg.data_dir, 1, 1, &probe, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        rc = nnl_train_check(&cfg, &probe.train, err, sizeof err);
        nnl_dataset_free(&probe);
        if (rc) {
            fprintf(stderr, "%s: %s\n", c.positional ? c.positional : c.resume, err);
            return 2;
        }
    }
    nnl_store *s = open_store(c.db, 0);
    if (!s) return 2;
    nnl_signals_install();
    nnl_train_opts o = {.cfg = &cfg, .store = s, .progress = isatty(2), .quiet = c.quiet, .stop = &nnl_stop,
                        .resume_run = resume};
    nnl_train_result r;
    char key[17];
    nnl_config_key(&cfg, key);
    size_t np[NN_MAX_LAYERS], total = 0;
    nn_layer_spec specs[NN_MAX_LAYERS];
    nnl_config_layers(&cfg, specs);
    if (!nn_infer(specs, cfg.nlayers, nn_shape3(cfg.input[0], cfg.input[1], cfg.input[2]), NULL, np, err, sizeof err))
        for (int i = 0; i < cfg.nlayers; i++) total += np[i];
    fprintf(stderr, "nnlab train %s: %s, %zu parameters, %d epochs of batch %d, %d threads, %s kernels, key %s\n",
            c.positional ? c.positional : c.resume, cfg.name, total, cfg.epochs, cfg.batch_size, nnl_threads(&cfg),
            nn_isa_name(nn_isa_default()), key);
    nnl_outcome out = nnl_train(&o, &r, err, sizeof err);
    switch (out) {
    case NNL_RUN_FINISHED:
        printf("run %lld finished in %.1f s: test accuracy %.2f%% (loss %.4f), best validation accuracy %.2f%% "
               "at epoch %d\n", (long long)r.run, r.seconds, 100 * r.test_acc, r.test_loss, 100 * r.best_val_acc,
               r.best_epoch);
        printf("database %s; see 'nnlab show %lld'\n", c.db, (long long)r.run);
        break;
    case NNL_RUN_DIVERGED:
        fprintf(stderr, "run %lld diverged: %s (try a smaller train.lr)\n", (long long)r.run, err);
        break;
    case NNL_RUN_INTERRUPTED:
        fprintf(stderr, "run %lld interrupted after %d finished epochs; they are in %s\n"
                        "continue it with: nnlab train --resume %lld%s%s\n",
                (long long)r.run, r.epochs_done, c.db, (long long)r.run, strcmp(c.db, DEFAULT_DB) ? " --db " : "",
                strcmp(c.db, DEFAULT_DB) ? c.db : "");
        break;
    default:
        fprintf(stderr, "%s\n", err);
        if (!r.run) { nnl_store_close(s); return 2; }
    }
    nnl_store_close(s);
    return out == NNL_RUN_FINISHED ? 0 : out == NNL_RUN_INTERRUPTED ? 130 : 1;
}

/* Rebuilds a stored run's config from its canonical text. */
static int stored_config(nnl_store *s, int64_t id, nnl_run_row *row, nnl_config *cfg, const char *data) {
    char err[1024];
    if (nnl_store_run_get(s, id, row, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    nnl_override ov[1] = {{"data.dir", data}};
    char name[64];
    snprintf(name, sizeof name, "run %lld's config", (long long)id);
    if (!row->config || nnl_config_parse(name, row->config, strlen(row->config), ov, data ? 1 : 0, cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", row->config ? err : "the run has no stored config");
        nnl_run_row_free(row);
        return 2;
    }
    return 0;
}

static int cmd_test(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&test_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    nnl_store *s = open_store(c.db, 1);
    if (!s) return 2;
    char err[1024];
    int64_t id = nnl_store_find_run(s, c.positional, err, sizeof err);
    nnl_run_row row;
    nnl_config cfg;
    if (id < 0) { fprintf(stderr, "%s\n", err); nnl_store_close(s); return 2; }
    if (stored_config(s, id, &row, &cfg, c.data)) { nnl_store_close(s); return 2; }
    char ck[NNL_PATH_MAX + 16];
    snprintf(ck, sizeof ck, "%s/best.ckpt", row.checkpoint_dir ? row.checkpoint_dir : "?");
    nnl_run_row_free(&row);
    nnl_store_close(s);

    nn_layer_spec specs[NN_MAX_LAYERS];
    nnl_config_layers(&cfg, specs);
    nn_net *net = nn_net_create(specs, cfg.nlayers, nn_shape3(cfg.input[0], cfg.input[1], cfg.input[2]),
                                cfg.batch_size, nnl_threads(&cfg), err, sizeof err);
    nn_optim opt = {0};
    nnl_dataset ds;
    int have_ds = 0;
    rc = 2;
    if (!net || nn_optim_init(&opt, &cfg.optim, nn_net_nparams(net))) goto out;
    /* the blob is the trainer's loop state; the weights are what a test needs */
    if (nnl_checkpoint_load(ck, net, &opt, NULL, 0, NULL, err, sizeof err)) goto out;
    if (nnl_dataset_load(cfg.data_dir, 0, cfg.test_limit, &ds, err, sizeof err)) goto out;
    have_ds = 1;
    {
        int nt = ds.test.n, NC = nn_net_nclasses(net), B = cfg.batch_size;
        int *labels = malloc(sizeof(int) * (size_t)B), *idx = malloc(sizeof(int) * (size_t)nt);
        int64_t *conf = calloc((size_t)NC * NC, sizeof *conf);
        double loss, acc;
        if (!labels || !idx || !conf) { snprintf(err, sizeof err, "out of memory"); free(labels); free(idx); free(conf); goto out; }
        for (int i = 0; i < nt; i++) idx[i] = i;
        nnl_evaluate(net, &ds.test, idx, nt, B, labels, &loss, &acc, conf);
        printf("run %lld, %s: %d test images, loss %.4f, accuracy %.2f%%\n", (long long)id, ck, nt, loss, 100 * acc);
        for (int k = 0; k < NC && NC == NNL_CLASSES; k++) {
            int64_t tot = 0;
            for (int j = 0; j < NC; j++) tot += conf[k * NC + j];
            printf("  %-12s %6.2f%%\n", nnl_class_names[k], tot ? 100.0 * conf[k * NC + k] / tot : NAN);
        }
        free(conf);
        free(labels);
        free(idx);
    }
    rc = 0;
out:
    if (rc) fprintf(stderr, "%s\n", err);
    if (have_ds) nnl_dataset_free(&ds);
    nn_optim_free(&opt);
    nn_net_free(net);
    return rc;
}

static int cmd_summary(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&summary_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    nnl_config cfg;
    if (load_config(&c, &cfg)) return 2;
    nn_layer_spec specs[NN_MAX_LAYERS];
    nn_shape shapes[NN_MAX_LAYERS];
    size_t np[NN_MAX_LAYERS], total = 0;
    char err[512], sb[64];
    nnl_config_layers(&cfg, specs);
    nn_shape in = nn_shape3(cfg.input[0], cfg.input[1], cfg.input[2]);
    if (nn_infer(specs, cfg.nlayers, in, shapes, np, err, sizeof err)) { fprintf(stderr, "%s: %s\n", c.positional, err); return 2; }
    printf("%s: input %s\n", cfg.name, nn_shape_str(in, sb, sizeof sb));
    printf("-----------------------------------------------------\n");
    printf("%-22s %-18s %12s\n", "Layer (type)", "Output Shape", "Param #");
    printf("=====================================================\n");
    for (int i = 0; i < cfg.nlayers; i++) {
        char name[32], shape[48];
        snprintf(name, sizeof name, "%s-%d", nn_kind_name(specs[i].kind), i + 1);
        if (shapes[i].rank == 3) snprintf(shape, sizeof shape, "[-1, %d, %d, %d]", shapes[i].c, shapes[i].h, shapes[i].w);
        else snprintf(shape, sizeof shape, "[-1, %d]", shapes[i].c);
        printf("%-22s %-18s %12zu\n", name, shape, np[i]);
        total += np[i];
    }
    printf("=====================================================\n");
    printf("Total params: %zu\n", total);
    printf("Params size (MB): %.2f\n", total * 4.0 / (1024 * 1024));
    return 0;
}

static int cmd_ls(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&ls_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    if (access(c.db, F_OK)) { printf("no runs yet: %s does not exist (start one with 'nnlab train CONFIG')\n", c.db); return 0; }
    nnl_store *s = open_store(c.db, 1);
    if (!s) return 2;
    char err[1024];
    const int count = nnl_ls_print(s, c.experiment, nnl_terminal_width(), stdout, err, sizeof err);
    if (count < 0) fprintf(stderr, "%s\n", err);
    else if (!count) printf("no runs in %s\n", c.db);
    nnl_store_close(s);
    return count < 0 ? 2 : 0;
}

static int cmd_show(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&show_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    nnl_store *s = open_store(c.db, 1);
    if (!s) return 2;
    char err[1024];
    nnl_run_row r;
    int64_t id = nnl_store_find_run(s, c.positional, err, sizeof err);
    if (id < 0 || nnl_store_run_get(s, id, &r, err, sizeof err)) { fprintf(stderr, "%s\n", err); nnl_store_close(s); return 2; }
    printf("run %lld  key %s  name %s%s%s\n", (long long)r.id, r.key, r.name ? r.name : "-",
           r.experiment ? "  experiment " : "", r.experiment ? r.experiment : "");
    printf("status      %s%s%s\n", r.status, r.error ? ": " : "", r.error ? r.error : "");
    printf("created     %s  started %s  finished %s\n", r.created ? r.created : "-", r.started ? r.started : "-",
           r.finished ? r.finished : "-");
    printf("host        %s  pid %lld  nnlab %s%s%s\n", r.host ? r.host : "-", (long long)r.pid,
           r.version ? r.version : "?", r.git_commit && *r.git_commit ? " " : "", r.git_commit ? r.git_commit : "");
    printf("parameters  %lld  seed %llu  checkpoints %s\n", (long long)r.nparams, (unsigned long long)r.seed,
           r.checkpoint_dir ? r.checkpoint_dir : "-");
    if (r.best_epoch) printf("best        epoch %d, validation accuracy %.2f%%\n", r.best_epoch, 100 * r.best_val_acc);
    if (!isnan(r.test_acc)) printf("test        accuracy %.2f%%, loss %.4f\n", 100 * r.test_acc, r.test_loss);
    if (r.diverged_epoch) printf("diverged    in epoch %d\n", r.diverged_epoch);
    printf("\nconfig:\n");
    for (const char *p = r.config ? r.config : ""; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("  %.*s\n", len, p);
        p += len + (nl ? 1 : 0);
    }
    nnl_epoch_row *rows = NULL;
    int n = nnl_store_epochs_get(s, id, &rows, err, sizeof err);
    /* a damaged row is said, not skipped: the run is not what it seems */
    if (n < 0) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
    }
    if (n > 0) {
        printf("\n%5s  %10s  %9s  %10s  %9s  %10s  %8s\n", "epoch", "train loss", "train acc", "val loss", "val acc", "lr",
               "seconds");
        for (int i = 0; i < n; i++)
            printf("%5d  %10.4f  %8.2f%%  %10.4f  %8.2f%%  %10.3g  %8.2f\n", rows[i].epoch, rows[i].train_loss,
                   100 * rows[i].train_acc, rows[i].val_loss, 100 * rows[i].val_acc, rows[i].lr, rows[i].seconds);
    }
    free(rows);
    int64_t conf[NNL_CLASSES * NNL_CLASSES];
    double cacc[NNL_CLASSES];
    int nc = nnl_store_test_get(s, id, conf, cacc, NNL_CLASSES, err, sizeof err);
    if (nc < 0 && strstr(err, "damaged database")) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
    }
    if (nc == NNL_CLASSES) {
        printf("\nper-class test accuracy and confusion matrix (rows: true class, columns: predicted)\n");
        printf("%-12s %8s ", "", "acc");
        for (int j = 0; j < nc; j++) printf("%5d", j);
        printf("\n");
        for (int k = 0; k < nc; k++) {
            printf("%d %-10s %7.2f%% ", k, nnl_class_names[k], 100 * cacc[k]);
            for (int j = 0; j < nc; j++) printf("%5lld", (long long)conf[k * nc + j]);
            printf("\n");
        }
    }
    nnl_run_row_free(&r);
    nnl_store_close(s);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_bench(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&bench_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    if (!c.positional) c.positional = "configs/lenet5.yaml";
    nnl_config cfg;
    if (load_config(&c, &cfg)) return 2;
    char dir[] = "/tmp/nnlab-bench-XXXXXX", db[64], err[1024];
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    snprintf(db, sizeof db, "%s/bench.db", dir);
    nnl_store *s = open_store(db, 0);
    if (!s) return 2;
    nnl_signals_install();
    nnl_train_opts o = {.cfg = &cfg, .store = s, .progress = isatty(2), .stop = &nnl_stop};
    static nnl_train_result r;
    nnl_outcome out = nnl_train(&o, &r, err, sizeof err);
    nnl_epoch_row *rows = NULL;
    int n = out == NNL_RUN_FINISHED ? nnl_store_epochs_get(s, r.run, &rows, err, sizeof err) : -1;
    nnl_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "nnlab bench: could not remove %s\n", dir);
    if (n <= 0) { fprintf(stderr, "%s\n", err); free(rows); return 1; }
    double secs[1024], total = 0;
    for (int i = 0; i < n && i < 1024; i++) { secs[i] = rows[i].seconds; total += secs[i]; }
    free(rows);
    qsort(secs, (size_t)n, sizeof secs[0], cmp_double);
    double median = n % 2 ? secs[n / 2] : (secs[n / 2 - 1] + secs[n / 2]) / 2;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double peak = nn_isa_peak_gflops(r.isa);
    printf("\nkernels: %s on %s; one core's fma peak on this path %.1f GFLOP/s (measured)\n", nn_isa_name(r.isa),
           nn_cpu_name(), peak);
    printf("%-4s %-11s %10s %10s %8s %8s %8s %7s\n", "#", "layer", "fwd s/ep", "bwd s/ep", "share", "fwd GF/s",
           "bwd GF/s", "of peak");
    /* of peak: the layer's multiply-adds per second against the peak of the cores it ran on */
    double layer_total = 0;
    for (int i = 0; i < r.nlayers; i++) layer_total += r.t_fwd[i] + r.t_bwd[i];
    for (int i = 0; i < r.nlayers; i++) {
        const double tf = r.t_fwd[i] / n, tb = r.t_bwd[i] / n;
        const double gf = tf > 0 ? r.flops_fwd[i] / tf * 1e-9 : 0, gb = tb > 0 ? r.flops_bwd[i] / tb * 1e-9 : 0;
        const double all = tf + tb > 0 ? (r.flops_fwd[i] + r.flops_bwd[i]) / (tf + tb) * 1e-9 : 0;
        /* per core: the layer's threads share its wall time */
        printf("%-4d %-11s %10.3f %10.3f %7.1f%%", i, nn_kind_name(r.kind[i]), tf, tb,
               100 * (r.t_fwd[i] + r.t_bwd[i]) / layer_total);
        if (r.kind[i] == NN_CONV2D || r.kind[i] == NN_DENSE)
            printf(" %8.1f %8.1f %6.0f%%\n", gf, gb, peak > 0 ? 100 * all / (peak * r.threads_at_end) : 0);
        else
            printf(" %8s %8s %7s\n", "-", "-", "-");
    }
    printf("layers %.3f s/epoch; the rest (data, optimizer, loss, bookkeeping) %.3f s/epoch\n", layer_total / n,
           total / n - layer_total / n);
    if (r.threads > 1)
        printf("threads: up to %d; on %d at the end (nnlab times 1 against %d now and then and keeps the faster)\n",
               r.threads, r.threads_at_end, r.threads);
    printf("RESULT nnlab isa=%s threads=%d epochs=%d median_epoch_s=%.3f gflops=%.1f test_acc=%.4f peak_rss_mb=%.1f\n",
           nn_isa_name(r.isa), r.threads, n, median, r.flops_per_epoch / median * 1e-9, r.test_acc,
           ru.ru_maxrss / 1024.0);
    return 0;
}

static int cmd_sweep(int argc, char **argv) {
    if (nnl_slurm_requested(argc, argv)) return nnl_slurm_sweep_cmd(argc, argv);
    cli c;
    int rc = nnl_cli_parse(&sweep_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    if (c.data && c.nsets < MAX_SETS) c.sets[c.nsets++] = (nnl_override){"data.dir", c.data};
    nnl_plan plan;
    char err[1024];
    c.dry_run |= c.print;
    if (nnl_plan_load(c.positional, c.sets, c.nsets, &plan, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    if (!c.dry_run) {
        /* the data is checked before the database is touched: bad input writes nothing */
        nnl_dataset probe;
        if (nnl_dataset_load(nnl_plan_any_config(&plan)->data_dir, 1, 1, &probe, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            nnl_plan_free(&plan);
            return 2;
        }
        for (int i = 0; i < plan.nruns && !rc; i++)
            if ((rc = nnl_train_check(&plan.runs[i].cfg, &probe.train, err, sizeof err)))
                fprintf(stderr, "%s: run %s: %s\n", c.positional, plan.runs[i].name, err);
        /* a tpe: search's runs come later: its ends of every range now */
        if (!rc && plan.tpe && (rc = nnl_train_check(&plan.tpe->probe, &probe.train, err, sizeof err)))
            fprintf(stderr, "%s: tpe: %s\n", c.positional, err);
        nnl_dataset_free(&probe);
        if (rc) {
            nnl_plan_free(&plan);
            return 2;
        }
    }
    nnl_signals_install();
    nnl_sweep_opts o = {.plan = &plan, .db = c.db, .jobs = c.jobs, .dry_run = c.dry_run, .progress = isatty(2),
                        .stop = &nnl_stop};
    rc = nnl_sweep(&o, err, sizeof err);
    if (rc == 2) fprintf(stderr, "%s\n", err);
    nnl_plan_free(&plan);
    return rc;
}

static int cmd_compare(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&compare_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    char err[1024], name[NNL_NAME_MAX];
    /* a file names its experiment; anything else is the name itself */
    if (!access(c.positional, F_OK)) {
        nnl_plan plan;
        if (nnl_plan_load(c.positional, NULL, 0, &plan, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
        snprintf(name, sizeof name, "%s", plan.name);
        nnl_plan_free(&plan);
    } else {
        snprintf(name, sizeof name, "%s", c.positional);
    }
    nnl_store *s = open_store(c.db, 1);
    if (!s) return 2;
    rc = nnl_compare(s, name, c.by, c.csv, stdout, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    nnl_store_close(s);
    return rc ? 2 : 0;
}

static void print_kv(const char *k, const char *v, void *ud) { printf("%s: %s\n", k, v); }

/* an experiment file has a top-level base: key; a config never does. A file
 * that cannot be read is no experiment: the config reader says why. */
static int looks_like_experiment(const char *path) {
    char why[160], *text;
    size_t len;
    int fd = nnl_input_open(path, 0, NULL, why, sizeof why);
    if (fd < 0) return 0;
    int rc = nnl_input_read(fd, YT_MAX_BYTES, &text, &len, why, sizeof why);
    close(fd);
    if (rc) return 0;
    int yes = 0;
    for (const char *p = text; p && !yes; p = strchr(p, '\n'), p = p ? p + 1 : NULL) yes = !strncmp(p, "base:", 5);
    free(text);
    return yes;
}

static int cmd_check(int argc, char **argv) {
    cli c;
    int rc = nnl_cli_parse(&check_cmd, argc, argv, &c);
    if (rc || c.help) return rc;
    if (looks_like_experiment(c.positional)) {
        nnl_plan plan;
        char err[1024];
        if (nnl_plan_load(c.positional, c.sets, c.nsets, &plan, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
        if (plan.tpe)
            printf("%s: ok (experiment %s, %d runs and %d tpe suggestions of %d run%s each, from %s)\n", c.positional,
                   plan.name, plan.nruns, plan.tpe->samples * plan.tpe->nsearch, plan.tpe->nseeds,
                   plan.tpe->nseeds == 1 ? "" : "s", plan.base);
        else
            printf("%s: ok (experiment %s, %d runs from %s)\n", c.positional, plan.name, plan.nruns, plan.base);
        if (c.print)
            for (int i = 0; i < plan.nruns; i++) printf("%s  %s\n", plan.runs[i].key, plan.runs[i].name);
        nnl_plan_free(&plan);
        return 0;
    }
    nnl_config cfg;
    if (load_config(&c, &cfg)) return 2;
    if (c.print) nnl_config_foreach(&cfg, print_kv, NULL);
    else {
        char key[17];
        nnl_config_key(&cfg, key);
        printf("%s: ok (%s, %d layers, key %s)\n", c.positional, cfg.name, cfg.nlayers, key);
    }
    return 0;
}

/* Every command: its name, what its arguments are, one line of what it
 * does (NULL: not listed, a command nnlab runs for itself), and the
 * function. The top-level help and the unknown-command message are written
 * from this table, so a command cannot run without being listed. */
static const struct {
    const char *name, *args, *what;
    int (*fn)(int, char **);
} cmds[] = {
    {"train", "CONFIG", "train the run a YAML config describes", cmd_train},
    {"test", "RUN", "evaluate a stored run's best checkpoint on the test set", cmd_test},
    {"summary", "CONFIG", "the model's layers, output shapes and parameter counts", cmd_summary},
    {"ls", "", "list the runs in the database", cmd_ls},
    {"show", "RUN", "one run: its config, every epoch, its test result", cmd_show},
    {"check", "FILE", "validate a config or an experiment without running it", cmd_check},
    {"sweep", "EXPERIMENT", "run an experiment's runs, in parallel, resumably", cmd_sweep},
    {"compare", "EXPERIMENT", "one row per grid point: mean +- std, 95% interval, against the best", cmd_compare},
    {"report", "RUN|EXPERIMENT", "figures (PNG, SVG) and an index.html, in results/reports/NAME/", nnl_report_cmd},
    {"merge", "SHARD.db...", "merge the shards of a Slurm sweep into the database", nnl_merge_cmd},
    {"status", "EXPERIMENT", "a Slurm sweep's runs (done, running, queued) and tasks", nnl_status_cmd},
    {"bench", "[CONFIG]", "time training epochs (default configs/lenet5.yaml)", cmd_bench},
    {"worker", "", NULL, nnl_worker_cmd}, /* a Slurm task's process */
};

static void usage_main(FILE *f) {
    fputs(usage_head, f);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (!cmds[i].what) continue;
        char head[64];
        snprintf(head, sizeof head, "%s %s", cmds[i].name, cmds[i].args);
        fprintf(f, "  %-22s %s\n", head, cmds[i].what);
    }
    fputs(usage_tail, f);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage_main(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nnlab %s%s%s\n", NNLAB_VERSION, *nnl_git_commit ? " " : "", nnl_git_commit);
        /* what a cluster with mixed nodes wants to know: one binary, which kernels it takes here */
        printf("kernels: %s on this CPU (%s); it also runs:", nn_isa_name(nn_isa_best()), nn_cpu_name());
        for (int i = NN_ISA_COUNT - 1; i >= 0; i--)
            if (i != (int)nn_isa_best() && nn_isa_supported((nn_isa)i)) printf(" %s", nn_isa_name((nn_isa)i));
        printf("; every path gives the same bits\n");
        return 0;
    }
    /* NNLAB_ISA forces a kernel path (every path gives the same bits; a
     * benchmark or a test may want a given one) */
    const char *isa = getenv("NNLAB_ISA");
    if (isa && *isa) {
        nn_isa want;
        char e[256];
        if (nn_isa_parse(isa, &want)) {
            fprintf(stderr, "nnlab: NNLAB_ISA=%s is not a kernel path (portable, avx2, avx512); unset it to take "
                            "the best this CPU runs (%s)\n", isa, nn_isa_name(nn_isa_best()));
            return 2;
        }
        if (nn_isa_set_default(want, e, sizeof e)) {
            fprintf(stderr, "nnlab: NNLAB_ISA=%s: %s\n", isa, e);
            return 2;
        }
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "nnlab: unknown command '%s' (commands:", argv[1]);
    for (size_t i = 0, n = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (cmds[i].what) fprintf(stderr, "%s %s", n++ ? "," : "", cmds[i].name);
    fprintf(stderr, "; see 'nnlab --help')\n");
    return 2;
}
