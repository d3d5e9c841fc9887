/* autoattack.c — the AutoAttack ensemble (Croce & Hein 2020, "Reliable
 * evaluation of adversarial robustness with an ensemble of diverse
 * parameter-free attacks"), with the reference implementation's defaults:
 *   standard: APGD-CE (100 it.), APGD-T (targeted DLR, 9 targets x 100 it.),
 *             FAB-T (9 targets x 100 it.), Square (5000 queries);
 *   plus:     APGD-CE and APGD-DLR with 5 restarts, FAB with 5 restarts,
 *             Square, APGD-T, FAB-T;
 *   rand:     APGD-CE and APGD-DLR, gradients averaged over 20 draws (EOT).
 * Each attack runs only on the examples still robust, so the result is the
 * worst case per example, and the later, costlier attacks see few inputs.
 * Targeted members aim in turn at the classes ranked 2nd, 3rd, ... by the
 * clean logits (the reference's `sort()[1][:, -k]`), through the attacks'
 * own n_target_classes loop, where any misclassification is a success.
 * L1 has no APGD here: PGD-L1 (SLIDE steps) with CE stands in for APGD-CE,
 * followed by FAB-T (L1); there is no L1 APGD-T, APGD-DLR or Square. */
#include "attacks/attacks.h"
#include "blackbox/blackbox.h"

#include <math.h>

gb_autoattack gb_autoattack_default_params(void) {
    gb_autoattack p = {0};
    p.norm = GB_NORM_LINF;
    p.eps = 8.0f / 255;
    p.version = GB_AA_STANDARD;
    p.iters = 100;
    p.n_target_classes = 9;
    p.square_queries = 5000;
    p.eot_iter = 20;
    p.seed = 0;
    p.clip_min = 0;
    p.clip_max = 1;
    return p;
}

static const char *const version_names[] = {"standard", "plus", "rand"};

const char *gb_aa_version_name(gb_aa_version v) {
    return v >= GB_AA_STANDARD && v <= GB_AA_RAND ? version_names[v] : "?";
}

gb_status gb_aa_version_parse(const char *name, gb_aa_version *v) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, version_names[i]) == 0) {
            *v = (gb_aa_version)i;
            return GB_OK;
        }
    return gb_error(GB_ERR_ARG, "unknown AutoAttack version '%s' (known: standard, plus, rand)", name);
}

/* Every member any version may use; a version picks by name. */
static gb_status member(const gb_autoattack *p, const char *name, gb_aa_member *out) {
    gb_aa_member mb;
    memset(&mb, 0, sizeof mb);
    snprintf(mb.name, sizeof mb.name, "%s", name);
    const int l1 = p->norm == GB_NORM_L1;
    const int restarts = p->version == GB_AA_PLUS ? 5 : 1;
    gb_attack *a = &mb.attack;
    if (strcmp(name, "apgd-ce") == 0 || strcmp(name, "apgd-dlr") == 0 || strcmp(name, "apgd-t") == 0) {
        const int targeted = name[5] == 't';
        if (l1 && strcmp(name, "apgd-ce") != 0)
            return gb_error(GB_ERR_ARG, "autoattack: %s has no L1 version here (L1: apgd-ce, fab, fab-t)", name);
        if (l1) {
            *a = gb_attack_default_params(GB_ATTACK_PGD);
            a->random_start = 1;
        } else {
            *a = gb_attack_default_params(GB_ATTACK_APGD);
        }
        a->loss = strcmp(name, "apgd-ce") == 0 ? GB_LOSS_CE : GB_LOSS_DLR;
        a->targeted = targeted;
        a->restarts = targeted ? 1 : restarts;
        a->n_target_classes = targeted ? p->n_target_classes : 0;
        mb.top_targets = a->n_target_classes;
    } else if (strcmp(name, "fab") == 0 || strcmp(name, "fab-t") == 0) {
        *a = gb_attack_default_params(GB_ATTACK_FAB);
        a->targeted = name[3] == '-';
        a->restarts = a->targeted ? 1 : restarts;
        a->n_target_classes = a->targeted ? p->n_target_classes : 0;
        mb.top_targets = a->n_target_classes;
    } else if (strcmp(name, "square") == 0) {
        if (l1) return gb_error(GB_ERR_ARG, "autoattack: square has no L1 version here");
        *a = gb_attack_default_params(GB_ATTACK_SQUARE);
        a->steps = p->square_queries;
    } else {
        return gb_error(GB_ERR_ARG,
                        "autoattack: unknown attack '%s' (known: apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square)",
                        name);
    }
    if (a->kind != GB_ATTACK_SQUARE) a->steps = p->iters;
    if (p->version == GB_AA_RAND && (a->kind == GB_ATTACK_APGD || a->kind == GB_ATTACK_PGD))
        a->eot_samples = p->eot_iter;
    a->norm = p->norm;
    a->eps = p->eps;
    a->clip_min = p->clip_min;
    a->clip_max = p->clip_max;
    *out = mb;
    return GB_OK;
}

