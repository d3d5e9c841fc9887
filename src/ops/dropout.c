/* dropout.c — ONNX Dropout (opset 13, also the opset < 12 "ratio"
 * attribute): inverted dropout (Srivastava et al., "Dropout", JMLR 2014,
 * with the 1/(1 - ratio) scaling moved to training time as in PyTorch).
 *
 * Training (ex->training; the optional training_mode input is ignored):
 * each value is kept with probability 1 - ratio and scaled by 1/(1 - ratio);
 * the scaled mask stays in scratch so backward is dy * mask. Inference: the
 * identity. The optional second output is the boolean keep-mask as 0/1
 * floats (all ones in inference), without gradient.
 *
 * The mask is drawn from ex->rng in fixed chunks, each with its own PCG
 * stream seeded from one draw, so it depends on the seed only, never on the
 * thread count. In gb_train (n->dist->rows) the chunks are cut per batch
 * row and their streams keyed by the row's global example id, so an
 * example's mask does not depend on which process of a data-parallel run
 * holds it, nor where in the local batch.
 */
#include "internal.h"

#define DROPOUT_CHUNK 4096

static gb_status dropout_init(gb_node *n) {
    GB_TRY(gb_attr_float(n, "ratio", 0.5f, &n->p.ratio));
    if (!(n->p.ratio >= 0 && n->p.ratio < 1))
        return gb_error(GB_ERR_FORMAT, "node '%s' (Dropout): ratio %g outside [0, 1)", n->name,
                        n->p.ratio);
    return GB_OK;
}

static gb_status dropout_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0]) return gb_error(GB_ERR_FORMAT, "required input data is missing");
    if (n->nin > 1 && in[1]) {
        const gb_value *r = in[1];
        if (r->kind == GB_VAL_ACT || r->kind == GB_VAL_INPUT)
            return gb_error(GB_ERR_UNSUPPORTED, "ratio must be a constant");
        if (r->t.size != 1) return gb_error(GB_ERR_SHAPE, "ratio is not a scalar");
        n->p.ratio = r->t.data[0];
        if (!(n->p.ratio >= 0 && n->p.ratio < 1))
            return gb_error(GB_ERR_FORMAT, "ratio %g outside [0, 1)", n->p.ratio);
    }
    const gb_tensor *x = &in[0]->t;
    GB_TRY(gb_tensor_resize(out[0], x->ndim, x->shape));
    if (n->nout > 1 && out[1]) GB_TRY(gb_tensor_resize(out[1], x->ndim, x->shape));
    n->scratch_need[0] = x->size; /* the scaled mask: 0 or 1/(1 - ratio) */
    return GB_OK;
}

static void dropout_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                            const gb_exec *ex) {
    const float *x = in[0]->data;
    float *y = out[0]->data, *keep = n->nout > 1 && out[1] ? out[1]->data : NULL;
    int64_t size = in[0]->size;
    if (!ex->training) {
        memcpy(y, x, (size_t)size * sizeof *y);
        for (int64_t i = 0; keep && i < size; i++) keep[i] = 1.0f;
        return;
    }
    float *mask = n->scratch[0].data, ratio = n->p.ratio, scale = 1.0f / (1.0f - ratio);
    uint64_t hi = gb_rng_u32(ex->rng); /* two statements: the draw order is fixed */
    uint64_t seed = hi << 32 | gb_rng_u32(ex->rng);
    const gb_exec_dist *d = n->dist;
    /* Rows: (N, ...) with a global id per row; otherwise one row of everything. */
    int by_row = d && d->rows && in[0]->ndim >= 1 && in[0]->shape[0] == d->nrows && d->nrows > 0;
    int64_t rows = by_row ? d->nrows : 1, per = rows ? size / rows : 0;
    int64_t per_row = (per + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK, chunks = rows * per_row;
#pragma omp parallel for schedule(static) if (size > 65536)
    for (int64_t q = 0; q < chunks; q++) {
        int64_t row = q / per_row, c = q % per_row;
        gb_rng r;
        gb_rng_seed(&r, seed, by_row ? (uint64_t)d->rows[row] * (uint64_t)per_row + (uint64_t)c : (uint64_t)c);
        int64_t end = row * per + GB_MIN(per, (c + 1) * DROPOUT_CHUNK);
        for (int64_t i = row * per + c * DROPOUT_CHUNK; i < end; i++) {
            /* Multiplying by the comparison avoids a branch that would
             * mispredict on every other value. */
            mask[i] = scale * (float)(gb_rng_uniform(&r) >= ratio);
            y[i] = x[i] * mask[i];
            if (keep) keep[i] = mask[i] != 0;
        }
    }
}

static void dropout_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                             gb_tensor *const *din, const gb_tensor *const *dout,
                             const gb_exec *ex) {
    (void)out;
    if (!din[0]) return;
    float *dx = din[0]->data;
    const float *dy = dout[0]->data, *mask = n->scratch[0].data;
    int64_t size = in[0]->size;
    if (!ex->training) {
        for (int64_t i = 0; i < size; i++) dx[i] += dy[i];
        return;
    }
#pragma omp parallel for schedule(static) if (size > 65536)
    for (int64_t i = 0; i < size; i++) dx[i] += dy[i] * mask[i];
}

const gb_op_def gb_opdef_DROPOUT = {"Dropout", 1, 3, 2, dropout_init, dropout_infer,
                                    dropout_forward, dropout_backward};
