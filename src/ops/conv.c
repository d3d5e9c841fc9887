/* conv.c — ONNX Conv (opset 13) on NCHW images, 2-D only: strides, pads,
 * dilations, groups, auto_pad, optional bias.
 *
 * The math is im2col + GEMM (Chellapilla, Puri & Simard, "High Performance
 * Convolutional Neural Networks for Document Processing", 2006; Caffe's
 * im2col/col2im). Per image, the columns matrix cols (C*kH*kW, OH*OW) holds
 * in row (c, i, j) the input pixels that kernel tap (c, i, j) meets at each
 * output position, so for each group g
 *     Y[g] (M/G, P)    = W[g] (M/G, Kg) . cols[g] (Kg, P)     forward
 *     dW[g] (M/G, Kg) += dY[g] . cols[g]^T                   weight gradient
 *     dcols[g] (Kg, P) = W[g]^T . dY[g];  dX += col2im(dcols) input gradient
 * with P = OH*OW and Kg = C/G*kH*kW. A 1x1 stride-1 unpadded conv is its own
 * columns matrix and skips im2col.
 *
 * Parallelism: images are split across OpenMP threads, each running
 * single-threaded GEMMs on its own cache-sized column buffer (faster on this
 * 2-core target than one big multi-threaded GEMM plus a transpose, and it
 * keeps one writer per output image). Weight gradients go to per-thread
 * partial sums added in thread order, so results depend only on the thread
 * count. Columns are recomputed in backward rather than kept: attacks never
 * need them (dW is skipped) and the recompute is cheap next to the GEMMs.
 *
 * A Conv fused with the Relu (and 2x2 MaxPool) after it (graph/fuse.c)
 * applies them to each image's output while it is in cache, and in
 * backward rebuilds its output gradient from theirs the same way, image by
 * image, instead of reading whole tensors the separate ops wrote.
 *
 * 3x3 stride-1 single-group convolutions with enough channels take
 * Winograd's F(2x2, 3x3) instead for the forward pass and the input
 * gradient (conv_winograd.c): 2.25x fewer multiply-adds. A 3x3 stride-1
 * convolution of a one-channel image (a greyscale model's first layer)
 * runs its forward pass directly (conv1_direct_image).
 */
#include "internal.h"
#include "ops/conv_winograd.h"
#include "ops/window.h"

#include <cblas.h>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

typedef struct conv_geom {
    int64_t N, C, H, W;      /* input */
    int64_t M, OH, OW;       /* output */
    int64_t G, Cg, Mg;       /* groups; channels per group in and out */
    int64_t kh, kw, sh, sw, dh, dw, pt, pl;
    int64_t P;  /* OH*OW: output positions */
    int64_t K;  /* C*kh*kw: rows of an image's columns */
    int64_t Kg; /* Cg*kh*kw: rows of one group's columns */
    int direct; /* 1x1, stride 1, no pads: the image is its own columns matrix */
} conv_geom;

static conv_geom conv_geometry(const gb_node *n, const gb_tensor *x, const gb_tensor *w,
                               const gb_tensor *y) {
    const gb_op_params *p = &n->p;
    conv_geom g;
    g.N = x->shape[0], g.C = x->shape[1], g.H = x->shape[2], g.W = x->shape[3];
    g.M = w->shape[0], g.OH = y->shape[2], g.OW = y->shape[3];
    g.G = p->group, g.Cg = g.C / g.G, g.Mg = g.M / g.G;
    g.kh = w->shape[2], g.kw = w->shape[3];
    g.sh = p->stride[0], g.sw = p->stride[1], g.dh = p->dilation[0], g.dw = p->dilation[1];
    g.pt = p->pads[0], g.pl = p->pads[1];
    g.P = g.OH * g.OW;
    g.K = g.C * g.kh * g.kw;
    g.Kg = g.Cg * g.kh * g.kw;
    g.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
               p->pads[2] == 0 && p->pads[3] == 0;
    return g;
}

/* ---- im2col / col2im (one image) ---------------------------------------- */

/* One tap (c, i, j) of the columns is a (OH, OW) image: output position
 * (oh, ow) reads input pixel (oh*sh + offh, ow*sw + offw) of channel c, or
 * padding. [olo, ohi) are the rows and [lo, hi) the columns that read the
 * input. */
