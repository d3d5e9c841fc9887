/* dense_rows.h — Y += A B^T for a dense layer's forward pass with the
 * weights stored one output per row, computed in an order that does not
 * depend on the batch (see dense_rows.c). */
#ifndef GB_OPS_DENSE_ROWS_H
#define GB_OPS_DENSE_ROWS_H

#include "internal.h"

/* Whether this build has the kernel (AVX2 + FMA); otherwise callers use
 * gb_sgemm. */
int gb_dense_rows_available(void);

/* y (M, N) += a (M, K) . b (N, K)^T: y[i][j] += sum_k a[i][k] b[j][k]. Each
 * sum is formed the same way whatever M, the thread count or the other
 * rows, so a row's result does not depend on the rows batched with it. */
void gb_dense_rows(float *y, const float *a, const float *b, int64_t M, int64_t N, int64_t K);

#endif
