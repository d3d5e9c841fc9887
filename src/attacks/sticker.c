/* sticker.c — masked physical perturbations: Robust Physical Perturbations
 * (RP2, Eykholt et al. 2018, eq. 3-4) and the eyeglass-frame attack of
 * Sharif et al. 2016 (sec. 4). Per example, delta lives on a mask M and
 *   min_delta  E_T[-objective(T(x + M delta))] + lambda ||M delta||_p
 *              + tv_weight TV(M delta) + nps_weight NPS(x + M delta on M),
 * by Adam, with x + M delta projected back into [0,1] after each step (no
 * clipping inside the objective, so saturated pixels keep a gradient).
 * RP2's mask search (sec. 4.2): stage 1 with p = 1 over the whole region
 * concentrates delta on the most vulnerable pixels; the top `keep` of them
 * by |delta| become the sticker, which stage 2 optimizes with p = 2.
 * Per example the iterate with the most adversarial EOT samples (ties: the
 * higher objective) is returned. */
#include "attacks/physical.h"

#include <math.h>

gb_sticker_params gb_sticker_default_params(void) {
    gb_sticker_params p;
    memset(&p, 0, sizeof p);
    p.keep = 0.3f;
    p.norm = GB_NORM_L2;
    p.lambda = 0.002f;
    /* The C&W margin, not CE: once the clean image is classified with high
     * confidence, CE's gradient vanishes (softmax - onehot ~ e^-margin) and
     * the norm penalty wins; the margin's gradient stays O(1). kappa keeps
     * pushing past the boundary so the result survives transformations. */
    p.loss = GB_LOSS_CW;
    p.kappa = 5;
    p.eot = 1;
    p.steps = 200;
    p.lr = 0.05f;
    p.seed = 1;
    return p;
}

void gb_sticker_result_free(gb_sticker_result *r) {
    gb_tensor_free(r->x_adv);
    gb_free(r->mask);
    gb_free(r->clean_pred);
    gb_free(r->adv_pred);
    gb_free(r->success);
    gb_free(r->l1);
    gb_free(r->l2);
    gb_free(r->linf);
    gb_free(r->tv);
    gb_free(r->nps);
    memset(r, 0, sizeof *r);
}

static gb_status check(const gb_sticker_params *p, const gb_tensor *x, const int *y, const int *t, int K) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "sticker: images must be (N, C, H, W)");
    if (!p->mask) return gb_error(GB_ERR_ARG, "sticker: no mask");
    if (!p->two_stage && p->norm != GB_NORM_L1 && p->norm != GB_NORM_L2)
        return gb_error(GB_ERR_ARG, "sticker: the penalty norm must be l1 or l2");
    if (p->two_stage && !(p->keep > 0 && p->keep <= 1)) return gb_error(GB_ERR_ARG, "sticker: keep must be in (0, 1]");
    if (!(p->lambda >= 0) || !(p->tv_weight >= 0) || !(p->nps_weight >= 0))
        return gb_error(GB_ERR_ARG, "sticker: lambda, TV and NPS weights must be >= 0");
    if (p->nps_weight > 0 && (!p->palette || p->palette_n < 1))
        return gb_error(GB_ERR_ARG, "sticker: the non-printability score needs a palette");
    if (p->steps < 0 || p->eot < 1 || !(p->lr > 0)) return gb_error(GB_ERR_ARG, "sticker: steps, eot and lr must be positive");
    for (int64_t i = 0; i < x->shape[0]; i++)
        if ((y[i] < 0 || (K > 1 && y[i] >= K)) || (t && (t[i] < 0 || (K > 1 && t[i] >= K))))
            return gb_error(GB_ERR_ARG, "sticker: example %lld: label or target outside the model's %d classes",
                            (long long)i, K);
    return GB_OK;
}

static gb_status alloc_result(gb_sticker_result *r, const gb_tensor *x) {
    memset(r, 0, sizeof *r);
    const int64_t N = x->shape[0], n = GB_MAX(N, 1), hw = x->shape[2] * x->shape[3];
    r->n = N;
    r->x_adv = gb_tensor_clone(x);
    r->mask = gb_calloc((size_t)(n * hw), sizeof *r->mask);
    r->clean_pred = gb_calloc((size_t)n, sizeof(int));
    r->adv_pred = gb_calloc((size_t)n, sizeof(int));
    r->success = gb_calloc((size_t)n, sizeof(int));
    r->l1 = gb_calloc((size_t)n, sizeof(float));
    r->l2 = gb_calloc((size_t)n, sizeof(float));
    r->linf = gb_calloc((size_t)n, sizeof(float));
    r->tv = gb_calloc((size_t)n, sizeof(float));
    r->nps = gb_calloc((size_t)n, sizeof(float));
    if (!r->x_adv || !r->mask || !r->clean_pred || !r->adv_pred || !r->success || !r->l1 || !r->l2 ||
        !r->linf || !r->tv || !r->nps) {
        gb_sticker_result_free(r);
        return GB_ERR_NOMEM;
    }
    return GB_OK;
}

