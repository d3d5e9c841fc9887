/* fgsm.c — the Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2015,
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
        r->grad_evals += 1;
    }
    gb_tensor_free(g);
    return s;
}
