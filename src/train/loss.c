/* loss.c — softmax cross-entropy at temperature T, the loss for training,
 * distillation and gradient attacks, and the KL divergence of TRADES.
 *
 * For logits z (N,K), targets t (N,K) (one-hot rows for hard labels) and
 * p = softmax(z / T):
 *   L = (1/N) sum_n  -sum_k t_nk log p_nk
 *     = (1/N) sum_n  [ S_n lse(z_n / T) - sum_k t_nk z_nk / T ],   S_n = sum_k t_nk
 *   dL/dz_nk = (p_nk S_n - t_nk) / (T N)
 * which is the familiar (softmax(z/T) - target) / (T N) for targets that sum
 * to 1 (the exact form is used so the gradient matches the value even for
 * unnormalized soft rows). lse is computed as m + log sum e^(z/T - m) with
 * m = max z/T, so huge logits stay finite.
 *
 * The gradient of softened targets shrinks as 1/T^2 relative to T = 1
 * (p - t itself scales as 1/T). Hinton, Vinyals and Dean (2015), section 2,
 * multiply by T^2 when mixing soft and hard losses; defensive distillation
 * (train.c) trains on the soft loss alone, defined at T, as Papernot et al.
 * (2016) do, and leaves it unscaled.
 */
#include "internal.h"

#include <math.h>

/* dlogits may be a borrowed view of exactly the logits' shape, or an owned
 * (or empty, zero-initialised) tensor, which is resized to it. */
static gb_status prepare_grad(const gb_tensor *logits, gb_tensor *dlogits) {
    if (gb_tensor_same_shape(dlogits, logits) && dlogits->data) return GB_OK;
    if (dlogits->cap == 0 && dlogits->data) {
        char a[128], b[128];
        return gb_error(GB_ERR_ARG, "cross-entropy: gradient tensor %s does not match logits %s",
                        gb_shape_str(dlogits->ndim, dlogits->shape, a, sizeof a),
                        gb_shape_str(logits->ndim, logits->shape, b, sizeof b));
    }
    return gb_tensor_resize(dlogits, logits->ndim, logits->shape);
}

gb_status gb_loss_cross_entropy(const gb_tensor *logits, const int *labels, const gb_tensor *soft,
                                float temperature, float *loss, gb_tensor *dlogits) {
    char a[128], b[128];
    if (!logits || logits->ndim != 2)
        return gb_error(GB_ERR_ARG, "cross-entropy: logits must be (N, K), got %s",
                        logits ? gb_shape_str(logits->ndim, logits->shape, a, sizeof a) : "NULL");
    const int64_t N = logits->shape[0], K = logits->shape[1];
    if (N < 1 || K < 1)
        return gb_error(GB_ERR_ARG, "cross-entropy: empty logits %s",
                        gb_shape_str(logits->ndim, logits->shape, a, sizeof a));
    if (!(temperature > 0) || !isfinite(temperature))
        return gb_error(GB_ERR_ARG, "cross-entropy: temperature must be a positive number, got %g",
                        (double)temperature);
    if (!labels == !soft)
        return gb_error(GB_ERR_ARG, "cross-entropy: give exactly one of hard labels and soft targets");
    if (soft && !gb_tensor_same_shape(soft, logits))
        return gb_error(GB_ERR_ARG, "cross-entropy: soft targets %s do not match logits %s",
                        gb_shape_str(soft->ndim, soft->shape, a, sizeof a),
                        gb_shape_str(logits->ndim, logits->shape, b, sizeof b));
    if (labels)
        for (int64_t n = 0; n < N; n++)
            if (labels[n] < 0 || labels[n] >= K)
                return gb_error(GB_ERR_ARG, "cross-entropy: label %d of example %lld is outside [0, %lld)",
                                labels[n], (long long)n, (long long)K);
    if (dlogits) GB_TRY(prepare_grad(logits, dlogits));

    const double invT = 1.0 / temperature, scale = 1.0 / ((double)temperature * (double)N);
    double total = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits->data + n * K;              // (K)
        const float *t = soft ? soft->data + n * K : NULL;  // (K) or one-hot labels[n]
        double m = -INFINITY;
        for (int64_t k = 0; k < K; k++) m = GB_MAX(m, z[k] * invT);
        double sum = 0;
        for (int64_t k = 0; k < K; k++) sum += exp(z[k] * invT - m);
        const double lse = m + log(sum);
        double S = 1, tz = 0;
        if (t) {
            S = 0;
            for (int64_t k = 0; k < K; k++) {
                S += t[k];
                if (t[k] != 0) tz += t[k] * (z[k] * invT); /* 0 * -inf logits must not give NaN */
            }
        } else {
            tz = z[labels[n]] * invT;
        }
        total += S * lse - tz;
        if (dlogits) {
            float *g = dlogits->data + n * K;
            for (int64_t k = 0; k < K; k++) {
                double p = exp(z[k] * invT - lse);
                double tk = t ? t[k] : (k == labels[n]);
                g[k] = (float)((p * S - tk) * scale);
            }
        }
    }
    if (loss) *loss = (float)(total / (double)N);
    return GB_OK;
}

/* KL(p || q) with p = softmax(P), q = softmax(Q), r = log p - log q:
 *   KL = sum_k p_k r_k
 *   d KL / d Q_j = q_j - p_j
 *   d KL / d P_j = p_j (r_j - KL)   (the sum_k p_k d log p_k / d P_j term is 0)
 * each divided by N for the batch mean (Zhang et al. 2019, TRADES, eq. 5). */
gb_status gb_loss_kl(const gb_tensor *p, const gb_tensor *q, float *loss, gb_tensor *dp,
                     gb_tensor *dq) {
    char a[128], b[128];
    if (!p || !q || p->ndim != 2 || !gb_tensor_same_shape(p, q) || p->shape[0] < 1 || p->shape[1] < 1)
        return gb_error(GB_ERR_ARG, "KL divergence: logits must be two equal non-empty (N, K), got %s and %s",
                        p ? gb_shape_str(p->ndim, p->shape, a, sizeof a) : "NULL",
                        q ? gb_shape_str(q->ndim, q->shape, b, sizeof b) : "NULL");
    if (dp) GB_TRY(prepare_grad(p, dp));
    if (dq) GB_TRY(prepare_grad(q, dq));
    const int64_t N = p->shape[0], K = p->shape[1];
    double total = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *zp = p->data + n * K, *zq = q->data + n * K; // (K), (K)
        double mp = -INFINITY, mq = -INFINITY, sp = 0, sq = 0;
        for (int64_t k = 0; k < K; k++) {
            mp = GB_MAX(mp, zp[k]);
            mq = GB_MAX(mq, zq[k]);
        }
        for (int64_t k = 0; k < K; k++) {
            sp += exp(zp[k] - mp);
            sq += exp(zq[k] - mq);
        }
        const double lp = mp + log(sp), lq = mq + log(sq);
        double kl = 0;
        for (int64_t k = 0; k < K; k++) {
            double pk = exp(zp[k] - lp);
            kl += pk * ((zp[k] - lp) - (zq[k] - lq));
        }
        total += kl;
        for (int64_t k = 0; k < K; k++) {
            double pk = exp(zp[k] - lp), qk = exp(zq[k] - lq);
            double r = (zp[k] - lp) - (zq[k] - lq);
            if (dp) dp->data[n * K + k] = (float)(pk * (r - kl) / (double)N);
            if (dq) dq->data[n * K + k] = (float)((qk - pk) / (double)N);
        }
    }
    if (loss) *loss = (float)(total / (double)N);
    return GB_OK;
}
