/* patch.c — the adversarial patch (Brown et al. 2017): one image-independent
 * patch p maximizing E_{x, l, t}[log P(target | T(A(p, x, l, t)))] over
 * images x, placements l (location, scale, rotation) and transformations t
 * (sec. 2, eq. 2), by Adam or signed steps on p's pixels, kept in [0,1] and,
 * disguised, within eps of a starting image in L-inf (sec. 2, last
 * paragraph). The paste is a bilinear warp, so the gradient reaches every
 * patch pixel that lands in the image. Placements are anywhere in the image,
 * as in the paper, or on the object (a sticker on the sign: on the signs
 * most of the image is clutter the classifier ignores). */
#include "attacks/physical.h"

#include <math.h>

gb_patch_params gb_patch_default_params(void) {
    gb_patch_params p;
    memset(&p, 0, sizeof p);
    p.area = 0.1f;
    p.jitter = 0.2f;
    p.max_rot = 22.5f;
    p.steps = 300;
    p.batch = 32;
    p.eot = 1;
    p.lr = 0.05f;
    p.loss = GB_LOSS_CE;
    p.kappa = 5;
    p.seed = 1;
    return p;
}

int gb_patch_side(float area, int h, int w) {
    int P = (int)lroundf(sqrtf(area * (float)h * (float)w));
    return P < 2 ? 2 : P;
}

void gb_patch_mask(const gb_patch_params *p, int P, float *mask) {
    /* Both built-in names always succeed for P >= 1. */
    gb_status s = gb_mask_make(p->circle ? "circle" : "square", P, P, mask);
    GB_ASSERT(s == GB_OK);
}

static gb_status check_params(const gb_patch_params *p, const gb_tensor *x, int K) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "patch: images must be (N, C, H, W)");
    if (!(p->area > 0 && p->area <= 1)) return gb_error(GB_ERR_ARG, "patch: area %g is not in (0, 1]", (double)p->area);
    if (!(p->jitter >= 0 && p->jitter < 1)) return gb_error(GB_ERR_ARG, "patch: scale jitter must be in [0, 1)");
    if (!(p->max_rot >= 0 && p->max_rot <= 180)) return gb_error(GB_ERR_ARG, "patch: rotation must be in [0, 180] degrees");
    if (p->target < 0 || (K > 1 && p->target >= K))
        return gb_error(GB_ERR_ARG, "patch: target %d is not a class of the model (%d classes)", p->target, K);
    if (p->steps < 0 || p->batch < 1 || p->eot < 1) return gb_error(GB_ERR_ARG, "patch: steps, batch and eot must be positive");
    if (!(p->lr > 0)) return gb_error(GB_ERR_ARG, "patch: learning rate must be positive");
    if (p->loss != GB_LOSS_CE && p->loss != GB_LOSS_CW) return gb_error(GB_ERR_ARG, "patch: the loss must be ce or cw");
    if (!(p->kappa >= 0)) return gb_error(GB_ERR_ARG, "patch: kappa must be non-negative");
    if (p->disguise_eps > 0 && !p->init) return gb_error(GB_ERR_ARG, "patch: a disguise needs a starting patch");
    return GB_OK;
}

/* On-object placement needs the data set's object masks. */
static gb_status check_regions(const gb_patch_params *p, const gb_dataset *d) {
    if (p->on_object && !d->masks)
        return gb_error(GB_ERR_ARG, "patch: placement on the object needs a data set with object masks (e.g. signs)");
    return GB_OK;
}

/* Where a sticker of side k = round(side) px can go on the object: the
 * pixels at which a k x k box centred there has at least min(0.9, best) of
 * its area on the object mask (best: the largest such fraction in the
 * image). So the patch sits on the sign rather than over its edge, and on a
 * sign too small for it, where it overlaps the sign most. fit (h * w) gets
 * 1 there, else 0; sat is (h + 1) * (w + 1) scratch (a summed-area table). */
