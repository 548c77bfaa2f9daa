/* names.h -- the one check for every name that becomes a label or a path
 * (a config's name, an experiment's, a variant's, the grid values that
 * name points), and the one function that turns a name into a folder name.
 *
 * Names travel: they come from files and databases written by others and
 * end up in terminals, figure titles, gnuplot scripts, Slurm scripts and
 * paths. So a name is printable text: valid UTF-8 without control
 * characters (C0, DEL and C1: ESC, BEL, newline, U+009B...), of bounded
 * length. Everything that prints or quotes a name can then rely on that.
 *
 *     const char *why = nnl_name_problem(text, NNL_NAME_MAX - 1);
 *     if (why) return yt_fail(&x->y, node, "name: %s", why);
 *     ...
 *     char folder[NNL_NAME_MAX];
 *     nnl_name_to_path(name, "report", folder, sizeof folder);   // never "..", never "a/b"
 */
#ifndef NNL_NAMES_H
#define NNL_NAMES_H

#include <stddef.h>

/* NULL when s is printable text of at most max bytes (newlines allowed
 * only when newline_ok); else what is wrong, for a message after "KEY: ":
 * "contains a control character (byte 0x1b at byte 4)", "longer than 127
 * bytes", "is not valid UTF-8 text (byte 0xff at byte 2)". The text
 * returned is static or in the thread's own buffer: use it before the next
 * call. An empty string passes; callers that need one say so. */
const char *nnl_text_problem(const char *s, size_t max, int newline_ok);

/* The length of the well-formed UTF-8 character at s (1 to 4) within avail
 * bytes, or 0: no overlongs, surrogates or code points past U+10FFFF, and
 * none cut short (by avail, or by a NUL in a string read with avail = SIZE_MAX). */
size_t nnl_utf8_len(const unsigned char *s, size_t avail);

/* nnl_text_problem for a name: one line, not empty. */
const char *nnl_name_problem(const char *s, size_t max);

/* The folder name for a name: ASCII letters, digits and . _ - kept, every
 * other byte '_'; never holding '/', and fallback instead of "", "." or
 * "..", so a path made of a folder, '/' and this stays inside the folder.
 * A longer name is cut to fit out (n bytes). */
void nnl_name_to_path(const char *name, const char *fallback, char *out, size_t n);

/* Makes s one line in place: every control character a space. For a
 * message that quotes what a file or a database holds (SQLite's own
 * messages name schema objects: "malformed database schema (con\nusion)"). */
void nnl_text_one_line(char *s);

/* The default name of a config or an experiment: the file's base name
 * without its extension, each control character and each byte of a
 * character that is not printable UTF-8 made '_'; fallback if that leaves
 * nothing. */
void nnl_name_from_file(const char *path, const char *fallback, char *out, size_t n);

#endif
