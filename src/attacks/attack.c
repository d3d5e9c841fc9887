/* attack.c — the attack interface shared by every attack: parameters,
 * input gradients, predictions with confidences, norms and success. */
#include "attacks.h"

#include <math.h>

gb_attack gb_attack_default_params(gb_attack_kind kind) {
    gb_attack a = {0};
    a.kind = kind;
    a.eps = 0.1f;
    a.clip_min = 0;
    a.clip_max = 1;
    return a;
}

static const char *const attack_names[] = {[GB_ATTACK_FGSM] = "fgsm"};

const char *gb_attack_name(gb_attack_kind kind) {
    return kind >= 0 && kind < (int)(sizeof attack_names / sizeof *attack_names) ? attack_names[kind] : "?";
}

gb_status gb_attack_parse(const char *name, gb_attack_kind *kind) {
    for (int k = 0; k < (int)(sizeof attack_names / sizeof *attack_names); k++)
        if (attack_names[k] && strcmp(attack_names[k], name) == 0) {
            *kind = (gb_attack_kind)k;
            return GB_OK;
        }
    return gb_error(GB_ERR_ARG, "unknown attack '%s' (known: fgsm)", name);
}

gb_status gb_input_gradient(gb_model *m, const gb_tensor *x, const int *y, gb_tensor *grad,
                            float *loss) {
    int was_training = m->training;
    gb_model_set_training(m, 0);
    const gb_tensor *logits, *dx;
    gb_tensor *dl = NULL;
    float l = 0;
    gb_status s = gb_model_forward(m, x, &logits);
    if (!s) {
        dl = gb_tensor_new(logits->ndim, logits->shape);
        if (!dl) s = GB_ERR_NOMEM;
    }
    if (!s) s = gb_loss_cross_entropy(logits, y, NULL, 1.0f, &l, dl);
    if (!s) {
        /* The loss is a batch mean: scale back to a sum so each example's
         * gradient is its own, whatever the batch size. */
        float n = (float)x->shape[0];
        for (int64_t i = 0; i < dl->size; i++) dl->data[i] *= n;
        s = gb_model_backward(m, dl, GB_GRAD_INPUT, &dx);
    }
    if (!s) {
        if (!gb_tensor_same_shape(grad, x)) s = gb_tensor_resize(grad, x->ndim, x->shape);
        if (!s) memcpy(grad->data, dx->data, (size_t)x->size * sizeof(float));
    }
    if (!s && loss) *loss = l;
    gb_tensor_free(dl);
    gb_model_set_training(m, was_training);
    return s;
}

gb_status gb_predict(gb_model *m, const gb_tensor *x, int *pred, float *conf) {
    const gb_tensor *logits;
    int was_training = m->training;
    gb_model_set_training(m, 0);
    gb_status s = gb_model_forward(m, x, &logits);
    gb_model_set_training(m, was_training);
    if (s) return s;
    int64_t N = logits->shape[0], K = logits->size / (N ? N : 1);
    for (int64_t b = 0; b < N; b++) {
        const float *z = logits->data + b * K;
        int best = 0;
        for (int64_t k = 1; k < K; k++)
            if (z[k] > z[best]) best = (int)k;
        double sum = 0;
        for (int64_t k = 0; k < K; k++) sum += exp((double)z[k] - z[best]);
        pred[b] = best;
        conf[b] = (float)(1.0 / sum);
    }
    return GB_OK;
}

void gb_attack_result_free(gb_attack_result *r) {
    gb_tensor_free(r->x_adv);
    gb_free(r->clean_pred);
    gb_free(r->adv_pred);
    gb_free(r->clean_conf);
    gb_free(r->adv_conf);
    gb_free(r->linf);
    gb_free(r->l2);
    gb_free(r->success);
    memset(r, 0, sizeof *r);
}

gb_status gb_attack_result_alloc(gb_attack_result *r, const gb_tensor *x) {
    memset(r, 0, sizeof *r);
    size_t n = (size_t)x->shape[0];
    r->n = (int64_t)n;
    r->x_adv = gb_tensor_clone(x);
    r->clean_pred = gb_calloc(n, sizeof(int));
    r->adv_pred = gb_calloc(n, sizeof(int));
    r->success = gb_calloc(n, sizeof(int));
    r->clean_conf = gb_calloc(n, sizeof(float));
    r->adv_conf = gb_calloc(n, sizeof(float));
    r->linf = gb_calloc(n, sizeof(float));
    r->l2 = gb_calloc(n, sizeof(float));
    if (!r->x_adv || !r->clean_pred || !r->adv_pred || !r->success || !r->clean_conf ||
        !r->adv_conf || !r->linf || !r->l2) {
        gb_attack_result_free(r);
        return GB_ERR_NOMEM;
    }
    return GB_OK;
}

gb_status gb_attack_result_finish(gb_attack_result *r, gb_model *m, const gb_tensor *x,
                                  const int *y, const int *target) {
    GB_TRY(gb_predict(m, r->x_adv, r->adv_pred, r->adv_conf));
    int64_t per = x->size / (r->n ? r->n : 1);
    for (int64_t b = 0; b < r->n; b++) {
        double linf = 0, l2 = 0;
        for (int64_t i = 0; i < per; i++) {
            double d = (double)r->x_adv->data[b * per + i] - x->data[b * per + i];
            linf = fmax(linf, fabs(d));
            l2 += d * d;
        }
        r->linf[b] = (float)linf;
        r->l2[b] = (float)sqrt(l2);
        r->success[b] = target ? r->adv_pred[b] == target[b] : r->adv_pred[b] != y[b];
    }
    return GB_OK;
}

static gb_status check_batch(gb_model *m, const gb_tensor *x, const int *y, const int *target) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "attack: images must be (N, C, H, W)");
    int K = gb_model_num_classes(m);
    for (int64_t b = 0; b < x->shape[0]; b++) {
        if (y[b] < 0 || y[b] >= K) return gb_error(GB_ERR_ARG, "attack: label %d outside 0..%d", y[b], K - 1);
        if (target && (target[b] < 0 || target[b] >= K))
            return gb_error(GB_ERR_ARG, "attack: target %d outside 0..%d", target[b], K - 1);
    }
    return GB_OK;
}

gb_status gb_attack_run(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *out) {
    memset(out, 0, sizeof *out);
    if (!(a->clip_min < a->clip_max)) return gb_error(GB_ERR_ARG, "attack: clip_min must be below clip_max");
    if (!(a->eps >= 0) || a->eps > a->clip_max - a->clip_min)
        return gb_error(GB_ERR_ARG, "attack: eps %g outside [0, %g]", a->eps, a->clip_max - a->clip_min);
    GB_TRY(check_batch(m, x, y, target));
    GB_TRY(gb_attack_result_alloc(out, x));
    gb_status s = gb_predict(m, x, out->clean_pred, out->clean_conf);
    if (!s) {
        switch (a->kind) {
        case GB_ATTACK_FGSM: s = gb_attack_fgsm(a, m, x, y, target, out); break;
        default: s = gb_error(GB_ERR_ARG, "attack kind %d unknown", (int)a->kind);
        }
    }
    if (!s) s = gb_attack_result_finish(out, m, x, y, target);
    if (s) gb_attack_result_free(out);
    return s;
}
