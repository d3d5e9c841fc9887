/* onnx_import.c — loads an ONNX model (onnx.proto, ModelProto/GraphProto as
 * in /usr/include/onnx/onnx.proto) into a gibbon graph.
 *
 * The file is unpacked with protobuf-c (code generated from onnx.proto at
 * build time), then translated without special cases for any exporter:
 *   initializers        -> PARAM or CONST values (float32, int64, int32), their
 *                          data inline or in external files next to the model
 *   the one non-initializer graph input -> the image input
 *   Constant nodes      -> CONST values (no node at run time)
 *   every other node    -> a node with its attributes as generic gb_attr
 *   the first graph output -> the logits (further outputs are ignored)
 * Op names and attributes are checked by gb_model_finalize through each op's
 * init, so this file knows nothing about individual ops except which inputs
 * hold trainable parameters (trainable_inputs below).
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>

#include "onnx.pb-c.h"

/* The newest default-domain opset whose ops gibbon implements. */
#define MAX_OPSET 18

/* protobuf messages are limited to 2 GiB; anything larger is not ONNX. */
#define MAX_FILE_BYTES ((size_t)INT_MAX)

/* Elements that folding and planning one image may allocate beyond twice
 * the file's stored tensors (512 MiB of floats; a classifier needs a few
 * million). */
#define LOAD_BUDGET ((int64_t)1 << 27)

/* Deepest nesting of messages accepted (Model > Graph > Node > Attribute >
 * Graph ... for control flow; TypeProto inside sequences). protobuf-c's
 * unpacker recurses once per level, so a file of nested attributes could
 * otherwise exhaust the stack. */
#define MAX_NESTING 64

/* ---- which initializers are trainable ------------------------------------ */

/* A float initializer becomes a trainable PARAM when some node consumes it in
 * one of these input slots (bit k = input k); everything else stays CONST.
 * The rule mirrors what a PyTorch module calls a parameter: convolution and
 * linear weights and biases, and BatchNorm's affine scale and bias. Running
 * mean/variance (BatchNormalization inputs 3, 4), operands of elementwise
 * Add/Sub/Mul/Div (normalisation constants), shapes and clip bounds are
 * constants. Int64/int32 initializers are always CONST. */
static const struct {
    const char *op;
    unsigned slots;
} trainable_inputs[] = {
    {"Conv", 1u << 1 | 1u << 2},               /* W, B */
    {"Gemm", 1u << 1 | 1u << 2},               /* B (weight), C (bias) */
    {"MatMul", 1u << 1},                       /* B */
    {"BatchNormalization", 1u << 1 | 1u << 2}, /* scale, B (not mean, var) */
    {"ConvTranspose", 1u << 1 | 1u << 2},      /* W, B */
    {"InstanceNormalization", 1u << 1 | 1u << 2}, /* scale, B */
    {"PRelu", 1u << 1},                        /* slope */
};

static int is_trainable_slot(const char *op_type, int k) {
    for (size_t i = 0; i < sizeof trainable_inputs / sizeof trainable_inputs[0]; i++)
        if (strcmp(trainable_inputs[i].op, op_type) == 0) return (trainable_inputs[i].slots >> k) & 1;
    return 0;
}

/* ---- small helpers --------------------------------------------------------- */

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static int is_default_domain(const char *d) { return !d || !*d || strcmp(d, "ai.onnx") == 0; }

static const char *dtype_name(int32_t t) {
    static const char *const names[] = {"undefined", "float32", "uint8",  "int8",    "uint16",
                                        "int16",     "int32",   "int64",  "string",  "bool",
                                        "float16",   "float64", "uint32", "uint64",  "complex64",
                                        "complex128", "bfloat16"};
    return t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

static const char *attr_type_name(Onnx__AttributeProto__AttributeType t) {
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "SPARSE_TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "TYPE_PROTO";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "GRAPHS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "SPARSE_TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "UNDEFINED";
    }
}

/* raw_data is little-endian and may sit at any alignment: assemble bytes. */
static float load_le_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int64_t load_le_i64(const uint8_t *p) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = u << 8 | p[k];
    return (int64_t)u;
}

static int32_t load_le_i32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* gb_model_add_value's -1 does not say why; check the name first so that -1
 * can only mean out of memory. */
static gb_status new_value(gb_model *m, const char *name, gb_value_kind kind, int *idx) {
    *idx = -1;
    if (gb_model_find_value(m, name) >= 0)
        return gb_error(GB_ERR_FORMAT, "value '%s' is defined twice", name);
    *idx = gb_model_add_value(m, name, kind, NULL);
    return *idx < 0 ? GB_ERR_NOMEM : GB_OK;
}

