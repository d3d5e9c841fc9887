/* eot.c — Expectation over Transformation (Athalye et al. 2018, eq. 1): the
 * gradient of E_T[objective(model(T(x)))] estimated by averaging over
 * sampled T, batched as one forward/backward of n*eot rows; plus the
 * success rate under sampled transformations that reports how physical an
 * attack is (and Kurakin et al.'s destruction rate is one minus it). */
#include "attacks/physical.h"

#include <math.h>

void gb_eot_init(gb_eot *e, gb_model *m, gb_tf_pipeline *pipe, int eot) {
    memset(e, 0, sizeof *e);
    e->m = m;
    e->pipe = pipe;
    e->eot = eot < 1 ? 1 : eot;
}

void gb_eot_free(gb_eot *e) {
    gb_tensor_release(&e->rep);
    gb_tensor_release(&e->tx);
    gb_tensor_release(&e->drep);
    gb_tensor_release(&e->dl);
    gb_free(e->params);
    gb_free(e->ys);
    gb_free(e->ts);
    gb_free(e->val);
    memset(e, 0, sizeof *e);
}

static gb_status reserve_rows(gb_eot *e, int64_t rows) {
    if (rows <= e->cap) return GB_OK;
    gb_free(e->params);
    gb_free(e->ys);
    gb_free(e->ts);
    gb_free(e->val);
    e->params = gb_malloc((size_t)rows * sizeof *e->params);
    e->ys = gb_malloc((size_t)rows * sizeof *e->ys);
    e->ts = gb_malloc((size_t)rows * sizeof *e->ts);
    e->val = gb_malloc((size_t)rows * sizeof *e->val);
    if (!e->params || !e->ys || !e->ts || !e->val) {
        e->cap = 0;
        return GB_ERR_NOMEM;
    }
    e->cap = rows;
    return GB_OK;
}

gb_status gb_eot_eval(gb_eot *e, const gb_tensor *x, const int *y, const int *t, gb_loss_kind loss,
                      float kappa, gb_rng *rng, float *grad, float *obj, int *hits) {
    const int64_t n = x->shape[0], D = n ? x->size / n : 0, E = e->eot, R = n * E;
    const int H = (int)x->shape[2], W = (int)x->shape[3];
    int64_t shape[4] = {R, x->shape[1], x->shape[2], x->shape[3]};
    GB_TRY(reserve_rows(e, R));
    GB_TRY(gb_tensor_resize(&e->rep, 4, shape));
    for (int64_t r = 0; r < R; r++) {
        memcpy(e->rep.data + r * D, x->data + (r / E) * D, (size_t)D * sizeof(float));
        e->ys[r] = y[r / E];
        e->ts[r] = t ? t[r / E] : -1;
    }
    const gb_tensor *in = &e->rep;
    if (e->pipe) {
        gb_tf_pipeline_sample(e->pipe, R, H, W, rng, e->params);
        GB_TRY(gb_tf_pipeline_forward(e->pipe, e->params, &e->rep, &e->tx));
        in = &e->tx;
    }
    const gb_tensor *logits, *dx;
    GB_TRY(gb_model_forward(e->m, in, &logits));
    GB_TRY(gb_attack_loss(loss, logits, e->ys, t ? e->ts : NULL, kappa, e->val, &e->dl));
    const int64_t K = logits->shape[1];
    if (hits) memset(hits, 0, (size_t)n * sizeof *hits);
    if (obj) memset(obj, 0, (size_t)n * sizeof *obj);
    for (int64_t r = 0; r < R; r++) {
        int pred = gb_argmax(logits->data + r * K, K);
        if (hits) hits[r / E] += t ? pred == e->ts[r] : pred != e->ys[r];
        if (obj) obj[r / E] += e->val[r] / (float)E;
    }
    GB_TRY(gb_model_backward(e->m, &e->dl, GB_GRAD_INPUT, &dx));
    const float *g = dx->data;
    if (e->pipe) {
        GB_TRY(gb_tensor_resize(&e->drep, 4, shape));
        memset(e->drep.data, 0, (size_t)e->drep.size * sizeof(float));
        GB_TRY(gb_tf_pipeline_backward(e->pipe, e->params, dx, &e->drep));
        g = e->drep.data;
    }
    for (int64_t i = 0; i < n; i++) {
        float *gi = grad + i * D;
        memset(gi, 0, (size_t)D * sizeof *gi);
        for (int64_t k = 0; k < E; k++)
            for (int64_t j = 0; j < D; j++) gi[j] += g[(i * E + k) * D + j] / (float)E;
    }
    return GB_OK;
}

void gb_adam_step(float *v, const float *g, float *m1, float *m2, int64_t n, int t, float lr) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1 - powf(b1, (float)t), c2 = 1 - powf(b2, (float)t);
    for (int64_t i = 0; i < n; i++) {
        m1[i] = b1 * m1[i] + (1 - b1) * g[i];
        m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
        v[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + eps);
    }
}

gb_status gb_eot_success_rate(gb_model *m, const gb_tensor *x, const int *y, const int *target,
                              gb_tf_pipeline *pipe, int samples, gb_rng *rng, float *rate) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "EOT success: images must be (N, C, H, W)");
    if (samples < 1) return gb_error(GB_ERR_ARG, "EOT success: samples must be positive");
    const int64_t N = x->shape[0];
    gb_status s = GB_OK;
    gb_tf_params *params = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *params);
    int *pred = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *pred);
    float *conf = gb_malloc((size_t)GB_MAX(N, 1) * sizeof *conf);
    gb_tensor tx = {0};
    if (!params || !pred || !conf) s = GB_ERR_NOMEM;
    for (int64_t i = 0; i < N; i++) rate[i] = 0;
    for (int k = 0; k < samples && !s; k++) {
        const gb_tensor *in = x;
        if (pipe) {
            gb_tf_pipeline_sample(pipe, N, (int)x->shape[2], (int)x->shape[3], rng, params);
            s = gb_tf_pipeline_forward(pipe, params, x, &tx);
            in = &tx;
        }
        if (!s) s = gb_predict(m, in, pred, conf);
        for (int64_t i = 0; i < N && !s; i++)
            rate[i] += (target ? pred[i] == target[i] : pred[i] != y[i]) / (float)samples;
    }
    gb_tensor_release(&tx);
    gb_free(params);
    gb_free(pred);
    gb_free(conf);
    return s;
}
