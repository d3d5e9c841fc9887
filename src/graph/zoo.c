/* zoo.c — built-in architectures from a small text description.
 *
 * A description is layers joined by '-', read left to right:
 *   convN      3x3 convolution with N filters (padding 1), ReLU, 2x2 max-pool
 *   convbnN    the same with BatchNorm between the convolution and the ReLU
 *   stemN      3x3 convolution, BatchNorm, ReLU, no pooling (ResNet stem)
 *   resN       residual block (He et al. 2016, "basic block"): two 3x3
 *              conv+BN, identity shortcut (1x1 conv+BN when the width changes)
 *   resN/2     the same with stride 2 (halves height and width)
 *   gap        global average pooling
 *   fcN        fully connected layer with N units and ReLU
 *   dropP      dropout with ratio P (e.g. drop0.5)
 * A final fully connected layer to the number of classes is always added,
 * and the graph starts by normalizing [0,1] pixels: (x - mean) / std.
 * Names: "cnn" = conv32-conv64-fc128-drop0.3, "resnet" = stem16-res16-res32/2-res64/2-gap.
 * Weights: He-normal (He et al. 2015) for layers followed by ReLU, zero biases,
 * BatchNorm scale 1 and shift 0.
 */
#include "internal.h"

#include <ctype.h>
#include <math.h>

static const char *const zoo_doc =
    "Architectures are layers joined by '-':\n"
    "  convN    3x3 conv with N filters (pad 1), ReLU, 2x2 max-pool\n"
    "  convbnN  the same with BatchNorm before the ReLU\n"
    "  stemN    3x3 conv, BatchNorm, ReLU (no pooling)\n"
    "  resN     residual basic block (two 3x3 conv+BN), resN/2 with stride 2\n"
    "  gap      global average pooling\n"
    "  fcN      fully connected layer with N units and ReLU\n"
    "  dropP    dropout with ratio P (e.g. drop0.5)\n"
    "A final fully connected layer to the classes is always added; inputs in [0,1]\n"
    "are normalized inside the model.\n"
    "Named: cnn = conv32-conv64-fc128-drop0.3, resnet = stem16-res16-res32/2-res64/2-gap\n";

const char *gb_zoo_describe(void) { return zoo_doc; }

typedef struct builder {
    gb_model *m;
    gb_rng rng;
    int cur;         /* value index of the current activation */
    int64_t c, h, w; /* its shape (per image); w = 0 once flat */
    int flat;        /* 1 after flatten: c holds the feature count */
    int counter;     /* for unique names */
} builder;

static int new_act(builder *b, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "%s_%d", what, b->counter++);
    return gb_model_add_value(b->m, name, GB_VAL_ACT, NULL);
}

static int new_param(builder *b, const char *name, int ndim, const int64_t *shape, float std,
                     float fill, gb_value_kind kind) {
    gb_tensor *t = gb_tensor_new(ndim, shape);
    if (!t) return -1;
    for (int64_t i = 0; i < t->size; i++) t->data[i] = std > 0 ? std * gb_rng_normal(&b->rng) : fill;
    int v = gb_model_add_value(b->m, name, kind, t);
    gb_tensor_free(t);
    if (v >= 0) b->m->vals[v].decay = kind == GB_VAL_PARAM && ndim >= 2;
    return v;
}

static gb_node *add_node(builder *b, const char *op, const int *in, int nin, int *out_val) {
    char name[64];
    snprintf(name, sizeof name, "%s_%d", op, b->counter);
    int out = new_act(b, op);
    if (out < 0) return NULL;
    int n = gb_model_add_node(b->m, op, name, in, nin, &out, 1);
    if (n < 0) return NULL;
    *out_val = out;
    return &b->m->nodes[n];
}

