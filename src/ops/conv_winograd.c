/* conv_winograd.c — 3x3 stride-1 convolution by Winograd's minimal
 * filtering algorithm F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", CVPR 2016, section 4).
 *
 * Each 2x2 output tile Y of channel m is A^T [ sum_c (G g G^T) .* (B^T d B) ] A
 * with g the 3x3 kernel of (m, c) and d the 4x4 input patch of channel c
 * under the tile:
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *     G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *     A^T = [1 1 1 0; 0 1 -1 -1]
 * The sum over c at each of the 16 positions xi of the 4x4 transform is a
 * matrix product: M[xi] (M, tiles) = U[xi] (M, C) . V[xi] (C, tiles), 16
 * GEMMs doing 16 multiply-adds per tile and channel pair where im2col does
 * 36 (2.25x fewer). Tiles of all images are numbered together, and a chunk
 * of consecutive tiles (sized so V and M stay in L2) is one set of 16
 * GEMMs, so small images still give GEMMs wide enough to run fast.
 *
 * Layers of up to 32 x 64 channel pairs (the zoo cnn's 32 -> 64 layer) run
 * the 16 GEMMs in this file's kernel (wino_gemm), whose short K = C loop
 * keeps its operands in L1; the transforms are AVX2 vector loops across
 * 8 tiles at once, and the output transform can apply the Relu and the
 * 2x2 max pool that follow (a 2x2 output tile is exactly one pool window),
 * so a fused Conv -> Relu -> MaxPool writes only the pooled values.
 * Measured (bench/bench_cnn, 1 thread, batch 32, medians of interleaved
 * runs) on the zoo cnn's 32 -> 64 conv at 14x14, whole model: inference
 * forward 1.30x the im2col path's images/s, attack step 1.20x, training
 * step 1.16x (2 threads, batch 128). Wider layers keep OpenBLAS.
 *
 * The input gradient of a 3x3 stride-1 convolution is itself one: dx is
 * dy convolved with the kernel rotated by 180 degrees and its channel axes
 * swapped, at offset 2 - pad (gb_wino_weights' dual flag; conv.c). The
 * weight gradient stays im2col + GEMM.
 *
 * With wino_gemm each output is the same sequence of operations whatever
 * the chunking, the batch or the thread count: an image's result does not
 * depend on the images batched with it (black-box attacks re-query points
 * in other batches and must see the same label). On the OpenBLAS path
 * results depend on the chunking, so only on the shapes and thread count. */
#include "ops/conv_winograd.h"

#include <math.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* Per-thread V + M budget in floats (384 KB of a 512 KB L2; 96 beat 48,
 * 64, 128 and 192 K floats on the zoo cnn's 32 -> 64 layer). */
#define WINO_BUDGET (96 * 1024)

/* At most this many channel pairs C x M take wino_gemm (the zoo cnn's 32 ->
 * 64 layer and smaller). Wider layers keep OpenBLAS: with wino_gemm on
 * ResNet-18's 64..256-channel layers their chunks ran 1.1-1.7x faster, but
 * the model's input gradient moved from 1e-6 to 3.1e-3 max-relative from
 * PyTorch's (L2 3.9e-4; tests/test_torchvision.c allows 1e-3) although
 * the kernel matches a double-precision reference to 4e-6 on those shapes.
 * Against a float64 PyTorch gradient, PyTorch's float32 and gibbon's
 * OpenBLAS path are within 9e-7, wino_gemm's 3.1e-3, all of it in one
 * 48 x 46 region of one of the two images (a deep unit's receptive field):
 * most likely one Relu whose input is within rounding of 0 switching, so
 * a test against one float32 reference is fragile there. Not yet settled. */
#define WINO_OWN_GEMM (32 * 64)

static int own_gemm(int64_t C, int64_t M) { return C * M <= WINO_OWN_GEMM; }

