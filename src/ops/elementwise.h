/* elementwise.h — building blocks shared by the elementwise op files
 * (math.c, special.c, compare.c): the UNARY_OP macro that writes a unary
 * op's forward and backward from its formula and derivative, and numpy
 * broadcasting of all of a node's inputs (shape inference and walks). */
#ifndef GB_OPS_ELEMENTWISE_H
#define GB_OPS_ELEMENTWISE_H

#include "internal.h"
#include "ops/index.h"

static inline gb_status ew_infer_same(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    return gb_tensor_resize(out[0], in[0]->t.ndim, in[0]->t.shape);
}

/* ---- unary ops: y = F(x), dx += dy * D(x, y); a and b are the node's
 * alpha and beta (gamma for Selu) ---- */

#define UNARY_OP(ID, NAME, INIT, F, D)                                                   \
    static void ID##_fwd(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,   \
                         const gb_exec *ex) {                                            \
        (void)ex;                                                                        \
        const float a = n->p.alpha, b = n->p.beta, *xs = in[0]->data;                    \
        float *ys = out[0]->data;                                                        \
        (void)a, (void)b;                                                                \
        for (int64_t i = 0; i < in[0]->size; i++) {                                      \
            const float x = xs[i];                                                       \
            ys[i] = (F);                                                                 \
        }                                                                                \
    }                                                                                    \
    static void ID##_bwd(gb_node *n, const gb_tensor *const *in,                         \
                         const gb_tensor *const *out, gb_tensor *const *din,             \
                         const gb_tensor *const *dout, const gb_exec *ex) {              \
        (void)ex;                                                                        \
        if (!din[0]) return;                                                             \
        const float a = n->p.alpha, b = n->p.beta, *xs = in[0]->data, *ys = out[0]->data; \
        const float *dy = dout[0]->data;                                                 \
        float *dx = din[0]->data;                                                        \
        (void)a, (void)b, (void)xs, (void)ys;                                            \
        for (int64_t i = 0; i < in[0]->size; i++) {                                      \
            const float x = xs[i], y = ys[i];                                            \
            (void)x, (void)y;                                                            \
            dx[i] += dy[i] * (D);                                                        \
        }                                                                                \
    }                                                                                    \
    const gb_op_def gb_opdef_##ID = {NAME, 1, 1, 1, INIT, ew_infer_same, ID##_fwd, ID##_bwd};

/* Output shape: the broadcast of every input (all must be present). */
static inline gb_status ew_bcast_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *t[GB_MAX_NODE_IO];
    for (int k = 0; k < n->nin; k++) {
        if (!in[k]) return gb_error(GB_ERR_FORMAT, "%s input %d is missing", n->op_type, k);
        t[k] = &in[k]->t;
    }
    int r = 0;
    int64_t ys[GB_MAX_DIMS];
    GB_TRY(idx_bcast_shape(t, n->nin, &r, ys));
    return gb_tensor_resize(out[0], r, ys);
}

/* A walk over y with operand k following input k under broadcasting. */
static inline void ew_bcast_walk(const gb_tensor *const *in, int nin, const gb_tensor *y,
                                 idx_walk *w) {
    idx_walk_init(w, y->ndim, y->shape, nin, NULL);
    for (int k = 0; k < nin; k++) idx_bcast_strides(in[k], y->ndim, w->st[k]);
}

#endif