static void object_region(const float *mask, int h, int w, float side, double *sat, float *fit) {
    const int k = GB_MAX(1, (int)lroundf(side)), W1 = w + 1;
    for (int x = 0; x <= w; x++) sat[x] = 0;
    for (int y = 0; y < h; y++) {
        double row = 0;
        sat[(y + 1) * W1] = 0;
        for (int x = 0; x < w; x++) {
            row += mask[y * w + x];
            sat[(y + 1) * W1 + x + 1] = sat[y * W1 + x + 1] + row;
        }
    }
    float best = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            /* Box rows/columns [y - k/2, y - k/2 + k), clipped: off-image counts as off the object. */
            int y0 = GB_MAX(y - k / 2, 0), y1 = GB_MIN(y - k / 2 + k, h);
            int x0 = GB_MAX(x - k / 2, 0), x1 = GB_MIN(x - k / 2 + k, w);
            double in = sat[y1 * W1 + x1] - sat[y0 * W1 + x1] - sat[y1 * W1 + x0] + sat[y0 * W1 + x0];
            fit[y * w + x] = (float)(in / ((double)k * k));
            best = fmaxf(best, fit[y * w + x]);
        }
    float tau = fminf(0.9f, best);
    for (int i = 0; i < h * w; i++) fit[i] = best > 0 && fit[i] >= tau ? 1.0f : 0.0f;
}

/* One placement: anywhere, or on the object (object: its (H, W) mask). */
static void place(const gb_patch_params *p, int H, int W, int P, const float *object, double *sat, float *fit,
                  gb_rng *rng, float hinv[9]) {
    const float *reg = NULL;
    if (p->on_object && object) {
        object_region(object, H, W, sqrtf(p->area * (float)H * (float)W), sat, fit);
        reg = fit;
    }
    gb_patch_placement_in(H, W, P, p->area, p->jitter, p->max_rot, reg, rng, hinv);
}

static gb_status parse_pipe(const gb_patch_params *p, gb_tf_pipeline **pipe) {
    *pipe = NULL;
    if (!p->transforms || !*p->transforms) return GB_OK;
    return gb_tf_pipeline_parse(p->transforms, pipe);
}

gb_status gb_patch_apply_random(const gb_tensor *x, const float *regions, const gb_tensor *patch,
                                const gb_patch_params *p, gb_tf_pipeline *pipe, gb_rng *rng, gb_tensor *y) {
    const int64_t N = x->shape[0];
    const int H = (int)x->shape[2], W = (int)x->shape[3], P = (int)patch->shape[1];
    float *hinv = gb_malloc((size_t)GB_MAX(N, 1) * 9 * sizeof *hinv);
    float *mask = gb_malloc((size_t)P * P * sizeof *mask);
    gb_tf_params *params = pipe ? gb_malloc((size_t)GB_MAX(N, 1) * sizeof *params) : NULL;
    gb_tensor pasted = {0};
    double *sat = gb_malloc((size_t)(H + 1) * (W + 1) * sizeof *sat);
    float *fit = gb_malloc((size_t)H * W * sizeof *fit);
    gb_status s = (!hinv || !mask || !sat || !fit || (pipe && !params)) ? GB_ERR_NOMEM : GB_OK;
    if (!s) {
        gb_patch_mask(p, P, mask);
        for (int64_t n = 0; n < N; n++)
            place(p, H, W, P, regions ? regions + n * H * W : NULL, sat, fit, rng, hinv + 9 * n);
        if (pipe) {
            gb_tf_pipeline_sample(pipe, N, H, W, rng, params);
            s = gb_patch_paste_forward(x, patch, mask, hinv, &pasted);
            if (!s) s = gb_tf_pipeline_forward(pipe, params, &pasted, y);
        } else {
            s = gb_patch_paste_forward(x, patch, mask, hinv, y);
        }
    }
    gb_tensor_release(&pasted);
    gb_free(hinv);
    gb_free(mask);
    gb_free(params);
    gb_free(sat);
    gb_free(fit);
    return s;
}

