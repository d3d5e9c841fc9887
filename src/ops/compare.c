/* compare.c — comparisons, boolean logic and Where (ONNX operator spec,
 * opsets 7-17, numpy broadcasting):
 *   Equal, Less, Greater, LessOrEqual, GreaterOrEqual   (a, b) -> mask
 *   And, Or, Xor (a, b), Not (a)                          masks -> mask
 *   Where (cond, x, y) -> cond ? x : y
 * gibbon's tensors are float32: a boolean is 1.0 (true) or 0.0 (false), and
 * any nonzero input counts as true (bool initializers load as 0/1;
 * graph/fold.c marks these outputs as integers).
 *
 * Gradients: a mask is piecewise constant in its inputs, so comparisons and
 * logic pass no gradient (like PyTorch, where they are not differentiable);
 * Where routes dy to x where cond holds and to y elsewhere (reduced over
 * broadcast dimensions), and nothing to cond.
 */
#include "ops/elementwise.h"

enum { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE, CMP_AND, CMP_OR, CMP_XOR };

static const char *const cmp_names[] = {"Equal", "Less", "Greater", "LessOrEqual",
                                        "GreaterOrEqual", "And", "Or", "Xor"};

static gb_status cmp_init(gb_node *n) {
    for (int k = 0; k < (int)(sizeof cmp_names / sizeof cmp_names[0]); k++)
        if (strcmp(n->op_type, cmp_names[k]) == 0) n->p.mode = k;
    return GB_OK;
}

static inline int cmp_apply(int mode, float a, float b) {
    switch (mode) {
    case CMP_EQ: return a == b;
    case CMP_LT: return a < b;
    case CMP_GT: return a > b;
    case CMP_LE: return a <= b;
    case CMP_GE: return a >= b;
    case CMP_AND: return a != 0 && b != 0;
    case CMP_OR: return a != 0 || b != 0;
    default: return (a != 0) != (b != 0);
    }
}

static void cmp_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    ew_bcast_walk(in, 2, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        out[0]->data[i] = (float)cmp_apply(n->p.mode, in[0]->data[w.off[0]], in[1]->data[w.off[1]]);
}

/* No gradient flows through a mask. */
static void no_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)in, (void)out, (void)din, (void)dout, (void)ex;
}

#define CMP_OP(ID, NAME) \
    const gb_op_def gb_opdef_##ID = {NAME, 2, 2, 1, cmp_init, ew_bcast_infer, cmp_forward, no_backward};

CMP_OP(EQUAL, "Equal")
CMP_OP(LESS, "Less")
CMP_OP(GREATER, "Greater")
CMP_OP(LESS_OR_EQUAL, "LessOrEqual")
CMP_OP(GREATER_OR_EQUAL, "GreaterOrEqual")
CMP_OP(AND, "And")
CMP_OP(OR, "Or")
CMP_OP(XOR, "Xor")

static void not_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)n, (void)ex;
    for (int64_t i = 0; i < in[0]->size; i++) out[0]->data[i] = (float)(in[0]->data[i] == 0);
}

const gb_op_def gb_opdef_NOT = {"Not", 1, 1, 1, NULL, ew_infer_same, not_forward, no_backward};

/* ---- Where ---- */

static void where_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)n, (void)ex;
    idx_walk w;
    ew_bcast_walk(in, 3, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        out[0]->data[i] = in[0]->data[w.off[0]] != 0 ? in[1]->data[w.off[1]] : in[2]->data[w.off[2]];
}

static void where_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                           gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)ex;
    if (!din[1] && !din[2]) return;
    idx_walk w;
    ew_bcast_walk(in, 3, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w)) {
        int k = in[0]->data[w.off[0]] != 0 ? 1 : 2;
        if (din[k]) din[k]->data[w.off[k]] += dout[0]->data[i];
    }
}

const gb_op_def gb_opdef_WHERE = {"Where", 3, 3, 1, NULL, ew_bcast_infer, where_forward, where_backward};
