/* pool.c — ONNX MaxPool, AveragePool (opset 13, 2-D windows on NCHW) and
 * GlobalAveragePool, forward and backward.
 *
 * MaxPool treats padding as -inf and routes each output's gradient to the
 * input that won (the first maximum on ties, as PyTorch); the winners'
 * in-plane indices are kept in scratch between forward and backward.
 * AveragePool divides by the window area clipped to the padded input
 * (count_include_pad=1) or to the real input (count_include_pad=0), PyTorch's
 * avg_pool2d rule, so that ceil_mode windows overhanging the end padding are
 * not charged for the overhang. Window geometry: ops/window.h.
 *
 * Every (image, channel) plane is independent: planes are split across
 * threads and each output and input-gradient element has one writer.
 */
#include "internal.h"
#include "ops/window.h"

#include <math.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

typedef struct pool_geom {
    int64_t planes, H, W, OH, OW;
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
} pool_geom;

static pool_geom pool_geometry(const gb_node *n, const gb_tensor *x, const gb_tensor *y) {
    const gb_op_params *p = &n->p;
    return (pool_geom){x->shape[0] * x->shape[1], x->shape[2], x->shape[3], y->shape[2],
                       y->shape[3], p->kernel[0], p->kernel[1], p->stride[0], p->stride[1],
                       p->dilation[0], p->dilation[1], p->pads[0], p->pads[1], p->pads[2],
                       p->pads[3]};
}

/* Taps t in [0, k) of a window starting at `start` (stride d between taps)
 * that land inside [0, n): [*lo, *hi). Dilation 1 avoids the divisions. */
static inline void tap_range(int64_t start, int64_t k, int64_t d, int64_t n, int64_t *lo,
                             int64_t *hi) {
    int64_t l, h;
    if (d == 1) {
        l = start < 0 ? -start : 0;
        h = GB_MIN(k, n - start);
    } else {
        l = start >= 0 ? 0 : (-start + d - 1) / d;
        h = n - start > 0 ? GB_MIN(k, (n - start + d - 1) / d) : 0;
    }
    *lo = GB_MIN(l, k);
    *hi = GB_MAX(*lo, h);
}

/* Shared attribute parsing: kernel_shape is required, pads must stay below
 * the kernel (as onnxruntime requires; then only a dilated window can be all
 * padding, which gives -inf for max and 0 for average). */
static gb_status pool_init_common(gb_node *n) {
    GB_TRY(win_parse(n));
    if (!n->p.kernel[0])
        return gb_error(GB_ERR_FORMAT, "node '%s' (%s): missing attribute kernel_shape", n->name,
                        n->op_type);
    int64_t ceil_mode;
    GB_TRY(gb_attr_int(n, "ceil_mode", 0, &ceil_mode));
    n->p.ceil_mode = ceil_mode != 0;
    for (int i = 0; i < 4; i++)
        if (n->p.pads[i] >= n->p.kernel[i % 2])
            return gb_error(GB_ERR_UNSUPPORTED,
                            "node '%s' (%s): pads (%lld, %lld, %lld, %lld) must be smaller than "
                            "kernel_shape (%lld, %lld)",
                            n->name, n->op_type, (long long)n->p.pads[0], (long long)n->p.pads[1],
                            (long long)n->p.pads[2], (long long)n->p.pads[3],
                            (long long)n->p.kernel[0], (long long)n->p.kernel[1]);
    return GB_OK;
}

