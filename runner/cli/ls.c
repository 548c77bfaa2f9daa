/* ls.c -- `nnlab ls`: the runs as a table whose name column fits the
 * terminal. A name too long for it shows what varies rather than a cut
 * prefix: "activation=sigmoid,pool=max,seed=2" becomes "sigmoid,max,seed=2"
 * (the values; the seed keeps its key), and only then is it cut, with "…"
 * at the end. Piped output (no terminal, no COLUMNS) is never cut. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "ls.h"
#include "names.h"
#include "search.h"

/* characters (code points) in s; a byte that starts none counts as one */
static int text_width(const char *s) {
    int w = 0;
    for (size_t i = 0; s[i]; w++) {
        size_t n = nnl_utf8_len((const unsigned char *)s + i, SIZE_MAX);
        i += n ? n : 1;
    }
    return w;
}

/* the first `chars` characters of s, whole characters only */
static void cut_text(const char *s, int chars, char *out, size_t n) {
    size_t i = 0;
    for (int c = 0; s[i] && c < chars; c++) {
        size_t k = nnl_utf8_len((const unsigned char *)s + i, SIZE_MAX);
        i += k ? k : 1;
    }
    snprintf(out, n, "%.*s", (int)i, s);
}

void nnl_ls_fit(const char *name, int width, char *out, size_t n) {
    if (width <= 0 || text_width(name) <= width) { snprintf(out, n, "%s", name); return; }
    /* the values of k=v parts, the seed's with its key */
    char compact[512] = "";
    size_t len = 0;
    for (const char *p = name; *p && len < sizeof compact - 1;) {
        const char *end = strchr(p, ','), *eq = strchr(p, '=');
        const size_t plen = end ? (size_t)(end - p) : strlen(p);
        const char *v = p;
        size_t vlen = plen;
        if (eq && eq < p + plen && !(plen > 5 && !strncmp(p, "seed=", 5))) {
            v = eq + 1;
            vlen = plen - (size_t)(v - p);
        }
        len += (size_t)snprintf(compact + len, sizeof compact - len, "%s%.*s", len ? "," : "", (int)vlen, v);
        if (len >= sizeof compact) len = sizeof compact - 1;
        p += plen + (end ? 1 : 0);
    }
    if (text_width(compact) <= width) { snprintf(out, n, "%s", compact); return; }
    char head[512];
    cut_text(compact, width > 1 ? width - 1 : 0, head, sizeof head);
    snprintf(out, n, "%s\xe2\x80\xa6", head); /* U+2026 */
}

int nnl_terminal_width(void) {
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    const long v = c ? strtol(c, NULL, 10) : 0;
    return v > 0 && v < 10000 ? (int)v : 0;
}

typedef struct {
    long long id;
    char *key, *name, *experiment, *status, *created;
    int epochs;
    double best, test;
} row;

typedef struct {
    row *r;
    int n, cap, oom;
} rows;

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static int collect(const nnl_run_summary *s, void *ud) {
    rows *rs = ud;
    if (rs->n == rs->cap) {
        const int nc = rs->cap ? 2 * rs->cap : 64;
        row *nr = realloc(rs->r, sizeof *nr * (size_t)nc);
        if (!nr) { rs->oom = 1; return 1; }
        rs->r = nr;
        rs->cap = nc;
    }
    /* a run paused at a rung of successive halving is interrupted in the
     * store, with the reason: here it reads as what it is */
    const char *status = s->status;
    if (status && !strcmp(status, "interrupted") && s->error && !strncmp(s->error, NNL_RUNG_WAIT, strlen(NNL_RUNG_WAIT)))
        status = "waiting";
    row r = {s->id, dup_or_empty(s->key), dup_or_empty(s->name), dup_or_empty(s->experiment ? s->experiment : "-"),
             dup_or_empty(status), dup_or_empty(s->created), s->epochs_done, s->best_val_acc, s->test_acc};
    rs->r[rs->n++] = r; /* freed with the others, whole or not */
    if (!r.key || !r.name || !r.experiment || !r.status || !r.created) { rs->oom = 1; return 1; }
    return 0;
}