/* Adds a CONST value of the given shape. For integer data, v->i64 is
 * allocated for the caller to fill; call sync_floats afterwards so v->t holds
 * the same numbers as floats (ops such as Reshape read shapes from either). */
static gb_status add_data_value(gb_model *m, const char *name, int ndim, const int64_t *shape,
                                int is_int, gb_value **out) {
    int idx;
    GB_TRY(new_value(m, name, GB_VAL_CONST, &idx));
    gb_value *v = &m->vals[idx];
    GB_TRY(gb_tensor_resize(&v->t, ndim, shape));
    if (is_int) {
        v->i64 = gb_malloc((size_t)(v->t.size ? v->t.size : 1) * sizeof *v->i64);
        if (!v->i64) return GB_ERR_NOMEM;
    }
    *out = v;
    return GB_OK;
}

static void sync_floats(gb_value *v) {
    for (int64_t i = 0; i < v->t.size; i++) v->t.data[i] = (float)v->i64[i];
}

/* ---- external data ---------------------------------------------------------- */

static int parse_size(const char *s, size_t *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || s[0] == '-' || v > (unsigned long long)MAX_FILE_BYTES * 64) return 0;
    *out = (size_t)v;
    return 1;
}

/* A tensor stored outside the model (TensorProto.data_location = EXTERNAL):
 * keys "location" (a file relative to the model's directory; absolute
 * paths and ".." are refused so a model cannot read files elsewhere),
 * "offset" and "length" (bytes; length must be the tensor's size). Reads
 * exactly `want` bytes into *out (allocated). */
static gb_status read_external(const char *path, const Onnx__TensorProto *tp, size_t want, uint8_t **out) {
    const char *loc = NULL, *off = NULL, *len = NULL;
    *out = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value) continue;
        if (strcmp(e->key, "location") == 0) loc = e->value;
        else if (strcmp(e->key, "offset") == 0) off = e->value;
        else if (strcmp(e->key, "length") == 0) len = e->value;
    }
    if (!loc || !*loc) return gb_error(GB_ERR_FORMAT, "external data without a location");
    if (loc[0] == '/' || loc[0] == '\\')
        return gb_error(GB_ERR_FORMAT, "external data location '%s' is absolute (it must be relative to the model's directory)", loc);
    for (const char *p = loc; *p;) { /* no ".." path component */
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return gb_error(GB_ERR_FORMAT, "external data location '%s' leaves the model's directory", loc);
        p += n;
        if (*p) p++;
    }
    size_t offset = 0, length = want;
    if (off && !parse_size(off, &offset)) return gb_error(GB_ERR_FORMAT, "external data offset '%s'", off);
    if (len && !parse_size(len, &length)) return gb_error(GB_ERR_FORMAT, "external data length '%s'", len);
    if (length != want)
        return gb_error(GB_ERR_FORMAT, "external data length %zu for a tensor of %zu bytes", length, want);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *file = gb_malloc(dirlen + strlen(loc) + 1);
    if (!file) return GB_ERR_NOMEM;
    memcpy(file, path, dirlen);
    strcpy(file + dirlen, loc);
    FILE *f = fopen(file, "rb");
    gb_status s = GB_OK;
    if (!f) s = gb_error(GB_ERR_IO, "external data file %s: %s", file, strerror(errno));
    long size = -1;
    if (s == GB_OK && (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0))
        s = gb_error(GB_ERR_IO, "external data file %s: cannot seek", file);
    if (s == GB_OK && (offset > (size_t)size || want > (size_t)size - offset))
        s = gb_error(GB_ERR_FORMAT, "external data file %s has %ld bytes; offset %zu + length %zu is beyond its end",
                     file, size, offset, want);
    uint8_t *buf = NULL;
    if (s == GB_OK && !(buf = gb_malloc(want ? want : 1))) s = GB_ERR_NOMEM;
    if (s == GB_OK && (fseek(f, (long)offset, SEEK_SET) != 0 || fread(buf, 1, want, f) != want))
        s = gb_error(GB_ERR_IO, "external data file %s: read failed", file);
    if (f) fclose(f);
    gb_free(file);
    if (s != GB_OK) {
        gb_free(buf);
        return s;
    }
    *out = buf;
    return GB_OK;
}

/* ---- tensors --------------------------------------------------------------- */

/* Reads a TensorProto into a new CONST value called `name`. `what` names the
 * tensor's role in messages ("initializer", "Constant node"). */
