/* report_int.h -- what the files of `nnlab report` share (report.h is its
 * public side): one report's context, the figures drawn so far, an
 * experiment's runs grouped by grid point, and the helpers of each file.
 * Names are rp_ so that none can meet another file's. */
#ifndef NNL_REPORT_INT_H
#define NNL_REPORT_INT_H

#include <stdint.h>
#include <stdio.h>
#include "config.h"
#include "names.h"
#include "report.h"
#include "store.h"

#define MAX_KEYS 16      /* keys in one grid point */
#define MAX_AXIS 40      /* values along one side of a heat map */
#define MAX_CLASSES 64   /* the largest confusion matrix drawn */

typedef struct {
    const char *kind;
    char title[512];          /* the figure's title, its alt text */
    char caption[1024];
} figure;

/* What every figure of one report shares. */
typedef struct {
    const char *outdir;
    char plots[NNL_PATH_MAX];
    char gnuplot[NNL_PATH_MAX];
    char title_note[256];     /* "" or "(sweep in progress: 7 of 12 runs finished)" */
    figure figs[NNL_REPORT_MAX_FIGS];
    int nfigs;
    nnl_report_result *res;
    char *err;
    size_t errlen;
} rctx;

/* The values a figure's script gets from nnlab, written into memory and
 * handed to rp_draw: rp_vals_open, fprintf to .m, then rp_vals_draw. */
typedef struct {
    char *buf;
    size_t len;
    FILE *m;
} vals_buf;

/* A grid point ("variant") and its runs. */
typedef struct {
    char name[256];            /* "activation=relu,pool=max"; "" without a grid */
    int nkv;
    char key[MAX_KEYS][64], val[MAX_KEYS][64];
    int color;                 /* 1, 2, ...: its place in the stable order, its colour */
    int nruns, nfinished;
} xpoint;

typedef struct {
    int64_t id;
    int point;
    char status[16];
    double test;               /* fraction; NaN: none */
    nnl_epoch_row *ep;
    int nep;
} xrun;

typedef struct {
    const char *experiment;
    xpoint *p;
    int np;
    int *order;                /* np: point indices in the stable order */
    xrun *r;
    int nr;
    int any_epoch, any_val, any_test;
    int capp, capr, oom;       /* while loading */
} xdata;

typedef struct { double sum, min, max; int n; } stat1;

/* --- a hyperparameter search: the runs whose sweep.method is random or tpe --- */

#define MAX_CHOICES 40   /* values of one choice key drawn on an axis */

enum { SK_FLOAT, SK_LOG, SK_INT, SK_CHOICE };  /* a searched key's distribution (sweep.keys) */
enum { SM_RANDOM = 1, SM_TPE = 2 };            /* sweep.method; also the column in the .dat files */

typedef struct {
    char key[64];              /* "train.lr" */
    int kind;                  /* SK_* */
    int nchoice;               /* a choice key: its values seen, in rp_cmp_value order */
    char choice[MAX_CHOICES][64];
} skey;

/* One sample of a search (sweep.trial), its runs -- one per training seed -- pooled. */
typedef struct {
    int exp;                   /* 0: the report's experiment, 1: the one compared with */
    int method;                /* SM_* */
    unsigned long long search; /* sweep.search: the search seed */
    int trial;                 /* sweep.trial, from 0 */
    int runs, spent;           /* its runs, and those run (finished, pruned, diverged, failed) */
    stat1 acc;                 /* best validation accuracy (%) of its spent runs that have one */
    char val[MAX_KEYS][64];    /* the value of each of sdata.keys, "" if not recorded */
} spoint;

typedef struct {
    const char *exp_name[2];
    int nexp;
    int nkeys;                 /* the searched keys of experiment 0 */
    skey keys[MAX_KEYS];
    spoint *p;                 /* sorted by exp, method, search, trial */
    int np, cap;
    int skipped;               /* search runs whose sweep.* params could not be read */
} sdata;

/* One side of a heat map. */
typedef struct {
    const char *key;
    int n, numeric, log;
    const char *val[MAX_AXIS];
    double pos[MAX_AXIS], lo[MAX_AXIS], hi[MAX_AXIS];
} axis;

/* --- report.c ---------------------------------------------------------- */

/* err = the formatted message on one line (SQLite's messages quote what a
 * file holds); returns rc */
int rp_fail(char *err, size_t errlen, int rc, const char *fmt, ...);

/* --- report_data.c: the numbers --------------------------------------------- */

/* The runs of experiment with their epochs, grouped by grid point and the
 * points in their stable order; 0, or NNL_REPORT_EINPUT with err set. */
int rp_xdata_load(nnl_store *s, const char *experiment, xdata *x, char *err, size_t errlen);
void rp_xdata_free(xdata *x);
/* a whole string that is a number */
int rp_parse_num(const char *s, double *v);
/* numbers by value, the rest as text: 0.0003 before 0.001, 32 before 128 */
int rp_cmp_value(const char *a, const char *b);
/* the point's name, or "all runs (no grid)" */
const char *rp_point_title(const xpoint *p);
/* the point's name with one key per line, for tic labels */
void rp_point_label(const xpoint *p, char *out, size_t n);
/* the most seeds any grid point has */
int rp_max_seeds(const xdata *x);
/* a finite v joins the sum, min and max */
void rp_stat_add(stat1 *s, double v);
double rp_stat_mean(const stat1 *s);
/* Whether the experiment is a full grid of two keys, with its axes; why
 * not in why. */