static int64_t cache_cols(int64_t C, int64_t M) {
    /* On the OpenBLAS path at least 64 tiles even for wide layers (then V
     * and M spill to L3): narrower GEMMs repack U too often and run slowly. */
    int64_t n = WINO_BUDGET / (16 * (C + M));
    return GB_MAX(GB_MIN(n, (int64_t)WINO_MAX_COLS), own_gemm(C, M) ? 8 : 64);
}

gb_wino gb_wino_plan(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH,
                     int64_t OW, int64_t pt, int64_t pl, int threads) {
    gb_wino p = {N, C, H, W, M, OH, OW, pt, pl, (OH + 1) / 2, (OW + 1) / 2, 0, 0};
    int64_t total = N * p.th * p.tw;
    int64_t n = cache_cols(C, M);
    int64_t chunks = (total + n - 1) / n;
    if (threads > 1 && chunks < threads) chunks = GB_MIN((int64_t)threads, total);
    if (chunks < 1) chunks = 1;
    /* Even chunks: no ragged last one. */
    p.ncol = total > 0 ? (total + chunks - 1) / chunks : 1;
    p.nchunks = total > 0 ? (total + p.ncol - 1) / p.ncol : 0;
    return p;
}

/* Row stride of V and M for a chunk of n tiles: whole vectors of 8. */
static int64_t wino_stride(int64_t n) { return (n + 7) & ~(int64_t)7; }

/* From one transform position's block of V (C rows) or M (M rows) to the
 * next: the rows plus one cache line, so the 16 blocks that the transforms
 * read or write side by side do not all map to the same L1 sets (with 512-
 * byte rows they were 16 or 32 KB apart, and the output transform ran 3x
 * slower). */
static int64_t block_stride(int64_t rows, int64_t ns) { return rows * ns + 16; }

/* V's rows have 8 more floats than the GEMM's columns: the input
 * transform stores whole vectors of 8 tiles, past the end of a segment. */
static int64_t v_stride(int64_t n) { return wino_stride(n) + 8; }

/* Columns of a tile row's input with its zero border (pad_tile_row): those
 * the tiles read, plus 16 that the last vector of 8 tiles reads past the
 * row's end. */
static int64_t pad_cols(int64_t tw) { return 2 * tw + 16; }

/* V and M (16 blocks each), the output transform's 6 rows, and one padded
 * tile row (4 input rows per channel). */
static int64_t workspace(int64_t C, int64_t M, int64_t tw, int64_t ncol) {
    int64_t ns = wino_stride(ncol);
    return 16 * (block_stride(C, v_stride(ncol)) + block_stride(M, ns)) + 6 * ns +
           C * 4 * pad_cols(tw);
}

int64_t gb_wino_workspace(const gb_wino *p) { return workspace(p->C, p->M, p->tw, p->ncol); }

int64_t gb_wino_workspace_max(int64_t C, int64_t M, int64_t OW) {
    return workspace(C, M, (OW + 1) / 2, cache_cols(C, M));
}

/* ---- transforms ----------------------------------------------------------- */

/* u (4x4) = G g G^T for g (3x3, row-major). */
static void weight_tile(float *u, const float g[9]) {
    float t[4][3];
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = t[i][0];
        u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[4 * i + 3] = t[i][2];
    }
}

void gb_wino_weights(float *U, const float *w, int64_t M, int64_t C, int dual) {
    /* Output channels o and input channels i of the convolution computed. */
    int64_t O = dual ? C : M, I = dual ? M : C;
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            float g[9], u[16];
            const float *src = dual ? w + (i * C + o) * 9 : w + (o * C + i) * 9;
            for (int k = 0; k < 9; k++) g[k] = dual ? src[8 - k] : src[k];
            weight_tile(u, g);
            for (int xi = 0; xi < 16; xi++) U[(xi * O + o) * I + i] = u[xi];
        }
}

/* ---- the 16 products -------------------------------------------------------- */

