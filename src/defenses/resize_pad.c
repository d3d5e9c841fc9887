/* resize_pad.c — random resizing and padding (Xie et al. 2018, "Mitigating
 * adversarial effects through randomization", sec. 3) as a graph op
 * (GibbonResizePad, attribute ratio): every forward draws, per image, a scale
 * s uniform in [ratio, 1], resizes the image bilinearly (half-pixel centres,
 * as ONNX Resize / PyTorch align_corners=False) to round(sH) x round(sW) and
 * pastes it at a uniformly random position into a zero H x W canvas, so the
 * model keeps its input shape. The draws come from the model's rng: the
 * output is random per forward, in inference mode too.
 *
 * For one draw the map is linear, and backward is its exact derivative (the
 * bilinear weights scattered back, zero padding contributing nothing); the
 * draws of the last forward stay in scratch. Attacking the expectation over
 * draws is EOT (Athalye et al. 2018, sec. 4.2): gb_attack.eot_samples. */
#include "attacks/attacks.h"
#include "defenses.h"

#include <math.h>

gb_rp_draw gb_resize_pad_draw(gb_rng *r, float ratio, int64_t H, int64_t W) {
    gb_rp_draw d;
    float s = ratio + (1.0f - ratio) * gb_rng_uniform(r);
    d.rh = GB_MAX(1, GB_MIN(H, (int64_t)lroundf(s * (float)H)));
    d.rw = GB_MAX(1, GB_MIN(W, (int64_t)lroundf(s * (float)W)));
    d.top = gb_rng_below(r, (uint32_t)(H - d.rh + 1));
    d.left = gb_rng_below(r, (uint32_t)(W - d.rw + 1));
    return d;
}

/* The resize and paste is the transform of the diverse-inputs attack
 * (src/attacks/diversity.c, the same bilinear half-pixel convention): one
 * implementation serves both. */
void gb_resize_pad_plane(float *y, const float *x, int64_t H, int64_t W, gb_rp_draw d) {
    gb_di_resize_pad_forward(x, 1, H, W, d.rh, d.rw, d.top, d.left, y);
}

void gb_resize_pad_plane_backward(float *dx, const float *dy, int64_t H, int64_t W, gb_rp_draw d) {
    gb_di_resize_pad_backward(dy, 1, H, W, d.rh, d.rw, d.top, d.left, dx);
}

static gb_status rp_init(gb_node *n) {
    GB_TRY(gb_attr_float(n, "ratio", 0.9f, &n->p.ratio));
    if (!(n->p.ratio > 0 && n->p.ratio <= 1))
        return gb_error(GB_ERR_ARG, "node '%s' (%s): ratio %g outside (0, 1]", n->name, n->op_type,
                        (double)n->p.ratio);
    return GB_OK;
}

static gb_status rp_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    if (x->ndim != 4)
        return gb_error(GB_ERR_SHAPE, "node '%s' (%s): needs images (N, C, H, W), got rank %d", n->name,
                        n->op_type, x->ndim);
    if (x->shape[2] >= (1 << 24) || x->shape[3] >= (1 << 24))
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): images of 2^24 pixels or more", n->name,
                        n->op_type);
    n->scratch_need[0] = GB_MAX(4 * x->shape[0], 1); /* the draws of the last forward */
    return gb_tensor_resize(out[0], x->ndim, x->shape);
}

static gb_rp_draw load_draw(const float *s) {
    return (gb_rp_draw){(int64_t)s[0], (int64_t)s[1], (int64_t)s[2], (int64_t)s[3]};
}

static void rp_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out, const gb_exec *ex) {
    const gb_tensor *x = in[0];
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], P = H * W;
    float *draws = n->scratch[0].data;
    for (int64_t b = 0; b < N; b++) { /* drawn in order: the same bits for any thread count */
        gb_rp_draw d = gb_resize_pad_draw(ex->rng, n->p.ratio, H, W);
        float *s = draws + 4 * b;
        s[0] = (float)d.rh, s[1] = (float)d.rw, s[2] = (float)d.top, s[3] = (float)d.left;
    }
#pragma omp parallel for schedule(static) if (N * C > 16)
    for (int64_t p = 0; p < N * C; p++)
        gb_resize_pad_plane(out[0]->data + p * P, x->data + p * P, H, W, load_draw(draws + 4 * (p / C)));
}

static void rp_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0]) return;
    const gb_tensor *x = in[0];
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], P = H * W;
    const float *draws = n->scratch[0].data;
#pragma omp parallel for schedule(static) if (N * C > 16)
    for (int64_t p = 0; p < N * C; p++)
        gb_resize_pad_plane_backward(din[0]->data + p * P, dout[0]->data + p * P, H, W,
                                     load_draw(draws + 4 * (p / C)));
}

const gb_op_def gb_opdef_DEF_RESIZE_PAD = {"GibbonResizePad", 1, 1, 1, rp_init, rp_infer, rp_forward,
                                           rp_backward};
