/* test_adapt.c — fitting foreign models to gibbon's conventions
 * (src/graph/adapt.c), against PyTorch (tests/golden/make_adapt_fixtures.py):
 *
 *  - a model expecting (x255 - mean) / std input and ending in Softmax,
 *    loaded with mean/std/range, gives torch's logits on [0,1] pixels; the
 *    settings survive a save as metadata; gb_model_set_input_normalization
 *    on a loaded model does the same; gradients through the inserted nodes
 *    match finite differences;
 *  - an NHWC model with two outputs and a final LogSoftmax: the layout
 *    mix-up is caught with a message naming the fix, --layout nhwc runs it,
 *    an output is chosen by name, unknown names list the outputs;
 *  - 0..255 or already-normalized data is refused with a clear message;
 *  - bad settings are GB_ERR_ARG; allocation failures while adapting are
 *    clean.
 */
#include "check.h"
#include "internal.h"

#include <unistd.h>

#define GOLDEN "tests/golden/"

static const float MEAN255[3] = {123.675f, 116.28f, 103.53f};
static const float STD255[3] = {58.395f, 57.12f, 57.375f};

static char tmpdir[512];

static const char *tmp_path(const char *name) {
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static float max_abs_diff(const gb_tensor *a, const gb_tensor *b) {
    if (!gb_tensor_same_shape(a, b)) return INFINITY;
    float d = 0;
    for (int64_t i = 0; i < a->size; i++) d = fmaxf(d, fabsf(a->data[i] - b->data[i]));
    return d;
}

static gb_model_load_params norm255_params(void) {
    gb_model_load_params p = gb_model_load_default_params();
    p.channels = 3;
    memcpy(p.mean, MEAN255, sizeof MEAN255);
    memcpy(p.std, STD255, sizeof STD255);
    p.range = 255;
    return p;
}

/* Forward of model m on x must match want to 1e-4; returns a copy of the output. */
static gb_tensor *check_forward(gb_model *m, const gb_tensor *x, const gb_tensor *want, const char *what) {
    const gb_tensor *y = NULL;
    CHECK_OK(gb_model_forward(m, x, &y));
    if (!y) return NULL;
    CHECKF(max_abs_diff(y, want) < 1e-4f, "%s: max |gibbon - torch| = %g", what, (double)max_abs_diff(y, want));
    return gb_tensor_clone(y);
}

static void test_norm255(void) {
    gb_tensor *x = NULL, *want = NULL;
    CHECK_OK(gb_npy_read(GOLDEN "torch_norm255_in.npy", &x));
    CHECK_OK(gb_npy_read(GOLDEN "torch_norm255_out.npy", &want));
    if (!x || !want) return;
    gb_model_load_params p = norm255_params();
    gb_model *m = NULL, *b = NULL, *c = NULL;
    CHECK_OK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &p, &m));
    if (!m) goto done;
    CHECK(gb_model_output_kind(m) == GB_OUTPUT_SOFTMAX_REMOVED);
    CHECK(m->nadapt == 3 && strcmp(m->nodes[0].op_type, "Mul") == 0 && strcmp(m->nodes[2].op_type, "Div") == 0);
    CHECK(gb_model_num_classes(m) == 6);
    CHECK_OK(gb_model_check_input(m, x));
    float mean[GB_MAX_CHANNELS], std[GB_MAX_CHANNELS], range = 0;
    CHECK(gb_model_input_normalization(m, mean, std, &range) == 3 && range == 255 && mean[2] == MEAN255[2] &&
          std[1] == STD255[1]);
    gb_tensor *y1 = check_forward(m, x, want, "with --mean/--std/--range");

    /* Saved: the model's own graph plus metadata; reloading recreates the adapter. */
    CHECK_OK(gb_model_save_onnx(m, tmp_path("norm.onnx")));
    CHECK_OK(gb_model_load_onnx(tmp_path("norm.onnx"), &b));
    if (b && y1) {
        CHECK(b->nadapt == 3 && gb_model_input_normalization(b, NULL, NULL, &range) == 3 && range == 255);
        const gb_tensor *y2;
        CHECK_OK(gb_model_forward(b, x, &y2));
        CHECKF(max_abs_diff(y1, y2) == 0, "reloaded model differs by %g", (double)max_abs_diff(y1, y2));
    }
    gb_onnx_load_opts raw = {NULL, 0, 0, NULL};
    CHECK_OK(gb_model_load_onnx_ex(tmp_path("norm.onnx"), &raw, &c));
    if (c) { /* exactly the model's nodes, input and initializers */
        CHECKF(c->nnodes == 4 && strcmp(c->vals[c->input].name, "data") == 0, "%d nodes, input '%s'", c->nnodes,
               c->vals[c->input].name);
        CHECK(gb_model_find_value(c, "gibbon.mean") < 0);
    }
    gb_model_free(c);
    c = NULL;

    /* The same through gb_model_set_input_normalization on a plain load. */
    gb_model_free(b);
    b = NULL;
    CHECK_OK(gb_model_load_onnx(GOLDEN "torch_norm255.onnx", &b));
    if (b) {
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(b, x, &y));
        CHECK(max_abs_diff(y, want) > 1e-2f); /* un-normalized input: off */
        CHECK_OK(gb_model_set_input_normalization(b, 3, MEAN255, STD255, 255));
        gb_tensor *y3 = check_forward(b, x, want, "set_input_normalization");
        CHECK(y3 && y1 && max_abs_diff(y1, y3) == 0);
        gb_tensor_free(y3);
        /* Replacing it again, then removing it. */
        float one[1] = {0}, unit[1] = {1};
        CHECK_OK(gb_model_set_input_normalization(b, 1, one, unit, 1));
        CHECK(b->nadapt == 2);
        CHECK_OK(gb_model_set_input_normalization(b, 0, NULL, NULL, 1));
        CHECK(b->nadapt == 0 && b->input == gb_model_find_value(b, "data"));
        CHECK_OK(gb_model_forward(b, x, &y));
        CHECK_OK(gb_model_save_onnx(b, tmp_path("plain.onnx")));
    }

    /* Bad settings. */
    gb_model_load_params q = p;
    q.channels = 2;
    CHECK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &q, &c) == GB_ERR_ARG &&
          strstr(gb_last_error(), "mean/std have 2 values but the model's input has 3 channels"));
    q = p, q.std[1] = 0;
    CHECK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &q, &c) == GB_ERR_ARG &&
          strstr(gb_last_error(), "std 0: must be positive"));
    q = p, q.range = -1;
    CHECK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &q, &c) == GB_ERR_ARG);
    CHECK(c == NULL);

    /* keep_softmax: probabilities, rows summing to 1. */
    q = p, q.keep_softmax = 1;
    CHECK_OK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &q, &c));
    if (c) {
        const gb_tensor *y;
        CHECK(gb_model_output_kind(c) == GB_OUTPUT_LOGITS);
        CHECK_OK(gb_model_forward(c, x, &y));
        float s = 0;
        for (int k = 0; k < 6; k++) s += y->data[k];
        CHECK(fabsf(s - 1) < 1e-5f);
    }
    gb_tensor_free(y1);
