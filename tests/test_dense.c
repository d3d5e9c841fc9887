/* test_dense.c — Gemm and MatMul: forward against naive triple loops (in
 * double), finite-difference gradchecks for every transpose combination and
 * every bias broadcast form, batched and 1-D MatMul, the fully connected
 * layer sizes of our CNN, and shape errors; and the fully connected forward
 * kernel (ops/dense_rows.c) against double precision, with each row alone
 * and with 1 or 2 threads giving the same bits as in the batch. */
#include "check.h"
#include "gradcheck.h"
#include "ops/dense_rows.h"

static const gb_tensor *val(gb_model *m, const char *name) {
    return &m->vals[gb_model_find_value(m, name)].t;
}

/* ---- Gemm ---- */

/* Y = alpha op(A) op(B) + beta C, C given by its (cm, cn) broadcast form. */
static int gemm_reference_ok(const gb_tensor *A, const gb_tensor *B, const gb_tensor *C, int ta,
                             int tb, float alpha, float beta, const gb_tensor *Y) {
    int64_t M = Y->shape[0], N = Y->shape[1], K = ta ? A->shape[0] : A->shape[1];
    int64_t cn = C && C->ndim >= 1 ? C->shape[C->ndim - 1] : 1;
    int64_t cm = C && C->ndim >= 2 ? C->shape[C->ndim - 2] : 1;
    int bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A->data[k * M + i] : A->data[i * K + k];
                double b = tb ? B->data[j * K + k] : B->data[k * N + j];
                s += a * b;
            }
            s *= alpha;
            if (C) s += beta * C->data[(cm > 1 ? i : 0) * cn + (cn > 1 ? j : 0)];
            if (fabs(Y->data[i * N + j] - s) > 1e-4 * (1 + fabs(s))) bad++;
        }
    return bad;
}

/* C shapes: none, scalar (rank 0), (1), (N), (1,N), (M,1), (M,N), (1,1). */
static int c_shape(int form, int64_t M, int64_t N, int64_t *s) {
    switch (form) {
    case 0: return -1;
    case 1: return 0;
    case 2: s[0] = 1; return 1;
    case 3: s[0] = N; return 1;
    case 4: s[0] = 1, s[1] = N; return 2;
    case 5: s[0] = M, s[1] = 1; return 2;
    case 6: s[0] = M, s[1] = N; return 2;
    default: s[0] = 1, s[1] = 1; return 2;
    }
}
#define C_FORMS 8

static gc_case gemm_case(int64_t M, int64_t K, int64_t N, int ta, int tb, int cform, float alpha,
                         float beta, gb_rng *r) {
    int64_t as[2] = {ta ? K : M, ta ? M : K};
    int pnd[2] = {2, 0};
    int64_t ps[2][GB_MAX_DIMS] = {{tb ? N : K, tb ? K : N}};
    int cnd = c_shape(cform, M, N, ps[1]);
    pnd[1] = cnd > 0 ? cnd : 0;
    gc_case c = gc_single_op("Gemm", 2, as, cnd > 0 ? 2 : 1, pnd,
                             (const int64_t(*)[GB_MAX_DIMS])ps, r);
    if (cnd == 0) { /* rank-0 C: gc_single_op can't express it */
        gb_tensor *p = gb_tensor_new(0, NULL);
        p->data[0] = 0.3f;
        c.node->in[2] = gb_model_add_value(c.m, "p2", GB_VAL_PARAM, p);
        c.node->nin = 3;
        gb_tensor_free(p);
    }
    if (ta) gb_node_add_int(c.node, "transA", 1);
    if (tb) gb_node_add_int(c.node, "transB", 1);
    if (alpha != 1) gb_node_add_float(c.node, "alpha", alpha);
    if (beta != 1) gb_node_add_float(c.node, "beta", beta);
    return c;
}