static gb_status add_tensor(gb_model *m, const char *path, const char *what, const char *name,
                            const Onnx__TensorProto *tp) {
    char sbuf[160];
    if (tp->n_dims > GB_MAX_DIMS)
        return gb_error(GB_ERR_UNSUPPORTED, "%s '%s': rank %zu is more than %d", what, name,
                        tp->n_dims, GB_MAX_DIMS);
    int ndim = (int)tp->n_dims;
    int64_t shape[GB_MAX_DIMS], numel;
    for (int i = 0; i < ndim; i++) shape[i] = tp->dims[i];
    gb_status s = gb_shape_numel(ndim, shape, &numel);
    if (s == GB_ERR_SHAPE) s = GB_ERR_FORMAT; /* a negative dim in a file is corruption */
    if (s != GB_OK) return gb_error_prefix(s, "%s '%s'", what, name);
    gb_shape_str(ndim, shape, sbuf, sizeof sbuf);
    if (tp->segment)
        return gb_error(GB_ERR_UNSUPPORTED, "%s '%s': segmented tensors are not supported", what,
                        name);

    int32_t dt = tp->has_data_type ? tp->data_type : 0;
    size_t item, nfield;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: item = 4, nfield = tp->n_float_data; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: item = 8, nfield = tp->n_int64_data; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: item = 4, nfield = tp->n_int32_data; break;
    /* bool: one byte each in raw_data, int32_data otherwise; loads as 0/1 */
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: item = 1, nfield = tp->n_int32_data; break;
    default:
        return gb_error(GB_ERR_UNSUPPORTED,
                        "%s '%s': data type %s (%d) is not supported (float32, int64, int32 and bool are)",
                        what, name, dtype_name(dt), (int)dt);
    }
    const uint8_t *raw = NULL;
    uint8_t *ext = NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        s = read_external(path, tp, (size_t)numel * item, &ext);
        if (s != GB_OK) return gb_error_prefix(s, "%s '%s'", what, name);
        raw = ext;
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != (size_t)numel * item)
            return gb_error(GB_ERR_FORMAT, "%s '%s': %zu bytes of raw_data for shape %s of %s (expected %lld)",
                            what, name, tp->raw_data.len, sbuf, dtype_name(dt),
                            (long long)numel * (long long)item);
        raw = tp->raw_data.data;
    } else if (nfield != (size_t)numel) {
        return gb_error(GB_ERR_FORMAT, "%s '%s': %zu %s values for shape %s (expected %lld)", what,
                        name, nfield, dtype_name(dt), sbuf, (long long)numel);
    }

    gb_value *v;
    s = add_data_value(m, name, ndim, shape, dt != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &v);
    if (s != GB_OK) {
        gb_free(ext);
        return s;
    }
    for (int64_t i = 0; i < numel; i++) {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            v->t.data[i] = raw ? load_le_f32(raw + 4 * i) : tp->float_data[i];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            v->i64[i] = raw ? load_le_i64(raw + 8 * i) : tp->int64_data[i];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
            v->i64[i] = (raw ? raw[i] : tp->int32_data[i]) != 0;
            break;
        default:
            v->i64[i] = raw ? load_le_i32(raw + 4 * i) : tp->int32_data[i];
            break;
        }
    }
    gb_free(ext);
    if (v->i64) sync_floats(v);
    return GB_OK;
}

/* A Constant node becomes a CONST value named after its output; messages
 * use that name too, as exporters often leave Constant nodes nameless. */
static gb_status add_constant(gb_model *m, const char *path, const Onnx__NodeProto *np,
                               const char *node_name) {
    if (np->n_output != 1 || !*np->output[0])
        return gb_error(GB_ERR_FORMAT, "Constant node '%s': needs exactly one output", node_name);
    const char *out = np->output[0];
    if (np->n_attribute != 1)
        return gb_error(GB_ERR_FORMAT, "Constant node '%s': needs exactly one value attribute, has %zu",
                        out, np->n_attribute);
    const Onnx__AttributeProto *a = np->attribute[0];
    const char *an = str_or_empty(a->name);
    gb_value *v;
    if (strcmp(an, "value") == 0 && a->t) return add_tensor(m, path, "Constant node", out, a->t);
    if (strcmp(an, "value_float") == 0) {
        GB_TRY(add_data_value(m, out, 0, NULL, 0, &v));
        v->t.data[0] = a->f;
        return GB_OK;
    }
    if (strcmp(an, "value_int") == 0) {
        GB_TRY(add_data_value(m, out, 0, NULL, 1, &v));
        v->i64[0] = a->i;
        sync_floats(v);
        return GB_OK;
    }
    if (strcmp(an, "value_floats") == 0 || strcmp(an, "value_ints") == 0) {
        int is_int = an[6] == 'i';
        int64_t n = (int64_t)(is_int ? a->n_ints : a->n_floats);
        GB_TRY(add_data_value(m, out, 1, &n, is_int, &v));
        if (is_int) {
            if (n) memcpy(v->i64, a->ints, (size_t)n * sizeof *a->ints);
            sync_floats(v);
        } else if (n) {
            memcpy(v->t.data, a->floats, (size_t)n * sizeof *a->floats);
        }
        return GB_OK;
    }
    return gb_error(GB_ERR_UNSUPPORTED, "Constant node '%s': attribute '%s' is not supported",
                    out, an);
}