/* Conv with kernel k, stride s, padding k/2; returns the output value or -1. */
static int conv(builder *b, int from, int64_t cin, int64_t cout, int k, int s, int bias,
                const char *prefix) {
    char name[96];
    int64_t ws[4] = {cout, cin, k, k};
    snprintf(name, sizeof name, "%s.weight", prefix);
    int in[3] = {from, new_param(b, name, 4, ws, sqrtf(2.0f / (float)(cin * k * k)), 0, GB_VAL_PARAM), -1};
    if (in[1] < 0) return -1;
    int nin = 2;
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        in[2] = new_param(b, name, 1, &cout, 0, 0, GB_VAL_PARAM);
        if (in[2] < 0) return -1;
        nin = 3;
    }
    int out;
    gb_node *n = add_node(b, "Conv", in, nin, &out);
    if (!n) return -1;
    int64_t kk[2] = {k, k}, ss[2] = {s, s}, pp[4] = {k / 2, k / 2, k / 2, k / 2};
    if (gb_node_add_ints(n, "kernel_shape", kk, 2) || gb_node_add_ints(n, "strides", ss, 2) ||
        gb_node_add_ints(n, "pads", pp, 4))
        return -1;
    return out;
}

static int batchnorm(builder *b, int from, int64_t c, const char *prefix) {
    char name[96];
    int in[5] = {from};
    const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    const float fill[4] = {1, 0, 0, 1};
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[k]);
        in[1 + k] = new_param(b, name, 1, &c, 0, fill[k], k < 2 ? GB_VAL_PARAM : GB_VAL_CONST);
        if (in[1 + k] < 0) return -1;
    }
    int out;
    gb_node *n = add_node(b, "BatchNormalization", in, 5, &out);
    if (!n || gb_node_add_float(n, "epsilon", 1e-5f) || gb_node_add_float(n, "momentum", 0.9f))
        return -1;
    return out;
}

static int unary(builder *b, const char *op, int from) {
    int out;
    return add_node(b, op, &from, 1, &out) ? out : -1;
}

static int binary(builder *b, const char *op, int x, int y) {
    int in[2] = {x, y}, out;
    return add_node(b, op, in, 2, &out) ? out : -1;
}

static int maxpool2(builder *b, int from) {
    int out;
    gb_node *n = add_node(b, "MaxPool", &from, 1, &out);
    int64_t kk[2] = {2, 2};
    if (!n || gb_node_add_ints(n, "kernel_shape", kk, 2) || gb_node_add_ints(n, "strides", kk, 2))
        return -1;
    return out;
}

static gb_status flatten(builder *b) {
    if (b->flat) return GB_OK;
    int out;
    gb_node *n = add_node(b, "Flatten", &b->cur, 1, &out);
    if (!n || gb_node_add_int(n, "axis", 1)) return GB_ERR_NOMEM;
    b->cur = out;
    b->c = b->c * b->h * b->w;
    b->h = b->w = 1;
    b->flat = 1;
    return GB_OK;
}

static gb_status fc(builder *b, int64_t units, int relu, float gain) {
    GB_TRY(flatten(b));
    char name[64];
    int layer = b->counter;
    int64_t ws[2] = {units, b->c};
    snprintf(name, sizeof name, "fc%d.weight", layer);
    int in[3] = {b->cur, new_param(b, name, 2, ws, gain * sqrtf(1.0f / (float)b->c), 0, GB_VAL_PARAM)};
    snprintf(name, sizeof name, "fc%d.bias", layer);
    in[2] = new_param(b, name, 1, &units, 0, 0, GB_VAL_PARAM);
    if (in[1] < 0 || in[2] < 0) return GB_ERR_NOMEM;
    int out;
    gb_node *n = add_node(b, "Gemm", in, 3, &out);
    if (!n || gb_node_add_int(n, "transB", 1)) return GB_ERR_NOMEM;
    b->cur = relu ? unary(b, "Relu", out) : out;
    b->c = units;
    return b->cur < 0 ? GB_ERR_NOMEM : GB_OK;
}