typedef struct conv_tap {
    int64_t offh, offw, olo, ohi, lo, hi;
} conv_tap;

static conv_tap tap_at(const conv_geom *g, int64_t i, int64_t j) {
    conv_tap t;
    t.offh = i * g->dh - g->pt;
    t.offw = j * g->dw - g->pl;
    win_valid_range(t.offh, g->sh, g->H, g->OH, &t.olo, &t.ohi);
    win_valid_range(t.offw, g->sw, g->W, g->OW, &t.lo, &t.hi);
    return t;
}

/* With stride 1 and OW == W (the usual "same" padding) a tap is the input
 * plane shifted by offh*W + offw, so consecutive output rows read
 * consecutive memory: the tap is one long copy (or add) over flat index q,
 * after which the side-padding positions, where the shift wrapped into a
 * neighbouring row, are fixed up. Clipping [a, b) to the plane only ever
 * drops side-padding positions. */
static int tap_is_flat(const conv_geom *g) { return g->sh == 1 && g->sw == 1 && g->OW == g->W; }

static void tap_flat_range(const conv_geom *g, const conv_tap *t, int64_t *a, int64_t *b,
                           int64_t *shift) {
    *shift = t->offh * g->W + t->offw;
    *a = GB_MAX(t->olo * g->OW, -*shift);
    *b = GB_MIN(t->ohi * g->OW, g->H * g->W - *shift);
}

/* Sets the side-padding positions of the valid rows of a tap to 0. */
static void tap_zero_sides(float *row, const conv_geom *g, const conv_tap *t) {
    for (int64_t ow = 0; ow < t->lo; ow++)
        for (int64_t oh = t->olo; oh < t->ohi; oh++) row[oh * g->OW + ow] = 0;
    for (int64_t ow = t->hi; ow < g->OW; ow++)
        for (int64_t oh = t->olo; oh < t->ohi; oh++) row[oh * g->OW + ow] = 0;
}

/* cols (K, P) from x (C, H, W); taps that land in the padding read 0. */
static void im2col(float *cols, const float *x, const conv_geom *g) {
    const int64_t OW = g->OW, sw = g->sw, sh = g->sh;
    /* Channels innermost: a tap's geometry (divisions) is the same for all. */
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            conv_tap t = tap_at(g, i, j);
            for (int64_t c = 0; c < g->C; c++) {
                const float *xc = x + c * g->H * g->W;
                float *row = cols + ((c * g->kh + i) * g->kw + j) * g->P;
                /* Rows above and below the input are all padding. */
                memset(row, 0, (size_t)(t.olo * OW) * sizeof *row);
                memset(row + t.ohi * OW, 0, (size_t)((g->OH - t.ohi) * OW) * sizeof *row);
                if (tap_is_flat(g)) {
                    int64_t a, b, shift;
                    tap_flat_range(g, &t, &a, &b, &shift);
                    if (b > a) memcpy(row + a, xc + a + shift, (size_t)(b - a) * sizeof *row);
                    tap_zero_sides(row, g, &t);
                    continue;
                }
                for (int64_t oh = t.olo; oh < t.ohi; oh++) {
                    float *r = row + oh * OW;
                    const float *xr = xc + (oh * sh + t.offh) * g->W;
                    for (int64_t ow = 0; ow < t.lo; ow++) r[ow] = 0;
                    for (int64_t ow = t.lo; ow < t.hi; ow++) r[ow] = xr[ow * sw + t.offw];
                    for (int64_t ow = t.hi; ow < OW; ow++) r[ow] = 0;
                }
            }
    }
}

/* dx (C, H, W) += the columns gradient dcols (K, P) scattered back to the
 * pixels each tap read; padding taps are dropped. dcols is scratch and gets
 * its side-padding positions zeroed on the flat path. */
