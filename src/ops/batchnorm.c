/* batchnorm.c — ONNX BatchNormalization (opset 13) over (N, C, ...) tensors,
 * forward and backward in both modes (Ioffe & Szegedy, "Batch
 * Normalization", 2015, Algorithm 1 and section 3).
 *
 * Inputs: X, scale (C), B (C), input_mean (C), input_var (C); the last two are
 * the running statistics, normally constants. The mode comes from the
 * executor (ex->training), not from the training_mode attribute:
 *  - inference: y = scale * (x - mean) * invstd + B with invstd =
 *    1/sqrt(var + epsilon) from the running statistics: a per-channel affine
 *    map, so backward is too (gradients for mean and var are given as well in
 *    case a model makes them trainable);
 *  - training: mean and the biased variance of the batch (over N and the
 *    spatial dimensions) normalise, and the running statistics are updated in
 *    place as PyTorch does: running = momentum * running + (1 - momentum) *
 *    batch, with the unbiased variance (ONNX's momentum is PyTorch's
 *    1 - momentum). The batch mean and invstd stay in scratch for backward:
 *        dx = scale * invstd / m * (m dy - sum(dy) - xhat sum(dy xhat))
 *    with xhat = (x - mean) * invstd and m = N * spatial values per channel.
 * Optional outputs 2 and 3 (running mean and var) receive the running
 * statistics after the update; they carry no gradient.
 *
 * Channels are independent: they are split across threads, so every output
 * and gradient element has one writer. Sums run in double.
 *
 * Sync BatchNorm (data-parallel training: n->dist->comm set): each process
 * holds a slice of the global batch, and the statistics must be the global
 * batch's. Forward sums sum(x) with the value count, then sum((x - mean)^2)
 * around the global mean, over processes (the same two passes, two
 * allreduces of C + 1 and C floats); backward sums the two reductions
 * sum(dy) and sum(dy xhat) (one allreduce of 2C) before forming dx, while
 * dscale and dB keep the local sums (the parameter gradients are summed
 * over processes afterwards). The global count m stays in scratch 1.
 */
#include "internal.h"

#include <math.h>

static gb_status bn_init(gb_node *n) {
    GB_TRY(gb_attr_float(n, "epsilon", 1e-5f, &n->p.epsilon));
    GB_TRY(gb_attr_float(n, "momentum", 0.9f, &n->p.momentum));
    if (!(n->p.epsilon >= 0) || !(n->p.momentum >= 0 && n->p.momentum <= 1))
        return gb_error(GB_ERR_FORMAT,
                        "node '%s' (BatchNormalization): epsilon %g must be >= 0 and momentum %g "
                        "within [0, 1]",
                        n->name, n->p.epsilon, n->p.momentum);
    return GB_OK;
}

static gb_status bn_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    static const char *names[5] = {"X", "scale", "B", "input_mean", "input_var"};
    for (int k = 0; k < 5; k++)
        if (!in[k]) return gb_error(GB_ERR_FORMAT, "required input %s is missing", names[k]);
    const gb_tensor *x = &in[0]->t;
    char xs[128], ps[128];
    gb_shape_str(x->ndim, x->shape, xs, sizeof xs);
    if (x->ndim < 2)
        return gb_error(GB_ERR_SHAPE, "input %s has no channel dimension (expected (N, C, ...))",
                        xs);
    int64_t C = x->shape[1];
    for (int k = 1; k < 5; k++) {
        const gb_tensor *t = &in[k]->t;
        if (t->ndim != 1 || t->shape[0] != C)
            return gb_error(GB_ERR_SHAPE,
                            "channel mismatch: %s has shape %s, input %s has %lld channels",
                            names[k], gb_shape_str(t->ndim, t->shape, ps, sizeof ps), xs,
                            (long long)C);
    }
    GB_TRY(gb_tensor_resize(out[0], x->ndim, x->shape));
    for (int k = 1; k < n->nout; k++)
        if (out[k]) GB_TRY(gb_tensor_resize(out[k], 1, &C));
    n->scratch_need[0] = 2 * C;     /* batch mean, then invstd, per channel */
    n->scratch_need[1] = 2 * C + 1; /* sync BN: global count, then 2C sums */
    return GB_OK;
}

