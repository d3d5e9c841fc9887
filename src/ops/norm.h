/* norm.h — statistics shared by the normalisation ops (norm.c, layernorm.c). */
#ifndef GB_OPS_NORM_H
#define GB_OPS_NORM_H

#include "internal.h"

/* Mean and 1/sqrt(var + eps) (biased variance) of x[0..P), accumulated in
 * double. */
void gb_norm_stats(const float *x, int64_t P, float eps, float *mean, float *inv);

#endif