done:
    gb_model_free(c);
    gb_model_free(b);
    gb_model_free(m);
    gb_tensor_free(x);
    gb_tensor_free(want);
}

/* d CE / d pixels through Mul/Sub/Div against central differences. */
static void test_gradient_through_adapter(void) {
    gb_model_load_params p = norm255_params();
    gb_model *m = NULL;
    gb_tensor *x = NULL;
    CHECK_OK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &p, &m));
    CHECK_OK(gb_npy_read(GOLDEN "torch_norm255_in.npy", &x));
    if (!m || !x) goto done;
    int y[4] = {0, 1, 2, 3};
    gb_tensor *g = gb_tensor_clone(x), *scratch = gb_tensor_clone(x);
    CHECK_OK(gb_input_gradient(m, x, y, g, NULL));
    const double h = 1e-3;
    for (int64_t i = 0; i < x->size; i += 37) {
        float keep = x->data[i], lp, lm;
        x->data[i] = keep + (float)h;
        gb_input_gradient(m, x, y, scratch, &lp);
        x->data[i] = keep - (float)h;
        gb_input_gradient(m, x, y, scratch, &lm);
        x->data[i] = keep;
        double num = 4 * ((double)lp - (double)lm) / (2 * h); /* summed loss = 4 * mean */
        CHECKF(fabs(num - g->data[i]) <= 2e-2 + 2e-2 * fabs(num), "element %lld: %g vs %g", (long long)i, num,
               (double)g->data[i]);
    }
    gb_tensor_free(g);
    gb_tensor_free(scratch);
