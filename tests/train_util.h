/* train_util.h — helpers shared by the training tests (resume checks). */
#ifndef GB_TRAIN_UTIL_H
#define GB_TRAIN_UTIL_H

#include "gibbon.h"

/* Copies every parameter of m, in order, into out (gb_model_param_count floats). */
void params_snapshot(gb_model *m, float *out);
/* A progress callback that stops training after the first epoch (a simulated interruption). */
int stop_after_first_epoch(const gb_train_progress *pr, void *user);
/* A learnable synthetic set of n (1, 8, 8) images in 4 classes: class k has
 * a bright row 2k over uniform noise; free with rows_dataset_free. */
gb_dataset *rows_dataset(int64_t n, uint64_t seed);
void rows_dataset_free(gb_dataset *d);

#endif
