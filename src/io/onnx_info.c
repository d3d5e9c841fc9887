/* onnx_info.c — the report behind `gibbon info`: what an ONNX file holds
 * and whether gibbon can run it.
 *
 * The file is imported twice: first without finalizing (so unknown ops do
 * not stop the load and can be listed), then, when every op is known, for
 * real, which checks attributes and shapes and plans one image; FLOPs are
 * counted on that plan: 2 per multiply-add for Conv, ConvTranspose, Gemm and
 * MatMul, one per output element for everything else.
 */
#include "internal.h"

#include <stdarg.h>

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *p = gb_realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Floating-point operations of node n for the planned batch. */
static double node_flops(const gb_model *m, const gb_node *n) {
    const gb_tensor *y = &m->vals[n->out[0]].t;
    const gb_tensor *x = n->nin > 0 && n->in[0] >= 0 ? &m->vals[n->in[0]].t : NULL;
    const gb_tensor *w = n->nin > 1 && n->in[1] >= 0 ? &m->vals[n->in[1]].t : NULL;
    if (n->is_static) return 0;
    if (n->op == GB_OP_CONV && w && w->ndim == 4)
        return 2.0 * (double)y->size * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
    if (n->op == GB_OP_CONV_TRANSPOSE && x && w && w->ndim == 4)
        return 2.0 * (double)x->size * (double)(w->size / w->shape[0]);
    if ((n->op == GB_OP_GEMM || n->op == GB_OP_MATMUL) && x && x->ndim >= 1) {
        int64_t K = x->shape[x->ndim - 1];
        if (n->op == GB_OP_GEMM && n->p.trans_a && x->ndim == 2) K = x->shape[0];
        return 2.0 * (double)y->size * (double)K;
    }
    return (double)y->size;
}

static const char *si(double v, char *buf, size_t len) {
    const char *u[] = {"", "K", "M", "G", "T"};
    int k = 0;
    while (v >= 1000 && k < 4) v /= 1000, k++;
    snprintf(buf, len, "%.3g %s", v, u[k]);
    return buf;
}

/* "mean (0.485, 0.456, 0.406), std (...), range 255, NHWC" or "none". */
static void describe_adapter(sbuf *b, const gb_model *m) {
    float mean[GB_MAX_CHANNELS], std[GB_MAX_CHANNELS], range;
    int c = gb_model_input_normalization(m, mean, std, &range);
    if (!m->nadapt) {
        sb_printf(b, "adapter:    none (pixels go to the model's input unchanged)\n");
        return;
    }
    sb_printf(b, "adapter:    [0,1] NCHW pixels");
    if (range != 1) sb_printf(b, " -> x * %g", (double)range);
    if (c) {
        sb_printf(b, " -> (x - mean) / std, mean (");
        for (int k = 0; k < c; k++) sb_printf(b, "%s%g", k ? ", " : "", (double)mean[k]);
        sb_printf(b, "), std (");
        for (int k = 0; k < c; k++) sb_printf(b, "%s%g", k ? ", " : "", (double)std[k]);
        sb_printf(b, ")");
    }
    if (m->layout == GB_LAYOUT_NHWC) sb_printf(b, " -> NHWC");
    sb_printf(b, " (%d node%s inserted before the model's input)\n", m->nadapt, m->nadapt == 1 ? "" : "s");
}

gb_status gb_model_describe_onnx(const char *path, char **text, int *supported) {
    return gb_model_describe_onnx_opts(path, NULL, text, supported);
}

