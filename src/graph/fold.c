/* fold.c — constant folding at load time and shape computations at plan time.
 *
 * Exporters write shape arithmetic into the graph: PyTorch's
 * x.view(x.size(0), -1) becomes Shape -> Gather -> Unsqueeze -> Concat ->
 * Reshape, F.pad builds its pads with ConstantOfShape -> Concat -> Slice ->
 * Transpose -> Cast. gibbon's tensors are float32, and such values are
 * integers; two mechanisms keep them exact:
 *
 *  - load time (gb_model_fold): a node whose inputs are all constants runs
 *    once and its outputs become constants; the node disappears.
 *  - plan time (gb_model_mark_static + gb_model_plan): a node that depends
 *    only on shapes (Shape of an activation, and whatever is computed from
 *    such values and constants) is "static": the planner runs it right after
 *    its shape inference, so a later Reshape's infer can read the target
 *    shape, including the batch size, which is only known when a batch
 *    arrives. Forward and backward skip static nodes; they carry no
 *    gradient.
 *
 * Integer-ness follows ONNX types: int64/int32 initializers and Constants,
 * Shape outputs, Cast to an integer type and ConstantOfShape with an integer
 * value are integers, and most ops give the type of their first input. Ops
 * compute in float (exact for shape-sized integers), then integer outputs of
 * folded and static nodes are rounded, with integer Div truncating toward
 * zero as ONNX integer division does. Folded integer constants also carry
 * v->i64, so sentinels such as Slice's INT64_MAX survive.
 */
#include "internal.h"

#include <math.h>

/* ONNX TensorProto data types that are integers (incl. bool). */
static int onnx_type_is_int(int64_t t) {
    return t == 2 || t == 3 || t == 4 || t == 5 || t == 6 || t == 7 || t == 9 || t == 12 ||
           t == 13;
}

static int val_is_int(const gb_value *v) { return v->is_int || v->i64 != NULL; }

int gb_value_known(const gb_value *v) {
    return v && (v->kind == GB_VAL_CONST || (v->kind == GB_VAL_ACT && v->is_static));
}

static int64_t float_to_i64(float f) {
    if (f != f) return 0;
    if (f >= 9.2e18f) return INT64_MAX;
    if (f <= -9.2e18f) return INT64_MIN;
    return (int64_t)f;
}

gb_status gb_value_ints(const gb_value *v, const char *what, int64_t *out, int max, int *n) {
    if (!gb_value_known(v))
        return gb_error(GB_ERR_UNSUPPORTED,
                        "%s '%s' must be a constant or computed from shapes only (it depends on the image data)",
                        what, v ? v->name : "?");
    if (v->t.ndim > 1 || v->t.size > max)
        return gb_error(GB_ERR_SHAPE, "%s '%s' must be a list of at most %d integers", what,
                        v->name, max);
    *n = (int)v->t.size;
    for (int i = 0; i < *n; i++) out[i] = v->i64 ? v->i64[i] : float_to_i64(v->t.data[i]);
    return GB_OK;
}

/* Ops whose result depends on more than their inputs (random masks, training
 * statistics): never folded or evaluated early. */
static int is_pure(const gb_node *n) {
    return strcmp(n->op_type, "Dropout") != 0 && strcmp(n->op_type, "BatchNormalization") != 0;
}

/* Whether output k of node n holds integers. */
static int output_is_int(const gb_model *m, const gb_node *n, int k) {
    if (strcmp(n->op_type, "Shape") == 0) return 1;
    if (strcmp(n->op_type, "Cast") == 0) {
        int64_t to = 1;
        gb_attr_int(n, "to", 1, &to);
        return onnx_type_is_int(to);
    }
    if (strcmp(n->op_type, "ConstantOfShape") == 0) {
        const gb_attr *a = gb_node_attr(n, "value");
        return a && (a->type == GB_ATTR_INTS || a->type == GB_ATTR_INT);
    }
    /* Masks (bool) and indices are integers whatever their inputs are;
     * Where has the type of its value inputs. */
    static const char *const int_ops[] = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                                          "And", "Or", "Xor", "Not", "ArgMax", "ArgMin"};
    for (size_t i = 0; i < sizeof int_ops / sizeof int_ops[0]; i++)
        if (strcmp(n->op_type, int_ops[i]) == 0) return 1;
    if (strcmp(n->op_type, "Where") == 0) return n->in[1] >= 0 && val_is_int(&m->vals[n->in[1]]);
    (void)k;
    return n->nin > 0 && n->in[0] >= 0 && val_is_int(&m->vals[n->in[0]]);
}

