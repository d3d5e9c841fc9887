/* optim.c — optimizers and learning-rate schedules.
 *
 * SGD with momentum (PyTorch's form): v = mu v + (g + wd w); w -= lr v.
 * Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov &
 * Hutter 2019): w -= lr (m_hat / (sqrt(v_hat) + eps) + wd w).
 * Weight decay applies to weights only (gb_param.decay), not biases or
 * BatchNorm parameters.
 */
#include "train_internal.h"

#include <math.h>

gb_status gb_optim_init(gb_optim *o, gb_model *m, const gb_train_params *p) {
    memset(o, 0, sizeof *o);
    o->p = *p;
    o->nparams = gb_model_num_params(m);
    int nbuf = p->optimizer == GB_OPT_ADAM ? 2 : 1;
    o->state = gb_calloc((size_t)o->nparams * nbuf, sizeof *o->state);
    if (!o->state) return GB_ERR_NOMEM;
    for (int i = 0; i < o->nparams; i++)
        for (int k = 0; k < nbuf; k++) {
            int64_t n = gb_model_param(m, i).size;
            o->state[i * nbuf + k] = gb_calloc((size_t)n, sizeof(float));
            if (!o->state[i * nbuf + k]) return GB_ERR_NOMEM;
        }
    o->nbuf = nbuf;
    return GB_OK;
}

void gb_optim_free(gb_optim *o) {
    if (o->state)
        for (int i = 0; i < o->nparams * o->nbuf; i++) gb_free(o->state[i]);
    gb_free(o->state);
    memset(o, 0, sizeof *o);
}

float gb_schedule_lr(const gb_train_params *p, int epoch, double frac) {
    double t = epoch + frac; /* epochs elapsed, fractional */
    double lr = p->lr;
    if (p->warmup_epochs > 0 && t < p->warmup_epochs) return (float)(lr * (t + 1e-3) / p->warmup_epochs);
    switch (p->schedule) {
    case GB_SCHED_CONSTANT: break;
    case GB_SCHED_STEP:
        if (p->step_every > 0) lr *= pow(p->step_gamma, epoch / p->step_every);
        break;
    case GB_SCHED_COSINE: {
        double span = p->epochs - p->warmup_epochs;
        double u = span > 0 ? (t - p->warmup_epochs) / span : 1;
        lr *= 0.5 * (1 + cos(3.14159265358979 * (u < 1 ? u : 1)));
        break;
    }
    }
    return (float)lr;
}

void gb_optim_step(gb_optim *o, gb_model *m, float lr) {
    const gb_train_params *p = &o->p;
    o->t++;
    double bc1 = 1 - pow(p->beta1, (double)o->t), bc2 = 1 - pow(p->beta2, (double)o->t);
    for (int i = 0; i < o->nparams; i++) {
        gb_param prm = gb_model_param(m, i);
        float *w = prm.data;
        const float *g = prm.grad;
        float wd = prm.decay ? p->weight_decay : 0;
        if (p->optimizer == GB_OPT_SGD) {
            float *v = o->state[i], mu = p->momentum;
#pragma omp parallel for schedule(static) if (prm.size > 32768)
            for (int64_t k = 0; k < prm.size; k++) {
                v[k] = mu * v[k] + g[k] + wd * w[k];
                w[k] -= lr * v[k];
            }
        } else {
            float *mm = o->state[2 * i], *vv = o->state[2 * i + 1];
            float b1 = p->beta1, b2 = p->beta2, eps = p->adam_eps;
            float s1 = (float)(1 / bc1), s2 = (float)(1 / bc2);
#pragma omp parallel for schedule(static) if (prm.size > 32768)
            for (int64_t k = 0; k < prm.size; k++) {
                mm[k] = b1 * mm[k] + (1 - b1) * g[k];
                vv[k] = b2 * vv[k] + (1 - b2) * g[k] * g[k];
                w[k] -= lr * (mm[k] * s1 / (sqrtf(vv[k] * s2) + eps) + wd * w[k]);
            }
        }
    }
}