gb_status gb_model_describe_onnx_opts(const char *path, const gb_model_load_params *p, char **text,
                                      int *supported) {
    *text = NULL;
    if (supported) *supported = 0;
    gb_onnx_load_opts o = {NULL, 0, 1, NULL};
    gb_model *m0 = NULL, *m = NULL;
    GB_TRY(gb_model_load_onnx_ex(path, &o, &m0));
    sbuf b = {0};
    char sh[160], num[32];
    sb_printf(&b, "model:      %s\n", path);
    sb_printf(&b, "producer:   %s, opset %lld\n", m0->producer ? m0->producer : "(unknown)",
              (long long)m0->opset);
    sb_printf(&b, "%s", m0->io_desc ? m0->io_desc : "");

    /* Op histogram, in order of first appearance, and the unknown ops.
     * Distinct op types are few: a short list keeps this linear in nodes. */
    int nunk = 0, ntypes = 0;
    int *first = gb_malloc((size_t)(m0->nnodes ? m0->nnodes : 1) * sizeof *first);
    int *count = gb_calloc((size_t)(m0->nnodes ? m0->nnodes : 1), sizeof *count);
    if (!first || !count) b.failed = 1;
    for (int i = 0; !b.failed && i < m0->nnodes; i++) {
        int t = 0;
        while (t < ntypes && strcmp(m0->nodes[first[t]].op_type, m0->nodes[i].op_type) != 0) t++;
        if (t == ntypes) first[ntypes++] = i;
        count[t]++;
    }
    sb_printf(&b, "nodes:      %d\n", m0->nnodes);
    for (int t = 0; !b.failed && t < ntypes; t++) {
        const gb_node *n = &m0->nodes[first[t]];
        sb_printf(&b, "  %-24s %5d%s\n", n->op_type, count[t], n->op < 0 ? "   (not supported)" : "");
        nunk += n->op < 0;
    }
    int64_t nconst = 0;
    for (int i = 0; i < m0->nvals; i++)
        if (m0->vals[i].kind == GB_VAL_CONST) nconst += m0->vals[i].t.size;
    sb_printf(&b, "parameters: %lld in %d tensors (trainable), %lld constant values\n",
              (long long)gb_model_param_count(m0), gb_model_num_params(m0), (long long)nconst);

    if (nunk) {
        sb_printf(&b, "supported:  no: %d op type(s) gibbon lacks:", nunk);
        for (int t = 0; !b.failed && t < ntypes; t++) {
            const gb_node *n = &m0->nodes[first[t]];
            if (n->op < 0) sb_printf(&b, " %s (first at node '%s')", n->op_type, n->name);
        }
        sb_printf(&b, "\n");
    } else if (gb_model_load_onnx_opts(path, p, &m) != GB_OK) {
        sb_printf(&b, "supported:  no: %s\n", gb_last_error());
    } else {
        const gb_tensor *y = &m->vals[m->output].t;
        describe_adapter(&b, m);
        sb_printf(&b, "output:     %s %s for one image%s\n", m->vals[m->output].name,
                  gb_shape_str(y->ndim, y->shape, sh, sizeof sh),
                  m->out_kind == GB_OUTPUT_SOFTMAX_REMOVED ? " (logits: the model's final Softmax is removed)"
                  : m->out_kind == GB_OUTPUT_LOG_SOFTMAX   ? " (log-probabilities: the model ends in LogSoftmax)"
                                                           : "");
        sb_printf(&b, "classes:    %d\n", gb_model_num_classes(m));
        double flops = 0;
        for (int i = m->nadapt; i < m->nnodes; i++) flops += node_flops(m, &m->nodes[i]);
        sb_printf(&b, "FLOPs:      %sFLOP per image (forward; a multiply-add counts 2)\n",
                  si(flops, num, sizeof num));
        if (m->arch && *m->arch) sb_printf(&b, "arch:       %s\n", m->arch);
        sb_printf(&b, "supported:  yes (every op and attribute)\n");
        if (supported) *supported = 1;
    }
    gb_free(first);
    gb_free(count);
    gb_model_free(m);
    gb_model_free(m0);
    if (b.failed) {
        gb_free(b.s);
        return GB_ERR_NOMEM;
    }
    *text = b.s;
    return GB_OK;
}
