/* report_figures.c -- each figure of a report: its KIND.dat (the numbers
 * drawn, columns named in a header comment) and the values its template
 * reads, handed to rp_draw. run-curves and confusion for a run; exp-curves,
 * exp-bars, exp-seconds and exp-heatmap for an experiment. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data.h"
#include "report_int.h"
#include "stats.h"

int rp_run_curves(rctx *c, const nnl_run_row *r, const char *label, const nnl_epoch_row *ep, int nep) {
    char path[NNL_PATH_MAX + 64], now[32];
    FILE *f = rp_open_out(c, "run-curves.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    rp_utc_now(now, sizeof now);
    fputs("# run-curves.dat -- nnlab report of ", f);
    rp_dat_text(f, label);
    fprintf(f, ", %s: its metrics by epoch.\n", now);
    fputs("# loss: mean cross-entropy; accuracy in %; lr: the learning rate of the epoch; seconds: its wall time;\n"
          "# NaN: not recorded\n# epoch train_loss val_loss train_acc val_acc lr seconds\n", f);
    int last = 0;
    for (int i = 0; i < nep; i++) {
        const nnl_epoch_row *e = &ep[i];
        fprintf(f, "%d ", e->epoch);
        double v[6] = {e->train_loss, e->val_loss, 100 * e->train_acc, 100 * e->val_acc, e->lr, e->seconds};
        for (int k = 0; k < 6; k++) {
            rp_put_num(f, v[k]);
            fputc(k < 5 ? ' ' : '\n', f);
        }
        if (e->epoch > last) last = e->epoch;
    }
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;

    char title[512], vals[256], caption[1024];
    if (isfinite(r->test_acc))
        snprintf(title, sizeof title, "%s: training curves (test accuracy %.2f%%)", label, 100 * r->test_acc);
    else
        snprintf(title, sizeof title, "%s: training curves", label);
    snprintf(vals, sizeof vals, "nepochs = %d\nbest_epoch = %d\n", last, r->best_epoch <= last ? r->best_epoch : 0);
    snprintf(caption, sizeof caption,
             "Loss (mean cross-entropy, left) and accuracy (right) of each epoch on the training split "
             "(solid) and the validation split (dashed)%s.",
             r->best_epoch ? "; the dotted line marks the epoch of the best validation accuracy, whose "
                             "checkpoint is the one tested" : "");
    return rp_draw(c, "run-curves", title, vals, caption);
}

int rp_run_confusion(rctx *c, const nnl_run_row *r, const char *label, const int64_t *conf,
                     const double *cacc, int nc) {
    char path[NNL_PATH_MAX + 64], now[32];
    FILE *f = rp_open_out(c, "confusion.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    rp_utc_now(now, sizeof now);
    fputs("# confusion.dat -- nnlab report of ", f);
    rp_dat_text(f, label);
    fprintf(f, ", %s: its test confusion matrix.\n", now);
    fputs("# row: the true class, column: the predicted class, both in class order; a count of test images.\n"
          "# classes:", f);
    int64_t total = 0, maxc = 0;
    for (int k = 0; k < nc; k++) {
        if (nc == NNL_CLASSES) fprintf(f, " %d %s%s", k, nnl_class_names[k], k + 1 < nc ? "," : "\n");
        else fprintf(f, " %d%s", k, k + 1 < nc ? "," : "\n");
    }
    for (int i = 0; i < nc; i++)
        for (int j = 0; j < nc; j++) {
            int64_t v = conf[i * nc + j];
            fprintf(f, "%lld%c", (long long)v, j + 1 < nc ? ' ' : '\n');
            total += v;
            if (v > maxc) maxc = v;
        }
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;

    vals_buf v;
    if (rp_vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    fprintf(m, "nclasses = %d\nmax_count = %lld\narray class_names[%d] = [", nc, (long long)maxc, nc);
    for (int k = 0; k < nc; k++) {
        char name[32];
        snprintf(name, sizeof name, "%d", k);
        rp_gp_quote_tic(m, nc == NNL_CLASSES ? nnl_class_names[k] : name);
        fputs(k + 1 < nc ? ", " : "]\n", m);
    }
    fprintf(m, "array class_acc[%d] = [", nc);
    for (int k = 0; k < nc; k++) {
        rp_put_num(m, 100 * cacc[k]);
        fputs(k + 1 < nc ? ", " : "]\n", m);
    }
    char title[512], caption[512];
    snprintf(title, sizeof title, "%s: test confusion matrix (%lld images, accuracy %.2f%%)", label,
             (long long)total, 100 * r->test_acc);
    snprintf(caption, sizeof caption,
             "Test confusion matrix: each row is a true class, each column the class predicted, each cell the "
             "number of test images; the right axis gives each true class's accuracy (recall).");
    rc = rp_vals_draw(c, &v, "confusion", title, caption);
    return rc;
}

static void put_stat(FILE *f, const stat1 *s) {
    rp_put_num(f, rp_stat_mean(s));
    fputc(' ', f);
    rp_put_num(f, s->n ? s->min : NAN);
    fputc(' ', f);
    rp_put_num(f, s->n ? s->max : NAN);
}

static void dat_head(FILE *f, const char *file, const xdata *x, const char *what) {
    char now[32];
    rp_utc_now(now, sizeof now);
    fprintf(f, "# %s -- nnlab report of experiment ", file);
    rp_dat_text(f, x->experiment);
    fprintf(f, ", %s:\n# %s\n", now, what);
}

/* the variant (grid point) tics shared by the bar charts */
static void put_point_labels(FILE *m, const xdata *x) {
    int lines = 1, chars = 1;
    for (int k = 0; k < x->np; k++) {
        if (x->p[k].nkv > lines) lines = x->p[k].nkv;
        for (const char *q = rp_point_title(&x->p[k]); *q;) {
            int len = (int)strcspn(q, ",");
            if (len > chars) chars = len;
            q += len + (q[len] == ',');
        }
    }
    fprintf(m, "npoints = %d\nlabel_lines = %d\nlabel_chars = %d\narray point_label[%d] = [", x->np, lines, chars,
            x->np);
    for (int k = 0; k < x->np; k++) {
        char lab[300];
        rp_point_label(&x->p[x->order[k]], lab, sizeof lab);
        rp_gp_quote_tic(m, lab);
        fputs(k + 1 < x->np ? ", " : "]\n", m);
    }
}

