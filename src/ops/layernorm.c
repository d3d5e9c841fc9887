/* layernorm.c — LayerNormalization (Ba et al. 2016; ONNX opset 17), the
 * normalisation of transformers, which torch exports from opset 17 on.
 *
 * X is seen as (M, D) with D = prod shape[axis:]; per row:
 *   mean, inv = 1/sqrt(var + eps) (biased var),  xhat = (x - mean) inv
 *   Y = xhat * Scale + B   (Scale, B: D values, one per normalised element)
 *   Mean, InvStdDev: optional outputs, X's shape with dims >= axis set to 1.
 * Backward, per row:
 *   dxhat = dY Scale
 *   dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
 *        + dMean / D - dInvStdDev inv^2 xhat / D
 *   dScale += dY xhat,  dB += dY
 * Statistics are accumulated in double (ops/norm.h), recomputed in backward.
 */
#include "ops/norm.h"
#include "ops/index.h"

#include <math.h>

static gb_status ln_init(gb_node *n) {
    GB_TRY(gb_attr_int(n, "axis", -1, &n->p.axis));
    return gb_attr_float(n, "epsilon", 1e-5f, &n->p.epsilon);
}

/* Rows and row length for x under the node's axis (p.nax holds the axis). */
static void ln_dims(const gb_node *n, const gb_tensor *x, int64_t *M, int64_t *D) {
    *D = 1;
    for (int d = n->p.nax; d < x->ndim; d++) *D *= x->shape[d];
    *M = *D ? x->size / *D : 0;
}

static gb_status ln_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int a = idx_axis(n->p.axis, x->ndim);
    if (a < 0)
        return gb_error(GB_ERR_SHAPE, "axis %lld is outside [-%d, %d)", (long long)n->p.axis, x->ndim, x->ndim);
    n->p.nax = a;
    int64_t M, D, ss[GB_MAX_DIMS];
    ln_dims(n, x, &M, &D);
    for (int k = 1; k < 3; k++)
        if (k < n->nin && in[k] && in[k]->t.size != D)
            return gb_error(GB_ERR_UNSUPPORTED, "%s has %lld values; gibbon needs one per normalised element (%lld)",
                            k == 1 ? "Scale" : "B", (long long)in[k]->t.size, (long long)D);
    if (!in[1]) return gb_error(GB_ERR_FORMAT, "LayerNormalization needs a Scale input");
    GB_TRY(gb_tensor_resize(out[0], x->ndim, x->shape));
    for (int d = 0; d < x->ndim; d++) ss[d] = d < a ? x->shape[d] : 1;
    for (int k = 1; k < n->nout; k++)
        if (out[k]) GB_TRY(gb_tensor_resize(out[k], x->ndim, ss));
    return GB_OK;
}

static void ln_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                       const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    const float *sc = in[1]->data, *b = n->nin > 2 && in[2] ? in[2]->data : NULL;
    gb_tensor *tm = n->nout > 1 ? out[1] : NULL, *ti = n->nout > 2 ? out[2] : NULL;
    int64_t M, D;
    ln_dims(n, x, &M, &D);
#pragma omp parallel for schedule(static) if (x->size > 65536)
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x->data + r * D; // (D)
        float *yr = out[0]->data + r * D;  // (D)
        float mean, inv;
        gb_norm_stats(xr, D, n->p.epsilon, &mean, &inv);
        for (int64_t i = 0; i < D; i++) yr[i] = (xr[i] - mean) * inv * sc[i] + (b ? b[i] : 0.0f);
        if (tm) tm->data[r] = mean;
        if (ti) ti->data[r] = inv;
    }
}

/* dout[k] usable: the output exists and its gradient buffer is sized. */
static const float *ln_grad(const gb_node *n, const gb_tensor *const *out,
                            const gb_tensor *const *dout, int k) {
    if (k >= n->nout || !out[k] || !dout[k] || dout[k]->size != out[k]->size) return NULL;
    return dout[k]->data;
}

static void ln_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    const float *sc = in[1]->data, *dmean = ln_grad(n, out, dout, 1), *dinv = ln_grad(n, out, dout, 2);
    gb_tensor *dsc = din[1], *db = n->nin > 2 ? din[2] : NULL;
    int64_t M, D;
    ln_dims(n, x, &M, &D);
    /* Serial over rows: dScale and dB gather from every row. */
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x->data + r * D, *dy = dout[0]->data + r * D;
        float mean, inv;
        gb_norm_stats(xr, D, n->p.epsilon, &mean, &inv);
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < D; i++) {
            float xhat = (xr[i] - mean) * inv, g = dy[i] * sc[i];
            s1 += g;
            s2 += g * xhat;
            if (dsc) dsc->data[i] += dy[i] * xhat;
            if (db) db->data[i] += dy[i];
        }
        if (!din[0]) continue;
        float *dx = din[0]->data + r * D;
        float m1 = (float)(s1 / (double)D), m2 = (float)(s2 / (double)D);
        float gm = dmean ? dmean[r] / (float)D : 0, gi = dinv ? dinv[r] * inv * inv / (float)D : 0;
        for (int64_t i = 0; i < D; i++) {
            float xhat = (xr[i] - mean) * inv;
            dx[i] += inv * (dy[i] * sc[i] - m1 - xhat * m2) + gm - gi * xhat;
        }
    }
}

const gb_op_def gb_opdef_LAYER_NORM = {"LayerNormalization", 2, 3, 3, ln_init, ln_infer,
                                       ln_forward, ln_backward};
