/* report_html.c -- the index.html of a report: the figures with their
 * captions and files, a run's table of epochs, an experiment's comparison
 * table. Every text from a database or an experiment is escaped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report_int.h"

#ifndef NNLAB_VERSION
#define NNLAB_VERSION "unknown"
#endif

static const char html_style[] =
    "body{font-family:system-ui,sans-serif;color:#222;max-width:1250px;margin:1.5em auto;padding:0 1em;"
    "line-height:1.4}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\n"
    "table{border-collapse:collapse;margin:.5em 0}th,td{padding:.2em .8em;border-bottom:1px solid #e4e4e4;"
    "text-align:right}th{background:#f4f4f4}td.k,th.k{text-align:left}\n"
    "figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}\n"
    "figcaption{font-size:.92em;color:#444;max-width:60em}\n"
    ".note{background:#fff4d6;border-left:4px solid #e0a800;padding:.5em 1em}\n"
    ".small{font-size:.88em;color:#555}code{background:#f4f4f4;padding:0 .2em}\n";

void rp_html_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void html_head(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    rp_html_text(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", html_style);
    rp_html_text(f, title);
    fputs("</h1>\n", f);
}

static void html_figures(FILE *f, const rctx *c) {
    for (int i = 0; i < c->nfigs; i++) {
        const char *k = c->figs[i].kind;
        fprintf(f, "<figure id=\"%s\">\n<a href=\"%s.svg\"><img src=\"%s.png\" alt=\"", k, k, k);
        rp_html_text(f, c->figs[i].title);
        fputs("\"></a>\n<figcaption>", f);
        rp_html_text(f, c->figs[i].caption);
        fprintf(f, "<br><span class=\"small\">Files: <a href=\"%s.svg\">%s.svg</a> · <a href=\"%s.png\">%s.png</a> · "
                   "<a href=\"%s.dat\">%s.dat</a> (the numbers drawn) · <a href=\"%s.gp\">%s.gp</a> "
                   "(the gnuplot script)</span></figcaption>\n</figure>\n", k, k, k, k, k, k, k, k);
    }
}

static void html_tail(FILE *f, const rctx *c, const char *db) {
    char now[32];
    rp_utc_now(now, sizeof now);
    fputs("<p class=\"small\">Written by nnlab " NNLAB_VERSION " on ", f);
    rp_html_text(f, now);
    fputs(" from the database <code>", f);
    rp_html_text(f, db);
    fputs("</code>, with the gnuplot templates in <code>", f);
    rp_html_text(f, c->plots);
    fputs("</code>. To restyle a figure, edit its <code>.gp</code> file here and run "
          "<code>gnuplot FILE.gp</code> in this folder, or edit the template and run "
          "<code>nnlab report</code> again.</p>\n</body>\n</html>\n", f);
}

int rp_html_open(rctx *c, FILE **f, char *path, size_t n) {
    *f = rp_open_out(c, "index.html", path, n);
    if (!*f) return NNL_REPORT_EINPUT;
    snprintf(c->res->index, sizeof c->res->index, "%s", path);
    return 0;
}

void rp_html_run(FILE *f, const rctx *c, const nnl_run_row *r, const nnl_epoch_row *ep, int nep,
                 const char *db) {
    char title[400];
    snprintf(title, sizeof title, "nnlab report: run %lld (%s)", (long long)r->id, r->name ? r->name : r->key);
    html_head(f, title);
    if (c->title_note[0]) {
        fputs("<p class=\"note\">", f);
        rp_html_text(f, c->title_note);
        fputs("</p>\n", f);
    }
    fputs("<table>\n", f);
    const char *rows[][2] = {{"key", r->key}, {"name", r->name}, {"experiment", r->experiment},
                             {"status", r->status}, {"started", r->started}, {"finished", r->finished},
                             {"host", r->host}, {"nnlab", r->version}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!rows[i][1]) continue;
        fprintf(f, "<tr><th class=\"k\">%s</th><td class=\"k\">", rows[i][0]);
        rp_html_text(f, rows[i][1]);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><th class=\"k\">parameters</th><td class=\"k\">%lld</td></tr>\n", (long long)r->nparams);
    if (r->best_epoch)
        fprintf(f, "<tr><th class=\"k\">best validation accuracy</th><td class=\"k\">%.2f%% (epoch %d)</td></tr>\n",
                100 * r->best_val_acc, r->best_epoch);
    if (isfinite(r->test_acc))
        fprintf(f, "<tr><th class=\"k\">test</th><td class=\"k\">accuracy %.2f%%, loss %.4f</td></tr>\n",
                100 * r->test_acc, r->test_loss);
    fputs("</table>\n<h2>Figures</h2>\n", f);
    html_figures(f, c);
    if (!nep) fputs("<p class=\"note\">No epoch finished yet: no training curves.</p>\n", f);
    if (!isfinite(r->test_acc))
        fputs("<p class=\"note\">No test result yet: no confusion matrix (a run is tested after its last "
              "epoch).</p>\n", f);
    if (nep) {
        fputs("<h2>Epochs</h2>\n<table>\n<tr><th>epoch</th><th>train loss</th><th>train acc</th><th>val loss</th>"
              "<th>val acc</th><th>lr</th><th>seconds</th></tr>\n", f);
        for (int i = 0; i < nep; i++)
            fprintf(f, "<tr><td>%d</td><td>%.4f</td><td>%.2f%%</td><td>%.4f</td><td>%.2f%%</td><td>%.3g</td>"
                       "<td>%.2f</td></tr>\n", ep[i].epoch, ep[i].train_loss, 100 * ep[i].train_acc, ep[i].val_loss,
                    100 * ep[i].val_acc, ep[i].lr, ep[i].seconds);
        fputs("</table>\n", f);
    }
    html_tail(f, c, db);
}

/* The comparison rows (nnl_store_compare, what `nnlab compare` prints) as an
 * HTML table: the keys, the seeds finished, and test and best validation
 * accuracy as mean ± std in %. */
