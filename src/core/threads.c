/* threads.c — one thread setting for OpenMP loops and BLAS. */
#include "internal.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int num_threads = 2;

void gb_set_num_threads(int n) {
    if (n < 1) n = 1;
    num_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

int gb_get_num_threads(void) { return num_threads; }
