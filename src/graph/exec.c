/* exec.c — planning (shape inference and buffer sizing), forward, and
 * reverse-mode backward over a model's nodes.
 *
 * Buffers are sized once per input shape: a forward on a batch of the same
 * shape as the previous one allocates nothing. Backward computes only the
 * gradients that are needed: a value needs a gradient when it lies on a path
 * from a requested leaf (the input, or the parameters) to the output, so an
 * attack's input-gradient pass never runs the weight-gradient GEMMs.
 */
#include "internal.h"

static void gather_inputs(gb_model *m, gb_node *n, const gb_value **vin, const gb_tensor **tin) {
    for (int k = 0; k < n->nin; k++) {
        vin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]] : NULL;
        tin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]].t : NULL;
    }
}

gb_status gb_model_plan(gb_model *m, int ndim, const int64_t *shape) {
    if (m->planned_ndim == ndim && memcmp(m->planned, shape, (size_t)ndim * sizeof *shape) == 0)
        return GB_OK;
    char buf[128];
    if (m->in_ndim && ndim != m->in_ndim)
        return gb_error(GB_ERR_SHAPE, "input of shape %s does not fit the model's rank-%d input",
                        gb_shape_str(ndim, shape, buf, sizeof buf), m->in_ndim);
    for (int i = 1; i < m->in_ndim; i++)
        if (m->in_shape[i] > 0 && shape[i] != m->in_shape[i]) {
            char want[128];
            return gb_error(GB_ERR_SHAPE, "input of shape %s does not fit the model's input %s%s",
                            gb_shape_str(ndim, shape, buf, sizeof buf),
                            gb_shape_str(m->in_ndim, m->in_shape, want, sizeof want),
                            gb_model_layout_hint(m, ndim, shape));
        }
    m->planned_ndim = -1;
    gb_value *in = &m->vals[m->input];
    in->t.ndim = ndim;
    in->t.size = 1;
    for (int i = 0; i < ndim; i++) {
        in->t.shape[i] = shape[i];
        in->t.size *= shape[i];
    }
    GB_TRY(gb_tensor_resize(&in->grad, ndim, shape));
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        const gb_value *vin[GB_MAX_NODE_IO];
        const gb_tensor *tin[GB_MAX_NODE_IO];
        gb_tensor *tout[GB_MAX_NODE_IO];
        gather_inputs(m, n, vin, tin);
        for (int k = 0; k < n->nout; k++) tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
        memset(n->scratch_need, 0, sizeof n->scratch_need);
        gb_status s = gb_ops[n->op]->infer(n, vin, tout);
        if (s != GB_OK) return gb_error_prefix(s, "node '%s' (%s)", n->name, n->op_type);
        for (int k = 0; k < n->nout; k++) {
            if (n->out[k] < 0) continue;
            gb_value *v = &m->vals[n->out[k]];
            GB_TRY(gb_tensor_resize(&v->grad, v->t.ndim, v->t.shape));
        }
        for (int k = 0; k < GB_MAX_SCRATCH; k++) {
            if (!n->scratch_need[k]) continue;
            int64_t sh[1] = {n->scratch_need[k]};
            GB_TRY(gb_tensor_resize(&n->scratch[k], 1, sh));
        }
        if (n->is_static) { /* shapes only: computed now, for later nodes' infer (fold.c) */
            gb_exec ex = {0, &m->rng, NULL};
            gb_ops[n->op]->forward(n, tin, tout, &ex);
            gb_node_round_ints(m, n);
        }
    }
    gb_model_plan_fusion(m);
    m->planned_ndim = ndim;
    memcpy(m->planned, shape, (size_t)ndim * sizeof *shape);
    return GB_OK;
}

gb_status gb_model_forward(gb_model *m, const gb_tensor *x, const gb_tensor **logits) {
    GB_TRY(gb_model_plan(m, x->ndim, x->shape));
    gb_value *in = &m->vals[m->input];
    /* The input is a borrowed view of x: no copy. */
    in->t.data = x->data;
    in->t.cap = 0;
    gb_exec ex = {m->training, &m->rng, NULL};
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        if (n->is_static || n->absorbed) continue; /* computed by the planner or a fused Conv */
        const gb_value *vin[GB_MAX_NODE_IO];
        const gb_tensor *tin[GB_MAX_NODE_IO];
        gb_tensor *tout[GB_MAX_NODE_IO];
        gather_inputs(m, n, vin, tin);
        for (int k = 0; k < n->nout; k++) tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
        gb_conv_post post;
        ex.post = gb_model_fused_post(m, n, &post);
        gb_ops[n->op]->forward(n, tin, tout, &ex);
    }
    if (logits) *logits = &m->vals[m->output].t;
    return GB_OK;
}

