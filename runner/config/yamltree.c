/* yamltree.c -- see yamltree.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "input.h"
#include "names.h"
#include "yamltree.h"






node *yt_node_new(int type, const char *src, int line, int col) {
    node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->type = type;
    n->src = src;
    n->line = line;
    n->col = col;
    return n;
}

node *yt_scalar_new(const char *src, int line, int col, const char *text, size_t len,
                        int plain) {
    node *n = yt_node_new(N_SCALAR, src, line, col);
    if (!n) return NULL;
    n->text = malloc(len + 1);
    if (!n->text) {
        free(n);
        return NULL;
    }
    memcpy(n->text, text, len);
    n->text[len] = 0;
    n->plain = plain;
    return n;
}

void yt_node_free(node *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) yt_node_free(n->kid[i]);
    free(n->kid);
    free(n->text);
    free(n);
}

int yt_node_add(node *p, node *k) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        node **kid = realloc(p->kid, (size_t)cap * sizeof *kid);
        if (!kid) return -1;
        p->kid = kid;
        p->cap = cap;
    }
    p->kid[p->n++] = k;
    return 0;
}

/* YAML's null: an empty plain scalar, ~ or null */
int yt_is_null(const node *n) {
    if (n->type != N_SCALAR || !n->plain) return 0;
    const char *t = n->text;
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
           !strcmp(t, "NULL");
}

/* The value under key in mapping m (NULL if absent); *keynode gets its key. */
node *yt_map_get(const node *m, const char *key, node **keynode) {
    if (!m || m->type != N_MAP) return NULL;
    for (int i = 0; i + 1 < m->n; i += 2)
        if (!strcmp(m->kid[i]->text, key)) {
            if (keynode) *keynode = m->kid[i];
            return m->kid[i + 1];
        }
    return NULL;
}

/* Scalar n becomes the mapping {key: n's old value}, or {key: null} when
 * keep is 0 ("- pool" is {pool: null}), or {} when key is NULL. */
int yt_to_map(node *n, const char *key, int keep) {
    if (key) {
        node *k = yt_scalar_new(n->src, n->line, n->col, key, strlen(key), 1);
        node *v = keep ? yt_node_new(N_SCALAR, n->src, n->line, n->col)
                       : yt_scalar_new(n->src, n->line, n->col, "", 0, 1);
        if (!k || !v || yt_node_add(n, k)) {
            yt_node_free(k);
            yt_node_free(v);
            return -1;
        }
        if (yt_node_add(n, v)) {
            yt_node_free(v);
            return -1;
        }
        if (keep) {
            v->text = n->text;
            v->plain = n->plain;
            n->text = NULL;
        }
    }
    free(n->text);
    n->text = NULL;
    n->type = N_MAP;
    return 0;
}

/* ------------------------------------------------------------------ errors */


