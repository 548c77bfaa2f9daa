/* store_int.h -- what the files of the store share (store.h is its public
 * side): the handle, the cached statements, and the helpers that name the
 * database in every error, check every row read and wrap every write in a
 * transaction. Only store*.c include it, and only they include sqlite3.h. */
#ifndef NNL_STORE_INT_H
#define NNL_STORE_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

#define NOW "strftime('%Y-%m-%dT%H:%M:%SZ','now')"

/* The cached statements of the write path and of single-row reads (their
 * text is in store.c). */
enum {
    ST_RUN_INSERT, ST_PARAM_PUT, ST_EPOCH_PUT, ST_EPOCH_TRIM, ST_EPOCH_SUMMARY,
    ST_RUN_STATUS, ST_RUN_DIVERGED, ST_TEST_RUN, ST_CONF_CLEAR, ST_CONF_PUT,
    ST_CACC_CLEAR, ST_CACC_PUT, ST_CLAIM_PICK, ST_FIND_ID, ST_FIND_PREFIX,
    ST_FIND_KEY, ST_RUN_GET, ST_RUN_CKDIR, ST_COUNT
};


struct nnl_store {
    sqlite3 *db;
    char *path;
    int readonly;
    double stop_seen;           /* when the progress handler first saw nnl_stop; 0: not yet */
    sqlite3_stmt *st[ST_COUNT];
};


/* The connection itself: for the store's files, and for tests that look at
 * the database behind the store's back. Nothing else includes this header. */
static inline sqlite3 *nnl_store_db(nnl_store *s) { return s->db; }

/* --- store.c: errors ------------------------------------------------------ */

/* "path: <message>" into err, on one line. */
void store_errf(const nnl_store *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "path: <what>: <SQLite's message>". Call before anything that could
 * replace SQLite's message, such as a rollback. */
void store_db_fail(const nnl_store *s, char *err, size_t errlen, const char *what);
/* "path: damaged database: <message>; ...": a value no nnlab writes, found
 * where a row is read. Such a value is reported, never used. Returns -1. */
int store_damaged(const nnl_store *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* a name from the database, clipped and made printable, for a message */
void store_clip_name(const char *in, char *out, size_t n);

/* --- store.c: statements and rows ------------------------------------------ */

/* The cached statement `which`, prepared on first use; NULL with err written. */
sqlite3_stmt *store_stmt(nnl_store *s, int which, char *err, size_t errlen, const char *what);
/* The cached statement `which` with fmt's parameters bound ('I' int64_t,
 * 'i' int, 'd' double (NaN binds NULL), 't' const char * (NULL binds
 * NULL)), or NULL with err written. */
sqlite3_stmt *store_bound(nnl_store *s, int which, char *err, size_t errlen, const char *what, const char *fmt, ...);
/* resets a cached statement and clears its bindings */
void store_stmt_done(sqlite3_stmt *q);
/* Runs a bound write statement to completion and resets it. Returns 0, or
 * SQLite's extended error code with err written. */
int store_exec(nnl_store *s, sqlite3_stmt *q, char *err, size_t errlen, const char *what);
/* Steps a bound query that yields at most one integer. Returns 1 with *out
 * set, 0 for no row (or a NULL value), -1 with err written. Resets q. */
int store_query_int(nnl_store *s, sqlite3_stmt *q, int64_t *out, char *err, size_t errlen, const char *what);
/* A statement of its own (not cached), so that a loop's callback may call
 * back into the store to read; finalize it. NULL with err written. */
sqlite3_stmt *store_prepare(nnl_store *s, const char *sql, char *err, size_t errlen, const char *what);
/* a column as a double, NULL as NaN */
double store_col_double(sqlite3_stmt *q, int i);
/* A malloc'd copy of a text column, NULL for NULL; *oom set on failure. */
char *store_col_strdup(sqlite3_stmt *q, int i, int *oom);
/* Checks the row q holds, column by column, against spec (see store.c):
 * 0, or -1 with "damaged database: ..." in err. */
int store_row_ok(const nnl_store *s, sqlite3_stmt *q, const char *spec, const char *what, char *err, size_t errlen);

/* --- store.c: transactions ---------------------------------------------- */

enum { TX_OWN = 1, TX_SAVEPOINT = 2 };
/* Starts the transaction of one write operation: its own BEGIN IMMEDIATE,
 * or a savepoint when the caller has a group open, so that a failed
 * operation undoes only itself. Returns TX_OWN, TX_SAVEPOINT or -1. */
int store_tx_begin(nnl_store *s, char *err, size_t errlen, const char *what);
/* Ends what store_tx_begin started: commits when ok, else rolls back (err
 * already holds the reason). Returns 0 when committed, -1 otherwise. */
int store_tx_end(nnl_store *s, int tx, int ok, char *err, size_t errlen, const char *what);

#endif