/* Ops whose backward honours gb_node.grad_overwrite (stores din[0]). */
static int overwrites_grad(const gb_node *n) {
    return n->op == GB_OP_RELU || n->op == GB_OP_MAX_POOL || n->op == GB_OP_CONV ||
           n->op == GB_OP_FLATTEN || n->op == GB_OP_RESHAPE;
}

/* Marks each node whose input 0 is an activation (or the input) read by no
 * other node slot, on the backward path, whose backward can store that
 * gradient instead of adding to a zeroed buffer; returns through `skip`
 * (one flag per value) the gradients that then need no zeroing. Zeroing
 * every activation gradient was 12% of an attack step. */
static void plan_overwrites(gb_model *m, unsigned char *skip) {
    int *uses = gb_calloc((size_t)m->nvals, sizeof *uses);
    if (!uses) {
        for (int i = 0; i < m->nnodes; i++) m->nodes[i].grad_overwrite = 0;
        return; /* everything zeroed, as before */
    }
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] >= 0) uses[m->nodes[i].in[k]]++;
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        int v = n->nin > 0 ? n->in[0] : -1;
        n->grad_overwrite = v >= 0 && v != m->output && !n->is_static && overwrites_grad(n) &&
                            uses[v] == 1 && m->vals[v].needs_grad &&
                            (m->vals[v].kind == GB_VAL_ACT || m->vals[v].kind == GB_VAL_INPUT);
        if (n->grad_overwrite) skip[v] = 1;
    }
    free(uses);
}

void gb_model_backward_begin(gb_model *m, const gb_tensor *dlogits, gb_grad_mode mode) {
    gb_value *outv = &m->vals[m->output];
    /* Which values need a gradient: forward reachability from the requested leaves. */
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        v->needs_grad = (v->kind == GB_VAL_INPUT && (mode & GB_GRAD_INPUT)) ||
                        (v->kind == GB_VAL_PARAM && (mode & GB_GRAD_PARAMS));
    }
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        int any = 0;
        for (int k = 0; k < n->nin && !n->is_static; k++) any |= n->in[k] >= 0 && m->vals[n->in[k]].needs_grad;
        for (int k = 0; k < n->nout; k++)
            if (n->out[k] >= 0) m->vals[n->out[k]].needs_grad = any;
    }
    unsigned char *skip = gb_calloc((size_t)m->nvals, 1);
    if (skip) plan_overwrites(m, skip);
    else
        for (int i = 0; i < m->nnodes; i++) m->nodes[i].grad_overwrite = 0;
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        if (v->needs_grad && (v->kind == GB_VAL_ACT || v->kind == GB_VAL_INPUT) && !(skip && skip[i]))
            if (v->grad.size) memset(v->grad.data, 0, (size_t)v->grad.size * sizeof(float));
    }
    free(skip);
    if (outv->needs_grad && dlogits->size)
        memcpy(outv->grad.data, dlogits->data, (size_t)dlogits->size * sizeof(float));
}

gb_status gb_model_backward(gb_model *m, const gb_tensor *dlogits, gb_grad_mode mode,
                            const gb_tensor **dx) {
    gb_value *outv = &m->vals[m->output];
    if (m->planned_ndim < 0 || !gb_tensor_same_shape(dlogits, &outv->t)) {
        char a[128], b[128];
        return gb_error(GB_ERR_SHAPE, "backward: gradient of shape %s for output of shape %s (run forward first)",
                        gb_shape_str(dlogits->ndim, dlogits->shape, a, sizeof a),
                        gb_shape_str(outv->t.ndim, outv->t.shape, b, sizeof b));
    }
    gb_model_backward_begin(m, dlogits, mode);
    gb_exec ex = {m->training, &m->rng, NULL};
    for (int i = m->nnodes - 1; i >= 0; i--) {
        gb_node *n = &m->nodes[i];
        if (n->absorbed) continue; /* its Conv does its backward */
        int out_needed = 0;
        for (int k = 0; k < n->nout; k++) out_needed |= n->out[k] >= 0 && m->vals[n->out[k]].needs_grad;
        if (!out_needed) continue;
        const gb_value *vin[GB_MAX_NODE_IO];
        const gb_tensor *tin[GB_MAX_NODE_IO], *tout[GB_MAX_NODE_IO], *dout[GB_MAX_NODE_IO];
        gb_tensor *din[GB_MAX_NODE_IO];
        gather_inputs(m, n, vin, tin);
        for (int k = 0; k < n->nin; k++)
            din[k] = n->in[k] >= 0 && m->vals[n->in[k]].needs_grad ? &m->vals[n->in[k]].grad : NULL;
        for (int k = 0; k < n->nout; k++) {
            tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
            dout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].grad : NULL;
        }
        gb_conv_post post;
        ex.post = gb_model_fused_post(m, n, &post);
        gb_ops[n->op]->backward(n, tin, tout, din, dout, &ex);
    }
    if (dx) *dx = (mode & GB_GRAD_INPUT) ? &m->vals[m->input].grad : NULL;
    return GB_OK;
}
