/* tensor.c — float32 tensors: allocation, shapes, growth. */
#include "internal.h"

gb_status gb_shape_numel(int ndim, const int64_t *shape, int64_t *out) {
    if (ndim < 0 || ndim > GB_MAX_DIMS)
        return gb_error(GB_ERR_SHAPE, "tensor rank %d outside 0..%d", ndim, GB_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return gb_error(GB_ERR_SHAPE, "negative dimension %lld", (long long)shape[i]);
        if (shape[i] > 0 && n > GB_MAX_ELEMENTS / shape[i])
            return gb_error(GB_ERR_NOMEM, "tensor of absurd size (over %lld elements)",
                            (long long)GB_MAX_ELEMENTS);
        n *= shape[i];
    }
    *out = n;
    return GB_OK;
}

_Thread_local int64_t gb_tensor_budget = -1;

gb_status gb_tensor_resize(gb_tensor *t, int ndim, const int64_t *shape) {
    int64_t n = 0;
    GB_TRY(gb_shape_numel(ndim, shape, &n));
    if (n > t->cap) {
        if (gb_tensor_budget >= 0) {
            if (n - t->cap > gb_tensor_budget) {
                char buf[160];
                return gb_error(GB_ERR_NOMEM, "a tensor of shape %s would exceed the memory a model may take while loading",
                                gb_shape_str(ndim, shape, buf, sizeof buf));
            }
            gb_tensor_budget -= n - t->cap;
        }
        float *d = gb_realloc(t->data, (size_t)n * sizeof(float));
        if (!d) return GB_ERR_NOMEM;
        t->data = d;
        t->cap = n;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    for (int i = ndim; i < GB_MAX_DIMS; i++) t->shape[i] = 0;
    t->size = n;
    return GB_OK;
}

void gb_tensor_release(gb_tensor *t) {
    if (t->cap) gb_free(t->data);
    memset(t, 0, sizeof *t);
}

gb_tensor *gb_tensor_new(int ndim, const int64_t *shape) {
    gb_tensor *t = gb_calloc(1, sizeof *t);
    if (!t) return NULL;
    if (gb_tensor_resize(t, ndim, shape) != GB_OK) {
        gb_free(t);
        return NULL;
    }
    if (t->size) memset(t->data, 0, (size_t)t->size * sizeof(float));
    return t;
}

gb_tensor *gb_tensor_new4(int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t s[4] = {n, c, h, w};
    return gb_tensor_new(4, s);
}

gb_tensor *gb_tensor_clone(const gb_tensor *src) {
    gb_tensor *t = gb_tensor_new(src->ndim, src->shape);
    if (t && src->size) memcpy(t->data, src->data, (size_t)src->size * sizeof(float));
    return t;
}

void gb_tensor_free(gb_tensor *t) {
    if (!t) return;
    gb_tensor_release(t);
    gb_free(t);
}

int gb_tensor_same_shape(const gb_tensor *a, const gb_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *gb_shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}