void gb_node_round_ints(gb_model *m, const gb_node *n) {
    int trunc_div = strcmp(n->op_type, "Div") == 0;
    for (int k = 0; k < n->nout; k++) {
        if (n->out[k] < 0) continue;
        gb_value *v = &m->vals[n->out[k]];
        v->is_int = output_is_int(m, n, k);
        if (!v->is_int) continue;
        for (int64_t i = 0; i < v->t.size; i++) {
            float f = v->t.data[i];
            v->t.data[i] = trunc_div ? truncf(f) : nearbyintf(f);
        }
    }
}

static void gather_io(gb_model *m, gb_node *n, const gb_value **vin, const gb_tensor **tin,
                      gb_tensor **tout) {
    for (int k = 0; k < n->nin; k++) {
        vin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]] : NULL;
        tin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]].t : NULL;
    }
    for (int k = 0; k < n->nout; k++) tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
}

/* Runs node n once on its (constant) inputs. */
static gb_status eval_once(gb_model *m, gb_node *n) {
    const gb_value *vin[GB_MAX_NODE_IO];
    const gb_tensor *tin[GB_MAX_NODE_IO];
    gb_tensor *tout[GB_MAX_NODE_IO];
    gather_io(m, n, vin, tin, tout);
    memset(n->scratch_need, 0, sizeof n->scratch_need);
    gb_status s = gb_ops[n->op]->infer(n, vin, tout);
    if (s != GB_OK) return gb_error_prefix(s, "node '%s' (%s)", n->name, n->op_type);
    for (int k = 0; k < GB_MAX_SCRATCH; k++) {
        if (!n->scratch_need[k]) continue;
        int64_t sh[1] = {n->scratch_need[k]};
        GB_TRY(gb_tensor_resize(&n->scratch[k], 1, sh));
    }
    gb_exec ex = {0, &m->rng, NULL};
    gb_ops[n->op]->forward(n, tin, tout, &ex);
    gb_node_round_ints(m, n);
    return GB_OK;
}

gb_status gb_model_fold(gb_model *m) {
    int kept = 0;
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        int foldable = is_pure(n);
        for (int k = 0; foldable && k < n->nin; k++)
            foldable = n->in[k] < 0 || m->vals[n->in[k]].kind == GB_VAL_CONST;
        if (foldable) {
            GB_TRY(eval_once(m, n));
            for (int k = 0; k < n->nout; k++) {
                if (n->out[k] < 0) continue;
                gb_value *v = &m->vals[n->out[k]];
                v->kind = GB_VAL_CONST;
                v->producer = -1;
                if (v->is_int) {
                    v->i64 = gb_malloc((size_t)(v->t.size ? v->t.size : 1) * sizeof *v->i64);
                    if (!v->i64) return GB_ERR_NOMEM;
                    for (int64_t j = 0; j < v->t.size; j++) v->i64[j] = float_to_i64(v->t.data[j]);
                }
            }
            gb_node_release(n);
            continue;
        }
        if (kept != i) {
            m->nodes[kept] = *n;
            for (int k = 0; k < n->nout; k++)
                if (n->out[k] >= 0) m->vals[n->out[k]].producer = kept;
        }
        kept++;
    }
    m->nnodes = kept;
    return GB_OK;
}

void gb_model_mark_static(gb_model *m) {
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        int st = is_pure(n);
        if (st && strcmp(n->op_type, "Shape") != 0)
            for (int k = 0; st && k < n->nin; k++)
                st = n->in[k] < 0 || gb_value_known(&m->vals[n->in[k]]);
        n->is_static = st;
        for (int k = 0; k < n->nout; k++)
            if (n->out[k] >= 0) m->vals[n->out[k]].is_static = st;
    }
}