/* Sums in 8 double lanes: they vectorize where one running sum would be a
 * chain of dependent adds, and their fixed order keeps results reproducible. */
static double sum_lanes(const float *v, int64_t n) {
    double acc[8] = {0}, s = 0;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += v[k + l];
    for (; k < n; k++) s += v[k];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* sum(a * (x - mu)) */
static double dot_centered(const float *a, const float *x, double mu, int64_t n) {
    double acc[8] = {0}, s = 0;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[k + l] * (x[k + l] - mu);
    for (; k < n; k++) s += a[k] * (x[k] - mu);
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* sum((x - mu)^2) */
static double sq_centered(const float *x, double mu, int64_t n) {
    double acc[8] = {0}, s = 0;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += (x[k + l] - mu) * (x[k + l] - mu);
    for (; k < n; k++) s += (x[k] - mu) * (x[k] - mu);
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* Geometry: C channels, each made of `outer` runs of `inner` contiguous values. */
typedef struct bn_geom {
    int64_t C, outer, inner;
} bn_geom;

static bn_geom bn_geometry(const gb_tensor *x) {
    bn_geom g = {x->shape[1], x->shape[0], 1};
    for (int i = 2; i < x->ndim; i++) g.inner *= x->shape[i];
    return g;
}

/* y (N, C, S) = scale * (x - mean) * invstd + b, per channel c. */
static void bn_apply(float *y, const float *x, const float *mean, const float *invstd,
                     const float *scale, const float *b, const bn_geom *g) {
#pragma omp parallel for schedule(static) if (g->C * g->outer * g->inner > 65536)
    for (int64_t c = 0; c < g->C; c++) {
        float a = scale[c] * invstd[c], sh = b[c] - a * mean[c];
        for (int64_t o = 0; o < g->outer; o++) {
            const float *xr = x + (o * g->C + c) * g->inner;
            float *yr = y + (o * g->C + c) * g->inner;
            for (int64_t s = 0; s < g->inner; s++) yr[s] = a * xr[s] + sh;
        }
    }
}

/* Channel c's batch statistics from the sums over its m values: mean,
 * invstd from the biased variance, running statistics updated with the
 * unbiased one. */
static void bn_set_stats(float *mean, float *invstd, float *run_mean, float *run_var, int64_t c, double s,
                         double ss, double m, float eps, float momentum) {
    double mu = m > 0 ? s / m : 0;
    double var = m > 0 ? ss / m : 0;
    /* A single value per channel has no unbiased variance; keep the biased 0. */
    double unbiased = m > 1 ? ss / (m - 1) : var;
    mean[c] = (float)mu;
    invstd[c] = (float)(1.0 / sqrt(var + eps));
    run_mean[c] = (float)(momentum * run_mean[c] + (1.0 - momentum) * mu);
    run_var[c] = (float)(momentum * run_var[c] + (1.0 - momentum) * unbiased);
}

/* Batch statistics of x (N, C, S): mean (C), invstd (C) = 1/sqrt(var + eps)
 * with the biased var; the running mean and var (C) are updated in place. */
static void bn_batch_stats(float *mean, float *invstd, float *run_mean, float *run_var,
                           const float *x, const bn_geom *g, float eps, float momentum) {
    int64_t m = g->outer * g->inner;
#pragma omp parallel for schedule(static) if (g->C * m > 65536)
    for (int64_t c = 0; c < g->C; c++) {
        double s = 0, ss = 0;
        for (int64_t o = 0; o < g->outer; o++) s += sum_lanes(x + (o * g->C + c) * g->inner, g->inner);
        double mu = m ? s / (double)m : 0;
        /* Two passes: sum of squares around the mean does not cancel. */
        for (int64_t o = 0; o < g->outer; o++)
            ss += sq_centered(x + (o * g->C + c) * g->inner, mu, g->inner);
        bn_set_stats(mean, invstd, run_mean, run_var, c, s, ss, (double)m, eps, momentum);
    }
}

/* Sums buf[0..n) over processes; a failure voids the step (gb_train checks). */
static void bn_allreduce(gb_exec_dist *d, float *buf, int64_t n) {
    if (d->comm->allreduce_sum(buf, n, d->comm->ctx)) d->failed = 1;
}

/* bn_batch_stats over the global batch (sync BN); buf: scratch of 2C + 1,
 * left holding the global count in buf[0] for backward. */
static void bn_batch_stats_sync(float *mean, float *invstd, float *run_mean, float *run_var,
                                const float *x, const bn_geom *g, float eps, float momentum, float *buf,
                                gb_exec_dist *d) {
    const int64_t C = g->C;
    float *sum = buf + 1, *sq = buf + 1 + C;
    buf[0] = (float)(g->outer * g->inner); /* exact below 2^24 values per channel */
#pragma omp parallel for schedule(static) if (C * g->outer * g->inner > 65536)
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t o = 0; o < g->outer; o++) s += sum_lanes(x + (o * C + c) * g->inner, g->inner);
        sum[c] = (float)s;
    }
    bn_allreduce(d, buf, C + 1);
    const double m = buf[0];
#pragma omp parallel for schedule(static) if (C * g->outer * g->inner > 65536)
    for (int64_t c = 0; c < C; c++) {
        double mu = m > 0 ? sum[c] / m : 0, ss = 0;
        for (int64_t o = 0; o < g->outer; o++) ss += sq_centered(x + (o * C + c) * g->inner, mu, g->inner);
        sq[c] = (float)ss;
    }
    bn_allreduce(d, sq, C);
    for (int64_t c = 0; c < C; c++) bn_set_stats(mean, invstd, run_mean, run_var, c, sum[c], sq[c], m, eps, momentum);
}

static void bn_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                       const gb_exec *ex) {
    bn_geom g = bn_geometry(in[0]);
    const float *x = in[0]->data, *scale = in[1]->data, *b = in[2]->data;
    float *run_mean = in[3]->data, *run_var = in[4]->data;
    float *mean = n->scratch[0].data, *invstd = mean + g.C;
    if (ex->training && n->dist && n->dist->comm) {
        bn_batch_stats_sync(mean, invstd, run_mean, run_var, x, &g, n->p.epsilon, n->p.momentum,
                            n->scratch[1].data, n->dist);
    } else if (ex->training) {
        bn_batch_stats(mean, invstd, run_mean, run_var, x, &g, n->p.epsilon, n->p.momentum);
    } else {
        for (int64_t c = 0; c < g.C; c++) {
            mean[c] = run_mean[c];
            invstd[c] = 1.0f / sqrtf(run_var[c] + n->p.epsilon);
        }
    }
    bn_apply(out[0]->data, x, mean, invstd, scale, b, &g);
    if (n->nout > 1 && out[1]) memcpy(out[1]->data, run_mean, (size_t)g.C * sizeof(float));
    if (n->nout > 2 && out[2]) memcpy(out[2]->data, run_var, (size_t)g.C * sizeof(float));
}