/* Mb (M, ns) = U (M, C) . V (C, ns), ns a multiple of 8. Each output is one
 * fused multiply-add chain over c = 0..C-1 from zero, whatever the block
 * it falls in: a tile's result depends only on its own input, not on the
 * chunking, the batch or the thread count. The blocks (4 rows of U against
 * 24 tiles, 12 accumulators) keep V's block and U in L1 (K = C is short);
 * OpenBLAS repacks both operands on every call, which at K = 32 cost more
 * than the products. */
#if defined(__AVX2__) && defined(__FMA__)

static inline __attribute__((always_inline)) void gemm_block(float *Mb, int64_t ldm, const float *U,
                                                             const float *V, int64_t ldv, int64_t C,
                                                             const int mr, const int nv) {
    __m256 acc[4][3];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c++) {
        __m256 b[3];
        for (int v = 0; v < nv; v++) b[v] = _mm256_loadu_ps(V + c * ldv + 8 * v);
        for (int r = 0; r < mr; r++) {
            __m256 a = _mm256_broadcast_ss(U + r * C + c);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) _mm256_storeu_ps(Mb + r * ldm + 8 * v, acc[r][v]);
}

/* Dispatch with constant block sizes so each case compiles to registers. */
static void gemm_rows(float *Mb, int64_t ldm, const float *U, const float *V, int64_t ldv,
                      int64_t C, int mr, int nv) {
#define GB_WINO_CASE(R, N)                                                                         \
    case 10 * (R) + (N):                                                                           \
        gemm_block(Mb, ldm, U, V, ldv, C, R, N);                                                   \
        break;
    switch (10 * mr + nv) {
        GB_WINO_CASE(4, 3) GB_WINO_CASE(4, 2) GB_WINO_CASE(4, 1)
        GB_WINO_CASE(3, 3) GB_WINO_CASE(3, 2) GB_WINO_CASE(3, 1)
        GB_WINO_CASE(2, 3) GB_WINO_CASE(2, 2) GB_WINO_CASE(2, 1)
        GB_WINO_CASE(1, 3) GB_WINO_CASE(1, 2) GB_WINO_CASE(1, 1)
    default: break;
    }
#undef GB_WINO_CASE
}
#else
/* Portable: the same chains, with fmaf so the rounding matches. */
static void gemm_rows(float *Mb, int64_t ldm, const float *U, const float *V, int64_t ldv,
                      int64_t C, int mr, int nv) {
    for (int r = 0; r < mr; r++)
        for (int e = 0; e < 8 * nv; e++) {
            float acc = 0.0f;
            for (int64_t c = 0; c < C; c++) acc = fmaf(U[r * C + c], V[c * ldv + e], acc);
            Mb[r * ldm + e] = acc;
        }
}
#endif

/* Mb (M, ns) = U (M, C) . V (C, ns; rows ldv apart). */
static void wino_gemm(float *Mb, const float *U, const float *V, int64_t ldv, int64_t M, int64_t C,
                      int64_t ns) {
    for (int64_t j = 0; j < ns; j += 24) {
        int nv = (int)GB_MIN((ns - j) / 8, (int64_t)3);
        for (int64_t m = 0; m < M; m += 4)
            gemm_rows(Mb + m * ns + j, ns, U + m * C, V + j, ldv, C, (int)GB_MIN(M - m, (int64_t)4), nv);
    }
}

/* ---- one chunk ------------------------------------------------------------ */

/* The transforms are separable (B^T d B: rows, then columns), and the tiles
 * of one tile row of one image are side by side: a chunk is cut into such
 * segments, and each stage runs as contiguous vector loops over a whole
 * segment (tile-by-tile scalar transforms, with 16 output streams far apart,
 * cost more than the GEMMs). */

/* Per tile of a chunk: image and top-left output pixel; and the chunk's
 * segments (runs of tiles in the same image and tile row): segment s is
 * tiles [seg[s], seg[s + 1]). */
typedef struct wino_tiles {
    int64_t img[WINO_MAX_COLS], r0[WINO_MAX_COLS], c0[WINO_MAX_COLS];
    int64_t seg[WINO_MAX_COLS + 1], nseg;
} wino_tiles;

