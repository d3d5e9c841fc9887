/* test_signs.c — the synthetic road-sign set: determinism for a seed, class
 * balance, pixel range, shapes, the class-name table, the geometry of the
 * neutral renders (sign areas against closed forms), the data-set specs,
 * and the shipped classifier models/signs_cnn.onnx (each class at neutral
 * pose, and >= 97% on 500 images of a seed nobody trained or tested on). */
#include "check.h"

#include <unistd.h>

#define MODEL "models/signs_cnn.onnx"
#define PI 3.14159265358979

static int sanitized(void) { return getenv("GIBBON_TEST_SANITIZED") != NULL; }

static void test_determinism(void) {
    gb_signs_params p = gb_signs_default_params();
    gb_dataset *a = NULL, *b = NULL, *c = NULL, *pre = NULL;
    CHECK_OK(gb_signs_generate(&p, 20, &a));
    CHECK_OK(gb_signs_generate(&p, 20, &b));
    CHECK_OK(gb_signs_generate(&p, 7, &pre));
    p.seed = 2;
    CHECK_OK(gb_signs_generate(&p, 20, &c));
    if (!a || !b || !c || !pre) return;
    size_t bytes = (size_t)a->images->size * sizeof(float);
    CHECK(memcmp(a->images->data, b->images->data, bytes) == 0);
    CHECK(memcmp(a->labels, b->labels, 20 * sizeof(int)) == 0);
    /* A prefix is the same whatever N. */
    CHECK(memcmp(a->images->data, pre->images->data, (size_t)pre->images->size * sizeof(float)) == 0);
    /* Another seed is another set (same labels, different images). */
    CHECK(memcmp(a->labels, c->labels, 20 * sizeof(int)) == 0);
    int64_t D = a->images->size / 20, differ = 0;
    for (int64_t i = 0; i < 20; i++)
        differ += memcmp(a->images->data + i * D, c->images->data + i * D, (size_t)D * sizeof(float)) != 0;
    CHECK(differ == 20);
    /* Single renders equal the set's images. */
    float *one = malloc((size_t)D * sizeof(float));
    int label = -1;
    p.seed = 1;
    CHECK_OK(gb_sign_render(&p, 13, one, &label));
    CHECK(label == a->labels[13]);
    CHECK(memcmp(one, a->images->data + 13 * D, (size_t)D * sizeof(float)) == 0);
    /* The same bits with one thread as with two. */
    int threads = gb_get_num_threads();
    gb_set_num_threads(1);
    gb_dataset *d1 = NULL;
    CHECK_OK(gb_signs_generate(&p, 20, &d1));
    gb_set_num_threads(threads);
    if (d1) CHECK(memcmp(a->images->data, d1->images->data, bytes) == 0);
    free(one);
    gb_dataset_free(a), gb_dataset_free(b), gb_dataset_free(c), gb_dataset_free(pre), gb_dataset_free(d1);
}

