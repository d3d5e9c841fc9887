/* adapt.c — fitting a foreign model to gibbon's conventions at load time.
 *
 * Attacks measure eps in [0,1] pixel space and climb losses on logits. The
 * models people export expect other things: inputs normalized per channel
 * (torchvision: mean 0.485,0.456,0.406, std 0.229,0.224,0.225), pixels in
 * 0..255 (Caffe, many Keras models), NHWC layout (TensorFlow), a final
 * Softmax, several outputs. Attacking such a model naively gives a wrong eps
 * or vanishing gradients through saturated probabilities (Carlini & Wagner
 * 2017, section V; Athalye et al. 2018 list it among the evaluation
 * pitfalls). So the loader rewrites the graph instead:
 *
 *   pixels (N,C,H,W) in [0,1]
 *     -> Mul(range) -> Sub(mean) -> Div(std)      (only the steps needed)
 *     -> Transpose(0,2,3,1)                       (NHWC models)
 *     -> the model's own input value, then its own nodes
 *
 * The inserted nodes come first (m->nadapt of them); their values carry
 * gb_value.adapter so gb_model_save_onnx writes the model's own graph and
 * the settings as metadata instead. A final Softmax is removed (the output
 * becomes its input), a final LogSoftmax is kept and reported.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>

gb_model_load_params gb_model_load_default_params(void) {
    gb_model_load_params p;
    memset(&p, 0, sizeof p);
    p.layout = GB_LAYOUT_AUTO;
    return p;
}

/* ---- graph surgery ------------------------------------------------------------ */

void gb_model_relink(gb_model *m) {
    for (int i = 0; i < m->nvals; i++)
        if (m->vals[i].kind == GB_VAL_ACT) m->vals[i].producer = -1;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nout; k++)
            if (m->nodes[i].out[k] >= 0) m->vals[m->nodes[i].out[k]].producer = i;
}

/* Removes nodes [from, to) keeping the order of the rest. */
static void remove_nodes(gb_model *m, int from, int to) {
    for (int i = from; i < to; i++) gb_node_release(&m->nodes[i]);
    memmove(&m->nodes[from], &m->nodes[to], (size_t)(m->nnodes - to) * sizeof *m->nodes);
    m->nnodes -= to - from;
    gb_model_relink(m);
}

/* Keeps only the nodes the output depends on (an output chosen by name may
 * leave a whole branch unused). */
static gb_status prune(gb_model *m) {
    char *live = gb_calloc((size_t)m->nvals + 1, 1);
    if (!live) return GB_ERR_NOMEM;
    live[m->output] = 1;
    int kept = m->nnodes;
    for (int i = m->nnodes - 1; i >= 0; i--) {
        gb_node *n = &m->nodes[i];
        int any = 0;
        for (int k = 0; k < n->nout; k++) any |= n->out[k] >= 0 && live[n->out[k]];
        if (!any) {
            n->op = -2; /* marker: dropped */
            kept--;
            continue;
        }
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) live[n->in[k]] = 1;
    }
    gb_free(live);
    if (kept == m->nnodes) return GB_OK;
    int j = 0;
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].op == -2) {
            gb_node_release(&m->nodes[i]);
            continue;
        }
        m->nodes[j++] = m->nodes[i];
    }
    m->nnodes = j;
    gb_model_relink(m);
    return GB_OK;
}

/* ---- output ------------------------------------------------------------------ */

static gb_status choose_output(gb_model *m, const char *name) {
    if (!name || !*name) return GB_OK;
    for (int i = 0; i < m->noutputs; i++) {
        if (strcmp(m->outputs[i], name) != 0) continue;
        int v = gb_model_find_value(m, name);
        if (v < 0) return gb_error(GB_ERR_FORMAT, "output '%s' is not computed by any node", name);
        m->output = v;
        return prune(m);
    }
    char list[512] = "";
    for (int i = 0; i < m->noutputs; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", m->outputs[i]);
    }
    return gb_error(GB_ERR_ARG, "no graph output named '%s' (the model's outputs: %s)", name, list);
}