/* pad (C, 4, pw) = the input rows under the output tile row starting at
 * output row r0 of image img, inside their zero border: row a, column e
 * hold x[r0 + a - pt][e - pl], or 0 outside x. (Padding whole images
 * instead redid a whole image per chunk where chunks are a fraction of
 * one, as on ResNet's 56x56 layers.) */
static void pad_tile_row(float *pad, const float *x, int64_t img, int64_t r0, const gb_wino *p) {
    const int64_t C = p->C, H = p->H, W = p->W, pw = pad_cols(p->tw);
    const int64_t elo = GB_MIN(GB_MAX(p->pl, (int64_t)0), pw), ehi = GB_MAX(GB_MIN(p->pl + W, pw), elo);
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < 4; r++) {
            float *row = pad + (c * 4 + r) * pw;
            const int64_t xr = r0 + r - p->pt;
            if (xr < 0 || xr >= H) {
                memset(row, 0, (size_t)pw * sizeof *row);
                continue;
            }
            memset(row, 0, (size_t)elo * sizeof *row);
            memcpy(row + elo, x + ((img * C + c) * H + xr) * W + (elo - p->pl),
                   (size_t)(ehi - elo) * sizeof *row);
            memset(row + ehi, 0, (size_t)(pw - ehi) * sizeof *row);
        }
}

/* B^T d B for 8 tiles side by side: rows[a] points at the padded input row
 * a of the first tile's patch (tiles are 2 columns apart); v[xi] receives
 * the 16 transformed values, 8 tiles per vector. Rows first (t = B^T d),
 * then columns, as in the scalar version. */
#if defined(__AVX2__) && defined(__FMA__)
/* Even and odd elements of the 16 floats at p: p[0], p[2], .. p[14] and
 * p[1], p[3], .. p[15]. */
static inline void deinterleave(const float *p, __m256 *even, __m256 *odd) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

static inline void input_tiles8(float *const v[16], const float *const rows[4]) {
    __m256 d[4][4], t[4][4];
    for (int a = 0; a < 4; a++) { /* d[a][b]: tap (a, b) of each tile */
        deinterleave(rows[a], &d[a][0], &d[a][1]);
        deinterleave(rows[a] + 2, &d[a][2], &d[a][3]);
    }
    for (int b = 0; b < 4; b++) { /* B^T along the rows */
        t[0][b] = _mm256_sub_ps(d[0][b], d[2][b]);
        t[1][b] = _mm256_add_ps(d[1][b], d[2][b]);
        t[2][b] = _mm256_sub_ps(d[2][b], d[1][b]);
        t[3][b] = _mm256_sub_ps(d[1][b], d[3][b]);
    }
    for (int i = 0; i < 4; i++) { /* B along the columns */
        _mm256_storeu_ps(v[4 * i + 0], _mm256_sub_ps(t[i][0], t[i][2]));
        _mm256_storeu_ps(v[4 * i + 1], _mm256_add_ps(t[i][1], t[i][2]));
        _mm256_storeu_ps(v[4 * i + 2], _mm256_sub_ps(t[i][2], t[i][1]));
        _mm256_storeu_ps(v[4 * i + 3], _mm256_sub_ps(t[i][1], t[i][3]));
    }
}
#else
static inline void input_tiles8(float *const v[16], const float *const rows[4]) {
    for (int k = 0; k < 8; k++) {
        float t[4][4];
        for (int b = 0; b < 4; b++) {
            const float d0 = rows[0][2 * k + b], d1 = rows[1][2 * k + b];
            const float d2 = rows[2][2 * k + b], d3 = rows[3][2 * k + b];
            t[0][b] = d0 - d2;
            t[1][b] = d1 + d2;
            t[2][b] = d2 - d1;
            t[3][b] = d1 - d3;
        }
        for (int i = 0; i < 4; i++) {
            v[4 * i + 0][k] = t[i][0] - t[i][2];
            v[4 * i + 1][k] = t[i][1] + t[i][2];
            v[4 * i + 2][k] = t[i][2] - t[i][1];
            v[4 * i + 3][k] = t[i][1] - t[i][3];
        }
    }
}
#endif

