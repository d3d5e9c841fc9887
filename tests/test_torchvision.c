/* test_torchvision.c — gibbon against PyTorch on torchvision resnet18,
 * mobilenet_v2, squeezenet1_1 (random init, eval mode), two small CNNs and a
 * small transformer (opset 17: LayerNormalization, GELU, attention)
 * (tests/golden/make_torchvision.py): the logits must match torch's to
 * <= 1e-4 max abs difference and the input gradient of the summed
 * cross-entropy loss to <= 1e-3 relative error, measured as
 * max|g - g_torch| / max|g_torch|.
 *
 * The fixtures are too big to commit; tests/cli_torchvision.sh generates them
 * into a temporary directory and runs this binary with GB_TORCHVISION_DIR
 * pointing there. Without that variable (the plain test loop), it skips.
 */
#include "check.h"
#include "internal.h"

#include <math.h>

static const char *dir;

static gb_tensor *load_npy(const char *name, const char *suffix) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_%s.npy", dir, name, suffix);
    gb_tensor *t = NULL;
    gb_status s = gb_npy_read(path, &t);
    CHECKF(s == GB_OK, "%s: %s", path, gb_last_error());
    return t;
}

static void check_model(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    gb_model *m = NULL;
    double t0 = gb_now();
    gb_status s = gb_model_load_onnx(path, &m);
    CHECKF(s == GB_OK, "%s: %s", name, gb_last_error());
    gb_tensor *x = load_npy(name, "x"), *yf = load_npy(name, "y");
    gb_tensor *ref = load_npy(name, "logits"), *gref = load_npy(name, "grad");
    if (!m || !x || !yf || !ref || !gref) goto done;
    double t1 = gb_now();
    const gb_tensor *logits;
    CHECK_OK(gb_model_forward(m, x, &logits));
    double t2 = gb_now();
    CHECKF(gb_tensor_same_shape(logits, ref), "%s: logits shape", name);
    double dmax = 0, lmax = 0;
    for (int64_t i = 0; i < ref->size && logits->size == ref->size; i++) {
        dmax = fmax(dmax, fabs((double)logits->data[i] - ref->data[i]));
        lmax = fmax(lmax, fabs((double)ref->data[i]));
    }
    int *y = malloc((size_t)yf->size * sizeof *y);
    for (int64_t i = 0; i < yf->size; i++) y[i] = (int)yf->data[i];
    gb_tensor *g = gb_tensor_new(x->ndim, x->shape);
    float loss;
    double t3 = gb_now();
    CHECK_OK(gb_input_gradient(m, x, y, g, &loss));
    double t4 = gb_now();
    double gdiff = 0, gmax = 0, num = 0, den = 0;
    for (int64_t i = 0; i < g->size; i++) {
        double d = (double)g->data[i] - gref->data[i];
        gdiff = fmax(gdiff, fabs(d));
        gmax = fmax(gmax, fabs((double)gref->data[i]));
        num += d * d;
        den += (double)gref->data[i] * gref->data[i];
    }
    double grel = gmax > 0 ? gdiff / gmax : gdiff, gl2 = den > 0 ? sqrt(num / den) : sqrt(num);
    printf("  %-14s logits max|d| %.3g (max|logit| %.3g)  grad max|d|/max|g| %.3g, L2 rel %.3g"
           "  [load %.2fs, forward %.2fs, forward+grad %.2fs]\n",
           name, dmax, lmax, grel, gl2, t1 - t0, t2 - t1, t4 - t3);
    CHECKF(dmax <= 1e-4, "%s: logits differ from torch by %g", name, dmax);
    CHECKF(grel <= 1e-3, "%s: input gradient relative error %g", name, grel);
    free(y);
    gb_tensor_free(g);
done:
    gb_tensor_free(x);
    gb_tensor_free(yf);
    gb_tensor_free(ref);
    gb_tensor_free(gref);
    gb_model_free(m);
}

static void test_resnet18(void) { check_model("resnet18"); }
static void test_mobilenet_v2(void) { check_model("mobilenet_v2"); }
static void test_squeezenet1_1(void) { check_model("squeezenet1_1"); }
static void test_small_cnn(void) { check_model("small_cnn"); }
static void test_ops_cnn(void) { check_model("ops_cnn"); }
static void test_tiny_vit(void) { check_model("tiny_vit"); }

int main(void) {
    dir = getenv("GB_TORCHVISION_DIR");
    if (!dir || !*dir) {
        printf("SKIP test_torchvision: GB_TORCHVISION_DIR not set (tests/cli_torchvision.sh sets it)\n");
        return 0;
    }
    RUN(test_small_cnn);
    RUN(test_ops_cnn);
    RUN(test_tiny_vit);
    RUN(test_squeezenet1_1);
    RUN(test_mobilenet_v2);
    RUN(test_resnet18);
    CHECK_DONE();
}
