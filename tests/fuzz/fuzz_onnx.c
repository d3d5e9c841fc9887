/* fuzz_onnx.c — libFuzzer target over the ONNX model loader.
 *
 * Each input is taken as the bytes of an .onnx file: parsed, translated,
 * folded, adapted and planned for one image. When that succeeds and the
 * image is small, a forward and an input-gradient backward run too, so
 * hostile attributes reach the ops' kernels. Any crash, sanitizer report,
 * leak, hang or allocation over libFuzzer's limits is a bug; errors are the
 * expected outcome for most inputs.
 *
 *   make BUILD=fuzz CC=clang fuzz     -> build/fuzz-clang/fuzz/fuzz_onnx
 *   build/fuzz-clang/fuzz/fuzz_onnx tests/fuzz/corpus -max_total_time=60
 * (tests/cli_fuzz.sh does this on a copy of the seed corpus.)
 */
#include "internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    gb_set_num_threads(1);
    return 0;
}

static void run(gb_model *m) {
    /* The loader allows graphs that compute up to its budget (~10^8
     * values); running those takes seconds under the sanitizers, which
     * libFuzzer would report as timeouts. Small graphs only. */
    int64_t work = 0;
    for (int i = 0; i < m->nvals; i++)
        if (m->vals[i].kind == GB_VAL_ACT) work += m->vals[i].t.size;
    if (work > 1000000) return;
    int64_t shape[GB_MAX_DIMS];
    int nd = gb_model_input_shape(m, shape);
    int64_t n = 1;
    if (nd == 0) return;
    for (int i = 0; i < nd; i++) {
        shape[i] = shape[i] > 0 ? shape[i] : 1;
        n *= shape[i];
        if (n > 100000) return;
    }
    gb_tensor *x = gb_tensor_new(nd, shape);
    if (!x) return;
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (float)(i % 7) / 7.0f;
    const gb_tensor *y;
    if (gb_model_forward(m, x, &y) == GB_OK && y->size < 100000) {
        gb_tensor *dy = gb_tensor_clone(y);
        if (dy) {
            for (int64_t i = 0; i < dy->size; i++) dy->data[i] = 1.0f;
            const gb_tensor *dx;
            gb_model_backward(m, dy, GB_GRAD_INPUT, &dx);
        }
        gb_tensor_free(dy);
    }
    gb_tensor_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gb_model_load_params p = gb_model_load_default_params();
    gb_onnx_load_opts o = {NULL, 0, 0, &p};
    gb_model *m = NULL;
    /* A path in a directory that does not exist: external data cannot load. */
    if (gb_model_load_onnx_buffer("/nonexistent/fuzz.onnx", data, size, &o, &m) == GB_OK) {
        run(m);
        gb_model_free(m);
    }
    return 0;
}
