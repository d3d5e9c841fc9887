/* direct_op.h — runs one op's infer, forward and backward directly on
 * hand-made tensors, without a model: for cases the graph engine itself
 * does not produce easily (empty tensors). */
#ifndef GB_DIRECT_OP_H
#define GB_DIRECT_OP_H

#include "internal.h"

/* Runs op (with integer attribute `axis` if has_axis) on inputs of the given
 * shapes filled with 1, then backward with an output gradient of 1 into
 * gradients for every input. Returns infer's status; *ysize gets the output
 * size. */
static inline gb_status direct_op_run(int op, int nin, const int *nd,
                                      const int64_t (*shapes)[GB_MAX_DIMS], int has_axis,
                                      int64_t axis, int64_t *ysize) {
    const gb_op_def *d = gb_ops[op];
    gb_node n = {.name = "node", .op_type = (char *)d->name, .nin = nin, .nout = 1};
    char an[] = "axis";
    gb_attr attr = {.name = an, .type = GB_ATTR_INT, .i = axis};
    if (has_axis) n.attrs = &attr, n.nattrs = 1;
    gb_status s = d->init ? d->init(&n) : GB_OK;
    gb_value v[GB_MAX_NODE_IO] = {{0}};
    gb_tensor din_t[GB_MAX_NODE_IO] = {{0}}, y = {0}, dy = {0};
    const gb_value *vin[GB_MAX_NODE_IO];
    const gb_tensor *tin[GB_MAX_NODE_IO];
    gb_tensor *din[GB_MAX_NODE_IO];
    for (int k = 0; k < nin && s == GB_OK; k++) {
        s = gb_tensor_resize(&v[k].t, nd[k], shapes[k]);
        s = s ? s : gb_tensor_resize(&din_t[k], nd[k], shapes[k]);
        for (int64_t i = 0; s == GB_OK && i < v[k].t.size; i++) v[k].t.data[i] = din_t[k].data[i] = 1;
        vin[k] = &v[k];
        tin[k] = &v[k].t;
        din[k] = &din_t[k];
    }
    gb_tensor *yo[1] = {&y};
    if (s == GB_OK) s = d->infer(&n, vin, yo);
    if (s == GB_OK) s = gb_tensor_resize(&dy, y.ndim, y.shape);
    if (s == GB_OK) {
        for (int64_t i = 0; i < dy.size; i++) dy.data[i] = 1;
        gb_exec ex = {0, NULL, NULL};
        d->forward(&n, tin, yo, &ex);
        const gb_tensor *to[1] = {&y}, *dyo[1] = {&dy};
        d->backward(&n, tin, to, din, dyo, &ex);
        *ysize = y.size;
    }
    for (int k = 0; k < nin; k++) {
        gb_tensor_release(&v[k].t);
        gb_tensor_release(&din_t[k]);
    }
    gb_tensor_release(&y);
    gb_tensor_release(&dy);
    return s;
}

#endif
