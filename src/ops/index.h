/* index.h — index arithmetic shared by the data-movement, broadcasting and
 * reduction ops (layout.c, math.c, reduce.c): ONNX axis normalisation,
 * numpy broadcasting of several inputs, and strided walks.
 *
 * A walk visits the elements of a shape in row-major order and keeps, for
 * each of several operands, an offset advanced by that operand's stride
 * along each dimension (0 where it is broadcast, negative for reversed
 * slices). Each step costs O(1) amortised: the counter carries like an
 * odometer. */
#ifndef GB_OPS_INDEX_H
#define GB_OPS_INDEX_H

#include "internal.h"

/* Maps axis in [-rank, rank) to [0, rank); -1 if out of range. */
static inline int idx_axis(int64_t axis, int rank) {
    if (axis < -rank || axis >= rank) return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

#define IDX_MAX_OPS 8

typedef struct idx_walk {
    int r, nops;
    int64_t shape[GB_MAX_DIMS];
    int64_t st[IDX_MAX_OPS][GB_MAX_DIMS];
    int64_t ctr[GB_MAX_DIMS];
    int64_t off[IDX_MAX_OPS];
} idx_walk;

/* Starts a walk over shape (rank r) with nops operands at the given base offsets. */
static inline void idx_walk_init(idx_walk *w, int r, const int64_t *shape, int nops,
                                 const int64_t *base) {
    w->r = r;
    w->nops = nops;
    memcpy(w->shape, shape, (size_t)r * sizeof *shape);
    memset(w->ctr, 0, sizeof w->ctr);
    for (int k = 0; k < nops; k++) w->off[k] = base ? base[k] : 0;
}

/* Advances to the next element. */
static inline void idx_walk_next(idx_walk *w) {
    for (int d = w->r - 1; d >= 0; d--) {
        for (int k = 0; k < w->nops; k++) w->off[k] += w->st[k][d];
        if (++w->ctr[d] < w->shape[d]) return;
        for (int k = 0; k < w->nops; k++) w->off[k] -= w->st[k][d] * w->shape[d];
        w->ctr[d] = 0;
    }
}

/* Strides of tensor t seen under the broadcast output shape of rank r
 * (aligned on the right; 0 along dimensions where t has extent 1). */
static inline void idx_bcast_strides(const gb_tensor *t, int r, int64_t *st) {
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        int dt = d - (r - t->ndim);
        int64_t e = dt >= 0 ? t->shape[dt] : 1;
        st[d] = e == 1 ? 0 : s;
        s *= e;
    }
}

/* The numpy broadcast shape of n tensors; GB_ERR_SHAPE naming the clash. */
static inline gb_status idx_bcast_shape(const gb_tensor *const *t, int n, int *r, int64_t *shape) {
    int rank = 0;
    for (int k = 0; k < n; k++) rank = GB_MAX(rank, t[k]->ndim);
    for (int d = 0; d < rank; d++) {
        int64_t e = 1;
        for (int k = 0; k < n; k++) {
            int dk = d - (rank - t[k]->ndim);
            int64_t ek = dk >= 0 ? t[k]->shape[dk] : 1;
            if (ek == 1) continue;
            if (e != 1 && ek != e) {
                char s0[128], s1[128];
                return gb_error(GB_ERR_SHAPE, "cannot broadcast %s with %s",
                                gb_shape_str(t[0]->ndim, t[0]->shape, s0, sizeof s0),
                                gb_shape_str(t[k]->ndim, t[k]->shape, s1, sizeof s1));
            }
            e = ek;
        }
        shape[d] = e;
    }
    *r = rank;
    return GB_OK;
}

/* Row-major strides of a shape. */
static inline void idx_strides(int r, const int64_t *shape, int64_t *st) {
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        st[d] = s;
        s *= shape[d];
    }
}

#endif