static gb_status strip_softmax(gb_model *m, int keep) {
    int p = m->vals[m->output].producer;
    if (p < 0) return GB_OK;
    gb_node *n = &m->nodes[p];
    if (strcmp(n->op_type, "LogSoftmax") == 0) {
        m->out_kind = GB_OUTPUT_LOG_SOFTMAX;
        return GB_OK;
    }
    if (keep || strcmp(n->op_type, "Softmax") != 0 || n->nin < 1 || n->in[0] < 0) return GB_OK;
    for (int i = 0; i < m->nnodes; i++) /* probabilities used elsewhere too: leave the graph alone */
        for (int k = 0; k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] == m->output) return GB_OK;
    m->output = n->in[0];
    m->out_kind = GB_OUTPUT_SOFTMAX_REMOVED;
    remove_nodes(m, p, p + 1);
    return GB_OK;
}

/* ---- input ------------------------------------------------------------------- */

/* A value name not yet in the model: base, base.1, base.2 ... */
static int add_unique(gb_model *m, const char *base, gb_value_kind kind, const gb_tensor *t) {
    size_t len = strlen(base) + 16;
    char *name = gb_malloc(len);
    if (!name) return -1;
    snprintf(name, len, "%s", base);
    for (int k = 1; gb_model_find_value(m, name) >= 0; k++) snprintf(name, len, "%s.%d", base, k);
    int v = gb_model_add_value(m, name, kind, t);
    gb_free(name);
    if (v >= 0) m->vals[v].adapter = 1;
    return v;
}

/* The model's channel count as declared (-1: unknown). */
static int64_t declared_channels(const gb_model *m) {
    const int64_t *s = m->nadapt ? m->raw_shape : m->in_shape;
    int nd = m->nadapt ? m->raw_ndim : m->in_ndim;
    int axis = m->layout == GB_LAYOUT_NHWC ? nd - 1 : 1;
    return nd >= 2 && axis >= 1 ? s[axis] : -1;
}

static gb_status check_norm(const gb_model *m, int channels, const float *mean, const float *std,
                            float range) {
    if (channels < 0 || channels > GB_MAX_CHANNELS)
        return gb_error(GB_ERR_ARG, "normalization with %d channels (at most %d)", channels,
                        GB_MAX_CHANNELS);
    if (!(range > 0) || !isfinite(range))
        return gb_error(GB_ERR_ARG, "input range %g: must be positive (1 for [0,1], 255 for 0..255)",
                        (double)range);
    for (int c = 0; c < channels; c++) {
        if (!isfinite(mean[c])) return gb_error(GB_ERR_ARG, "mean %g is not a number", (double)mean[c]);
        if (!(std[c] > 0) || !isfinite(std[c]))
            return gb_error(GB_ERR_ARG, "std %g: must be positive", (double)std[c]);
    }
    int64_t have = declared_channels(m);
    if (channels > 1 && have > 0 && have != channels)
        return gb_error(GB_ERR_ARG, "mean/std have %d values but the model's input has %lld channel%s",
                        channels, (long long)have, have == 1 ? "" : "s");
    return GB_OK;
}

/* Undoes insert_adapter: the model's own input is the input again. The
 * inserted values stay (indices are stable) but nothing uses them. */
static void remove_adapter(gb_model *m) {
    if (!m->nadapt) return;
    gb_value *px = &m->vals[m->input];
    px->kind = GB_VAL_CONST; /* dead: borrowed data dropped, not exported */
    memset(&px->t, 0, sizeof px->t);
    gb_tensor_release(&px->grad);
    remove_nodes(m, 0, m->nadapt);
    for (int i = 0; i < m->nvals; i++)
        if (m->vals[i].adapter && m->vals[i].kind == GB_VAL_ACT) {
            gb_tensor_release(&m->vals[i].t);
            gb_tensor_release(&m->vals[i].grad);
            m->vals[i].kind = GB_VAL_CONST;
        }
    gb_value *raw = &m->vals[m->raw_input];
    gb_tensor_release(&raw->t);
    raw->kind = GB_VAL_INPUT;
    raw->producer = -1;
    m->input = m->raw_input;
    m->raw_input = -1;
    m->in_ndim = m->raw_ndim;
    memcpy(m->in_shape, m->raw_shape, sizeof m->in_shape);
    m->nadapt = 0;
    m->planned_ndim = -1;
}