gb_status gb_patch_evaluate(gb_model *m, const gb_dataset *d, const gb_tensor *patch,
                            const gb_patch_params *p, gb_tf_pipeline *pipe, int samples,
                            uint64_t seed, double *success, int64_t *trials) {
    GB_TRY(check_params(p, d->images, gb_model_num_classes(m)));
    GB_TRY(check_regions(p, d));
    const int64_t N = d->n, D = N ? d->images->size / N : 0, B = 256;
    const int64_t HW = d->images->shape[2] * d->images->shape[3];
    if (samples < 1 || samples > B)
        return gb_error(GB_ERR_ARG, "patch evaluation: samples per image must be in [1, %lld]", (long long)B);
    gb_rng rng;
    gb_rng_seed(&rng, seed, 0x7061746368ULL);
    gb_tensor xb = {0}, yb = {0};
    int *pred = gb_malloc((size_t)B * sizeof *pred);
    float *conf = gb_malloc((size_t)B * sizeof *conf);
    float *reg = p->on_object ? gb_malloc((size_t)(B * HW) * sizeof *reg) : NULL;
    gb_status s = (!pred || !conf || (p->on_object && !reg)) ? GB_ERR_NOMEM : GB_OK;
    int64_t hit = 0, total = 0, i = 0;
    /* Batches of non-target images, each repeated `samples` times with fresh placements. */
    while (!s && i < N) {
        int64_t rows = 0;
        int64_t shape[4] = {B, d->images->shape[1], d->images->shape[2], d->images->shape[3]};
        s = gb_tensor_resize(&xb, 4, shape);
        for (; !s && i < N && rows + samples <= B; i++) {
            if (d->labels[i] == p->target) continue;
            for (int k = 0; k < samples; k++, rows++) {
                memcpy(xb.data + rows * D, d->images->data + i * D, (size_t)D * sizeof(float));
                if (reg) memcpy(reg + rows * HW, d->masks + i * HW, (size_t)HW * sizeof(float));
            }
        }
        if (s || rows == 0) break;
        xb.shape[0] = rows;
        xb.size = rows * D;
        s = gb_patch_apply_random(&xb, reg, patch, p, pipe, &rng, &yb);
        if (!s) s = gb_predict(m, &yb, pred, conf);
        for (int64_t r = 0; r < rows && !s; r++) hit += pred[r] == p->target;
        total += rows;
    }
    if (!s && total == 0) s = gb_error(GB_ERR_ARG, "patch evaluation: every image is of the target class %d", p->target);
    gb_tensor_release(&xb);
    gb_tensor_release(&yb);
    gb_free(pred);
    gb_free(conf);
    gb_free(reg);
    if (s) return s;
    *success = (double)hit / (double)total;
    if (trials) *trials = total;
    return GB_OK;
}