static void col2im_add(float *dx, float *dcols, const conv_geom *g) {
    const int64_t OW = g->OW, sw = g->sw, sh = g->sh;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            conv_tap t = tap_at(g, i, j);
            for (int64_t c = 0; c < g->C; c++) {
                float *dxc = dx + c * g->H * g->W;
                float *row = dcols + ((c * g->kh + i) * g->kw + j) * g->P;
                if (tap_is_flat(g)) {
                    int64_t a, b, shift;
                    tap_flat_range(g, &t, &a, &b, &shift);
                    tap_zero_sides(row, g, &t);
                    for (int64_t q = a; q < b; q++) dxc[q + shift] += row[q];
                    continue;
                }
                for (int64_t oh = t.olo; oh < t.ohi; oh++) {
                    const float *r = row + oh * OW;
                    float *xr = dxc + (oh * sh + t.offh) * g->W;
                    for (int64_t ow = t.lo; ow < t.hi; ow++) xr[ow * sw + t.offw] += r[ow];
                }
            }
    }
}

/* ---- kernels on one image ----------------------------------------------- */

#if defined(__AVX2__) && defined(__FMA__)
/* A 3x3 stride-1 convolution of a one-channel image (the first layer of a
 * greyscale model), computed directly: im2col's GEMM has K = 9 there and
 * ran at ~25 GFLOP/s. The image is copied once into pad with its zero
 * border, then each output row is 8 outputs per vector, 9 multiply-adds
 * each, bias first and the taps in row-major order. Rows of at least 8
 * outputs: the last vector of a row overlaps the one before it instead of
 * spilling into the next row. pad needs (OH + 2) * (OW + 10) floats. */
static int conv1_direct(const conv_geom *g) {
    return g->C == 1 && g->G == 1 && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && g->OW >= 8 && (g->OH + 2) * (g->OW + 10) <= g->K * g->P;
}

static void conv1_direct_image(float *y, const float *x, const float *w, const float *b,
                               float *pad, const conv_geom *g) {
    const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW, pw = OW + 10;
    for (int64_t r = 0; r < OH + 2; r++) { /* pad[r][e] = x[r - pt][e - pl], or 0 */
        float *row = pad + r * pw;
        const int64_t xr = r - g->pt;
        for (int64_t e = 0; e < pw; e++) {
            const int64_t xc = e - g->pl;
            row[e] = xr >= 0 && xr < H && xc >= 0 && xc < W ? x[xr * W + xc] : 0.0f;
        }
    }
    for (int64_t m = 0; m < g->M; m++) {
        __m256 k[9];
        for (int t = 0; t < 9; t++) k[t] = _mm256_set1_ps(w[m * 9 + t]);
        const __m256 bias = _mm256_set1_ps(b ? b[m] : 0.0f);
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = pad + oh * pw;
            float *yr = y + (m * OH + oh) * OW;
            for (int64_t ow = 0;; ow += 8) {
                if (ow > OW - 8) ow = OW - 8;
                __m256 acc = bias;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        acc = _mm256_fmadd_ps(k[3 * i + j], _mm256_loadu_ps(r0 + i * pw + ow + j), acc);
                _mm256_storeu_ps(yr + ow, acc);
                if (ow == OW - 8) break;
            }
        }
    }
}
#else
static int conv1_direct(const conv_geom *g) { return (void)g, 0; }
static void conv1_direct_image(float *y, const float *x, const float *w, const float *b,
                               float *pad, const conv_geom *g) {
    (void)y, (void)x, (void)w, (void)b, (void)pad, (void)g;
}
#endif

/* y (M, P) = conv of x (C, H, W) with w (M, Cg, kh, kw) plus b (M) or NULL;
 * cols (K, P) is workspace. */
static void conv2d_forward_image(float *y, const float *x, const float *w, const float *b,
                                 float *cols, const conv_geom *g) {
    if (conv1_direct(g)) {
        conv1_direct_image(y, x, w, b, cols, g);
        return;
    }
    const float *c = x;
    if (!g->direct) {
        im2col(cols, x, g);
        c = cols;
    }
    if (b)
        for (int64_t m = 0; m < g->M; m++)
            for (int64_t q = 0; q < g->P; q++) y[m * g->P + q] = b[m];
    for (int64_t k = 0; k < g->G; k++)
        gb_sgemm(0, 0, g->Mg, g->P, g->Kg, 1.0f, w + k * g->Mg * g->Kg, g->Kg, c + k * g->Kg * g->P,
                 g->P, b ? 1.0f : 0.0f, y + k * g->Mg * g->P, g->P);
}

