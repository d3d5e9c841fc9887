/* train_util.c — see train_util.h. */
#include "train_util.h"

#include <stdlib.h>
#include <string.h>

void params_snapshot(gb_model *m, float *out) {
    int64_t k = 0;
    for (int i = 0; i < gb_model_num_params(m); i++) {
        gb_param p = gb_model_param(m, i);
        memcpy(out + k, p.data, (size_t)p.size * sizeof(float));
        k += p.size;
    }
}

int stop_after_first_epoch(const gb_train_progress *pr, void *user) {
    (void)user;
    return pr->epoch_done && pr->epoch == 1;
}

gb_dataset *rows_dataset(int64_t n, uint64_t seed) {
    gb_dataset *d = calloc(1, sizeof *d);
    d->images = gb_tensor_new4(n, 1, 8, 8);
    d->labels = calloc((size_t)n, sizeof(int));
    d->n = n;
    d->num_classes = 4;
    gb_rng r;
    gb_rng_seed(&r, seed, 1);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)gb_rng_below(&r, 4);
        d->labels[i] = k;
        for (int p = 0; p < 64; p++) d->images->data[i * 64 + p] = 0.3f * gb_rng_uniform(&r);
        for (int c = 0; c < 8; c++) d->images->data[i * 64 + (2 * k) * 8 + c] += 0.7f;
    }
    return d;
}

void rows_dataset_free(gb_dataset *d) {
    gb_tensor_free(d->images);
    free(d->labels);
    free(d);
}
