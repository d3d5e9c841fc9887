/* onnx_export.c — saves a gibbon graph as an ONNX ModelProto (onnx.proto,
 * /usr/include/onnx/onnx.proto), the inverse of onnx_import.c.
 *
 * The protobuf-c message tree is assembled in a small arena that borrows
 * names, shapes, attribute arrays and (on little-endian hosts) tensor data
 * straight from the model, packed into one buffer and written atomically.
 * Layout of the file:
 *   graph input  = the image input, dims from m->in_shape (-1 -> dim_param)
 *   graph output = the logits, dims ["N", K, ...] when the shape is known
 *   initializers = every PARAM and CONST value (float32, or int64 when the
 *                  value carries int64 data), as little-endian raw_data
 *   nodes        = the model's nodes with their generic attributes
 *   metadata     = "gibbon.arch" when the model came from the zoo;
 *                  "gibbon.mean", "gibbon.std", "gibbon.range",
 *                  "gibbon.layout" for a model with an input adapter
 * The adapter's nodes and values (graph/adapt.c) are not written: the file
 * holds the model's own graph and input, and the metadata recreates the
 * adapter when it is loaded again.
 */
#include "internal.h"

#include <stddef.h>

#include "onnx.pb-c.h"

/* ---- arena: every message of the tree, freed in one go ------------------- */

typedef union arena_block {
    union arena_block *next;
    max_align_t align;
} arena_block;

typedef struct arena {
    arena_block *head;
} arena;

/* Zeroed memory for count items of size bytes; NULL (error set) on failure. */
static void *arena_calloc(arena *a, size_t count, size_t size) {
    if (size && count > (SIZE_MAX - sizeof(arena_block)) / size) {
        gb_error(GB_ERR_NOMEM, "export: allocation overflows");
        return NULL;
    }
    arena_block *b = gb_calloc(1, sizeof *b + count * size);
    if (!b) return NULL;
    b->next = a->head;
    a->head = b;
    return b + 1;
}

static void arena_free(arena *a) {
    while (a->head) {
        arena_block *next = a->head->next;
        gb_free(a->head);
        a->head = next;
    }
}

/* protobuf-c's structs take non-const pointers but packing only reads them. */
static char *borrow(const char *s) { return (char *)s; }

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ONNX raw_data is little-endian: on such hosts the model's own buffer is
 * already in the right byte order, elsewhere a swapped copy is made. */
static uint8_t *le_bytes(arena *a, const void *src, size_t count, size_t item) {
    if (host_is_little_endian()) return (uint8_t *)src;
    uint8_t *dst = arena_calloc(a, count ? count : 1, item);
    if (!dst) return NULL;
    const uint8_t *s = src;
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < item; k++) dst[i * item + k] = s[i * item + item - 1 - k];
    return dst;
}

/* ---- messages ---------------------------------------------------------------- */

/* A float32 tensor ValueInfo; ndim < 0 leaves the shape undeclared. Dims of
 * -1 become symbolic: "N" for the batch, "d<i>" elsewhere. */
