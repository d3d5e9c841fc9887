/* pipeline.c — gb_tf_pipeline: a distribution over physical transformations
 * parsed from "key=lo:hi,..." (Athalye et al. 2018's EOT distribution; the
 * keys follow the transformations of Kurakin et al. 2017, Sharif et al. 2016,
 * Brown et al. 2017 and Eykholt et al. 2018), sampling per example, and the
 * forward/backward of one sample per example in the fixed stage order of
 * gibbon.h. Examples are independent: the batch loop is parallel. */
#include "transforms/transforms.h"

#include <errno.h>
#include <math.h>

enum {
    K_ROTATE, K_SCALE, K_TRANSLATE, K_SHEAR, K_PERSPECTIVE, K_BRIGHTNESS, K_CONTRAST,
    K_EXPOSURE, K_CAST, K_GAMMA, K_BLUR, K_NOISE, K_PRINT, K_COUNT
};

static const struct {
    const char *name;
    float min, max; /* allowed values */
} keys[K_COUNT] = {
    {"rotate", -180, 180}, {"scale", 0.05f, 10}, {"translate", -1, 1},  {"shear", -2, 2},
    {"perspective", 0, 0.45f}, {"brightness", -1, 1}, {"contrast", 0, 10}, {"exposure", 0, 10},
    {"cast", 0, 10}, {"gamma", 0.05f, 20}, {"blur", 0, GB_BLUR_MAX_SIGMA}, {"noise", 0, 1},
    {"print", 0, 1},
};

struct gb_tf_pipeline {
    int set[K_COUNT];
    float lo[K_COUNT], hi[K_COUNT];
    char spec[640];
    /* Saved by forward for backward, and scratch: (N, D) each. */
    float *pre_gamma, *pre_clamp, *scratch, *grad;
    int64_t cap;
};

gb_tf_params gb_tf_identity(void) {
    gb_tf_params p;
    memset(&p, 0, sizeof p);
    gb_mat3_identity(p.warp);
    for (int k = 0; k < 3; k++) p.gain[k] = 1;
    p.gamma = 1;
    return p;
}

static int parse_num(const char *s, const char *end, float *v) {
    char buf[64];
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    double d = strtod(buf, &e);
    if (*e || errno || !isfinite(d)) return -1;
    *v = (float)d;
    return 0;
}

static void canonical(gb_tf_pipeline *p) {
    size_t len = 0;
    p->spec[0] = 0;
    for (int k = 0; k < K_COUNT; k++) {
        if (!p->set[k]) continue;
        len += (size_t)snprintf(p->spec + len, sizeof p->spec - len, "%s%s=%g:%g", len ? "," : "", keys[k].name,
                                (double)p->lo[k], (double)p->hi[k]);
        if (len >= sizeof p->spec) break;
    }
    if (!p->spec[0]) snprintf(p->spec, sizeof p->spec, "none");
}

gb_status gb_tf_pipeline_parse(const char *spec, gb_tf_pipeline **out) {
    *out = NULL;
    gb_tf_pipeline *p = gb_calloc(1, sizeof *p);
    if (!p) return GB_ERR_NOMEM;
    if (!spec || strcmp(spec, "none") == 0) spec = "";
    const char *s = spec;
    while (*s) {
        const char *end = strchr(s, ','), *eq = strchr(s, '=');
        if (!end) end = s + strlen(s);
        if (!eq || eq > end) {
            gb_tf_pipeline_free(p);
            return gb_error(GB_ERR_ARG, "transforms: '%.*s' is not key=value (keys: rotate scale translate "
                            "shear perspective brightness contrast exposure cast gamma blur noise print)",
                            (int)(end - s), s);
        }
        int k = 0;
        while (k < K_COUNT && !(strlen(keys[k].name) == (size_t)(eq - s) && strncmp(keys[k].name, s, (size_t)(eq - s)) == 0)) k++;
        if (k == K_COUNT) {
            gb_tf_pipeline_free(p);
            return gb_error(GB_ERR_ARG, "transforms: unknown key '%.*s' (keys: rotate scale translate shear "
                            "perspective brightness contrast exposure cast gamma blur noise print)", (int)(eq - s), s);
        }
        const char *colon = memchr(eq + 1, ':', (size_t)(end - eq - 1));
        float lo, hi;
        int bad = colon ? parse_num(eq + 1, colon, &lo) || parse_num(colon + 1, end, &hi)
                        : parse_num(eq + 1, end, &lo);
        if (!colon) hi = lo;
        if (!bad && !colon && k == K_PERSPECTIVE) lo = 0; /* "perspective=D": corners move up to D */
        if (bad || lo > hi || lo < keys[k].min || hi > keys[k].max) {
            gb_tf_pipeline_free(p);
            return gb_error(GB_ERR_ARG, "transforms: %s=%.*s: %s (allowed %g to %g)", keys[k].name,
                            (int)(end - eq - 1), eq + 1, bad ? "not a number or lo:hi" : lo > hi ? "lo > hi" : "out of range",
                            (double)keys[k].min, (double)keys[k].max);
        }
        p->set[k] = 1;
        p->lo[k] = lo;
        p->hi[k] = hi;
        s = *end ? end + 1 : end;
    }
    /* Print-and-photo: the printer's gamut plus the camera's blur, noise and exposure, unless given. */
    if (p->set[K_PRINT] && p->hi[K_PRINT] > 0) {
        static const int dk[3] = {K_BLUR, K_NOISE, K_EXPOSURE};
        static const float dlo[3] = {0.3f, 0.005f, 0.85f}, dhi[3] = {1.0f, 0.02f, 1.15f};
        for (int i = 0; i < 3; i++)
            if (!p->set[dk[i]]) p->set[dk[i]] = 1, p->lo[dk[i]] = dlo[i], p->hi[dk[i]] = dhi[i];
    }
    canonical(p);
    *out = p;
    return GB_OK;
}