/* Inserts the nodes for m->layout and m->norm_* in front of the graph. */
static gb_status insert_adapter(gb_model *m) {
    int nhwc = m->layout == GB_LAYOUT_NHWC;
    int scale = m->norm_range != 1.0f;
    if (!nhwc && !scale && !m->norm_c) return GB_OK;
    if (nhwc && m->in_ndim != 4 && m->in_ndim != 0)
        return gb_error(GB_ERR_ARG, "NHWC layout needs a rank-4 image input, the model's has rank %d",
                        m->in_ndim);
    int rank = m->in_ndim ? m->in_ndim : 4;
    int raw = m->input;
    m->raw_ndim = m->in_ndim;
    memcpy(m->raw_shape, m->in_shape, sizeof m->raw_shape);
    if (nhwc && m->in_ndim == 4) {
        const int64_t *s = m->raw_shape;
        int64_t nchw[4] = {s[0], s[3], s[1], s[2]};
        memcpy(m->in_shape, nchw, sizeof nchw);
    }

    /* The model's input becomes an activation; the pixels are the input. */
    gb_value *rv = &m->vals[raw];
    memset(&rv->t, 0, sizeof rv->t); /* was a borrowed view of the caller's batch */
    rv->kind = GB_VAL_ACT;
    char base[120];
    snprintf(base, sizeof base, "%s.pixels", rv->name);
    if (add_unique(m, base, GB_VAL_INPUT, NULL) < 0) return GB_ERR_NOMEM;

    /* Constants shaped (1, C, 1, ...) broadcast over the NCHW pixels. */
    int64_t cshape[GB_MAX_DIMS];
    for (int i = 0; i < rank; i++) cshape[i] = 1;
    cshape[1] = m->norm_c > 1 ? m->norm_c : 1;
    const char *ops[4];
    int consts[4], nsteps = 0;
    if (scale) {
        gb_tensor *t = gb_tensor_new(0, NULL);
        if (!t) return GB_ERR_NOMEM;
        t->data[0] = m->norm_range;
        consts[nsteps] = add_unique(m, "gibbon.range", GB_VAL_CONST, t);
        gb_tensor_free(t);
        ops[nsteps++] = "Mul";
    }
    for (int k = 0; k < 2 && m->norm_c; k++) {
        gb_tensor *t = gb_tensor_new(rank, cshape);
        if (!t) return GB_ERR_NOMEM;
        for (int c = 0; c < t->size; c++) t->data[c] = k == 0 ? m->norm_mean[c] : m->norm_std[c];
        consts[nsteps] = add_unique(m, k == 0 ? "gibbon.mean" : "gibbon.std", GB_VAL_CONST, t);
        gb_tensor_free(t);
        ops[nsteps++] = k == 0 ? "Sub" : "Div";
    }
    for (int k = 0; k < nsteps; k++)
        if (consts[k] < 0) return GB_ERR_NOMEM;
    if (nhwc) consts[nsteps] = -1, ops[nsteps++] = "Transpose";

    /* Chain the steps; the last one writes the model's own input value. */
    int first = m->nnodes, cur = m->input;
    for (int k = 0; k < nsteps; k++) {
        int out = raw;
        if (k < nsteps - 1) {
            snprintf(base, sizeof base, "gibbon.%s", ops[k]);
            if ((out = add_unique(m, base, GB_VAL_ACT, NULL)) < 0) return GB_ERR_NOMEM;
        }
        int in[2] = {cur, consts[k]};
        snprintf(base, sizeof base, "gibbon.input.%s", ops[k]);
        int ni = gb_model_add_node(m, ops[k], base, in, consts[k] >= 0 ? 2 : 1, &out, 1);
        if (ni < 0) return GB_ERR_NOMEM;
        if (ops[k][0] == 'T') {
            int64_t perm[4] = {0, 2, 3, 1};
            GB_TRY(gb_node_add_ints(&m->nodes[ni], "perm", perm, 4));
        }
        cur = out;
    }
    /* Rotate the new nodes to the front. */
    gb_node tmp[4];
    memcpy(tmp, &m->nodes[first], (size_t)nsteps * sizeof *tmp);
    memmove(&m->nodes[nsteps], &m->nodes[0], (size_t)first * sizeof *m->nodes);
    memcpy(&m->nodes[0], tmp, (size_t)nsteps * sizeof *tmp);
    gb_model_relink(m);
    m->nadapt = nsteps;
    m->raw_input = raw;
    m->planned_ndim = -1;
    return GB_OK;
}