/* (N, C, H, W) -> (N, C, OH, OW); scratch_per_out floats of scratch per output. */
static gb_status pool_infer_common(gb_node *n, const gb_value *const *in, gb_tensor **out,
                                   int scratch_per_out) {
    if (!in[0]) return gb_error(GB_ERR_FORMAT, "required input X is missing");
    const gb_tensor *x = &in[0]->t;
    char xs[128];
    if (x->ndim != 4)
        return gb_error(GB_ERR_UNSUPPORTED,
                        "only 2-D pooling on (N, C, H, W) input is supported; input is %s",
                        gb_shape_str(x->ndim, x->shape, xs, sizeof xs));
    if (x->shape[2] * x->shape[3] > INT32_MAX)
        return gb_error(GB_ERR_UNSUPPORTED, "input plane of %lld pixels is too large",
                        (long long)(x->shape[2] * x->shape[3]));
    int64_t oh, ow;
    GB_TRY(win_resolve(n, x->shape[2], x->shape[3], n->p.ceil_mode, &oh, &ow));
    int64_t ys[4] = {x->shape[0], x->shape[1], oh, ow};
    GB_TRY(gb_tensor_resize(out[0], 4, ys));
    n->scratch_need[0] = scratch_per_out * out[0]->size;
    return GB_OK;
}

/* ---- MaxPool ------------------------------------------------------------- */

static gb_status maxpool_init(gb_node *n) {
    GB_TRY(pool_init_common(n));
    int64_t order;
    GB_TRY(gb_attr_int(n, "storage_order", 0, &order));
    if (order != 0)
        return gb_error(GB_ERR_UNSUPPORTED,
                        "node '%s' (MaxPool): storage_order %lld (column-major indices) is not "
                        "supported",
                        n->name, (long long)order);
    return GB_OK;
}

static gb_status maxpool_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    return pool_infer_common(n, in, out, 1);
}

/* The common 2x2 stride-2 pool whose windows all lie inside the input gets
 * a loop without bounds logic (same results as the general one). */
static int maxpool_is_2x2(const pool_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 &&
           g->pt == 0 && g->pl == 0 && 2 * g->OH <= g->H && 2 * g->OW <= g->W;
}

/* One (H, W) plane's 2x2 stride-2 pool: y[oh][ow] is the first maximum in
 * row-major tap order (a = x[2oh][2ow], b = a's right neighbour, then c, d
 * on the row below) and arg its in-plane index. Each tap replaces the best
 * so far only if strictly greater, so ties (and -0.0 == +0.0) keep the
 * earlier tap, and a NaN wins only as tap a (every later compare with it is
 * false; a NaN in b, c or d is skipped). The scalar loop is the portable
 * version (and the baseline bench/bench_pool.c times); the AVX2 one follows
 * exactly the same sequence, so they agree bit for bit, indices included. */
void gb_maxpool2x2_plane_scalar(float *y, int32_t *arg, const float *x, int64_t H, int64_t W,
                                int64_t OH, int64_t OW) {
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *yr = y + oh * OW;
        int32_t *ar = arg + oh * OW;
        int32_t base = (int32_t)(2 * oh * W);
        for (int64_t ow = 0; ow < OW; ow++) {
            float best = r0[2 * ow];
            int32_t at = base + (int32_t)(2 * ow);
            int take = r0[2 * ow + 1] > best;
            best = take ? r0[2 * ow + 1] : best;
            at = take ? base + (int32_t)(2 * ow + 1) : at;
            take = r1[2 * ow] > best;
            best = take ? r1[2 * ow] : best;
            at = take ? base + (int32_t)(W + 2 * ow) : at;
            take = r1[2 * ow + 1] > best;
            best = take ? r1[2 * ow + 1] : best;
            at = take ? base + (int32_t)(W + 2 * ow + 1) : at;
            yr[ow] = best;
            ar[ow] = at;
        }
    }
}

#if defined(__AVX2__)
/* Why vectors: the shipped CNN pools 28x28 -> 14x14 and 14x14 -> 7x7
 * planes, rows shorter than the vector loop compilers make of the C, which
 * then runs in its branchy scalar remainder (mispredicted on random data).
 * Here 8 outputs of a row at a time: two 8-float loads per input row,
 * split into even (taps a, c) and odd (b, d) columns, then the same three
 * strict compare-and-select steps as the C, on values and tap offsets.
 * Masked lanes past the plane load 0 and their results are not stored. */

/* A sliding 8-lane window over this table masks the first n lanes. */
static const int32_t pool_mask_tbl[32] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, -1, -1, 0,  0,  0,  0,  0,  0,
                                          0,  0,  0,  0,  0,  0,  0,  0,  0,  0};