static void test_gemm(void) {
    gb_rng r;
    gb_rng_seed(&r, 11, 1);
    gc_opts o = gc_default_opts();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int cf = 0; cf < C_FORMS; cf++) {
                /* every C form meets both a default and a non-default beta */
                float alpha = (cf + tb) % 2 ? 0.7f : 1.0f;
                float beta = (cf + ta + 2 * tb) % 2 ? -1.5f : 1.0f;
                gc_case c = gemm_case(3, 4, 5, ta, tb, cf, alpha, beta, &r);
                char label[64];
                snprintf(label, sizeof label, "Gemm tA=%d tB=%d C form %d", ta, tb, cf);
                if (gc_finalize(&c) != 0) {
                    CHECKF(0, "%s did not build", label);
                    gc_free(&c);
                    continue;
                }
                const gb_tensor *y;
                CHECK_OK(gb_model_forward(c.m, c.x, &y));
                CHECKF(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 5, "%s", label);
                CHECKF(gemm_reference_ok(c.x, val(c.m, "p1"), cf ? val(c.m, "p2") : NULL, ta, tb,
                                         alpha, beta, y) == 0,
                       "%s forward", label);
                CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
                gc_free(&c);
            }
}

/* The CNN's classifier layers with batch 128, forward against the reference
 * and the bias gradient against its column sums. */
static void test_gemm_fc_sizes(void) {
    gb_rng r;
    gb_rng_seed(&r, 12, 1);
    const int64_t shapes[2][2] = {{3136, 128}, {128, 10}};
    for (int k = 0; k < 2; k++) {
        int64_t M = 128, K = shapes[k][0], N = shapes[k][1];
        gc_case c = gemm_case(M, K, N, 0, 1, 3, 1, 1, &r);
        CHECK(gc_finalize(&c) == 0);
        const gb_tensor *y;
        double t0 = gb_now();
        for (int rep = 0; rep < 10; rep++) CHECK_OK(gb_model_forward(c.m, c.x, &y));
        double t1 = gb_now();
        CHECK(gemm_reference_ok(c.x, val(c.m, "p1"), val(c.m, "p2"), 0, 1, 1, 1, y) == 0);
        gb_tensor *R = gb_tensor_new(2, y->shape);
        gc_fill_uniform(R, &r, -1, 1);
        gb_model_zero_grad(c.m);
        CHECK_OK(gb_model_backward(c.m, R, GB_GRAD_ALL, NULL));
        const float *db = c.m->vals[gb_model_find_value(c.m, "p2")].grad.data;
        int bad = 0;
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t i = 0; i < M; i++) s += R->data[i * N + j];
            if (fabs(db[j] - s) > 1e-4 * (1 + fabs(s))) bad++;
        }
        CHECK(bad == 0);
        printf("     Gemm (%lld,%lld)x(%lld,%lld)^T forward %.3f ms\n", (long long)M,
               (long long)K, (long long)N, (long long)K, (t1 - t0) / 10 * 1e3);
        gb_tensor_free(R);
        gc_free(&c);
    }
}

static void test_gemm_errors(void) {
    gb_rng r;
    gb_rng_seed(&r, 13, 1);
    /* inner dimension mismatch: A (3,4), B (5,6) */
    int64_t as[2] = {3, 4};
    int pnd[2] = {2, 2};
    int64_t ps[2][GB_MAX_DIMS] = {{5, 6}, {6}};
    gc_case c = gc_single_op("Gemm", 2, as, 1, pnd, (const int64_t(*)[GB_MAX_DIMS])ps, &r);
    gb_status s = gb_model_finalize(c.m);
    CHECKF(s == GB_ERR_SHAPE && strstr(gb_last_error(), "inner dimensions"), "%s",
           gb_last_error());
    gc_free(&c);
    /* bias that does not broadcast: C (4) for N = 6 */
    int64_t ps2[2][GB_MAX_DIMS] = {{4, 6}, {4}};
    int pnd2[2] = {2, 1};
    c = gc_single_op("Gemm", 2, as, 2, pnd2, (const int64_t(*)[GB_MAX_DIMS])ps2, &r);
    s = gb_model_finalize(c.m);
    CHECKF(s == GB_ERR_SHAPE && strstr(gb_last_error(), "does not broadcast"), "%s",
           gb_last_error());
    gc_free(&c);
    /* 3-D A */
    int64_t a3[3] = {2, 3, 4};
    int64_t ps3[1][GB_MAX_DIMS] = {{4, 6}};
    int pnd3[1] = {2};
    c = gc_single_op("Gemm", 3, a3, 1, pnd3, (const int64_t(*)[GB_MAX_DIMS])ps3, &r);
    CHECK(gb_model_finalize(c.m) == GB_ERR_SHAPE);
    gc_free(&c);
}