/* ---- nodes ------------------------------------------------------------------ */

/* ConstantOfShape's one-element tensor attribute `value` becomes a FLOATS
 * or INTS attribute; other tensor attributes are refused by the caller. */
static gb_status tensor_attr(gb_node *n, const char *an, const Onnx__TensorProto *tp) {
    int32_t dt = tp->has_data_type ? tp->data_type : 0;
    int is_int = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (dt != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && !is_int)
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): tensor attribute '%s' of type %s is not supported",
                        n->name, n->op_type, an, dtype_name(dt));
    size_t item = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4;
    size_t count = tp->has_raw_data ? tp->raw_data.len / item
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? tp->n_float_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? tp->n_int64_data
                                                                : tp->n_int32_data;
    if (count > 4096 || (tp->has_raw_data && tp->raw_data.len % item))
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): tensor attribute '%s' is too large or malformed",
                        n->name, n->op_type, an);
    int64_t *ints = gb_malloc((count ? count : 1) * sizeof *ints);
    float *floats = gb_malloc((count ? count : 1) * sizeof *floats);
    gb_status s = ints && floats ? GB_OK : GB_ERR_NOMEM;
    for (size_t i = 0; s == GB_OK && i < count; i++) {
        const uint8_t *raw = tp->has_raw_data ? tp->raw_data.data + i * item : NULL;
        if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) floats[i] = raw ? load_le_f32(raw) : tp->float_data[i];
        else if (item == 8) ints[i] = raw ? load_le_i64(raw) : tp->int64_data[i];
        else ints[i] = raw ? load_le_i32(raw) : tp->int32_data[i];
    }
    if (s == GB_OK)
        s = is_int ? gb_node_add_ints(n, an, ints, (int)count)
                   : gb_node_add_floats(n, an, floats, (int)count);
    gb_free(ints);
    gb_free(floats);
    return s;
}

static gb_status copy_attr(gb_node *n, const Onnx__AttributeProto *a) {
    const char *an = str_or_empty(a->name);
    if (!*an) return gb_error(GB_ERR_FORMAT, "node '%s' (%s): attribute without a name", n->name, n->op_type);
    if (!a->has_type)
        return gb_error(GB_ERR_FORMAT, "node '%s' (%s): attribute '%s' has no type", n->name,
                        n->op_type, an);
    switch (a->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return gb_node_add_int(n, an, a->i);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return gb_node_add_float(n, an, a->f);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: {
        int ints = a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        size_t count = ints ? a->n_ints : a->n_floats;
        if (count > (size_t)INT_MAX)
            return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): attribute '%s' is too long",
                            n->name, n->op_type, an);
        return ints ? gb_node_add_ints(n, an, a->ints, (int)count)
                    : gb_node_add_floats(n, an, a->floats, (int)count);
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        /* bytes on the wire: make a NUL-terminated copy */
        char *s = gb_malloc(a->s.len + 1);
        if (!s) return GB_ERR_NOMEM;
        if (a->s.len) memcpy(s, a->s.data, a->s.len);
        s[a->s.len] = '\0';
        gb_status st = gb_node_add_string(n, an, s);
        gb_free(s);
        return st;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (a->t && strcmp(n->op_type, "ConstantOfShape") == 0 && strcmp(an, "value") == 0)
            return tensor_attr(n, an, a->t);
        /* fall through */
    default:
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): attribute '%s' of type %s is not supported",
                        n->name, n->op_type, an, attr_type_name(a->type));
    }
}

/* Adds graph node np (index i in the graph). Initializers are the values
 * [0, ninit): those consumed in a trainable slot are promoted to PARAM. */
