/* model.c — building and freeing graphs: values, nodes, attributes. */
#include "internal.h"

gb_model *gb_model_alloc(void) {
    gb_model *m = gb_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->input = m->output = -1;
    m->raw_input = -1;
    m->layout = GB_LAYOUT_NCHW;
    m->opset = 13;
    gb_rng_seed(&m->rng, 0, 7);
    return m;
}

static void attr_release(gb_attr *a) {
    gb_free(a->name);
    gb_free(a->ints);
    gb_free(a->floats);
    gb_free(a->s);
}

void gb_node_release(gb_node *n) {
    gb_free(n->name);
    gb_free(n->op_type);
    for (int k = 0; k < n->nattrs; k++) attr_release(&n->attrs[k]);
    gb_free(n->attrs);
    for (int k = 0; k < GB_MAX_SCRATCH; k++) gb_tensor_release(&n->scratch[k]);
}

void gb_model_free(gb_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        gb_free(v->name);
        if (i != m->input) gb_tensor_release(&v->t);
        gb_tensor_release(&v->grad);
        gb_free(v->i64);
    }
    for (int i = 0; i < m->nnodes; i++) gb_node_release(&m->nodes[i]);
    for (int i = 0; i < m->noutputs; i++) gb_free(m->outputs[i]);
    gb_free(m->outputs);
    gb_free(m->hash);
    gb_free(m->vals);
    gb_free(m->nodes);
    gb_free(m->arch);
    gb_free(m->io_desc);
    gb_free(m->producer);
    gb_tensor_release(&m->dx);
    gb_free(m);
}

/* Names are looked up once per node input while importing: a hash keeps a
 * graph of 100k nodes linear (FNV-1a, linear probing, at most half full). */
static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int gb_model_find_value(const gb_model *m, const char *name) {
    if (!m->hash_cap) return -1;
    uint32_t mask = (uint32_t)m->hash_cap - 1;
    for (uint32_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        int v = m->hash[i];
        if (v < 0) return -1;
        if (strcmp(m->vals[v].name, name) == 0) return v;
    }
}

static void hash_put(gb_model *m, int v) {
    uint32_t mask = (uint32_t)m->hash_cap - 1, i = name_hash(m->vals[v].name) & mask;
    while (m->hash[i] >= 0) i = (i + 1) & mask;
    m->hash[i] = v;
}

/* Makes room for one more name, rehashing into a table twice the size. */
static gb_status hash_reserve(gb_model *m) {
    if (2 * (m->nvals + 1) <= m->hash_cap) return GB_OK;
    int cap = m->hash_cap ? 2 * m->hash_cap : 64;
    int *h = gb_malloc((size_t)cap * sizeof *h);
    if (!h) return GB_ERR_NOMEM;
    for (int i = 0; i < cap; i++) h[i] = -1;
    gb_free(m->hash);
    m->hash = h;
    m->hash_cap = cap;
    for (int v = 0; v < m->nvals; v++) hash_put(m, v);
    return GB_OK;
}

int gb_model_add_value(gb_model *m, const char *name, gb_value_kind kind, const gb_tensor *t) {
    if (gb_model_find_value(m, name) >= 0) {
        gb_error(GB_ERR_FORMAT, "value '%s' defined twice", name);
        return -1;
    }
    if (hash_reserve(m) != GB_OK) return -1;
    if (m->nvals == m->cap_vals) {
        int cap = m->cap_vals ? 2 * m->cap_vals : 32;
        gb_value *v = gb_realloc(m->vals, (size_t)cap * sizeof *v);
        if (!v) return -1;
        m->vals = v;
        m->cap_vals = cap;
    }
    gb_value *v = &m->vals[m->nvals];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->producer = -1;
    v->decay = 0;
    v->name = gb_strdup(name);
    if (!v->name) return -1;
    if (t) {
        if (gb_tensor_resize(&v->t, t->ndim, t->shape) != GB_OK) {
            gb_free(v->name);
            return -1;
        }
        if (t->size) memcpy(v->t.data, t->data, (size_t)t->size * sizeof(float));
    }
    if (kind == GB_VAL_INPUT) m->input = m->nvals;
    hash_put(m, m->nvals);
    return m->nvals++;
}

int gb_model_add_node(gb_model *m, const char *op_type, const char *name, const int *in, int nin,
                      const int *out, int nout) {
    if (nin > GB_MAX_NODE_IO || nout > GB_MAX_NODE_IO) {
        gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): more than %d inputs or outputs", name,
                 op_type, GB_MAX_NODE_IO);
        return -1;
    }
    if (m->nnodes == m->cap_nodes) {
        int cap = m->cap_nodes ? 2 * m->cap_nodes : 32;
        gb_node *n = gb_realloc(m->nodes, (size_t)cap * sizeof *n);
        if (!n) return -1;
        m->nodes = n;
        m->cap_nodes = cap;
    }
    gb_node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof *n);
    n->op = -1;
    n->name = gb_strdup(name);
    n->op_type = gb_strdup(op_type);
    if (!n->name || !n->op_type) {
        gb_free(n->name);
        gb_free(n->op_type);
        return -1;
    }
    n->nin = nin;
    n->nout = nout;
    for (int i = 0; i < nin; i++) n->in[i] = in[i];
    for (int i = 0; i < nout; i++) {
        n->out[i] = out[i];
        if (out[i] >= 0) m->vals[out[i]].producer = m->nnodes;
    }
    return m->nnodes++;
}