/* All-ones in lanes [0, n), for n in [-8, 16] (n <= 0: no lanes). */
static inline __m256i pool_mask(int64_t n) {
    return _mm256_loadu_si256((const __m256i *)(const void *)(pool_mask_tbl + 16 - n));
}

/* best/off := v/voff in the lanes where v > best. maxps(v, best) is
 * exactly `v > best ? v : best` (the second operand on ties, -0.0 vs +0.0
 * and NaN). Offsets grow in tap order, so the last tap taken has the
 * largest: a max keeps it. (Not blendv: gcc adds a vpcmpgtd in front of
 * each blendv on a compare mask; this is also one dependent op shorter.) */
static inline void pool_take(__m256 *best, __m256i *off, __m256 v, __m256i voff) {
    __m256i gt = _mm256_castps_si256(_mm256_cmp_ps(v, *best, _CMP_GT_OQ));
    *best = _mm256_max_ps(v, *best);
    *off = _mm256_max_epi32(*off, _mm256_and_si256(gt, voff));
}

/* Outputs ow..ow+7 of one row from the 16 columns 2ow.. of rows r0, r1
 * (lo/hi: columns 0-7 and 8-15 of each); at = in-plane index of r0[0]. */
static inline void pool8(__m256 *val, __m256i *idx, __m256 lo0, __m256 hi0, __m256 lo1,
                         __m256 hi1, int32_t at, int32_t W) {
    /* shuffle_ps works within 128-bit halves: lanes hold outputs
     * 0 1 4 5 2 3 6 7 until the final 64-bit permute. */
    __m256 a = _mm256_shuffle_ps(lo0, hi0, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 b = _mm256_shuffle_ps(lo0, hi0, _MM_SHUFFLE(3, 1, 3, 1));
    __m256 c = _mm256_shuffle_ps(lo1, hi1, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 d = _mm256_shuffle_ps(lo1, hi1, _MM_SHUFFLE(3, 1, 3, 1));
    /* Tap offsets: a 0, b 1, c W, d W + 1 (W >= 2). */
    __m256 best = a;
    __m256i off = _mm256_setzero_si256();
    pool_take(&best, &off, b, _mm256_set1_epi32(1));
    pool_take(&best, &off, c, _mm256_set1_epi32(W));
    pool_take(&best, &off, d, _mm256_set1_epi32(W + 1));
    __m256i i = _mm256_add_epi32(off, _mm256_add_epi32(_mm256_set1_epi32(at),
                                                       _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14)));
    *val = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(best), 0xD8));
    *idx = _mm256_permute4x64_epi64(i, 0xD8);
}

void gb_maxpool2x2_plane(float *y, int32_t *arg, const float *x, int64_t H, int64_t W,
                         int64_t OH, int64_t OW) {
    __m256 val;
    __m256i idx;
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *yr = y + oh * OW;
        int32_t *ar = arg + oh * OW;
        int32_t base = (int32_t)(2 * oh * W);
        if (OW >= 8) {
            /* The last block overlaps the one before it instead of a scalar
             * tail: recomputing a few outputs stores the same values. */
            for (int64_t ow = 0;; ow += 8) {
                if (ow > OW - 8) ow = OW - 8;
                const float *p0 = r0 + 2 * ow, *p1 = r1 + 2 * ow;
                pool8(&val, &idx, _mm256_loadu_ps(p0), _mm256_loadu_ps(p0 + 8),
                      _mm256_loadu_ps(p1), _mm256_loadu_ps(p1 + 8), base + (int32_t)(2 * ow),
                      (int32_t)W);
                _mm256_storeu_ps(yr + ow, val);
                _mm256_storeu_si256((__m256i *)(void *)(ar + ow), idx);
                if (ow == OW - 8) break;
            }
        } else if (oh + 1 < OH && OW >= 4) {
            /* A short row (14x14 -> 7x7) that is not the last: the 16
             * columns read stay inside the plane (2 W >= 16), and the 8 - OW
             * extra outputs land in the next row, rewritten next. */
            pool8(&val, &idx, _mm256_loadu_ps(r0), _mm256_loadu_ps(r0 + 8), _mm256_loadu_ps(r1),
                  _mm256_loadu_ps(r1 + 8), base, (int32_t)W);
            _mm256_storeu_ps(yr, val);
            _mm256_storeu_si256((__m256i *)(void *)ar, idx);
        } else {
            /* Otherwise masked loads and stores touch only the row's 2 OW
             * input columns and OW outputs (masked stores are slow on AMD
             * Zen, hence the case above). */
            __m256i lo = pool_mask(2 * OW), hi = pool_mask(2 * OW - 8), out = pool_mask(OW);
            pool8(&val, &idx, _mm256_maskload_ps(r0, lo), _mm256_maskload_ps(r0 + 8, hi),
                  _mm256_maskload_ps(r1, lo), _mm256_maskload_ps(r1 + 8, hi), base, (int32_t)W);
            _mm256_maskstore_ps(yr, out, val);
            _mm256_maskstore_epi32(ar, out, idx);
        }
    }
}
#else
void gb_maxpool2x2_plane(float *y, int32_t *arg, const float *x, int64_t H, int64_t W,
                         int64_t OH, int64_t OW) {
    gb_maxpool2x2_plane_scalar(y, arg, x, H, W, OH, OW);
}
#endif