static gb_status add_node(gb_model *m, const char *path, const Onnx__NodeProto *np, size_t i, int ninit) {
    char synth[40];
    const char *name = np->name;
    if (!name || !*name) { /* names are optional in ONNX; messages need one */
        snprintf(synth, sizeof synth, "node_%zu", i);
        name = synth;
    }
    const char *op_type = str_or_empty(np->op_type);
    if (!*op_type) return gb_error(GB_ERR_FORMAT, "node '%s': no op_type", name);
    if (!is_default_domain(np->domain))
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s': op '%s' from domain '%s' is not supported (only the default ONNX domain is)",
                        name, op_type, np->domain);
    if (strcmp(op_type, "Constant") == 0) return add_constant(m, path, np, name);
    if (np->n_input > GB_MAX_NODE_IO || np->n_output > GB_MAX_NODE_IO)
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): %zu inputs and %zu outputs, gibbon handles at most %d",
                        name, op_type, np->n_input, np->n_output, GB_MAX_NODE_IO);

    int in[GB_MAX_NODE_IO], out[GB_MAX_NODE_IO];
    for (size_t k = 0; k < np->n_input; k++) {
        const char *vn = np->input[k];
        in[k] = -1; /* an empty name is an omitted optional input */
        if (!*vn) continue;
        in[k] = gb_model_find_value(m, vn);
        if (in[k] < 0)
            return gb_error(GB_ERR_FORMAT, "node '%s' (%s): input '%s' is not an initializer, the graph input or an output of an earlier node",
                            name, op_type, vn);
        gb_value *v = &m->vals[in[k]];
        if (in[k] < ninit && v->kind == GB_VAL_CONST && !v->i64 && is_trainable_slot(op_type, (int)k)) {
            v->kind = GB_VAL_PARAM;
            v->decay = v->t.ndim >= 2; /* weights decay, biases and BN affine do not */
        }
    }
    for (size_t k = 0; k < np->n_output; k++) {
        out[k] = -1;
        if (*np->output[k]) GB_TRY(new_value(m, np->output[k], GB_VAL_ACT, &out[k]));
    }
    int idx = gb_model_add_node(m, op_type, name, in, (int)np->n_input, out, (int)np->n_output);
    if (idx < 0) return GB_ERR_NOMEM;
    gb_node *n = &m->nodes[idx];
    for (size_t k = 0; k < np->n_attribute; k++) GB_TRY(copy_attr(n, np->attribute[k]));
    return GB_OK;
}

/* ---- graph inputs ------------------------------------------------------------ */

/* Graph inputs given values by the caller (gb_onnx_load_opts.feeds) become
 * constants, as if they were initializers. */
static gb_status add_feeds(gb_model *m, const gb_onnx_load_opts *o) {
    for (int i = 0; o && i < o->nfeeds; i++) {
        const gb_onnx_feed *f = &o->feeds[i];
        gb_value *v;
        GB_TRY(add_data_value(m, f->name, f->t->ndim, f->t->shape, f->i64 != NULL, &v));
        if (f->t->size) memcpy(v->t.data, f->t->data, (size_t)f->t->size * sizeof(float));
        if (f->i64 && f->t->size) memcpy(v->i64, f->i64, (size_t)f->t->size * sizeof *v->i64);
    }
    return GB_OK;
}

/* The one graph input that is neither an initializer nor fed is the image batch.
 * lenient (gibbon info's unfinalized load): further inputs become inputs too
 * and the element type is not checked, so the op histogram can still be
 * shown; the real load then names the problem. */
