/* threads.c — one thread setting for the OpenMP loops. OpenBLAS itself
 * always runs single-threaded: its pthread pool spinning next to OpenMP's
 * threads cost 30-50% of a training step on 2 cores (bench/run.sh). Large
 * GEMMs are split across OpenMP threads in gb_sgemm instead. */
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
    openblas_set_num_threads(1);
}

int gb_get_num_threads(void) { return num_threads; }