static int vfailp(yt_ctx *x, const char *src, int line, int col, const char *fmt, va_list ap) {
    if (!x->err || !x->errlen) return -1;
    int o = line > 0 ? snprintf(x->err, x->errlen, "%s:%d:%d: ", src, line, col)
                     : snprintf(x->err, x->errlen, "%s: ", src);
    if (o >= 0 && (size_t)o < x->errlen) vsnprintf(x->err + o, x->errlen - (size_t)o, fmt, ap);
    /* one line, whatever a file name or a user's text held */
    for (char *p = x->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    return -1;
}

__attribute__((format(printf, 5, 6)))
int yt_failp(yt_ctx *x, const char *src, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfailp(x, src, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error at node at (or about the whole file when at is NULL). */
__attribute__((format(printf, 3, 4)))
int yt_fail(yt_ctx *x, const node *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (at) vfailp(x, at->src, at->line, at->col, fmt, ap);
    else vfailp(x, x->file, 0, 0, fmt, ap);
    va_end(ap);
    return -1;
}

/* A user's text for a message: control bytes escaped, long text cut. */
const char *yt_clip(const char *s, char *buf, size_t cap) {
    size_t o = 0, i = 0;
    for (; s[i] && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
        else buf[o++] = (char)ch;
    }
    if (s[i]) {
        while (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80) o--; /* whole UTF-8 chars */
        if (o > 0) o--;
        memcpy(buf + o, "...", 4);
    } else {
        buf[o] = 0;
    }
    return buf;
}

/* What a node is, for "expected X, got Y". */
const char *yt_got(const node *n, char *buf, size_t cap) {
    char c[64];
    if (n->type == N_SEQ) return "a list";
    if (n->type == N_MAP) return "a mapping";
    if (yt_is_null(n)) return "nothing";
    snprintf(buf, cap, "'%s'", yt_clip(n->text, c, sizeof c));
    return buf;
}

/* Optimal string alignment distance, case-folded, for "did you mean". */
static int edit_distance(const char *a, const char *b) {
    enum { M = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= M || lb >= M) return M;
    int d[M][M];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20;
            int v = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == (b[j - 2] | 0x20) && (a[i - 2] | 0x20) == cb &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* The candidate closest to word if it is close enough to be a typo. */
const char *yt_closest(const char *word, const char *const *cand, int n) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, cand[i]);
        int len = (int)strlen(cand[i]), wl = (int)strlen(word);
        if (d < bd && (d < len || d == 0) && d < wl) {
            bd = d;
            best = cand[i];
        }
    }
    return best;
}

void yt_join(char *buf, size_t cap, const char *const *words, int n) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", words[i]);
}

/* ----------------------------------------------------------- text to tree */

static void offset_pos(const char *text, size_t len, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            ++*col;
        }
    }
}

/* Offset of the first byte that is not well-formed UTF-8, or len. */
static size_t utf8_bad(const unsigned char *s, size_t len) {
    size_t i = 0, n;
    while (i < len && (n = nnl_utf8_len(s + i, len - i))) i += n;
    return i;
}

static int check_text(yt_ctx *x, const char *src, int marks, const char *text, size_t len) {
    int line = 0, col = 0;
    if (len > YT_MAX_BYTES)
        return yt_failp(x, src, 0, 0, "too large: %zu bytes (a config is at most %d bytes)", len,
                     YT_MAX_BYTES);
    const char *z = len ? memchr(text, 0, len) : NULL;
    if (z) {
        if (marks) offset_pos(text, len, (size_t)(z - text), &line, &col);
        return yt_failp(x, src, line, col, "contains a NUL byte: this is not a text file");
    }
    size_t bad = utf8_bad((const unsigned char *)text, len);
    if (bad < len) {
        if (marks) offset_pos(text, len, bad, &line, &col);
        return yt_failp(x, src, line, col, "not valid UTF-8 text (byte 0x%02x)",
                     (unsigned char)text[bad]);
    }
    return 0;
}

