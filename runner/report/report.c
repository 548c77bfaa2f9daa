/* report.c -- `nnlab report`: the command, and the two reports it writes.
 *
 * A report reads its numbers from the store (report_data.c), writes each
 * figure's numbers and values (report_figures.c), assembles each figure's
 * gnuplot script from them, plots/colors.gp and the figure's template and
 * runs gnuplot on it (report_gnuplot.c), and writes an index.html that shows
 * the figures beside the `nnlab compare` table (report_html.c). This file
 * holds what ties them: the order of the figures, the notes on what could
 * not be drawn, and the command line.
 */
#include "report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "experiment.h"
#include "proc.h"
#include "report_int.h"


int rp_fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        nnl_text_one_line(err); /* SQLite's messages quote what a file holds */
    }
    return rc;
}

static int is_dir(const char *p) {
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* mkdir -p, then a check that the folder takes files */
static int make_dirs(const char *path, char *err, size_t errlen) {
    if (nnl_mkdirs(path, 0777, "the report folder", err, errlen)) {
        nnl_text_one_line(err);
        return NNL_REPORT_EINPUT;
    }
    if (!is_dir(path) || access(path, W_OK))
        return rp_fail(err, errlen, NNL_REPORT_EINPUT, "%s: not a writable folder (choose another with --out DIR)", path);
    return 0;
}

int nnl_report_run(nnl_store *s, int64_t run, const nnl_report_opts *o, nnl_report_result *res, char *err,
                   size_t errlen) {
    rctx c;
    int rc = rp_ctx_init(&c, o, res, err, errlen);
    if (rc) return rc;
    nnl_run_row r;
    if (nnl_store_run_get(s, run, &r, err, errlen)) return NNL_REPORT_EINPUT;
    nnl_epoch_row *ep = NULL;
    int64_t *conf = malloc(sizeof *conf * MAX_CLASSES * MAX_CLASSES);
    double cacc[MAX_CLASSES];
    int nep = -1, nc = -1;
    rc = NNL_REPORT_EINPUT;
    if (!conf) { rp_fail(err, errlen, 0, "out of memory"); goto out; }
    if ((nep = nnl_store_epochs_get(s, run, &ep, err, errlen)) < 0) goto out;
    if ((nc = nnl_store_test_get(s, run, conf, cacc, MAX_CLASSES, err, errlen)) < 0) goto out;
    if (!nep && !nc) {
        rp_fail(err, errlen, 0, "%s: run %lld (%s) has no finished epoch yet: nothing to draw", nnl_store_path(s),
             (long long)run, r.status);
        goto out;
    }
    char label[400];
    snprintf(label, sizeof label, "run %lld (%s)", (long long)r.id, r.name ? r.name : r.key);
    char epochs[64];
    if (nnl_store_param_get(s, run, "train.epochs", epochs, sizeof epochs, err, errlen) < 0) goto out;
    if (!strcmp(r.status, "running") || !strcmp(r.status, "queued"))
        snprintf(c.title_note, sizeof c.title_note, "(run in progress: %d of %s epochs finished)", r.epochs_done,
                 epochs[0] ? epochs : "?");
    else if (strcmp(r.status, "finished"))
        snprintf(c.title_note, sizeof c.title_note, "(run %s after %d epochs)", r.status, r.epochs_done);
    if ((rc = make_dirs(c.outdir, err, errlen))) goto out;
    if (nep && (rc = rp_run_curves(&c, &r, label, ep, nep))) goto out;
    if (nc && (rc = rp_run_confusion(&c, &r, label, conf, cacc, nc))) goto out;
    char path[NNL_PATH_MAX + 64];
    FILE *f;
    if ((rc = rp_html_open(&c, &f, path, sizeof path))) goto out;
    rp_html_run(f, &c, &r, ep, nep, nnl_store_path(s));
    if (!(rc = rp_close_out(&c, f, path))) rp_drop_stale(&c);
out:
    free(conf);
    free(ep);
    nnl_run_row_free(&r);
    return rc;
}

/* notes += "<p class=\"CLASS\">TEXT</p>", TEXT (which may quote a database) escaped */
static void add_note(char *notes, size_t *nn, size_t cap, const char *cls, const char *text) {
    if (*nn >= cap) return;
    char *esc = NULL;
    size_t esclen = 0;
    FILE *m = open_memstream(&esc, &esclen);
    if (m) {
        rp_html_text(m, text);
        fclose(m);
    }
    *nn += (size_t)snprintf(notes + *nn, cap - *nn, "<p class=\"%s\">%s</p>\n", cls, esc ? esc : "");
    free(esc);
}

/* The figures of the random and TPE searches among the runs, if any, with
 * a second experiment's searches in search-best; what is left out and why
 * goes to notes. */
static int search_figures(rctx *c, nnl_store *s, const char *experiment, const char *compare_with, char *notes,
                          size_t *nn, size_t cap) {
    sdata sd;
    char why[600], line[800];
    int rc = rp_search_load(s, experiment, compare_with, &sd, why, sizeof why, c->err, c->errlen);
    if (rc) return rc;
    if (why[0]) add_note(notes, nn, cap, "note", why);
    if (sd.skipped) {
        snprintf(line, sizeof line, "%d search runs left out of the search figures: their sweep.search or "
                 "sweep.trial is not a whole number.", sd.skipped);
        add_note(notes, nn, cap, "note", line);
    }
    int exp0 = 0, exp1 = 0;
    for (int i = 0; i < sd.np; i++) *(sd.p[i].exp ? &exp1 : &exp0) = 1;
    if (compare_with && !exp1) {
        snprintf(line, sizeof line, "Experiment %s has no random or TPE search runs to compare with.", compare_with);
        add_note(notes, nn, cap, "note", line);
    }
    if (rp_search_has_points(&sd)) {
        if ((rc = rp_search_parallel(c, &sd)) || (rc = rp_search_keys(c, &sd))) goto out;
    }
    rc = exp0 || exp1 ? rp_search_best(c, &sd) : 0;
out:
    rp_search_free(&sd);
    return rc;
}

int nnl_report_experiment(nnl_store *s, const char *experiment, const nnl_report_opts *o, nnl_report_result *res,
                          char *err, size_t errlen) {
    rctx c;
    int rc = rp_ctx_init(&c, o, res, err, errlen);
    if (rc) return rc;
    xdata x;
    if ((rc = rp_xdata_load(s, experiment, &x, err, errlen))) return rc;

    int nst[8] = {0};
    static const char *const states[8] = {"finished", "failed", "diverged", "pruned", "interrupted", "running",
                                          "queued", ""};
    for (int i = 0; i < x.nr; i++) {
        int k = 0;
        while (k < 7 && strcmp(x.r[i].status, states[k])) k++;
        nst[k]++;
    }
    res->finished = nst[0];
    res->runs = o->planned_runs > x.nr ? o->planned_runs : x.nr;
    res->in_progress = nst[5] + nst[6] > 0;
    if (res->in_progress)
        snprintf(c.title_note, sizeof c.title_note, "(sweep in progress: %d of %d runs finished)", res->finished,
                 res->runs);
    else if (res->finished < res->runs) {
        int n = snprintf(c.title_note, sizeof c.title_note, "(%d of %d runs finished", res->finished, res->runs);
        for (int k = 1; k < 5 && n < (int)sizeof c.title_note; k++)
            if (nst[k]) n += snprintf(c.title_note + n, sizeof c.title_note - (size_t)n, ", %d %s", nst[k], states[k]);
        if (res->runs > x.nr && n < (int)sizeof c.title_note)
            n += snprintf(c.title_note + n, sizeof c.title_note - (size_t)n, ", %d not started", res->runs - x.nr);
        if (n < (int)sizeof c.title_note) snprintf(c.title_note + n, sizeof c.title_note - (size_t)n, ")");
    }

    char notes[1024] = "";
    size_t nn = 0;
    axis ax, ay;
    char why[300];
    if ((rc = make_dirs(c.outdir, err, errlen))) goto out;
    if (x.any_val) {
        if ((rc = rp_exp_curves(&c, &x))) goto out;
    } else {
        nn += (size_t)snprintf(notes + nn, sizeof notes - nn, "<p class=\"note\">No validation curves: %s.</p>\n",
                               x.any_epoch ? "the runs have no validation split" : "no epoch has finished yet");
    }
    if (x.any_test) {
        if ((rc = rp_exp_bars(&c, &x))) goto out;
        if (rp_heatmap_fits(&x, &ax, &ay, why, sizeof why)) {
            if ((rc = rp_exp_heatmap(&c, &x, &ax, &ay))) goto out;
        } else {
            /* why names the grid's keys: text of the experiment, escaped like the rest */
            char line[400];
            snprintf(line, sizeof line, "No heat map: %s.", why);
            add_note(notes, &nn, sizeof notes, "small", line);
        }
    } else if (nn < sizeof notes) {
        nn += (size_t)snprintf(notes + nn, sizeof notes - nn,
                               "<p class=\"note\">No test accuracy yet: no run has finished.</p>\n");
    }
    if (x.any_epoch && (rc = rp_exp_seconds(&c, &x))) goto out;
    if ((rc = search_figures(&c, s, experiment, o->compare_with, notes, &nn, sizeof notes))) goto out;
    char path[NNL_PATH_MAX + 64];
    FILE *f;
    if ((rc = rp_html_open(&c, &f, path, sizeof path))) goto out;
    rp_html_experiment(f, &c, s, &x, notes);
    if (!(rc = rp_close_out(&c, f, path))) rp_drop_stale(&c);
out:
    rp_xdata_free(&x);
    return rc;
}

static const nnl_command report_cmd = {
    .name = "report", .args = "RUN|EXPERIMENT [EXPERIMENT2]", .min_args = 1, .max_args = 2,
    .missing = "a run or an experiment",
    .about =
        "Draws the figures of a run or of an experiment with gnuplot, as PNG and SVG,\n"
        "and an index.html that shows them all (it works offline and has no scripts).\n"
        "\n"
        "  RUN         a run id or a unique prefix of its key (see 'nnlab ls'): its loss\n"
        "              and accuracy by epoch, training and validation side by side, and\n"
        "              its test confusion matrix with the class names\n"
        "  EXPERIMENT  an experiment file or an experiment's name: per grid point, the\n"
        "              validation accuracy and loss by epoch (mean over seeds, a band\n"
        "              from the lowest to the highest seed), test accuracy bars (error\n"
        "              bars: the 95% interval of the mean with 3 seeds or more, else\n"
        "              lowest to highest seed; the points within the seed noise of the\n"
        "              best marked), a heat map of test accuracy when\n"
        "              the grid has two keys (log axes for log-spaced values), seconds\n"
        "              per epoch, and the 'nnlab compare' table. A sweep still running\n"
        "              is drawn as far as it has got, and its figures say so.\n"
        "              With random or TPE searches among its runs, three more figures,\n"
        "              each sample of a search one point (its seeds pooled, its accuracy\n"
        "              the mean best validation accuracy): parallel coordinates of the\n"
        "              searched keys coloured by accuracy (search-parallel), accuracy\n"
        "              against each key, log axes for log-distributed keys (search-keys),\n"
        "              and the best accuracy so far against the runs spent, a line per\n"
        "              search and the mean per method, random and TPE told apart\n"
        "              (search-best).\n"
        "  EXPERIMENT2 a second experiment file or name: the report of EXPERIMENT, its\n"
        "              search-best overlaying EXPERIMENT2's searches on EXPERIMENT's,\n"
        "              written to reports/EXPERIMENT-vs-EXPERIMENT2 by default.\n",
    .opts = {{NNL_OPT_DB},
             {NNL_OPT_OUT, "the report folder (default: reports/NAME in the database's folder,\n"
                           "e.g. results/reports/act-pool or results/reports/run-12)"}},
    .after =
        "For each figure the folder holds KIND.png, KIND.svg, KIND.dat (the numbers\n"
        "drawn, its columns named in its header) and KIND.gp, the exact script: the\n"
        "values nnlab substituted, plots/colors.gp, then the template. Run\n"
        "'gnuplot KIND.gp' in the folder to redraw a figure after editing it.\n"
        "\n"
        "The templates, one per figure kind, are the plots/*.gp files found in\n"
        "$NNLAB_PLOTS if set, else in plots/ beside the nnlab executable, else in\n"
        "../share/nnlab/plots from it. Edit them to restyle every report;\n"
        "plots/colors.gp gives each grid point one colour in every figure.\n"
        "gnuplot is taken from PATH (Debian: apt install gnuplot-nox).\n"
        "\n"
        "exit status: 0 written, 1 gnuplot failed on a template, 2 bad input or no gnuplot.\n",
};

/* An existing file is an experiment file: its name into name, the runs it
 * plans into *planned. 0 (name stays "" when arg is no file), or 2 after a
 * line on stderr. */
static int experiment_file(const char *arg, char *name, size_t n, int *planned) {
    struct stat st;
    char err[2048];
    if (stat(arg, &st) || !S_ISREG(st.st_mode)) return 0;
    nnl_plan plan;
    if (nnl_plan_load(arg, NULL, 0, &plan, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    snprintf(name, n, "%s", plan.name);
    /* a tpe: block's runs are suggested as the sweep goes: count them too */
    *planned = nnl_plan_max_runs(&plan);
    nnl_plan_free(&plan);
    return 0;
}

/* The first argument when it is no experiment file: an experiment in the
 * store (its name into name) or a run (*run). 0, or 2 after a line on stderr. */
static int experiment_or_run(nnl_store *s, const char *arg, const char *db, int two, char *name, size_t n,
                             int64_t *run) {
    char err[2048];
    int is_exp = nnl_store_has_experiment(s, arg, err, sizeof err);
    if (is_exp > 0) {
        snprintf(name, n, "%s", arg);
        return 0;
    }
    if (is_exp < 0) fprintf(stderr, "%s\n", err);
    else if (two) fprintf(stderr, "nnlab report: '%s' is no experiment file and no experiment in %s\n", arg, db);
    else if ((*run = nnl_store_find_run(s, arg, err, sizeof err)) < 0)
        fprintf(stderr, "nnlab report: '%s' is no experiment file, no experiment in %s, and no run: %s\n", arg,
                db, err);
    return is_exp < 0 || two || *run < 0 ? 2 : 0;
}

/* The report folder: --out, else reports/FOLDER beside the database. */
static void report_folder(const char *db, const char *out, int64_t run, const char *name, const char *name2,
                          char *outdir, size_t n) {
    char folder[2 * NNL_NAME_MAX + 32], second[NNL_NAME_MAX];
    if (run) snprintf(folder, sizeof folder, "run-%lld", (long long)run);
    else nnl_name_to_path(name, "report", folder, NNL_NAME_MAX);
    if (name2[0]) {
        /* not reports/NAME: that folder is the one-experiment report's */
        nnl_name_to_path(name2, "report", second, sizeof second);
        size_t used = strlen(folder);
        snprintf(folder + used, sizeof folder - used, "-vs-%s", second);
    }
    const char *slash = strrchr(db, '/');
    if (out) snprintf(outdir, n, "%s", out);
    else if (slash) snprintf(outdir, n, "%.*s/reports/%s", (int)(slash - db), db, folder);
    else snprintf(outdir, n, "reports/%s", folder);
}

int nnl_report_cmd(int argc, char **argv) {
    nnl_args a;
    int rc = nnl_cli_parse(&report_cmd, argc, argv, &a);
    if (rc || a.help) return rc;
    const char *db = a.db, *arg = a.positional, *arg2 = a.npos > 1 ? a.pos[1] : NULL;
    char err[2048], name[NNL_NAME_MAX] = "", name2[NNL_NAME_MAX] = "";
    int planned = 0, planned2 = 0;
    if (experiment_file(arg, name, sizeof name, &planned)) return 2;
    if (arg2 && experiment_file(arg2, name2, sizeof name2, &planned2)) return 2;
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    int64_t run = 0;
    if ((!name[0] && experiment_or_run(s, arg, db, arg2 != NULL, name, sizeof name, &run)) ||
        (arg2 && !name2[0] && experiment_or_run(s, arg2, db, 1, name2, sizeof name2, &run))) {
        nnl_store_close(s);
        return 2;
    }
    char outdir[NNL_PATH_MAX];
    report_folder(db, a.out, run, name, name2, outdir, sizeof outdir);

    nnl_report_opts o = {.outdir = outdir, .planned_runs = planned, .compare_with = arg2 ? name2 : NULL};
    nnl_report_result res;
    rc = run ? nnl_report_run(s, run, &o, &res, err, sizeof err)
                 : nnl_report_experiment(s, name, &o, &res, err, sizeof err);
    nnl_store_close(s);
    if (res.warnings[0]) fprintf(stderr, "nnlab report: gnuplot warned:\n%s\n", res.warnings);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return rc == NNL_REPORT_EPLOT ? 1 : 2;
    }
    if (run) printf("report of run %lld: %s\n", (long long)run, res.index);
    else if (res.finished < res.runs)
        printf("report of experiment %s (%s%d of %d runs finished): %s\n", name,
               res.in_progress ? "sweep in progress: " : "", res.finished, res.runs, res.index);
    else printf("report of experiment %s (%d runs): %s\n", name, res.runs, res.index);
    if (arg2) printf("  its searches compared with those of experiment %s in search-best\n", name2);
    for (int i = 0; i < res.nfigs; i++) printf("  %s\n", res.figs[i]);
    return 0;
}