/* ---- MatMul ---- */

typedef struct mm_shapes {
    int an, bn;
    int64_t a[GB_MAX_DIMS], b[GB_MAX_DIMS];
    int yn;
    int64_t y[GB_MAX_DIMS];
} mm_shapes;

static const mm_shapes MM[] = {
    {2, 2, {3, 4}, {4, 5}, 2, {3, 5}},
    {3, 2, {2, 3, 4}, {4, 5}, 3, {2, 3, 5}},               /* shared B */
    {2, 3, {3, 4}, {2, 4, 5}, 3, {2, 3, 5}},               /* shared A */
    {4, 4, {2, 1, 3, 4}, {1, 3, 4, 2}, 4, {2, 3, 3, 2}},   /* both broadcast */
    {3, 4, {3, 2, 4}, {2, 1, 4, 3}, 4, {2, 3, 2, 3}},      /* rank difference */
    {1, 2, {4}, {4, 5}, 1, {5}},
    {2, 1, {3, 4}, {4}, 1, {3}},
    {1, 1, {4}, {4}, 0, {0}},
    {1, 3, {4}, {2, 4, 5}, 2, {2, 5}},
    {3, 1, {2, 3, 4}, {4}, 2, {2, 3}},
};
#define NMM ((int)(sizeof MM / sizeof MM[0]))

/* numpy matmul by definition: promote, broadcast batch indices, sum. */
static int matmul_reference_ok(const mm_shapes *s, const gb_tensor *A, const gb_tensor *B,
                               const gb_tensor *Y) {
    int64_t M = s->an >= 2 ? s->a[s->an - 2] : 1, K = s->a[s->an - 1];
    int64_t N = s->bn >= 2 ? s->b[s->bn - 1] : 1;
    int abr = s->an > 2 ? s->an - 2 : 0, bbr = s->bn > 2 ? s->bn - 2 : 0;
    int nb = abr > bbr ? abr : bbr;
    int64_t batch = Y->size / (M * N);
    int bad = 0;
    for (int64_t t = 0; t < batch; t++) {
        /* batch multi-index, last dim fastest, mapped into A's and B's batches */
        int64_t rem = t, ai = 0, bi = 0, amul = 1, bmul = 1;
        for (int d = nb - 1; d >= 0; d--) {
            int ia = d - (nb - abr), ib = d - (nb - bbr);
            int64_t da = ia >= 0 ? s->a[ia] : 1, db = ib >= 0 ? s->b[ib] : 1;
            int64_t dy = da > db ? da : db, k = rem % dy;
            rem /= dy;
            ai += (da == 1 ? 0 : k) * amul;
            bi += (db == 1 ? 0 : k) * bmul;
            amul *= da;
            bmul *= db;
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)A->data[ai * M * K + i * K + k] * B->data[bi * K * N + k * N + j];
                float got = Y->data[t * M * N + i * N + j];
                if (fabs(got - acc) > 1e-4 * (1 + fabs(acc))) bad++;
            }
    }
    return bad;
}

static void test_matmul(void) {
    gb_rng r;
    gb_rng_seed(&r, 14, 1);
    gc_opts o = gc_default_opts();
    for (int k = 0; k < NMM; k++) {
        const mm_shapes *s = &MM[k];
        int pnd[1] = {s->bn};
        int64_t ps[1][GB_MAX_DIMS];
        memcpy(ps[0], s->b, sizeof s->b);
        gc_case c = gc_single_op("MatMul", s->an, s->a, 1, pnd, (const int64_t(*)[GB_MAX_DIMS])ps, &r);
        char label[64];
        snprintf(label, sizeof label, "MatMul case %d", k);
        if (gc_finalize(&c) != 0) {
            CHECKF(0, "%s did not build", label);
            gc_free(&c);
            continue;
        }
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        int shape_ok = y->ndim == s->yn;
        for (int i = 0; shape_ok && i < s->yn; i++) shape_ok = y->shape[i] == s->y[i];
        CHECKF(shape_ok, "%s output shape", label);
        if (shape_ok) CHECKF(matmul_reference_ok(s, c.x, val(c.m, "p1"), y) == 0, "%s forward", label);
        CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
        gc_free(&c);
    }
}

