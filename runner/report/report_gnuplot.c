/* report_gnuplot.c -- gnuplot for `nnlab report`: where the templates and
 * gnuplot are, the quoting that keeps every name a string in a script, the
 * assembly of a figure's script (the values nnlab substitutes, colors.gp,
 * the template) and the run of gnuplot on it.
 *
 * gnuplot runs as a child process inside the report folder with its stderr
 * captured, so a failure can name the template and the template's line: a
 * user who restyled a template sees their own line, not ours. The scripts
 * name their files relative to the folder, so a report can be moved and
 * redrawn anywhere. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "proc.h"
#include "report_int.h"

#ifndef NNLAB_VERSION
#define NNLAB_VERSION "unknown"
#endif

/* The whole file, NUL-terminated and malloc'd; NULL with errno set. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 8192, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 < cap) continue;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        errno = bad ? EIO : ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

void rp_utc_now(char *out, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void rp_gp_quote(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < ' ' || c == 0x7f || c == '`' || c == '@') fprintf(f, "\\%03o", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void rp_gp_quote_tic(FILE *f, const char *s) {
    char buf[600];
    size_t o = 0;
    for (; *s && o + 2 < sizeof buf; s++) {
        if (*s == '%') buf[o++] = '%';
        buf[o++] = *s;
    }
    buf[o] = 0;
    rp_gp_quote(f, buf);
}

void rp_put_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.10g", v);
    else fputs("NaN", f);
}

static void hv_str(FILE *f, const char *name, const char *v) {
    fprintf(f, "%s = ", name);
    rp_gp_quote(f, v);
    fputc('\n', f);
}

void rp_hv_num(FILE *f, const char *name, double v) {
    fprintf(f, "%s = ", name);
    rp_put_num(f, v);
    fputc('\n', f);
}

void rp_dat_text(FILE *f, const char *s) {
    for (; *s; s++) fputc((unsigned char)*s < ' ' || *s == 0x7f ? '?' : *s, f);
}

static int has_templates(const char *dir) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/colors.gp", dir);
    return access(p, R_OK) == 0;
}

int nnl_report_plots_dir(char *out, size_t n, char *err, size_t errlen) {
    /* an explicit choice wins over the default beside the executable, as
     * $NNLAB_DATA does for the data: it is how a user points every report
     * at restyled templates */
    const char *env = getenv("NNLAB_PLOTS");
    if (env && *env) {
        if (!has_templates(env))
            return rp_fail(err, errlen, NNL_REPORT_EINPUT, "NNLAB_PLOTS=%s: no gnuplot templates there (no colors.gp); "
                        "point it at the plots/ folder of the nnlab source, or unset it", env);
        snprintf(out, n, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return rp_fail(err, errlen, NNL_REPORT_EINPUT, "cannot find the gnuplot templates: /proc/self/exe: %s; "
                    "set NNLAB_PLOTS to the plots/ folder of the nnlab source", strerror(errno));
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    char beside[PATH_MAX + 16], shared[PATH_MAX + 32];
    snprintf(beside, sizeof beside, "%s/plots", exe);
    snprintf(shared, sizeof shared, "%s/../share/nnlab/plots", exe);
    const char *found = has_templates(beside) ? beside : has_templates(shared) ? shared : NULL;
    if (!found)
        return rp_fail(err, errlen, NNL_REPORT_EINPUT, "cannot find the gnuplot templates: looked in %s and %s; "
                    "set NNLAB_PLOTS to the plots/ folder of the nnlab source", beside, shared);
    if (snprintf(out, n, "%s", found) >= (int)n)
        return rp_fail(err, errlen, NNL_REPORT_EINPUT, "%s: path too long", found);
    return 0;
}

/* The gnuplot executable: a path, or a name looked up in $PATH. Checked
 * before anything is written, so a missing gnuplot is one clear line. */
static int find_gnuplot(const char *want, char *out, size_t n, char *err, size_t errlen) {
    static const char hint[] = "nnlab report draws its figures with gnuplot; install the Debian package "
                               "gnuplot-nox (sudo apt install gnuplot-nox)";
    struct stat st;
    if (strchr(want, '/')) {
        if (stat(want, &st) || !S_ISREG(st.st_mode) || access(want, X_OK))
            return rp_fail(err, errlen, NNL_REPORT_EINPUT, "%s: no gnuplot there; %s", want, hint);
        snprintf(out, n, "%s", want);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        int len = end ? (int)(end - p) : (int)strlen(p);
        snprintf(out, n, "%.*s/%s", len ? len : 1, len ? p : ".", want);
        if (!stat(out, &st) && S_ISREG(st.st_mode) && !access(out, X_OK)) return 0;
        if (!end) break;
        p = end + 1;
    }
    return rp_fail(err, errlen, NNL_REPORT_EINPUT, "%s not found in PATH; %s", want, hint);
}

int rp_ctx_init(rctx *c, const nnl_report_opts *o, nnl_report_result *res, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    memset(res, 0, sizeof *res);
    c->res = res;
    c->err = err;
    c->errlen = errlen;
    if (!o || !o->outdir || !*o->outdir) return rp_fail(err, errlen, NNL_REPORT_EINPUT, "no report folder given");
    c->outdir = o->outdir;
    if (o->plots_dir) {
        if (!has_templates(o->plots_dir))
            return rp_fail(err, errlen, NNL_REPORT_EINPUT, "%s: no gnuplot templates there (no colors.gp)", o->plots_dir);
        snprintf(c->plots, sizeof c->plots, "%s", o->plots_dir);
    } else if (nnl_report_plots_dir(c->plots, sizeof c->plots, err, errlen)) {
        return NNL_REPORT_EINPUT;
    }
    /* the scripts name their template; an absolute path stays true from the report folder */
    char abs[PATH_MAX];
    if (realpath(c->plots, abs) && strlen(abs) < sizeof c->plots) memcpy(c->plots, abs, strlen(abs) + 1);
    return find_gnuplot(o->gnuplot ? o->gnuplot : "gnuplot", c->gnuplot, sizeof c->gnuplot, err, errlen);
}

FILE *rp_open_out(rctx *c, const char *name, char *path, size_t n) {
    snprintf(path, n, "%s/%s", c->outdir, name);
    FILE *f = fopen(path, "w");
    if (!f) rp_fail(c->err, c->errlen, 0, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

int rp_close_out(rctx *c, FILE *f, const char *path) {
    int bad = ferror(f);
    if (fclose(f) || bad)
        return rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

static int count_lines(const char *s, size_t n) {
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    return lines;
}

/* Whether line (from 1) of a gnuplot script lies in a { } block or is its
 * closing line. Inside a block gnuplot names the line only roughly: a
 * runtime error gets the block's last line, and gnuplot 5.4 miscounts the
 * lines of a block longer than its input buffer by a few. */
static int in_block(const char *script, int line) {
    int depth = 0, at = 1, quote = 0, comment = 0;
    for (const char *p = script; *p; p++) {
        if (*p == '\n') {
            if (at == line) return 0;
            at++;
            comment = 0;
            continue;
        }
        if (comment) continue;
        if (quote) {
            if (*p == '\\' && quote == '"' && p[1]) p++;
            else if (*p == quote) quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '#') {
            comment = 1;
        } else if (*p == '{' || *p == '}') {
            depth += *p == '{' ? 1 : -1;
        }
        if (at == line && (depth > 0 || *p == '}')) return 1;
    }
    return 0;
}

/* The line of the script, nearest to near, that holds the last word of
 * gnuplot's message (msg, mlen bytes: "undefined variable: foo"); 0 if the
 * message ends in no such word or no line holds it. */
static int find_word_line(const char *script, const char *msg, int mlen, int near) {
    const char *colon = NULL;
    for (const char *p = msg; p < msg + mlen; p++)
        if (*p == ':') colon = p;
    if (!colon) return 0;
    const char *w = colon + 1 + strspn(colon + 1, " ");
    int wlen = (int)(msg + mlen - w);
    while (wlen && w[wlen - 1] == ' ') wlen--;
    if (wlen < 2 || wlen > 60 || memchr(w, ' ', (size_t)wlen)) return 0;
    int best = 0, line = 1;
    for (const char *p = script; *p; line++) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int hit = 0;
        for (size_t i = 0; !hit && i + (size_t)wlen <= len && p[0] != '#'; i++) hit = !memcmp(p + i, w, (size_t)wlen);
        if (hit && (!best || abs(line - near) < abs(best - near))) best = line;
        if (!end) break;
        p = end + 1;
    }
    return best;
}

/* Runs `gnuplot KIND.gp` inside the report folder. Its stderr is captured:
 * on success it is kept as warnings, on failure its "line N:" is mapped
 * back to the template (or colors.gp) the line came from. */
static int run_gnuplot(rctx *c, const char *kind, const char *script_text, const char *tpath, const char *cpath,
                       int colors_line, int tmpl_line) {
    char script[64];
    snprintf(script, sizeof script, "%s.gp", kind);
    /* in the report folder, its stderr captured, nothing on its stdin or stdout */
    char *argv[] = {c->gnuplot, script, NULL};
    nnl_child_opts co = {.capture = NNL_CHILD_STDERR, .other = NNL_CHILD_DROP, .null_stdin = 1, .dir = c->outdir};
    char out[8192];
    int status;
    if (nnl_child_run(argv, &co, out, sizeof out, &status))
        return rp_fail(c->err, c->errlen, NNL_REPORT_EPLOT, "cannot run gnuplot: %s", strerror(errno));
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = 0;

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (n) {
            size_t used = strlen(c->res->warnings);
            snprintf(c->res->warnings + used, sizeof c->res->warnings - used, "%s%s: %s", used ? "\n" : "", tpath, out);
        }
        return 0;
    }
    /* gnuplot's own words: "exp-bars.gp" line 57: undefined variable: foo */
    const char *at = strstr(out, "\" line ");
    if (at) {
        int line = atoi(at + 7);
        const char *msg = strchr(at + 7, ':');
        msg = msg ? msg + 1 + strspn(msg + 1, " ") : "";
        int mlen = (int)strcspn(msg, "\n"), rough = in_block(script_text, line);
        if (rough) {
            /* "undefined variable: foo", "unrecognized token: usin": the line
             * nearest gnuplot's guess that holds the word is the line at fault */
            int found = find_word_line(script_text, msg, mlen, line);
            if (found) {
                line = found;
                rough = 0;
            }
        }
        char where[NNL_PATH_MAX + 200];
        if (line >= tmpl_line) snprintf(where, sizeof where, "%s:%d", tpath, line - tmpl_line + 1);
        else if (line >= colors_line) snprintf(where, sizeof where, "%s:%d", cpath, line - colors_line + 1);
        else snprintf(where, sizeof where, "%s/%s:%d (a value nnlab wrote)", c->outdir, script, line);
        return rp_fail(c->err, c->errlen, NNL_REPORT_EPLOT,
                    "%s: gnuplot: %.*s (%sdrawing %s/%s.png; the script is %s/%s, line %d; "
                    "fix the template or set NNLAB_PLOTS to good ones)",
                    where, mlen, msg,
                    rough ? "gnuplot numbers lines in a { } block only roughly, look near there; " : "",
                    c->outdir, kind, c->outdir, script, line);
    }
    for (char *p = out; *p; p++)
        if (*p == '\n') *p = ' ';
    char how[64];
    if (WIFSIGNALED(status)) snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
    else snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
    return rp_fail(c->err, c->errlen, NNL_REPORT_EPLOT, "%s: gnuplot failed (%s): %s (the script is %s/%s)", tpath,
                how, n ? out : "no message", c->outdir, script);
}

int rp_draw(rctx *c, const char *kind, const char *title, const char *vals, const char *caption) {
    char tpath[NNL_PATH_MAX + 64], cpath[NNL_PATH_MAX + 64], spath[NNL_PATH_MAX + 64];
    snprintf(tpath, sizeof tpath, "%s/%s.gp", c->plots, kind);
    snprintf(cpath, sizeof cpath, "%s/colors.gp", c->plots);
    char *tmpl = read_text(tpath), *colors = tmpl ? read_text(cpath) : NULL;
    if (!colors) {
        int e = errno;
        free(tmpl);
        return rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "%s: cannot read the template: %s (templates: %s)",
                    tmpl ? cpath : tpath, strerror(e), c->plots);
    }
    char *buf = NULL, now[32];
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        free(tmpl);
        free(colors);
        return rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory");
    }
    rp_utc_now(now, sizeof now);
    fprintf(m, "# %s.gp -- drawn by nnlab %s report on %s from the template\n# %s.\n", kind, NNLAB_VERSION, now, tpath);
    fprintf(m, "# Redraw it in this folder with `gnuplot %s.gp`: it reads %s.dat and writes %s.png and %s.svg.\n",
            kind, kind, kind, kind);
    fputs("\n# --- the values nnlab substituted ---\n", m);
    fprintf(m, "datafile = \"%s.dat\"\nout_png = \"%s.png\"\nout_svg = \"%s.svg\"\n", kind, kind, kind);
    hv_str(m, "title_text", title);
    hv_str(m, "title_note", c->title_note);
    fputs(vals, m);
    fprintf(m, "\n# --- %s ---\n", cpath);
    fflush(m);
    int colors_line = count_lines(buf, len) + 1;
    fputs(colors, m);
    if (*colors && colors[strlen(colors) - 1] != '\n') fputc('\n', m);
    fprintf(m, "\n# --- %s ---\n", tpath);
    fflush(m);
    int tmpl_line = count_lines(buf, len) + 1;
    fputs(tmpl, m);
    fclose(m);
    free(tmpl);
    free(colors);

    int rc = NNL_REPORT_EINPUT;
    char name[64];
    snprintf(name, sizeof name, "%s.gp", kind);
    FILE *f = rp_open_out(c, name, spath, sizeof spath);
    if (f) {
        fwrite(buf, 1, len, f);
        rc = rp_close_out(c, f, spath);
    }
    if (!rc) rc = run_gnuplot(c, kind, buf, tpath, cpath, colors_line, tmpl_line);
    free(buf);
    if (rc) return rc;
    if (c->nfigs < NNL_REPORT_MAX_FIGS) {
        figure *g = &c->figs[c->nfigs++];
        g->kind = kind;
        snprintf(g->caption, sizeof g->caption, "%s", caption);
        snprintf(g->title, sizeof g->title, "%s", title);
        for (char *q = g->title; *q; q++)
            if (*q == '\n') *q = ' ';
        snprintf(c->res->figs[c->res->nfigs++], sizeof c->res->figs[0], "%s/%s.png", c->outdir, kind);
    }
    return 0;
}

