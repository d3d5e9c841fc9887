/* norm.c — InstanceNormalization (Ulyanov et al. 2016) and LRN (Krizhevsky
 * et al. 2012, section 3.3), ONNX opset 6/13 semantics.
 *
 * InstanceNormalization, per (n, c) plane of P elements:
 *   xhat = (x - mean) / sqrt(var + eps),  y = scale_c xhat + B_c   (biased var)
 *   dxhat = dy scale_c
 *   dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sqrt(var + eps)
 *   dscale_c = sum dy xhat,  dB_c = sum dy
 * Statistics are recomputed in backward (two cheap passes) rather than kept.
 *
 * LRN across channels, window [c - floor((size-1)/2), c + ceil((size-1)/2)]:
 *   s_c = bias + alpha/size sum_{c' in win(c)} x_c'^2,  y_c = x_c s_c^-beta
 *   dx_j = dy_j s_j^-beta - 2 alpha beta/size x_j sum_{c: j in win(c)} dy_c x_c s_c^(-beta-1)
 * s is kept in scratch between forward and backward.
 */
#include "ops/norm.h"

#include <math.h>

/* ---- InstanceNormalization ---- */

static gb_status in_init(gb_node *n) { return gb_attr_float(n, "epsilon", 1e-5f, &n->p.epsilon); }

static gb_status in_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    if (x->ndim < 3) return gb_error(GB_ERR_SHAPE, "input must be (N, C, D1, ...)");
    for (int k = 1; k < 3; k++)
        if (!in[k] || in[k]->t.size != x->shape[1])
            return gb_error(GB_ERR_SHAPE, "scale and B must have one value per channel (%lld)",
                            (long long)x->shape[1]);
    (void)n;
    return gb_tensor_resize(out[0], x->ndim, x->shape);
}

/* Mean and 1/sqrt(var + eps) of one plane. */
void gb_norm_stats(const float *x, int64_t P, float eps, float *mean, float *inv) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < P; i++) s += x[i];
    double m = P ? s / (double)P : 0;
    for (int64_t i = 0; i < P; i++) q += (x[i] - m) * (x[i] - m);
    *mean = (float)m;
    *inv = (float)(1.0 / sqrt((P ? q / (double)P : 0) + eps));
}

static void in_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                       const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    int64_t C = x->shape[1], planes = x->shape[0] * C, P = planes ? x->size / planes : 0;
    const float *sc = in[1]->data, *b = in[2]->data;
#pragma omp parallel for schedule(static) if (x->size > 65536)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * P;
        float *yp = out[0]->data + pl * P, mean, inv;
        gb_norm_stats(xp, P, n->p.epsilon, &mean, &inv);
        float a = sc[pl % C] * inv, c = b[pl % C] - mean * a;
        for (int64_t i = 0; i < P; i++) yp[i] = xp[i] * a + c;
    }
}

static void in_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    const gb_tensor *x = in[0];
    int64_t C = x->shape[1], planes = x->shape[0] * C, P = planes ? x->size / planes : 0;
    const float *sc = in[1]->data;
    /* Serial over planes: dscale/dB of one channel gather from every image. */
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * P, *dy = dout[0]->data + pl * P;
        float mean, inv;
        gb_norm_stats(xp, P, n->p.epsilon, &mean, &inv);
        double sdy = 0, sdyx = 0;
        for (int64_t i = 0; i < P; i++) {
            sdy += dy[i];
            sdyx += dy[i] * (xp[i] - mean) * inv;
        }
        int64_t c = pl % C;
        if (din[1]) din[1]->data[c] += (float)sdyx;
        if (din[2]) din[2]->data[c] += (float)sdy;
        if (din[0] && P) {
            float *dx = din[0]->data + pl * P;
            float g = sc[c], m1 = (float)(sdy / (double)P), m2 = (float)(sdyx / (double)P);
            for (int64_t i = 0; i < P; i++) {
                float xhat = (xp[i] - mean) * inv;
                dx[i] += g * inv * (dy[i] - m1 - xhat * m2);
            }
        }
    }
}

const gb_op_def gb_opdef_INSTANCE_NORM = {"InstanceNormalization", 3, 3, 1, in_init, in_infer,
                                          in_forward, in_backward};

/* ---- LRN ---- */

static gb_status lrn_init(gb_node *n) {
    int64_t size;
    GB_TRY(gb_attr_int(n, "size", 0, &size));
    if (size < 1)
        return gb_error(GB_ERR_FORMAT, "node '%s' (LRN): size must be a positive int", n->name);
    n->p.kernel[0] = size;
    GB_TRY(gb_attr_float(n, "alpha", 1e-4f, &n->p.alpha));
    GB_TRY(gb_attr_float(n, "beta", 0.75f, &n->p.beta));
    return gb_attr_float(n, "bias", 1.0f, &n->p.epsilon);
}

static gb_status lrn_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    if (x->ndim < 3) return gb_error(GB_ERR_SHAPE, "input must be (N, C, D1, ...)");
    n->scratch_need[0] = x->size;
    return gb_tensor_resize(out[0], x->ndim, x->shape);
}

/* x as (N, C, P); the window of channel c is [c - lo, c + hi]. */
static void lrn_dims(const gb_node *n, const gb_tensor *x, int64_t *N, int64_t *C, int64_t *P,
                     int64_t *lo, int64_t *hi) {
    *N = x->shape[0];
    *C = x->shape[1];
    *P = *N && *C ? x->size / (*N * *C) : 0;
    *lo = (n->p.kernel[0] - 1) / 2;
    *hi = n->p.kernel[0] - 1 - *lo;
}

static void lrn_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)ex;
    int64_t N, C, P, lo, hi;
    lrn_dims(n, in[0], &N, &C, &P, &lo, &hi);
    const float k = n->p.alpha / (float)n->p.kernel[0];
    float *s = n->scratch[0].data;
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < P; i++) {
                float acc = 0;
                for (int64_t j = GB_MAX(c - lo, 0); j <= GB_MIN(c + hi, C - 1); j++) {
                    float v = in[0]->data[(b * C + j) * P + i];
                    acc += v * v;
                }
                int64_t o = (b * C + c) * P + i;
                s[o] = n->p.epsilon + k * acc;
                out[0]->data[o] = in[0]->data[o] * powf(s[o], -n->p.beta);
            }
}

static void lrn_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                         gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0]) return;
    int64_t N, C, P, lo, hi;
    lrn_dims(n, in[0], &N, &C, &P, &lo, &hi);
    const float *x = in[0]->data, *dy = dout[0]->data, *s = n->scratch[0].data, beta = n->p.beta;
    const float k = 2 * n->p.alpha * beta / (float)n->p.kernel[0];
    float *dx = din[0]->data;
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < C; j++)
            for (int64_t i = 0; i < P; i++) {
                int64_t o = (b * C + j) * P + i;
                /* Channels c whose window holds j: c - lo <= j <= c + hi. */
                float acc = 0;
                for (int64_t c = GB_MAX(j - hi, 0); c <= GB_MIN(j + lo, C - 1); c++) {
                    int64_t q = (b * C + c) * P + i;
                    acc += dy[q] * x[q] * powf(s[q], -beta - 1);
                }
                dx[o] += dy[o] * powf(s[o], -beta) - k * x[o] * acc;
            }
}

const gb_op_def gb_opdef_LRN = {"LRN", 1, 1, 1, lrn_init, lrn_infer, lrn_forward, lrn_backward};
