/* losses.c — the objectives gradient attacks climb, forward and backward on
 * the logits side by side (d value / d logits), one row per example:
 *  - cross-entropy (untargeted: CE(z, y); targeted: -CE(z, t));
 *  - the Carlini-Wagner margin f6 (Carlini & Wagner 2017, sec. V-A, with
 *    confidence kappa), as a value to maximize: min(margin, kappa);
 *  - the difference of logits ratio (Croce & Hein 2020, eq. 6) and its
 *    targeted form (eq. 7), invariant to shifting and scaling the logits.
 * Values at kinks (ties in a max or in the sort) take one side's gradient. */
#include "attacks.h"

#include <math.h>

static int argmax_except(const float *z, int64_t K, int skip) {
    int best = -1;
    for (int k = 0; k < K; k++)
        if (k != skip && (best < 0 || z[k] > z[best])) best = k;
    return best;
}

/* The four largest logits' classes, in decreasing order. */
static void top4(const float *z, int64_t K, int pi[4]) {
    for (int r = 0; r < 4; r++) pi[r] = -1;
    for (int k = 0; k < K; k++) {
        int pos = 4;
        while (pos > 0 && (pi[pos - 1] < 0 || z[k] > z[pi[pos - 1]])) pos--;
        if (pos >= 4) continue;
        for (int r = 3; r > pos; r--) pi[r] = pi[r - 1];
        pi[pos] = k;
    }
}

gb_status gb_attack_loss(gb_loss_kind loss, const gb_tensor *logits, const int *y,
                         const int *target, float kappa, float *value, gb_tensor *dlogits) {
    if (logits->ndim != 2) return gb_error(GB_ERR_SHAPE, "attack loss: logits must be (N, K)");
    const int64_t N = logits->shape[0], K = logits->shape[1];
    int need = loss == GB_LOSS_DLR ? (target ? 4 : 3) : 2;
    if (K < need)
        return gb_error(GB_ERR_ARG, "attack loss %s needs at least %d classes (model has %lld)",
                        gb_loss_name(loss), need, (long long)K);
    if (dlogits && !gb_tensor_same_shape(dlogits, logits))
        GB_TRY(gb_tensor_resize(dlogits, 2, logits->shape));
    for (int64_t b = 0; b < N; b++) {
        const float *z = logits->data + b * K;
        float *d = dlogits ? dlogits->data + b * K : NULL;
        if (d) memset(d, 0, (size_t)K * sizeof *d);
        const int yb = y[b], tb = target ? target[b] : -1;
        double v = 0;
        switch (loss) {
        case GB_LOSS_CE: {
            const int c = target ? tb : yb;
            const double sgn = target ? -1 : 1;
            double mx = z[0], sum = 0;
            for (int64_t k = 1; k < K; k++) mx = fmax(mx, z[k]);
            for (int64_t k = 0; k < K; k++) sum += exp(z[k] - mx);
            v = sgn * (mx + log(sum) - z[c]);
            if (d) {
                /* d/dz_c = p_c - 1 = -(sum of the other classes' p): summed
                 * directly, since on a confident example 1 - p_c is below
                 * float resolution and p_c - 1 in float would lose the
                 * true-class term (FGSM-style sign steps then go astray). */
                double rest = 0;
                for (int64_t k = 0; k < K; k++)
                    if (k != c) rest += exp(z[k] - mx);
                for (int64_t k = 0; k < K; k++) d[k] = (float)(sgn * exp(z[k] - mx) / sum);
                d[c] = (float)(-sgn * rest / sum);
            }
            break;
        }
        case GB_LOSS_CW: {
            const int c = target ? tb : yb, o = argmax_except(z, K, c);
            const double margin = target ? (double)z[c] - z[o] : (double)z[o] - z[c];
            v = fmin(margin, kappa);
            if (d && margin < kappa) {
                d[o] += target ? -1.0f : 1.0f;
                d[c] += target ? 1.0f : -1.0f;
            }
            break;
        }
        case GB_LOSS_DLR: {
            int pi[4];
            top4(z, K, pi);
            if (!target) {
                const int o = pi[0] == yb ? pi[1] : pi[0];
                const double num = (double)z[yb] - z[o], den = (double)z[pi[0]] - z[pi[2]] + 1e-12;
                v = -num / den;
                if (d) {
                    d[yb] += (float)(-1 / den);
                    d[o] += (float)(1 / den);
                    d[pi[0]] += (float)(num / (den * den));
                    d[pi[2]] -= (float)(num / (den * den));
                }
            } else {
                const double num = (double)z[yb] - z[tb];
                const double den = (double)z[pi[0]] - 0.5 * ((double)z[pi[2]] + z[pi[3]]) + 1e-12;
                v = -num / den;
                if (d) {
                    d[yb] += (float)(-1 / den);
                    d[tb] += (float)(1 / den);
                    d[pi[0]] += (float)(num / (den * den));
                    d[pi[2]] -= (float)(0.5 * num / (den * den));
                    d[pi[3]] -= (float)(0.5 * num / (den * den));
                }
            }
            break;
        }
        default: return gb_error(GB_ERR_ARG, "attack loss %d unknown", (int)loss);
        }
        if (value) value[b] = (float)v;
    }
    return GB_OK;
}
