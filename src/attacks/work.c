/* work.c — the working set of an attack: the examples still under attack,
 * packed at the front of one batch tensor, with forward, objective and
 * backward over just those rows. Finished examples drop out, so early
 * stopping and per-example aborts save real work. */
#include "attacks.h"

gb_status gb_atk_init(gb_atk_work *w, gb_model *m, const gb_tensor *x, const int *y,
                      const int *t, gb_attack_result *r) {
    memset(w, 0, sizeof *w);
    w->m = m;
    w->r = r;
    w->N = x->shape[0];
    w->D = w->N ? x->size / w->N : 0;
    w->K = gb_model_num_classes(m);
    if (w->K < 2) {
        /* The logits' width is known once the model has run on a batch. */
        const gb_tensor *z;
        gb_tensor one = *x;
        one.shape[0] = GB_MIN(w->N, 1);
        one.size = one.shape[0] * w->D;
        one.cap = 0;
        GB_TRY(gb_model_forward(m, &one, &z));
        w->K = z->shape[z->ndim - 1];
    }
    w->x0 = x->data;
    w->y = y;
    w->t = t;
    size_t N = (size_t)GB_MAX(w->N, 1), D = (size_t)w->D, K = (size_t)w->K;
    w->idx = gb_calloc(N, sizeof *w->idx);
    w->ys = gb_calloc(N, sizeof *w->ys);
    w->ts = gb_calloc(N, sizeof *w->ts);
    w->grad = gb_calloc(N * D, sizeof *w->grad);
    w->logits = gb_calloc(N * K, sizeof *w->logits);
    w->obj = gb_calloc(N, sizeof *w->obj);
    int64_t ks[2] = {(int64_t)N, (int64_t)K};
    if (!w->idx || !w->ys || !w->ts || !w->grad || !w->logits || !w->obj ||
        gb_tensor_resize(&w->x, x->ndim, x->shape) || gb_tensor_resize(&w->dl, 2, ks)) {
        gb_atk_free(w);
        return GB_ERR_NOMEM;
    }
    gb_atk_select(w, NULL);
    return GB_OK;
}

void gb_atk_free(gb_atk_work *w) {
    gb_free(w->idx);
    gb_free(w->ys);
    gb_free(w->ts);
    gb_free(w->grad);
    gb_free(w->logits);
    gb_free(w->obj);
    gb_free(w->eot_buf);
    gb_tensor_release(&w->x);
    gb_tensor_release(&w->dl);
    memset(w, 0, sizeof *w);
}

static void set_rows(gb_atk_work *w) {
    w->x.shape[0] = w->n;
    w->x.size = w->n * w->D;
    w->dl.shape[0] = w->n;
    w->dl.size = w->n * w->K;
}

void gb_atk_select(gb_atk_work *w, const int *want) {
    int64_t n = 0;
    for (int64_t i = 0; i < w->N; i++) {
        if (want && !want[i]) continue;
        w->idx[n] = i;
        w->ys[n] = w->y[i];
        w->ts[n] = w->t ? w->t[i] : -1;
        memcpy(w->x.data + n * w->D, w->x0 + i * w->D, (size_t)w->D * sizeof(float));
        n++;
    }
    w->n = n;
    set_rows(w);
}

void gb_atk_compact(gb_atk_work *w, const int *keep) {
    const int64_t D = w->D, K = w->K;
    int64_t n = 0;
    for (int64_t j = 0; j < w->n; j++) {
        if (!keep[j]) continue;
        if (n != j) {
            w->idx[n] = w->idx[j];
            w->ys[n] = w->ys[j];
            w->ts[n] = w->ts[j];
            w->obj[n] = w->obj[j];
            memcpy(w->x.data + n * D, w->x.data + j * D, (size_t)D * sizeof(float));
            memcpy(w->grad + n * D, w->grad + j * D, (size_t)D * sizeof(float));
            memcpy(w->logits + n * K, w->logits + j * K, (size_t)K * sizeof(float));
        }
        n++;
    }
    w->n = n;
    set_rows(w);
}