static gb_status res_block(builder *b, int64_t cout, int stride) {
    if (b->flat) return gb_error(GB_ERR_ARG, "res block after a flat layer");
    char p[64];
    int id = b->counter;
    snprintf(p, sizeof p, "res%d.conv1", id);
    int y = conv(b, b->cur, b->c, cout, 3, stride, 0, p);
    snprintf(p, sizeof p, "res%d.bn1", id);
    y = y < 0 ? -1 : batchnorm(b, y, cout, p);
    y = y < 0 ? -1 : unary(b, "Relu", y);
    snprintf(p, sizeof p, "res%d.conv2", id);
    y = y < 0 ? -1 : conv(b, y, cout, cout, 3, 1, 0, p);
    snprintf(p, sizeof p, "res%d.bn2", id);
    y = y < 0 ? -1 : batchnorm(b, y, cout, p);
    int shortcut = b->cur;
    if (y >= 0 && (cout != b->c || stride != 1)) {
        snprintf(p, sizeof p, "res%d.down", id);
        shortcut = conv(b, b->cur, b->c, cout, 1, stride, 0, p);
        snprintf(p, sizeof p, "res%d.down_bn", id);
        shortcut = shortcut < 0 ? -1 : batchnorm(b, shortcut, cout, p);
    }
    y = (y < 0 || shortcut < 0) ? -1 : binary(b, "Add", y, shortcut);
    y = y < 0 ? -1 : unary(b, "Relu", y);
    if (y < 0) return GB_ERR_NOMEM;
    b->cur = y;
    b->c = cout;
    b->h = (b->h - 1) / stride + 1;
    b->w = (b->w - 1) / stride + 1;
    return GB_OK;
}

static gb_status parse_count(const char *tok, const char *prefix, int64_t *n) {
    const char *s = tok + strlen(prefix);
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > 65536 || (*end && *end != '/'))
        return gb_error(GB_ERR_ARG, "architecture layer '%s': expected %s<count> with count in 1..65536",
                        tok, prefix);
    *n = v;
    return GB_OK;
}

static gb_status add_layer(builder *b, const char *tok) {
    int64_t n = 0;
    char p[64];
    if (strncmp(tok, "convbn", 6) == 0 || strncmp(tok, "conv", 4) == 0 || strncmp(tok, "stem", 4) == 0) {
        int bn = strncmp(tok, "convbn", 6) == 0, stem = strncmp(tok, "stem", 4) == 0;
        GB_TRY(parse_count(tok, bn ? "convbn" : stem ? "stem" : "conv", &n));
        if (b->flat) return gb_error(GB_ERR_ARG, "architecture layer '%s' after a flat layer", tok);
        if (!stem && (b->h < 2 || b->w < 2))
            return gb_error(GB_ERR_ARG, "architecture layer '%s': image already %lldx%lld, cannot pool",
                            tok, (long long)b->h, (long long)b->w);
        snprintf(p, sizeof p, "conv%d", b->counter);
        int y = conv(b, b->cur, b->c, n, 3, 1, !(bn || stem), p);
        if (bn || stem) {
            snprintf(p, sizeof p, "bn%d", b->counter);
            y = y < 0 ? -1 : batchnorm(b, y, n, p);
        }
        y = y < 0 ? -1 : unary(b, "Relu", y);
        if (!stem) y = y < 0 ? -1 : maxpool2(b, y);
        if (y < 0) return GB_ERR_NOMEM;
        b->cur = y;
        b->c = n;
        if (!stem) b->h /= 2, b->w /= 2;
        return GB_OK;
    }
    if (strncmp(tok, "res", 3) == 0) {
        GB_TRY(parse_count(tok, "res", &n));
        const char *slash = strchr(tok, '/');
        if (slash && strcmp(slash, "/2") != 0)
            return gb_error(GB_ERR_ARG, "architecture layer '%s': only /2 strides exist", tok);
        return res_block(b, n, slash ? 2 : 1);
    }
    if (strcmp(tok, "gap") == 0) {
        if (b->flat) return gb_error(GB_ERR_ARG, "gap after a flat layer");
        int y = unary(b, "GlobalAveragePool", b->cur);
        if (y < 0) return GB_ERR_NOMEM;
        b->cur = y;
        b->h = b->w = 1;
        return flatten(b);
    }
    if (strncmp(tok, "fc", 2) == 0) {
        GB_TRY(parse_count(tok, "fc", &n));
        return fc(b, n, 1, sqrtf(2.0f));
    }
    if (strncmp(tok, "drop", 4) == 0) {
        char *end;
        double r = strtod(tok + 4, &end);
        if (end == tok + 4 || *end || !(r >= 0 && r < 1))
            return gb_error(GB_ERR_ARG, "architecture layer '%s': expected dropP with 0 <= P < 1", tok);
        /* Opset 13 gives the ratio as a constant input, not an attribute. */
        char name[64];
        snprintf(name, sizeof name, "drop%d.ratio", b->counter);
        gb_tensor *ratio = gb_tensor_new(0, NULL);
        if (!ratio) return GB_ERR_NOMEM;
        ratio->data[0] = (float)r;
        int in[2] = {b->cur, gb_model_add_value(b->m, name, GB_VAL_CONST, ratio)};
        gb_tensor_free(ratio);
        int y;
        if (in[1] < 0 || !add_node(b, "Dropout", in, 2, &y)) return GB_ERR_NOMEM;
        b->cur = y;
        return GB_OK;
    }
    return gb_error(GB_ERR_ARG, "unknown architecture layer '%s' (see 'gibbon train --help')", tok);
}

