/* affine_model.c — see affine_model.h. */
#include "affine_model.h"

#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "internal.h"

gb_model *affine_model(int64_t c, int64_t h, int64_t w, int64_t K, gb_rng *r, float wscale) {
    gb_model *m = gb_model_alloc();
    const int64_t D = c * h * w;
    m->in_ndim = 4;
    int64_t in[4] = {-1, c, h, w};
    memcpy(m->in_shape, in, sizeof in);
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int64_t ws[2] = {K, D}, bs[1] = {K};
    gb_tensor *W = gb_tensor_new(2, ws), *B = gb_tensor_new(1, bs);
    gc_fill_uniform(W, r, -wscale, wscale);
    gc_fill_uniform(B, r, -0.5f, 0.5f);
    int wv = gb_model_add_value(m, "W", GB_VAL_PARAM, W), bv = gb_model_add_value(m, "b", GB_VAL_PARAM, B);
    gb_tensor_free(W);
    gb_tensor_free(B);
    int flat = gb_model_add_value(m, "flat", GB_VAL_ACT, NULL), out = gb_model_add_value(m, "z", GB_VAL_ACT, NULL);
    m->output = out;
    int n1 = gb_model_add_node(m, "Flatten", "flatten", &x, 1, &flat, 1);
    (void)n1;
    int gin[3] = {flat, wv, bv};
    int n2 = gb_model_add_node(m, "Gemm", "gemm", gin, 3, &out, 1);
    gb_node_add_int(&m->nodes[n2], "transB", 1);
    if (gb_model_finalize(m) != GB_OK) {
        fprintf(stderr, "affine model: %s\n", gb_last_error());
        gb_model_free(m);
        return NULL;
    }
    return m;
}
