/* gemm.c — the dense layers: Gemm (fully connected) and MatMul (numpy
 * matmul), as in the ONNX operator spec (opset 13). Products go through
 * gb_sgemm (CBLAS), except a fully connected layer's forward one
 * (dense_rows.c).
 *
 * Gemm: Y (M,N) = alpha op(A) op(B) + beta C, op = transpose if trans*.
 * Backward, with G = dY:
 *   d op(A) = alpha G op(B)^T,   d op(B) = alpha op(A)^T G,
 *   dC = beta G summed over the dimensions C was broadcast along.
 * MatMul: Y[..] = A[..] B[..] per batch entry; 1-D operands are promoted
 * (A (K) -> (1,K), B (K) -> (K,1)) and the added dimension dropped again;
 * batch dimensions broadcast, so a batch entry of A or B may feed several
 * outputs and its gradient sums over them.
 */
#include "internal.h"
#include "ops/dense_rows.h"

/* ---- Gemm ---- */

/* Gemm reads alpha, beta, transA, transB (older opsets' `broadcast` is implied). */
static gb_status gemm_init(gb_node *n) {
    int64_t ta, tb;
    GB_TRY(gb_attr_float(n, "alpha", 1.0f, &n->p.alpha));
    GB_TRY(gb_attr_float(n, "beta", 1.0f, &n->p.beta));
    GB_TRY(gb_attr_int(n, "transA", 0, &ta));
    GB_TRY(gb_attr_int(n, "transB", 0, &tb));
    n->p.trans_a = ta != 0;
    n->p.trans_b = tb != 0;
    return GB_OK;
}

/* How C (scalar, (N), (1,N), (M,1) or (M,N)) spreads over (M,N): cm, cn are
 * its row and column counts (1 or M, 1 or N). */
static void gemm_c_dims(const gb_tensor *C, int64_t *cm, int64_t *cn) {
    *cn = C->ndim >= 1 ? C->shape[C->ndim - 1] : 1;
    *cm = C->ndim >= 2 ? C->shape[C->ndim - 2] : 1;
}

static gb_status gemm_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0] || !in[1]) return gb_error(GB_ERR_FORMAT, "Gemm needs inputs A and B");
    const gb_tensor *A = &in[0]->t, *B = &in[1]->t;
    char sa[128], sb[128];
    if (A->ndim != 2 || B->ndim != 2)
        return gb_error(GB_ERR_SHAPE, "Gemm needs 2-D A and B, got A %s and B %s",
                        gb_shape_str(A->ndim, A->shape, sa, sizeof sa),
                        gb_shape_str(B->ndim, B->shape, sb, sizeof sb));
    int64_t M = A->shape[n->p.trans_a], K = A->shape[!n->p.trans_a];
    int64_t Kb = B->shape[n->p.trans_b], N = B->shape[!n->p.trans_b];
    if (K != Kb)
        return gb_error(GB_ERR_SHAPE,
                        "Gemm inner dimensions differ: A %s%s has K=%lld, B %s%s has K=%lld",
                        gb_shape_str(A->ndim, A->shape, sa, sizeof sa),
                        n->p.trans_a ? " (transposed)" : "", (long long)K,
                        gb_shape_str(B->ndim, B->shape, sb, sizeof sb),
                        n->p.trans_b ? " (transposed)" : "", (long long)Kb);
    if (n->nin > 2 && in[2]) {
        const gb_tensor *C = &in[2]->t;
        int64_t cm, cn;
        gemm_c_dims(C, &cm, &cn);
        int extra_ok = 1;
        for (int i = 0; i + 2 < C->ndim; i++) extra_ok &= C->shape[i] == 1;
        if (!extra_ok || (cm != 1 && cm != M) || (cn != 1 && cn != N)) {
            char sy[128];
            int64_t ys[2] = {M, N};
            return gb_error(GB_ERR_SHAPE, "Gemm bias C %s does not broadcast to the output %s",
                            gb_shape_str(C->ndim, C->shape, sa, sizeof sa),
                            gb_shape_str(2, ys, sy, sizeof sy));
        }
    }
    int64_t ys[2] = {M, N};
    return gb_tensor_resize(out[0], 2, ys);
}

