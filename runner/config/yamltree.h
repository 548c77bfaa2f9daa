/* yamltree.h -- YAML text to a small tree of scalars, lists and mappings
 * with 1-based line and column marks, built from libyaml's event API so that
 * the nesting depth is ours to cap; and the helpers that turn a user's
 * mistake into one line "FILE:LINE:COL: message". Shared by the config and
 * experiment readers. */
#ifndef NNL_YAMLTREE_H
#define NNL_YAMLTREE_H

#include <stddef.h>

#define YT_MAX_BYTES (1 << 20)  /* largest file or --set value */
#define YT_MAX_DEPTH 32         /* deepest nesting of lists and mappings */

enum { N_SCALAR, N_SEQ, N_MAP };

typedef struct ynode node;
struct ynode {
    int type;
    int line, col;      /* 1-based position in src; 0 when there is none */
    const char *src;    /* file name, or the label of the override that wrote it */
    char *text;         /* scalar: its value (NULs inside are rejected) */
    int plain;          /* scalar: unquoted (only plain scalars can be null) */
    struct ynode **kid; /* seq: items; map: key, value, key, value, ... */
    int n, cap;
};

/* Where errors go: err receives one line; file names errors with no node. */
typedef struct {
    const char *file;
    char *err;
    size_t errlen;
} yt_ctx;

node *yt_node_new(int type, const char *src, int line, int col);
node *yt_scalar_new(const char *src, int line, int col, const char *text, size_t len,
                        int plain);
void yt_node_free(node *n);
int yt_node_add(node *p, node *k);
/* YAML's null: an empty plain scalar, ~ or null */
int yt_is_null(const node *n);
/* The value under key in mapping m (NULL if absent); *keynode gets its key. */
node *yt_map_get(const node *m, const char *key, node **keynode);
/* Scalar n becomes the mapping {key: n's old value}, or {key: null} when
 * keep is 0 ("- pool" is {pool: null}), or {} when key is NULL. */
int yt_to_map(node *n, const char *key, int keep);
int yt_failp(yt_ctx *x, const char *src, int line, int col, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* An error at node at (or about the whole file when at is NULL). */
int yt_fail(yt_ctx *x, const node *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A user's text for a message: control bytes escaped, long text cut. */
const char *yt_clip(const char *s, char *buf, size_t cap);
/* What a node is, for "expected X, got Y". */
const char *yt_got(const node *n, char *buf, size_t cap);
/* The candidate closest to word if it is close enough to be a typo. */
const char *yt_closest(const char *word, const char *const *cand, int n);
/* "in train" or "at the top level", for messages about a mapping at path */
void yt_where(char *buf, size_t cap, const char *path);
void yt_join(char *buf, size_t cap, const char *const *words, int n);
/* Builds the tree of one YAML document; *out is NULL for an empty stream.
 * marks: record positions (a file) or not (an override's value). */
int yt_parse_yaml(yt_ctx *x, const char *src, int marks, const char *text, size_t len,
                      node **out);
/* Duplicate keys anywhere under n (path names n in messages). Sorting keeps
 * this O(n log n) even for a hostile file with thousands of keys. */
int yt_check_dups(yt_ctx *x, const node *n, const char *path);

/* Reads a whole file of at most YT_MAX_BYTES into *out (malloc'd); errors
 * name the file: "cannot read: is a directory". Only a regular file is
 * read (nnl_input_open): a FIFO, a device or a /proc file is refused at
 * once, "cannot read: not a regular file (a FIFO)". */
int yt_read_file(yt_ctx *x, const char *path, char **out, size_t *outlen);
/* n as YAML flow text ("relu", "[0.9, 0.99]", "{type: cosine}") that parses
 * back to the same value: what a --set override or a run name carries.
 * -1 if it does not fit cap. */
int yt_flow(const node *n, char *buf, size_t cap);

#endif