static void test_matmul_errors(void) {
    gb_rng r;
    gb_rng_seed(&r, 15, 1);
    const mm_shapes bad[] = {
        {2, 2, {3, 4}, {5, 6}, 0, {0}},
        {3, 3, {2, 3, 4}, {3, 4, 5}, 0, {0}}, /* batch 2 vs 3 */
        {1, 1, {4}, {5}, 0, {0}},
    };
    for (int k = 0; k < 3; k++) {
        int pnd[1] = {bad[k].bn};
        int64_t ps[1][GB_MAX_DIMS];
        memcpy(ps[0], bad[k].b, sizeof bad[k].b);
        gc_case c = gc_single_op("MatMul", bad[k].an, bad[k].a, 1, pnd,
                                 (const int64_t(*)[GB_MAX_DIMS])ps, &r);
        gb_status s = gb_model_finalize(c.m);
        CHECKF(s == GB_ERR_SHAPE, "case %d: %s", k, gb_last_error());
        gc_free(&c);
    }
}

/* An operand used several times: Add(MatMul(x, x), x), Add(Gemm(x, x, x), x).
 * Backward must add every contribution into the one gradient buffer (Add's
 * backward runs first, so an overwrite would show). */
static void test_shared_operand(void) {
    const char *ops[3] = {"MatMul", "Gemm", "Gemm"};
    gc_opts o = gc_default_opts();
    for (int k = 0; k < 3; k++) {
        gb_model *m = gb_model_alloc();
        int64_t xs[2] = {3, 3};
        m->in_ndim = 2;
        memcpy(m->in_shape, xs, sizeof xs);
        int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
        int a = gb_model_add_value(m, "a", GB_VAL_ACT, NULL);
        int y = gb_model_add_value(m, "y", GB_VAL_ACT, NULL);
        m->output = y;
        int ni = gb_model_add_node(m, ops[k], "node", (int[]){x, x, x}, k ? 3 : 2, &a, 1);
        if (k == 2) gb_node_add_int(&m->nodes[ni], "transA", 1);
        gb_model_add_node(m, "Add", "add", (int[]){a, x}, 2, &y, 1);
        CHECK_OK(gb_model_finalize(m));
        gb_tensor *xt = gb_tensor_new(2, xs);
        gb_rng r;
        gb_rng_seed(&r, 16, 1);
        gc_fill_uniform(xt, &r, -1, 1);
        CHECKF(gradcheck_model(m, xt, &o, ops[k]) == 0, "%s(x, x) variant %d", ops[k], k);
        gb_tensor_free(xt);
        gb_model_free(m);
    }
}

/* Empty operands (batch 0, K = 0): calls the op functions directly on
 * hand-made tensors, so only the op's own handling of empty data is
 * exercised. The product over K = 0 must be all zeros. */
static void test_empty(void) {
    const struct {
        int op;
        int64_t a[2], b[2], y[2];
    } cases[] = {
        {GB_OP_GEMM, {0, 4}, {4, 5}, {0, 5}},
        {GB_OP_GEMM, {3, 0}, {0, 5}, {3, 5}},
        {GB_OP_MATMUL, {0, 4}, {4, 5}, {0, 5}},
        {GB_OP_MATMUL, {3, 0}, {0, 5}, {3, 5}},
    };
    for (int k = 0; k < 4; k++) {
        const gb_op_def *d = gb_ops[cases[k].op];
        gb_node n = {.name = "node", .op_type = (char *)d->name, .nin = 2, .nout = 1};
        if (d->init) CHECK_OK(d->init(&n));
        gb_value va = {0}, vb = {0};
        CHECK_OK(gb_tensor_resize(&va.t, 2, cases[k].a));
        CHECK_OK(gb_tensor_resize(&vb.t, 2, cases[k].b));
        gb_tensor y = {0}, dy = {0}, da = {0}, db = {0};
        const gb_value *vin[2] = {&va, &vb};
        gb_tensor *yo[1] = {&y};
        CHECK_OK(d->infer(&n, vin, yo));
        CHECK(y.shape[0] == cases[k].y[0] && y.shape[1] == cases[k].y[1]);
        for (int64_t i = 0; i < y.size; i++) y.data[i] = NAN;
        const gb_tensor *tin[2] = {&va.t, &vb.t};
        gb_exec ex = {0, NULL, NULL};
        d->forward(&n, tin, yo, &ex);
        int zero = 1;
        for (int64_t i = 0; i < y.size; i++) zero &= y.data[i] == 0;
        CHECKF(zero, "%s case %d: empty product is not 0", d->name, k);
        CHECK_OK(gb_tensor_resize(&dy, 2, y.shape));
        CHECK_OK(gb_tensor_resize(&da, 2, cases[k].a));
        CHECK_OK(gb_tensor_resize(&db, 2, cases[k].b));
        for (int64_t i = 0; i < dy.size; i++) dy.data[i] = 1;
        const gb_tensor *to[1] = {&y}, *dyo[1] = {&dy};
        gb_tensor *din[2] = {&da, &db};
        d->backward(&n, tin, to, din, dyo, &ex);
        gb_tensor_release(&va.t);
        gb_tensor_release(&vb.t);
        gb_tensor_release(&y);
        gb_tensor_release(&dy);
        gb_tensor_release(&da);
        gb_tensor_release(&db);
    }
}