static const char *expand_name(const char *arch) {
    if (strcmp(arch, "cnn") == 0) return "conv32-conv64-fc128-drop0.3";
    if (strcmp(arch, "resnet") == 0) return "stem16-res16-res32/2-res64/2-gap";
    return arch;
}

gb_status gb_model_from_zoo(const char *arch, int in_c, int in_h, int in_w, int num_classes,
                            uint64_t seed, gb_model **out) {
    *out = NULL;
    if (in_c < 1 || in_h < 1 || in_w < 1 || num_classes < 2 || in_c > 64 || in_h > 4096 || in_w > 4096)
        return gb_error(GB_ERR_ARG, "zoo: bad input shape %dx%dx%d or class count %d", in_c, in_h,
                        in_w, num_classes);
    const char *desc = expand_name(arch);
    if (!*desc) return gb_error(GB_ERR_ARG, "empty architecture description");
    builder b = {0};
    b.m = gb_model_alloc();
    if (!b.m) return GB_ERR_NOMEM;
    gb_rng_seed(&b.rng, seed, 11);
    gb_status s = GB_OK;
    gb_model *m = b.m;
    m->in_ndim = 4;
    m->in_shape[0] = -1, m->in_shape[1] = in_c, m->in_shape[2] = in_h, m->in_shape[3] = in_w;
    m->arch = gb_strdup(desc);
    if (!m->arch) s = GB_ERR_NOMEM;
    int x = s ? -1 : gb_model_add_value(m, "image", GB_VAL_INPUT, NULL);
    /* Normalization constants: Fashion-MNIST statistics for gray images,
     * 0.5/0.5 otherwise (the layer keeps the model's input in [0,1]). */
    int64_t cs[4] = {1, in_c, 1, 1};
    gb_tensor *mean = gb_tensor_new(4, cs), *std = gb_tensor_new(4, cs);
    if (mean && std)
        for (int i = 0; i < in_c; i++) {
            mean->data[i] = in_c == 1 ? 0.2860f : 0.5f;
            std->data[i] = in_c == 1 ? 0.3530f : 0.5f;
        }
    int vm = mean ? gb_model_add_value(m, "norm.mean", GB_VAL_CONST, mean) : -1;
    int vs = std ? gb_model_add_value(m, "norm.std", GB_VAL_CONST, std) : -1;
    gb_tensor_free(mean);
    gb_tensor_free(std);
    if (x < 0 || vm < 0 || vs < 0) s = s ? s : GB_ERR_NOMEM;
    if (!s) {
        b.cur = binary(&b, "Sub", x, vm);
        b.cur = b.cur < 0 ? -1 : binary(&b, "Div", b.cur, vs);
        if (b.cur < 0) s = GB_ERR_NOMEM;
        b.c = in_c, b.h = in_h, b.w = in_w;
    }
    char tok[64];
    const char *p = desc;
    while (!s && *p) {
        size_t len = strcspn(p, "-");
        if (len == 0 || len >= sizeof tok) {
            s = gb_error(GB_ERR_ARG, "architecture '%s': empty or overlong layer", desc);
            break;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        s = add_layer(&b, tok);
        p += len;
        if (*p == '-') p++;
    }
    if (!s) s = fc(&b, num_classes, 0, 1.0f);
    if (!s) {
        m->output = b.cur;
        s = gb_model_finalize(m);
    }
    if (s) {
        gb_model_free(m);
        return s;
    }
    *out = m;
    return GB_OK;
}
