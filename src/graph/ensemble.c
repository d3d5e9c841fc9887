/* ensemble.c — several models as one: their graphs side by side on one
 * shared input, joined by a Mean node over their logits. Averaging logits
 * is the ensemble of Dong et al. 2018 ("Boosting adversarial attacks with
 * momentum", sec. 3.2; also Liu et al. 2017): the attack's loss is taken on
 * the mean logits, so its input gradient is the mean of the members'
 * backward passes of dlogits / n, and every attack runs on an ensemble
 * unchanged. Members are copied already finalized (each node keeps its own
 * opset and parsed parameters), so models from different files and opsets
 * mix. */
#include "internal.h"

#include <stdio.h>

static gb_status copy_attrs(gb_node *dst, const gb_node *src) {
    for (int k = 0; k < src->nattrs; k++) {
        const gb_attr *a = &src->attrs[k];
        switch (a->type) {
        case GB_ATTR_INT: GB_TRY(gb_node_add_int(dst, a->name, a->i)); break;
        case GB_ATTR_FLOAT: GB_TRY(gb_node_add_float(dst, a->name, a->f)); break;
        case GB_ATTR_INTS: GB_TRY(gb_node_add_ints(dst, a->name, a->ints, a->n)); break;
        case GB_ATTR_FLOATS: GB_TRY(gb_node_add_floats(dst, a->name, a->floats, a->n)); break;
        case GB_ATTR_STRING: GB_TRY(gb_node_add_string(dst, a->name, a->s)); break;
        }
    }
    return GB_OK;
}

/* Appends member k's values and nodes to e; *out gets its logits' index. */
static gb_status append(gb_model *e, const gb_model *m, int k, int *out) {
    int *map = gb_malloc((size_t)GB_MAX(m->nvals, 1) * sizeof *map);
    if (!map) return GB_ERR_NOMEM;
    gb_status s = GB_OK;
    char name[512];
    for (int i = 0; i < m->nvals && !s; i++) {
        const gb_value *v = &m->vals[i];
        if (i == m->input) {
            map[i] = e->input;
            continue;
        }
        snprintf(name, sizeof name, "m%d/%s", k, v->name);
        int copy = v->kind == GB_VAL_PARAM || v->kind == GB_VAL_CONST || v->is_static;
        int j = gb_model_add_value(e, name, v->kind, copy ? &v->t : NULL);
        if (j < 0) {
            s = GB_ERR_NOMEM;
            break;
        }
        gb_value *w = &e->vals[j];
        w->decay = v->decay;
        w->is_int = v->is_int;
        w->is_static = v->is_static;
        w->adapter = v->adapter;
        if (v->i64) {
            size_t len = (size_t)(v->t.size ? v->t.size : 1);
            w->i64 = gb_malloc(len * sizeof *w->i64);
            if (!w->i64) s = GB_ERR_NOMEM;
            else memcpy(w->i64, v->i64, len * sizeof *w->i64);
        }
        if (!s && v->kind == GB_VAL_PARAM) s = gb_tensor_resize(&w->grad, v->t.ndim, v->t.shape);
        if (!s && w->grad.size) memset(w->grad.data, 0, (size_t)w->grad.size * sizeof(float));
        map[i] = j;
    }
    for (int i = 0; i < m->nnodes && !s; i++) {
        const gb_node *n = &m->nodes[i];
        int in[GB_MAX_NODE_IO], outs[GB_MAX_NODE_IO];
        for (int q = 0; q < n->nin; q++) in[q] = n->in[q] >= 0 ? map[n->in[q]] : -1;
        for (int q = 0; q < n->nout; q++) outs[q] = n->out[q] >= 0 ? map[n->out[q]] : -1;
        snprintf(name, sizeof name, "m%d/%s", k, n->name);
        int j = gb_model_add_node(e, n->op_type, name, in, n->nin, outs, n->nout);
        if (j < 0) {
            s = GB_ERR_NOMEM;
            break;
        }
        gb_node *d = &e->nodes[j];
        d->op = n->op;
        d->p = n->p;
        d->opset = n->opset;
        d->is_static = n->is_static;
        s = copy_attrs(d, n);
    }
    if (!s) *out = map[m->output];
    gb_free(map);
    return s;
}

gb_status gb_model_ensemble(gb_model *const *models, int n, gb_model **out) {
    *out = NULL;
    if (n < 1 || n > GB_MAX_NODE_IO)
        return gb_error(GB_ERR_ARG, "ensemble: %d models (1..%d can be combined)", n, GB_MAX_NODE_IO);
    const gb_model *m0 = models[0];
    const int K = gb_model_num_classes(m0);
    for (int k = 1; k < n; k++) {
        const gb_model *m = models[k];
        char a[128], b[128];
        if (m->in_ndim != m0->in_ndim || (m->in_ndim > 1 && memcmp(m->in_shape + 1, m0->in_shape + 1,
                                                                      (size_t)(m->in_ndim - 1) * sizeof *m->in_shape)))
            return gb_error(GB_ERR_SHAPE, "ensemble: model %d takes input %s, model 0 takes %s", k,
                            gb_shape_str(m->in_ndim, m->in_shape, a, sizeof a),
                            gb_shape_str(m0->in_ndim, m0->in_shape, b, sizeof b));
        if (gb_model_num_classes(m) != K)
            return gb_error(GB_ERR_SHAPE, "ensemble: model %d has %d classes, model 0 has %d", k,
                            gb_model_num_classes(m), K);
    }
    gb_model *e = gb_model_alloc();
    if (!e) return GB_ERR_NOMEM;
    gb_status s = gb_model_add_value(e, "input", GB_VAL_INPUT, NULL) < 0 ? GB_ERR_NOMEM : GB_OK;
    e->in_ndim = m0->in_ndim;
    memcpy(e->in_shape, m0->in_shape, sizeof e->in_shape);
    e->opset = m0->opset;
    int logits[GB_MAX_NODE_IO];
    for (int k = 0; k < n && !s; k++) s = append(e, models[k], k, &logits[k]);
    if (!s) {
        int o = gb_model_add_value(e, "ensemble_logits", GB_VAL_ACT, NULL);
        int j = o < 0 ? -1 : gb_model_add_node(e, "Mean", "ensemble_mean", logits, n, &o, 1);
        if (j < 0) {
            s = GB_ERR_NOMEM;
        } else {
            gb_node *d = &e->nodes[j];
            d->op = gb_op_find("Mean");
            d->opset = e->opset;
            if (gb_ops[d->op]->init) s = gb_ops[d->op]->init(d);
            e->output = o;
        }
    }
    if (!s) {
        e->arch = gb_strdup("ensemble");
        e->planned_ndim = -1;
        int64_t shape[GB_MAX_DIMS];
        for (int i = 0; i < e->in_ndim; i++) shape[i] = e->in_shape[i] > 0 ? e->in_shape[i] : 1;
        if (e->in_ndim > 0) s = gb_model_plan(e, e->in_ndim, shape);
    }
    if (s) {
        gb_model_free(e);
        return s;
    }
    *out = e;
    return GB_OK;
}
