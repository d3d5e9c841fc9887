/* defend.c — input transformations as defenses: parsing "jpeg:75",
 * "bits:4", "median:3", "resize-pad:0.9", putting the transformation in
 * front of a model's graph, and applying it to a batch directly (the
 * feature-squeezing detector).
 *
 * The node goes first, before the input adapter (normalization, layout;
 * graph/adapt.c), because the transformations are defined on [0,1] pixels,
 * and it joins the adapter: gradients, eps and the attack all stay in pixel
 * space, and gb_model_save_onnx writes the model without it (a defense is a
 * load-time choice: `--defense` on the command line). */
#include "defenses.h"

#include <errno.h>
#include <math.h>

static const char *const kind_names[] = {"jpeg", "bits", "median", "resize-pad"};
static const char *const op_types[] = {"GibbonJpeg", "GibbonBitDepth", "GibbonMedian", "GibbonResizePad"};
static const float defaults[] = {75, 4, 3, 0.9f};

static gb_status check(const gb_defense *d) {
    float v = d->param;
    switch (d->kind) {
    case GB_DEFENSE_JPEG:
        if (v == floorf(v) && v >= 1 && v <= 100) return GB_OK;
        return gb_error(GB_ERR_ARG, "defense jpeg:%g: the quality must be an integer in [1, 100]", (double)v);
    case GB_DEFENSE_BITS:
        if (v == floorf(v) && v >= 1 && v <= 16) return GB_OK;
        return gb_error(GB_ERR_ARG, "defense bits:%g: the bit depth must be an integer in [1, 16]", (double)v);
    case GB_DEFENSE_MEDIAN:
        if (v == floorf(v) && v >= 2 && v <= GB_MEDIAN_MAX) return GB_OK;
        return gb_error(GB_ERR_ARG, "defense median:%g: the window must be an integer in [2, %d]", (double)v,
                        GB_MEDIAN_MAX);
    case GB_DEFENSE_RESIZE_PAD:
        if (v > 0 && v <= 1) return GB_OK;
        return gb_error(GB_ERR_ARG, "defense resize-pad:%g: the smallest scale must be in (0, 1]", (double)v);
    }
    return gb_error(GB_ERR_ARG, "unknown defense kind %d", (int)d->kind);
}

gb_status gb_defense_parse(const char *spec, gb_defense *d) {
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    int k = -1;
    for (int i = 0; i < 4; i++)
        if (strlen(kind_names[i]) == len && strncmp(spec, kind_names[i], len) == 0) k = i;
    if (k < 0)
        return gb_error(GB_ERR_ARG, "unknown defense '%s' (known: jpeg:QUALITY, bits:K, median:K, resize-pad:RATIO)",
                        spec);
    memset(d, 0, sizeof *d);
    d->kind = (gb_defense_kind)k;
    d->param = defaults[k];
    if (colon) {
        char *end;
        errno = 0;
        double v = strtod(colon + 1, &end);
        if (end == colon + 1 || *end || errno || !isfinite(v))
            return gb_error(GB_ERR_ARG, "defense '%s': '%s' is not a number", spec, colon + 1);
        d->param = (float)v;
    }
    return check(d);
}

const char *gb_defense_str(const gb_defense *d, char *buf, size_t len) {
    int k = d->kind >= 0 && d->kind <= GB_DEFENSE_RESIZE_PAD ? (int)d->kind : 0;
    snprintf(buf, len, "%s:%g%s", kind_names[k], (double)d->param, d->bpda ? "+bpda" : "");
    return buf;
}

/* A value name not in the model yet. */
static int add_value_unique(gb_model *m, const char *base, gb_value_kind kind) {
    char name[160];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; gb_model_find_value(m, name) >= 0; k++) snprintf(name, sizeof name, "%s.%d", base, k);
    int v = gb_model_add_value(m, name, kind, NULL);
    if (v >= 0) m->vals[v].adapter = 1;
    return v;
}

