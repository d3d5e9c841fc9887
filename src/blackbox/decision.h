/* decision.h — helpers shared by the decision-based attacks (Boundary
 * Attack, HopSkipJump), which see only the oracle's top label: "is this
 * image adversarial for example i?", starting points, distances. Private to
 * src/blackbox. */
#ifndef GB_DECISION_H
#define GB_DECISION_H

#include "blackbox/blackbox.h"

/* Query scratch grown on demand. */
typedef struct gb_dec {
    gb_bb *q;
    int64_t *idx;
    int *lab;
    int64_t cap;
} gb_dec;

void gb_dec_init(gb_dec *d, gb_bb *q);
void gb_dec_free(gb_dec *d);
/* Asks about n images xb (n, D), image k belonging to example idx[k] (idx
 * NULL: all to example `one`). adv[k] = 1 when image k is adversarial for
 * its example; lab (may be NULL) receives the labels. Counts n queries
 * (gb_bb_query); the caller checks the per-example budget first. */
gb_status gb_dec_ask(gb_dec *d, const float *xb, int64_t n, const int64_t *idx, int64_t one, int *adv,
                     int *lab);

/* A starting point for example i: an adversarial image s far from x0,
 * moved towards x0 by a binary search on the blend (1-a)*x0 + a*s until
 * high - low <= tol (HopSkipJump's initialization, Chen et al. 2020, which
 * the Boundary Attack uses too instead of foolbox's 1000-query line search).
 * s is the best of the DEC_STARTS batch images nearest to x0 whose clean
 * label (already known: no query) is a success for example i (another
 * class; targeted, the target), each searched coarsely (to 1e-2) and the
 * closest blend refined, as foolbox's starting_points and the paper's
 * targeted start use natural images; with none in the batch, uniform noise
 * in [lo, hi] drawn until one is adversarial (at most half of the example's
 * queries), the paper's untargeted start. out (D) receives the point and
 * *lab its label; *found = 0 when none was found in the budget. */
gb_status gb_dec_start(gb_dec *d, int64_t i, gb_rng *rng, double tol, float *out, int *lab, int *found);

/* Records out (D) with its label as example i's current best. */
void gb_dec_record(gb_dec *d, int64_t i, const float *x, int lab);

/* At the end of example i's attack, with eps > 0: a result farther than
 * eps (in norm) becomes the clean image (no success), as FAB does. */
void gb_dec_finish(gb_dec *d, int64_t i, gb_norm norm);

/* Distance of x to x0 in L2 or L-inf. */
double gb_dec_dist(gb_norm norm, const float *x, const float *x0, int64_t D);

#endif
