/* patch.c — the adversarial patch (Brown et al. 2017): one image-independent
 * patch p maximizing E_{x, l, t}[log P(target | T(A(p, x, l, t)))] over
 * images x, placements l (location, scale, rotation) and transformations t
 * (sec. 2, eq. 2), by Adam or signed steps on p's pixels, kept in [0,1] and,
 * disguised, within eps of a starting image in L-inf (sec. 2, last
 * paragraph). The paste is a bilinear warp, so the gradient reaches every
 * patch pixel that lands in the image. */
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
    if (p->disguise_eps > 0 && !p->init) return gb_error(GB_ERR_ARG, "patch: a disguise needs a starting patch");
    return GB_OK;
}

static gb_status parse_pipe(const gb_patch_params *p, gb_tf_pipeline **pipe) {
    *pipe = NULL;
    if (!p->transforms || !*p->transforms) return GB_OK;
    return gb_tf_pipeline_parse(p->transforms, pipe);
}

gb_status gb_patch_apply_random(const gb_tensor *x, const gb_tensor *patch, const gb_patch_params *p,
                                gb_tf_pipeline *pipe, gb_rng *rng, gb_tensor *y) {
    const int64_t N = x->shape[0];
    const int H = (int)x->shape[2], W = (int)x->shape[3], P = (int)patch->shape[1];
    float *hinv = gb_malloc((size_t)GB_MAX(N, 1) * 9 * sizeof *hinv);
    float *mask = gb_malloc((size_t)P * P * sizeof *mask);
    gb_tf_params *params = pipe ? gb_malloc((size_t)GB_MAX(N, 1) * sizeof *params) : NULL;
    gb_tensor pasted = {0};
    gb_status s = (!hinv || !mask || (pipe && !params)) ? GB_ERR_NOMEM : GB_OK;
    if (!s) {
        gb_patch_mask(p, P, mask);
        for (int64_t n = 0; n < N; n++) gb_patch_placement(H, W, P, p->area, p->jitter, p->max_rot, rng, hinv + 9 * n);
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
    return s;
}

gb_status gb_patch_evaluate(gb_model *m, const gb_dataset *d, const gb_tensor *patch,
                            const gb_patch_params *p, gb_tf_pipeline *pipe, int samples,
                            uint64_t seed, double *success, int64_t *trials) {
    GB_TRY(check_params(p, d->images, gb_model_num_classes(m)));
    const int64_t N = d->n, D = N ? d->images->size / N : 0, B = 256;
    if (samples < 1 || samples > B)
        return gb_error(GB_ERR_ARG, "patch evaluation: samples per image must be in [1, %lld]", (long long)B);
    gb_rng rng;
    gb_rng_seed(&rng, seed, 0x7061746368ULL);
    gb_tensor xb = {0}, yb = {0};
    int *pred = gb_malloc((size_t)B * sizeof *pred);
    float *conf = gb_malloc((size_t)B * sizeof *conf);
    gb_status s = (!pred || !conf) ? GB_ERR_NOMEM : GB_OK;
    int64_t hit = 0, total = 0, i = 0;
    /* Batches of non-target images, each repeated `samples` times with fresh placements. */
    while (!s && i < N) {
        int64_t rows = 0;
        int64_t shape[4] = {B, d->images->shape[1], d->images->shape[2], d->images->shape[3]};
        s = gb_tensor_resize(&xb, 4, shape);
        for (; !s && i < N && rows + samples <= B; i++) {
            if (d->labels[i] == p->target) continue;
            for (int k = 0; k < samples; k++, rows++)
                memcpy(xb.data + rows * D, d->images->data + i * D, (size_t)D * sizeof(float));
        }
        if (s || rows == 0) break;
        xb.shape[0] = rows;
        xb.size = rows * D;
        s = gb_patch_apply_random(&xb, patch, p, pipe, &rng, &yb);
        if (!s) s = gb_predict(m, &yb, pred, conf);
        for (int64_t r = 0; r < rows && !s; r++) hit += pred[r] == p->target;
        total += rows;
    }
    if (!s && total == 0) s = gb_error(GB_ERR_ARG, "patch evaluation: every image is of the target class %d", p->target);
    gb_tensor_release(&xb);
    gb_tensor_release(&yb);
    gb_free(pred);
    gb_free(conf);
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
    gb_eot e;
    gb_eot_init(&e, m, pipe, 1);
    gb_status s = GB_OK;
    int64_t bshape[4] = {R, C, H, W}, pshape[3] = {C, P, P};
    if (!patch || !pool || !mask || !hinv || !m1 || !m2 || !ys || !ts || !hits || !obj) s = GB_ERR_NOMEM;
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
                gb_patch_placement(H, W, P, p->area, p->jitter, p->max_rot, &rng, hinv + 9 * r);
            }
        }
        s = gb_patch_paste_forward(&xb, patch, mask, hinv, &pasted);
        if (!s) s = gb_eot_eval(&e, &pasted, ys, ts, GB_LOSS_CE, 0, &rng, dpasted.data, obj, hits);
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
    if (s) {
        gb_tensor_free(patch);
        return s;
    }
    *patch_out = patch;
    return GB_OK;
}