gb_status gb_atk_forward(gb_atk_work *w) {
    if (w->n == 0) return GB_OK;
    set_rows(w);
    const gb_tensor *z;
    GB_TRY(gb_model_forward(w->m, &w->x, &z));
    if (z->size != w->n * w->K) return gb_error(GB_ERR_SHAPE, "attack: the model's logits are not (N, %lld)", (long long)w->K);
    memcpy(w->logits, z->data, (size_t)z->size * sizeof(float));
    return GB_OK;
}

gb_status gb_atk_backward(gb_atk_work *w, const float *dl, float *out) {
    if (w->n == 0) return GB_OK;
    if (dl != w->dl.data) memcpy(w->dl.data, dl, (size_t)(w->n * w->K) * sizeof(float));
    const gb_tensor *dx;
    GB_TRY(gb_model_backward(w->m, &w->dl, GB_GRAD_INPUT, &dx));
    memcpy(out, dx->data, (size_t)(w->n * w->D) * sizeof(float));
    for (int64_t j = 0; j < w->n; j++) w->r->evals[w->idx[j]]++;
    w->r->grad_evals += w->n;
    return GB_OK;
}

static gb_status eval_once(gb_atk_work *w, gb_loss_kind loss, float kappa, int want_grad, float *grad) {
    GB_TRY(gb_atk_forward(w));
    gb_tensor z = {0};
    z.ndim = 2;
    z.shape[0] = w->n;
    z.shape[1] = w->K;
    z.size = w->n * w->K;
    z.data = w->logits;
    GB_TRY(gb_attack_loss(loss, &z, w->ys, w->t ? w->ts : NULL, kappa, w->obj, want_grad ? &w->dl : NULL));
    if (want_grad) GB_TRY(gb_atk_backward(w, w->dl.data, grad));
    return GB_OK;
}

/* EOT (Athalye et al. 2018, sec. 4.2; AutoAttack's "rand" version): against
 * a model that draws randomness on every forward, the gradient and the
 * objective are averaged over w->eot passes, each with fresh draws; the
 * logits (for success) are those of the last pass. */
gb_status gb_atk_eval(gb_atk_work *w, gb_loss_kind loss, float kappa, int want_grad) {
    if (w->n == 0) return GB_OK;
    if (!want_grad || w->eot <= 1) return eval_once(w, loss, kappa, want_grad, w->grad);
    const int64_t nD = w->n * w->D;
    if (!w->eot_buf && !(w->eot_buf = gb_malloc((size_t)(w->N * w->D + w->N) * sizeof(float))))
        return GB_ERR_NOMEM;
    float *g = w->eot_buf, *obj = w->eot_buf + w->N * w->D;
    memset(w->grad, 0, (size_t)nD * sizeof(float));
    memset(obj, 0, (size_t)w->n * sizeof(float));
    for (int e = 0; e < w->eot; e++) {
        GB_TRY(eval_once(w, loss, kappa, 1, g));
        for (int64_t k = 0; k < nD; k++) w->grad[k] += g[k];
        for (int64_t j = 0; j < w->n; j++) obj[j] += w->obj[j];
    }
    const float inv = 1.0f / (float)w->eot;
    for (int64_t k = 0; k < nD; k++) w->grad[k] *= inv;
    for (int64_t j = 0; j < w->n; j++) w->obj[j] = obj[j] * inv;
    return GB_OK;
}

int gb_argmax(const float *z, int64_t K) {
    int best = 0;
    for (int64_t k = 1; k < K; k++)
        if (z[k] > z[best]) best = (int)k;
    return best;
}

int gb_atk_hit(const gb_atk_work *w, int64_t j) {
    int p = gb_argmax(w->logits + j * w->K, w->K);
    return w->t ? p == w->ts[j] : p != w->ys[j];
}
