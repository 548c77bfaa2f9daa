/* ls.h -- `nnlab ls`, the table of runs fitted to the terminal (ls.c). */
#ifndef NNL_LS_H
#define NNL_LS_H

#include <stddef.h>
#include <stdio.h>
#include "store.h"

/* name as it fits in width characters (0: any): whole; else its values
 * with the seed's key ("sigmoid,max,seed=2"); else that, cut with "…" */
void nnl_ls_fit(const char *name, int width, char *out, size_t n);

/* the terminal's columns (stdout a terminal), else $COLUMNS, else 0 */
int nnl_terminal_width(void);

/* The runs (of experiment, or all when NULL) as a table to out, the name
 * and experiment columns fitted to width (0: as wide as they are). Returns
 * the number of runs, or -1 with err set. */
int nnl_ls_print(nnl_store *s, const char *experiment, int width, FILE *out, char *err, size_t errlen);

#endif