/* Gradients of one image: dx (C, H, W) += ..., dw (M, Kg) += ... (either may
 * be NULL) from dy (M, P); cols and dcols (K, P) are workspace. With
 * overwrite, dx was not zeroed (the engine's grad_overwrite) and is stored. */
static void conv2d_backward_image(float *dx, float *dw, const float *dy, const float *x,
                                  const float *w, float *cols, float *dcols, const conv_geom *g,
                                  int overwrite) {
    if (dw) {
        const float *c = x;
        if (!g->direct) {
            im2col(cols, x, g);
            c = cols;
        }
        for (int64_t k = 0; k < g->G; k++)
            gb_sgemm(0, 1, g->Mg, g->Kg, g->P, 1.0f, dy + k * g->Mg * g->P, g->P,
                     c + k * g->Kg * g->P, g->P, 1.0f, dw + k * g->Mg * g->Kg, g->Kg);
    }
    if (dx) {
        /* The direct case accumulates straight into dx; otherwise through dcols. */
        float *dc = g->direct ? dx : dcols;
        for (int64_t k = 0; k < g->G; k++)
            gb_sgemm(1, 0, g->Kg, g->P, g->Mg, 1.0f, w + k * g->Mg * g->Kg, g->Kg,
                     dy + k * g->Mg * g->P, g->P, g->direct && !overwrite ? 1.0f : 0.0f,
                     dc + k * g->Kg * g->P, g->P);
        if (!g->direct) {
            if (overwrite) memset(dx, 0, (size_t)(g->C * g->H * g->W) * sizeof *dx);
            col2im_add(dx, dcols, g);
        }
    }
}

/* Sum of v[0..n) in 8 double lanes: a plain running sum is one long chain
 * of dependent adds, this vectorizes, and the fixed order keeps results
 * reproducible. */