static void maxpool2x2_forward(float *y, int32_t *arg, const float *x, const pool_geom *g) {
    const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW;
#pragma omp parallel for schedule(static) if (g->planes * OH * OW > 16384)
    for (int64_t pc = 0; pc < g->planes; pc++)
        gb_maxpool2x2_plane(y + pc * OH * OW, arg + pc * OH * OW, x + pc * H * W, H, W, OH, OW);
}

/* y (planes, OH, OW) = window maxima of x (planes, H, W); arg (same shape as
 * y) = in-plane index of each winner, -1 if the window held only padding.
 * Taps outside the input are skipped (padding is -inf); the update is
 * written as selects because the comparisons on real data are unpredictable. */
static void maxpool2d_forward(float *y, int32_t *arg, const float *x, const pool_geom *g) {
    if (maxpool_is_2x2(g)) {
        maxpool2x2_forward(y, arg, x, g);
        return;
    }
#pragma omp parallel for schedule(static) if (g->planes * g->OH * g->OW > 16384)
    for (int64_t pc = 0; pc < g->planes; pc++) {
        const float *xp = x + pc * g->H * g->W;
        float *yp = y + pc * g->OH * g->OW;
        int32_t *ap = arg + pc * g->OH * g->OW;
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t h0 = oh * g->sh - g->pt, ilo, ihi;
            tap_range(h0, g->kh, g->dh, g->H, &ilo, &ihi);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t w0 = ow * g->sw - g->pl, jlo, jhi;
                tap_range(w0, g->kw, g->dw, g->W, &jlo, &jhi);
                float best = -INFINITY;
                int32_t at = -1;
                if (ilo < ihi && jlo < jhi) {
                    at = (int32_t)((h0 + ilo * g->dh) * g->W + w0 + jlo * g->dw);
                    best = xp[at];
                }
                for (int64_t i = ilo; i < ihi; i++)
                    for (int64_t j = jlo; j < jhi; j++) {
                        int32_t idx = (int32_t)((h0 + i * g->dh) * g->W + w0 + j * g->dw);
                        float v = xp[idx];
                        int take = v > best; /* strict: the first maximum wins ties */
                        best = take ? v : best;
                        at = take ? idx : at;
                    }
                yp[oh * g->OW + ow] = best;
                ap[oh * g->OW + ow] = at;
            }
        }
    }
}

/* dx (planes, H, W) += dy routed to the recorded winners; with overwrite,
 * dx (not zeroed by the engine) is cleared plane by plane first, while the
 * plane is in cache. */
