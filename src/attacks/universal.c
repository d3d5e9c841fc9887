/* universal.c — universal adversarial perturbations: one delta v for a whole
 * data set, ||v||_p <= eps, that changes the model's prediction on most
 * images (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017, "Universal
 * adversarial perturbations", alg. 1):
 *     v = 0; until the fooling rate on X reaches 1 - delta (or max passes):
 *       for x_i in X (shuffled):
 *         if k(x_i + v) == k(x_i):
 *           dv = DeepFool(x_i + v)         (minimal L2 step past the boundary)
 *           v  = P_{p,eps}(v + dv)          (projection onto the norm ball)
 * with k the predicted class and the fooling rate P(k(x + v) != k(x)).
 * As in the authors' code, the inner DeepFool is the L2 one with a small
 * iteration cap (10) and v moves only when it converged. With batch > 1,
 * DeepFool runs on `batch` images at the current v and the updates are
 * applied one after another, each only if its image is still not fooled by
 * the v of the moment (summing them all overshoots: on Fashion-MNIST at
 * eps 0.1 that fooled 6% against 17% for the loop); batch 1 (the default)
 * is the paper's loop exactly.
 * x + v is clipped to [0, 1] wherever it is used.
 * The SGD variant ascends the mean cross-entropy of the clean prediction
 * over minibatches, v += alpha * sign(sum_i grad_i) (L-inf) or the
 * L2-normalized sum (L2), then projects: cheap, and often stronger at a
 * fixed budget. */
#include "attacks.h"

#include <math.h>

gb_uap_params gb_uap_default_params(void) {
    gb_uap_params p = {
        .method = GB_UAP_DEEPFOOL,
        .norm = GB_NORM_LINF,
        .eps = 10.0f / 255.0f,
        .target_rate = 0.8f,
        .max_passes = 5,
        .batch = 1,
        .df_steps = 10,
        .overshoot = 0.02f,
        .step_size = 0,
        .seed = 1,
    };
    return p;
}

void gb_uap_project(gb_norm norm, float *v, int64_t D, float eps) {
    if (norm == GB_NORM_LINF) {
        for (int64_t i = 0; i < D; i++) v[i] = v[i] > eps ? eps : (v[i] < -eps ? -eps : v[i]);
        return;
    }
    double n = gb_norm_of(GB_NORM_L2, v, D);
    if (n > eps) {
        float f = (float)(eps / n);
        for (int64_t i = 0; i < D; i++) v[i] *= f;
    }
}

/* Rows idx[0..nb) of x plus v, clipped to [0, 1], into b (nb, C, H, W). */
static gb_status gather(const gb_tensor *x, const int64_t *idx, int64_t nb, const float *v, gb_tensor *b) {
    int64_t shape[4] = {nb, x->shape[1], x->shape[2], x->shape[3]};
    GB_TRY(gb_tensor_resize(b, 4, shape));
    int64_t D = x->size / x->shape[0];
    for (int64_t j = 0; j < nb; j++) {
        const float *src = x->data + idx[j] * D;
        float *dst = b->data + j * D;
        for (int64_t q = 0; q < D; q++) {
            float t = src[q] + (v ? v[q] : 0.0f);
            dst[q] = t < 0 ? 0 : (t > 1 ? 1 : t);
        }
    }
    return GB_OK;
}

gb_status gb_predict_set(gb_model *m, const gb_tensor *x, const float *v, int batch, int *pred) {
    if (x->ndim != 4 || x->shape[0] < 1) return gb_error(GB_ERR_SHAPE, "predict: want a (N, C, H, W) batch");
    if (batch < 1) return gb_error(GB_ERR_ARG, "predict: batch size %d must be positive", batch);
    int64_t N = x->shape[0];
    int64_t *idx = gb_malloc((size_t)batch * sizeof *idx);
    float *conf = gb_malloc((size_t)batch * sizeof *conf);
    gb_tensor b = {0};
    gb_status s = idx && conf ? GB_OK : GB_ERR_NOMEM;
    for (int64_t start = 0; start < N && !s; start += batch) {
        int64_t nb = GB_MIN((int64_t)batch, N - start);
        for (int64_t j = 0; j < nb; j++) idx[j] = start + j;
        s = gather(x, idx, nb, v, &b);
        if (!s) s = gb_predict(m, &b, pred + start, conf);
    }
    gb_tensor_release(&b);
    gb_free(idx), gb_free(conf);
    return s;
}