done:
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_nhwc_outputs(void) {
    gb_tensor *x = NULL, *logp = NULL, *feat = NULL;
    CHECK_OK(gb_npy_read(GOLDEN "torch_nhwc_in.npy", &x));
    CHECK_OK(gb_npy_read(GOLDEN "torch_nhwc_logp.npy", &logp));
    CHECK_OK(gb_npy_read(GOLDEN "torch_nhwc_feat.npy", &feat));
    gb_model *m = NULL, *b = NULL;
    if (!x || !logp || !feat) goto done;

    /* Loaded as is: NCHW data into an NHWC model is caught with the fix. */
    CHECK_OK(gb_model_load_onnx(GOLDEN "torch_nhwc.onnx", &m));
    if (m) {
        CHECK(gb_model_check_input(m, x) == GB_ERR_SHAPE && strstr(gb_last_error(), "--layout nhwc"));
        const gb_tensor *y;
        CHECK(gb_model_forward(m, x, &y) == GB_ERR_SHAPE && strstr(gb_last_error(), "takes NHWC input"));
        CHECK(gb_model_num_outputs(m) == 2 && strcmp(gb_model_output_name(m, 1), "feat") == 0);
        CHECK(strcmp(gb_model_used_output(m), "logp") == 0);
        CHECK(gb_model_output_kind(m) == GB_OUTPUT_LOG_SOFTMAX);
        gb_model_free(m);
        m = NULL;
    }

    gb_model_load_params p = gb_model_load_default_params();
    p.layout = GB_LAYOUT_NHWC;
    CHECK_OK(gb_model_load_onnx_opts(GOLDEN "torch_nhwc.onnx", &p, &m));
    if (m) {
        int64_t s[GB_MAX_DIMS];
        CHECK(gb_model_input_shape(m, s) == 4 && s[1] == 2 && s[2] == 6 && s[3] == 6);
        CHECK_OK(gb_model_check_input(m, x));
        gb_tensor_free(check_forward(m, x, logp, "NHWC, logp"));
        /* NHWC data into the adapted model: told to transpose. */
        gb_tensor *t = gb_tensor_new4(3, 6, 6, 2);
        CHECK(gb_model_check_input(m, t) == GB_ERR_SHAPE && strstr(gb_last_error(), "transpose them"));
        gb_tensor_free(t);
        CHECK_OK(gb_model_save_onnx(m, tmp_path("nhwc.onnx")));
        CHECK_OK(gb_model_load_onnx(tmp_path("nhwc.onnx"), &b));
        if (b) {
            CHECK(gb_model_input_layout(b) == GB_LAYOUT_NHWC);
            gb_tensor_free(check_forward(b, x, logp, "NHWC reloaded from metadata"));
        }
        gb_model_free(m);
        m = NULL;
    }

    p.output = "feat";
    CHECK_OK(gb_model_load_onnx_opts(GOLDEN "torch_nhwc.onnx", &p, &m));
    if (m) {
        CHECK(strcmp(gb_model_used_output(m), "feat") == 0 && gb_model_output_kind(m) == GB_OUTPUT_LOGITS);
        for (int i = 0; i < m->nnodes; i++) CHECK(strcmp(m->nodes[i].op_type, "Gemm") != 0); /* pruned */
        gb_tensor_free(check_forward(m, x, feat, "NHWC, --output feat"));
        gb_model_free(m);
        m = NULL;
    }
    p.output = "nope";
    CHECK(gb_model_load_onnx_opts(GOLDEN "torch_nhwc.onnx", &p, &m) == GB_ERR_ARG &&
          strstr(gb_last_error(), "no graph output named 'nope' (the model's outputs: 'logp', 'feat')"));
done:
    gb_model_free(b);
    gb_model_free(m);
    gb_tensor_free(x);
    gb_tensor_free(logp);
    gb_tensor_free(feat);
}