static void gemm_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)ex;
    const gb_tensor *A = in[0];                         // (M, K), or (K, M) if transA
    const gb_tensor *B = in[1];                         // (K, N), or (N, K) if transB
    const gb_tensor *C = n->nin > 2 ? in[2] : NULL;     // broadcastable to (M, N), optional
    float *y = out[0]->data;                            // (M, N)
    const int ta = n->p.trans_a, tb = n->p.trans_b;
    const int64_t M = out[0]->shape[0], N = out[0]->shape[1], K = A->shape[!ta];
    const float beta = n->p.beta;
    float acc = 0; /* beta passed to the GEMM: 1 once Y holds beta C */
    if (C && beta != 0) {
        int64_t cm, cn;
        gemm_c_dims(C, &cm, &cn);
        const float *c = C->data;
#pragma omp parallel for schedule(static) if (M * N > 65536)
        for (int64_t i = 0; i < M; i++) {
            const float *crow = c + (cm > 1 ? i * cn : 0);
            float *yrow = y + i * N;
            if (cn > 1)
                for (int64_t j = 0; j < N; j++) yrow[j] = beta * crow[j];
            else
                for (int64_t j = 0; j < N; j++) yrow[j] = beta * crow[0];
        }
        acc = 1;
    } else if (K == 0 && M * N > 0) {
        memset(y, 0, (size_t)(M * N) * sizeof(float));
    }
    if (K > 0 && !ta && tb && n->p.alpha == 1.0f && gb_dense_rows_available()) {
        /* A fully connected layer: see dense_rows.c (batch-independent). */
        if (acc == 0) memset(y, 0, (size_t)(M * N) * sizeof(float));
        gb_dense_rows(y, A->data, B->data, M, N, K);
    } else if (K > 0) {
        gb_sgemm(ta, tb, M, N, K, n->p.alpha, A->data, ta ? M : K, B->data, tb ? K : N, acc, y, N);
    }
}

static void gemm_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    const gb_tensor *A = in[0], *B = in[1];
    const float *g = dout[0]->data; // (M, N)
    const int ta = n->p.trans_a, tb = n->p.trans_b;
    const int64_t M = out[0]->shape[0], N = out[0]->shape[1], K = A->shape[!ta];
    const float alpha = n->p.alpha;
    const int any = K > 0 && M > 0 && N > 0; /* else no product to differentiate */
    if (din[0] && any) {
        if (!ta) /* dA (M,K) = alpha G op(B)^T */
            gb_sgemm(0, !tb, M, K, N, alpha, g, N, B->data, tb ? K : N, 1, din[0]->data, K);
        else /* dA (K,M) = alpha op(B) G^T */
            gb_sgemm(tb, 1, K, M, N, alpha, B->data, tb ? K : N, g, N, 1, din[0]->data, M);
    }
    if (din[1] && any) {
        if (!tb) /* dB (K,N) = alpha op(A)^T G */
            gb_sgemm(!ta, 0, K, N, M, alpha, A->data, ta ? M : K, g, N, 1, din[1]->data, N);
        else /* dB (N,K) = alpha G^T op(A) */
            gb_sgemm(1, ta, N, K, M, alpha, g, N, A->data, ta ? M : K, 1, din[1]->data, K);
    }
    if (n->nin > 2 && din[2]) {
        int64_t cm, cn;
        gemm_c_dims(in[2], &cm, &cn);
        float *dc = din[2]->data; // (cm, cn)
        const float beta = n->p.beta;
        /* Rows accumulate into the bias row: the inner loop stays contiguous. */
        for (int64_t i = 0; i < M; i++) {
            const float *grow = g + i * N;
            float *drow = dc + (cm > 1 ? i * cn : 0);
            if (cn > 1) {
                for (int64_t j = 0; j < N; j++) drow[j] += beta * grow[j];
            } else {
                float s = 0;
                for (int64_t j = 0; j < N; j++) s += grow[j];
                drow[0] += beta * s;
            }
        }
    }
}

const gb_op_def gb_opdef_GEMM = {"Gemm", 2, 3, 1, gemm_init, gemm_infer, gemm_forward,
                                 gemm_backward};

/* ---- MatMul ---- */

/* The batched-product layout of a MatMul: per batch entry an (M,K) by (K,N)
 * product; batch entry t reads matrix aoff(t) of A and boff(t) of B. */
typedef struct mm_layout {
    int64_t M, K, N;
    int nb; /* broadcast batch rank */
    int64_t bdim[GB_MAX_DIMS], ast[GB_MAX_DIMS], bst[GB_MAX_DIMS];
    int64_t batch;    /* product of bdim */
    int64_t abatch, bbatch; /* matrices stored in A and B */
} mm_layout;