static double sum_lanes(const float *v, int64_t n) {
    double acc[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += v[k + l];
    double s = 0;
    for (; k < n; k++) s += v[k];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* ---- fused Relu and 2x2 MaxPool (graph/fuse.c) --------------------------- */

/* Each thread's slice of scratch[4]: M doubles of bias-gradient sums, then
 * one image's (M, P) output or output gradient; kept an even number of
 * floats so every slice's doubles stay aligned. */
static int64_t fused_slice(const conv_geom *g) {
    return 2 * g->M + ((g->M * g->P + 1) & ~(int64_t)1);
}

static float *fused_image_buf(const gb_node *n, const conv_geom *g, int t) {
    return n->scratch[4].data + t * fused_slice(g) + 2 * g->M;
}

/* The slice's head is only ever accessed as doubles. */
static double *fused_bias_sums(const gb_node *n, const conv_geom *g, int t) {
    return (double *)(void *)(n->scratch[4].data + t * fused_slice(g));
}

/* Pooled plane size of a fused pool: 2x2 windows, stride 2, no padding. */
static int64_t pooled(const gb_conv_post *post) {
    return post->pool_out->shape[2] * post->pool_out->shape[3];
}

/* Image i's conv output, relu'd into post->relu_out, or pooled and relu'd
 * into post->pool_out (through ybuf, (M, P) workspace). relu(max) equals
 * max(relu), and pooling first makes the Relu 4x cheaper. */
static void fused_forward_image(const gb_conv_post *post, int64_t i, float *ybuf, const float *x,
                                const float *w, const float *b, float *cols, const conv_geom *g) {
    float *y = post->pool_out ? ybuf : post->relu_out->data + i * g->M * g->P;
    conv2d_forward_image(y, x + i * g->C * g->H * g->W, w, b, cols, g);
    int64_t n = g->M * g->P;
    if (post->pool_out) {
        int64_t po = pooled(post), oh = post->pool_out->shape[2], ow = post->pool_out->shape[3];
        y = post->pool_out->data + i * g->M * po;
        for (int64_t m = 0; m < g->M; m++)
            gb_maxpool2x2_plane(y + m * po, post->pool_arg + (i * g->M + m) * po, ybuf + m * g->P,
                                g->OH, g->OW, oh, ow);
        n = g->M * po;
    }
    for (int64_t q = 0; q < n; q++) y[q] = y[q] > 0 ? y[q] : 0;
}

/* dy (M, P) = the gradient reaching image i's conv output: the fused
 * pool's gradient routed to its winners, or the Relu's, and zero where the
 * Relu was off (a winner's Relu was on exactly when the pooled value is
 * positive). */
static void fused_grad_image(float *dy, const gb_conv_post *post, int64_t i, const conv_geom *g) {
    const float *d = post->d_out->data;
    if (!post->pool_out) {
        const float *y = post->relu_out->data + i * g->M * g->P;
        d += i * g->M * g->P;
        for (int64_t q = 0; q < g->M * g->P; q++) dy[q] = y[q] > 0 ? d[q] : 0.0f;
        return;
    }
    int64_t po = pooled(post);
    const float *y = post->pool_out->data + i * g->M * po;
    const int32_t *arg = post->pool_arg + i * g->M * po;
    d += i * g->M * po;
    memset(dy, 0, (size_t)(g->M * g->P) * sizeof *dy);
    for (int64_t m = 0; m < g->M; m++)
        for (int64_t k = m * po; k < (m + 1) * po; k++)
            dy[m * g->P + arg[k]] += y[k] > 0 ? d[k] : 0.0f; /* a select: y's sign is unpredictable */
}

/* ---- threading ---------------------------------------------------------- */

/* Below this many channels in or out, Winograd loses to im2col: the
 * transforms, whose cost grows as C + M against the GEMMs' C * M, take
 * longer than the multiply-adds they save. The zoo cnn's 32 -> 64 conv at
 * 14x14 gains (see conv_winograd.c; with OpenBLAS GEMMs and scalar
 * transforms it had lost, 1.4x slower); ResNet-18's 64..512-channel 3x3
 * convs ran 1.6x faster than im2col. */
#define WINO_MIN_CHANNELS 32

/* Set by benchmarks (bench_cnn --no-winograd) and tests to compare with
 * the im2col path; never by the library. */
int gb_no_winograd;

static int conv_wino(const conv_geom *g) {
    if (gb_no_winograd) return 0;
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->G == 1 && g->C >= WINO_MIN_CHANNELS && g->M >= WINO_MIN_CHANNELS;
}

/* Any Conv can: the Winograd path writes Relu'd or pooled output tiles
 * directly (an output tile is one pool window). */
int gb_conv_fusable(const gb_node *n, const gb_tensor *x, const gb_tensor *w, const gb_tensor *y) {
    (void)n, (void)x, (void)w, (void)y;
    return 1;
}

/* Runs a planned Winograd convolution over its chunks on up to `want`
 * threads, each with its slice of buf (planned for
 * gb_wino_workspace_max). */
static void wino_run(const gb_wino *p, const float *x, const float *U, const gb_wino_out *out,
                     const gb_tensor *buf, int want) {
    int64_t ws = gb_wino_workspace(p);
    int64_t t = GB_MIN(GB_MIN((int64_t)want, p->nchunks), buf->size / ws);
    int nt = t < 1 ? 1 : (int)t;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t k = 0; k < p->nchunks; k++)
        gb_wino_chunk(p, k, x, U, out, buf->data + omp_get_thread_num() * ws);
}

/* Layers with at most this many channel pairs keep their transformed
 * weights between calls (wino_weights); wider ones (ResNet's 512-channel
 * layers: 48 MB of copies) transform them on every call. */
#define WINO_CACHE_PAIRS (256 * 256)

static int wino_caches(const conv_geom *g) { return g->M * g->C <= WINO_CACHE_PAIRS; }

/* U for the Winograd path (dual: the input gradient's), in scratch[3]. A
 * small layer's U is transformed again only when the weights differ from
 * the copy in scratch[5] it was last transformed from: a query loop scores
 * batch after batch with the same weights, and at batch 1 the transform
 * cost as much as the convolution; comparing 9 M C floats is cheap, and
 * training (new weights every step) only pays for the compare. */
static const float *wino_weights(gb_node *n, const float *w, const conv_geom *g, int dual) {
    const int64_t wsize = g->M * g->C * 9;
    if (!wino_caches(g)) {
        gb_wino_weights(n->scratch[3].data, w, g->M, g->C, dual);
        return n->scratch[3].data;
    }
    float *U = n->scratch[3].data + dual * 16 * wsize / 9, *copy = n->scratch[5].data + dual * wsize;
    unsigned bit = 1u << dual;
    if (!(n->wino_cached & bit) || memcmp(copy, w, (size_t)wsize * sizeof *w)) {
        gb_wino_weights(U, w, g->M, g->C, dual);
        memcpy(copy, w, (size_t)wsize * sizeof *w);
        n->wino_cached |= bit;
    }
    return U;
}

/* Threads for the image loop: at most one per image, and no more than the
 * per-thread buffers planned in infer. */
static int conv_threads(const gb_node *n, const conv_geom *g) {
    int64_t t = GB_MIN((int64_t)gb_get_num_threads(), g->N);
    int64_t per = g->Mg * g->Kg * g->G;
    if (per > 0) t = GB_MIN(t, n->scratch[2].size / per);
    return t < 1 ? 1 : (int)t;
}

/* ---- the op ------------------------------------------------------------- */

static gb_status conv_init(gb_node *n) {
    GB_TRY(win_parse(n));
    GB_TRY(gb_attr_int(n, "group", 1, &n->p.group));
    if (n->p.group < 1)
        return gb_error(GB_ERR_FORMAT, "node '%s' (Conv): group %lld is not positive", n->name,
                        (long long)n->p.group);
    return GB_OK;
}

static gb_status conv_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0] || !in[1]) return gb_error(GB_ERR_FORMAT, "required input X or W is missing");
    const gb_tensor *x = &in[0]->t, *w = &in[1]->t;
    const gb_op_params *p = &n->p;
    char xs[128], ws[128];
    gb_shape_str(x->ndim, x->shape, xs, sizeof xs);
    gb_shape_str(w->ndim, w->shape, ws, sizeof ws);
    if (x->ndim != 4)
        return gb_error(GB_ERR_UNSUPPORTED,
                        "only 2-D convolution on (N, C, H, W) input is supported; input is %s", xs);
    if (w->ndim != 4)
        return gb_error(GB_ERR_UNSUPPORTED,
                        "only 2-D convolution is supported; weight is %s, expected (M, C/group, kH, kW)",
                        ws);
    if (x->shape[1] < 1 || x->shape[2] < 1 || x->shape[3] < 1 || w->shape[0] < 1 ||
        w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        return gb_error(GB_ERR_SHAPE, "empty input %s or weight %s", xs, ws);
    int64_t C = x->shape[1], M = w->shape[0], G = p->group;
    if (C % G)
        return gb_error(GB_ERR_SHAPE, "group %lld does not divide the %lld input channels of %s",
                        (long long)G, (long long)C, xs);
    if (M % G)
        return gb_error(GB_ERR_SHAPE, "group %lld does not divide the %lld output channels of weight %s",
                        (long long)G, (long long)M, ws);
    if (w->shape[1] != C / G)
        return gb_error(GB_ERR_SHAPE,
                        "channel mismatch: weight %s expects %lld input channels per group, input %s "
                        "has %lld channels in %lld group(s)",
                        ws, (long long)w->shape[1], xs, (long long)C, (long long)G);
    if (p->kernel[0] && (p->kernel[0] != w->shape[2] || p->kernel[1] != w->shape[3]))
        return gb_error(GB_ERR_SHAPE, "kernel_shape (%lld, %lld) does not match weight %s",
                        (long long)p->kernel[0], (long long)p->kernel[1], ws);
    if (n->nin > 2 && in[2] && (in[2]->t.ndim != 1 || in[2]->t.shape[0] != M)) {
        char bs[128];
        return gb_error(GB_ERR_SHAPE, "bias %s does not match the %lld output channels",
                        gb_shape_str(in[2]->t.ndim, in[2]->t.shape, bs, sizeof bs), (long long)M);
    }
    /* win_resolve reads the kernel from the params; take it from the weight. */
    n->p.kernel[0] = w->shape[2];
    n->p.kernel[1] = w->shape[3];
    int64_t oh, ow;
    GB_TRY(win_resolve(n, x->shape[2], x->shape[3], 0, &oh, &ow));
    int64_t ys[4] = {x->shape[0], M, oh, ow};
    GB_TRY(gb_tensor_resize(out[0], 4, ys));
    conv_geom g = conv_geometry(n, x, w, out[0]);
    int64_t nt = gb_get_num_threads();
    if (g.P && g.K > GB_MAX_ELEMENTS / g.P)
        return gb_error(GB_ERR_NOMEM, "im2col buffer of absurd size");
    int64_t cols = g.K * g.P;
    /* Winograd's per-thread V and M share the im2col buffers. */
    int64_t wino = conv_wino(&g) ? gb_wino_workspace_max(g.C, g.M, g.OW) : 0;
    int64_t dual = conv_wino(&g) ? gb_wino_workspace_max(g.M, g.C, g.W) : 0;
    n->scratch_need[0] = g.direct ? 0 : nt * GB_MAX(cols, wino); /* per-thread columns */
    n->scratch_need[1] = g.direct ? 0 : nt * GB_MAX(cols, dual); /* per-thread column gradients */
    n->scratch_need[2] = nt * M * g.Kg; /* per-thread weight-gradient partials */
    /* A fused Conv's per-thread output (forward) or output gradient
     * (backward) of one image, then its per-thread bias-gradient sums (M
     * doubles). */
    n->scratch_need[4] = nt * fused_slice(&g);
    /* Winograd-transformed weights and the weights they came from, for the
     * forward pass and for the input gradient. */
    int cache = wino && wino_caches(&g);
    n->scratch_need[3] = wino ? (cache ? 2 : 1) * 16 * M * g.C : 0;
    n->scratch_need[5] = cache ? 2 * 9 * M * g.C : 0;
    n->wino_cached = 0;
    return GB_OK;
}

