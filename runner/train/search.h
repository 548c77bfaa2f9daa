/* search.h -- the runs of an experiment that depend on results: a tpe:
 * block's batches and successive halving's rungs.
 *
 * Neither is a list fixed in advance, and both must give the same runs
 * with -j 1, -j 2 or on Slurm, and after a crash. So nothing here depends
 * on what finished first: a tpe: batch is suggested only once every run of
 * the batches before it has ended (finished, diverged, or pruned), from
 * those runs alone, in trial order; a rung's decision is taken only once
 * every point that can reach the rung has reached it or ended. The
 * suggestions are never stored: they are computed again, to the bit, from
 * the results each time the sweep looks (tpe.h's arithmetic is exact), and
 * a suggestion's run is found in the database by its config key.
 *
 *     nnl_live live = {0};
 *     nnl_search_refresh(s, NULL, plan, 1, &live, err, sizeof err);
 *     // live.plan.runs: the static runs, then every batch known so far;
 *     // live.notes: what the next batch of each search waits for
 *     nnl_live_free(&live);
 *
 * Successive halving: a run trains up to its `sweep.until` param (its next
 * rung) and waits there, marked interrupted with the reason; at rung k
 * (min_epochs x eta^k epochs, below train.epochs) the points that reached
 * it are ranked by their mean validation accuracy at that epoch (ties in
 * plan order) and the best max(1, floor(m / eta)) of the m go on; the
 * others end as pruned. The cohort is the whole plan for a grid or random
 * search, and a search's batches so far for tpe:. */
#ifndef NNL_SEARCH_H
#define NNL_SEARCH_H

#include "experiment.h"
#include "store.h"

/* What the databases together say of one live run (the most complete
 * copy), for a Slurm task deciding its share and whether to wait. */
typedef struct {
    char status[16];          /* "" when no database has it yet */
    int epochs_done, until;   /* until: its sweep.until (0: none) */
    int own;                  /* the sweep's own database holds a copy */
    char ended[24];           /* when it got its status, if it ended ("2026-01-31T12:00:00Z") */
} nnl_live_state;

typedef struct {
    nnl_plan plan;            /* the experiment's plan with runs = the runs known now */
    nnl_live_state *state;    /* one per live run */
    int cap;
    int pending;              /* suggestions not yet made (their batch waits) */
    char notes[4096];         /* a line per search whose next batch waits, "" when none */
} nnl_live;

/* Fills live from plan and the database s (with the read-only databases in
 * the folder peers, when not NULL: a Slurm sweep's other shards; and the
 * database file peer_db, when not NULL and it exists: the main database a
 * Slurm task reads). s may be NULL: a read-only look. With decide, halving
 * decisions are written into s, for the runs s holds. Returns 0, or -1 with
 * err. */
int nnl_search_refresh(nnl_store *s, const char *peers, const char *peer_db, const nnl_plan *plan, int decide,
                       nnl_live *live, char *err, size_t errlen);
void nnl_live_free(nnl_live *live);

/* The epoch a new run of the plan trains to first: its first rung, or 0
 * (no limit) without successive halving. */
int nnl_search_first_until(const nnl_plan *plan, const nnl_config *cfg);

/* The run's epoch limit (its sweep.until param; 0: none). -1 on error. */
int nnl_search_until(nnl_store *s, int64_t run, char *err, size_t errlen);

/* The reason written on a run that waits at a rung. */
#define NNL_RUNG_WAIT "waiting at a rung of successive halving for the other runs to reach it"

#endif