static void test_data_range(void) {
    gb_model *m = NULL;
    gb_tensor *x = NULL;
    CHECK_OK(gb_model_load_onnx(GOLDEN "torch_norm255.onnx", &m));
    CHECK_OK(gb_npy_read(GOLDEN "torch_norm255_in.npy", &x));
    if (m && x) {
        for (int64_t i = 0; i < x->size; i++) x->data[i] *= 255;
        CHECK(gb_model_check_input(m, x) == GB_ERR_ARG && strstr(gb_last_error(), "divide the data by 255"));
        for (int64_t i = 0; i < x->size; i++) x->data[i] = x->data[i] / 255 * 4 - 2;
        CHECK(gb_model_check_input(m, x) == GB_ERR_ARG && strstr(gb_last_error(), "normalized already"));
        x->data[5] = NAN;
        CHECK(gb_model_check_input(m, x) == GB_ERR_ARG && strstr(gb_last_error(), "NaN"));
    }
    gb_tensor_free(x);
    gb_model_free(m);
}

/* Metadata in a file is used when the caller gives nothing, and explicit
 * parameters win over it. */
static void test_metadata_precedence(void) {
    gb_model_load_params p = norm255_params();
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx_opts(GOLDEN "torch_norm255.onnx", &p, &m));
    if (!m) return;
    CHECK_OK(gb_model_save_onnx(m, tmp_path("meta.onnx")));
    gb_model_free(m);
    m = NULL;
    gb_model_load_params q = gb_model_load_default_params();
    q.range = 1;
    CHECK_OK(gb_model_load_onnx_opts(tmp_path("meta.onnx"), &q, &m));
    float range, mean[GB_MAX_CHANNELS];
    if (m) CHECK(gb_model_input_normalization(m, mean, NULL, &range) == 3 && range == 1 && mean[0] == MEAN255[0]);
    gb_model_free(m);
}

static void test_fault_injection(void) {
    gb_model_load_params p = norm255_params();
    p.layout = GB_LAYOUT_NHWC;
    p.channels = 1;
    p.output = "logp";
    int ok = 0;
    long k;
    for (k = 0; k < 100000 && !ok; k++) {
        gb_model *m = NULL;
        gb_alloc_fail_after(k);
        gb_status s = gb_model_load_onnx_opts(GOLDEN "torch_nhwc.onnx", &p, &m);
        gb_alloc_fail_after(-1);
        ok = s == GB_OK;
        CHECKF(ok || (s == GB_ERR_NOMEM && !m), "allocation %ld: %s: %s", k, gb_status_name(s), gb_last_error());
        gb_model_free(m);
    }
    CHECKF(ok && k > 10, "loaded after %ld failures", k);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/gibbon_adapt_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_norm255);
    RUN(test_gradient_through_adapter);
    RUN(test_nhwc_outputs);
    RUN(test_data_range);
    RUN(test_metadata_precedence);
    RUN(test_fault_injection);
    const char *files[] = {"norm.onnx", "plain.onnx", "nhwc.onnx", "meta.onnx"};
    for (int i = 0; i < 4; i++) remove(tmp_path(files[i]));
    rmdir(tmpdir);
    CHECK_DONE();
}
