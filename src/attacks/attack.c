/* attack.c — the attack interface shared by every attack: parameters and
 * their defaults, names, targets, the run entry point, predictions with
 * confidences, norms and success. */
#include "attacks.h"

#include <math.h>

gb_attack gb_attack_default_params(gb_attack_kind kind) {
    gb_attack a = {0};
    a.kind = kind;
    a.eps = 0.1f;
    a.clip_min = 0;
    a.clip_max = 1;
    a.norm = GB_NORM_LINF;
    a.loss = GB_LOSS_CE;
    a.restarts = 1;
    a.momentum = 1.0f;
    a.binary_steps = 9;
    a.initial_const = 1e-3f;
    a.lr = 1e-2f;
    a.abort_early = 1;
    a.overshoot = 0.02f;
    a.theta = 1.0f;
    a.gamma = 0.1f;
    a.sparsity = 0.99f;
    a.seed = 1;
    a.p_init = 0.8f;
    a.basis = GB_BASIS_DCT;
    a.freq_ratio = 0.25f;
    a.sigma = 1e-3f;
    a.samples = 100;
    a.alpha_max = 0.1f;
    a.eta = 1.05f;
    a.beta = 0.9f;
    a.n_target_classes = 9;
    switch (kind) {
    case GB_ATTACK_FGM: a.norm = GB_NORM_L2, a.eps = 1.0f; break;
    case GB_ATTACK_PGD: a.steps = 40, a.random_start = 1; break;
    case GB_ATTACK_MIFGSM: a.steps = 10; break;
    case GB_ATTACK_CW_L2: a.norm = GB_NORM_L2, a.loss = GB_LOSS_CW, a.steps = 10000; break;
    case GB_ATTACK_CW_LINF: a.loss = GB_LOSS_CW, a.steps = 40, a.random_start = 1; break;
    case GB_ATTACK_DEEPFOOL: a.norm = GB_NORM_L2, a.steps = 50; break;
    case GB_ATTACK_JSMA: a.norm = GB_NORM_L0; break;
    case GB_ATTACK_APGD: a.steps = 100, a.momentum = 0.75f; break;
    case GB_ATTACK_SQUARE: a.p_init = 0.8f; break;
    case GB_ATTACK_SIMBA: a.norm = GB_NORM_L2, a.step_size = 0.2f; break;
    case GB_ATTACK_NES: a.step_size = 0.01f; break;
    case GB_ATTACK_FAB: a.steps = 100, a.eps = 0; break;
    case GB_ATTACK_BOUNDARY: a.norm = GB_NORM_L2, a.eps = 0; break;
    case GB_ATTACK_HSJ: a.norm = GB_NORM_L2, a.eps = 0; break;
    default: break;
    }
    return a;
}

static const char *const attack_names[GB_ATTACK_COUNT] = {
    [GB_ATTACK_FGSM] = "fgsm",         [GB_ATTACK_FGM] = "fgm",       [GB_ATTACK_BIM] = "bim",
    [GB_ATTACK_ILL] = "ill",           [GB_ATTACK_PGD] = "pgd",       [GB_ATTACK_MIFGSM] = "mifgsm",
    [GB_ATTACK_CW_L2] = "cw-l2",       [GB_ATTACK_CW_LINF] = "cw-linf", [GB_ATTACK_DEEPFOOL] = "deepfool",
    [GB_ATTACK_JSMA] = "jsma",         [GB_ATTACK_APGD] = "apgd",
    [GB_ATTACK_FAB] = "fab",           [GB_ATTACK_SQUARE] = "square", [GB_ATTACK_SIMBA] = "simba",
    [GB_ATTACK_NES] = "nes",           [GB_ATTACK_BOUNDARY] = "boundary", [GB_ATTACK_HSJ] = "hsj"};
static const char *const norm_names[] = {"linf", "l2", "l1", "l0"};
static const char *const loss_names[] = {"ce", "cw", "dlr"};

#define NAMES_LEN(a) ((int)(sizeof(a) / sizeof *(a)))

