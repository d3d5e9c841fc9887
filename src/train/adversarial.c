/* adversarial.c — the inner maximization of adversarial training: the
 * perturbed copy of a minibatch that each defense trains on, found with the
 * model in inference mode (BatchNorm running statistics, no Dropout), in the
 * L-inf ball of radius eps intersected with [0, 1].
 *  - FGSM (Goodfellow et al. 2015, sec. 6): x + eps * sign(grad CE), no start.
 *  - fast (Wong, Rice & Kolter 2020, "Fast is better than free", alg. 3):
 *    delta ~ U(-eps, eps), one signed step of 1.25 * eps, projected.
 *  - PGD-k (Madry et al. 2018, eq. 2): uniform start, k signed steps of
 *    alpha (2.5 * eps / k), projected after each.
 *  - TRADES (Zhang et al. 2019, alg. 1): x' = x + 0.001 * N(0, 1), k signed
 *    steps up the KL(f(x) || f(x')), projected.
 * Step and projection are the attack suite's (gb_norm_step/gb_norm_project). */
#include "train_internal.h"

#include "attacks/attacks.h"

const char *gb_adv_name(gb_adv_kind kind) {
    static const char *const names[] = {"none", "fgsm", "fast", "pgd", "trades"};
    return kind >= 0 && kind <= GB_ADV_TRADES ? names[kind] : "?";
}

gb_status gb_adv_parse(const char *name, gb_adv_kind *kind) {
    for (int k = GB_ADV_NONE; k <= GB_ADV_TRADES; k++)
        if (strcmp(name, gb_adv_name((gb_adv_kind)k)) == 0) {
            *kind = (gb_adv_kind)k;
            return GB_OK;
        }
    return gb_error(GB_ERR_ARG, "unknown adversarial training '%s' (known: none, fgsm, fast, pgd, trades)",
                    name);
}

gb_status gb_adv_examples(gb_model *m, const gb_train_params *p, const gb_tensor *x, const int *y,
                          gb_tensor *xadv, gb_adv_work *w, uint64_t seed, int64_t first) {
    const int64_t n = x->shape[0];
    if (n == 0) return GB_OK; /* a process's empty slice of a data-parallel batch */
    const int64_t D = x->size / n;
    const float eps = p->adv_eps;
    int steps = p->adv_steps > 0 ? p->adv_steps : 7;
    float alpha = p->adv_step_size;
    switch (p->adv) {
    case GB_ADV_FGSM:
        steps = 1;
        if (!(alpha > 0)) alpha = eps;
        break;
    case GB_ADV_FAST:
        steps = 1;
        if (!(alpha > 0)) alpha = 1.25f * eps;
        break;
    default:
        if (!(alpha > 0)) alpha = 2.5f * eps / (float)steps;
        break;
    }
    const int was_training = m->training;
    gb_model_set_training(m, 0);
    const gb_tensor *logits, *dx;
    gb_status s = GB_OK;
    const int64_t K = gb_model_num_classes(m);
    int64_t ls[2] = {n, K};
    if ((s = gb_tensor_resize(w->dl, 2, ls)) || (s = gb_tensor_resize(w->clean, 2, ls))) goto out;
    if (p->adv == GB_ADV_TRADES) {
        if ((s = gb_model_forward(m, x, &logits))) goto out;
        memcpy(w->clean->data, logits->data, (size_t)(n * K) * sizeof(float));
    }
    for (int64_t b = 0; b < n; b++) {
        const float *x0 = x->data + b * D;
        float *xa = xadv->data + b * D;
        gb_rng rng; /* the example's own: the same start whichever process holds it */
        gb_example_rng(&rng, seed, first + b);
        if (p->adv == GB_ADV_FAST || p->adv == GB_ADV_PGD) {
            gb_norm_random_start(GB_NORM_LINF, xa, x0, D, eps, 0, 1, &rng);
        } else if (p->adv == GB_ADV_TRADES) {
            for (int64_t i = 0; i < D; i++) xa[i] = x0[i] + 0.001f * gb_rng_normal(&rng);
            gb_norm_project(GB_NORM_LINF, xa, x0, D, eps, 0, 1, w->scratch);
        } else {
            memcpy(xa, x0, (size_t)D * sizeof(float));
        }
    }
    for (int it = 0; it < steps; it++) {
        if ((s = gb_model_forward(m, xadv, &logits))) break;
        if (p->adv == GB_ADV_TRADES) {
            s = gb_loss_kl(w->clean, logits, NULL, NULL, w->dl); /* climbs through f(x') */
        } else {
            s = gb_loss_cross_entropy(logits, y, NULL, 1.0f, NULL, w->dl);
        }
        if (s || (s = gb_model_backward(m, w->dl, GB_GRAD_INPUT, &dx))) break;
        for (int64_t b = 0; b < n; b++) {
            float *xa = xadv->data + b * D;
            gb_norm_step(GB_NORM_LINF, xa, dx->data + b * D, D, alpha, 0, 1, 0, w->scratch);
            gb_norm_project(GB_NORM_LINF, xa, x->data + b * D, D, eps, 0, 1, w->scratch);
        }
    }
out:
    gb_model_set_training(m, was_training);
    return s;
}
