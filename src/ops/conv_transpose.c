/* conv_transpose.c — ONNX ConvTranspose (opset 11 semantics), 2-D on NCHW:
 * the gradient of a convolution with respect to its input, used as a
 * learned upsampling. x (N, C, H, W), W (C, M/group, kH, kW), B (M).
 *
 * Output size per spatial axis (ONNX spec):
 *   out = stride (in - 1) + output_padding + dilation (k - 1) + 1 - pad_begin - pad_end
 * or given by output_shape, with the total padding split begin/end (the
 * extra one at the start unless auto_pad = SAME_UPPER; a larger output_shape
 * adds rows and columns at the end that only receive the bias).
 *
 * Per image and group, as GEMM + col2im (the transpose of Conv's im2col):
 *   cols (M/g kH kW, H W) = W_g^T (M/g kH kW, C/g) x_g (C/g, H W)
 *   y[m, h s - pt + i d, w s - pl + j d] += cols[(m, i, j), (h, w)]
 * Backward runs the convolution it is the transpose of:
 *   dcols = im2col(dy),  dx_g += W_g dcols,  dW_g += x_g dcols^T,  dB = sum dy
 */
#include "internal.h"
#include "ops/window.h"

typedef struct ct_geom {
    int64_t N, C, H, W, M, OH, OW, G, Cg, Mg, kh, kw, sh, sw, dh, dw, pt, pl;
} ct_geom;

static gb_status ct_init(gb_node *n) {
    GB_TRY(win_parse(n));
    GB_TRY(gb_attr_int(n, "group", 1, &n->p.group));
    if (n->p.group < 1)
        return gb_error(GB_ERR_FORMAT, "node '%s' (ConvTranspose): group must be positive", n->name);
    int found;
    n->p.ax[0] = n->p.ax[1] = 0;
    GB_TRY(win_ints(n, "output_padding", 2, 0, n->p.ax, &found));
    n->p.nax = 0;
    GB_TRY(win_ints(n, "output_shape", 2, 1, n->p.ax + 2, &n->p.nax));
    return GB_OK;
}

static gb_status ct_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0] || !in[1]) return gb_error(GB_ERR_FORMAT, "required input X or W is missing");
    const gb_tensor *x = &in[0]->t, *w = &in[1]->t;
    gb_op_params *p = &n->p;
    char xs[128], ws[128];
    gb_shape_str(x->ndim, x->shape, xs, sizeof xs);
    gb_shape_str(w->ndim, w->shape, ws, sizeof ws);
    if (x->ndim != 4 || w->ndim != 4)
        return gb_error(GB_ERR_UNSUPPORTED, "only 2-D ConvTranspose is supported; input %s, weight %s",
                        xs, ws);
    int64_t C = x->shape[1], G = p->group;
    if (w->shape[0] != C || C % G)
        return gb_error(GB_ERR_SHAPE, "weight %s does not fit input %s in %lld group(s)", ws, xs,
                        (long long)G);
    int64_t M = w->shape[1] * G;
    if (n->nin > 2 && in[2] && in[2]->t.size != M)
        return gb_error(GB_ERR_SHAPE, "bias must have %lld values", (long long)M);
    win_auto_pad mode;
    GB_TRY(win_auto_pad_mode(n, &mode));
    int64_t os[2];
    for (int a = 0; a < 2; a++) {
        int64_t k = w->shape[2 + a], s = p->stride[a], d = p->dilation[a], in_d = x->shape[2 + a];
        int64_t full = s * (in_d - 1) + p->ax[a] + d * (k - 1) + 1;
        if (p->nax || mode == WIN_SAME_UPPER || mode == WIN_SAME_LOWER) {
            int64_t want = p->nax ? p->ax[2 + a] : in_d * s;
            int64_t total = full - want, half = total / 2;
            p->pads[a] = total < 0 ? 0 : mode == WIN_SAME_UPPER ? half : total - half;
            p->pads[a + 2] = total - p->pads[a]; /* negative: extra rows at the end */
        }
        os[a] = full - p->pads[a] - p->pads[a + 2];
        if (os[a] < 1) return gb_error(GB_ERR_SHAPE, "pads leave no output for input %s", xs);
    }
    int64_t ys[4] = {x->shape[0], M, os[0], os[1]};
    GB_TRY(gb_tensor_resize(out[0], 4, ys));
    n->scratch_need[0] = (M / G) * w->shape[2] * w->shape[3] * x->shape[2] * x->shape[3];
    return GB_OK;
}