/* gb_dense_rows on random shapes (K below and above 8, tails, rows past a
 * panel of 32, outputs not a multiple of 3): y = y0 + a b^T within float
 * rounding of the double sum, and each row alone, and the whole batch on
 * one thread, equal to the batch on two bit for bit. */
static void test_dense_rows_kernel(void) {
    gb_rng r;
    gb_rng_seed(&r, 41, 1);
    for (int iter = 0; iter < 30; iter++) {
        const int64_t M = 1 + (int64_t)gb_rng_below(&r, iter % 5 == 4 ? 70 : 9);
        const int64_t N = 1 + (int64_t)gb_rng_below(&r, 20), K = 1 + (int64_t)gb_rng_below(&r, 300);
        float *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(N * K) * sizeof *b);
        float *y = malloc((size_t)(M * N) * sizeof *y), *y0 = malloc((size_t)(M * N) * sizeof *y0);
        float *y1 = malloc((size_t)(M * N) * sizeof *y1);
        for (int64_t i = 0; i < M * K; i++) a[i] = 2.0f * gb_rng_uniform(&r) - 1.0f;
        for (int64_t i = 0; i < N * K; i++) b[i] = 2.0f * gb_rng_uniform(&r) - 1.0f;
        for (int64_t i = 0; i < M * N; i++) y0[i] = 2.0f * gb_rng_uniform(&r) - 1.0f;
        gb_set_num_threads(2);
        memcpy(y, y0, (size_t)(M * N) * sizeof *y);
        gb_dense_rows(y, a, b, M, N, K);
        int bad = 0, alone = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = y0[i * N + j], mag = fabs(y0[i * N + j]);
                for (int64_t k = 0; k < K; k++) {
                    s += (double)a[i * K + k] * b[j * K + k];
                    mag += fabs((double)a[i * K + k] * b[j * K + k]);
                }
                bad += !(fabs(y[i * N + j] - s) <= 1e-6 * (1 + mag));
            }
        for (int64_t i = 0; i < M; i++) {
            memcpy(y1, y0 + i * N, (size_t)N * sizeof *y1);
            gb_dense_rows(y1, a + i * K, b, 1, N, K);
            alone += memcmp(y1, y + i * N, (size_t)N * sizeof *y1) != 0;
        }
        gb_set_num_threads(1);
        memcpy(y1, y0, (size_t)(M * N) * sizeof *y1);
        gb_dense_rows(y1, a, b, M, N, K);
        int threads = memcmp(y1, y, (size_t)(M * N) * sizeof *y1) != 0;
        CHECKF(bad == 0 && alone == 0 && !threads,
               "iter %d (%lld x %lld x %lld): %d inexact, %d rows differ alone, threads %s", iter,
               (long long)M, (long long)N, (long long)K, bad, alone, threads ? "differ" : "agree");
        free(a), free(b), free(y), free(y0), free(y1);
    }
    gb_set_num_threads(2);
}

int main(void) {
    RUN(test_dense_rows_kernel);
    RUN(test_gemm);
    RUN(test_gemm_fc_sizes);
    RUN(test_gemm_errors);
    RUN(test_matmul);
    RUN(test_matmul_errors);
    RUN(test_shared_operand);
    RUN(test_empty);
    CHECK_DONE();
}
