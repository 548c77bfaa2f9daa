/* names.c -- see names.h. */
#include "names.h"

#include <stdio.h>
#include <string.h>

size_t nnl_utf8_len(const unsigned char *s, size_t avail) {
    if (!avail) return 0;
    unsigned char c = s[0], lo = 0x80, hi = 0xbf; /* the second byte's range */
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n >= avail) return 0; /* cut short by the end */
    for (size_t k = 1; k <= n; k++)
        if (k == 1 ? (s[k] < lo || s[k] > hi) : (s[k] & 0xc0) != 0x80) return 0; /* a NUL ends it too */
    return n + 1;
}

const char *nnl_text_problem(const char *s, size_t max, int newline_ok) {
    static __thread char why[96];
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (u[i]) {
        size_t n = nnl_utf8_len(u + i, (size_t)-1);
        if (!n) {
            snprintf(why, sizeof why, "is not valid UTF-8 text (byte 0x%02x at byte %zu)", u[i], i + 1);
            return why;
        }
        /* C0 and DEL; C1 (U+0080..U+009F, c2 80..c2 9f) is read as control
         * sequences by terminals too (U+009B is CSI) */
        int ctl = n == 1 ? (u[i] < 0x20 || u[i] == 0x7f) && !(newline_ok && u[i] == '\n')
                         : n == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0;
        if (ctl) {
            if (n == 1) snprintf(why, sizeof why, "contains a control character (byte 0x%02x at byte %zu)", u[i], i + 1);
            else snprintf(why, sizeof why, "contains a control character (U+%04X at byte %zu)", u[i + 1], i + 1);
            return why;
        }
        i += n;
        if (i > max) {
            snprintf(why, sizeof why, "longer than %zu bytes", max);
            return why;
        }
    }
    return NULL;
}

const char *nnl_name_problem(const char *s, size_t max) {
    if (!s || !*s) return "must not be empty";
    return nnl_text_problem(s, max, 0);
}

void nnl_name_to_path(const char *name, const char *fallback, char *out, size_t n) {
    size_t o = 0;
    for (const char *p = name ? name : ""; *p && o + 1 < n; p++) {
        char c = *p;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                   c == '_' || c == '-';
        out[o++] = keep ? c : '_';
    }
    out[o] = 0;
    /* "." and ".." would name the folder itself or its parent */
    if (!o || !strcmp(out, ".") || !strcmp(out, "..")) snprintf(out, n, "%s", fallback);
}

void nnl_name_from_file(const char *path, const char *fallback, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    const char *dot = strrchr(b, '.');
    if (dot && dot != b) len = (size_t)(dot - b);
    if (len >= n) len = n - 1;
    if (!len) {
        snprintf(out, n, "%s", fallback);
        return;
    }
    memcpy(out, b, len);
    out[len] = 0;
    /* whole characters only: a cut may have split the last one */
    unsigned char *u = (unsigned char *)out;
    for (size_t i = 0; u[i];) {
        size_t k = nnl_utf8_len(u + i, (size_t)-1);
        int bad = !k || (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)) || (k == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0);
        if (!bad) { i += k; continue; }
        for (size_t j = 0; j < (k ? k : 1); j++) u[i + j] = '_';
        i += k ? k : 1;
    }
}

void nnl_text_one_line(char *s) {
    for (; s && *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f) *s = ' ';
}