static gb_status add_image_input(gb_model *m, const Onnx__GraphProto *g, int lenient) {
    const Onnx__ValueInfoProto *img = NULL;
    int count = 0;
    char names[256] = "";
    for (size_t i = 0; i < g->n_input; i++) {
        const char *n = str_or_empty(g->input[i]->name);
        /* Before IR version 4 initializers were also listed as inputs. */
        if (gb_model_find_value(m, n) >= 0) continue;
        if (!img) img = g->input[i];
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s'%s'", count ? ", " : "", n);
        count++;
    }
    if (count == 0)
        return gb_error(GB_ERR_FORMAT, "no graph input besides initializers (the model needs an image input)");
    if (count > 1 && !lenient)
        return gb_error(GB_ERR_UNSUPPORTED, "%d graph inputs (%s); gibbon needs exactly one image input",
                        count, names);
    const char *name = str_or_empty(img->name);
    if (!*name) return gb_error(GB_ERR_FORMAT, "graph input without a name");
    const Onnx__TypeProto *tp = img->type;
    m->in_ndim = 0; /* unknown rank unless declared */
    if (tp) {
        if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            return gb_error(GB_ERR_UNSUPPORTED, "input '%s' is not a tensor (sequence, map and optional inputs are not supported)",
                            name);
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        if (!lenient && tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return gb_error(GB_ERR_UNSUPPORTED, "input '%s' has element type %s; gibbon needs float32 images",
                            name, dtype_name(tt->elem_type));
        if (tt->shape) {
            if (tt->shape->n_dim > GB_MAX_DIMS)
                return gb_error(GB_ERR_UNSUPPORTED, "input '%s': rank %zu is more than %d", name,
                                tt->shape->n_dim, GB_MAX_DIMS);
            for (size_t d = 0; d < tt->shape->n_dim; d++) {
                const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
                int known = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                            dim->dim_value > 0;
                m->in_shape[d] = known ? dim->dim_value : -1; /* symbolic or missing: any size */
            }
            m->in_ndim = (int)tt->shape->n_dim;
        }
    }
    int idx;
    GB_TRY(new_value(m, name, GB_VAL_INPUT, &idx));
    int image = idx;
    for (size_t i = 0; lenient && i < g->n_input; i++) {
        const char *n = str_or_empty(g->input[i]->name);
        if (*n && gb_model_find_value(m, n) < 0) GB_TRY(new_value(m, n, GB_VAL_INPUT, &idx));
    }
    m->input = image; /* adding an input value made it the model's input */
    return GB_OK;
}

/* "'name' (1, 3, -1) float32" for gibbon info (-1: symbolic or missing). */
static void describe_value_info(char *buf, size_t len, const Onnx__ValueInfoProto *vi) {
    const Onnx__TypeProto *tp = vi->type;
    size_t used = (size_t)snprintf(buf, len, "'%s'", str_or_empty(vi->name));
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        if (used < len) snprintf(buf + used, len - used, " (not a tensor)");
        return;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->shape && used < len) {
        used += (size_t)snprintf(buf + used, len - used, " (");
        for (size_t d = 0; d < tt->shape->n_dim && used < len; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
            long long v = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dim->dim_value : -1;
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "", v);
        }
        if (used < len) used += (size_t)snprintf(buf + used, len - used, ")");
    }
    if (used < len) snprintf(buf + used, len - used, " %s", tt->has_elem_type ? dtype_name(tt->elem_type) : "(type not declared)");
}

/* m->io_desc: the graph inputs (not initializers) on one line and, when
 * there are several, the outputs on another, as gibbon info prints them. */
static gb_status describe_io(gb_model *m, const Onnx__GraphProto *g) {
    size_t cap = 256 * (g->n_input + g->n_output + 2), used = 0;
    char *s = gb_malloc(cap), one[320];
    if (!s) return GB_ERR_NOMEM;
    s[0] = 0;
    int nin = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        int v = gb_model_find_value(m, str_or_empty(g->input[i]->name));
        nin += v >= 0 && m->vals[v].kind == GB_VAL_INPUT;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? g->n_output : g->n_input;
        int count = pass ? (int)n : nin;
        if (pass && count <= 1) break; /* the one output is described after planning */
        if (count == 1) used += (size_t)snprintf(s + used, cap - used, "input:     ");
        else used += (size_t)snprintf(s + used, cap - used, "%s %d:", pass ? "outputs:   " : "inputs:    ", count);
        for (size_t i = 0, k = 0; i < n; i++) {
            const Onnx__ValueInfoProto *vi = pass ? g->output[i] : g->input[i];
            int v = gb_model_find_value(m, str_or_empty(vi->name));
            if (!pass && (v < 0 || m->vals[v].kind != GB_VAL_INPUT)) continue; /* an initializer */
            describe_value_info(one, sizeof one, vi);
            used += (size_t)snprintf(s + used, cap - used, "%s %.250s", k++ ? "," : "", one);
        }
        used += (size_t)snprintf(s + used, cap - used, "%s\n",
                                 pass && count > 1    ? " (choose with --output)"
                                 : !pass && count > 1 ? " (gibbon attacks models with one float32 image input)"
                                                      : "");
    }
    m->io_desc = s;
    return GB_OK;
}

/* ---- the model ----------------------------------------------------------------- */