int rp_vals_open(rctx *c, vals_buf *v) {
    v->buf = NULL;
    v->len = 0;
    v->m = open_memstream(&v->buf, &v->len);
    return v->m ? 0 : rp_fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory");
}

int rp_vals_draw(rctx *c, vals_buf *v, const char *kind, const char *title, const char *caption) {
    fclose(v->m);
    int rc = rp_draw(c, kind, title, v->buf, caption);
    free(v->buf);
    return rc;
}

/* Every figure a report can draw. One drawn last time but not this time
 * (the heat map of a grid that lost its second key, the confusion matrix of
 * a folder reused for a run still in progress) would stay beside an index
 * that no longer shows it, out of date and easy to paste into a paper by
 * mistake. Only these names are removed, and only once the report is whole. */
static const char *const all_kinds[] = {"run-curves", "confusion", "exp-curves", "exp-bars", "exp-seconds",
                                        "exp-heatmap", "search-parallel", "search-keys", "search-best"};

void rp_drop_stale(rctx *c) {
    static const char *const ext[] = {"png", "svg", "dat", "gp"};
    for (size_t k = 0; k < sizeof all_kinds / sizeof all_kinds[0]; k++) {
        int drawn = 0;
        for (int i = 0; i < c->nfigs; i++) drawn |= !strcmp(c->figs[i].kind, all_kinds[k]);
        if (drawn) continue;
        for (size_t e = 0; e < sizeof ext / sizeof ext[0]; e++) {
            char p[NNL_PATH_MAX + 64];
            snprintf(p, sizeof p, "%s/%s.%s", c->outdir, all_kinds[k], ext[e]);
            if (unlink(p) && errno != ENOENT) fprintf(stderr, "nnlab report: %s: cannot remove the old figure: %s\n",
                                                      p, strerror(errno));
        }
    }
}
