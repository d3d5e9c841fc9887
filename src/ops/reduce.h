/* reduce.h — the axis handling shared by the reductions in reduce.c and
 * reduce_more.c (ONNX axes attribute or input, keepdims,
 * noop_with_empty_axes). */
#ifndef GB_OPS_REDUCE_H
#define GB_OPS_REDUCE_H

#include "internal.h"
#include "ops/index.h"

/* Resolves the node's reduced axes into n->p.ax[d] (1 = reduced; n->p.nax
 * = 1 for a no-op) and sizes y. nonempty: reducing an empty axis is an
 * error (max-like reductions have no identity). */
gb_status gb_reduce_shape(gb_node *n, const gb_value *const *in, gb_tensor *y, int nonempty);
/* A walk over x with operand 0 = x's element, operand 1 = its output slot
 * (valid after gb_reduce_shape). */
void gb_reduce_walk(const gb_node *n, const gb_tensor *x, idx_walk *w);

#endif
