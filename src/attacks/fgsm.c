/* fgsm.c — the one-step attacks. The Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2015,
 * "Explaining and Harnessing Adversarial Examples", eq. 3):
 *     x_adv = clip(x + eps * sign(grad_x J(theta, x, y)))
 * Targeted variant (Kurakin et al. 2017): step down the loss of the target,
 *     x_adv = clip(x - eps * sign(grad_x J(theta, x, t))).
 * sign(0) = 0: a pixel with no gradient is left alone. */
#include "attacks.h"

gb_status gb_attack_fgsm(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r) {
    gb_tensor *g = gb_tensor_new(x->ndim, x->shape);
    if (!g) return GB_ERR_NOMEM;
    gb_status s = gb_input_gradient(m, x, target ? target : y, g, NULL);
    if (!s) {
        const float step = target ? -a->eps : a->eps;
        float *adv = r->x_adv->data;
        for (int64_t i = 0; i < x->size; i++) {
            float sg = (g->data[i] > 0) - (g->data[i] < 0);
            float v = x->data[i] + step * sg;
            adv[i] = v < a->clip_min ? a->clip_min : (v > a->clip_max ? a->clip_max : v);
        }
        r->grad_evals += x->shape[0];
        for (int64_t b = 0; b < x->shape[0]; b++) r->evals[b] = 1;
    }
    gb_tensor_free(g);
    return s;
}

/* FGM, the L2 variant (Goodfellow et al. 2015 sec. 4; Miyato et al. 2016):
 *     x_adv = clip(x + eps * grad / ||grad||_2)
 * with grad the gradient of the attack's objective (gb_attack_loss), which
 * is already the targeted one when a target is given. */
gb_status gb_attack_fgm(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r) {
    gb_atk_work w;
    GB_TRY(gb_atk_init(&w, m, x, y, target, r));
    w.eot = a->eot_samples;
    gb_status s = gb_atk_eval(&w, a->loss, a->kappa, 1);
    for (int64_t j = 0; j < w.n && !s; j++) {
        float *adv = r->x_adv->data + w.idx[j] * w.D;
        gb_norm_step(GB_NORM_L2, adv, w.grad + j * w.D, w.D, a->eps, a->clip_min, a->clip_max, 0, NULL);
        for (int64_t i = 0; i < w.D; i++)
            adv[i] = adv[i] < a->clip_min ? a->clip_min : (adv[i] > a->clip_max ? a->clip_max : adv[i]);
    }
    gb_atk_free(&w);
    return s;
}
