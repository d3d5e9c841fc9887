/* train_util.c — see train_util.h. */
#include "train_util.h"

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