gb_status gb_uap_fooling_rate(gb_model *m, const gb_tensor *x, const float *v, const int *y, int batch,
                              double *fooling, double *accuracy) {
    int64_t N = x->shape[0];
    int *p0 = gb_malloc((size_t)N * sizeof *p0), *p1 = gb_malloc((size_t)N * sizeof *p1);
    gb_status s = p0 && p1 ? GB_OK : GB_ERR_NOMEM;
    if (!s) s = gb_predict_set(m, x, NULL, batch, p0);
    if (!s) s = gb_predict_set(m, x, v, batch, p1);
    if (!s) {
        int64_t fooled = 0, right = 0;
        for (int64_t i = 0; i < N; i++) {
            fooled += p0[i] != p1[i];
            right += y && p1[i] == y[i];
        }
        if (fooling) *fooling = (double)fooled / (double)N;
        if (accuracy) *accuracy = y ? (double)right / (double)N : NAN;
    }
    gb_free(p0), gb_free(p1);
    return s;
}

void gb_uap_random(gb_norm norm, float eps, int64_t D, gb_rng *rng, float *v) {
    if (norm == GB_NORM_LINF) {
        /* A random vertex of the cube: the largest random L-inf perturbation. */
        for (int64_t i = 0; i < D; i++) v[i] = (gb_rng_u32(rng) & 1) ? eps : -eps;
        return;
    }
    for (int64_t i = 0; i < D; i++) v[i] = gb_rng_normal(rng);
    double n = gb_norm_of(GB_NORM_L2, v, D);
    for (int64_t i = 0; i < D; i++) v[i] = (float)(v[i] * (eps / n));
}

