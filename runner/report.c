/* report.c -- `nnlab report`: reads a run or an experiment from the store,
 * writes the numbers of each figure as a .dat file, assembles each figure's
 * gnuplot script from the values it substitutes, plots/colors.gp and the
 * figure's template, runs gnuplot on it (PNG and SVG), and writes an
 * index.html that shows the figures beside the `nnlab compare` table.
 *
 * gnuplot runs as a child process inside the report folder with its stderr
 * captured, so a failure can name the template and the template's line: a
 * user who restyled a template sees their own line, not ours. The scripts
 * name their files relative to the folder, so a report can be moved and
 * redrawn anywhere.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "data.h"
#include "experiment.h"
#include "names.h"
#include "proc.h"
#include "sweep.h"

#ifndef NNLAB_VERSION
#define NNLAB_VERSION "unknown"
#endif

#define DEFAULT_DB "results/nnlab.db"
#define MAX_KEYS 16      /* keys in one grid point */
#define MAX_AXIS 40      /* values along one side of a heat map */
#define MAX_CLASSES 64   /* the largest confusion matrix drawn */


/* --- small helpers ------------------------------------------------------ */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
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
        return fail(err, errlen, NNL_REPORT_EINPUT, "%s: not a writable folder (choose another with --out DIR)", path);
    return 0;
}

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