gb_status gb_autoattack_plan(const gb_autoattack *p, gb_aa_member *plan, int *count) {
    static const char *const standard[] = {"apgd-ce", "apgd-t", "fab-t", "square"};
    static const char *const standard_l1[] = {"apgd-ce", "fab-t"};
    static const char *const plus[] = {"apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"};
    static const char *const rand[] = {"apgd-ce", "apgd-dlr"};
    if (p->norm != GB_NORM_LINF && p->norm != GB_NORM_L2 && p->norm != GB_NORM_L1)
        return gb_error(GB_ERR_ARG, "autoattack: norm must be linf, l2 or l1 (got %s)", gb_norm_name(p->norm));
    if (!(p->eps > 0) || !isfinite(p->eps)) return gb_error(GB_ERR_ARG, "autoattack: eps must be positive");
    if (p->iters < 1 || p->n_target_classes < 1 || p->square_queries < 1 || p->eot_iter < 1)
        return gb_error(GB_ERR_ARG, "autoattack: iterations, target classes, queries and EOT draws must be >= 1");
    const char *const *names;
    int n;
    switch (p->version) {
    case GB_AA_STANDARD:
        names = p->norm == GB_NORM_L1 ? standard_l1 : standard;
        n = p->norm == GB_NORM_L1 ? 2 : 4;
        break;
    case GB_AA_PLUS: names = plus, n = 6; break;
    case GB_AA_RAND: names = rand, n = 2; break;
    default: return gb_error(GB_ERR_ARG, "autoattack: version %d unknown", (int)p->version);
    }
    static const char *const plus_l1[] = {"apgd-ce", "fab", "fab-t"};
    if (p->version == GB_AA_PLUS && p->norm == GB_NORM_L1) names = plus_l1, n = 3;
    if (p->version == GB_AA_RAND && p->norm == GB_NORM_L1)
        return gb_error(GB_ERR_ARG, "autoattack: the rand version has no L1 ensemble here");
    *count = 0;
    if (!p->attacks) {
        for (int i = 0; i < n; i++) GB_TRY(member(p, names[i], &plan[(*count)++]));
        return GB_OK;
    }
    /* A user's list: any member, in the user's order, each once. */
    const char *s = p->attacks;
    while (*s) {
        size_t len = strcspn(s, ",");
        char name[32];
        if (len == 0 || len >= sizeof name) return gb_error(GB_ERR_ARG, "autoattack: bad attack list '%s'", p->attacks);
        memcpy(name, s, len);
        name[len] = 0;
        if (*count == GB_AA_MAX_ATTACKS) return gb_error(GB_ERR_ARG, "autoattack: at most %d attacks", GB_AA_MAX_ATTACKS);
        for (int i = 0; i < *count; i++)
            if (strcmp(plan[i].name, name) == 0) return gb_error(GB_ERR_ARG, "autoattack: '%s' listed twice", name);
        GB_TRY(member(p, name, &plan[(*count)++]));
        s += len + (s[len] == ',');
    }
    if (*count == 0) return gb_error(GB_ERR_ARG, "autoattack: empty attack list");
    return GB_OK;
}