/* ---- settings from parameters and metadata --------------------------------------- */

static gb_status parse_list(const char *key, const char *s, float *out, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || *n == GB_MAX_CHANNELS)
            return gb_error(GB_ERR_FORMAT, "metadata '%s': '%s' is not a list of up to %d numbers", key,
                            s, GB_MAX_CHANNELS);
        out[(*n)++] = (float)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return gb_error(GB_ERR_FORMAT, "metadata '%s': bad list", key);
    }
    return GB_OK;
}

gb_status gb_model_adapt(gb_model *m, const gb_model_load_params *p, const gb_adapt_meta *meta) {
    GB_TRY(choose_output(m, p->output));
    GB_TRY(strip_softmax(m, p->keep_softmax));

    m->layout = GB_LAYOUT_NCHW;
    if (p->layout == GB_LAYOUT_NHWC || p->layout == GB_LAYOUT_NCHW) {
        m->layout = p->layout;
    } else if (p->layout != GB_LAYOUT_AUTO) {
        return gb_error(GB_ERR_ARG, "unknown input layout %d", (int)p->layout);
    } else if (meta->layout) {
        if (strcmp(meta->layout, "nhwc") == 0) m->layout = GB_LAYOUT_NHWC;
        else if (strcmp(meta->layout, "nchw") != 0)
            return gb_error(GB_ERR_FORMAT, "metadata 'gibbon.layout': '%s' (nchw or nhwc)", meta->layout);
    }

    int c = 0;
    float mean[GB_MAX_CHANNELS], std[GB_MAX_CHANNELS], range = 1;
    if (p->channels) {
        c = p->channels;
        if (c < 0 || c > GB_MAX_CHANNELS) return check_norm(m, c, NULL, NULL, 1);
        memcpy(mean, p->mean, (size_t)c * sizeof *mean);
        memcpy(std, p->std, (size_t)c * sizeof *std);
    } else if (meta->mean || meta->std) {
        int cm = 0, cs = 0;
        if (meta->mean) GB_TRY(parse_list("gibbon.mean", meta->mean, mean, &cm));
        if (meta->std) GB_TRY(parse_list("gibbon.std", meta->std, std, &cs));
        c = cm > cs ? cm : cs;
        if ((cm && cs && cm != cs) || c == 0)
            return gb_error(GB_ERR_FORMAT, "metadata 'gibbon.mean' and 'gibbon.std' have %d and %d values",
                            cm, cs);
        for (int k = 0; k < c; k++) {
            if (!cm) mean[k] = 0;
            if (!cs) std[k] = 1;
        }
    }
    if (p->range != 0) {
        range = p->range;
    } else if (meta->range) {
        int n;
        float r[GB_MAX_CHANNELS];
        GB_TRY(parse_list("gibbon.range", meta->range, r, &n));
        if (n != 1) return gb_error(GB_ERR_FORMAT, "metadata 'gibbon.range' must be one number");
        range = r[0];
    }
    GB_TRY(check_norm(m, c, mean, std, range));
    m->norm_c = c;
    memcpy(m->norm_mean, mean, (size_t)c * sizeof *mean);
    memcpy(m->norm_std, std, (size_t)c * sizeof *std);
    m->norm_range = range;
    return insert_adapter(m);
}