static gb_attr *attr_push(gb_node *n, const char *name, gb_attr_type type) {
    gb_attr *a = gb_realloc(n->attrs, (size_t)(n->nattrs + 1) * sizeof *a);
    if (!a) return NULL;
    n->attrs = a;
    a = &n->attrs[n->nattrs];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->name = gb_strdup(name);
    if (!a->name) return NULL;
    n->nattrs++;
    return a;
}

gb_status gb_node_add_int(gb_node *n, const char *name, int64_t v) {
    gb_attr *a = attr_push(n, name, GB_ATTR_INT);
    if (!a) return GB_ERR_NOMEM;
    a->i = v;
    return GB_OK;
}

gb_status gb_node_add_float(gb_node *n, const char *name, float v) {
    gb_attr *a = attr_push(n, name, GB_ATTR_FLOAT);
    if (!a) return GB_ERR_NOMEM;
    a->f = v;
    return GB_OK;
}

gb_status gb_node_add_ints(gb_node *n, const char *name, const int64_t *v, int count) {
    gb_attr *a = attr_push(n, name, GB_ATTR_INTS);
    if (!a) return GB_ERR_NOMEM;
    a->ints = gb_malloc((size_t)(count ? count : 1) * sizeof *v);
    if (!a->ints) return GB_ERR_NOMEM;
    if (count) memcpy(a->ints, v, (size_t)count * sizeof *v); /* v may be NULL when empty */
    a->n = count;
    return GB_OK;
}

gb_status gb_node_add_floats(gb_node *n, const char *name, const float *v, int count) {
    gb_attr *a = attr_push(n, name, GB_ATTR_FLOATS);
    if (!a) return GB_ERR_NOMEM;
    a->floats = gb_malloc((size_t)(count ? count : 1) * sizeof *v);
    if (!a->floats) return GB_ERR_NOMEM;
    if (count) memcpy(a->floats, v, (size_t)count * sizeof *v);
    a->n = count;
    return GB_OK;
}

gb_status gb_node_add_string(gb_node *n, const char *name, const char *s) {
    gb_attr *a = attr_push(n, name, GB_ATTR_STRING);
    if (!a) return GB_ERR_NOMEM;
    a->s = gb_strdup(s);
    return a->s ? GB_OK : GB_ERR_NOMEM;
}

const gb_attr *gb_node_attr(const gb_node *n, const char *name) {
    for (int i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

static gb_status attr_type_error(const gb_node *n, const char *name, const char *want) {
    return gb_error(GB_ERR_FORMAT, "node '%s' (%s): attribute '%s' should be %s", n->name,
                    n->op_type, name, want);
}

gb_status gb_attr_int(const gb_node *n, const char *name, int64_t def, int64_t *out) {
    const gb_attr *a = gb_node_attr(n, name);
    *out = def;
    if (!a) return GB_OK;
    if (a->type != GB_ATTR_INT) return attr_type_error(n, name, "an int");
    *out = a->i;
    return GB_OK;
}

gb_status gb_attr_float(const gb_node *n, const char *name, float def, float *out) {
    const gb_attr *a = gb_node_attr(n, name);
    *out = def;
    if (!a) return GB_OK;
    if (a->type == GB_ATTR_INT) {
        *out = (float)a->i;
        return GB_OK;
    }
    if (a->type != GB_ATTR_FLOAT) return attr_type_error(n, name, "a float");
    *out = a->f;
    return GB_OK;
}

gb_status gb_attr_ints(const gb_node *n, const char *name, int count, int64_t *out, int *found) {
    const gb_attr *a = gb_node_attr(n, name);
    if (found) *found = 0;
    if (!a) return GB_OK;
    if (a->type != GB_ATTR_INTS) return attr_type_error(n, name, "a list of ints");
    if (a->n != count)
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): attribute '%s' has %d values, expected %d",
                        n->name, n->op_type, name, a->n, count);
    memcpy(out, a->ints, (size_t)count * sizeof *out);
    if (found) *found = 1;
    return GB_OK;
}

gb_status gb_attr_string(const gb_node *n, const char *name, const char **out) {
    const gb_attr *a = gb_node_attr(n, name);
    *out = NULL;
    if (!a) return GB_OK;
    if (a->type != GB_ATTR_STRING) return attr_type_error(n, name, "a string");
    *out = a->s;
    return GB_OK;
}