static void test_balance_range_shapes(void) {
    gb_signs_params p = gb_signs_default_params();
    p.seed = 99;
    gb_dataset *d = NULL;
    CHECK_OK(gb_signs_generate(&p, 200, &d));
    if (!d) return;
    CHECK(d->images->ndim == 4 && d->images->shape[0] == 200 && d->images->shape[1] == 3 &&
          d->images->shape[2] == GB_SIGNS_DEFAULT_SIZE && d->images->shape[3] == GB_SIGNS_DEFAULT_SIZE);
    CHECK(d->n == 200 && d->num_classes == GB_SIGNS_NUM_CLASSES);
    int count[GB_SIGNS_NUM_CLASSES] = {0};
    for (int i = 0; i < 200; i++) {
        CHECK(d->labels[i] >= 0 && d->labels[i] < GB_SIGNS_NUM_CLASSES);
        if (d->labels[i] >= 0 && d->labels[i] < GB_SIGNS_NUM_CLASSES) count[d->labels[i]]++;
    }
    for (int k = 0; k < GB_SIGNS_NUM_CLASSES; k++) CHECKF(count[k] == 20, "class %d: %d", k, count[k]);
    float lo = 1, hi = 0;
    double mean = 0;
    for (int64_t i = 0; i < d->images->size; i++) {
        float v = d->images->data[i];
        CHECK(v >= 0.0f && v <= 1.0f);
        lo = fminf(lo, v), hi = fmaxf(hi, v), mean += v;
    }
    mean /= (double)d->images->size;
    /* Real pictures, not a constant: the range is used and the mean is mid-grey-ish. */
    CHECKF(lo < 0.05f && hi > 0.95f && mean > 0.2 && mean < 0.8, "lo %g hi %g mean %g", lo, hi, mean);
    for (int k = 0; k < GB_SIGNS_NUM_CLASSES; k++) CHECK(strcmp(d->class_names[k], gb_sign_class_name(k)) == 0);
    gb_dataset_free(d);
    /* Another size. */
    p.size = 32;
    CHECK_OK(gb_signs_generate(&p, 3, &d));
    if (d) CHECK(d->images->shape[2] == 32 && d->images->shape[3] == 32);
    gb_dataset_free(d);
}

static void test_names(void) {
    const char *want[GB_SIGNS_NUM_CLASSES] = {"stop",     "yield",    "speed 30",  "speed 50",   "speed 80",
                                             "no entry", "priority", "turn left", "turn right", "warning"};
    for (int k = 0; k < GB_SIGNS_NUM_CLASSES; k++) CHECK(strcmp(gb_sign_class_name(k), want[k]) == 0);
    CHECK(GB_SIGN_STOP == 0 && GB_SIGN_SPEED50 == 3 && GB_SIGN_WARNING == 9);
    CHECK(strcmp(gb_sign_class_name(-1), "?") == 0 && strcmp(gb_sign_class_name(10), "?") == 0);
}

static void test_bad_params(void) {
    gb_signs_params p = gb_signs_default_params();
    gb_dataset *d = NULL;
    p.size = 8;
    CHECK(gb_signs_generate(&p, 5, &d) == GB_ERR_ARG && !d);
    CHECK(strstr(gb_last_error(), "size") != NULL);
    p = gb_signs_default_params();
    p.supersample = 0;
    CHECK(gb_signs_generate(&p, 5, &d) == GB_ERR_ARG);
    p = gb_signs_default_params();
    CHECK(gb_signs_generate(&p, 0, &d) == GB_ERR_ARG);
    float buf[3 * 32 * 32];
    CHECK(gb_sign_render_neutral(10, 32, buf, NULL) == GB_ERR_ARG);
    CHECK(gb_sign_render(&p, -1, buf, NULL) == GB_ERR_ARG);
}

/* The sign covers its analytic area: a disc of radius 0.42 S, an octagon of
 * apothem 0.42 S (8 tan(pi/8) a^2), a diamond of half-diagonal 0.42 S (2 a^2). */
static void test_neutral_geometry(void) {
    enum { S = 96 };
    float *img = malloc(3 * S * S * sizeof(float)), *mask = malloc(S * S * sizeof(float));
    struct {
        int cls;
        double area;
    } cases[] = {{GB_SIGN_SPEED50, PI * 0.42 * 0.42},
                 {GB_SIGN_STOP, 8 * tan(PI / 8) * 0.42 * 0.42},
                 {GB_SIGN_PRIORITY, 2 * 0.42 * 0.42}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        CHECK_OK(gb_sign_render_neutral(cases[c].cls, S, img, mask));
        double a = 0;
        for (int i = 0; i < S * S; i++) {
            CHECK(mask[i] >= 0 && mask[i] <= 1);
            a += mask[i];
        }
        a /= S * S;
        CHECKF(fabs(a - cases[c].area) < 0.01, "class %d: area %.4f, want %.4f", cases[c].cls, a, cases[c].area);
    }
    /* Stop is red with white letters; at the centre of the "O" gap... just check colours:
     * the corner is background grey, a point inside the octagon border region is red. */
    CHECK_OK(gb_sign_render_neutral(GB_SIGN_STOP, S, img, mask));
    int corner = 0, red = (int)(S * 0.5) * S + (int)(S * 0.5 - 0.36 * S); /* left of the text */
    CHECK(fabsf(img[corner] - img[S * S + corner]) < 0.1f);
    CHECKF(img[red] > 0.6f && img[S * S + red] < 0.2f && img[2 * S * S + red] < 0.2f, "rgb %g %g %g",
           img[red], img[S * S + red], img[2 * S * S + red]);
    free(img), free(mask);
}