gb_status gb_model_set_input_normalization(gb_model *m, int channels, const float *mean,
                                           const float *std, float range) {
    GB_TRY(check_norm(m, channels, mean, std, range));
    remove_adapter(m);
    m->norm_c = channels;
    if (channels) {
        memcpy(m->norm_mean, mean, (size_t)channels * sizeof *mean);
        memcpy(m->norm_std, std, (size_t)channels * sizeof *std);
    }
    m->norm_range = range;
    GB_TRY(insert_adapter(m));
    return gb_model_finalize(m);
}

/* ---- queries ------------------------------------------------------------------------ */

int gb_model_input_normalization(const gb_model *m, float *mean, float *std, float *range) {
    if (mean && m->norm_c) memcpy(mean, m->norm_mean, (size_t)m->norm_c * sizeof *mean);
    if (std && m->norm_c) memcpy(std, m->norm_std, (size_t)m->norm_c * sizeof *std);
    if (range) *range = m->norm_range > 0 ? m->norm_range : 1;
    return m->norm_c;
}

gb_layout gb_model_input_layout(const gb_model *m) { return m->layout; }

gb_output_kind gb_model_output_kind(const gb_model *m) { return m->out_kind; }

int gb_model_num_outputs(const gb_model *m) { return m->noutputs; }

const char *gb_model_output_name(const gb_model *m, int i) {
    return i >= 0 && i < m->noutputs ? m->outputs[i] : NULL;
}

const char *gb_model_used_output(const gb_model *m) {
    return m->output >= 0 ? m->vals[m->output].name : "";
}

const char *gb_model_layout_hint(const gb_model *m, int ndim, const int64_t *x) {
    const int64_t *d = m->in_shape;
    if (ndim != 4 || m->in_ndim != 4) return "";
    if (m->layout == GB_LAYOUT_NCHW && d[3] > 0 && d[3] <= 4 && x[1] == d[3] && (d[1] < 0 || x[2] == d[1]) &&
        (d[2] < 0 || x[3] == d[2]))
        return ": the model takes NHWC input and the data is NCHW; load the model with --layout nhwc "
               "(gb_model_load_params.layout) and gibbon inserts the Transpose";
    if (d[1] > 0 && x[3] == d[1] && (d[2] < 0 || x[1] == d[2]) && (d[3] < 0 || x[2] == d[3]))
        return ": the data looks NHWC; gibbon takes images as (N, C, H, W): transpose them";
    return "";
}

gb_status gb_model_check_input(const gb_model *m, const gb_tensor *x) {
    char a[128], b[128];
    int bad = m->in_ndim && x->ndim != m->in_ndim;
    for (int i = 1; !bad && i < m->in_ndim; i++) bad = m->in_shape[i] > 0 && x->shape[i] != m->in_shape[i];
    if (bad)
        return gb_error(GB_ERR_SHAPE, "data of shape %s does not fit the model's input %s%s",
                        gb_shape_str(x->ndim, x->shape, a, sizeof a),
                        gb_shape_str(m->in_ndim, m->in_shape, b, sizeof b),
                        gb_model_layout_hint(m, x->ndim, x->shape));
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < x->size; i++) {
        float v = x->data[i];
        if (v != v) return gb_error(GB_ERR_ARG, "the data holds NaN at element %lld", (long long)i);
        lo = i ? fminf(lo, v) : v;
        hi = i ? fmaxf(hi, v) : v;
    }
    if (lo < -0.5f)
        return gb_error(GB_ERR_ARG,
                        "pixel values go down to %g: the data looks normalized already; give gibbon "
                        "[0,1] pixels and the model's normalization with --mean/--std",
                        (double)lo);
    if (hi > 1.5f)
        return gb_error(GB_ERR_ARG,
                        "pixel values reach %g but gibbon works on pixels in [0,1]: divide the data by "
                        "255 (a model that expects 0..255 input takes --range 255 and still gets [0,1] "
                        "data)",
                        (double)hi);
    return GB_OK;
}