const char *gb_attack_name(gb_attack_kind kind) {
    return kind >= 0 && kind < GB_ATTACK_COUNT ? attack_names[kind] : "?";
}
const char *gb_norm_name(gb_norm norm) {
    return norm >= 0 && norm < NAMES_LEN(norm_names) ? norm_names[norm] : "?";
}
const char *gb_loss_name(gb_loss_kind loss) {
    return loss >= 0 && loss < NAMES_LEN(loss_names) ? loss_names[loss] : "?";
}

static int find_name(const char *const *names, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (names[k] && strcmp(names[k], name) == 0) return k;
    return -1;
}

gb_status gb_attack_parse(const char *name, gb_attack_kind *kind) {
    int k = find_name(attack_names, GB_ATTACK_COUNT, name);
    /* Common aliases. */
    if (k < 0 && (strcmp(name, "ifgsm") == 0 || strcmp(name, "i-fgsm") == 0)) k = GB_ATTACK_BIM;
    if (k < 0 && strcmp(name, "cw") == 0) k = GB_ATTACK_CW_L2;
    if (k < 0 && strcmp(name, "mi-fgsm") == 0) k = GB_ATTACK_MIFGSM;
    if (k < 0) {
        char known[256] = "";
        for (int i = 0; i < GB_ATTACK_COUNT; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     attack_names[i]);
        return gb_error(GB_ERR_ARG, "unknown attack '%s' (known: %s)", name, known);
    }
    *kind = (gb_attack_kind)k;
    return GB_OK;
}

gb_status gb_norm_parse(const char *name, gb_norm *norm) {
    int k = find_name(norm_names, NAMES_LEN(norm_names), name);
    if (k < 0) return gb_error(GB_ERR_ARG, "unknown norm '%s' (known: linf, l2, l1, l0)", name);
    *norm = (gb_norm)k;
    return GB_OK;
}