static int syntax_error(yt_ctx *x, const yaml_parser_t *p, const char *src, int marks,
                        const char *text, size_t len) {
    const char *problem = p->problem ? p->problem : "cannot parse";
    int line = 0, col = 0;
    if (p->error == YAML_MEMORY_ERROR) return yt_failp(x, src, 0, 0, "out of memory reading YAML");
    if (marks && p->error == YAML_READER_ERROR) {
        offset_pos(text, len, p->problem_offset, &line, &col);
    } else if (marks) {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    if (marks && p->error == YAML_SCANNER_ERROR && line > 0) {
        /* the classic: a tab where YAML wants spaces */
        size_t i = 0;
        for (int l = 1; i < len && l < line; i++) l += text[i] == '\n';
        for (int k = 1; i < len && k < col; k++)   /* col counts characters */
            for (i++; i < len && ((unsigned char)text[i] & 0xc0) == 0x80; i++)
                ;
        if (i < len && text[i] == '\t')
            return yt_failp(x, src, line, col, "YAML syntax error: a tab (indent with spaces)");
    }
    if (marks && p->context)
        return yt_failp(x, src, line, col, "YAML syntax error: %s (%s at line %d)", problem,
                     p->context, (int)p->context_mark.line + 1);
    return yt_failp(x, src, line, col, "YAML syntax error: %s", problem);
}

/* Builds the tree of one YAML document; *out is NULL for an empty stream.
 * marks: record positions (a file) or not (an override's value). */
int yt_parse_yaml(yt_ctx *x, const char *src, int marks, const char *text, size_t len,
                      node **out) {
    yaml_parser_t p;
    node *stack[YT_MAX_DEPTH];
    node *root = NULL;
    int depth = 0, ndocs = 0, done = 0, rc = -1;
    *out = NULL;
    if (check_text(x, src, marks, text, len)) return -1;
    if (!yaml_parser_initialize(&p)) return yt_failp(x, src, 0, 0, "out of memory reading YAML");
    yaml_parser_set_input_string(&p, (const unsigned char *)(text ? text : ""), len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(x, &p, src, marks, text, len);
            goto out;
        }
        int line = marks ? (int)ev.start_mark.line + 1 : 0;
        int col = marks ? (int)ev.start_mark.column + 1 : 0;
        char c[64];
        node *n = NULL;
        int bad = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1)
                bad = yt_failp(x, src, line, col,
                            "a second YAML document: a config is one document (remove the '---')");
            break;
        case YAML_ALIAS_EVENT:
            bad = yt_failp(x, src, line, col,
                        "YAML aliases (*%s) are not supported: write the value out",
                        yt_clip((const char *)ev.data.alias.anchor, c, sizeof c));
            break;
        case YAML_SCALAR_EVENT:
            if (memchr(ev.data.scalar.value, 0, ev.data.scalar.length))
                bad = yt_failp(x, src, line, col, "a value contains a NUL character");
            else if (!(n = yt_scalar_new(src, line, col, (const char *)ev.data.scalar.value,
                                      ev.data.scalar.length,
                                      ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)))
                bad = yt_failp(x, src, 0, 0, "out of memory");
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == YT_MAX_DEPTH)
                bad = yt_failp(x, src, line, col, "nested more than %d levels deep", YT_MAX_DEPTH);
            else if (!(n = yt_node_new(ev.type == YAML_SEQUENCE_START_EVENT ? N_SEQ : N_MAP, src,
                                    line, col)))
                bad = yt_failp(x, src, 0, 0, "out of memory");
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (n) {
            if (depth == 0) {
                root = n;
            } else {
                node *par = stack[depth - 1];
                if (par->type == N_MAP && par->n % 2 == 0 && n->type != N_SCALAR)
                    bad = yt_failp(x, src, line, col, "a key must be a plain word, not %s",
                                n->type == N_SEQ ? "a list" : "a mapping");
                else if (yt_node_add(par, n))
                    bad = yt_failp(x, src, 0, 0, "out of memory");
                if (bad) yt_node_free(n);
            }
            if (!bad && n->type != N_SCALAR) stack[depth++] = n;
        }
        yaml_event_delete(&ev);
        if (bad) goto out;
    }
    *out = root;
    root = NULL;
    rc = 0;
out:
    yt_node_free(root);
    yaml_parser_delete(&p);
    return rc;
}

typedef struct { const char *text; int idx; } key_ref;

static int key_ref_cmp(const void *a, const void *b) {
    const key_ref *ka = a, *kb = b;
    int c = strcmp(ka->text, kb->text);
    return c ? c : (ka->idx > kb->idx) - (ka->idx < kb->idx);
}

void yt_where(char *buf, size_t cap, const char *path) {
    if (*path) snprintf(buf, cap, "in %s", path);
    else snprintf(buf, cap, "at the top level");
}

/* Duplicate keys anywhere under n (path names n in messages). Sorting keeps
 * this O(n log n) even for a hostile file with thousands of keys. */