static void conv_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    conv_geom g = conv_geometry(n, in[0], in[1], out[0]);
    const float *x = in[0]->data, *w = in[1]->data;
    const float *b = n->nin > 2 && in[2] ? in[2]->data : NULL;
    float *y = out[0]->data;
    const gb_conv_post *post = ex->post;
    if (conv_wino(&g)) {
        int want = gb_get_num_threads();
        gb_wino p = gb_wino_plan(g.N, g.C, g.H, g.W, g.M, g.OH, g.OW, g.pt, g.pl, want);
        gb_wino_out o = {y, b, 0, 0, NULL, NULL, 0, 0};
        if (post && post->pool_out) { /* the output tiles are the pool windows */
            o = (gb_wino_out){NULL, b, 0, 1, post->pool_out->data, post->pool_arg,
                              post->pool_out->shape[2], post->pool_out->shape[3]};
        } else if (post) {
            o.y = post->relu_out->data;
            o.relu = 1;
        }
        wino_run(&p, x, wino_weights(n, w, &g, 0), &o, &n->scratch[0], want);
        return;
    }
    float *cols = n->scratch[0].data;
    int nt = conv_threads(n, &g);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < g.N; i++) {
        int t = omp_get_thread_num();
        float *c = g.direct ? NULL : cols + t * g.K * g.P;
        if (post)
            fused_forward_image(post, i, fused_image_buf(n, &g, t), x, w, b, c, &g);
        else
            conv2d_forward_image(y + i * g.M * g.P, x + i * g.C * g.H * g.W, w, b, c, &g);
    }
}