/* V (16 blocks of (C, vs)) = B^T d B over the input patches d of tiles
 * [0, n), read from each segment's padded input rows (pad: workspace). A
 * segment's tiles go 8 at a time; the last group's extra lanes land past
 * the segment, where the next segment (or the row's padding) overwrites
 * them. */
__attribute__((noinline)) static void transform_input(float *V, float *pad, const float *x,
                                                      const wino_tiles *tl, int64_t vs,
                                                      const gb_wino *p) {
    const int64_t C = p->C, pw = pad_cols(p->tw), vx = block_stride(C, vs);
    for (int64_t sg = 0; sg < tl->nseg; sg++) {
        const int64_t j0 = tl->seg[sg], j1 = tl->seg[sg + 1];
        pad_tile_row(pad, x, tl->img[j0], tl->r0[j0], p);
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < j1 - j0; k += 8) {
                const float *base = pad + c * 4 * pw + tl->c0[j0] + 2 * k;
                const float *rows[4] = {base, base + pw, base + 2 * pw, base + 3 * pw};
                float *v[16];
                for (int xi = 0; xi < 16; xi++) v[xi] = V + xi * vx + c * vs + j0 + k;
                input_tiles8(v, rows);
            }
    }
}

/* o (4 rows of ns: a tile's pixels (0,0), (0,1), (1,0), (1,1)) = A^T M A + b
 * for one output channel, from its 16 rows of M, xs apart.
 *
 * pool_tiles: pooled[j] = relu(the first maximum of o0..o3[j] in tap
 * order), tap[j] = its tap (0..3): selects on strict compares, as
 * gb_maxpool2x2_plane does, so ties and NaNs pick the same winner.
 *
 * relu_rows: v = v > 0 ? v : 0 (max(v, 0) in AVX2 is exactly that, NaN and
 * -0 included).
 *
 * Compilers leave these scalar (16 input streams, selects), so they are
 * written with AVX2; the C versions compute the same values. ns is a
 * multiple of 8. */
#if defined(__AVX2__) && defined(__FMA__)
static void inverse_tiles(float *o, const float *mm, int64_t xs, float bias, int64_t ns) {
    const __m256 b = _mm256_set1_ps(bias);
    for (int64_t j = 0; j < ns; j += 8) {
        __m256 s0[4], s1[4];
        for (int k = 0; k < 4; k++) { /* A^T along the rows */
            __m256 r0 = _mm256_loadu_ps(mm + k * xs + j), r1 = _mm256_loadu_ps(mm + (4 + k) * xs + j);
            __m256 r2 = _mm256_loadu_ps(mm + (8 + k) * xs + j), r3 = _mm256_loadu_ps(mm + (12 + k) * xs + j);
            s0[k] = _mm256_add_ps(_mm256_add_ps(r0, r1), r2);
            s1[k] = _mm256_sub_ps(_mm256_sub_ps(r1, r2), r3);
        }
        /* A along the columns */
        _mm256_storeu_ps(o + j, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), b));
        _mm256_storeu_ps(o + ns + j, _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), b));
        _mm256_storeu_ps(o + 2 * ns + j, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), b));
        _mm256_storeu_ps(o + 3 * ns + j, _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), b));
    }
}

static void pool_tiles(float *pooled, int32_t *tap, const float *o0, const float *o1,
                       const float *o2, const float *o3, int64_t ns) {
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t j = 0; j < ns; j += 8) {
        __m256 best = _mm256_loadu_ps(o0 + j);
        __m256i at = _mm256_setzero_si256();
        const float *taps[3] = {o1, o2, o3};
        for (int t = 0; t < 3; t++) {
            __m256 v = _mm256_loadu_ps(taps[t] + j), gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
            best = _mm256_blendv_ps(best, v, gt);
            at = _mm256_blendv_epi8(at, _mm256_set1_epi32(t + 1), _mm256_castps_si256(gt));
        }
        _mm256_storeu_ps(pooled + j, _mm256_max_ps(best, zero));
        _mm256_storeu_si256((__m256i *)(void *)(tap + j), at);
    }
}