static gb_status read_opset(gb_model *m, const Onnx__ModelProto *mp) {
    int found = 0;
    const char *other = NULL;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        /* Other domains are refused where a node uses them, so a model that
         * merely declares e.g. ai.onnx.ml still loads. */
        if (!is_default_domain(o->domain)) {
            other = o->domain;
            continue;
        }
        if (!o->has_version || o->version < 1)
            return gb_error(GB_ERR_FORMAT, "default-domain opset import without a valid version");
        if (o->version > MAX_OPSET)
            return gb_error(GB_ERR_UNSUPPORTED, "opset %lld is newer than gibbon supports (up to %d)",
                            (long long)o->version, MAX_OPSET);
        m->opset = o->version;
        found = 1;
    }
    if (!found && other)
        return gb_error(GB_ERR_UNSUPPORTED, "only operator set domain '%s' is imported; gibbon supports the default ONNX domain",
                        other);
    if (!found) return gb_error(GB_ERR_FORMAT, "no opset import for the default ONNX domain");
    return GB_OK;
}

static gb_status build_model(gb_model *m, const char *path, const Onnx__ModelProto *mp,
                             const gb_onnx_load_opts *o) {
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return gb_error(GB_ERR_FORMAT, "not an ONNX model (no graph)");
    if (!mp->has_ir_version) return gb_error(GB_ERR_FORMAT, "not an ONNX model (no ir_version)");
    GB_TRY(read_opset(m, mp));
    if (g->n_sparse_initializer)
        return gb_error(GB_ERR_UNSUPPORTED, "sparse initializers are not supported");

    for (size_t i = 0; i < g->n_initializer; i++) {
        const char *name = str_or_empty(g->initializer[i]->name);
        if (!*name) return gb_error(GB_ERR_FORMAT, "initializer #%zu has no name", i);
        GB_TRY(add_tensor(m, path, "initializer", name, g->initializer[i]));
    }
    int ninit = m->nvals;
    GB_TRY(add_feeds(m, o));
    GB_TRY(add_image_input(m, g, o && o->no_finalize));
    for (size_t i = 0; i < g->n_node; i++) GB_TRY(add_node(m, path, g->node[i], i, ninit));

    /* The first output is used unless the load parameters name another
     * (graph/adapt.c): classifiers have one, extra outputs are often
     * intermediate features. */
    if (g->n_output == 0) return gb_error(GB_ERR_FORMAT, "the graph declares no output");
    if (!(m->outputs = gb_calloc(g->n_output, sizeof *m->outputs))) return GB_ERR_NOMEM;
    for (size_t i = 0; i < g->n_output; i++, m->noutputs++)
        if (!(m->outputs[i] = gb_strdup(str_or_empty(g->output[i]->name)))) return GB_ERR_NOMEM;
    const char *out = m->outputs[0];
    m->output = gb_model_find_value(m, out);
    if (m->output < 0) return gb_error(GB_ERR_FORMAT, "output '%s' is not computed by any node", out);

    gb_adapt_meta meta = {NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e->key || !e->value) continue;
        if (strcmp(e->key, "gibbon.arch") == 0) {
            gb_free(m->arch);
            if (!(m->arch = gb_strdup(e->value))) return GB_ERR_NOMEM;
        }
        if (strcmp(e->key, "gibbon.mean") == 0) meta.mean = e->value;
        if (strcmp(e->key, "gibbon.std") == 0) meta.std = e->value;
        if (strcmp(e->key, "gibbon.range") == 0) meta.range = e->value;
        if (strcmp(e->key, "gibbon.layout") == 0) meta.layout = e->value;
    }
    if (mp->producer_name && *mp->producer_name && !(m->producer = gb_strdup(mp->producer_name)))
        return GB_ERR_NOMEM;
    if (o && o->params) GB_TRY(gb_model_adapt(m, o->params, &meta));
    if (o && o->no_finalize) {
        GB_TRY(describe_io(m, g));
        for (int i = 0; i < m->nnodes; i++) m->nodes[i].op = gb_op_find(m->nodes[i].op_type);
        return GB_OK;
    }
    /* Folding and planning one image allocate what the graph computes:
     * bounded by the file's own data plus a fixed allowance. */
    int64_t stored = 0;
    for (int i = 0; i < m->nvals; i++)
        if (m->vals[i].kind == GB_VAL_PARAM || m->vals[i].kind == GB_VAL_CONST) stored += m->vals[i].t.size;
    gb_tensor_budget = LOAD_BUDGET + 2 * stored;
    gb_status s = gb_model_finalize(m);
    gb_tensor_budget = -1;
    return s;
}

/* protobuf-c allocates through gibbon's allocator so that fault injection
 * reaches the parser too; `failed` tells an allocation failure apart from a
 * corrupt file when unpack returns NULL. */
