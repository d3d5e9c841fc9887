/* ood.c — out-of-distribution scores and how well they separate:
 *  - maximum softmax probability (Hendrycks & Gimpel 2017);
 *  - negative free energy T * logsumexp(z / T) (Liu, Wang, Owens & Li 2020,
 *    "Energy-based out-of-distribution detection", eq. 4 with the sign
 *    flipped so that, like MSP, higher means in-distribution);
 *  - AUROC as the Mann-Whitney statistic: the probability that an
 *    in-distribution example scores above an OOD one, ties counting 1/2. */
#include "internal.h"

#include <math.h>

void gb_ood_energy(const gb_tensor *logits, float T, float *score) {
    const int64_t N = logits->shape[0], K = logits->shape[1];
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits->data + n * K; // (K)
        double m = -INFINITY, s = 0;
        for (int64_t k = 0; k < K; k++) m = GB_MAX(m, (double)z[k] / T);
        for (int64_t k = 0; k < K; k++) s += exp((double)z[k] / T - m);
        score[n] = (float)(T * (m + log(s)));
    }
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

gb_status gb_auroc(const float *in, int64_t n_in, const float *out, int64_t n_out, double *auroc) {
    if (n_in < 1 || n_out < 1) return gb_error(GB_ERR_ARG, "AUROC: need examples of both kinds");
    float *o = gb_malloc((size_t)n_out * sizeof *o);
    if (!o) return GB_ERR_NOMEM;
    memcpy(o, out, (size_t)n_out * sizeof *o);
    qsort(o, (size_t)n_out, sizeof *o, cmp_float);
    double wins = 0;
    for (int64_t i = 0; i < n_in; i++) {
        /* OOD scores below in[i], and equal to it, by binary search. */
        int64_t lo = 0, hi = n_out;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (o[mid] < in[i]) lo = mid + 1;
            else hi = mid;
        }
        int64_t below = lo;
        hi = n_out;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (o[mid] <= in[i]) lo = mid + 1;
            else hi = mid;
        }
        wins += (double)below + 0.5 * (double)(lo - below);
    }
    gb_free(o);
    *auroc = wins / ((double)n_in * (double)n_out);
    return GB_OK;
}