int rp_heatmap_fits(const xdata *x, axis *ax, axis *ay, char *why, size_t n);
/* v's place on a, or -1 */
int rp_axis_index(const axis *a, const char *v);

/* --- report_gnuplot.c: scripts and gnuplot ---------------------------------- */

/* The templates and gnuplot for o; 0, or NNL_REPORT_EINPUT with err set. */
int rp_ctx_init(rctx *c, const nnl_report_opts *o, nnl_report_result *res, char *err, size_t errlen);
/* OUTDIR/NAME opened for writing; NULL with the error in c->err */
FILE *rp_open_out(rctx *c, const char *name, char *path, size_t n);
/* closes f, checking that every write reached it */
int rp_close_out(rctx *c, FILE *f, const char *path);
/* Writes OUTDIR/KIND.gp -- the values (vals: gnuplot assignments), then
 * colors.gp, then the template -- and runs gnuplot on it. On success the
 * figure joins the report with its caption. */
int rp_draw(rctx *c, const char *kind, const char *title, const char *vals, const char *caption);
int rp_vals_open(rctx *c, vals_buf *v);
int rp_vals_draw(rctx *c, vals_buf *v, const char *kind, const char *title, const char *caption);
/* removes the files of every figure kind this report did not draw */
void rp_drop_stale(rctx *c);
/* now as 2026-01-31T12:00:00Z */
void rp_utc_now(char *out, size_t n);
/* A gnuplot string constant in which no character is special: double
 * quotes, with \ and " escaped, and the characters gnuplot would act on as
 * octal escapes. gnuplot runs backquoted text as a shell command even inside
 * double quotes (`touch /tmp/p` in a run name ran during `nnlab report` and
 * at every redraw of the saved script), but not a backquote written \140;
 * control characters (a newline ends the line, so the rest would be a
 * command) are written \ooo too, and @ (a macro) as \100 for good measure. */
void rp_gp_quote(FILE *f, const char *s);
/* A tic label: gnuplot reads explicit tic labels as formats, so % is doubled. */
void rp_gp_quote_tic(FILE *f, const char *s);
/* A number for gnuplot and the .dat files; NaN marks a missing value. */
void rp_put_num(FILE *f, double v);
/* the gnuplot line `name = v` */
void rp_hv_num(FILE *f, const char *name, double v);
/* Text in a comment line of a .dat file: a control character becomes '?',
 * so no name can end the comment and add a row of numbers. Names are
 * checked where they are read (names.h, store.c); this holds whatever
 * slips past. */
void rp_dat_text(FILE *f, const char *s);

/* --- report_figures.c: each figure's numbers and values --------------------- */

int rp_run_curves(rctx *c, const nnl_run_row *r, const char *label, const nnl_epoch_row *ep, int nep);
int rp_run_confusion(rctx *c, const nnl_run_row *r, const char *label, const int64_t *conf, const double *cacc,
                     int nc);
int rp_exp_curves(rctx *c, const xdata *x);
int rp_exp_bars(rctx *c, const xdata *x);
int rp_exp_seconds(rctx *c, const xdata *x);
int rp_exp_heatmap(rctx *c, const xdata *x, const axis *ax, const axis *ay);

/* --- report_search.c: the figures of random and TPE searches ---------------- */

/* The search runs of experiment and, when compare_with is not NULL, of that
 * one too. 0 (sd->np == 0: no search runs; a damaged sweep.keys, or a key
 * search-parallel and search-keys cannot draw, is said in why and leaves
 * sd->nkeys 0: search-best alone), or NNL_REPORT_EINPUT with err set. */
int rp_search_load(nnl_store *s, const char *experiment, const char *compare_with, sdata *sd, char *why,
                   size_t whylen, char *err, size_t errlen);
void rp_search_free(sdata *sd);
/* whether experiment 0 has samples with an accuracy: search-parallel and search-keys */
int rp_search_has_points(const sdata *sd);
int rp_search_parallel(rctx *c, const sdata *sd);
int rp_search_keys(rctx *c, const sdata *sd);
int rp_search_best(rctx *c, const sdata *sd);

/* --- report_html.c: index.html ---------------------------------------------- */

/* OUTDIR/index.html opened for writing, its path in c->res->index */
int rp_html_open(rctx *c, FILE **f, char *path, size_t n);
void rp_html_run(FILE *f, const rctx *c, const nnl_run_row *r, const nnl_epoch_row *ep, int nep, const char *db);
void rp_html_experiment(FILE *f, const rctx *c, nnl_store *s, const xdata *x, const char *notes);
/* s with & < > " escaped */
void rp_html_text(FILE *f, const char *s);

#endif