static gb_status mm_layout_build(const gb_tensor *A, const gb_tensor *B, mm_layout *L,
                                 int *ynd, int64_t *yshape) {
    char sa[128], sb[128];
    if (A->ndim < 1 || B->ndim < 1)
        return gb_error(GB_ERR_SHAPE, "MatMul needs operands of rank >= 1, got %s and %s",
                        gb_shape_str(A->ndim, A->shape, sa, sizeof sa),
                        gb_shape_str(B->ndim, B->shape, sb, sizeof sb));
    int an = A->ndim, bn = B->ndim;
    L->M = an >= 2 ? A->shape[an - 2] : 1;
    L->K = A->shape[an - 1];
    int64_t Kb = bn >= 2 ? B->shape[bn - 2] : B->shape[0];
    L->N = bn >= 2 ? B->shape[bn - 1] : 1;
    if (L->K != Kb)
        return gb_error(GB_ERR_SHAPE, "MatMul inner dimensions differ: %s by %s (%lld vs %lld)",
                        gb_shape_str(an, A->shape, sa, sizeof sa),
                        gb_shape_str(bn, B->shape, sb, sizeof sb), (long long)L->K,
                        (long long)Kb);
    int abr = an > 2 ? an - 2 : 0, bbr = bn > 2 ? bn - 2 : 0;
    L->nb = GB_MAX(abr, bbr);
    int64_t as = 1, bs = 1;
    for (int i = L->nb - 1; i >= 0; i--) {
        int ia = i - (L->nb - abr), ib = i - (L->nb - bbr);
        int64_t da = ia >= 0 ? A->shape[ia] : 1, db = ib >= 0 ? B->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return gb_error(GB_ERR_SHAPE, "MatMul batch dimensions of %s and %s do not broadcast",
                            gb_shape_str(an, A->shape, sa, sizeof sa),
                            gb_shape_str(bn, B->shape, sb, sizeof sb));
        L->bdim[i] = da == 1 ? db : da;
        L->ast[i] = da == 1 ? 0 : as;
        L->bst[i] = db == 1 ? 0 : bs;
        as *= da;
        bs *= db;
    }
    L->abatch = as;
    L->bbatch = bs;
    L->batch = 1;
    for (int i = 0; i < L->nb; i++) L->batch *= L->bdim[i];
    if (yshape) {
        int k = 0;
        for (int i = 0; i < L->nb; i++) yshape[k++] = L->bdim[i];
        if (an >= 2) yshape[k++] = L->M;
        if (bn >= 2) yshape[k++] = L->N;
        *ynd = k;
    }
    return GB_OK;
}

static void mm_offsets(const mm_layout *L, int64_t t, int64_t *ao, int64_t *bo) {
    int64_t a = 0, b = 0;
    for (int i = L->nb - 1; i >= 0; i--) {
        int64_t idx = t % L->bdim[i];
        t /= L->bdim[i];
        a += idx * L->ast[i];
        b += idx * L->bst[i];
    }
    *ao = a * L->M * L->K;
    *bo = b * L->K * L->N;
}

static gb_status matmul_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    if (!in[0] || !in[1]) return gb_error(GB_ERR_FORMAT, "MatMul needs two inputs");
    mm_layout L;
    int ynd = 0;
    int64_t ys[GB_MAX_DIMS + 2];
    GB_TRY(mm_layout_build(&in[0]->t, &in[1]->t, &L, &ynd, ys));
    return gb_tensor_resize(out[0], ynd, ys);
}

static void matmul_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)n, (void)ex;
    mm_layout L;
    gb_status s = mm_layout_build(in[0], in[1], &L, NULL, NULL);
    GB_ASSERT(s == GB_OK);
    const float *a = in[0]->data, *b = in[1]->data; // (.., M, K), (.., K, N)
    float *y = out[0]->data;                         // (batch.., M, N)
    const int64_t M = L.M, K = L.K, N = L.N;
    if (K == 0) {
        if (out[0]->size) memset(y, 0, (size_t)out[0]->size * sizeof(float));
        return;
    }
    if (L.bbatch == 1) {
        /* One shared B (so A holds the whole batch): stack A's batch into the
         * rows of a single GEMM. */
        gb_sgemm(0, 0, L.batch * M, N, K, 1, a, K, b, N, 0, y, N);
        return;
    }
    for (int64_t t = 0; t < L.batch; t++) {
        int64_t ao, bo;
        mm_offsets(&L, t, &ao, &bo);
        gb_sgemm(0, 0, M, N, K, 1, a + ao, K, b + bo, N, 0, y + t * M * N, N);
    }
}

static void matmul_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout,
                            const gb_exec *ex) {
    (void)n, (void)out, (void)ex;
    mm_layout L;
    gb_status s = mm_layout_build(in[0], in[1], &L, NULL, NULL);
    GB_ASSERT(s == GB_OK);
    const float *a = in[0]->data, *b = in[1]->data, *g = dout[0]->data;
    const int64_t M = L.M, K = L.K, N = L.N;
    if (K == 0 || M == 0 || N == 0 || L.batch == 0) return; /* nothing flows back */
    if (L.bbatch == 1) {
        if (din[0]) /* dA (batch M, K) = G B^T */
            gb_sgemm(0, 1, L.batch * M, K, N, 1, g, N, b, N, 1, din[0]->data, K);
        if (din[1]) /* dB (K,N) = A^T G over all stacked rows */
            gb_sgemm(1, 0, K, N, L.batch * M, 1, a, K, g, N, 1, din[1]->data, N);
        return;
    }
    /* Serial over batch entries: broadcast operands add several products into
     * one gradient matrix, and each GEMM is itself threaded. */
    for (int64_t t = 0; t < L.batch; t++) {
        int64_t ao, bo;
        mm_offsets(&L, t, &ao, &bo);
        const float *gt = g + t * M * N;
        if (din[0]) gb_sgemm(0, 1, M, K, N, 1, gt, N, b + bo, N, 1, din[0]->data + ao, K);
        if (din[1]) gb_sgemm(1, 0, K, N, M, 1, a + ao, K, gt, N, 1, din[1]->data + bo, N);
    }
}

const gb_op_def gb_opdef_MATMUL = {"MatMul", 2, 2, 1, NULL, matmul_infer, matmul_forward,
                                   matmul_backward};