static void html_compare(FILE *f, nnl_store *s, const char *experiment) {
    char err[1024];
    nnl_comparison cmp;
    if (nnl_store_compare(s, experiment, &cmp, err, sizeof err)) {
        fputs("<p class=\"note\">No comparison table: ", f);
        rp_html_text(f, err);
        fputs("</p>\n", f);
        return;
    }
    fputs("<table>\n<tr>", f);
    for (int k = 0; k < cmp.ncols; k++) {
        fputs("<th class=\"k\">", f);
        rp_html_text(f, cmp.cols[k]);
        fputs("</th>", f);
    }
    fputs("<th>seeds finished</th><th>test accuracy (%)</th><th>95% interval</th><th>best validation accuracy (%)</th>"
          "<th>p against the best</th><th>differs from the best</th></tr>\n", f);
    for (int i = 0; i < cmp.n; i++) {
        const nnl_compare_row *r = &cmp.rows[i];
        fputs("<tr>", f);
        for (int k = 0; k < cmp.ncols; k++) {
            char v[64];
            nnl_compare_value(r, cmp.cols[k], v, sizeof v);
            fputs("<td class=\"k\">", f);
            rp_html_text(f, v);
            fputs("</td>", f);
        }
        fprintf(f, "<td>%d of %d</td>", r->finished, r->runs);
        const double ms[2][2] = {{r->test_mean, r->test_std}, {r->val_mean, r->val_std}};
        for (int k = 0; k < 2; k++) {
            if (isfinite(ms[k][0])) fprintf(f, "<td>%.2f ± %.2f</td>", 100 * ms[k][0], 100 * ms[k][1]);
            else fputs("<td>–</td>", f);
            if (k) continue;
            if (isfinite(r->test_half))
                fprintf(f, "<td>%.2f – %.2f</td>", 100 * (r->test_mean - r->test_half), 100 * (r->test_mean + r->test_half));
            else fputs("<td>–</td>", f);
        }
        if (isfinite(r->p_holm)) fprintf(f, r->p_holm < 0.001 ? "<td>&lt; 0.001</td>" : "<td>%.3f</td>", r->p_holm);
        else fputs("<td>–</td>", f);
        const char *verdict = nnl_compare_verdict(r, i);
        fprintf(f, "<td>%s</td></tr>\n", verdict ? verdict : "–");
    }
    fputs("</table>\n<p class=\"small\">One row per grid point, best test accuracy first; mean ± standard "
          "deviation over the finished seeds, the 95% interval of the mean (Student's t), and Welch's t-test of "
          "each point against the best, Holm-corrected over the points: \"no\" means the difference is within "
          "the seed noise at the 5% level (the table of <code>nnlab compare</code>).</p>\n", f);
    nnl_comparison_free(&cmp);
}

void rp_html_experiment(FILE *f, const rctx *c, nnl_store *s, const xdata *x, const char *notes) {
    char title[300];
    snprintf(title, sizeof title, "nnlab report: experiment %s", x->experiment);
    html_head(f, title);
    if (c->title_note[0]) {
        fputs("<p class=\"note\">", f);
        rp_html_text(f, c->title_note);
        fputs(c->res->in_progress ? " The figures show the epochs and runs finished so far; run the report "
                                    "again when the sweep is done.</p>\n" : "</p>\n", f);
    }
    fprintf(f, "<p>%d runs in %d grid points; %d finished.</p>\n", c->res->runs, x->np, c->res->finished);
    fputs("<h2>Comparison</h2>\n", f);
    html_compare(f, s, x->experiment);
    fputs("<h2>Figures</h2>\n", f);
    if (*notes) fputs(notes, f);
    html_figures(f, c);
    html_tail(f, c, nnl_store_path(s));
}