typedef struct pb_alloc_state {
    int failed;
} pb_alloc_state;

static void *pb_alloc(void *data, size_t size) {
    void *p = gb_malloc(size);
    if (!p) ((pb_alloc_state *)data)->failed = 1;
    return p;
}

static void pb_free(void *data, void *p) {
    (void)data;
    gb_free(p);
}

static gb_status read_file(const char *path, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gb_error(GB_ERR_IO, "cannot open: %s", strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = gb_malloc(cap);
    gb_status s = buf ? GB_OK : GB_ERR_NOMEM;
    while (s == GB_OK) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap > MAX_FILE_BYTES / 2) {
            s = gb_error(GB_ERR_FORMAT, "larger than 2 GiB, too large for an ONNX protobuf");
            break;
        }
        uint8_t *bigger = gb_realloc(buf, cap * 2);
        if (!bigger) s = GB_ERR_NOMEM;
        else buf = bigger, cap *= 2;
    }
    if (s == GB_OK && ferror(f)) s = gb_error(GB_ERR_IO, "cannot read: %s", strerror(errno));
    fclose(f);
    if (s != GB_OK) {
        gb_free(buf);
        return s;
    }
    *out = buf;
    *len = n;
    return GB_OK;
}

/* ---- wire-format pre-check ------------------------------------------------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return 0;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

/* Walks the protobuf encoding of message type d in [p, end) and fails when
 * messages nest deeper than MAX_NESTING or the encoding is broken. Uses
 * protobuf-c's descriptors to know which fields are messages. */
static gb_status check_nesting(const uint8_t *p, const uint8_t *end, const ProtobufCMessageDescriptor *d,
                               int depth) {
    if (depth > MAX_NESTING)
        return gb_error(GB_ERR_UNSUPPORTED, "messages nested more than %d deep", MAX_NESTING);
    while (p < end) {
        uint64_t key, len;
        if (!read_varint(&p, end, &key)) goto bad;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &len)) goto bad;
            break;
        case 1:
            if (end - p < 8) goto bad;
            p += 8;
            break;
        case 5:
            if (end - p < 4) goto bad;
            p += 4;
            break;
        case 2: {
            if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p)) goto bad;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
                GB_TRY(check_nesting(p, p + len, f->descriptor, depth + 1));
            p += len;
            break;
        }
        default:
            goto bad;
        }
    }
    return GB_OK;
bad:
    return gb_error(GB_ERR_FORMAT, "not a valid ONNX model (protobuf parse failed)");
}

gb_status gb_model_load_onnx(const char *path, gb_model **out) {
    return gb_model_load_onnx_opts(path, NULL, out);
}

gb_status gb_model_load_onnx_opts(const char *path, const gb_model_load_params *p, gb_model **out) {
    gb_model_load_params def = gb_model_load_default_params();
    gb_onnx_load_opts o = {NULL, 0, 0, p ? p : &def};
    return gb_model_load_onnx_ex(path, &o, out);
}

gb_status gb_model_load_onnx_ex(const char *path, const gb_onnx_load_opts *o, gb_model **out) {
    *out = NULL;
    uint8_t *buf;
    size_t len;
    gb_status s = read_file(path, &buf, &len);
    if (s != GB_OK) return gb_error_prefix(s, "%s", path);
    s = gb_model_load_onnx_buffer(path, buf, len, o, out);
    gb_free(buf);
    return s;
}

gb_status gb_model_load_onnx_buffer(const char *path, const uint8_t *buf, size_t len,
                                    const gb_onnx_load_opts *o, gb_model **out) {
    *out = NULL;
    gb_status s = check_nesting(buf, buf + len, &onnx__model_proto__descriptor, 0);
    if (s != GB_OK) return gb_error_prefix(s, "%s", path);
    pb_alloc_state st = {0};
    ProtobufCAllocator pa = {pb_alloc, pb_free, &st};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&pa, len, buf);
    if (!mp) {
        if (st.failed) return gb_error_prefix(GB_ERR_NOMEM, "%s", path);
        return gb_error(GB_ERR_FORMAT, "%s: not a valid ONNX model (protobuf parse failed)", path);
    }
    gb_model *m = gb_model_alloc();
    s = m ? build_model(m, path, mp, o) : GB_ERR_NOMEM;
    onnx__model_proto__free_unpacked(mp, &pa);
    if (s != GB_OK) {
        gb_model_free(m);
        return gb_error_prefix(s, "%s", path);
    }
    *out = m;
    return GB_OK;
}