static void utc_now(char *out, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A gnuplot string constant in which no character is special: double
 * quotes, with \ and " escaped, and the characters gnuplot would act on as
 * octal escapes. gnuplot runs backquoted text as a shell command even inside
 * double quotes (`touch /tmp/p` in a run name ran during `nnlab report` and
 * at every redraw of the saved script), but not a backquote written \140;
 * control characters (a newline ends the line, so the rest would be a
 * command) are written \ooo too, and @ (a macro) as \100 for good measure. */
static void gp_quote(FILE *f, const char *s) {
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

/* A tic label: gnuplot reads explicit tic labels as formats, so % is doubled. */
static void gp_quote_tic(FILE *f, const char *s) {
    char buf[600];
    size_t o = 0;
    for (; *s && o + 2 < sizeof buf; s++) {
        if (*s == '%') buf[o++] = '%';
        buf[o++] = *s;
    }
    buf[o] = 0;
    gp_quote(f, buf);
}

/* A number for gnuplot and the .dat files; NaN marks a missing value. */
static void put_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.10g", v);
    else fputs("NaN", f);
}

static void hv_str(FILE *f, const char *name, const char *v) {
    fprintf(f, "%s = ", name);
    gp_quote(f, v);
    fputc('\n', f);
}

static void hv_num(FILE *f, const char *name, double v) {
    fprintf(f, "%s = ", name);
    put_num(f, v);
    fputc('\n', f);
}

static void html_text(FILE *f, const char *s) {
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

/* Text in a comment line of a .dat file: a control character becomes '?',
 * so no name can end the comment and add a row of numbers. Names are
 * checked where they are read (names.h, store.c); this holds whatever
 * slips past. */
static void dat_text(FILE *f, const char *s) {
    for (; *s; s++) fputc((unsigned char)*s < ' ' || *s == 0x7f ? '?' : *s, f);
}

/* a whole string that is a number */
static int parse_num(const char *s, double *v) {
    char *end;
    if (!*s) return 0;
    *v = strtod(s, &end);
    return !*end && isfinite(*v);
}

/* --- templates and gnuplot ---------------------------------------------- */

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
            return fail(err, errlen, NNL_REPORT_EINPUT, "NNLAB_PLOTS=%s: no gnuplot templates there (no colors.gp); "
                        "point it at the plots/ folder of the nnlab source, or unset it", env);
        snprintf(out, n, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return fail(err, errlen, NNL_REPORT_EINPUT, "cannot find the gnuplot templates: /proc/self/exe: %s; "
                    "set NNLAB_PLOTS to the plots/ folder of the nnlab source", strerror(errno));
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    char beside[PATH_MAX + 16], shared[PATH_MAX + 32];
    snprintf(beside, sizeof beside, "%s/plots", exe);
    snprintf(shared, sizeof shared, "%s/../share/nnlab/plots", exe);
    const char *found = has_templates(beside) ? beside : has_templates(shared) ? shared : NULL;
    if (!found)
        return fail(err, errlen, NNL_REPORT_EINPUT, "cannot find the gnuplot templates: looked in %s and %s; "
                    "set NNLAB_PLOTS to the plots/ folder of the nnlab source", beside, shared);
    if (snprintf(out, n, "%s", found) >= (int)n)
        return fail(err, errlen, NNL_REPORT_EINPUT, "%s: path too long", found);
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
            return fail(err, errlen, NNL_REPORT_EINPUT, "%s: no gnuplot there; %s", want, hint);
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
    return fail(err, errlen, NNL_REPORT_EINPUT, "%s not found in PATH; %s", want, hint);
}

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

static int ctx_init(rctx *c, const nnl_report_opts *o, nnl_report_result *res, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    memset(res, 0, sizeof *res);
    c->res = res;
    c->err = err;
    c->errlen = errlen;
    if (!o || !o->outdir || !*o->outdir) return fail(err, errlen, NNL_REPORT_EINPUT, "no report folder given");
    c->outdir = o->outdir;
    if (o->plots_dir) {
        if (!has_templates(o->plots_dir))
            return fail(err, errlen, NNL_REPORT_EINPUT, "%s: no gnuplot templates there (no colors.gp)", o->plots_dir);
        snprintf(c->plots, sizeof c->plots, "%s", o->plots_dir);
    } else if (nnl_report_plots_dir(c->plots, sizeof c->plots, err, errlen)) {
        return NNL_REPORT_EINPUT;
    }
    /* the scripts name their template; an absolute path stays true from the report folder */
    char abs[PATH_MAX];
    if (realpath(c->plots, abs) && strlen(abs) < sizeof c->plots) memcpy(c->plots, abs, strlen(abs) + 1);
    return find_gnuplot(o->gnuplot ? o->gnuplot : "gnuplot", c->gnuplot, sizeof c->gnuplot, err, errlen);
}

/* OUTDIR/NAME opened for writing; NULL with the error in c->err */
static FILE *open_out(rctx *c, const char *name, char *path, size_t n) {
    snprintf(path, n, "%s/%s", c->outdir, name);
    FILE *f = fopen(path, "w");
    if (!f) fail(c->err, c->errlen, 0, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

static int close_out(rctx *c, FILE *f, const char *path) {
    int bad = ferror(f);
    if (fclose(f) || bad)
        return fail(c->err, c->errlen, NNL_REPORT_EINPUT, "%s: write failed: %s", path, strerror(errno));
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
        return fail(c->err, c->errlen, NNL_REPORT_EPLOT, "cannot run gnuplot: %s", strerror(errno));
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
        return fail(c->err, c->errlen, NNL_REPORT_EPLOT,
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
    return fail(c->err, c->errlen, NNL_REPORT_EPLOT, "%s: gnuplot failed (%s): %s (the script is %s/%s)", tpath,
                how, n ? out : "no message", c->outdir, script);
}

/* Writes OUTDIR/KIND.gp -- the values (vals: gnuplot assignments), then
 * colors.gp, then the template -- and runs gnuplot on it. On success the
 * figure joins the report with its caption. */
static int draw(rctx *c, const char *kind, const char *title, const char *vals, const char *caption) {
    char tpath[NNL_PATH_MAX + 64], cpath[NNL_PATH_MAX + 64], spath[NNL_PATH_MAX + 64];
    snprintf(tpath, sizeof tpath, "%s/%s.gp", c->plots, kind);
    snprintf(cpath, sizeof cpath, "%s/colors.gp", c->plots);
    char *tmpl = read_text(tpath), *colors = tmpl ? read_text(cpath) : NULL;
    if (!colors) {
        int e = errno;
        free(tmpl);
        return fail(c->err, c->errlen, NNL_REPORT_EINPUT, "%s: cannot read the template: %s (templates: %s)",
                    tmpl ? cpath : tpath, strerror(e), c->plots);
    }
    char *buf = NULL, now[32];
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        free(tmpl);
        free(colors);
        return fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory");
    }
    utc_now(now, sizeof now);
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
    FILE *f = open_out(c, name, spath, sizeof spath);
    if (f) {
        fwrite(buf, 1, len, f);
        rc = close_out(c, f, spath);
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

/* The values a figure's script gets from nnlab, written into memory and
 * handed to draw: vals_open, fprintf to .m, then vals_draw. */
typedef struct {
    char *buf;
    size_t len;
    FILE *m;
} vals_buf;

static int vals_open(rctx *c, vals_buf *v) {
    v->buf = NULL;
    v->len = 0;
    v->m = open_memstream(&v->buf, &v->len);
    return v->m ? 0 : fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory");
}

static int vals_draw(rctx *c, vals_buf *v, const char *kind, const char *title, const char *caption) {
    fclose(v->m);
    int rc = draw(c, kind, title, v->buf, caption);
    free(v->buf);
    return rc;
}

/* Every figure a report can draw. One drawn last time but not this time
 * (the heat map of a grid that lost its second key, the confusion matrix of
 * a folder reused for a run still in progress) would stay beside an index
 * that no longer shows it, out of date and easy to paste into a paper by
 * mistake. Only these names are removed, and only once the report is whole. */
static const char *const all_kinds[] = {"run-curves", "confusion", "exp-curves", "exp-bars", "exp-seconds",
                                        "exp-heatmap"};

static void drop_stale(rctx *c) {
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

/* --- index.html ----------------------------------------------------------- */

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

static void html_head(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    html_text(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", html_style);
    html_text(f, title);
    fputs("</h1>\n", f);
}

static void html_figures(FILE *f, const rctx *c) {
    for (int i = 0; i < c->nfigs; i++) {
        const char *k = c->figs[i].kind;
        fprintf(f, "<figure id=\"%s\">\n<a href=\"%s.svg\"><img src=\"%s.png\" alt=\"", k, k, k);
        html_text(f, c->figs[i].title);
        fputs("\"></a>\n<figcaption>", f);
        html_text(f, c->figs[i].caption);
        fprintf(f, "<br><span class=\"small\">Files: <a href=\"%s.svg\">%s.svg</a> · <a href=\"%s.png\">%s.png</a> · "
                   "<a href=\"%s.dat\">%s.dat</a> (the numbers drawn) · <a href=\"%s.gp\">%s.gp</a> "
                   "(the gnuplot script)</span></figcaption>\n</figure>\n", k, k, k, k, k, k, k, k);
    }
}

static void html_tail(FILE *f, const rctx *c, const char *db) {
    char now[32];
    utc_now(now, sizeof now);
    fputs("<p class=\"small\">Written by nnlab " NNLAB_VERSION " on ", f);
    html_text(f, now);
    fputs(" from the database <code>", f);
    html_text(f, db);
    fputs("</code>, with the gnuplot templates in <code>", f);
    html_text(f, c->plots);
    fputs("</code>. To restyle a figure, edit its <code>.gp</code> file here and run "
          "<code>gnuplot FILE.gp</code> in this folder, or edit the template and run "
          "<code>nnlab report</code> again.</p>\n</body>\n</html>\n", f);
}

static int html_open(rctx *c, FILE **f, char *path, size_t n) {
    *f = open_out(c, "index.html", path, n);
    if (!*f) return NNL_REPORT_EINPUT;
    snprintf(c->res->index, sizeof c->res->index, "%s", path);
    return 0;
}

/* --- the report of one run ---------------------------------------------- */

typedef struct { const char *key; char value[64]; } param_find;

static void find_param(const char *key, const char *value, void *ud) {
    param_find *p = ud;
    if (!strcmp(key, p->key)) snprintf(p->value, sizeof p->value, "%s", value);
}

static int run_curves(rctx *c, const nnl_run_row *r, const char *label, const nnl_epoch_row *ep, int nep) {
    char path[NNL_PATH_MAX + 64], now[32];
    FILE *f = open_out(c, "run-curves.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    utc_now(now, sizeof now);
    fputs("# run-curves.dat -- nnlab report of ", f);
    dat_text(f, label);
    fprintf(f, ", %s: its metrics by epoch.\n", now);
    fputs("# loss: mean cross-entropy; accuracy in %; lr: the learning rate of the epoch; seconds: its wall time;\n"
          "# NaN: not recorded\n# epoch train_loss val_loss train_acc val_acc lr seconds\n", f);
    int last = 0;
    for (int i = 0; i < nep; i++) {
        const nnl_epoch_row *e = &ep[i];
        fprintf(f, "%d ", e->epoch);
        double v[6] = {e->train_loss, e->val_loss, 100 * e->train_acc, 100 * e->val_acc, e->lr, e->seconds};
        for (int k = 0; k < 6; k++) {
            put_num(f, v[k]);
            fputc(k < 5 ? ' ' : '\n', f);
        }
        if (e->epoch > last) last = e->epoch;
    }
    int rc = close_out(c, f, path);
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
    return draw(c, "run-curves", title, vals, caption);
}

static int run_confusion(rctx *c, const nnl_run_row *r, const char *label, const int64_t *conf,
                         const double *cacc, int nc) {
    char path[NNL_PATH_MAX + 64], now[32];
    FILE *f = open_out(c, "confusion.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    utc_now(now, sizeof now);
    fputs("# confusion.dat -- nnlab report of ", f);
    dat_text(f, label);
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
    int rc = close_out(c, f, path);
    if (rc) return rc;

    vals_buf v;
    if (vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    fprintf(m, "nclasses = %d\nmax_count = %lld\narray class_names[%d] = [", nc, (long long)maxc, nc);
    for (int k = 0; k < nc; k++) {
        char name[32];
        snprintf(name, sizeof name, "%d", k);
        gp_quote_tic(m, nc == NNL_CLASSES ? nnl_class_names[k] : name);
        fputs(k + 1 < nc ? ", " : "]\n", m);
    }
    fprintf(m, "array class_acc[%d] = [", nc);
    for (int k = 0; k < nc; k++) {
        put_num(m, 100 * cacc[k]);
        fputs(k + 1 < nc ? ", " : "]\n", m);
    }
    char title[512], caption[512];
    snprintf(title, sizeof title, "%s: test confusion matrix (%lld images, accuracy %.2f%%)", label,
             (long long)total, 100 * r->test_acc);
    snprintf(caption, sizeof caption,
             "Test confusion matrix: each row is a true class, each column the class predicted, each cell the "
             "number of test images; the right axis gives each true class's accuracy (recall).");
    rc = vals_draw(c, &v, "confusion", title, caption);
    return rc;
}

static void html_run(FILE *f, const rctx *c, const nnl_run_row *r, const nnl_epoch_row *ep, int nep,
                     const char *db) {
    char title[400];
    snprintf(title, sizeof title, "nnlab report: run %lld (%s)", (long long)r->id, r->name ? r->name : r->key);
    html_head(f, title);
    if (c->title_note[0]) {
        fputs("<p class=\"note\">", f);
        html_text(f, c->title_note);
        fputs("</p>\n", f);
    }
    fputs("<table>\n", f);
    const char *rows[][2] = {{"key", r->key}, {"name", r->name}, {"experiment", r->experiment},
                             {"status", r->status}, {"started", r->started}, {"finished", r->finished},
                             {"host", r->host}, {"nnlab", r->version}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!rows[i][1]) continue;
        fprintf(f, "<tr><th class=\"k\">%s</th><td class=\"k\">", rows[i][0]);
        html_text(f, rows[i][1]);
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

int nnl_report_run(nnl_store *s, int64_t run, const nnl_report_opts *o, nnl_report_result *res, char *err,
                   size_t errlen) {
    rctx c;
    int rc = ctx_init(&c, o, res, err, errlen);
    if (rc) return rc;
    nnl_run_row r;
    if (nnl_store_run_get(s, run, &r, err, errlen)) return NNL_REPORT_EINPUT;
    nnl_epoch_row *ep = NULL;
    int64_t *conf = malloc(sizeof *conf * MAX_CLASSES * MAX_CLASSES);
    double cacc[MAX_CLASSES];
    int nep = -1, nc = -1;
    rc = NNL_REPORT_EINPUT;
    if (!conf) { fail(err, errlen, 0, "out of memory"); goto out; }
    if ((nep = nnl_store_epochs_get(s, run, &ep, err, errlen)) < 0) goto out;
    if ((nc = nnl_store_test_get(s, run, conf, cacc, MAX_CLASSES, err, errlen)) < 0) goto out;
    if (!nep && !nc) {
        fail(err, errlen, 0, "%s: run %lld (%s) has no finished epoch yet: nothing to draw", nnl_store_path(s),
             (long long)run, r.status);
        goto out;
    }
    char label[400];
    snprintf(label, sizeof label, "run %lld (%s)", (long long)r.id, r.name ? r.name : r.key);
    param_find want = {.key = "train.epochs"};
    if (nnl_store_params_foreach(s, run, find_param, &want, err, errlen)) goto out;
    if (!strcmp(r.status, "running") || !strcmp(r.status, "queued"))
        snprintf(c.title_note, sizeof c.title_note, "(run in progress: %d of %s epochs finished)", r.epochs_done,
                 want.value[0] ? want.value : "?");
    else if (strcmp(r.status, "finished"))
        snprintf(c.title_note, sizeof c.title_note, "(run %s after %d epochs)", r.status, r.epochs_done);
    if ((rc = make_dirs(c.outdir, err, errlen))) goto out;
    if (nep && (rc = run_curves(&c, &r, label, ep, nep))) goto out;
    if (nc && (rc = run_confusion(&c, &r, label, conf, cacc, nc))) goto out;
    char path[NNL_PATH_MAX + 64];
    FILE *f;
    if ((rc = html_open(&c, &f, path, sizeof path))) goto out;
    html_run(f, &c, &r, ep, nep, nnl_store_path(s));
    if (!(rc = close_out(&c, f, path))) drop_stale(&c);
out:
    free(conf);
    free(ep);
    nnl_run_row_free(&r);
    return rc;
}

/* --- the report of an experiment ---------------------------------------- */

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

static void split_point(xpoint *p) {
    p->nkv = 0;
    for (const char *s = p->name; *s && p->nkv < MAX_KEYS;) {
        int len = (int)strcspn(s, ",");
        const char *eq = memchr(s, '=', (size_t)len);
        int kl = eq ? (int)(eq - s) : len;
        snprintf(p->key[p->nkv], sizeof p->key[0], "%.*s", kl, s);
        snprintf(p->val[p->nkv], sizeof p->val[0], "%.*s", eq ? len - kl - 1 : 0, eq ? eq + 1 : "");
        p->nkv++;
        s += len + (s[len] == ',');
    }
}

/* Numbers by value, the rest as text: lr=0.0003 before lr=0.001,
 * batch_size=32 before batch_size=128. */
static int cmp_value(const char *a, const char *b) {
    double x, y;
    if (parse_num(a, &x) && parse_num(b, &y) && x != y) return (x > y) - (x < y);
    return strcmp(a, b);
}

static int cmp_points(const xpoint *a, const xpoint *b) {
    for (int i = 0; i < a->nkv && i < b->nkv; i++) {
        int d = strcmp(a->key[i], b->key[i]);
        if (!d) d = cmp_value(a->val[i], b->val[i]);
        if (d) return d;
    }
    return a->nkv != b->nkv ? a->nkv - b->nkv : strcmp(a->name, b->name);
}

static void sort_points(xdata *x) {
    for (int i = 0; i < x->np; i++) x->order[i] = i;
    /* insertion sort: a few hundred points at most, and no qsort context */
    for (int i = 1; i < x->np; i++)
        for (int j = i; j > 0 && cmp_points(&x->p[x->order[j - 1]], &x->p[x->order[j]]) > 0; j--) {
            int t = x->order[j];
            x->order[j] = x->order[j - 1];
            x->order[j - 1] = t;
        }
    for (int i = 0; i < x->np; i++) x->p[x->order[i]].color = i + 1;
}

static void xdata_free(xdata *x) {
    for (int i = 0; i < x->nr; i++) free(x->r[i].ep);
    free(x->r);
    free(x->p);
    free(x->order);
}

/* one run of the experiment into x, from nnl_store_points_foreach */
static int xdata_add(const nnl_point_run *pr, void *ud) {
    xdata *x = ud;
    int pi = 0;
    while (pi < x->np && strcmp(x->p[pi].name, pr->point)) pi++;
    if (pi == x->np) {
        if (x->np == x->capp) {
            int cap = x->capp ? 2 * x->capp : 16;
            xpoint *np = realloc(x->p, sizeof *np * (size_t)cap);
            if (!np) return x->oom = 1;
            x->p = np;
            x->capp = cap;
        }
        memset(&x->p[pi], 0, sizeof x->p[pi]);
        snprintf(x->p[pi].name, sizeof x->p[pi].name, "%s", pr->point);
        split_point(&x->p[pi]);
        x->np++;
    }
    if (x->nr == x->capr) {
        int cap = x->capr ? 2 * x->capr : 64;
        xrun *nr = realloc(x->r, sizeof *nr * (size_t)cap);
        if (!nr) return x->oom = 1;
        x->r = nr;
        x->capr = cap;
    }
    xrun *r = &x->r[x->nr++];
    memset(r, 0, sizeof *r);
    r->id = pr->id;
    r->point = pi;
    snprintf(r->status, sizeof r->status, "%s", pr->status);
    r->test = pr->test_acc;
    x->p[pi].nruns++;
    if (!strcmp(r->status, "finished") && isfinite(r->test)) {
        x->p[pi].nfinished++;
        x->any_test = 1;
    } else {
        r->test = NAN; /* a test result counts once its run has finished */
    }
    return 0;
}

static int xdata_load(nnl_store *s, const char *experiment, xdata *x, char *err, size_t errlen) {
    memset(x, 0, sizeof *x);
    x->experiment = experiment;
    /* the store checks what it hands over (store.h): a database from
     * elsewhere with a NULL status is reported, not drawn */
    if (nnl_store_points_foreach(s, experiment, xdata_add, x, err, errlen) || x->oom) {
        if (x->oom) fail(err, errlen, 0, "%s: reading runs of %s: out of memory", nnl_store_path(s), experiment);
        xdata_free(x);
        return NNL_REPORT_EINPUT;
    }
    if (!x->nr) {
        xdata_free(x);
        return fail(err, errlen, NNL_REPORT_EINPUT, "%s: no runs of experiment '%s' (run 'nnlab sweep' first; "
                    "'nnlab ls' lists runs)", nnl_store_path(s), experiment);
    }
    for (int i = 0; i < x->nr; i++) {
        xrun *r = &x->r[i];
        r->nep = nnl_store_epochs_get(s, r->id, &r->ep, err, errlen);
        if (r->nep < 0) {
            r->nep = 0;
            xdata_free(x);
            return NNL_REPORT_EINPUT;
        }
        for (int e = 0; e < r->nep; e++) {
            x->any_epoch = 1;
            if (isfinite(r->ep[e].val_acc)) x->any_val = 1;
        }
    }
    x->order = malloc(sizeof *x->order * (size_t)x->np);
    if (!x->order) {
        xdata_free(x);
        return fail(err, errlen, NNL_REPORT_EINPUT, "out of memory");
    }
    sort_points(x);
    return 0;
}

static const char *point_title(const xpoint *p) { return p->name[0] ? p->name : "all runs (no grid)"; }

/* the point's name with one key per line, for tic labels */
static void point_label(const xpoint *p, char *out, size_t n) {
    snprintf(out, n, "%s", point_title(p));
    for (char *q = out; *q; q++)
        if (*q == ',') *q = '\n';
}

typedef struct { double sum, min, max; int n; } stat1;

static void stat_add(stat1 *s, double v) {
    if (!isfinite(v)) return;
    if (!s->n || v < s->min) s->min = v;
    if (!s->n || v > s->max) s->max = v;
    s->sum += v;
    s->n++;
}

static double stat_mean(const stat1 *s) { return s->n ? s->sum / s->n : NAN; }

static void put_stat(FILE *f, const stat1 *s) {
    put_num(f, stat_mean(s));
    fputc(' ', f);
    put_num(f, s->n ? s->min : NAN);
    fputc(' ', f);
    put_num(f, s->n ? s->max : NAN);
}

static void dat_head(FILE *f, const char *file, const xdata *x, const char *what) {
    char now[32];
    utc_now(now, sizeof now);
    fprintf(f, "# %s -- nnlab report of experiment ", file);
    dat_text(f, x->experiment);
    fprintf(f, ", %s:\n# %s\n", now, what);
}

/* the variant (grid point) tics shared by the bar charts */
static void put_point_labels(FILE *m, const xdata *x) {
    int lines = 1, chars = 1;
    for (int k = 0; k < x->np; k++) {
        if (x->p[k].nkv > lines) lines = x->p[k].nkv;
        for (const char *q = point_title(&x->p[k]); *q;) {
            int len = (int)strcspn(q, ",");
            if (len > chars) chars = len;
            q += len + (q[len] == ',');
        }
    }
    fprintf(m, "npoints = %d\nlabel_lines = %d\nlabel_chars = %d\narray point_label[%d] = [", x->np, lines, chars,
            x->np);
    for (int k = 0; k < x->np; k++) {
        char lab[300];
        point_label(&x->p[x->order[k]], lab, sizeof lab);
        gp_quote_tic(m, lab);
        fputs(k + 1 < x->np ? ", " : "]\n", m);
    }
}

static int exp_curves(rctx *c, const xdata *x) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = open_out(c, "exp-curves.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    dat_head(f, "exp-curves.dat", x,
             "validation accuracy (%) and loss (mean cross-entropy) by epoch over the seeds of each variant.\n"
             "# One block per variant with epochs so far (gnuplot index 0, 1, ...), blocks apart by two blank\n"
             "# lines; seeds: the runs that reached the epoch.\n"
             "# epoch seeds acc_mean acc_min acc_max loss_mean loss_min loss_max");
    int nblocks = 0, maxe = 0, *block_point = malloc(sizeof(int) * (size_t)x->np);
    if (!block_point) { fclose(f); return fail(c->err, c->errlen, NNL_REPORT_EINPUT, "out of memory"); }
    for (int k = 0; k < x->np; k++) {
        int pi = x->order[k], last = 0;
        for (int i = 0; i < x->nr; i++)
            if (x->r[i].point == pi)
                for (int e = 0; e < x->r[i].nep; e++)
                    if (x->r[i].ep[e].epoch > last) last = x->r[i].ep[e].epoch;
        if (!last) continue;
        if (last > maxe) maxe = last;
        fprintf(f, "%s# variant %d: ", nblocks ? "\n\n" : "", x->p[pi].color);
        dat_text(f, point_title(&x->p[pi]));
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
                        stat_add(&acc, 100 * r->ep[j].val_acc);
                        stat_add(&loss, r->ep[j].val_loss);
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
    int rc = close_out(c, f, path);
    if (rc) { free(block_point); return rc; }

    vals_buf v;
    if (vals_open(c, &v)) { free(block_point); return NNL_REPORT_EINPUT; }
    FILE *m = v.m;
    fprintf(m, "nblocks = %d\nnepochs = %d\narray block_title[%d] = [", nblocks, maxe, nblocks);
    for (int b = 0; b < nblocks; b++) {
        gp_quote(m, point_title(&x->p[block_point[b]]));
        fputs(b + 1 < nblocks ? ", " : "]\n", m);
    }
    fprintf(m, "array block_color[%d] = [", nblocks);
    for (int b = 0; b < nblocks; b++) fprintf(m, "%d%s", x->p[block_point[b]].color, b + 1 < nblocks ? ", " : "]\n");
    free(block_point);
    char title[512];
    snprintf(title, sizeof title, "%s: validation accuracy and loss by epoch\nline: mean over seeds, band: lowest "
             "to highest seed", x->experiment);
    rc = vals_draw(c, &v, "exp-curves", title,
                   "Validation accuracy (left) and loss (right) after each epoch, one colour per grid point: the line "
                   "is the mean over its seeds, the shaded band spans the lowest to the highest seed.");
    return rc;
}

/* the most seeds any grid point has */
static int max_seeds(const xdata *x) {
    int n = 0;
    for (int k = 0; k < x->np; k++)
        if (x->p[k].nruns > n) n = x->p[k].nruns;
    return n;
}

static int exp_bars(rctx *c, const xdata *x) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = open_out(c, "exp-bars.dat", path, sizeof path);
    if (!f) return NNL_REPORT_EINPUT;
    dat_head(f, "exp-bars.dat", x,
             "test accuracy (%) of each variant over its finished seeds (NaN: none finished yet).\n"
             "# block 0 (gnuplot index 0): one row per variant, x = its place in the report's order\n"
             "# x variant mean min max std seeds");
    double lo = 100;
    for (int k = 0; k < x->np; k++) {
        int pi = x->order[k];
        stat1 s = {0};
        double sq = 0;
        for (int i = 0; i < x->nr; i++)
            if (x->r[i].point == pi) stat_add(&s, 100 * x->r[i].test);
        double mean = stat_mean(&s);
        for (int i = 0; i < x->nr; i++)
            if (x->r[i].point == pi && isfinite(x->r[i].test)) sq += pow(100 * x->r[i].test - mean, 2);
        fprintf(f, "%d %d ", k + 1, x->p[pi].color);
        put_stat(f, &s);
        fputc(' ', f);
        put_num(f, s.n > 1 ? sqrt(sq / (s.n - 1)) : s.n ? 0 : NAN);
        fprintf(f, " %d\n", s.n);
        if (s.n && s.min < lo) lo = s.min;
    }
    fputs("\n\n# block 1 (gnuplot index 1): one row per finished run\n# x test_acc run_id\n", f);
    for (int i = 0; i < x->nr; i++) {
        if (!isfinite(x->r[i].test)) continue;
        fprintf(f, "%d ", x->p[x->r[i].point].color);
        put_num(f, 100 * x->r[i].test);
        fprintf(f, " %lld\n", (long long)x->r[i].id);
    }
    int rc = close_out(c, f, path);
    if (rc) return rc;

    vals_buf v;
    if (vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    put_point_labels(m, x);
    /* bars start at 0 unless every seed is far above it: then the axis starts
     * near the lowest seed, so differences of a point or two stay visible */
    hv_num(m, "y_min", lo < 40 ? 0 : 10 * floor((lo - 5) / 10));
    fprintf(m, "max_seeds = %d\n", max_seeds(x));
    char title[512];
    snprintf(title, sizeof title, "%s: test accuracy of each grid point\nbar: mean over seeds, error bar: lowest to "
             "highest seed, dot: each seed", x->experiment);
    rc = vals_draw(c, &v, "exp-bars", title,
                   "Test accuracy of each grid point: the bar is the mean over its finished seeds, the error bar spans "
                   "the lowest to the highest seed (not a standard deviation), and each dot is one seed. The "
                   "colours match the other figures.");
    return rc;
}

static int exp_seconds(rctx *c, const xdata *x) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = open_out(c, "exp-seconds.dat", path, sizeof path);
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
                stat_add(&all, x->r[i].ep[e].seconds);
                stat_add(&one, x->r[i].ep[e].seconds);
            }
            stat_add(&per_run, stat_mean(&one));
        }
        fprintf(f, "%d %d ", k + 1, x->p[pi].color);
        put_num(f, stat_mean(&all));
        fputc(' ', f);
        put_num(f, per_run.n ? per_run.min : NAN);
        fputc(' ', f);
        put_num(f, per_run.n ? per_run.max : NAN);
        fprintf(f, " %d\n", all.n);
    }
    int rc = close_out(c, f, path);
    if (rc) return rc;
    vals_buf v;
    if (vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    put_point_labels(m, x);
    char title[512];
    snprintf(title, sizeof title, "%s: seconds per epoch of each grid point\nbar: mean over runs and epochs, error "
             "bar: fastest to slowest run", x->experiment);
    rc = vals_draw(c, &v, "exp-seconds", title,
                   "Wall time of one epoch (training plus validation) of each grid point: the bar is the mean over "
                   "every epoch of its runs, the error bar spans the fastest to the slowest run. Runs that shared "
                   "the machine with other runs (sweep -j) are slower than alone.");
    return rc;
}

int nnl_report_log_spaced(const double *v, int n) {
    double s[MAX_AXIS];
    if (n < 2 || n > MAX_AXIS) return 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i])) return 0;
        int j = i;
        while (j > 0 && s[j - 1] > v[i]) { s[j] = s[j - 1]; j--; }
        s[j] = v[i];
    }
    if (s[n - 1] < 10 * s[0]) return 0;
    double lin_lo = INFINITY, lin_hi = 0, log_lo = INFINITY, log_hi = 0;
    for (int i = 1; i < n; i++) {
        double d = s[i] - s[i - 1], l = log(s[i] / s[i - 1]);
        if (d <= 0) return 0;
        lin_lo = fmin(lin_lo, d);
        lin_hi = fmax(lin_hi, d);
        log_lo = fmin(log_lo, l);
        log_hi = fmax(log_hi, l);
    }
    /* the spread of the steps: 1 is perfectly even */
    return log_hi / log_lo <= lin_hi / lin_lo;
}

/* One side of a heat map. */
typedef struct {
    const char *key;
    int n, numeric, log;
    const char *val[MAX_AXIS];
    double pos[MAX_AXIS], lo[MAX_AXIS], hi[MAX_AXIS];
} axis;

static int axis_index(const axis *a, const char *v) {
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->val[i], v)) return i;
    return -1;
}

/* The distinct values of key k in the stable order; numeric keys sorted by
 * value with cells reaching half-way (in log space on a log axis) to their
 * neighbours; other keys one unit apart. 0, or -1 if too many values. */
static int axis_build(axis *a, const xdata *x, int k) {
    memset(a, 0, sizeof *a);
    a->key = x->p[0].key[k];
    a->numeric = 1;
    for (int o = 0; o < x->np; o++) {
        const char *v = x->p[x->order[o]].val[k];
        if (axis_index(a, v) >= 0) continue;
        if (a->n == MAX_AXIS) return -1;
        a->val[a->n] = v;
        if (!parse_num(v, &a->pos[a->n])) a->numeric = 0;
        a->n++;
    }
    if (!a->numeric) {
        for (int i = 0; i < a->n; i++) {
            a->pos[i] = i;
            a->lo[i] = i - 0.5;
            a->hi[i] = i + 0.5;
        }
        return 0;
    }
    for (int i = 1; i < a->n; i++) /* sort by value, carrying the text */
        for (int j = i; j > 0 && a->pos[j - 1] > a->pos[j]; j--) {
            double t = a->pos[j];
            a->pos[j] = a->pos[j - 1];
            a->pos[j - 1] = t;
            const char *s = a->val[j];
            a->val[j] = a->val[j - 1];
            a->val[j - 1] = s;
        }
    a->log = nnl_report_log_spaced(a->pos, a->n);
    /* one value has no neighbour to reach half-way to: its cell is a unit
     * wide (the cells below read t[i - 1] and t[1], out of bounds for one
     * value, as a one-point grid of issue 11's case 5 showed under UBSan) */
    if (a->n == 1) {
        a->lo[0] = a->pos[0] - 0.5;
        a->hi[0] = a->pos[0] + 0.5;
        return 0;
    }
    double t[MAX_AXIS];
    for (int i = 0; i < a->n; i++) t[i] = a->log ? log10(a->pos[i]) : a->pos[i];
    for (int i = 0; i < a->n; i++) {
        double lo = i ? (t[i - 1] + t[i]) / 2 : t[0] - (t[1] - t[0]) / 2;
        double hi = i + 1 < a->n ? (t[i] + t[i + 1]) / 2 : t[i] + (t[i] - t[i - 1]) / 2;
        a->lo[i] = a->log ? pow(10, lo) : lo;
        a->hi[i] = a->log ? pow(10, hi) : hi;
    }
    return 0;
}

static void put_axis(FILE *m, const axis *a, char name) {
    fprintf(m, "%ckey = ", name);
    gp_quote(m, a->key);
    fprintf(m, "\nlog%c = %d\n%c_min = ", name, a->log, name);
    put_num(m, a->lo[0]);
    fprintf(m, "\n%c_max = ", name);
    put_num(m, a->hi[a->n - 1]);
    fprintf(m, "\narray %ctic_pos[%d] = [", name, a->n);
    for (int i = 0; i < a->n; i++) {
        put_num(m, a->pos[i]);
        fputs(i + 1 < a->n ? ", " : "]\n", m);
    }
    fprintf(m, "array %ctic_label[%d] = [", name, a->n);
    for (int i = 0; i < a->n; i++) {
        gp_quote_tic(m, a->val[i]);
        fputs(i + 1 < a->n ? ", " : "]\n", m);
    }
}

/* Whether the experiment is a full grid of two keys; why not in why. */
static int heatmap_fits(const xdata *x, axis *ax, axis *ay, char *why, size_t n) {
    for (int i = 0; i < x->np; i++)
        if (x->p[i].nkv != 2 || strcmp(x->p[i].key[0], x->p[0].key[0]) || strcmp(x->p[i].key[1], x->p[0].key[1])) {
            snprintf(why, n, "its grid points do not all vary the same two keys (a heat map needs exactly two)");
            return 0;
        }
    if (axis_build(ax, x, 0) || axis_build(ay, x, 1)) {
        snprintf(why, n, "a key has more than %d values", MAX_AXIS);
        return 0;
    }
    if (ax->n < 2 || ay->n < 2 || ax->n * ay->n != x->np) {
        snprintf(why, n, "its %d grid points are not every combination of %d values of %s and %d of %s", x->np,
                 ax->n, ax->key, ay->n, ay->key);
        return 0;
    }
    return 1;
}

static int exp_heatmap(rctx *c, const xdata *x, const axis *ax, const axis *ay) {
    char path[NNL_PATH_MAX + 64];
    FILE *f = open_out(c, "exp-heatmap.dat", path, sizeof path);
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
            int i = axis_index(ax, p->val[0]), j = axis_index(ay, p->val[1]);
            stat1 s = {0};
            for (int r = 0; r < x->nr; r++)
                if (x->r[r].point == x->order[o]) stat_add(&s, 100 * x->r[r].test);
            if ((s.n > 0) == pass) continue;
            double v[6] = {ax->pos[i], ay->pos[j], ax->lo[i], ax->hi[i], ay->lo[j], ay->hi[j]};
            for (int k = 0; k < 6; k++) {
                put_num(f, v[k]);
                fputc(k < 5 ? ' ' : pass ? '\n' : ' ', f);
            }
            if (pass) { missing++; continue; }
            put_num(f, stat_mean(&s));
            fprintf(f, " %d\n", s.n);
            stat_add(&range, stat_mean(&s));
        }
    }
    int rc = close_out(c, f, path);
    if (rc) return rc;
    vals_buf v;
    if (vals_open(c, &v)) return NNL_REPORT_EINPUT;
    FILE *m = v.m;
    put_axis(m, ax, 'x');
    put_axis(m, ay, 'y');
    double lo = range.min, hi = range.max;
    if (hi - lo < 0.1) { lo -= 0.5; hi += 0.5; }
    hv_num(m, "cb_min", lo);
    hv_num(m, "cb_max", hi);
    fprintf(m, "n_missing = %d\nmax_seeds = %d\n", missing, max_seeds(x));
    char title[512], caption[600];
    snprintf(title, sizeof title, "%s: test accuracy (%%) by %s and %s\nmean over seeds", x->experiment, ax->key,
             ay->key);
    snprintf(caption, sizeof caption,
             "Test accuracy (%%, mean over the finished seeds) of every combination of %s and %s, the value "
             "written in each cell%s.", ax->key, ay->key,
             ax->log || ay->log ? "; the log axes space the log-spaced values evenly" : "");
    rc = vals_draw(c, &v, "exp-heatmap", title, caption);
    return rc;
}

/* nnl_compare's CSV as an HTML table: the keys, the seeds finished, and
 * test and best validation accuracy as mean ± std in %. */
static void html_compare(FILE *f, nnl_store *s, const char *experiment) {
    char *buf = NULL, err[1024] = "out of memory";
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int rc = m ? nnl_compare(s, experiment, 1, m, err, sizeof err) : -1;
    if (m) fclose(m);
    if (rc) {
        fputs("<p class=\"note\">No comparison table: ", f);
        html_text(f, err);
        fputs("</p>\n", f);
        free(buf);
        return;
    }
    fputs("<table>\n", f);
    int ncol = 0, row = 0;
    for (char *line = buf, *next; line && *line; line = next, row++) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *field[MAX_KEYS + 8];
        int nf = 0;
        for (char *p = line; nf < MAX_KEYS + 8;) {
            field[nf++] = p;
            p = strchr(p, ',');
            if (!p) break;
            *p++ = 0;
        }
        if (!row) ncol = nf;
        if (nf != ncol || nf < 6) continue;
        int nk = nf - 6;
        fputs("<tr>", f);
        for (int k = 0; k < nk; k++) {
            fputs(row ? "<td class=\"k\">" : "<th class=\"k\">", f);
            html_text(f, field[k]);
            fputs(row ? "</td>" : "</th>", f);
        }
        if (!row) {
            fputs("<th>seeds finished</th><th>test accuracy (%)</th><th>best validation accuracy (%)</th></tr>\n", f);
            continue;
        }
        fprintf(f, "<td>%s of %s</td>", field[nk + 1], field[nk]);
        for (int k = nk + 2; k < nk + 6; k += 2) {
            double mean = strtod(field[k], NULL), sd = strtod(field[k + 1], NULL);
            if (isfinite(mean)) fprintf(f, "<td>%.2f ± %.2f</td>", 100 * mean, 100 * sd);
            else fputs("<td>–</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<p class=\"small\">One row per grid point, best test accuracy first; mean ± standard "
          "deviation over the finished seeds (the table of <code>nnlab compare</code>).</p>\n", f);
    free(buf);
}

static void html_experiment(FILE *f, const rctx *c, nnl_store *s, const xdata *x, const char *notes) {
    char title[300];
    snprintf(title, sizeof title, "nnlab report: experiment %s", x->experiment);
    html_head(f, title);
    if (c->title_note[0]) {
        fputs("<p class=\"note\">", f);
        html_text(f, c->title_note);
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

int nnl_report_experiment(nnl_store *s, const char *experiment, const nnl_report_opts *o, nnl_report_result *res,
                          char *err, size_t errlen) {
    rctx c;
    int rc = ctx_init(&c, o, res, err, errlen);
    if (rc) return rc;
    xdata x;
    if ((rc = xdata_load(s, experiment, &x, err, errlen))) return rc;

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
        if ((rc = exp_curves(&c, &x))) goto out;
    } else {
        nn += (size_t)snprintf(notes + nn, sizeof notes - nn, "<p class=\"note\">No validation curves: %s.</p>\n",
                               x.any_epoch ? "the runs have no validation split" : "no epoch has finished yet");
    }
    if (x.any_test) {
        if ((rc = exp_bars(&c, &x))) goto out;
        if (heatmap_fits(&x, &ax, &ay, why, sizeof why)) {
            if ((rc = exp_heatmap(&c, &x, &ax, &ay))) goto out;
        } else if (nn < sizeof notes) {
            /* why names the grid's keys: text of the experiment, escaped like the rest */
            char *esc = NULL;
            size_t esclen = 0;
            FILE *m = open_memstream(&esc, &esclen);
            if (m) {
                html_text(m, why);
                fclose(m);
            }
            nn += (size_t)snprintf(notes + nn, sizeof notes - nn, "<p class=\"small\">No heat map: %s.</p>\n",
                                   esc ? esc : "");
            free(esc);
        }
    } else if (nn < sizeof notes) {
        nn += (size_t)snprintf(notes + nn, sizeof notes - nn,
                               "<p class=\"note\">No test accuracy yet: no run has finished.</p>\n");
    }
    if (x.any_epoch && (rc = exp_seconds(&c, &x))) goto out;
    char path[NNL_PATH_MAX + 64];
    FILE *f;
    if ((rc = html_open(&c, &f, path, sizeof path))) goto out;
    html_experiment(f, &c, s, &x, notes);
    if (!(rc = close_out(&c, f, path))) drop_stale(&c);
out:
    xdata_free(&x);
    return rc;
}

/* --- the command line ----------------------------------------------------- */

static const char usage_report[] =
    "usage: nnlab report RUN|EXPERIMENT [--db PATH] [--out DIR]\n"
    "\n"
    "Draws the figures of a run or of an experiment with gnuplot, as PNG and SVG,\n"
    "and an index.html that shows them all (it works offline and has no scripts).\n"
    "\n"
    "  RUN         a run id or a unique prefix of its key (see 'nnlab ls'): its loss\n"
    "              and accuracy by epoch, training and validation side by side, and\n"
    "              its test confusion matrix with the class names\n"
    "  EXPERIMENT  an experiment file or an experiment's name: per grid point, the\n"
    "              validation accuracy and loss by epoch (mean over seeds, a band\n"
    "              from the lowest to the highest seed), test accuracy bars (error\n"
    "              bars: lowest to highest seed), a heat map of test accuracy when\n"
    "              the grid has two keys (log axes for log-spaced values), seconds\n"
    "              per epoch, and the 'nnlab compare' table. A sweep still running\n"
    "              is drawn as far as it has got, and its figures say so.\n"
    "\n"
    "  --db PATH   the database (default " DEFAULT_DB ")\n"
    "  --out DIR   the report folder (default: reports/NAME in the database's folder,\n"
    "              e.g. results/reports/act-pool or results/reports/run-12)\n"
    "\n"
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
    "exit status: 0 written, 1 gnuplot failed on a template, 2 bad input or no gnuplot.\n";

/* 1 if the database has runs of this experiment, 0 if not, -1 on error */
static int has_experiment(nnl_store *s, const char *name, char *err, size_t errlen) {
    sqlite3_stmt *st;
    sqlite3 *db = nnl_store_db(s);
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM runs WHERE experiment = ?1 LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return fail(err, errlen, -1, "%s: %s", nnl_store_path(s), sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(err, errlen, -1, "%s: %s", nnl_store_path(s), sqlite3_errmsg(db));
    return rc == SQLITE_ROW;
}

int nnl_report_cmd(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *db = DEFAULT_DB, *out = NULL;
    optind = 0; /* glibc: start afresh, also after a parse that stopped half-way */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'o': out = optarg; break;
        case 'h': fputs(usage_report, stdout); return 0;
        case ':':
            fprintf(stderr, "nnlab report: option '%s' needs a value (see 'nnlab report --help')\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "nnlab report: unknown option '%s' (see 'nnlab report --help')\n", argv[optind - 1]);
            return 2;
        }
    }
    if (argc - optind != 1) {
        if (argc - optind > 1) fprintf(stderr, "nnlab report: unexpected argument '%s'\n", argv[optind + 1]);
        else fprintf(stderr, "nnlab report: expected a run or an experiment (see 'nnlab report --help')\n");
        return 2;
    }
    const char *arg = argv[optind];
    char err[2048], name[NNL_NAME_MAX] = "";
    int planned = 0;
    struct stat st;
    /* an existing file is an experiment file; its name says which runs */
    if (!stat(arg, &st) && S_ISREG(st.st_mode)) {
        nnl_plan plan;
        if (nnl_plan_load(arg, NULL, 0, &plan, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        snprintf(name, sizeof name, "%s", plan.name);
        planned = plan.nruns;
        nnl_plan_free(&plan);
    }
    nnl_store *s = nnl_store_open_readonly(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    int64_t run = 0;
    if (!name[0]) {
        int is_exp = has_experiment(s, arg, err, sizeof err);
        if (is_exp > 0) snprintf(name, sizeof name, "%s", arg);
        else if (is_exp == 0 && (run = nnl_store_find_run(s, arg, err, sizeof err)) < 0)
            fprintf(stderr, "nnlab report: '%s' is no experiment file, no experiment in %s, and no run: %s\n", arg,
                    db, err);
        else if (is_exp < 0)
            fprintf(stderr, "%s\n", err);
        if (is_exp < 0 || run < 0) {
            nnl_store_close(s);
            return 2;
        }
    }
    char outdir[NNL_PATH_MAX], folder[NNL_NAME_MAX + 32];
    if (run) snprintf(folder, sizeof folder, "run-%lld", (long long)run);
    else nnl_name_to_path(name, "report", folder, sizeof folder);
    const char *slash = strrchr(db, '/');
    if (out) snprintf(outdir, sizeof outdir, "%s", out);
    else if (slash) snprintf(outdir, sizeof outdir, "%.*s/reports/%s", (int)(slash - db), db, folder);
    else snprintf(outdir, sizeof outdir, "reports/%s", folder);

    nnl_report_opts o = {.outdir = outdir, .planned_runs = planned};
    nnl_report_result res;
    int rc = run ? nnl_report_run(s, run, &o, &res, err, sizeof err)
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
    for (int i = 0; i < res.nfigs; i++) printf("  %s\n", res.figs[i]);
    return 0;
}
