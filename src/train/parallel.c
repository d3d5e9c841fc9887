/* parallel.c — what data-parallel training (gb_train_comm) adds to the
 * training loop: which slice of the global batch a process takes, one
 * allreduce per step for the gradients and the step's metrics, agreement
 * checks, the test set split over processes, and per-example random
 * streams keyed by global position (so a K-process run draws the same
 * numbers for an example as one process does).
 *
 * Gradients: each process's loss is the sum over its slice divided by the
 * global batch size n (its mean-loss gradient scaled by n_local / n), so the
 * sum over processes is the one-process mean-loss gradient; BatchNorm's
 * batch statistics are summed inside the op (ops/batchnorm.c). */
#include "train_internal.h"

void gb_dp_slice(const gb_train_comm *c, int64_t n, int64_t *lo, int64_t *hi) {
    if (!c) {
        *lo = 0;
        *hi = n;
        return;
    }
    *lo = n * c->rank / c->size;
    *hi = n * (c->rank + 1) / c->size;
}

uint64_t gb_rng_u64(gb_rng *r) {
    uint64_t hi = gb_rng_u32(r); /* two statements: the draw order is fixed */
    return hi << 32 | gb_rng_u32(r);
}

void gb_example_rng(gb_rng *r, uint64_t seed, int64_t index) {
    /* splitmix64's finalizer (Steele et al. 2014) spreads nearby indices
     * over unrelated PCG states; one stream for all examples. */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(index + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    gb_rng_seed(r, z ^ (z >> 31), 0x6578616d706c65ULL);
}

static gb_status allreduce(const gb_train_comm *c, float *buf, int64_t n) {
    if (c->allreduce_sum(buf, n, c->ctx))
        return gb_error(GB_ERR_IO, "data-parallel training: allreduce of %lld values failed on rank %d",
                        (long long)n, c->rank);
    return GB_OK;
}

gb_status gb_dp_allreduce_grads(gb_model *m, const gb_train_comm *c, float *buf, float *metrics,
                                int nmetrics) {
    const int np = gb_model_num_params(m);
    int64_t k = 0;
    for (int i = 0; i < np; i++) {
        gb_param prm = gb_model_param(m, i);
        memcpy(buf + k, prm.grad, (size_t)prm.size * sizeof(float));
        k += prm.size;
    }
    memcpy(buf + k, metrics, (size_t)nmetrics * sizeof(float));
    GB_TRY(allreduce(c, buf, k + nmetrics));
    k = 0;
    for (int i = 0; i < np; i++) {
        gb_param prm = gb_model_param(m, i);
        memcpy(prm.grad, buf + k, (size_t)prm.size * sizeof(float));
        k += prm.size;
    }
    memcpy(metrics, buf + k, (size_t)nmetrics * sizeof(float));
    return GB_OK;
}

gb_status gb_dp_agree(const gb_train_comm *c, uint64_t v, const char *what) {
    /* With sums only: the 16 hex digits d of v are equal on all K processes
     * iff K sum(d^2) = (sum d)^2 (zero variance), which every process
     * computes from the same sums, so all reach the same verdict; exact in
     * float for K < 74565. */
    float buf[32];
    for (int k = 0; k < 16; k++) {
        float d = (float)((v >> (4 * k)) & 15);
        buf[k] = d;
        buf[16 + k] = d * d;
    }
    GB_TRY(allreduce(c, buf, 32));
    for (int k = 0; k < 16; k++)
        if ((double)c->size * buf[16 + k] != (double)buf[k] * buf[k])
            return gb_error(GB_ERR_ARG, "data-parallel training: the %d processes disagree on %s", c->size, what);
    return GB_OK;
}

uint64_t gb_dp_model_hash(const gb_model *m) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < m->nvals; i++) {
        const gb_value *v = &m->vals[i];
        if (v->kind != GB_VAL_PARAM && v->kind != GB_VAL_CONST) continue;
        const unsigned char *b = (const unsigned char *)v->t.data;
        for (size_t k = 0; k < (size_t)v->t.size * sizeof(float); k++) h = (h ^ b[k]) * 1099511628211ULL;
    }
    return h;
}

gb_status gb_dp_any(const gb_train_comm *c, int flag, int *any) {
    float f = flag ? 1.0f : 0.0f;
    GB_TRY(allreduce(c, &f, 1));
    *any = f > 0;
    return GB_OK;
}

gb_status gb_dp_evaluate(gb_model *m, const gb_dataset *d, const gb_train_comm *c, float *accuracy) {
    int64_t lo, hi, correct = 0;
    gb_dp_slice(c, d->n, &lo, &hi);
    GB_TRY(gb_evaluate_range(m, d, lo, hi, 256, &correct, NULL));
    float count = (float)correct; /* exact below 2^24 examples */
    GB_TRY(allreduce(c, &count, 1));
    *accuracy = d->n ? count / (float)d->n : 0;
    return GB_OK;
}