static void maxpool2d_backward(float *dx, const float *dy, const int32_t *arg, const pool_geom *g,
                               int overwrite) {
    int64_t po = g->OH * g->OW;
#pragma omp parallel for schedule(static) if (g->planes * po > 16384)
    for (int64_t pc = 0; pc < g->planes; pc++) {
        float *dxp = dx + pc * g->H * g->W;
        if (overwrite) memset(dxp, 0, (size_t)(g->H * g->W) * sizeof *dxp);
        for (int64_t k = pc * po; k < (pc + 1) * po; k++)
            if (arg[k] >= 0) dxp[arg[k]] += dy[k];
    }
}

int gb_maxpool_fusable(const gb_node *n, const gb_tensor *x, const gb_tensor *y) {
    pool_geom g = pool_geometry(n, x, y);
    return maxpool_is_2x2(&g);
}

/* The scratch buffer holds int32 indices; it is only ever accessed as int32. */
static int32_t *maxpool_arg(gb_node *n) { return (int32_t *)(void *)n->scratch[0].data; }

static void maxpool_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                            const gb_exec *ex) {
    (void)ex;
    pool_geom g = pool_geometry(n, in[0], out[0]);
    maxpool2d_forward(out[0]->data, maxpool_arg(n), in[0]->data, &g);
}

static void maxpool_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                             gb_tensor *const *din, const gb_tensor *const *dout,
                             const gb_exec *ex) {
    (void)ex;
    if (!din[0]) return;
    pool_geom g = pool_geometry(n, in[0], out[0]);
    maxpool2d_backward(din[0]->data, dout[0]->data, maxpool_arg(n), &g, n->grad_overwrite);
}

const gb_op_def gb_opdef_MAX_POOL = {"MaxPool", 1, 1, 1, maxpool_init, maxpool_infer,
                                     maxpool_forward, maxpool_backward};

/* ---- AveragePool ----------------------------------------------------------- */

static gb_status avgpool_init(gb_node *n) {
    GB_TRY(pool_init_common(n));
    int64_t cip;
    GB_TRY(gb_attr_int(n, "count_include_pad", 0, &cip));
    n->p.count_include_pad = cip != 0;
    return GB_OK;
}

static gb_status avgpool_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    return pool_infer_common(n, in, out, 0);
}

/* Taps of a window along one dimension: [*lo, *hi) are the taps inside the
 * input; the return value is the divisor's share (taps inside the padded
 * input if include_pad, else hi - lo). Windows never start before the
 * begin padding, so only the end padding clips. */
static int64_t avg_taps(int64_t start, int64_t k, int64_t d, int64_t in, int64_t pad_end,
                        int include_pad, int64_t *lo, int64_t *hi) {
    tap_range(start, k, d, in, lo, hi);
    if (!include_pad) return *hi - *lo;
    int64_t lim = in + pad_end - start; /* taps t with t*d < lim */
    return lim > 0 ? GB_MIN(k, (lim + d - 1) / d) : 0;
}

/* y (planes, OH, OW) = window means of x (planes, H, W). */
static void avgpool2d_forward(float *y, const float *x, const pool_geom *g, int include_pad) {
#pragma omp parallel for schedule(static) if (g->planes * g->OH * g->OW > 16384)
    for (int64_t pc = 0; pc < g->planes; pc++) {
        const float *xp = x + pc * g->H * g->W;
        float *yp = y + pc * g->OH * g->OW;
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t h0 = oh * g->sh - g->pt, ilo, ihi;
            int64_t nh = avg_taps(h0, g->kh, g->dh, g->H, g->pb, include_pad, &ilo, &ihi);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t w0 = ow * g->sw - g->pl, jlo, jhi;
                int64_t nw = avg_taps(w0, g->kw, g->dw, g->W, g->pr, include_pad, &jlo, &jhi);
                float s = 0;
                for (int64_t i = ilo; i < ihi; i++)
                    for (int64_t j = jlo; j < jhi; j++) s += xp[(h0 + i * g->dh) * g->W + w0 + j * g->dw];
                yp[oh * g->OW + ow] = nh * nw > 0 ? s / (float)(nh * nw) : 0.0f;
            }
        }
    }
}

