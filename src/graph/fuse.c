/* fuse.c — plan-time fusion of Conv -> Relu [-> MaxPool 2x2].
 *
 * On their own, Relu and a 2x2 max pool each stream a whole activation
 * tensor through memory twice (forward and backward): on the zoo cnn at
 * batch 128 that was 19% of a training step and a quarter of an attack
 * step, for almost no arithmetic. A Conv computes its output one image at a
 * time; applying the Relu and the pool to that image while it is still in
 * cache, and building the Conv's output gradient from the pool's gradient
 * the same way in backward, removes those passes (conv.c, "fused").
 *
 * The fusion is an execution detail: the graph, its export and every value
 * a user can ask for (the model's output) are unchanged. A node is absorbed
 * only when the value it reads has no other reader and is not the output,
 * so nothing can observe the intermediate values that are no longer
 * written. Results equal the unfused ones: relu(max(v)) = max(relu(v)), and
 * the pool's winner among raw values is the Relu's winner whenever the
 * gradient is not masked to zero.
 */
#include "internal.h"

/* The one node reading value v, or -1 (none, several, or v is the output). */
static int sole_reader(const gb_model *m, const int *uses, int v) {
    if (v < 0 || v == m->output || uses[v] != 1) return -1;
    for (int i = 0; i < m->nnodes; i++) {
        const gb_node *n = &m->nodes[i];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] == v) return k == 0 && !n->is_static ? i : -1;
    }
    return -1;
}

void gb_model_plan_fusion(gb_model *m) {
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        n->fuse_relu = n->fuse_pool = n->absorbed = 0;
    }
    if (m->no_fuse) return;
    int *uses = gb_calloc((size_t)m->nvals, sizeof *uses);
    if (!uses) return; /* unfused is always correct */
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] >= 0) uses[m->nodes[i].in[k]]++;
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *c = &m->nodes[i];
        if (c->op != GB_OP_CONV || c->is_static || c->absorbed) continue;
        if (!gb_conv_fusable(c, &m->vals[c->in[0]].t, &m->vals[c->in[1]].t,
                             &m->vals[c->out[0]].t))
            continue;
        int r = sole_reader(m, uses, c->out[0]);
        if (r < 0 || m->nodes[r].op != GB_OP_RELU) continue;
        c->fuse_relu = r + 1;
        m->nodes[r].absorbed = i + 1;
        gb_node *rn = &m->nodes[r];
        int p = sole_reader(m, uses, rn->out[0]);
        if (p < 0 || m->nodes[p].op != GB_OP_MAX_POOL || m->nodes[p].nout != 1) continue;
        if (!gb_maxpool_fusable(&m->nodes[p], &m->vals[rn->out[0]].t,
                                &m->vals[m->nodes[p].out[0]].t))
            continue;
        c->fuse_pool = p + 1;
        m->nodes[p].absorbed = i + 1;
    }
    free(uses);
}

const gb_conv_post *gb_model_fused_post(gb_model *m, const gb_node *conv, gb_conv_post *post) {
    if (!conv->fuse_relu) return NULL;
    const gb_node *r = &m->nodes[conv->fuse_relu - 1];
    gb_value *last = &m->vals[r->out[0]];
    post->relu_out = NULL;
    post->pool_out = NULL;
    post->pool_arg = NULL;
    if (conv->fuse_pool) {
        gb_node *p = &m->nodes[conv->fuse_pool - 1];
        last = &m->vals[p->out[0]];
        post->pool_out = &last->t;
        /* MaxPool's scratch holds int32 indices and is only used as such. */
        post->pool_arg = (int32_t *)(void *)p->scratch[0].data;
    } else {
        post->relu_out = &last->t;
    }
    post->d_out = &last->grad;
    return post;
}