/* dx += a (dy - k1 - xhat k2) over channel c of x (N, C, S), xhat = (x - mean) invstd. */
static void bn_dx_channel(float *dx, const float *dy, const float *x, float mean, float invstd, float a,
                          float k1, float k2, const bn_geom *g, int64_t c) {
    for (int64_t o = 0; o < g->outer; o++) {
        const float *xr = x + (o * g->C + c) * g->inner;
        const float *dr = dy + (o * g->C + c) * g->inner;
        float *dxr = dx + (o * g->C + c) * g->inner;
        for (int64_t k = 0; k < g->inner; k++) {
            float xhat = (xr[k] - mean) * invstd;
            dxr[k] += a * (dr[k] - k1 - xhat * k2);
        }
    }
}

/* Gradients of y = scale * (x - mean) * invstd + b for x (N, C, S); each of
 * dx, dscale, db, dmean, dvar may be NULL. In training mode mean and invstd
 * are functions of x (full formula) and dmean/dvar are left alone (the
 * output does not depend on the running statistics); in inference mode they
 * are the running statistics. */
static void batchnorm_backward(float *dx, float *dscale, float *db, float *dmean, float *dvar,
                               const float *dy, const float *x, const float *mean,
                               const float *invstd, const float *scale, const bn_geom *g,
                               int training) {
    int64_t m = g->outer * g->inner;
#pragma omp parallel for schedule(static) if (g->C * m > 65536)
    for (int64_t c = 0; c < g->C; c++) {
        double sdy = 0, sdyx = 0; /* sum(dy), sum(dy * xhat) */
        /* An attack's inference-mode pass wants dx only, which needs no sums. */
        int sums = training || dscale || db || dmean || dvar;
        for (int64_t o = 0; sums && o < g->outer; o++) {
            sdy += sum_lanes(dy + (o * g->C + c) * g->inner, g->inner);
            sdyx += dot_centered(dy + (o * g->C + c) * g->inner, x + (o * g->C + c) * g->inner,
                                 mean[c], g->inner);
        }
        sdyx *= invstd[c];
        if (db) db[c] += (float)sdy;
        if (dscale) dscale[c] += (float)sdyx;
        float a = scale[c] * invstd[c];
        if (!training) {
            /* d/dmean = -a sum(dy); d/dvar = -scale/2 invstd^3 sum(dy (x - mean)). */
            if (dmean) dmean[c] += (float)(-a * sdy);
            if (dvar) dvar[c] += (float)(-0.5 * scale[c] * invstd[c] * invstd[c] * sdyx);
        }
        if (!dx) continue;
        float k1 = training && m ? (float)(sdy / m) : 0.0f;
        float k2 = training && m ? (float)(sdyx / m) : 0.0f;
        bn_dx_channel(dx, dy, x, mean[c], invstd[c], a, k1, k2, g, c);
    }
}