int rp_exp_curves(rctx *c, const xdata *x) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = rp_open_out(c, "exp-curves.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    dat_head(f, "exp-curves.dat", x,
             "validation accuracy (%) and loss (mean cross-entropy) by epoch over the seeds of each variant.\n"
             "# One block per variant with epochs so far (gnuplot index 0, 1, ...), blocks apart by two blank\n"
             "# lines; seeds: the runs that reached the epoch.\n"
             "# epoch seeds acc_mean acc_min acc_max loss_mean loss_min loss_max");
    int nblocks = 0, maxe = 0, *block_point = malloc(sizeof(int) * (size_t)x->np);
    if (!block_point) { fclose(f); return rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory"); }
    for (int k = 0; k < x->np; k++) {
        int pi = x->order[k], last = 0;
        for (int i = 0; i < x->nr; i++)
            if (x->r[i].point == pi)
                for (int e = 0; e < x->r[i].nep; e++)
                    if (x->r[i].ep[e].epoch > last) last = x->r[i].ep[e].epoch;
        if (!last) continue;
        if (last > maxe) maxe = last;
        fprintf(f, "%s# variant %d: ", nblocks ? "\n\n" : "", x->p[pi].color);
        rp_dat_text(f, rp_point_title(&x->p[pi]));
        fputc('\n', f);
        block_point[nblocks++] = pi;
        for (int e = 1; e <= last; e++) {
            stat1 acc = {0}, loss = {0};
            int seeds = 0;
            for (int i = 0; i < x->nr; i++) {
                const xrun *r = &x->r[i];
                if (r->point != pi) continue;
                for (int j = 0; j < r->nep; j++)
                    if (r->ep[j].epoch == e) {
                        seeds++;
                        rp_stat_add(&acc, 100 * r->ep[j].val_acc);
                        rp_stat_add(&loss, r->ep[j].val_loss);
                    }
            }
            if (!seeds) continue;
            fprintf(f, "%d %d ", e, seeds);
            put_stat(f, &acc);
            fputc(' ', f);
            put_stat(f, &loss);
            fputc('\n', f);
        }
    }
    int rc = rp_close_out(c, f, path);
    if (rc) { free(block_point); return rc; }

    vals_buf v;
    if (rp_vals_open(c, &v)) { free(block_point); return NNL_REPORT_EINPUT; }
    FILE *m = v.m;
    fprintf(m, "nblocks = %d\nnepochs = %d\narray block_title[%d] = [", nblocks, maxe, nblocks);
    for (int b = 0; b < nblocks; b++) {
        rp_gp_quote(m, rp_point_title(&x->p[block_point[b]]));
        fputs(b + 1 < nblocks ? ", " : "]\n", m);
    }
    fprintf(m, "array block_color[%d] = [", nblocks);
    for (int b = 0; b < nblocks; b++) fprintf(m, "%d%s", x->p[block_point[b]].color, b + 1 < nblocks ? ", " : "]\n");
    free(block_point);
    char title[512];
    snprintf(title, sizeof title, "%s: validation accuracy and loss by epoch\nline: mean over seeds, band: lowest "
             "to highest seed", x->experiment);
    rc = rp_vals_draw(c, &v, "exp-curves", title,
                   "Validation accuracy (left) and loss (right) after each epoch, one colour per grid point: the line "
                   "is the mean over its seeds, the shaded band spans the lowest to the highest seed.");
    return rc;
}

