/* dense_rows.c — the forward product of a fully connected layer whose
 * weights hold one output per row (ONNX Gemm with transB, PyTorch's
 * Linear): y[i][j] += a[i] . b[j].
 *
 * Why not OpenBLAS: at batch 1 sgemm repacked the whole 128 x 3136 weight
 * matrix of the shipped CNN on every call (its sgemm_incopy was a third of
 * a batch-1 query), and a GEMV, which does not, rounds differently from the
 * batched sgemm, so a point scored alone and in a batch could get different
 * labels (HopSkipJump's boundary points did). Here every dot product is the
 * same sequence of operations for any batch size: 8 lanes accumulate
 * k = lane (mod 8) with fused multiply-adds over the whole of K, the lanes
 * are added pairwise in a fixed order, the K mod 8 tail is added after.
 *
 * Blocking: 4 rows of a against 3 rows of b (12 accumulators), the 3 rows
 * of b reused for all rows of a panel of 32 rows, K in chunks that keep
 * the weight rows' chunk in L1. Threads split (panel, output block)
 * pairs. */
#include "ops/dense_rows.h"

#include <math.h>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#define PANEL_ROWS 32

#if defined(__AVX2__) && defined(__FMA__)
int gb_dense_rows_available(void) { return 1; }

/* The 8 lanes of v added pairwise: ((0+1)+(2+3)) + ((4+5)+(6+7)). */
static inline float lanes_sum(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* acc[r][c] (8 lanes each, in memory between calls) += the products of
 * rows r of a and c of b over k in [k0, k1), k1 - k0 a multiple of 8. */
static inline __attribute__((always_inline)) void dot_part(__m256 acc_mem[4][3], const float *a,
                                                           const float *b, int64_t K, int64_t k0,
                                                           int64_t k1, const int mr, const int nr) {
    __m256 acc[4][3];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) acc[r][c] = acc_mem[r][c];
    for (int64_t k = k0; k < k1; k += 8) {
        __m256 bv[3];
        for (int c = 0; c < nr; c++) bv[c] = _mm256_loadu_ps(b + c * K + k);
        for (int r = 0; r < mr; r++) {
            __m256 av = _mm256_loadu_ps(a + r * K + k);
            for (int c = 0; c < nr; c++) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) acc_mem[r][c] = acc[r][c];
}

/* Constant block sizes per case, so each compiles to registers. */
static void dot_rows(__m256 acc[4][3], const float *a, const float *b, int64_t K, int64_t k0,
                     int64_t k1, int mr, int nr) {
#define GB_DOT_CASE(R, C)                                                                          \
    case 10 * (R) + (C):                                                                           \
        dot_part(acc, a, b, K, k0, k1, R, C);                                                      \
        break;
    switch (10 * mr + nr) {
        GB_DOT_CASE(4, 3) GB_DOT_CASE(4, 2) GB_DOT_CASE(4, 1)
        GB_DOT_CASE(3, 3) GB_DOT_CASE(3, 2) GB_DOT_CASE(3, 1)
        GB_DOT_CASE(2, 3) GB_DOT_CASE(2, 2) GB_DOT_CASE(2, 1)
        GB_DOT_CASE(1, 3) GB_DOT_CASE(1, 2) GB_DOT_CASE(1, 1)
    default: break;
    }
#undef GB_DOT_CASE
}

/* Rows [i0, i1) (at most PANEL_ROWS) against outputs [j, j + nr): K in
 * chunks of K_CHUNK, so that the chunk of the 3 weight rows stays in L1
 * while the panel's rows go by; the lanes live in acc between chunks
 * (stored and reloaded exactly: the sums are the same as in one pass). */
#define K_CHUNK 512
static void dot_panel(float *y, int64_t ldy, const float *a, const float *b, int64_t K, int64_t i0,
                      int64_t i1, int64_t j, int nr) {
    __m256 acc[PANEL_ROWS / 4][4][3];
    const int64_t K8 = K & ~(int64_t)7;
    for (int64_t q = 0; q < (i1 - i0 + 3) / 4; q++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 3; c++) acc[q][r][c] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < K8; k0 += K_CHUNK) {
        const int64_t k1 = GB_MIN(k0 + K_CHUNK, K8);
        for (int64_t i = i0; i < i1; i += 4)
            dot_rows(acc[(i - i0) / 4], a + i * K, b + j * K, K, k0, k1,
                     (int)GB_MIN((int64_t)4, i1 - i), nr);
    }
    for (int64_t i = i0; i < i1; i++)
        for (int c = 0; c < nr; c++) {
            const int64_t q = (i - i0) / 4, r = (i - i0) % 4;
            float s = lanes_sum(acc[q][r][c]);
            for (int64_t t = K8; t < K; t++) s = fmaf(a[i * K + t], b[(j + c) * K + t], s);
            y[i * ldy + j + c] += s;
        }
}

void gb_dense_rows(float *y, const float *a, const float *b, int64_t M, int64_t N, int64_t K) {
    const int64_t nblk = (N + 2) / 3;
    /* Only from outside any OpenMP region: a region inside an inactive one
     * creates a new thread team on every call. */
    int nt = omp_get_level() == 0 ? gb_get_num_threads() : 1;
    if (nt > nblk) nt = (int)nblk;
    if (M * N * K < 65536) nt = 1;
    const int64_t panels = (M + PANEL_ROWS - 1) / PANEL_ROWS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t pi = 0; pi < panels; pi++)
        for (int64_t jb = 0; jb < nblk; jb++) {
            const int64_t i0 = pi * PANEL_ROWS, j = 3 * jb;
            dot_panel(y, N, a, b, K, i0, GB_MIN(i0 + PANEL_ROWS, M), j, (int)GB_MIN((int64_t)3, N - j));
        }
}
#else
int gb_dense_rows_available(void) { return 0; }

void gb_dense_rows(float *y, const float *a, const float *b, int64_t M, int64_t N, int64_t K) {
    gb_sgemm(0, 1, M, N, K, 1.0f, a, K, b, K, 1.0f, y, N);
}
#endif
