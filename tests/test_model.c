/* test_model.c — whole-model tests: zoo architectures build with the right
 * shapes, model-level finite-difference gradient checks (inference and
 * training mode), the input-gradient-only mode matches the full backward,
 * and bad architecture descriptions are refused. */
#include "check.h"
#include "gradcheck.h"

static gb_tensor *random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
    gb_tensor *x = gb_tensor_new4(n, c, h, w);
    gb_rng r;
    gb_rng_seed(&r, seed, 2);
    gc_fill_uniform(x, &r, 0, 1);
    return x;
}

static void test_zoo_shapes(void) {
    const char *archs[] = {"cnn", "resnet", "convbn8-fc16-drop0.5", "stem8-res8-res16/2-gap"};
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
        gb_model *m;
        CHECK_OK(gb_model_from_zoo(archs[i], 1, 28, 28, 10, 1, &m));
        if (!m) continue;
        gb_tensor *x = random_images(3, 1, 28, 28, 1);
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(m, x, &y));
        CHECKF(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 10, "%s", archs[i]);
        CHECK(gb_model_num_classes(m) == 10);
        gb_tensor_free(x);
        gb_model_free(m);
    }
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("cnn", 1, 28, 28, 10, 1, &m));
    /* conv 1->32 (288+32), conv 32->64 (18432+64), fc 3136->128, fc 128->10 */
    CHECK(gb_model_param_count(m) == 320 + 18496 + 3136 * 128 + 128 + 1290);
    gb_model_free(m);
}

static void test_zoo_bad(void) {
    const char *bad[] = {"conv", "conv0", "fc-1", "drop1.5", "wat12", "conv8-conv8-conv8-conv8-conv8-conv8",
                         "fc8-conv8", "", "res8/3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gb_model *m = NULL;
        gb_status s = gb_model_from_zoo(bad[i], 1, 28, 28, 10, 1, &m);
        CHECKF(s != GB_OK && m == NULL && strlen(gb_last_error()) > 0, "'%s' accepted", bad[i]);
    }
}

static void check_model_grad(const char *arch, int training, int64_t hw) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo(arch, 1, hw, hw, 5, 3, &m));
    if (!m) return;
    gb_tensor *x = random_images(4, 1, hw, hw, 5);
    gc_opts o = gc_default_opts();
    o.training = training;
    o.h = 2e-3;
    o.atol = 4e-3; /* float32 through BatchNorm batch statistics */
    o.kink_aware = 1;
    char label[128];
    snprintf(label, sizeof label, "%s (%s)", arch, training ? "training" : "inference");
    CHECKF(gradcheck_model(m, x, &o, label) == 0, "%s", label);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_model_gradcheck_cnn(void) {
    check_model_grad("conv4-conv6-fc8", 0, 8);
    check_model_grad("conv4-fc8-drop0.3", 1, 8);
}

static void test_model_gradcheck_resnet(void) {
    check_model_grad("stem4-res4-res6/2-gap", 0, 6);
    check_model_grad("stem4-res4-res6/2-gap", 1, 6);
}

/* Attacks run backward with GB_GRAD_INPUT only: the input gradient must be
 * the same as with the full backward, and parameter gradients untouched. */
static void test_input_only_mode(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("cnn", 1, 28, 28, 10, 4, &m));
    gb_tensor *x = random_images(5, 1, 28, 28, 6);
    const gb_tensor *y, *dx;
    CHECK_OK(gb_model_forward(m, x, &y));
    gb_tensor *R = gb_tensor_new(y->ndim, y->shape);
    gb_rng r;
    gb_rng_seed(&r, 3, 3);
    gc_fill_uniform(R, &r, -1, 1);
    gb_model_zero_grad(m);
    CHECK_OK(gb_model_backward(m, R, GB_GRAD_ALL, &dx));
    gb_tensor *full = gb_tensor_clone(dx);
    gb_model_zero_grad(m);
    CHECK_OK(gb_model_backward(m, R, GB_GRAD_INPUT, &dx));
    double maxdiff = 0;
    for (int64_t i = 0; i < full->size; i++) maxdiff = fmax(maxdiff, fabs(full->data[i] - dx->data[i]));
    CHECKF(maxdiff == 0, "input-only gradient differs by %g", maxdiff);
    int untouched = 1;
    for (int p = 0; p < gb_model_num_params(m); p++) {
        gb_param prm = gb_model_param(m, p);
        for (int64_t i = 0; i < prm.size; i++) untouched &= prm.grad[i] == 0;
    }
    CHECK(untouched);
    gb_tensor_free(full);
    gb_tensor_free(R);
    gb_tensor_free(x);
    gb_model_free(m);
}

/* Same seed and thread count: the same bits. */
static void test_deterministic(void) {
    float out[2][10];
    for (int k = 0; k < 2; k++) {
        gb_model *m;
        CHECK_OK(gb_model_from_zoo("cnn", 1, 28, 28, 10, 9, &m));
        gb_tensor *x = random_images(2, 1, 28, 28, 8);
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(m, x, &y));
        memcpy(out[k], y->data, sizeof out[k]);
        gb_tensor_free(x);
        gb_model_free(m);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
}

static void test_wrong_input_shape(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("cnn", 1, 28, 28, 10, 1, &m));
    gb_tensor *x = random_images(2, 3, 28, 28, 1);
    const gb_tensor *y;
    gb_status s = gb_model_forward(m, x, &y);
    CHECK(s == GB_ERR_SHAPE);
    CHECK(strstr(gb_last_error(), "(2, 3, 28, 28)") != NULL);
    gb_tensor_free(x);
    gb_model_free(m);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_zoo_shapes);
    RUN(test_zoo_bad);
    RUN(test_model_gradcheck_cnn);
    RUN(test_model_gradcheck_resnet);
    RUN(test_input_only_mode);
    RUN(test_deterministic);
    RUN(test_wrong_input_shape);
    CHECK_DONE();
}
