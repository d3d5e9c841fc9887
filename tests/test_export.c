/* test_export.c — models gibbon exports, checked by another runtime.
 *
 * Builds the zoo's "cnn" (Conv, Relu, MaxPool, Flatten, Gemm, Dropout with
 * its ratio input) and "resnet" (Conv, BatchNormalization with non-trivial
 * running statistics and affine parameters, Add, GlobalAveragePool), and
 * loads the shipped models/fmnist_cnn.onnx. For each: the saved file reloads
 * to bitwise identical logits here. With GB_ORT_DIR set, each model, a fixed
 * input batch and gibbon's logits are written there with a manifest
 * (manifest.txt: "model input output" per line) for tests/cli_ort.sh, which
 * runs the files in onnxruntime and compares.
 */
#include "check.h"
#include "internal.h"

#include <unistd.h>

static char tmpdir[512];

static const char *tmp_path(const char *name) {
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static gb_tensor *random_input(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
    gb_rng r;
    gb_rng_seed(&r, seed, 1);
    gb_tensor *x = gb_tensor_new4(n, c, h, w);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = gb_rng_uniform(&r);
    return x;
}

/* BatchNorm at initialisation is the identity up to epsilon: give every
 * BN tensor (and the zero biases) values that make a wrong formula show. */
static void perturb(gb_model *m, uint64_t seed) {
    gb_rng r;
    gb_rng_seed(&r, seed, 2);
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        int var = strstr(v->name, "running_var") != NULL;
        int bn = strstr(v->name, "bn") != NULL || strstr(v->name, "running_") != NULL;
        int bias = strstr(v->name, ".bias") != NULL;
        if (!bn && !bias) continue;
        for (int64_t k = 0; k < v->t.size; k++)
            v->t.data[k] = var ? 0.5f + gb_rng_uniform(&r) : v->t.data[k] + 0.4f * (gb_rng_uniform(&r) - 0.5f);
    }
}

static void check_model(gb_model *m, const char *name, const gb_tensor *x) {
    const char *dir = getenv("GB_ORT_DIR");
    char file[64];
    snprintf(file, sizeof file, "%s.onnx", name);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(m, x, &y));
    gb_tensor *y1 = gb_tensor_clone(y);
    CHECK_OK(gb_model_save_onnx(m, tmp_path(file)));
    gb_model *b = NULL;
    CHECK_OK(gb_model_load_onnx(tmp_path(file), &b));
    if (b) {
        const gb_tensor *y2;
        CHECK_OK(gb_model_forward(b, x, &y2));
        CHECKF(gb_tensor_same_shape(y1, y2) && memcmp(y1->data, y2->data, (size_t)y1->size * 4) == 0,
               "%s: logits change after save and load", name);
    }
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < y1->size; i++) lo = fminf(lo, y1->data[i]), hi = fmaxf(hi, y1->data[i]);
    CHECKF(hi - lo > 0.1f, "%s: logits nearly constant (%g..%g): a weak test", name, (double)lo, (double)hi);
    if (dir && *dir) {
        char path[1024], in[1024], out[1024];
        snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
        snprintf(in, sizeof in, "%s/%s_in.npy", dir, name);
        snprintf(out, sizeof out, "%s/%s_out.npy", dir, name);
        CHECK_OK(gb_model_save_onnx(m, path));
        CHECK_OK(gb_npy_write(in, x));
        CHECK_OK(gb_npy_write(out, y1));
        snprintf(path, sizeof path, "%s/manifest.txt", dir);
        FILE *f = fopen(path, "a");
        CHECK(f != NULL);
        if (f) {
            fprintf(f, "%s.onnx %s_in.npy %s_out.npy\n", name, name, name);
            fclose(f);
        }
    }
    remove(tmp_path(file));
    gb_tensor_free(y1);
    gb_model_free(b);
}

static void test_zoo_cnn(void) {
    gb_model *m = NULL;
    CHECK_OK(gb_model_from_zoo("cnn", 1, 28, 28, 10, 11, &m));
    if (!m) return;
    perturb(m, 1);
    gb_tensor *x = random_input(4, 1, 28, 28, 5);
    check_model(m, "zoo_cnn", x);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_zoo_resnet(void) {
    gb_model *m = NULL;
    CHECK_OK(gb_model_from_zoo("resnet", 3, 32, 32, 10, 12, &m));
    if (!m) return;
    perturb(m, 2);
    gb_tensor *x = random_input(4, 3, 32, 32, 6);
    check_model(m, "zoo_resnet", x);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_shipped(void) {
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx("models/fmnist_cnn.onnx", &m));
    if (!m) return;
    gb_tensor *x = random_input(4, 1, 28, 28, 7);
    check_model(m, "fmnist_cnn", x);
    gb_tensor_free(x);
    gb_model_free(m);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/gibbon_export_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_zoo_cnn);
    RUN(test_zoo_resnet);
    RUN(test_shipped);
    rmdir(tmpdir);
    CHECK_DONE();
}