int rp_exp_bars(rctx *c, const xdata *x) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = rp_open_out(c, "exp-bars.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    dat_head(f, "exp-bars.dat", x,
             "test accuracy (%) of each variant over its finished seeds (NaN: none finished yet).\n"
             "# block 0 (gnuplot index 0): one row per variant, x = its place in the report's order;\n"
             "# ci_lo ci_hi: the 95% interval of the mean (Student's t), NaN under 3 seeds; vs_best: 0 the\n"
             "# best, 1 worse beyond the seed noise, 2 within it (Welch, Holm-corrected, 5%), 3 untested\n"
             "# x variant mean min max std seeds ci_lo ci_hi vs_best");
    /* each point's accuracies, then how sure each comparison with the best is */
    double *acc = malloc(sizeof(double) * (size_t)(x->nr ? x->nr : 1)), *pv = malloc(sizeof(double) * (size_t)x->np),
           *ph = malloc(sizeof(double) * (size_t)x->np);
    const double **pa = malloc(sizeof *pa * (size_t)x->np);
    int *na = malloc(sizeof(int) * (size_t)x->np), *vs = malloc(sizeof(int) * (size_t)x->np);
    if (!acc || !pv || !ph || !pa || !na || !vs) {
        free(acc); free(pv); free(ph); free(pa); free(na); free(vs);
        fclose(f);
        return NNL_REPORT_EINPUT;
    }
    int best = -1, used = 0;
    double best_mean = NAN;
    for (int pi = 0; pi < x->np; pi++) {
        pa[pi] = acc + used;
        na[pi] = 0;
        for (int i = 0; i < x->nr; i++)
            if (x->r[i].point == pi && isfinite(x->r[i].test)) acc[used + na[pi]++] = 100 * x->r[i].test;
        used += na[pi];
        const double mean = nnl_summarize(pa[pi], na[pi]).mean;
        if (na[pi] && (best < 0 || mean > best_mean)) { best = pi; best_mean = mean; }
    }
    if (best >= 0) nnl_versus_best(pa, na, x->np, best, pv, ph, vs);
    double lo = 100;
    for (int k = 0; k < x->np; k++) {
        int pi = x->order[k];
        stat1 s = {0};
        for (int j = 0; j < na[pi]; j++) rp_stat_add(&s, pa[pi][j]);
        const nnl_summary sm = nnl_summarize(pa[pi], na[pi]);
        fprintf(f, "%d %d ", k + 1, x->p[pi].color);
        put_stat(f, &s);
        fputc(' ', f);
        rp_put_num(f, s.n > 1 ? sm.sd : s.n ? 0 : NAN);
        fprintf(f, " %d ", s.n);
        const double half = na[pi] >= 3 ? sm.half : NAN;
        rp_put_num(f, sm.mean - half);
        fputc(' ', f);
        rp_put_num(f, sm.mean + half);
        fprintf(f, " %d\n", pi == best ? 0 : best < 0 || vs[pi] < 0 ? 3 : vs[pi] ? 1 : 2);
        if (s.n && s.min < lo) lo = s.min;
        if (isfinite(half) && sm.mean - half < lo) lo = sm.mean - half;
    }
    free(acc); free(pv); free(ph); free(pa); free(na); free(vs);
    fputs("\n\n# block 1 (gnuplot index 1): one row per finished run\n# x test_acc run_id\n", f);
    for (int i = 0; i < x->nr; i++) {
        if (!isfinite(x->r[i].test)) continue;
        fprintf(f, "%d ", x->p[x->r[i].point].color);
        rp_put_num(f, 100 * x->r[i].test);
        fprintf(f, " %lld\n", (long long)x->r[i].id);
    }
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;

    vals_buf v;
    if (rp_vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    put_point_labels(m, x);
    /* bars start at 0 unless every seed is far above it: then the axis starts
     * near the lowest seed, so differences of a point or two stay visible */
    rp_hv_num(m, "y_min", lo < 40 ? 0 : 10 * floor((lo - 5) / 10));
    fprintf(m, "max_seeds = %d\n", rp_max_seeds(x));
    char title[512];
    snprintf(title, sizeof title, "%s: test accuracy of each grid point\nbar: mean over seeds, error bar: 95%% "
             "interval (3+ seeds; else lowest to highest seed), dot: each seed", x->experiment);
    rc = rp_vals_draw(c, &v, "exp-bars", title,
                   "Test accuracy of each grid point: the bar is the mean over its finished seeds and each dot is one "
                   "seed. With 3 seeds or more the error bar is the 95% interval of the mean (Student's t), with fewer "
                   "it spans the lowest to the highest seed. \"within noise\" marks the points that cannot be told "
                   "apart from the best (Welch's t-test, Holm-corrected, 5%). The colours match the other figures.");
    return rc;
}