/* dw += the per-thread partial sums, added in thread order. */
static void add_partials(float *dw, const float *part, int nt, int64_t wsize) {
#pragma omp parallel for schedule(static) if (wsize > 4096)
    for (int64_t k = 0; k < wsize; k++) {
        float s = 0;
        for (int t = 0; t < nt; t++) s += part[t * wsize + k];
        dw[k] += s;
    }
}

/* Backward of a Conv fused with its Relu (and pool): each image's output
 * gradient is built in the thread's cache-sized buffer, then used for the
 * weight, input and bias gradients. */
static void fused_backward(gb_node *n, const conv_geom *g, const gb_conv_post *post,
                           const float *x, const float *w, float *dx, float *dw, float *db) {
    int nt = conv_threads(n, g);
    int64_t wsize = g->M * g->Kg;
    float *part = n->scratch[2].data;
    if (dw) memset(part, 0, (size_t)(nt * wsize) * sizeof *part);
    for (int t = 0; t < nt; t++) memset(fused_bias_sums(n, g, t), 0, (size_t)g->M * sizeof(double));
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < g->N; i++) {
        int t = omp_get_thread_num();
        float *dy = fused_image_buf(n, g, t);
        fused_grad_image(dy, post, i, g);
        if (dx || dw) {
            float *cols = g->direct ? NULL : n->scratch[0].data + t * g->K * g->P;
            float *dcols = g->direct ? NULL : n->scratch[1].data + t * g->K * g->P;
            conv2d_backward_image(dx ? dx + i * g->C * g->H * g->W : NULL,
                                  dw ? part + t * wsize : NULL, dy, x + i * g->C * g->H * g->W, w,
                                  cols, dcols, g, n->grad_overwrite);
        }
        if (db) {
            double *sums = fused_bias_sums(n, g, t);
            for (int64_t m = 0; m < g->M; m++) sums[m] += sum_lanes(dy + m * g->P, g->P);
        }
    }
    if (dw) add_partials(dw, part, nt, wsize);
    if (db)
        for (int64_t m = 0; m < g->M; m++) {
            double s = 0;
            for (int t = 0; t < nt; t++) s += fused_bias_sums(n, g, t)[m];
            db[m] += (float)s;
        }
}