/* RP2's mask from stage 1: the `keep` fraction of M's pixels with the largest sum_c |delta|. */
static void top_mask(float *mask, const float *delta, int C, int64_t hw, float keep, float *score) {
    int64_t inside = 0;
    for (int64_t i = 0; i < hw; i++) {
        score[i] = 0;
        if (!(mask[i] > 0)) continue;
        inside++;
        for (int c = 0; c < C; c++) score[i] += fabsf(delta[c * hw + i]);
    }
    int64_t want = (int64_t)ceilf(keep * (float)inside);
    for (int64_t i = 0; i < hw; i++) mask[i] = mask[i] > 0 ? 1.0f : 0.0f;
    /* Selection by repeated maxima is O(hw * want): fine for sign-sized images. */
    for (int64_t k = 0; k < inside - want; k++) {
        int64_t worst = -1;
        for (int64_t i = 0; i < hw; i++)
            if (mask[i] > 0 && (worst < 0 || score[i] < score[worst])) worst = i;
        mask[worst] = 0;
    }
}

gb_status gb_sticker_run(gb_model *m, const gb_tensor *x, const int *y, const int *target,
                         const gb_sticker_params *p, gb_sticker_result *out) {
    memset(out, 0, sizeof *out);
    const int K = gb_model_num_classes(m);
    GB_TRY(check(p, x, y, target, K));
    const int64_t N = x->shape[0], D = N ? x->size / N : 0;
    const int C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    const int64_t hw = (int64_t)H * W, ND = N * D;
    gb_tf_pipeline *pipe = NULL;
    if (p->transforms && *p->transforms) GB_TRY(gb_tf_pipeline_parse(p->transforms, &pipe));
    gb_status s = alloc_result(out, x);
    if (s) {
        gb_tf_pipeline_free(pipe);
        return s;
    }
    gb_model_set_training(m, 0);
    float *delta = gb_calloc((size_t)GB_MAX(ND, 1), sizeof *delta), *g = gb_malloc((size_t)GB_MAX(ND, 1) * sizeof *g);
    float *gx = gb_malloc((size_t)GB_MAX(ND, 1) * sizeof *gx), *md = gb_malloc((size_t)D * sizeof *md);
    float *pg = gb_malloc((size_t)D * sizeof *pg);
    float *m1 = gb_malloc((size_t)GB_MAX(ND, 1) * sizeof *m1), *m2 = gb_malloc((size_t)GB_MAX(ND, 1) * sizeof *m2);
    float *obj = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *obj), *best_obj = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *best_obj);
    float *score = gb_malloc((size_t)hw * sizeof *score), *conf = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *conf);
    int *hits = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *hits), *best_hits = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *best_hits);
    gb_tensor xa = {0};
    gb_eot e;
    gb_eot_init(&e, m, pipe, p->eot);
    gb_rng rng;
    gb_rng_seed(&rng, p->seed, 0x737469636bULL);
    if (!delta || !g || !gx || !md || !pg || !m1 || !m2 || !obj || !best_obj || !score || !conf || !hits || !best_hits)
        s = GB_ERR_NOMEM;
    if (!s) s = gb_tensor_resize(&xa, 4, x->shape);
    if (!s) s = gb_predict(m, x, out->clean_pred, conf);
    for (int64_t i = 0; i < N && !s; i++) {
        memcpy(out->mask + i * hw, p->mask, (size_t)hw * sizeof(float));
        best_hits[i] = -1;
    }
    const int stages = p->two_stage ? 2 : 1;
    for (int stage = 0; stage < stages && !s; stage++) {
        const gb_norm norm = p->two_stage ? (stage == 0 ? GB_NORM_L1 : GB_NORM_L2) : p->norm;
        if (stage == 1) {
            for (int64_t i = 0; i < N; i++) {
                top_mask(out->mask + i * hw, delta + i * D, C, hw, p->keep, score);
                best_hits[i] = -1; /* the final sticker must live on the stage-2 mask */
            }
        }
        memset(delta, 0, (size_t)ND * sizeof *delta);
        memset(m1, 0, (size_t)ND * sizeof *m1);
        memset(m2, 0, (size_t)ND * sizeof *m2);
        for (int step = 0; step <= p->steps && !s; step++) {
            for (int64_t i = 0; i < N; i++)
                for (int c = 0; c < C; c++)
                    for (int64_t j = 0; j < hw; j++)
                        xa.data[i * D + c * hw + j] = x->data[i * D + c * hw + j] + out->mask[i * hw + j] * delta[i * D + c * hw + j];
            s = gb_eot_eval(&e, &xa, y, target, p->loss, p->kappa, &rng, gx, obj, hits);
            if (s) break;
            out->grad_evals += N * p->eot;
            /* Keep the best iterate so far (evaluated before stepping away from it). */
            for (int64_t i = 0; i < N; i++)
                if (hits[i] > best_hits[i] || (hits[i] == best_hits[i] && obj[i] > best_obj[i])) {
                    best_hits[i] = hits[i];
                    best_obj[i] = obj[i];
                    memcpy(out->x_adv->data + i * D, xa.data + i * D, (size_t)D * sizeof(float));
                }
            if (step == p->steps) break;
            for (int64_t i = 0; i < N; i++) {
                const float *M = out->mask + i * hw;
                float *gi = g + i * D, *di = delta + i * D;
                double nrm = 0;
                for (int c = 0; c < C; c++)
                    for (int64_t j = 0; j < hw; j++) {
                        md[c * hw + j] = M[j] * di[c * hw + j];
                        nrm += norm == GB_NORM_L2 ? (double)md[c * hw + j] * md[c * hw + j] : 0;
                        gi[c * hw + j] = 0;
                    }
                nrm = sqrt(nrm);
                /* d/d(M delta) of the penalties, then the chain through M. */
                for (int64_t k = 0; k < D; k++)
                    gi[k] = p->lambda * (norm == GB_NORM_L1 ? (float)((md[k] > 0) - (md[k] < 0))
                                                            : (nrm > 0 ? (float)(md[k] / nrm) : 0.0f));
                if (p->tv_weight > 0) {
                    memset(pg, 0, (size_t)D * sizeof *pg);
                    gb_tv(md, C, H, W, pg);
                    for (int64_t k = 0; k < D; k++) gi[k] += p->tv_weight * pg[k];
                }
                if (p->nps_weight > 0) {
                    memset(pg, 0, (size_t)D * sizeof *pg);
                    gb_nps(xa.data + i * D, M, C, H, W, p->palette, p->palette_n, pg);
                    for (int64_t k = 0; k < D; k++) gi[k] += p->nps_weight * pg[k];
                }
                /* The penalties' gradients are w.r.t. M delta (or x + M delta, the same
                 * up to a constant); the chain through M gives the step direction. */
                for (int c = 0; c < C; c++)
                    for (int64_t j = 0; j < hw; j++) gi[c * hw + j] = M[j] * (gi[c * hw + j] - gx[i * D + c * hw + j]);
            }
            gb_adam_step(delta, g, m1, m2, ND, step + 1, p->lr);
            /* Project: x + M delta must stay a picture. */
            for (int64_t i = 0; i < N; i++)
                for (int c = 0; c < C; c++)
                    for (int64_t j = 0; j < hw; j++) {
                        float M = out->mask[i * hw + j], xv = x->data[i * D + c * hw + j];
                        float *dv = delta + i * D + c * hw + j;
                        if (M > 0) *dv = fminf(fmaxf(*dv, -xv / M), (1 - xv) / M);
                        else *dv = 0;
                    }
        }
    }
    if (!s) s = gb_predict(m, out->x_adv, out->adv_pred, conf);
    for (int64_t i = 0; i < N && !s; i++) {
        out->success[i] = target ? out->adv_pred[i] == target[i] : out->adv_pred[i] != y[i];
        double l1 = 0, l2 = 0, li = 0;
        for (int64_t k = 0; k < D; k++) {
            md[k] = out->x_adv->data[i * D + k] - x->data[i * D + k];
            l1 += fabs(md[k]), l2 += (double)md[k] * md[k], li = fmax(li, fabs(md[k]));
        }
        out->l1[i] = (float)l1, out->l2[i] = (float)sqrt(l2), out->linf[i] = (float)li;
        out->tv[i] = (float)gb_tv(md, C, H, W, NULL);
        if (p->palette && p->palette_n > 0)
            out->nps[i] = (float)gb_nps(out->x_adv->data + i * D, out->mask + i * hw, C, H, W, p->palette, p->palette_n, NULL);
    }
    gb_eot_free(&e);
    gb_tf_pipeline_free(pipe);
    gb_tensor_release(&xa);
    gb_free(delta), gb_free(g), gb_free(gx), gb_free(md), gb_free(pg), gb_free(m1), gb_free(m2), gb_free(obj);
    gb_free(best_obj), gb_free(score), gb_free(conf), gb_free(hits), gb_free(best_hits);
    if (s) gb_sticker_result_free(out);
    return s;
}