int rp_exp_seconds(rctx *c, const xdata *x) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = rp_open_out(c, "exp-seconds.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    dat_head(f, "exp-seconds.dat", x,
             "wall time of an epoch (training and validation) of each variant, in seconds: the mean over\n"
             "# every epoch of its runs, and the fastest and slowest run's mean (NaN: no epoch yet).\n"
             "# x variant mean min max epochs");
    for (int k = 0; k < x->np; k++) {
        int pi = x->order[k];
        stat1 all = {0}, per_run = {0};
        for (int i = 0; i < x->nr; i++) {
            if (x->r[i].point != pi) continue;
            stat1 one = {0};
            for (int e = 0; e < x->r[i].nep; e++) {
                rp_stat_add(&all, x->r[i].ep[e].seconds);
                rp_stat_add(&one, x->r[i].ep[e].seconds);
            }
            rp_stat_add(&per_run, rp_stat_mean(&one));
        }
        fprintf(f, "%d %d ", k + 1, x->p[pi].color);
        rp_put_num(f, rp_stat_mean(&all));
        fputc(' ', f);
        rp_put_num(f, per_run.n ? per_run.min : NAN);
        fputc(' ', f);
        rp_put_num(f, per_run.n ? per_run.max : NAN);
        fprintf(f, " %d\n", all.n);
    }
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;
    vals_buf v;
    if (rp_vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    put_point_labels(m, x);
    char title[512];
    snprintf(title, sizeof title, "%s: seconds per epoch of each grid point\nbar: mean over runs and epochs, error "
             "bar: fastest to slowest run", x->experiment);
    rc = rp_vals_draw(c, &v, "exp-seconds", title,
                   "Wall time of one epoch (training plus validation) of each grid point: the bar is the mean over "
                   "every epoch of its runs, the error bar spans the fastest to the slowest run. Runs that shared "
                   "the machine with other runs (sweep -j) are slower than alone.");
    return rc;
}

