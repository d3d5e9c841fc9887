/* blas.c — the GEMM every dense op goes through (CBLAS, row-major).
 *
 * OpenBLAS runs single-threaded (see core/threads.c); a GEMM called outside
 * an OpenMP region is split here into row (or column) blocks, one per
 * OpenMP thread, so all parallelism comes from one thread pool. Each block
 * is an independent single-threaded GEMM with the same K order, so results
 * depend only on the thread count. */
#include "internal.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void sgemm1(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha, A,
                (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

void gb_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc) {
    if (M == 0 || N == 0) return;
    static int blas_serial = 0;
    if (!blas_serial) { /* also for library users who never call gb_set_num_threads */
        openblas_set_num_threads(1);
        blas_serial = 1;
    }
    int nt = gb_get_num_threads();
#ifdef _OPENMP
    /* Inside any parallel region, also an inactive one (an op's image loop
     * with if(false), e.g. a batch of 1): libgomp does not pool nested
     * teams, so a split here would create (and join) a thread per call,
     * which cost half of a batch-1 query of the shipped CNN. */
    if (omp_get_level() > 0) nt = 1;
#else
    nt = 1;
#endif
    /* Below a few MFLOP a fork-join costs more than it saves. */
    if (nt < 2 || 2.0 * M * N * K < 4e6 || (M < 2 * nt && N < 2 * nt)) {
        sgemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int split_rows = M >= N;
    int64_t len = split_rows ? M : N;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        int64_t lo = len * t / nt, hi = len * (t + 1) / nt;
        if (hi <= lo) continue;
        if (split_rows) {
            /* Rows lo..hi of op(A) and of C. */
            const float *a = trans_a ? A + lo : A + lo * lda;
            sgemm1(trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + lo * ldc, ldc);
        } else {
            /* Columns lo..hi of op(B) and of C. */
            const float *b = trans_b ? B + lo * ldb : B + lo;
            sgemm1(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
        }
    }
}
