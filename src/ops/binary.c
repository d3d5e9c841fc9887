/* binary.c — elementwise Add, Sub, Mul, Div with multidirectional (numpy)
 * broadcasting, as in the ONNX operator spec (opset 13, "Broadcasting in
 * ONNX"). Backward reduces the output gradient over every dimension an input
 * was broadcast along; the local derivatives are the usual ones:
 *   Add: (1, 1)   Sub: (1, -1)   Mul: (b, a)   Div: (1/b, -a/b^2 = -y/b)
 *
 * Both shapes are aligned on the right and turned into a short "loop nest":
 * size-1 output dimensions are dropped and neighbouring dimensions that
 * broadcast the same way are merged. Same-shape operands become one flat
 * loop, (N,C,H,W) op (1,C,1,1) becomes [N, C, H*W] with a scalar per row, and
 * a scalar operand becomes one flat loop against a constant; the innermost
 * loop then only ever sees stride 1 or stride 0 and vectorizes.
 */
#include "internal.h"

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } bin_kind;

/* The merged loop nest: out has dims dim[0..nd), input k walks it with
 * strides st[k][] (0 along broadcast dimensions); the last dimension is the
 * contiguous inner loop, with st[k][nd-1] in {0, 1}. */
typedef struct bin_nest {
    int nd;
    int64_t dim[GB_MAX_DIMS];
    int64_t st[2][GB_MAX_DIMS];
} bin_nest;

/* Broadcast output shape of a and b; GB_ERR_SHAPE naming both if they clash. */
static gb_status bcast_shape(const gb_tensor *a, const gb_tensor *b, int *nd, int64_t *shape) {
    int r = GB_MAX(a->ndim, b->ndim);
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[128], sb[128];
            return gb_error(GB_ERR_SHAPE, "cannot broadcast %s with %s (dimension %d: %lld vs %lld)",
                            gb_shape_str(a->ndim, a->shape, sa, sizeof sa),
                            gb_shape_str(b->ndim, b->shape, sb, sizeof sb), i, (long long)da,
                            (long long)db);
        }
        shape[i] = da == 1 ? db : da;
    }
    *nd = r;
    return GB_OK;
}

/* Builds the merged loop nest for shapes already known to broadcast. */
static void nest_build(const gb_tensor *a, const gb_tensor *b, bin_nest *L) {
    int r;
    int64_t shape[GB_MAX_DIMS];
    gb_status s = bcast_shape(a, b, &r, shape);
    GB_ASSERT(s == GB_OK);
    const gb_tensor *t[2] = {a, b};
    int64_t st[2][GB_MAX_DIMS];
    for (int k = 0; k < 2; k++) {
        int64_t stride = 1;
        for (int i = r - 1; i >= 0; i--) {
            int ik = i - (r - t[k]->ndim);
            int64_t d = ik >= 0 ? t[k]->shape[ik] : 1;
            st[k][i] = d == 1 ? 0 : stride;
            stride *= d;
        }
    }
    L->nd = 0;
    for (int i = 0; i < r; i++) {
        if (shape[i] == 1) continue;
        int j = L->nd;
        /* Merge into the previous dimension when both inputs continue it the
         * same way: both broadcast, or both contiguous across the seam. */
        if (j > 0) {
            int ok = 1;
            for (int k = 0; k < 2; k++) {
                int64_t prev = L->st[k][j - 1], cur = st[k][i];
                ok &= (prev == 0 && cur == 0) || (cur != 0 && prev == cur * shape[i]);
            }
            if (ok) {
                L->dim[j - 1] *= shape[i];
                L->st[0][j - 1] = st[0][i];
                L->st[1][j - 1] = st[1][i];
                continue;
            }
        }
        L->dim[j] = shape[i];
        L->st[0][j] = st[0][i];
        L->st[1][j] = st[1][i];
        L->nd++;
    }
    if (L->nd == 0) { /* every dimension is 1: a single element */
        L->nd = 1;
        L->dim[0] = 1;
        L->st[0][0] = L->st[1][0] = 1;
    }
}

/* Inner rows are cut into chunks so one long row (same-shape or scalar
 * operands) still spreads over threads. */
#define BIN_CHUNK 4096

/* Locates chunk t of the nest: offsets into a and b, the output offset, and
 * the chunk length. */