static void put_axis(FILE *m, const axis *a, char name) {
    fprintf(m, "%ckey = ", name);
    rp_gp_quote(m, a->key);
    fprintf(m, "\nlog%c = %d\n%c_min = ", name, a->log, name);
    rp_put_num(m, a->lo[0]);
    fprintf(m, "\n%c_max = ", name);
    rp_put_num(m, a->hi[a->n - 1]);
    fprintf(m, "\narray %ctic_pos[%d] = [", name, a->n);
    for (int i = 0; i < a->n; i++) {
        rp_put_num(m, a->pos[i]);
        fputs(i + 1 < a->n ? ", " : "]\n", m);
    }
    fprintf(m, "array %ctic_label[%d] = [", name, a->n);
    for (int i = 0; i < a->n; i++) {
        rp_gp_quote_tic(m, a->val[i]);
        fputs(i + 1 < a->n ? ", " : "]\n", m);
    }
}

int rp_exp_heatmap(rctx *c, const xdata *x, const axis *ax, const axis *ay) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = rp_open_out(c, "exp-heatmap.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    char what[512];
    snprintf(what, sizeof what,
             "test accuracy (%%) by %s (x) and %s (y), the mean over the finished seeds of each cell.\n"
             "# A cell spans xlo..xhi and ylo..yhi around its values x, y%s.\n"
             "# block 0 (gnuplot index 0): the cells with a result\n# x y xlo xhi ylo yhi acc seeds",
             ax->key, ay->key,
             ax->numeric && ay->numeric ? "" : " (a key that is not a number: 0, 1, ... in the order of its tics)");
    dat_head(f, "exp-heatmap.dat", x, what);
    stat1 range = {0};
    int missing = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            fputs("\n\n# block 1 (gnuplot index 1): the cells without a finished run\n# x y xlo xhi ylo yhi\n", f);
        for (int o = 0; o < x->np; o++) {
            const xpoint *p = &x->p[x->order[o]];
            int i = rp_axis_index(ax, p->val[0]), j = rp_axis_index(ay, p->val[1]);
            stat1 s = {0};
            for (int r = 0; r < x->nr; r++)
                if (x->r[r].point == x->order[o]) rp_stat_add(&s, 100 * x->r[r].test);
            if ((s.n > 0) == pass) continue;
            double v[6] = {ax->pos[i], ay->pos[j], ax->lo[i], ax->hi[i], ay->lo[j], ay->hi[j]};
            for (int k = 0; k < 6; k++) {
                rp_put_num(f, v[k]);
                fputc(k < 5 ? ' ' : pass ? '\n' : ' ', f);
            }
            if (pass) { missing++; continue; }
            rp_put_num(f, rp_stat_mean(&s));
            fprintf(f, " %d\n", s.n);
            rp_stat_add(&range, rp_stat_mean(&s));
        }
    }
    int rc = rp_close_out(c, f, path);
    if (rc) return rc;
    vals_buf v;
    if (rp_vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    put_axis(m, ax, 'x');
    put_axis(m, ay, 'y');
    double lo = range.min, hi = range.max;
    if (hi - lo < 0.1) { lo -= 0.5; hi += 0.5; }
    rp_hv_num(m, "cb_min", lo);
    rp_hv_num(m, "cb_max", hi);
    fprintf(m, "n_missing = %d\nmax_seeds = %d\n", missing, rp_max_seeds(x));
    char title[512], caption[600];
    snprintf(title, sizeof title, "%s: test accuracy (%%) by %s and %s\nmean over seeds", x->experiment, ax->key,
             ay->key);
    snprintf(caption, sizeof caption,
             "Test accuracy (%%, mean over the finished seeds) of every combination of %s and %s, the value "
             "written in each cell%s.", ax->key, ay->key,
             ax->log || ay->log ? "; the log axes space the log-spaced values evenly" : "");
    rc = rp_vals_draw(c, &v, "exp-heatmap", title, caption);
    return rc;
}