static Onnx__ValueInfoProto *value_info(arena *a, const char *name, int ndim, const int64_t *shape) {
    Onnx__ValueInfoProto *vi = arena_calloc(a, 1, sizeof *vi);
    Onnx__TypeProto *tp = arena_calloc(a, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena_calloc(a, 1, sizeof *tt);
    if (!vi || !tp || !tt) return NULL;
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    vi->name = borrow(name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (ndim < 0) return vi;

    Onnx__TensorShapeProto *sp = arena_calloc(a, 1, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = arena_calloc(a, (size_t)(ndim ? ndim : 1), sizeof *dims);
    if (!sp || !dims) return NULL;
    *sp = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sp->n_dim = (size_t)ndim;
    sp->dim = dims;
    tt->shape = sp;
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = arena_calloc(a, 1, sizeof *d);
        if (!d) return NULL;
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (shape[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = shape[i];
        } else {
            char *p = arena_calloc(a, 1, 16);
            if (!p) return NULL;
            if (i == 0) snprintf(p, 16, "N");
            else snprintf(p, 16, "d%d", i);
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = p;
        }
        dims[i] = d;
    }
    return vi;
}

static Onnx__TensorProto *tensor_proto(arena *a, const gb_value *v) {
    Onnx__TensorProto *tp = arena_calloc(a, 1, sizeof *tp);
    if (!tp) return NULL;
    *tp = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    tp->name = borrow(v->name);
    tp->n_dims = (size_t)v->t.ndim;
    tp->dims = (int64_t *)v->t.shape;
    tp->has_data_type = 1;
    tp->has_raw_data = 1;
    size_t count = (size_t)v->t.size;
    if (v->i64) {
        tp->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        tp->raw_data.len = count * sizeof(int64_t);
        tp->raw_data.data = le_bytes(a, v->i64, count, sizeof(int64_t));
    } else {
        tp->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        tp->raw_data.len = count * sizeof(float);
        tp->raw_data.data = le_bytes(a, v->t.data, count, sizeof(float));
    }
    return count && !tp->raw_data.data ? NULL : tp;
}

static Onnx__AttributeProto *attr_proto(arena *a, const gb_attr *at) {
    Onnx__AttributeProto *ap = arena_calloc(a, 1, sizeof *ap);
    if (!ap) return NULL;
    *ap = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    ap->name = borrow(at->name);
    ap->has_type = 1;
    switch (at->type) {
    case GB_ATTR_INT:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        ap->has_i = 1;
        ap->i = at->i;
        break;
    case GB_ATTR_FLOAT:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        ap->has_f = 1;
        ap->f = at->f;
        break;
    case GB_ATTR_INTS:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        ap->n_ints = (size_t)at->n;
        ap->ints = at->ints;
        break;
    case GB_ATTR_FLOATS:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
        ap->n_floats = (size_t)at->n;
        ap->floats = at->floats;
        break;
    case GB_ATTR_STRING:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        ap->has_s = 1;
        ap->s.len = strlen(at->s);
        ap->s.data = (uint8_t *)at->s;
        break;
    }
    return ap;
}

static const char *value_name(const gb_model *m, int v) { return v >= 0 ? m->vals[v].name : ""; }

static Onnx__NodeProto *node_proto(arena *a, const gb_model *m, const gb_node *n) {
    Onnx__NodeProto *np = arena_calloc(a, 1, sizeof *np);
    char **in = arena_calloc(a, GB_MAX_NODE_IO, sizeof *in);
    char **out = arena_calloc(a, GB_MAX_NODE_IO, sizeof *out);
    Onnx__AttributeProto **attrs = arena_calloc(a, (size_t)(n->nattrs ? n->nattrs : 1), sizeof *attrs);
    if (!np || !in || !out || !attrs) return NULL;
    *np = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    np->name = borrow(n->name);
    np->op_type = borrow(n->op_type);
    /* Omitted optional inputs are "" in ONNX; trailing ones can be dropped. */
    int nin = n->nin;
    while (nin > 0 && n->in[nin - 1] < 0) nin--;
    for (int k = 0; k < nin; k++) in[k] = borrow(value_name(m, n->in[k]));
    for (int k = 0; k < n->nout; k++) out[k] = borrow(value_name(m, n->out[k]));
    np->n_input = (size_t)nin;
    np->input = in;
    np->n_output = (size_t)n->nout;
    np->output = out;
    for (int k = 0; k < n->nattrs; k++)
        if (!(attrs[k] = attr_proto(a, &n->attrs[k]))) return NULL;
    np->n_attribute = (size_t)n->nattrs;
    np->attribute = attrs;
    return np;
}

/* ONNX ties IR versions to opsets: opsets up to 14 came with IR 7, 15-18 with
 * IR 8 (onnx/helper.py VERSION_TABLE). */
static int64_t ir_version_for(int64_t opset) { return opset <= 14 ? 7 : 8; }

static gb_status build_graph(arena *a, const gb_model *m, Onnx__GraphProto *g) {
    Onnx__ValueInfoProto **inputs = arena_calloc(a, 1, sizeof *inputs);
    Onnx__ValueInfoProto **outputs = arena_calloc(a, 1, sizeof *outputs);
    if (!inputs || !outputs) return GB_ERR_NOMEM;
    if (m->nadapt)
        inputs[0] = value_info(a, m->vals[m->raw_input].name, m->raw_ndim > 0 ? m->raw_ndim : -1,
                               m->raw_shape);
    else
        inputs[0] = value_info(a, m->vals[m->input].name, m->in_ndim > 0 ? m->in_ndim : -1, m->in_shape);
    /* The logits' shape is known once planned (finalize plans for one
     * image): every dim but the batch is fixed. */
    const gb_tensor *lt = &m->vals[m->output].t;
    int64_t oshape[GB_MAX_DIMS];
    int ondim = m->planned_ndim > 0 && lt->ndim >= 1 ? lt->ndim : -1;
    for (int i = 0; i < ondim; i++) oshape[i] = i == 0 ? -1 : lt->shape[i];
    outputs[0] = value_info(a, m->vals[m->output].name, ondim, oshape);
    if (!inputs[0] || !outputs[0]) return GB_ERR_NOMEM;

    int ninit = 0, nnodes = m->nnodes - m->nadapt;
    for (int i = 0; i < m->nvals; i++)
        ninit += (m->vals[i].kind == GB_VAL_PARAM || m->vals[i].kind == GB_VAL_CONST) && !m->vals[i].adapter;
    Onnx__TensorProto **inits = arena_calloc(a, (size_t)(ninit ? ninit : 1), sizeof *inits);
    Onnx__NodeProto **nodes = arena_calloc(a, (size_t)(nnodes ? nnodes : 1), sizeof *nodes);
    if (!inits || !nodes) return GB_ERR_NOMEM;
    for (int i = 0, k = 0; i < m->nvals; i++) {
        const gb_value *v = &m->vals[i];
        if ((v->kind != GB_VAL_PARAM && v->kind != GB_VAL_CONST) || v->adapter) continue;
        if (!(inits[k++] = tensor_proto(a, v))) return GB_ERR_NOMEM;
    }
    for (int i = 0; i < nnodes; i++)
        if (!(nodes[i] = node_proto(a, m, &m->nodes[m->nadapt + i]))) return GB_ERR_NOMEM;

    g->name = borrow("gibbon");
    g->n_input = 1;
    g->input = inputs;
    g->n_output = 1;
    g->output = outputs;
    g->n_initializer = (size_t)ninit;
    g->initializer = inits;
    g->n_node = (size_t)nnodes;
    g->node = nodes;
    return GB_OK;
}

static gb_status write_all(const char *path, const uint8_t *buf, size_t len) {
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    if (fwrite(buf, 1, len, af.f) != len) {
        gb_atomic_abort(&af);
        return gb_error(GB_ERR_IO, "%s: write failed", path);
    }
    return gb_atomic_commit(&af);
}

gb_status gb_model_save_onnx(const gb_model *m, const char *path) {
    if (m->input < 0 || m->output < 0)
        return gb_error(GB_ERR_ARG, "%s: model has no input or no output to save", path);
    arena a = {NULL};
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__StringStringEntryProto entries[5], *meta[5];
    char mean[GB_MAX_CHANNELS * 16], std[GB_MAX_CHANNELS * 16], range[32];

    opset.domain = borrow("");
    opset.has_version = 1;
    opset.version = m->opset;
    mp.has_ir_version = 1;
    mp.ir_version = ir_version_for(m->opset);
    mp.n_opset_import = 1;
    mp.opset_import = opsets;
    mp.producer_name = borrow("gibbon");
    mp.graph = &g;
    size_t nmeta = 0;
    const char *keys[5] = {"gibbon.arch", "gibbon.mean", "gibbon.std", "gibbon.range", "gibbon.layout"};
    const char *vals[5] = {m->arch && *m->arch ? m->arch : NULL, NULL, NULL, NULL, NULL};
    if (m->norm_c) {
        size_t um = 0, us = 0;
        for (int c = 0; c < m->norm_c; c++) {
            um += (size_t)snprintf(mean + um, sizeof mean - um, "%s%.9g", c ? "," : "", (double)m->norm_mean[c]);
            us += (size_t)snprintf(std + us, sizeof std - us, "%s%.9g", c ? "," : "", (double)m->norm_std[c]);
        }
        vals[1] = mean, vals[2] = std;
    }
    if (m->norm_range > 0 && m->norm_range != 1) {
        snprintf(range, sizeof range, "%.9g", (double)m->norm_range);
        vals[3] = range;
    }
    if (m->layout == GB_LAYOUT_NHWC) vals[4] = "nhwc";
    for (int k = 0; k < 5; k++) {
        if (!vals[k]) continue;
        entries[nmeta] = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
        entries[nmeta].key = borrow(keys[k]);
        entries[nmeta].value = borrow(vals[k]);
        meta[nmeta] = &entries[nmeta];
        nmeta++;
    }
    mp.n_metadata_props = nmeta;
    mp.metadata_props = nmeta ? meta : NULL;

    uint8_t *buf = NULL;
    gb_status s = build_graph(&a, m, &g);
    if (s == GB_OK) {
        size_t len = onnx__model_proto__get_packed_size(&mp);
        buf = gb_malloc(len);
        if (!buf) {
            s = GB_ERR_NOMEM;
        } else {
            onnx__model_proto__pack(&mp, buf);
            s = write_all(path, buf, len);
        }
        if (s == GB_ERR_NOMEM) gb_error_prefix(s, "%s", path);
    } else {
        gb_error_prefix(s, "%s", path);
    }
    gb_free(buf);
    arena_free(&a);
    return s;
}
