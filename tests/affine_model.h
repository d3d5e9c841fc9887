/* affine_model.h — an affine classifier f(x) = W flatten(x) + b (one Gemm)
 * for tests whose answers are known in closed form (DeepFool, FAB). */
#ifndef GB_TEST_AFFINE_MODEL_H
#define GB_TEST_AFFINE_MODEL_H

#include "gibbon.h"

/* Inputs (N, c, h, w), K classes; W uniform in [-wscale, wscale], b in [-0.5, 0.5]. */
gb_model *affine_model(int64_t c, int64_t h, int64_t w, int64_t K, gb_rng *r, float wscale);

#endif