static void nest_chunk(const bin_nest *L, int64_t t, int64_t per_row, int64_t *oa, int64_t *ob,
                       int64_t *oy, int64_t *len) {
    int64_t inner = L->dim[L->nd - 1];
    int64_t row = t / per_row, j0 = (t % per_row) * BIN_CHUNK;
    *len = GB_MIN(BIN_CHUNK, inner - j0);
    *oy = row * inner + j0;
    int64_t a = j0 * L->st[0][L->nd - 1], b = j0 * L->st[1][L->nd - 1];
    for (int i = L->nd - 2; i >= 0; i--) {
        int64_t idx = row % L->dim[i];
        row /= L->dim[i];
        a += idx * L->st[0][i];
        b += idx * L->st[1][i];
    }
    *oa = a;
    *ob = b;
}

static int64_t nest_chunks(const bin_nest *L, int64_t *per_row) {
    int64_t inner = L->dim[L->nd - 1], rows = 1;
    for (int i = 0; i < L->nd - 1; i++) rows *= L->dim[i];
    *per_row = (inner + BIN_CHUNK - 1) / BIN_CHUNK;
    return *per_row ? rows * *per_row : 0;
}

static gb_status bin_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0] || !in[1]) return gb_error(GB_ERR_FORMAT, "%s needs two inputs", n->op_type);
    int nd;
    int64_t shape[GB_MAX_DIMS];
    GB_TRY(bcast_shape(&in[0]->t, &in[1]->t, &nd, shape));
    return gb_tensor_resize(out[0], nd, shape);
}

/* ---- forward ---- */

/* One chunk y[j] = EXPR(x = a, w = b) for the three inner stride patterns. */
#define BIN_ROW(EXPR)                                                                   \
    do {                                                                                \
        if (sa && sb) {                                                                 \
            for (int64_t j = 0; j < len; j++) {                                         \
                float x = a[j], w = b[j];                                               \
                y[j] = (EXPR);                                                          \
            }                                                                           \
        } else if (sa) {                                                                \
            const float w = b[0];                                                       \
            for (int64_t j = 0; j < len; j++) {                                         \
                float x = a[j];                                                         \
                y[j] = (EXPR);                                                          \
            }                                                                           \
        } else {                                                                        \
            const float x = a[0];                                                       \
            for (int64_t j = 0; j < len; j++) {                                         \
                float w = b[j];                                                         \
                y[j] = (EXPR);                                                          \
            }                                                                           \
        }                                                                               \
    } while (0)

/* Computes one chunk: a, b, y point at its start; sa, sb are the inner strides. */
static void bin_forward_row(bin_kind op, const float *a, int64_t sa, const float *b, int64_t sb,
                            float *y, int64_t len) {
    switch (op) {
    case BIN_ADD: BIN_ROW(x + w); break;
    case BIN_SUB: BIN_ROW(x - w); break;
    case BIN_MUL: BIN_ROW(x * w); break;
    case BIN_DIV: BIN_ROW(x / w); break;
    }
}

/* A, B: any shapes that broadcast; Y: their broadcast shape. */
static void bin_forward(bin_kind op, const gb_tensor *A, const gb_tensor *B, gb_tensor *Y) {
    bin_nest L;
    nest_build(A, B, &L);
    int64_t per_row, nchunks = nest_chunks(&L, &per_row);
    const int64_t sa = L.st[0][L.nd - 1], sb = L.st[1][L.nd - 1];
#pragma omp parallel for schedule(static) if (Y->size > 65536)
    for (int64_t t = 0; t < nchunks; t++) {
        int64_t oa, ob, oy, len;
        nest_chunk(&L, t, per_row, &oa, &ob, &oy, &len);
        bin_forward_row(op, A->data + oa, sa, B->data + ob, sb, Y->data + oy, len);
    }
}

/* ---- backward ----
 * d (the gradient of input k, inner stride sd) receives EXPR in terms of
 * g = dy, x = a, w = b, v = y. When d is broadcast along the inner loop
 * (sd == 0) the chunk sums into its single element. */
#define BIN_GRAD_LOOP(XE, WE, EXPR)                                                     \
    do {                                                                                \
        if (sd) {                                                                       \
            for (int64_t j = 0; j < len; j++) {                                         \
                float g = dy[j], v = y[j], x = (XE), w = (WE);                          \
                (void)v, (void)x, (void)w;                                              \
                d[j] += (EXPR);                                                         \
            }                                                                           \
        } else {                                                                        \
            double s = 0; /* long sums over broadcast dims: keep precision */          \
            for (int64_t j = 0; j < len; j++) {                                         \
                float g = dy[j], v = y[j], x = (XE), w = (WE);                          \
                (void)v, (void)x, (void)w;                                              \
                s += (EXPR);                                                            \
            }                                                                           \
            d[0] += (float)s;                                                           \
        }                                                                               \
    } while (0)