static void conv_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    conv_geom g = conv_geometry(n, in[0], in[1], out[0]);
    const float *x = in[0]->data, *w = in[1]->data, *dy = dout[0]->data;
    float *dx = din[0] ? din[0]->data : NULL;
    float *dw = din[1] ? din[1]->data : NULL;
    float *db = n->nin > 2 && din[2] ? din[2]->data : NULL;
    if (ex->post && !conv_wino(&g)) {
        fused_backward(n, &g, ex->post, x, w, dx, dw, db);
        return;
    }
    if (ex->post) {
        /* Winograd's input gradient runs on the whole batch: rebuild the
         * whole output gradient, in the conv output's own (otherwise
         * unused) gradient buffer, then go on as if unfused. */
        float *d = dout[0]->data;
#pragma omp parallel for schedule(static) if (g.N > 1)
        for (int64_t i = 0; i < g.N; i++) fused_grad_image(d + i * g.M * g.P, ex->post, i, &g);
        dy = d;
    }
    if (dx && conv_wino(&g)) {
        /* dx += dy convolved with the rotated, channel-swapped kernel at
         * offset 2 - pad: the input gradient as a Winograd convolution. */
        int want = gb_get_num_threads();
        gb_wino p = gb_wino_plan(g.N, g.M, g.OH, g.OW, g.C, g.H, g.W, 2 - g.pt, 2 - g.pl, want);
        /* The dual's tiles cover all of dx: with grad_overwrite it is stored. */
        gb_wino_out o = {dx, NULL, !n->grad_overwrite, 0, NULL, NULL, 0, 0};
        wino_run(&p, dy, wino_weights(n, w, &g, 1), &o, &n->scratch[1], want);
        dx = NULL;
    }
    if (dx || dw) {
        int nt = conv_threads(n, &g);
        int64_t wsize = g.M * g.Kg;
        float *part = n->scratch[2].data;
        if (dw) memset(part, 0, (size_t)(nt * wsize) * sizeof *part);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int64_t i = 0; i < g.N; i++) {
            int t = omp_get_thread_num();
            float *cols = g.direct ? NULL : n->scratch[0].data + t * g.K * g.P;
            float *dcols = g.direct ? NULL : n->scratch[1].data + t * g.K * g.P;
            conv2d_backward_image(dx ? dx + i * g.C * g.H * g.W : NULL, dw ? part + t * wsize : NULL,
                                  dy + i * g.M * g.P, x + i * g.C * g.H * g.W, w, cols, dcols, &g,
                                  n->grad_overwrite);
        }
        if (dw) add_partials(dw, part, nt, wsize);
    }
    if (db) {
#pragma omp parallel for schedule(static) if (g.M >= 8)
        for (int64_t m = 0; m < g.M; m++) {
            double s = 0;
            for (int64_t i = 0; i < g.N; i++) s += sum_lanes(dy + (i * g.M + m) * g.P, g.P);
            db[m] += (float)s;
        }
    }
}

const gb_op_def gb_opdef_CONV = {"Conv", 2, 3, 1, conv_init, conv_infer, conv_forward,
                                 conv_backward};