gb_status gb_loss_parse(const char *name, gb_loss_kind *loss) {
    int k = find_name(loss_names, NAMES_LEN(loss_names), name);
    if (k < 0) return gb_error(GB_ERR_ARG, "unknown loss '%s' (known: ce, cw, dlr)", name);
    *loss = (gb_loss_kind)k;
    return GB_OK;
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

gb_status gb_attack_targets(gb_model *m, const gb_tensor *x, const int *y, gb_target_mode mode,
                            int fixed, gb_rng *rng, int *target) {
    const int64_t N = x->shape[0];
    int K = gb_model_num_classes(m);
    if (mode == GB_TARGET_LEAST_LIKELY || K < 2) {
        const gb_tensor *z;
        int was_training = m->training;
        gb_model_set_training(m, 0);
        gb_status s = gb_model_forward(m, x, &z);
        gb_model_set_training(m, was_training);
        if (s) return s;
        K = (int)z->shape[z->ndim - 1];
        if (mode == GB_TARGET_LEAST_LIKELY)
            for (int64_t b = 0; b < N; b++) {
                const float *r = z->data + b * K;
                int lo = 0;
                for (int k = 1; k < K; k++)
                    if (r[k] < r[lo]) lo = k;
                target[b] = lo;
            }
    }
    for (int64_t b = 0; b < N && mode != GB_TARGET_LEAST_LIKELY; b++) {
        switch (mode) {
        case GB_TARGET_NEXT: target[b] = (y[b] + 1) % K; break;
        case GB_TARGET_RANDOM: {
            if (!rng) return gb_error(GB_ERR_ARG, "random targets need an rng");
            int t = (int)gb_rng_below(rng, (uint32_t)(K - 1));
            target[b] = t >= y[b] ? t + 1 : t;
            break;
        }
        case GB_TARGET_FIXED:
            if (fixed < 0 || fixed >= K) return gb_error(GB_ERR_ARG, "target class %d outside 0..%d", fixed, K - 1);
            target[b] = fixed;
            break;
        default: return gb_error(GB_ERR_ARG, "target mode %d unknown", (int)mode);
        }
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
    gb_free(r->l0);
    gb_free(r->evals);
    gb_free(r->target);
    gb_free(r->cw_const);
    memset(r, 0, sizeof *r);
}

gb_status gb_attack_result_alloc(gb_attack_result *r, const gb_tensor *x) {
    memset(r, 0, sizeof *r);
    size_t n = (size_t)x->shape[0], n1 = n ? n : 1;
    r->n = (int64_t)n;
    r->x_adv = gb_tensor_clone(x);
    r->clean_pred = gb_calloc(n1, sizeof(int));
    r->adv_pred = gb_calloc(n1, sizeof(int));
    r->success = gb_calloc(n1, sizeof(int));
    r->clean_conf = gb_calloc(n1, sizeof(float));
    r->adv_conf = gb_calloc(n1, sizeof(float));
    r->linf = gb_calloc(n1, sizeof(float));
    r->l2 = gb_calloc(n1, sizeof(float));
    r->l0 = gb_calloc(n1, sizeof(float));
    r->evals = gb_calloc(n1, sizeof(int64_t));
    r->target = gb_calloc(n1, sizeof(int));
    r->cw_const = gb_calloc(n1, sizeof(float));
    if (!r->x_adv || !r->clean_pred || !r->adv_pred || !r->success || !r->clean_conf ||
        !r->adv_conf || !r->linf || !r->l2 || !r->l0 || !r->evals || !r->target || !r->cw_const) {
        gb_attack_result_free(r);
        return GB_ERR_NOMEM;
    }
    return GB_OK;
}

gb_status gb_attack_result_finish(gb_attack_result *r, gb_model *m, const gb_tensor *x,
                                  const int *y, const int *target) {
    GB_TRY(gb_predict(m, r->x_adv, r->adv_pred, r->adv_conf));
    gb_attack_result_norms(r, x, y, target);
    return GB_OK;
}

void gb_attack_result_norms(gb_attack_result *r, const gb_tensor *x, const int *y, const int *target) {
    int64_t per = x->size / (r->n ? r->n : 1);
    for (int64_t b = 0; b < r->n; b++) {
        double linf = 0, l2 = 0, l0 = 0;
        for (int64_t i = 0; i < per; i++) {
            double d = (double)r->x_adv->data[b * per + i] - x->data[b * per + i];
            linf = fmax(linf, fabs(d));
            l2 += d * d;
            l0 += d != 0;
        }
        r->linf[b] = (float)linf;
        r->l2[b] = (float)sqrt(l2);
        r->l0[b] = (float)l0;
        r->target[b] = target ? target[b] : -1;
        r->success[b] = target ? r->adv_pred[b] == target[b] : r->adv_pred[b] != y[b];
    }
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

gb_status gb_attack_check_params(const gb_attack *a) {
    const float range = a->clip_max - a->clip_min;
    if (!(a->clip_min < a->clip_max)) return gb_error(GB_ERR_ARG, "attack: clip_min must be below clip_max");
    if (a->kind < 0 || a->kind >= GB_ATTACK_COUNT) return gb_error(GB_ERR_ARG, "attack kind %d unknown", (int)a->kind);
    if (!(a->eps >= 0) || !isfinite(a->eps) || (a->norm == GB_NORM_LINF && a->eps > range))
        return gb_error(GB_ERR_ARG, "attack: eps %g outside [0, %g]", a->eps,
                        a->norm == GB_NORM_LINF ? range : INFINITY);
    if (a->norm < 0 || a->norm > GB_NORM_L0) return gb_error(GB_ERR_ARG, "attack: norm %d unknown", (int)a->norm);
    if (a->loss < 0 || a->loss > GB_LOSS_DLR) return gb_error(GB_ERR_ARG, "attack: loss %d unknown", (int)a->loss);
    if (a->kind == GB_ATTACK_PGD && a->norm == GB_NORM_L0)
        return gb_error(GB_ERR_ARG, "pgd: norm must be linf, l2 or l1");
    if (a->steps < 0 || a->restarts < 0 || a->binary_steps < 0 || !(a->step_size >= 0))
        return gb_error(GB_ERR_ARG, "attack: steps, restarts, binary steps and step size must not be negative");
    if (!(a->sparsity >= 0 && a->sparsity <= 1)) return gb_error(GB_ERR_ARG, "attack: sparsity %g outside [0, 1]", a->sparsity);
    if (!(a->gamma >= 0 && a->gamma <= 1)) return gb_error(GB_ERR_ARG, "jsma: gamma %g outside [0, 1]", a->gamma);
    if (!(a->lr > 0) && a->kind == GB_ATTACK_CW_L2) return gb_error(GB_ERR_ARG, "cw-l2: learning rate must be positive");
    if (!(a->kappa >= 0)) return gb_error(GB_ERR_ARG, "attack: kappa must not be negative");
    if (!(a->di_prob >= 0 && a->di_prob <= 1)) return gb_error(GB_ERR_ARG, "attack: di_prob %g outside [0, 1]", a->di_prob);
    if (a->ti_kernel < 0 || a->ti_kernel > GB_TI_MAX_KERNEL)
        return gb_error(GB_ERR_ARG, "attack: ti_kernel %d outside 0..%d", a->ti_kernel, GB_TI_MAX_KERNEL);
    if (a->kind == GB_ATTACK_FAB && (!(a->alpha_max >= 0 && a->alpha_max <= 1) || !(a->eta >= 1 && a->eta <= 10) ||
                                     !(a->beta > 0 && a->beta <= 1) || a->n_target_classes < 0))
        return gb_error(GB_ERR_ARG, "fab: need alpha_max in [0, 1], eta in [1, 10], beta in (0, 1] and "
                                    "n_target_classes >= 0");
    return GB_OK;
}

static const gb_attack_fn attack_fns[GB_ATTACK_COUNT] = {
    [GB_ATTACK_FGSM] = gb_attack_fgsm,          [GB_ATTACK_FGM] = gb_attack_fgm,
    [GB_ATTACK_BIM] = gb_attack_iterative,      [GB_ATTACK_ILL] = gb_attack_iterative,
    [GB_ATTACK_PGD] = gb_attack_iterative,      [GB_ATTACK_MIFGSM] = gb_attack_iterative,
    [GB_ATTACK_CW_L2] = gb_attack_cw_l2,        [GB_ATTACK_CW_LINF] = gb_attack_iterative,
    [GB_ATTACK_DEEPFOOL] = gb_attack_deepfool,  [GB_ATTACK_JSMA] = gb_attack_jsma,
    [GB_ATTACK_APGD] = gb_attack_apgd,
    [GB_ATTACK_FAB] = gb_attack_fab,            [GB_ATTACK_SQUARE] = gb_attack_square,
    [GB_ATTACK_SIMBA] = gb_attack_simba,        [GB_ATTACK_NES] = gb_attack_nes,
    [GB_ATTACK_BOUNDARY] = gb_attack_boundary,  [GB_ATTACK_HSJ] = gb_attack_hsj};

gb_status gb_attack_run(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *out) {
    memset(out, 0, sizeof *out);
    GB_TRY(gb_attack_check_params(a));
    GB_TRY(check_batch(m, x, y, target));
    GB_TRY(gb_attack_result_alloc(out, x));
    int was_training = m->training;
    gb_model_set_training(m, 0);
    int *ll = NULL;
    gb_status s = gb_predict(m, x, out->clean_pred, out->clean_conf);
    if (!s && a->kind == GB_ATTACK_ILL && !target) {
        ll = gb_malloc((size_t)GB_MAX(x->shape[0], 1) * sizeof(int));
        s = ll ? gb_attack_targets(m, x, y, GB_TARGET_LEAST_LIKELY, 0, NULL, ll) : GB_ERR_NOMEM;
        target = ll;
    }
    if (!s) s = attack_fns[a->kind](a, m, x, y, target, out);
    if (!s) s = gb_attack_result_finish(out, m, x, y, target);
    gb_model_set_training(m, was_training);
    gb_free(ll);
    if (s) gb_attack_result_free(out);
    return s;
}
