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
 * The input gradient of a 3x3 stride-1 convolution is itself one: dx is
 * dy convolved with the kernel rotated by 180 degrees and its channel axes
 * swapped, at offset 2 - pad (gb_wino_weights' dual flag; conv.c). The
 * weight gradient stays im2col + GEMM.
 *
 * Results depend on the chunking, which depends only on the shapes and the
 * thread count, so they are reproducible for a given thread count. */
#include "ops/conv_winograd.h"

/* Per-thread V + M budget in floats (768 KB: most of a 1 MB L2). */
#define WINO_BUDGET (192 * 1024)

static int64_t cache_cols(int64_t C, int64_t M) {
    /* At least 64 tiles even for wide layers (then V and M spill to L3):
     * narrower GEMMs repack U too often and run slowly. */
    int64_t n = WINO_BUDGET / (16 * (C + M));
    return GB_MAX(GB_MIN(n, (int64_t)WINO_MAX_COLS), 64);
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

int64_t gb_wino_workspace(const gb_wino *p) { return 16 * (p->C + p->M) * p->ncol; }

int64_t gb_wino_workspace_max(int64_t C, int64_t M) { return 16 * (C + M) * cache_cols(C, M); }

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

/* ---- one chunk ------------------------------------------------------------ */

/* The transforms are separable (B^T d B: rows, then columns), and the tiles
 * of one tile row of one image are side by side: a chunk is cut into such
 * segments, and each stage runs as contiguous vector loops over a whole
 * segment (tile-by-tile scalar transforms, with 16 output streams far apart,
 * cost more than the GEMMs). */
#define SEG_COLS (2 * WINO_MAX_COLS + 2)

/* Per tile of a chunk: image and top-left output pixel. */
typedef struct wino_tiles {
    int64_t img[WINO_MAX_COLS], r0[WINO_MAX_COLS], c0[WINO_MAX_COLS];
} wino_tiles;

/* End of the segment starting at tile j0: tiles in the same image and tile row. */
static int64_t segment_end(const wino_tiles *tl, int64_t j0, int64_t n) {
    int64_t j1 = j0 + 1;
    while (j1 < n && tl->img[j1] == tl->img[j0] && tl->r0[j1] == tl->r0[j0]) j1++;
    return j1;
}

/* V (16, C, n) = B^T d B over the input patches d of tiles [0, n). */
__attribute__((noinline)) static void transform_input(float *V, const float *x,
                                                      const wino_tiles *tl, int64_t n,
                                                      const gb_wino *p) {
    const int64_t C = p->C, H = p->H, W = p->W;
    for (int64_t j0 = 0, j1; j0 < n; j0 = j1) {
        j1 = segment_end(tl, j0, n);
        const int64_t q = j1 - j0, width = 2 * q + 2;
        const int64_t h = tl->r0[j0] - p->pt, w = tl->c0[j0] - p->pl;
        /* Columns [elo, ehi) of the segment's patch rows lie inside the input. */
        const int64_t elo = GB_MIN(GB_MAX(-w, (int64_t)0), width);
        const int64_t ehi = GB_MAX(GB_MIN(W - w, width), elo);
        for (int64_t c = 0; c < C; c++) {
            const float *xc = x + (tl->img[j0] * C + c) * H * W;
            float r[4][SEG_COLS], t[4][SEG_COLS];
            for (int a = 0; a < 4; a++) {
                int64_t hh = h + a;
                if (hh < 0 || hh >= H) {
                    memset(r[a], 0, (size_t)width * sizeof(float));
                    continue;
                }
                memset(r[a], 0, (size_t)elo * sizeof(float));
                memcpy(r[a] + elo, xc + hh * W + w + elo, (size_t)(ehi - elo) * sizeof(float));
                memset(r[a] + ehi, 0, (size_t)(width - ehi) * sizeof(float));
            }
            for (int64_t e = 0; e < width; e++) { /* B^T along the rows */
                t[0][e] = r[0][e] - r[2][e];
                t[1][e] = r[1][e] + r[2][e];
                t[2][e] = r[2][e] - r[1][e];
                t[3][e] = r[1][e] - r[3][e];
            }
            for (int i = 0; i < 4; i++) { /* B along the columns, 2 apart per tile */
                const float *ti = t[i];
                float *v0 = V + ((4 * i + 0) * C + c) * n + j0, *v1 = V + ((4 * i + 1) * C + c) * n + j0;
                float *v2 = V + ((4 * i + 2) * C + c) * n + j0, *v3 = V + ((4 * i + 3) * C + c) * n + j0;
                for (int64_t k = 0; k < q; k++) {
                    v0[k] = ti[2 * k] - ti[2 * k + 2];
                    v1[k] = ti[2 * k + 1] + ti[2 * k + 2];
                    v2[k] = ti[2 * k + 2] - ti[2 * k + 1];
                    v3[k] = ti[2 * k + 1] - ti[2 * k + 3];
                }
            }
        }
    }
}

/* y (+)= A^T M A (+ bias) over tiles [0, n), clipped to the output. */
__attribute__((noinline)) static void transform_output(float *y, const float *Mb,
                                                       const float *bias, int accumulate,
                                                       const wino_tiles *tl, int64_t n,
                                                       const gb_wino *p) {
    const int64_t M = p->M, OH = p->OH, OW = p->OW;
    for (int64_t j0 = 0, j1; j0 < n; j0 = j1) {
        j1 = segment_end(tl, j0, n);
        const int64_t q = j1 - j0, oh = tl->r0[j0], ow = tl->c0[j0];
        const int64_t cols = GB_MIN(2 * q, OW - ow), rows = GB_MIN((int64_t)2, OH - oh);
        for (int64_t m = 0; m < M; m++) {
            const float *mm[16];
            for (int xi = 0; xi < 16; xi++) mm[xi] = Mb + (xi * M + m) * n + j0;
            float s[2][4][WINO_MAX_COLS], out[2][SEG_COLS];
            for (int j = 0; j < 4; j++) /* A^T along the rows */
                for (int64_t k = 0; k < q; k++) {
                    s[0][j][k] = mm[j][k] + mm[4 + j][k] + mm[8 + j][k];
                    s[1][j][k] = mm[4 + j][k] - mm[8 + j][k] - mm[12 + j][k];
                }
            float b = bias && !accumulate ? bias[m] : 0.0f;
            for (int a = 0; a < 2; a++) /* A along the columns */
                for (int64_t k = 0; k < q; k++) {
                    out[a][2 * k] = s[a][0][k] + s[a][1][k] + s[a][2][k] + b;
                    out[a][2 * k + 1] = s[a][1][k] - s[a][2][k] - s[a][3][k] + b;
                }
            float *yc = y + (tl->img[j0] * M + m) * OH * OW + oh * OW + ow;
            for (int64_t a = 0; a < rows; a++) {
                if (accumulate)
                    for (int64_t e = 0; e < cols; e++) yc[a * OW + e] += out[a][e];
                else
                    memcpy(yc + a * OW, out[a], (size_t)cols * sizeof(float));
            }
        }
    }
}

void gb_wino_chunk(const gb_wino *p, int64_t k, float *y, const float *x, const float *U,
                   const float *bias, int accumulate, float *ws) {
    const int64_t T = p->th * p->tw, total = p->N * T;
    const int64_t g0 = k * p->ncol, n = GB_MIN(p->ncol, total - g0);
    if (n <= 0) return;
    const int64_t C = p->C, M = p->M;
    float *V = ws, *Mb = ws + 16 * C * n;
    wino_tiles tl;
    for (int64_t j = 0; j < n; j++) {
        int64_t g = g0 + j, t = g % T;
        tl.img[j] = g / T;
        tl.r0[j] = 2 * (t / p->tw);
        tl.c0[j] = 2 * (t % p->tw);
    }
    transform_input(V, x, &tl, n, p);
    for (int xi = 0; xi < 16; xi++)
        gb_sgemm(0, 0, M, n, C, 1.0f, U + xi * M * C, C, V + xi * C * n, n, 0.0f, Mb + xi * M * n,
                 n);
    transform_output(y, Mb, bias, accumulate, &tl, n, p);
}