#define BIN_GRAD(EXPR)                                                                  \
    do {                                                                                \
        if (sa && sb) BIN_GRAD_LOOP(a[j], b[j], EXPR);                                  \
        else if (sa) BIN_GRAD_LOOP(a[j], b[0], EXPR);                                   \
        else BIN_GRAD_LOOP(a[0], b[j], EXPR);                                           \
    } while (0)

/* Accumulates the gradient of input k over one chunk. */
static void bin_backward_row(bin_kind op, int k, const float *a, int64_t sa, const float *b,
                             int64_t sb, const float *y, const float *dy, float *d, int64_t len) {
    int64_t sd = k == 0 ? sa : sb;
    switch (op) {
    case BIN_ADD: BIN_GRAD(g); break;
    case BIN_SUB:
        if (k == 0) BIN_GRAD(g);
        else BIN_GRAD(-g);
        break;
    case BIN_MUL:
        if (k == 0) BIN_GRAD(g * w);
        else BIN_GRAD(g * x);
        break;
    case BIN_DIV:
        if (k == 0) BIN_GRAD(g / w);
        else BIN_GRAD(-g * v / w);
        break;
    }
}

/* dA, dB (shapes of A, B; either may be NULL) accumulate the reduction of
 * dY (shape of Y) over the dimensions each input was broadcast along. */
static void bin_backward(bin_kind op, const gb_tensor *A, const gb_tensor *B, const gb_tensor *Y,
                         gb_tensor *dA, gb_tensor *dB, const gb_tensor *dY) {
    bin_nest L;
    nest_build(A, B, &L);
    int64_t per_row, nchunks = nest_chunks(&L, &per_row);
    const int64_t sa = L.st[0][L.nd - 1], sb = L.st[1][L.nd - 1];
    gb_tensor *dX[2] = {dA, dB};
    for (int k = 0; k < 2; k++) {
        if (!dX[k]) continue;
        float *d = dX[k]->data;
        if (dX[k]->size == Y->size) {
            /* Not broadcast: every output element has its own gradient slot,
             * so chunks write disjoint ranges. */
#pragma omp parallel for schedule(static) if (Y->size > 65536)
            for (int64_t t = 0; t < nchunks; t++) {
                int64_t oa, ob, oy, len;
                nest_chunk(&L, t, per_row, &oa, &ob, &oy, &len);
                bin_backward_row(op, k, A->data + oa, sa, B->data + ob, sb, Y->data + oy,
                                 dY->data + oy, d + (k == 0 ? oa : ob), len);
            }
        } else {
            /* Broadcast: several chunks add into the same slots; serial keeps
             * it race-free and deterministic. */
            for (int64_t t = 0; t < nchunks; t++) {
                int64_t oa, ob, oy, len;
                nest_chunk(&L, t, per_row, &oa, &ob, &oy, &len);
                bin_backward_row(op, k, A->data + oa, sa, B->data + ob, sb, Y->data + oy,
                                 dY->data + oy, d + (k == 0 ? oa : ob), len);
            }
        }
    }
}

/* ---- op table entries ---- */

#define BIN_OP(ID, NAME, KIND)                                                          \
    static void ID##_fwd(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,  \
                         const gb_exec *ex) {                                           \
        (void)n, (void)ex;                                                              \
        bin_forward(KIND, in[0], in[1], out[0]);                                        \
    }                                                                                   \
    static void ID##_bwd(gb_node *n, const gb_tensor *const *in,                        \
                         const gb_tensor *const *out, gb_tensor *const *din,            \
                         const gb_tensor *const *dout, const gb_exec *ex) {             \
        (void)n, (void)ex;                                                              \
        bin_backward(KIND, in[0], in[1], out[0], din[0], din[1], dout[0]);              \
    }                                                                                   \
    const gb_op_def gb_opdef_##ID = {NAME, 2, 2, 1, NULL, bin_infer, ID##_fwd, ID##_bwd};

BIN_OP(ADD, "Add", BIN_ADD)
BIN_OP(SUB, "Sub", BIN_SUB)
BIN_OP(MUL, "Mul", BIN_MUL)
BIN_OP(DIV, "Div", BIN_DIV)