void gb_tf_pipeline_free(gb_tf_pipeline *p) {
    if (!p) return;
    gb_free(p->pre_gamma);
    gb_free(p->pre_clamp);
    gb_free(p->scratch);
    gb_free(p->grad);
    gb_free(p);
}

const char *gb_tf_pipeline_spec(const gb_tf_pipeline *p) { return p->spec; }

static float draw(const gb_tf_pipeline *p, int k, float dflt, gb_rng *rng) {
    if (!p->set[k]) return dflt;
    return p->lo[k] + (p->hi[k] - p->lo[k]) * gb_rng_uniform(rng);
}

/* The forward geometric map (input -> output) about the image centre:
 * T(c + t) R Shear S T(-c), then a perspective that moves each corner. */
static void sample_warp(const gb_tf_pipeline *p, int h, int w, gb_rng *rng, float hinv[9]) {
    float th = draw(p, K_ROTATE, 0, rng) * 3.14159265f / 180.0f, s = draw(p, K_SCALE, 1, rng);
    float tx = draw(p, K_TRANSLATE, 0, rng) * w, ty = draw(p, K_TRANSLATE, 0, rng) * h;
    float sh = draw(p, K_SHEAR, 0, rng), cx = 0.5f * w, cy = 0.5f * h, co = cosf(th), si = sinf(th);
    /* R * Shear * S = [co -si; si co] [1 sh; 0 1] s */
    float a = s * co, b = s * (co * sh - si), c = s * si, d = s * (si * sh + co);
    float F[9] = {a, b, cx + tx - a * cx - b * cy, c, d, cy + ty - c * cx - d * cy, 0, 0, 1};
    if (p->set[K_PERSPECTIVE] && p->hi[K_PERSPECTIVE] > 0) {
        float src[8] = {0, 0, (float)w, 0, (float)w, (float)h, 0, (float)h}, dst[8], P[9];
        float D = p->hi[K_PERSPECTIVE];
        for (int k = 0; k < 8; k++) dst[k] = src[k] + D * (k & 1 ? h : w) * (2 * gb_rng_uniform(rng) - 1);
        if (gb_mat3_from_corners(src, dst, P)) gb_mat3_mul(P, F, F);
    }
    if (!gb_mat3_inverse(F, hinv)) gb_mat3_identity(hinv);
}

void gb_tf_pipeline_sample(const gb_tf_pipeline *p, int64_t n, int h, int w, gb_rng *rng,
                           gb_tf_params *out) {
    for (int64_t i = 0; i < n; i++) {
        gb_tf_params q = gb_tf_identity();
        sample_warp(p, h, w, rng, q.warp);
        q.gamut = draw(p, K_PRINT, 0, rng);
        float con = draw(p, K_CONTRAST, 1, rng), bri = draw(p, K_BRIGHTNESS, 0, rng);
        float expo = draw(p, K_EXPOSURE, 1, rng);
        for (int k = 0; k < 3; k++) {
            /* cast_k * exposure * ((x - 0.5) * contrast + 0.5 + brightness) */
            float cast = draw(p, K_CAST, 1, rng);
            q.gain[k] = cast * expo * con;
            q.bias[k] = cast * expo * (0.5f - 0.5f * con + bri);
        }
        q.gamma = draw(p, K_GAMMA, 1, rng);
        q.blur = draw(p, K_BLUR, 0, rng);
        q.noise = draw(p, K_NOISE, 0, rng);
        q.noise_seed = ((uint64_t)gb_rng_u32(rng) << 32) | gb_rng_u32(rng);
        out[i] = q;
    }
}

static int is_identity(const float m[9]) {
    float id[9];
    gb_mat3_identity(id);
    return memcmp(m, id, sizeof id) == 0;
}