static void relu_rows(float *o, int64_t n) {
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j += 8) _mm256_storeu_ps(o + j, _mm256_max_ps(_mm256_loadu_ps(o + j), zero));
}
#else
static void inverse_tiles(float *o, const float *mm, int64_t xs, float b, int64_t ns) {
    for (int64_t j = 0; j < ns; j++) {
        float s0[4], s1[4];
        for (int k = 0; k < 4; k++) {
            s0[k] = mm[k * xs + j] + mm[(4 + k) * xs + j] + mm[(8 + k) * xs + j];
            s1[k] = mm[(4 + k) * xs + j] - mm[(8 + k) * xs + j] - mm[(12 + k) * xs + j];
        }
        o[j] = s0[0] + s0[1] + s0[2] + b;
        o[ns + j] = s0[1] - s0[2] - s0[3] + b;
        o[2 * ns + j] = s1[0] + s1[1] + s1[2] + b;
        o[3 * ns + j] = s1[1] - s1[2] - s1[3] + b;
    }
}

static void pool_tiles(float *pooled, int32_t *tap, const float *o0, const float *o1,
                       const float *o2, const float *o3, int64_t ns) {
    for (int64_t j = 0; j < ns; j++) {
        float best = o0[j];
        int32_t at = 0;
        at = o1[j] > best ? 1 : at;
        best = o1[j] > best ? o1[j] : best;
        at = o2[j] > best ? 2 : at;
        best = o2[j] > best ? o2[j] : best;
        at = o3[j] > best ? 3 : at;
        best = o3[j] > best ? o3[j] : best;
        pooled[j] = best > 0 ? best : 0.0f;
        tap[j] = at;
    }
}

static void relu_rows(float *o, int64_t n) {
    for (int64_t j = 0; j < n; j++) o[j] = o[j] > 0 ? o[j] : 0.0f;
}
#endif

/* Writes one channel's pooled tiles [0, n) into out->pool and pool_arg,
 * segment by segment (a segment's pool outputs are contiguous). */
static void store_pooled(const gb_wino_out *out, int64_t m, const float *pooled,
                         const int32_t *tap, const wino_tiles *tl, int64_t n, const gb_wino *p) {
    const int64_t PH = out->PH, PW = out->PW, OW = p->OW;
    for (int64_t sg = 0; sg < tl->nseg; sg++) {
        const int64_t j0 = tl->seg[sg], j1 = tl->seg[sg + 1];
        const int64_t ti = tl->r0[j0] / 2, tj = tl->c0[j0] / 2;
        if (ti >= PH) continue; /* the odd last output row: no pool window */
        const int64_t q = GB_MIN(j1 - j0, PW - tj), at = (tl->img[j0] * p->M + m) * PH * PW + ti * PW + tj;
        for (int64_t k = 0; k < q; k++) {
            int32_t t = tap[j0 + k];
            out->pool[at + k] = pooled[j0 + k];
            out->pool_arg[at + k] = (int32_t)(2 * ti * OW + 2 * (tj + k) + (t & 1) + (t >> 1) * OW);
        }
    }
}

/* A^T M A (+ bias) over tiles [0, n), into *out (clipped to the output).
 * For each output channel, A^T M A runs as vector loops across all the
 * chunk's tiles into o (4 rows: the tile's pixels (0,0), (0,1), (1,0),
 * (1,1)); the pixels are then interleaved into the output rows, or pooled,
 * segment by segment. o holds 6 ns floats. */