static void shuffle(int64_t *order, int64_t n, gb_rng *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)gb_rng_below(rng, (uint32_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

/* One DeepFool pass over the batch order[0..nb): see the file header. */
static gb_status deepfool_batch(gb_model *m, const gb_tensor *x, const int *clean, const int64_t *ids,
                                int64_t nb, const gb_uap_params *p, float *v, gb_tensor *b,
                                int64_t *sel, int *ysel, int64_t *evals) {
    int64_t D = x->size / x->shape[0];
    GB_TRY(gather(x, ids, nb, v, b));
    int *pred = gb_malloc((size_t)nb * sizeof *pred);
    float *conf = gb_malloc((size_t)nb * sizeof *conf);
    gb_status s = pred && conf ? GB_OK : GB_ERR_NOMEM;
    if (!s) s = gb_predict(m, b, pred, conf);
    int64_t ns = 0;
    for (int64_t j = 0; j < nb && !s; j++)
        if (pred[j] == clean[ids[j]]) sel[ns] = ids[j], ysel[ns] = clean[ids[j]], ns++;
    gb_free(pred), gb_free(conf);
    if (s || ns == 0) return s;
    GB_TRY(gather(x, sel, ns, v, b));
    gb_attack a = gb_attack_default_params(GB_ATTACK_DEEPFOOL);
    a.norm = GB_NORM_L2;
    a.steps = p->df_steps;
    a.overshoot = p->overshoot;
    gb_attack_result r = {0};
    GB_TRY(gb_attack_run(&a, m, b, ysel, NULL, &r));
    *evals += r.grad_evals;
    gb_tensor one = {0};
    gb_status s2 = GB_OK;
    for (int64_t j = 0; j < ns && !s2; j++) {
        if (!r.success[j]) continue; /* DeepFool did not converge: v stays */
        if (j > 0) {
            /* v moved since this image's DeepFool step: add it only if the
             * image is still not fooled, as the sequential loop would. */
            int pj;
            float cj;
            s2 = gather(x, sel + j, 1, v, &one);
            if (!s2) s2 = gb_predict(m, &one, &pj, &cj);
            if (s2 || pj != ysel[j]) continue;
        }
        const float *xa = r.x_adv->data + j * D, *xb = b->data + j * D;
        for (int64_t q = 0; q < D; q++) v[q] += xa[q] - xb[q];
        gb_uap_project(p->norm, v, D, p->eps);
    }
    gb_tensor_release(&one);
    gb_attack_result_free(&r);
    return s2;
}

/* One SGD step on the batch: ascend the summed CE of the clean predictions. */
static gb_status sgd_batch(gb_model *m, const gb_tensor *x, const int *clean, const int64_t *ids,
                           int64_t nb, const gb_uap_params *p, float *v, gb_tensor *b, gb_tensor *g,
                           int *ysel, float *acc, int64_t *evals) {
    int64_t D = x->size / x->shape[0];
    GB_TRY(gather(x, ids, nb, v, b));
    GB_TRY(gb_tensor_resize(g, b->ndim, b->shape));
    for (int64_t j = 0; j < nb; j++) ysel[j] = clean[ids[j]];
    GB_TRY(gb_input_gradient(m, b, ysel, g, NULL));
    *evals += nb;
    memset(acc, 0, (size_t)D * sizeof *acc);
    for (int64_t j = 0; j < nb; j++) {
        const float *gj = g->data + j * D, *xb = b->data + j * D;
        /* Where x + v is clipped, v has no effect on the input. */
        for (int64_t q = 0; q < D; q++)
            if (xb[q] > 0 && xb[q] < 1) acc[q] += gj[q];
    }
    float alpha = p->step_size > 0 ? p->step_size : p->eps / 10.0f;
    if (p->norm == GB_NORM_LINF) {
        for (int64_t q = 0; q < D; q++) v[q] += alpha * (float)((acc[q] > 0) - (acc[q] < 0));
    } else {
        double n = gb_norm_of(GB_NORM_L2, acc, D);
        if (n > 0)
            for (int64_t q = 0; q < D; q++) v[q] += (float)(alpha * acc[q] / n);
    }
    gb_uap_project(p->norm, v, D, p->eps);
    return GB_OK;
}

gb_status gb_uap_fit(gb_model *m, const gb_tensor *x, const gb_uap_params *p, gb_tensor **v_out,
                     gb_uap_info *info) {
    *v_out = NULL;
    if (x->ndim != 4 || x->shape[0] < 1) return gb_error(GB_ERR_SHAPE, "universal: want a (N, C, H, W) data set");
    if (p->norm != GB_NORM_LINF && p->norm != GB_NORM_L2)
        return gb_error(GB_ERR_ARG, "universal: norm must be linf or l2 (got %s)", gb_norm_name(p->norm));
    if (!(p->eps > 0) || !isfinite(p->eps)) return gb_error(GB_ERR_ARG, "universal: eps must be positive");
    if (!(p->target_rate > 0 && p->target_rate <= 1))
        return gb_error(GB_ERR_ARG, "universal: target fooling rate must be in (0, 1]");
    if (p->max_passes < 1 || p->batch < 1 || p->df_steps < 1 || p->step_size < 0)
        return gb_error(GB_ERR_ARG, "universal: passes, batch and DeepFool steps must be positive");
    if (p->method != GB_UAP_DEEPFOOL && p->method != GB_UAP_SGD)
        return gb_error(GB_ERR_ARG, "universal: unknown method %d", (int)p->method);
    int64_t N = x->shape[0], D = x->size / N;
    int64_t vshape[4] = {1, x->shape[1], x->shape[2], x->shape[3]};
    gb_tensor *v = gb_tensor_new(4, vshape);
    int *clean = gb_malloc((size_t)N * sizeof *clean), *ysel = gb_malloc((size_t)p->batch * sizeof *ysel);
    int64_t *order = gb_malloc((size_t)N * sizeof *order), *sel = gb_malloc((size_t)p->batch * sizeof *sel);
    float *acc = gb_malloc((size_t)D * sizeof *acc);
    gb_tensor b = {0}, g = {0};
    gb_status s = v && clean && ysel && order && sel && acc ? GB_OK : GB_ERR_NOMEM;
    gb_uap_info inf = {0};
    gb_rng rng;
    gb_rng_seed(&rng, p->seed, 29);
    if (!s) s = gb_predict_set(m, x, NULL, p->batch, clean);
    for (int64_t i = 0; i < N; i++) order[i] = i;
    double rate = 0;
    while (!s && inf.passes < p->max_passes) {
        shuffle(order, N, &rng);
        for (int64_t start = 0; start < N && !s; start += p->batch) {
            int64_t nb = GB_MIN((int64_t)p->batch, N - start);
            if (p->method == GB_UAP_DEEPFOOL)
                s = deepfool_batch(m, x, clean, order + start, nb, p, v->data, &b, sel, ysel, &inf.grad_evals);
            else
                s = sgd_batch(m, x, clean, order + start, nb, p, v->data, &b, &g, ysel, acc, &inf.grad_evals);
        }
        if (s) break;
        inf.passes++;
        s = gb_uap_fooling_rate(m, x, v->data, NULL, p->batch, &rate, NULL);
        if (!s && p->progress && p->progress(inf.passes, rate, p->user)) break;
        if (rate >= p->target_rate) break;
    }
    inf.fooling_rate = rate;
    gb_tensor_release(&b);
    gb_tensor_release(&g);
    gb_free(clean), gb_free(ysel), gb_free(order), gb_free(sel), gb_free(acc);
    if (s) {
        gb_tensor_free(v);
        return s;
    }
    if (info) *info = inf;
    *v_out = v;
    return GB_OK;
}