gb_status gb_model_finalize(gb_model *m) {
    if (m->input < 0) return gb_error(GB_ERR_FORMAT, "model has no image input");
    if (m->output < 0) return gb_error(GB_ERR_FORMAT, "model has no output");
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        n->op = gb_op_find(n->op_type);
        if (n->op < 0)
            return gb_error(GB_ERR_UNSUPPORTED, "node '%s': unsupported op '%s' (opset %lld)", n->name,
                            n->op_type, (long long)m->opset);
        const gb_op_def *d = gb_ops[n->op];
        int given = n->nin;
        while (given > 0 && n->in[given - 1] < 0) given--;
        if (given < d->min_in || n->nin > d->max_in || n->nout < 1 || n->nout > d->nout)
            return gb_error(GB_ERR_FORMAT, "node '%s' (%s): %d inputs and %d outputs, expected %d..%d and 1..%d",
                            n->name, n->op_type, n->nin, n->nout, d->min_in, d->max_in, d->nout);
        for (int k = 0; k < n->nin; k++) {
            int v = n->in[k];
            if (v < 0 && k < d->min_in)
                return gb_error(GB_ERR_FORMAT, "node '%s' (%s): required input %d is empty", n->name,
                                n->op_type, k);
            if (v < 0) continue;
            if (v >= m->nvals) return gb_error(GB_ERR_FORMAT, "node '%s': bad input index", n->name);
            if (m->vals[v].kind == GB_VAL_ACT && m->vals[v].producer >= i)
                return gb_error(GB_ERR_FORMAT, "node '%s' (%s): input '%s' is used before it is computed (graph not in topological order)",
                                n->name, n->op_type, m->vals[v].name);
            if (m->vals[v].kind == GB_VAL_ACT && m->vals[v].producer < 0)
                return gb_error(GB_ERR_FORMAT, "node '%s' (%s): input '%s' is never computed",
                                n->name, n->op_type, m->vals[v].name);
        }
        memset(&n->p, 0, sizeof n->p);
        n->opset = m->opset;
        if (d->init) GB_TRY(d->init(n));
    }
    GB_TRY(gb_model_fold(m));
    gb_model_mark_static(m);
    /* A folded output (a graph computing a constant) is still an output. */
    if (m->vals[m->output].kind != GB_VAL_ACT && m->vals[m->output].kind != GB_VAL_CONST)
        return gb_error(GB_ERR_FORMAT, "model output '%s' is not computed by any node",
                        m->vals[m->output].name);
    /* Gradient buffers for parameters live as long as the model. */
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        if (v->kind != GB_VAL_PARAM) continue;
        GB_TRY(gb_tensor_resize(&v->grad, v->t.ndim, v->t.shape));
        if (v->grad.size) memset(v->grad.data, 0, (size_t)v->grad.size * sizeof(float));
    }
    m->planned_ndim = -1;
    /* Plan for one image so the output shape (the number of classes) is known. */
    if (m->in_ndim > 0) {
        int64_t shape[GB_MAX_DIMS];
        for (int i = 0; i < m->in_ndim; i++) shape[i] = m->in_shape[i] > 0 ? m->in_shape[i] : 1;
        GB_TRY(gb_model_plan(m, m->in_ndim, shape));
    }
    return GB_OK;
}

void gb_model_set_training(gb_model *m, int training) { m->training = training != 0; }

void gb_model_set_seed(gb_model *m, uint64_t seed) { gb_rng_seed(&m->rng, seed, 7); }

int gb_model_input_shape(const gb_model *m, int64_t shape[GB_MAX_DIMS]) {
    for (int i = 0; i < m->in_ndim; i++) shape[i] = m->in_shape[i];
    return m->in_ndim;
}

const char *gb_model_arch(const gb_model *m) { return m->arch ? m->arch : ""; }

int gb_model_num_classes(const gb_model *m) {
    const gb_tensor *t = &m->vals[m->output].t;
    if (t->ndim >= 2) return (int)t->shape[t->ndim - 1];
    return -1;
}

int gb_model_num_params(const gb_model *m) {
    int k = 0;
    for (int i = 0; i < m->nvals; i++) k += m->vals[i].kind == GB_VAL_PARAM;
    return k;
}

gb_param gb_model_param(gb_model *m, int idx) {
    gb_param p = {0};
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        if (v->kind != GB_VAL_PARAM) continue;
        if (idx-- == 0) {
            p.name = v->name;
            p.data = v->t.data;
            p.grad = v->grad.data;
            p.size = v->t.size;
            p.decay = v->decay;
            return p;
        }
    }
    return p;
}

int64_t gb_model_param_count(const gb_model *m) {
    int64_t k = 0;
    for (int i = 0; i < m->nvals; i++)
        if (m->vals[i].kind == GB_VAL_PARAM) k += m->vals[i].t.size;
    return k;
}

void gb_model_zero_grad(gb_model *m) {
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        if (v->kind == GB_VAL_PARAM && v->grad.size)
            memset(v->grad.data, 0, (size_t)v->grad.size * sizeof(float));
    }
}