static int gain_is_identity(const gb_tf_params *q) {
    for (int k = 0; k < 3; k++)
        if (q->gain[k] != 1 || q->bias[k] != 0) return 0;
    return 1;
}

static gb_status check_params(const gb_tf_params *q, int64_t N, int C) {
    if (C != 1 && C != 3) return gb_error(GB_ERR_SHAPE, "transforms: images must have 1 or 3 channels, not %d", C);
    for (int64_t n = 0; n < N; n++)
        if (!(q[n].blur >= 0 && q[n].blur <= GB_BLUR_MAX_SIGMA) || !(q[n].gamma > 0) || !(q[n].noise >= 0) ||
            !(q[n].gamut >= 0 && q[n].gamut <= 1))
            return gb_error(GB_ERR_ARG, "transforms: example %lld: blur, gamma, noise or gamut out of range",
                            (long long)n);
    return GB_OK;
}

static gb_status reserve(gb_tf_pipeline *p, int64_t size) {
    if (size <= p->cap) return GB_OK;
    float **bufs[4] = {&p->pre_gamma, &p->pre_clamp, &p->scratch, &p->grad};
    for (int i = 0; i < 4; i++) {
        gb_free(*bufs[i]);
        *bufs[i] = gb_malloc((size_t)size * sizeof(float));
    }
    if (!p->pre_gamma || !p->pre_clamp || !p->scratch || !p->grad) {
        p->cap = 0;
        return GB_ERR_NOMEM;
    }
    p->cap = size;
    return GB_OK;
}

gb_status gb_tf_pipeline_forward(gb_tf_pipeline *p, const gb_tf_params *params,
                                 const gb_tensor *x, gb_tensor *y) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "transforms: images must be (N, C, H, W)");
    if (y == x) return gb_error(GB_ERR_ARG, "transforms: forward cannot run in place");
    const int64_t N = x->shape[0];
    const int C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    const int64_t hw = (int64_t)H * W, D = C * hw;
    GB_TRY(check_params(params, N, C));
    if (!gb_tensor_same_shape(y, x)) GB_TRY(gb_tensor_resize(y, 4, x->shape));
    GB_TRY(reserve(p, x->size));
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const gb_tf_params *q = params + n;
        const float *xn = x->data + n * D;
        float *yn = y->data + n * D;
        if (is_identity(q->warp)) memcpy(yn, xn, (size_t)D * sizeof *yn);
        else gb_warp_forward(yn, H, W, xn, H, W, C, q->warp);
        if (q->gamut > 0) gb_gamut_forward(yn, C, hw, q->gamut);
        if (!gain_is_identity(q)) gb_gain_forward(yn, C, hw, q->gain, q->bias);
        if (q->gamma != 1) {
            memcpy(p->pre_gamma + n * D, yn, (size_t)D * sizeof *yn);
            gb_gamma_forward(yn, D, q->gamma);
        }
        if (q->blur > 0) gb_blur_forward(yn, C, H, W, q->blur, p->scratch + n * D);
        if (q->noise > 0) gb_noise_forward(yn, D, q->noise, q->noise_seed);
        memcpy(p->pre_clamp + n * D, yn, (size_t)D * sizeof *yn);
        gb_clamp01_forward(yn, D);
    }
    return GB_OK;
}

gb_status gb_tf_pipeline_backward(gb_tf_pipeline *p, const gb_tf_params *params,
                                  const gb_tensor *dy, gb_tensor *dx) {
    if (dy->ndim != 4 || !gb_tensor_same_shape(dy, dx))
        return gb_error(GB_ERR_SHAPE, "transforms backward: dy and dx must both be (N, C, H, W)");
    if (dy->size > p->cap) return gb_error(GB_ERR_ARG, "transforms backward: no matching forward");
    const int64_t N = dy->shape[0];
    const int C = (int)dy->shape[1], H = (int)dy->shape[2], W = (int)dy->shape[3];
    const int64_t hw = (int64_t)H * W, D = C * hw;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const gb_tf_params *q = params + n;
        float *g = p->grad + n * D;
        memcpy(g, dy->data + n * D, (size_t)D * sizeof *g);
        gb_clamp01_backward(g, p->pre_clamp + n * D, D);
        if (q->blur > 0) gb_blur_backward(g, C, H, W, q->blur, p->scratch + n * D);
        if (q->gamma != 1) gb_gamma_backward(g, p->pre_gamma + n * D, D, q->gamma);
        if (!gain_is_identity(q)) gb_gain_backward(g, C, hw, q->gain);
        if (q->gamut > 0) gb_gamut_backward(g, C, hw, q->gamut);
        float *dxn = dx->data + n * D;
        if (is_identity(q->warp))
            for (int64_t i = 0; i < D; i++) dxn[i] += g[i];
        else gb_warp_backward(dxn, H, W, g, H, W, C, q->warp);
    }
    return GB_OK;
}