/* splitmix64: decorrelated seeds from (seed, batch, attack, target round). */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Whether x_adv (D values) is inside the eps ball around x and the box,
 * with the reference's tolerance for float rounding. */
static int inside(const gb_autoattack *p, const float *xa, const float *x, int64_t D, float *linf, float *l2) {
    double mx = 0, s2 = 0, s1 = 0;
    int box = 1;
    for (int64_t k = 0; k < D; k++) {
        double d = (double)xa[k] - x[k];
        mx = fmax(mx, fabs(d));
        s2 += d * d;
        s1 += fabs(d);
        box &= xa[k] >= p->clip_min && xa[k] <= p->clip_max;
    }
    *linf = (float)mx;
    *l2 = (float)sqrt(s2);
    const double n = p->norm == GB_NORM_LINF ? mx : p->norm == GB_NORM_L2 ? sqrt(s2) : s1;
    return box && n <= p->eps * (1 + 1e-5) + 1e-6;
}

gb_status gb_autoattack_run(const gb_autoattack *p, gb_model *m, const gb_tensor *x, const int *y,
                            uint64_t stream, gb_tensor *x_adv, gb_aa_example *ex, gb_aa_stats *stats) {
    gb_aa_member plan[GB_AA_MAX_ATTACKS];
    int count;
    GB_TRY(gb_autoattack_plan(p, plan, &count));
    if (x->ndim != 4 || x_adv->size != x->size) return gb_error(GB_ERR_SHAPE, "autoattack: x and x_adv must be (N,C,H,W) of one size");
    const int64_t N = x->shape[0], D = N ? x->size / N : 0;
    const int K = gb_model_num_classes(m);
    if (K < 2) return gb_error(GB_ERR_ARG, "autoattack: the model must have at least 2 classes");
    memcpy(x_adv->data, x->data, (size_t)x->size * sizeof(float));
    if (N == 0) return GB_OK;
    int was_training = m->training;
    gb_model_set_training(m, 0);

    size_t NN = (size_t)N;
    float *clean_logits = gb_malloc(NN * (size_t)K * sizeof(float));
    int64_t *rows = gb_malloc(NN * sizeof(int64_t));
    int *ys = gb_malloc(NN * sizeof(int));
    gb_tensor *sub = NULL;
    gb_status s = clean_logits && rows && ys ? GB_OK : GB_ERR_NOMEM;
    const gb_tensor *z;
    if (!s) s = gb_model_forward(m, x, &z);
    if (!s && (z->ndim != 2 || z->shape[0] != N || z->shape[1] != K))
        s = gb_error(GB_ERR_SHAPE, "autoattack: the model's output is not (N, %d) logits", K);
    if (!s) {
        memcpy(clean_logits, z->data, NN * (size_t)K * sizeof(float));
        gb_tensor zt = *z;
        zt.data = clean_logits;
        zt.cap = 0;
        float conf[1];
        for (int64_t i = 0; i < N; i++) {
            gb_tensor row = zt;
            row.shape[0] = 1;
            row.size = K;
            row.data = clean_logits + i * K;
            int pred;
            gb_softmax_confidence(&row, 1, conf, &pred);
            ex[i].clean_pred = ex[i].adv_pred = pred;
            ex[i].clean_conf = ex[i].adv_conf = conf[0];
            ex[i].broken_by = pred == y[i] ? -1 : -2;
            ex[i].linf = ex[i].l2 = 0;
        }
    }
    for (int a = 0; a < count && !s; a++) {
        const gb_aa_member *mb = &plan[a];
        double t0 = gb_now();
        /* Targeted members go through the attack's own loop over the top
         * wrong classes (n_target_classes), which counts any
         * misclassification as success and keeps it, as the reference does. */
        int64_t n = 0;
        for (int64_t i = 0; i < N; i++)
            if (ex[i].broken_by == -1) rows[n++] = i;
        if (n == 0) {
            stats[a].time_s += gb_now() - t0;
            continue;
        }
        stats[a].evaluated += n;
        int64_t shape[4] = {n, x->shape[1], x->shape[2], x->shape[3]};
        gb_tensor_free(sub);
        sub = gb_tensor_new(4, shape);
        if (!sub) {
            s = GB_ERR_NOMEM;
            break;
        }
        for (int64_t j = 0; j < n; j++) {
            memcpy(sub->data + j * D, x->data + rows[j] * D, (size_t)D * sizeof(float));
            ys[j] = y[rows[j]];
        }
        gb_attack at = mb->attack;
        /* Seeded by the member's name, not its position, so a member draws
         * the same numbers alone or in any ensemble. */
        uint64_t h = 1469598103934665603ULL;
        for (const char *c = mb->name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ULL;
        at.seed = mix(mix(mix(p->seed) ^ stream) ^ h);
        gb_attack_result res;
        s = gb_attack_run(&at, m, sub, ys, NULL, &res);
        if (s) break;
        if (gb_bb_is_blackbox(at.kind))
            for (int64_t j = 0; j < n; j++) stats[a].queries += res.evals ? res.evals[j] : 0;
        else
            stats[a].grad_evals += res.grad_evals;
        for (int64_t j = 0; j < n; j++) {
            const int64_t i = rows[j];
            const float *xa = res.x_adv->data + j * D;
            float linf, l2;
            if (res.adv_pred[j] == y[i] || !inside(p, xa, x->data + i * D, D, &linf, &l2)) continue;
            memcpy(x_adv->data + i * D, xa, (size_t)D * sizeof(float));
            ex[i].adv_pred = res.adv_pred[j];
            ex[i].adv_conf = res.adv_conf[j];
            ex[i].broken_by = a;
            ex[i].linf = linf;
            ex[i].l2 = l2;
            stats[a].newly_broken++;
        }
        gb_attack_result_free(&res);
        stats[a].time_s += gb_now() - t0;
    }
    gb_tensor_free(sub);
    gb_free(clean_logits);
    gb_free(rows);
    gb_free(ys);
    gb_model_set_training(m, was_training);
    return s;
}

gb_status gb_model_check(gb_model *m, const gb_tensor *x, const int *y, gb_model_checks *out) {
    memset(out, 0, sizeof *out);
    const int64_t N = x->shape[0], D = N ? x->size / N : 0;
    out->n = N;
    if (N == 0) return GB_OK;
    const int K = gb_model_num_classes(m);
    int was_training = m->training;
    gb_model_set_training(m, 0);
    float *first = gb_malloc((size_t)N * (size_t)K * sizeof(float));
    gb_tensor *g = gb_tensor_new(x->ndim, x->shape);
    gb_status s = first && g ? GB_OK : GB_ERR_NOMEM;
    const gb_tensor *z;
    if (!s) s = gb_model_forward(m, x, &z);
    if (!s) {
        memcpy(first, z->data, (size_t)(N * K) * sizeof(float));
        int probs = 1;
        for (int64_t i = 0; i < N && probs; i++) {
            double sum = 0;
            for (int k = 0; k < K; k++) {
                probs &= first[i * K + k] >= 0;
                sum += first[i * K + k];
            }
            probs &= fabs(sum - 1) < 1e-3;
        }
        out->probabilities = probs;
        s = gb_model_forward(m, x, &z);
    }
    if (!s) out->randomized = memcmp(first, z->data, (size_t)(N * K) * sizeof(float)) != 0;
    if (!s) s = gb_input_gradient(m, x, y, g, NULL);
    for (int64_t i = 0; i < N && !s; i++) {
        int zero = 1;
        for (int64_t k = 0; k < D && zero; k++) zero = g->data[i * D + k] == 0;
        out->zero_grad += zero;
    }
    gb_free(first);
    gb_tensor_free(g);
    gb_model_set_training(m, was_training);
    return s;
}
