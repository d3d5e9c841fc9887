/* fab.h — the box-constrained projection onto a hyperplane at the core of
 * FAB (Croce & Hein 2020, eq. 5), exposed for tests/test_fab.c. */
#ifndef GB_FAB_H
#define GB_FAB_H

#include "attacks.h"

/* One coordinate of a projection problem, sorted by key (fab_project.c). */
typedef struct gb_fab_item {
    double key, a, cap; /* sort key, |w_i|, room to move towards the plane */
    double rest;        /* sum over this item and the later ones (of a, or a^2) */
    int64_t i;
} gb_fab_item;

/* The smallest step d (D) in `norm` (L-inf, L2 or L1) that puts t (D) on
 * the hyperplane w.(t + d) = b while keeping lo <= t + d <= hi:
 *     min ||d||_p  s.t.  w.d = b - w.t,  lo - t <= d <= hi - t.
 * Each norm is a 1-D search over the coordinates sorted once (items holds D
 * entries of scratch). Returns 1 when the plane meets the box; otherwise 0,
 * and d goes as far towards the plane as the box allows (every coordinate
 * that helps moved to its bound), the closest one can get. */
int gb_fab_project(gb_norm norm, const float *t, const float *w, double b, int64_t D, float lo,
                   float hi, float *d, gb_fab_item *items);

#endif
