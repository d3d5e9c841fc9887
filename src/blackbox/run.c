/* run.c — running a black-box attack over an oracle: parameters, the clean
 * query, per-example query accounting, the per-kind table, and the bridge
 * from gb_attack_run (a model) to the same code (the model wrapped in an
 * oracle, so white-box callers and query-only targets share one path). */
#include "blackbox/blackbox.h"

#include <math.h>

typedef gb_status (*gb_bb_fn)(gb_bb *q);

static const struct {
    gb_attack_kind kind;
    gb_bb_fn fn;
    gb_oracle_answer needs;
    int64_t default_budget; /* queries per example when a->steps is 0 */
} bb_table[] = {
    {GB_ATTACK_SQUARE, gb_bb_square, GB_ORACLE_SCORES, 5000},
    {GB_ATTACK_SIMBA, gb_bb_simba, GB_ORACLE_SCORES, 10000},
    {GB_ATTACK_NES, gb_bb_nes, GB_ORACLE_SCORES, 10000},
    {GB_ATTACK_BOUNDARY, gb_bb_boundary, GB_ORACLE_LABELS, 5000},
    {GB_ATTACK_HSJ, gb_bb_hsj, GB_ORACLE_LABELS, 5000},
};
#define BB_KINDS ((int)(sizeof bb_table / sizeof bb_table[0]))

static int bb_find(gb_attack_kind kind) {
    for (int i = 0; i < BB_KINDS; i++)
        if (bb_table[i].kind == kind) return i;
    return -1;
}

int gb_bb_is_blackbox(gb_attack_kind kind) { return bb_find(kind) >= 0; }

int64_t gb_bb_left(const gb_bb *q, int64_t i) { return GB_MAX(q->budget - q->r->evals[i], 0); }

int gb_bb_hit(const gb_bb *q, int64_t i, int pred) { return q->t ? pred == q->t[i] : pred != q->y[i]; }

void gb_bb_set_answer(gb_bb *q, int64_t i, const float *logp, int label) {
    q->r->adv_pred[i] = label;
    q->r->adv_conf[i] = logp ? expf(logp[label]) : 0;
}

gb_status gb_bb_query(gb_bb *q, const float *xb, int64_t n, const int64_t *idx, float *logp,
                      int *labels) {
    if (n == 0) return GB_OK;
    gb_tensor t = {0};
    t.ndim = 4;
    t.shape[0] = n, t.shape[1] = q->C, t.shape[2] = q->H, t.shape[3] = q->W;
    t.size = n * q->D;
    t.data = (float *)xb; /* borrowed view, never written */
    gb_tensor p = {0};
    gb_status s = gb_oracle_ask(q->o, &t, logp ? &p : NULL, 1, labels);
    if (!s && logp) {
        if (p.shape[1] != q->K)
            s = gb_error(GB_ERR_FORMAT, "oracle: %lld classes in an answer, %d before", (long long)p.shape[1], q->K);
        else
            memcpy(logp, p.data, (size_t)(n * q->K) * sizeof(float));
    }
    gb_tensor_release(&p);
    if (!s)
        for (int64_t j = 0; j < n; j++) q->r->evals[idx[j]]++;
    return s;
}

gb_status gb_bb_run(const gb_attack *a, gb_oracle *o, const gb_tensor *x, const int *y,
                    const int *target, gb_attack_result *r) {
    int k = bb_find(a->kind);
    if (k < 0) return gb_error(GB_ERR_ARG, "%s is not a black-box attack", gb_attack_name(a->kind));
    if (bb_table[k].needs == GB_ORACLE_SCORES && gb_oracle_answer_kind(o) != GB_ORACLE_SCORES)
        return gb_error(GB_ERR_ARG, "%s needs scores, but the oracle answers labels only", gb_attack_name(a->kind));
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "attack: images must be (N, C, H, W)");
    gb_bb q = {0};
    q.a = a;
    q.o = o;
    q.N = x->shape[0], q.C = x->shape[1], q.H = x->shape[2], q.W = x->shape[3];
    q.D = q.C * q.H * q.W;
    q.x0 = x->data;
    q.y = y, q.t = target;
    q.r = r;
    q.budget = a->steps > 0 ? a->steps : bb_table[k].default_budget;
    for (int64_t i = 0; i < q.N; i++) {
        r->adv_pred[i] = r->clean_pred[i] = -1;
        r->evals[i] = 0;
    }
    r->grad_evals = 0;
    /* The clean images, one query each; a program oracle tells K here. */
    gb_tensor P = {0};
    const int scores = bb_table[k].needs == GB_ORACLE_SCORES;
    gb_status s = gb_oracle_ask(o, x, scores ? &P : NULL, 1, r->clean_pred);
    for (int64_t i = 0; i < q.N && !s; i++) r->evals[i]++;
    q.K = scores && P.ndim == 2 ? (int)P.shape[1] : gb_oracle_num_classes(o);
    const float *p0 = q.p0 = scores ? P.data : NULL;
    for (int64_t i = 0; i < q.N && !s; i++) {
        if (y[i] < 0 || (q.K && y[i] >= q.K))
            s = gb_error(GB_ERR_ARG, "attack: label %d outside 0..%d", y[i], q.K - 1);
        else if (target && (target[i] < 0 || (q.K && target[i] >= q.K)))
            s = gb_error(GB_ERR_ARG, "attack: target %d outside 0..%d", target[i], q.K - 1);
        if (!s) gb_bb_set_answer(&q, i, p0 ? p0 + i * q.K : NULL, r->clean_pred[i]);
        if (!s) r->clean_conf[i] = r->adv_conf[i];
    }
    if (!s) s = bb_table[k].fn(&q);
    for (int64_t i = 0; i < q.N; i++) r->grad_evals += r->evals[i];
    if (!s || s == GB_ERR_BUDGET) gb_attack_result_norms(r, x, y, target);
    gb_tensor_release(&P);
    return s;
}

gb_status gb_attack_run_oracle(const gb_attack *a, gb_oracle *o, const gb_tensor *x, const int *y,
                               const int *target, gb_attack_result *out) {
    memset(out, 0, sizeof *out);
    GB_TRY(gb_attack_check_params(a));
    if (bb_find(a->kind) < 0)
        return gb_error(GB_ERR_ARG, "%s needs gradients: an oracle can run square, simba, nes, boundary or hsj",
                        gb_attack_name(a->kind));
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "attack: images must be (N, C, H, W)");
    GB_TRY(gb_attack_result_alloc(out, x));
    gb_status s = gb_bb_run(a, o, x, y, target, out);
    if (s && s != GB_ERR_BUDGET) gb_attack_result_free(out);
    return s;
}

gb_status gb_bb_on_model(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r) {
    int k = bb_find(a->kind);
    if (k < 0) return gb_error(GB_ERR_ARG, "%s is not a black-box attack", gb_attack_name(a->kind));
    gb_oracle *o;
    GB_TRY(gb_oracle_from_model(m, bb_table[k].needs, &o));
    /* gb_attack_run has predicted the clean images with the model already;
     * the attack's own clean query gives the same answer. */
    gb_status s = gb_bb_run(a, o, x, y, target, r);
    gb_oracle_free(o);
    return s;
}

gb_status gb_attack_square(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                           const int *target, gb_attack_result *r) {
    return gb_bb_on_model(a, m, x, y, target, r);
}
gb_status gb_attack_simba(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                          const int *target, gb_attack_result *r) {
    return gb_bb_on_model(a, m, x, y, target, r);
}
gb_status gb_attack_nes(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r) {
    return gb_bb_on_model(a, m, x, y, target, r);
}