__attribute__((noinline)) static void transform_output(const gb_wino_out *out, const float *Mb,
                                                       const wino_tiles *tl, int64_t n, int64_t ns,
                                                       float *o, const gb_wino *p) {
    const int64_t M = p->M, OH = p->OH, OW = p->OW, xs = block_stride(M, ns);
    const int accumulate = out->accumulate;
    float *o0 = o, *o1 = o + ns, *o2 = o + 2 * ns, *o3 = o + 3 * ns;
    for (int64_t m = 0; m < M; m++) {
        const float *mm = Mb + m * ns;
        const float b = out->bias && !accumulate ? out->bias[m] : 0.0f;
        inverse_tiles(o, mm, xs, b, ns);
        if (out->pool) {
            float *pooled = o + 4 * ns;
            int32_t *tap = (int32_t *)(void *)(o + 5 * ns);
            pool_tiles(pooled, tap, o0, o1, o2, o3, ns);
            store_pooled(out, m, pooled, tap, tl, n, p);
            continue;
        }
        if (out->relu) relu_rows(o, 4 * ns);
        for (int64_t sg = 0; sg < tl->nseg; sg++) {
            const int64_t j0 = tl->seg[sg], j1 = tl->seg[sg + 1];
            const int64_t q = j1 - j0, oh = tl->r0[j0], ow = tl->c0[j0];
            const int64_t cols = GB_MIN(2 * q, OW - ow), rows = GB_MIN((int64_t)2, OH - oh);
            const int64_t pairs = cols / 2; /* tiles whose both columns are inside */
            float *yc = out->y + (tl->img[j0] * M + m) * OH * OW + oh * OW + ow;
            for (int64_t a = 0; a < rows; a++) {
                const float *l = (a ? o2 : o0) + j0, *r = (a ? o3 : o1) + j0;
                float *row = yc + a * OW;
                if (accumulate) {
                    for (int64_t k = 0; k < pairs; k++) {
                        row[2 * k] += l[k];
                        row[2 * k + 1] += r[k];
                    }
                    if (cols & 1) row[cols - 1] += l[pairs];
                } else {
                    for (int64_t k = 0; k < pairs; k++) {
                        row[2 * k] = l[k];
                        row[2 * k + 1] = r[k];
                    }
                    if (cols & 1) row[cols - 1] = l[pairs];
                }
            }
        }
    }
}

void gb_wino_chunk(const gb_wino *p, int64_t k, const float *x, const float *U,
                   const gb_wino_out *out, float *ws) {
    const int64_t T = p->th * p->tw, total = p->N * T;
    const int64_t g0 = k * p->ncol, n = GB_MIN(p->ncol, total - g0);
    if (n <= 0) return;
    const int64_t C = p->C, M = p->M, ns = wino_stride(n), vs = v_stride(n);
    const int64_t vx = block_stride(C, vs), mx = block_stride(M, ns);
    float *V = ws, *Mb = ws + 16 * vx, *o = Mb + 16 * mx, *pad = o + 6 * ns;
    wino_tiles tl;
    tl.nseg = 0;
    for (int64_t j = 0; j < n; j++) {
        int64_t g = g0 + j, t = g % T;
        tl.img[j] = g / T;
        tl.r0[j] = 2 * (t / p->tw);
        tl.c0[j] = 2 * (t % p->tw);
        if (j == 0 || tl.img[j] != tl.img[j - 1] || tl.r0[j] != tl.r0[j - 1]) tl.seg[tl.nseg++] = j;
    }
    tl.seg[tl.nseg] = n;
    /* The GEMM's columns past the last tile: zero, so its extra lanes
     * compute zeros nobody reads (the input transform may not reach them). */
    for (int xi = 0; xi < 16; xi++)
        for (int64_t c = 0; c < C; c++) memset(V + xi * vx + c * vs + n, 0, (size_t)(vs - n) * sizeof *V);
    transform_input(V, pad, x, &tl, vs, p);
    for (int xi = 0; xi < 16; xi++) {
        if (own_gemm(C, M))
            wino_gemm(Mb + xi * mx, U + xi * M * C, V + xi * vx, vs, M, C, ns);
        else
            gb_sgemm(0, 0, M, ns, C, 1.0f, U + xi * M * C, C, V + xi * vx, vs, 0.0f, Mb + xi * mx, ns);
    }
    transform_output(out, Mb, &tl, n, ns, o, p);
}