/* text padded with spaces to `width` characters (UTF-8 aware) */
static void put_padded(FILE *out, const char *s, int width) {
    fputs(s, out);
    for (int w = text_width(s); w < width; w++) fputc(' ', out);
}

int nnl_ls_print(nnl_store *s, const char *experiment, int width, FILE *out, char *err, size_t errlen) {
    rows rs = {0};
    int rc = nnl_store_runs_foreach(s, experiment, collect, &rs, err, errlen);
    if (!rc && rs.oom) { snprintf(err, errlen, "listing runs: out of memory"); rc = -1; }
    if (!rc && rs.n) {
        /* the name and experiment columns as wide as their longest entry */
        int nw = 4, ew = 10;
        for (int i = 0; i < rs.n; i++) {
            const int a = text_width(rs.r[i].name), b = text_width(rs.r[i].experiment);
            nw = a > nw ? a : nw;
            ew = b > ew ? b : ew;
        }
        /* id, key, status, epochs, best val, test, created (20), the gaps;
         * when the terminal is narrower: the key's first 8 characters (a
         * prefix names a run as well), then no created column, then the
         * name narrowed (down to 12) and the experiment (down to 14) */
        int kw = 16, show_created = 1, show_exp = 1;
        const int base = 5 + 11 + 6 + 8 + 8 + 2 * 6;
        int one_exp = 1;
        for (int i = 1; i < rs.n; i++) one_exp &= !strcmp(rs.r[i].experiment, rs.r[0].experiment);
#define LS_WIDE (base + kw + 2 + (show_created ? 22 : 0) + nw + (show_exp ? ew + 2 : 0))
        if (width > 0 && LS_WIDE > width) kw = 8;
        if (width > 0 && LS_WIDE > width) show_created = 0;
        if (width > 0 && LS_WIDE > width && one_exp) show_exp = 0; /* said once, above the table */
        if (width > 0 && LS_WIDE > width) {
            const int room = width - (LS_WIDE - nw - (show_exp ? ew : 0));
            if (show_exp && ew > 14 && room - ew < 24) ew = room - 24 > 14 ? room - 24 : 14;
            nw = room - (show_exp ? ew : 0) > 12 ? room - (show_exp ? ew : 0) : 12;
        }
#undef LS_WIDE
        if (!show_exp) fprintf(out, "experiment %s\n", rs.r[0].experiment);
        fprintf(out, "%5s  %-*s  ", "id", kw, "key");
        put_padded(out, "name", nw);
        if (show_exp) {
            fputs("  ", out);
            put_padded(out, "experiment", ew);
        }
        fprintf(out, "  %-11s  %6s  %8s  %8s%s\n", "status", "epochs", "best val", "test", show_created ? "  created" : "");
        for (int i = 0; i < rs.n; i++) {
            const row *r = &rs.r[i];
            char name[512], exper[512], best[16] = "-", test[16] = "-";
            nnl_ls_fit(r->name, nw, name, sizeof name);
            nnl_ls_fit(r->experiment, ew, exper, sizeof exper);
            if (!isnan(r->best)) snprintf(best, sizeof best, "%.2f%%", 100 * r->best);
            if (!isnan(r->test)) snprintf(test, sizeof test, "%.2f%%", 100 * r->test);
            fprintf(out, "%5lld  %-*.*s  ", r->id, kw, kw, r->key);
            put_padded(out, name, nw);
            if (show_exp) {
                fputs("  ", out);
                put_padded(out, exper, ew);
            }
            fprintf(out, "  %-11s  %6d  %8s  %8s%s%s\n", r->status, r->epochs, best, test, show_created ? "  " : "",
                    show_created ? r->created : "");
        }
    }
    for (int i = 0; i < rs.n; i++) {
        row *r = &rs.r[i];
        free(r->key); free(r->name); free(r->experiment); free(r->status); free(r->created);
    }
    free(rs.r);
    return rc ? -1 : rs.n;
}