/* Training-mode batchnorm_backward over the global batch (sync BN): buf is
 * forward's scratch (buf[0] = the global count m). */
static void batchnorm_backward_sync(float *dx, float *dscale, float *db, const float *dy, const float *x,
                                    const float *mean, const float *invstd, const float *scale,
                                    const bn_geom *g, float *buf, gb_exec_dist *d) {
    const int64_t C = g->C;
    const double m = buf[0];
    float *sdy = buf + 1, *sdyx = buf + 1 + C;
#pragma omp parallel for schedule(static) if (C * g->outer * g->inner > 65536)
    for (int64_t c = 0; c < C; c++) {
        double s = 0, sx = 0;
        for (int64_t o = 0; o < g->outer; o++) {
            s += sum_lanes(dy + (o * C + c) * g->inner, g->inner);
            sx += dot_centered(dy + (o * C + c) * g->inner, x + (o * C + c) * g->inner, mean[c], g->inner);
        }
        sx *= invstd[c];
        if (db) db[c] += (float)s; /* local: parameter gradients are summed later */
        if (dscale) dscale[c] += (float)sx;
        sdy[c] = (float)s;
        sdyx[c] = (float)sx;
    }
    if (!dx) return; /* the same on every process: the graph decides */
    bn_allreduce(d, sdy, 2 * C);
#pragma omp parallel for schedule(static) if (C * g->outer * g->inner > 65536)
    for (int64_t c = 0; c < C; c++) {
        float a = scale[c] * invstd[c];
        float k1 = m > 0 ? (float)(sdy[c] / m) : 0.0f, k2 = m > 0 ? (float)(sdyx[c] / m) : 0.0f;
        bn_dx_channel(dx, dy, x, mean[c], invstd[c], a, k1, k2, g, c);
    }
}

static void bn_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out;
    bn_geom g = bn_geometry(in[0]);
    const float *mean = n->scratch[0].data, *invstd = mean + g.C;
    float *d[5];
    for (int k = 0; k < 5; k++) d[k] = din[k] ? din[k]->data : NULL;
    if (ex->training && n->dist && n->dist->comm) {
        batchnorm_backward_sync(d[0], d[1], d[2], dout[0]->data, in[0]->data, mean, invstd, in[1]->data, &g,
                                n->scratch[1].data, n->dist);
        return;
    }
    batchnorm_backward(d[0], d[1], d[2], d[3], d[4], dout[0]->data, in[0]->data, mean, invstd,
                       in[1]->data, &g, ex->training);
}

const gb_op_def gb_opdef_BATCH_NORM = {"BatchNormalization", 5, 5, 3, bn_init, bn_infer,
                                       bn_forward, bn_backward};