int yt_check_dups(yt_ctx *x, const node *n, const char *path) {
    char sub[256], c[64], w[96];
    if (n->type == N_MAP && n->n >= 4) {
        int nk = n->n / 2, first = -1, second = -1;
        key_ref *keys = malloc((size_t)nk * sizeof *keys);
        if (!keys) return yt_fail(x, NULL, "out of memory");
        for (int i = 0; i < nk; i++) keys[i] = (key_ref){n->kid[2 * i]->text, i};
        qsort(keys, (size_t)nk, sizeof *keys, key_ref_cmp);
        /* report the repeat that comes first in the document */
        for (int i = 1; i < nk; i++) {
            int repeat = !strcmp(keys[i].text, keys[i - 1].text);
            int second_of_group = repeat && (i < 2 || strcmp(keys[i].text, keys[i - 2].text));
            if (second_of_group && (second < 0 || keys[i].idx < second)) {
                first = keys[i - 1].idx;
                second = keys[i].idx;
            }
        }
        free(keys);
        if (second >= 0) {
            const node *k1 = n->kid[2 * first], *k2 = n->kid[2 * second];
            yt_where(w, sizeof w, path);
            if (k1->line)
                return yt_fail(x, k2, "duplicate key '%s' %s (first at line %d)",
                            yt_clip(k2->text, c, sizeof c), w, k1->line);
            return yt_fail(x, k2, "duplicate key '%s' %s", yt_clip(k2->text, c, sizeof c), w);
        }
    }
    for (int i = 0; i < n->n; i++) {
        if (n->type == N_MAP && i % 2 == 0) continue;
        if (n->type == N_MAP)
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", n->kid[i - 1]->text);
        else
            snprintf(sub, sizeof sub, "%s%s%d", path, *path ? "." : "", i);
        if (yt_check_dups(x, n->kid[i], sub)) return -1;
    }
    return 0;
}
int yt_read_file(yt_ctx *x, const char *path, char **out, size_t *outlen) {
    char why[160];
    struct stat st;
    *out = NULL;
    *outlen = 0;
    /* a FIFO, a device or a /proc file is refused before anything is read */
    int fd = nnl_input_open(path, 0, &st, why, sizeof why);
    if (fd < 0) return yt_fail(x, NULL, "cannot read: %s", why);
    char *buf = NULL;
    size_t len = 0;
    int rc = st.st_size > YT_MAX_BYTES ? 0 : nnl_input_read(fd, YT_MAX_BYTES, &buf, &len, why, sizeof why);
    close(fd);
    if (rc) return yt_fail(x, NULL, "cannot read: %s", why);
    if (st.st_size > YT_MAX_BYTES || len > YT_MAX_BYTES) {
        free(buf);
        return yt_fail(x, NULL, "too large: more than %d bytes (a file here is at most %d bytes)",
                       YT_MAX_BYTES, YT_MAX_BYTES);
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* YAML flow text of n: plain scalars as they are, others double-quoted */
static size_t flow(const node *n, char *buf, size_t cap, size_t o) {
#define PUT(...) (o += (size_t)snprintf(buf + (o < cap ? o : cap), o < cap ? cap - o : 0, __VA_ARGS__))
    if (n->type == N_SCALAR) {
        if (n->plain) return PUT("%s", n->text);
        PUT("\"");
        for (const char *p = n->text; *p; p++) {
            if (*p == '"' || *p == '\\') PUT("\\%c", *p);
            else if ((unsigned char)*p < 0x20) PUT("\\x%02x", (unsigned char)*p);
            else PUT("%c", *p);
        }
        return PUT("\"");
    }
    PUT(n->type == N_SEQ ? "[" : "{");
    for (int i = 0; i < n->n; i++) {
        if (i) PUT(n->type == N_MAP && i % 2 ? ": " : ", ");
        o = flow(n->kid[i], buf, cap, o);
    }
    return PUT(n->type == N_SEQ ? "]" : "}");
#undef PUT
}

int yt_flow(const node *n, char *buf, size_t cap) {
    return flow(n, buf, cap, 0) < cap ? 0 : -1;
}