static void test_specs(void) {
    gb_dataset *d = NULL;
    CHECK_OK(gb_dataset_load("signs:test:30", &d));
    if (d) {
        CHECK(d->n == 30 && d->num_classes == 10 && d->class_names && strcmp(d->class_names[3], "speed 50") == 0);
        gb_signs_params p = gb_signs_default_params();
        p.seed = GB_SIGNS_TEST_SEED;
        gb_dataset *g = NULL;
        CHECK_OK(gb_signs_generate(&p, 30, &g));
        if (g) CHECK(memcmp(g->images->data, d->images->data, (size_t)g->images->size * sizeof(float)) == 0);
        gb_dataset_free(g);
    }
    gb_dataset_free(d);
    d = NULL;
    CHECK_OK(gb_dataset_load("signs:train:10", &d));
    gb_dataset *t = NULL;
    CHECK_OK(gb_dataset_load("signs:test:10", &t));
    if (d && t) CHECK(memcmp(d->images->data, t->images->data, (size_t)d->images->size * sizeof(float)) != 0);
    gb_dataset_free(d), gb_dataset_free(t);
    CHECK(gb_dataset_load("signs:valid", &d) != GB_OK);
    CHECK(gb_dataset_load("signs:train:0", &d) == GB_ERR_ARG);
}

static void test_shipped_model(void) {
    if (access(MODEL, R_OK) != 0) {
        printf("skip: %s not found\n", MODEL);
        return;
    }
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(MODEL, &m));
    if (!m) return;
    int64_t shape[GB_MAX_DIMS];
    gb_model_input_shape(m, shape);
    int S = (int)shape[2];
    CHECK(shape[1] == 3 && S == GB_SIGNS_DEFAULT_SIZE && gb_model_num_classes(m) == 10);
    gb_tensor *x = gb_tensor_new4(GB_SIGNS_NUM_CLASSES, 3, S, S);
    for (int k = 0; k < GB_SIGNS_NUM_CLASSES; k++)
        CHECK_OK(gb_sign_render_neutral(k, S, x->data + (size_t)k * 3 * S * S, NULL));
    int pred[GB_SIGNS_NUM_CLASSES];
    CHECK_OK(gb_predict_set(m, x, NULL, 10, pred));
    for (int k = 0; k < GB_SIGNS_NUM_CLASSES; k++)
        CHECKF(pred[k] == k, "neutral %s classified %s", gb_sign_class_name(k), gb_sign_class_name(pred[k]));
    gb_tensor_free(x);
    /* 500 images from a seed used neither for training (1) nor testing (2). */
    gb_signs_params p = gb_signs_default_params();
    p.seed = 20261125;
    gb_dataset *d = NULL;
    CHECK_OK(gb_signs_generate(&p, sanitized() ? 100 : 500, &d));
    if (d) {
        float acc = 0;
        CHECK_OK(gb_evaluate(m, d, 100, &acc, NULL));
        printf("signs_cnn accuracy on %lld fresh images: %.2f%%\n", (long long)d->n, 100 * acc);
        CHECKF(acc >= 0.97f, "accuracy %.4f", acc);
    }
    gb_dataset_free(d);
    gb_model_free(m);
}

int main(void) {
    RUN(test_determinism);
    RUN(test_balance_range_shapes);
    RUN(test_names);
    RUN(test_bad_params);
    RUN(test_neutral_geometry);
    RUN(test_specs);
    RUN(test_shipped_model);
    CHECK_DONE();
}