static ct_geom ct_geometry(const gb_node *n, const gb_tensor *x, const gb_tensor *w,
                           const gb_tensor *y) {
    const gb_op_params *p = &n->p;
    ct_geom g = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], y->shape[1], y->shape[2],
                 y->shape[3], p->group, 0, 0, w->shape[2], w->shape[3], p->stride[0], p->stride[1],
                 p->dilation[0], p->dilation[1], p->pads[0], p->pads[1]};
    g.Cg = g.C / g.G;
    g.Mg = g.M / g.G;
    return g;
}

/* Adds cols (Mg kh kw, H W) into y (Mg, OH, OW) — or, with gather set,
 * fills cols from y (im2col of the output gradient). */
static void ct_col2im(const ct_geom *g, float *cols, float *y, int gather) {
    int64_t HW = g->H * g->W;
    for (int64_t m = 0; m < g->Mg; m++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *c = cols + ((m * g->kh + i) * g->kw + j) * HW;
                float *ym = y + m * g->OH * g->OW;
                for (int64_t h = 0; h < g->H; h++) {
                    int64_t oy = h * g->sh - g->pt + i * g->dh;
                    int ok_y = oy >= 0 && oy < g->OH;
                    for (int64_t w = 0; w < g->W; w++) {
                        int64_t ox = w * g->sw - g->pl + j * g->dw;
                        int ok = ok_y && ox >= 0 && ox < g->OW;
                        if (gather) c[h * g->W + w] = ok ? ym[oy * g->OW + ox] : 0;
                        else if (ok) ym[oy * g->OW + ox] += c[h * g->W + w];
                    }
                }
            }
}

static void ct_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                       const gb_exec *ex) {
    (void)ex;
    ct_geom g = ct_geometry(n, in[0], in[1], out[0]);
    const float *b = n->nin > 2 && in[2] ? in[2]->data : NULL;
    float *cols = n->scratch[0].data, *y = out[0]->data;
    int64_t HW = g.H * g.W, P = g.OH * g.OW, K = g.Mg * g.kh * g.kw;
    for (int64_t i = 0; i < g.N * g.M; i++) {
        float v = b ? b[i % g.M] : 0;
        for (int64_t q = 0; q < P; q++) y[i * P + q] = v;
    }
    for (int64_t i = 0; i < g.N; i++)
        for (int64_t gr = 0; gr < g.G; gr++) {
            const float *xg = in[0]->data + (i * g.C + gr * g.Cg) * HW;
            const float *wg = in[1]->data + gr * g.Cg * K;
            gb_sgemm(1, 0, K, HW, g.Cg, 1.0f, wg, K, xg, HW, 0.0f, cols, HW);
            ct_col2im(&g, cols, y + (i * g.M + gr * g.Mg) * P, 0);
        }
}

static void ct_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    ct_geom g = ct_geometry(n, in[0], in[1], out[0]);
    float *dcols = n->scratch[0].data, *dy = dout[0]->data;
    int64_t HW = g.H * g.W, P = g.OH * g.OW, K = g.Mg * g.kh * g.kw;
    if (n->nin > 2 && din[2])
        for (int64_t i = 0; i < g.N * g.M; i++) {
            double s = 0;
            for (int64_t q = 0; q < P; q++) s += dy[i * P + q];
            din[2]->data[i % g.M] += (float)s;
        }
    if (!din[0] && !din[1]) return;
    for (int64_t i = 0; i < g.N; i++)
        for (int64_t gr = 0; gr < g.G; gr++) {
            ct_col2im(&g, dcols, dy + (i * g.M + gr * g.Mg) * P, 1);
            const float *xg = in[0]->data + (i * g.C + gr * g.Cg) * HW;
            const float *wg = in[1]->data + gr * g.Cg * K;
            if (din[0])
                gb_sgemm(0, 0, g.Cg, HW, K, 1.0f, wg, K, dcols, HW, 1.0f,
                         din[0]->data + (i * g.C + gr * g.Cg) * HW, HW);
            if (din[1])
                gb_sgemm(0, 1, g.Cg, K, HW, 1.0f, xg, HW, dcols, HW, 1.0f,
                         din[1]->data + gr * g.Cg * K, K);
        }
}

const gb_op_def gb_opdef_CONV_TRANSPOSE = {"ConvTranspose", 2, 3, 1, ct_init, ct_infer, ct_forward,
                                           ct_backward};