gb_status gb_model_add_defense(gb_model *m, const gb_defense *d) {
    GB_TRY(check(d));
    int pixels = m->input, out;
    if (!m->nadapt) {
        /* The model's own input becomes the transformation's output, as
         * graph/adapt.c does for normalization. */
        char base[140];
        snprintf(base, sizeof base, "%s.pixels", m->vals[pixels].name);
        m->raw_input = pixels;
        m->raw_ndim = m->in_ndim;
        memcpy(m->raw_shape, m->in_shape, sizeof m->raw_shape);
        m->vals[pixels].kind = GB_VAL_ACT;
        memset(&m->vals[pixels].t, 0, sizeof m->vals[pixels].t); /* was a borrowed view */
        if (add_value_unique(m, base, GB_VAL_INPUT) < 0) return GB_ERR_NOMEM; /* sets m->input */
        out = pixels;
        pixels = m->input;
    } else {
        if ((out = add_value_unique(m, "gibbon.defense", GB_VAL_ACT)) < 0) return GB_ERR_NOMEM;
        for (int i = 0; i < m->nnodes; i++)
            for (int k = 0; k < m->nodes[i].nin; k++)
                if (m->nodes[i].in[k] == pixels) m->nodes[i].in[k] = out;
    }
    char name[64];
    snprintf(name, sizeof name, "gibbon.defense.%s", kind_names[d->kind]);
    int ni = gb_model_add_node(m, op_types[d->kind], name, &pixels, 1, &out, 1);
    if (ni < 0) return GB_ERR_NOMEM;
    gb_node *n = &m->nodes[ni];
    switch (d->kind) {
    case GB_DEFENSE_JPEG: GB_TRY(gb_node_add_int(n, "quality", (int64_t)d->param)); break;
    case GB_DEFENSE_BITS: GB_TRY(gb_node_add_int(n, "bits", (int64_t)d->param)); break;
    case GB_DEFENSE_MEDIAN: GB_TRY(gb_node_add_int(n, "size", (int64_t)d->param)); break;
    case GB_DEFENSE_RESIZE_PAD: GB_TRY(gb_node_add_float(n, "ratio", d->param)); break;
    }
    if (d->kind == GB_DEFENSE_JPEG || d->kind == GB_DEFENSE_BITS)
        GB_TRY(gb_node_add_int(n, "bpda", d->bpda != 0));
    /* Rotate the new node to the front. */
    gb_node tmp = m->nodes[ni];
    memmove(&m->nodes[1], &m->nodes[0], (size_t)ni * sizeof *m->nodes);
    m->nodes[0] = tmp;
    gb_model_relink(m);
    m->nadapt++;
    m->planned_ndim = -1;
    return gb_model_finalize(m);
}

gb_status gb_defense_apply(const gb_defense *d, const gb_tensor *x, gb_tensor *y, gb_rng *rng) {
    GB_TRY(check(d));
    if (x->ndim != 4)
        return gb_error(GB_ERR_SHAPE, "defense: needs images (N, C, H, W), got rank %d", x->ndim);
    if (d->kind == GB_DEFENSE_RESIZE_PAD && !rng) return gb_error(GB_ERR_ARG, "defense resize-pad: no rng");
    GB_TRY(gb_tensor_resize(y, x->ndim, x->shape));
    const int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3], P = H * W;
    const int64_t planes = x->shape[0] * C;
    float q[64];
    gb_jpeg_table((int)d->param, q);
    gb_rp_draw draw = {0, 0, 0, 0};
    for (int64_t p = 0; p < planes; p++) {
        const float *src = x->data + p * P;
        float *dst = y->data + p * P;
        switch (d->kind) {
        case GB_DEFENSE_JPEG: gb_jpeg_plane(dst, src, H, W, q); break;
        case GB_DEFENSE_BITS: gb_bits_apply(dst, src, P, (int)d->param); break;
        case GB_DEFENSE_MEDIAN: gb_median_plane(dst, NULL, src, H, W, (int)d->param); break;
        case GB_DEFENSE_RESIZE_PAD:
            if (p % C == 0) draw = gb_resize_pad_draw(rng, d->param, H, W); /* one draw per image */
            gb_resize_pad_plane(dst, src, H, W, draw);
            break;
        }
    }
    return GB_OK;
}