gb_status gb_patch_train(gb_model *m, const gb_dataset *d, const gb_patch_params *p,
                         gb_tensor **patch_out) {
    *patch_out = NULL;
    const int K = gb_model_num_classes(m);
    GB_TRY(check_params(p, d->images, K));
    GB_TRY(check_regions(p, d));
    const int64_t N = d->n, D = N ? d->images->size / N : 0;
    const int C = (int)d->images->shape[1], H = (int)d->images->shape[2], W = (int)d->images->shape[3];
    const int P = gb_patch_side(p->area, H, W);
    const int64_t PS = (int64_t)C * P * P, R = (int64_t)p->batch * p->eot;
    if (p->init && (p->init->ndim != 3 || p->init->shape[0] != C || p->init->shape[1] != P || p->init->shape[2] != P))
        return gb_error(GB_ERR_SHAPE, "patch: the starting patch must be (%d, %d, %d)", C, P, P);
    int64_t pool_n = 0;
    for (int64_t i = 0; i < N; i++) pool_n += d->labels[i] != p->target;
    if (pool_n == 0) return gb_error(GB_ERR_ARG, "patch: every training image is of the target class %d", p->target);

    gb_tf_pipeline *pipe = NULL;
    GB_TRY(parse_pipe(p, &pipe));
    gb_model_set_training(m, 0);
    gb_tensor *patch = gb_tensor_new4(1, C, P, P), xb = {0}, pasted = {0}, dpasted = {0}, dpatch = {0};
    int64_t *pool = gb_malloc((size_t)pool_n * sizeof *pool);
    float *mask = gb_malloc((size_t)P * P * sizeof *mask), *hinv = gb_malloc((size_t)R * 9 * sizeof *hinv);
    float *m1 = gb_calloc((size_t)PS, sizeof *m1), *m2 = gb_calloc((size_t)PS, sizeof *m2);
    int *ys = gb_malloc((size_t)R * sizeof *ys), *ts = gb_malloc((size_t)R * sizeof *ts);
    int *hits = gb_malloc((size_t)R * sizeof *hits);
    float *obj = gb_malloc((size_t)R * sizeof *obj);
    double *sat = gb_malloc((size_t)(H + 1) * (W + 1) * sizeof *sat);
    float *fit = gb_malloc((size_t)H * W * sizeof *fit);
    gb_eot e;
    gb_eot_init(&e, m, pipe, 1);
    gb_status s = GB_OK;
    int64_t bshape[4] = {R, C, H, W}, pshape[3] = {C, P, P};
    if (!patch || !pool || !mask || !hinv || !m1 || !m2 || !ys || !ts || !hits || !obj || !sat || !fit) s = GB_ERR_NOMEM;
    if (!s) s = gb_tensor_resize(patch, 3, pshape);
    if (!s) s = gb_tensor_resize(&dpatch, 3, pshape);
    if (!s) s = gb_tensor_resize(&xb, 4, bshape);
    if (!s) s = gb_tensor_resize(&dpasted, 4, bshape);
    gb_rng rng;
    gb_rng_seed(&rng, p->seed, 0x7061746368ULL);
    if (!s) {
        gb_patch_mask(p, P, mask);
        for (int64_t i = 0, k = 0; i < N; i++)
            if (d->labels[i] != p->target) pool[k++] = i;
        if (p->init) memcpy(patch->data, p->init->data, (size_t)PS * sizeof(float));
        else
            for (int64_t k = 0; k < PS; k++) patch->data[k] = gb_rng_uniform(&rng);
    }
    for (int step = 1; step <= p->steps && !s; step++) {
        for (int64_t b = 0; b < p->batch; b++) {
            int64_t i = pool[gb_rng_below(&rng, (uint32_t)pool_n)];
            for (int k = 0; k < p->eot; k++) {
                int64_t r = b * p->eot + k;
                memcpy(xb.data + r * D, d->images->data + i * D, (size_t)D * sizeof(float));
                ys[r] = d->labels[i];
                ts[r] = p->target;
                place(p, H, W, P, d->masks ? d->masks + i * H * W : NULL, sat, fit, &rng, hinv + 9 * r);
            }
        }
        s = gb_patch_paste_forward(&xb, patch, mask, hinv, &pasted);
        if (!s) s = gb_eot_eval(&e, &pasted, ys, ts, p->loss, p->kappa, &rng, dpasted.data, obj, hits);
        if (!s) {
            memset(dpatch.data, 0, (size_t)PS * sizeof(float));
            s = gb_patch_paste_backward(&dpasted, patch, mask, hinv, NULL, &dpatch);
        }
        if (s) break;
        double loss = 0, hit = 0;
        for (int64_t r = 0; r < R; r++) loss -= obj[r] / (double)R, hit += hits[r] / (double)R;
        /* Ascend the mean objective: descend its negative. */
        for (int64_t k = 0; k < PS; k++) dpatch.data[k] = -dpatch.data[k] / (float)R;
        if (p->signed_steps)
            for (int64_t k = 0; k < PS; k++)
                patch->data[k] -= p->lr * (float)((dpatch.data[k] > 0) - (dpatch.data[k] < 0));
        else gb_adam_step(patch->data, dpatch.data, m1, m2, PS, step, p->lr);
        for (int64_t k = 0; k < PS; k++) {
            float v = patch->data[k];
            if (p->disguise_eps > 0) {
                float lo = p->init->data[k] - p->disguise_eps, hi = p->init->data[k] + p->disguise_eps;
                v = fminf(fmaxf(v, lo), hi);
            }
            patch->data[k] = fminf(fmaxf(v, 0.0f), 1.0f);
        }
        if (p->progress && p->progress(step, p->steps, (float)loss, (float)hit, p->user)) break;
    }
    gb_eot_free(&e);
    gb_tf_pipeline_free(pipe);
    gb_tensor_release(&xb);
    gb_tensor_release(&pasted);
    gb_tensor_release(&dpasted);
    gb_tensor_release(&dpatch);
    gb_free(pool);
    gb_free(mask);
    gb_free(hinv);
    gb_free(m1);
    gb_free(m2);
    gb_free(ys);
    gb_free(ts);
    gb_free(hits);
    gb_free(obj);
    gb_free(sat);
    gb_free(fit);
    if (s) {
        gb_tensor_free(patch);
        return s;
    }
    *patch_out = patch;
    return GB_OK;
}
