/* report.h -- `nnlab report`: the figures of a run or of an experiment,
 * drawn by gnuplot from the templates in plots/, with an index.html that
 * shows them all.
 *
 *     char err[1024];
 *     nnl_report_opts o = {.outdir = "results/reports/act-pool"};
 *     nnl_report_result res;
 *     int rc = nnl_report_experiment(s, "act-pool", &o, &res, err, sizeof err);
 *     if (rc) fprintf(stderr, "%s\n", err);   // NNL_REPORT_EINPUT or NNL_REPORT_EPLOT
 *     else printf("%s\n", res.index);
 *
 * Every figure is one kind of template, plots/KIND.gp. For each figure the
 * report folder gets:
 *   KIND.dat   the numbers gnuplot read: whitespace-separated columns under a
 *              header comment that names them
 *   KIND.gp    the exact script that drew it: the values nnlab substituted
 *              (`name = ...` lines and gnuplot arrays), then plots/colors.gp,
 *              then the template; `cd DIR && gnuplot KIND.gp` draws it again
 *   KIND.png   (pngcairo) and KIND.svg, both written by that one script
 * and index.html shows them with links to the SVG, data and script.
 *
 * Figure kinds: run-curves and confusion for a run; exp-curves, exp-bars,
 * exp-heatmap (grids of exactly two keys) and exp-seconds for an experiment;
 * search-parallel, search-keys and search-best for an experiment with random
 * or TPE searches among its runs (param sweep.method, see report_search.c).
 * The variants (grid points) of an experiment are numbered 1, 2, ... in a
 * stable order -- their names sorted key by key, numbers by value -- and
 * variant i has colour i of plots/colors.gp in every figure.
 *
 * Templates are found in $NNLAB_PLOTS if set, else in DIR/plots beside the
 * executable (the source tree: ./nnlab and ./plots), else in
 * DIR/../share/nnlab/plots (an installed nnlab). gnuplot is run from $PATH;
 * Debian's headless build is the package gnuplot-nox.
 */
#ifndef NNL_REPORT_H
#define NNL_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

/* Returns of nnl_report_run and nnl_report_experiment */
enum {
    NNL_REPORT_OK = 0,
    NNL_REPORT_EINPUT = -1, /* nothing to report, unreadable database or template, missing
                               gnuplot, output folder not writable: `nnlab report` exits 2 */
    NNL_REPORT_EPLOT = -2   /* gnuplot failed on a figure: exits 1 */
};

typedef struct {
    const char *outdir;       /* the report folder; created (with parents) if missing */
    const char *plots_dir;    /* the templates; NULL: nnl_report_plots_dir */
    const char *gnuplot;      /* the gnuplot program; NULL: "gnuplot" from $PATH */
    int planned_runs;         /* experiments: the runs the experiment file declares,
                                 so runs not yet queued count as unfinished; 0: unknown */
    const char *compare_with; /* experiments: a second experiment whose random and TPE searches
                                 search-best overlays on the first's; NULL: none */
} nnl_report_opts;

/* an experiment draws at most 7: its 4 and the 3 of a search */
#define NNL_REPORT_MAX_FIGS 10

typedef struct {
    char index[1200];         /* OUTDIR/index.html */
    int nfigs;
    char figs[NNL_REPORT_MAX_FIGS][1200]; /* OUTDIR/KIND.png of each figure drawn */
    int runs, finished;       /* experiment: runs counted, runs finished */
    int in_progress;          /* experiment: some runs are queued or running */
    char warnings[2048];      /* gnuplot's warnings on figures it did draw; "" if none */
} nnl_report_result;

/* The report of one run: run-curves (loss and accuracy against the epoch,
 * training and validation) and confusion (the test confusion matrix with the
 * FashionMNIST class names, counts in the cells). */
int nnl_report_run(nnl_store *s, int64_t run, const nnl_report_opts *o, nnl_report_result *res,
                   char *err, size_t errlen);

/* The report of the runs whose experiment column is experiment, grouped by
 * their grid point (param sweep.point): validation curves with min-max bands
 * over seeds, test accuracy bars with min-max error bars, a heat map of test
 * accuracy for a two-key grid, seconds per epoch, and index.html with the
 * `nnlab compare` table. Unfinished runs show what they have so far, and the
 * titles and the page say so. Random and TPE searches among the runs add
 * parallel coordinates of the searched keys, accuracy against each key, and
 * the best accuracy so far against the runs spent (o->compare_with: with a
 * second experiment's searches overlaid). */
int nnl_report_experiment(nnl_store *s, const char *experiment, const nnl_report_opts *o,
                          nnl_report_result *res, char *err, size_t errlen);

/* Where the templates are (see the top of this file): 0, or -1 with one
 * line in err naming every folder looked in. */
int nnl_report_plots_dir(char *out, size_t n, char *err, size_t errlen);

/* Whether grid values are best shown on a log axis: all positive, the
 * largest at least 10 times the smallest, and steps more even in log than
 * in linear (0.0003 0.001 0.003 0.01 and 32 128 512 are; 1 2 3 4 is not).
 * v need not be sorted. */
int nnl_report_log_spaced(const double *v, int n);

/* `nnlab report RUN|EXPERIMENT [EXPERIMENT2] [--db PATH] [--out DIR]`,
 * argv[0] being "report"; EXPERIMENT2 is opts.compare_with. Prints where the report went; returns the exit status: 0, 1
 * (gnuplot failed), 2 (bad input, gnuplot missing). */
int nnl_report_cmd(int argc, char **argv);

#endif