/* dx (planes, H, W) += each dy spread evenly over its window. */
static void avgpool2d_backward(float *dx, const float *dy, const pool_geom *g, int include_pad) {
#pragma omp parallel for schedule(static) if (g->planes * g->OH * g->OW > 16384)
    for (int64_t pc = 0; pc < g->planes; pc++) {
        float *dxp = dx + pc * g->H * g->W;
        const float *dyp = dy + pc * g->OH * g->OW;
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t h0 = oh * g->sh - g->pt, ilo, ihi;
            int64_t nh = avg_taps(h0, g->kh, g->dh, g->H, g->pb, include_pad, &ilo, &ihi);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t w0 = ow * g->sw - g->pl, jlo, jhi;
                int64_t nw = avg_taps(w0, g->kw, g->dw, g->W, g->pr, include_pad, &jlo, &jhi);
                if (nh * nw == 0) continue;
                float v = dyp[oh * g->OW + ow] / (float)(nh * nw);
                for (int64_t i = ilo; i < ihi; i++)
                    for (int64_t j = jlo; j < jhi; j++) dxp[(h0 + i * g->dh) * g->W + w0 + j * g->dw] += v;
            }
        }
    }
}

static void avgpool_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                            const gb_exec *ex) {
    (void)ex;
    pool_geom g = pool_geometry(n, in[0], out[0]);
    avgpool2d_forward(out[0]->data, in[0]->data, &g, n->p.count_include_pad);
}

static void avgpool_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                             gb_tensor *const *din, const gb_tensor *const *dout,
                             const gb_exec *ex) {
    (void)ex;
    if (!din[0]) return;
    pool_geom g = pool_geometry(n, in[0], out[0]);
    avgpool2d_backward(din[0]->data, dout[0]->data, &g, n->p.count_include_pad);
}

const gb_op_def gb_opdef_AVERAGE_POOL = {"AveragePool", 1, 1, 1, avgpool_init, avgpool_infer,
                                         avgpool_forward, avgpool_backward};

/* ---- GlobalAveragePool: mean over all spatial dimensions ----------------- */

static gb_status gap_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    if (!in[0]) return gb_error(GB_ERR_FORMAT, "required input X is missing");
    const gb_tensor *x = &in[0]->t;
    char xs[128];
    if (x->ndim < 3)
        return gb_error(GB_ERR_SHAPE, "input %s has no spatial dimensions (expected (N, C, H, W))",
                        gb_shape_str(x->ndim, x->shape, xs, sizeof xs));
    int64_t ys[GB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        if (i >= 2 && x->shape[i] < 1)
            return gb_error(GB_ERR_SHAPE, "input %s has an empty spatial dimension",
                            gb_shape_str(x->ndim, x->shape, xs, sizeof xs));
        ys[i] = i < 2 ? x->shape[i] : 1;
    }
    return gb_tensor_resize(out[0], x->ndim, ys);
}

static void gap_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)n, (void)ex;
    int64_t planes = out[0]->size, hw = planes ? in[0]->size / planes : 0;
    const float *x = in[0]->data;
    float *y = out[0]->data;
#pragma omp parallel for schedule(static) if (in[0]->size > 65536)
    for (int64_t pc = 0; pc < planes; pc++) {
        float s = 0;
        for (int64_t k = 0; k < hw; k++) s += x[pc * hw + k];
        y[pc] = s / (float)hw;
    }
}

static void gap_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                         gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)ex;
    if (!din[0]) return;
    int64_t planes = out[0]->size, hw = planes ? in[0]->size / planes : 0;
    float *dx = din[0]->data;
    const float *dy = dout[0]->data;
#pragma omp parallel for schedule(static) if (in[0]->size > 65536)
    for (int64_t pc = 0; pc < planes; pc++) {
        float v = dy[pc] / (float)hw;
        for (int64_t k = 0; k < hw; k++) dx[pc * hw + k] += v;
    }
}

const gb_op_def gb_opdef_GLOBAL_AVERAGE_POOL = {"GlobalAveragePool", 1, 1, 1, NULL, gap_infer,
                                                gap_forward, gap_backward};
