/* gradcheck.h — finite-difference checks of backward, through the real graph
 * engine. A case is a one-node (or small) model built with the internal
 * builder; the scalar loss is L = sum(y * R) for a fixed random R, so
 * dL/dy = R. Every input and parameter gradient from backward is compared
 * with central differences (L accumulated in double):
 *     |analytic - numeric| <= atol + rtol * |numeric|  */
#ifndef GB_GRADCHECK_H
#define GB_GRADCHECK_H

#include "internal.h"

typedef struct gc_opts {
    double h;          /* finite-difference step (default 1e-2) */
    double atol, rtol; /* defaults 2e-3, 2e-2 */
    int training;      /* run the model in training mode */
    int verbose;
    /* Piecewise-linear models (ReLU, max-pool) have kinks; in float32 some
     * elements sit within h of one. With kink_aware, each element's one-sided
     * differences are compared first: where they disagree a kink lies within
     * h, the step shrinks (h/4, h/16), and an element still at a kink must
     * match one of its one-sided derivatives. */
    int kink_aware;
} gc_opts;

gc_opts gc_default_opts(void);

/* Fills t with uniform values in [lo, hi). */
void gc_fill_uniform(gb_tensor *t, gb_rng *r, float lo, float hi);

/* Checks d(sum(y*R))/dx and /dparams of model m at input x. Returns the
 * number of mismatches (also printed, with the worst element). */
int gradcheck_model(gb_model *m, const gb_tensor *x, const gc_opts *o, const char *label);

/* Builds a model with one node of type op_type whose input 0 is the graph
 * input of shape xshape and whose further inputs are parameters with the given
 * shapes (filled from rng in [-1,1)) or omitted (NULL shape, ndim 0).
 * Attributes are added by the caller through the returned node pointer
 * before gc_finalize. */
typedef struct gc_case {
    gb_model *m;
    gb_node *node;
    gb_tensor *x;
} gc_case;

gc_case gc_single_op(const char *op_type, int xndim, const int64_t *xshape, int nparams,
                     const int *pndims, const int64_t (*pshapes)[GB_MAX_DIMS], gb_rng *r);
/* Finalizes the model; returns 0 on success (prints the error otherwise). */
int gc_finalize(gc_case *c);
void gc_free(gc_case *c);

#endif
