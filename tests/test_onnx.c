/* test_onnx.c — ONNX import and export (src/io/onnx_import.c, onnx_export.c).
 *
 *  - a hand-built model and zoo models round-trip bit for bit: values,
 *    kinds, attributes, forward outputs;
 *  - models exported by PyTorch (tests/golden/make_onnx_fixtures.py) load and
 *    reproduce torch's logits;
 *  - hand-written ModelProtos cover Constant nodes, float_data/int64_data,
 *    symbolic dims and IR-3-style initializer inputs;
 *  - corrupt, truncated and unsupported files fail with a message naming the
 *    file, and every allocation failure while loading or saving is clean.
 *
 * With GB_ONNX_EXPORT_DIR set, the exported models are also written there
 * for tests/cli_onnx.sh to run through onnx.checker.
 */
#include "check.h"
#include "internal.h"
#include "onnx.pb-c.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLDEN "tests/golden/"

static char tmpdir[512];

static const char *tmp_path(const char *name) {
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

/* Checks that loading path fails with status want (or any error if want is
 * GB_OK) and that the message names the file and contains `needle`. */
static void expect_load_error(const char *path, gb_status want, const char *needle) {
    gb_model *m = (gb_model *)1;
    gb_status s = gb_model_load_onnx(path, &m);
    const char *msg = gb_last_error();
    if (getenv("GB_TEST_VERBOSE")) printf("  %s: %s\n", gb_status_name(s), msg);
    CHECKF(s != GB_OK, "%s loaded but should fail (%s)", path, needle ? needle : "");
    CHECKF(want == GB_OK || s == want, "%s: status %s, expected %s: %s", path, gb_status_name(s),
           gb_status_name(want), msg);
    CHECKF(m == NULL, "%s: *out not NULL after failure", path);
    CHECKF(strncmp(msg, path, strlen(path)) == 0, "message does not start with the path: %s", msg);
    CHECKF(!needle || strstr(msg, needle), "message lacks '%s': %s", needle, msg);
    if (s == GB_OK) gb_model_free(m);
}

/* ---- the hand-built model --------------------------------------------------- */

static int add_filled(gb_model *m, const char *name, gb_value_kind kind, int ndim,
                      const int64_t *shape, gb_rng *r) {
    gb_tensor *t = gb_tensor_new(ndim, shape);
    for (int64_t i = 0; i < t->size; i++) t->data[i] = r ? gb_rng_uniform(r) - 0.5f : 0;
    int v = gb_model_add_value(m, name, kind, t);
    gb_tensor_free(t);
    return v;
}

/* x (N,1,4,4) -> Conv(3x3, pad 1) -> BatchNormalization -> Relu -> Clip(, "", 6)
 *   -> Reshape(-1, 32) -> Gemm(transB) -> logits (N,3)
 * Covers PARAM and CONST floats, an int64 CONST, an omitted optional input
 * and INT/FLOAT/INTS attributes. */
static gb_model *build_model(void) {
    gb_rng r;
    gb_rng_seed(&r, 42, 3);
    gb_model *m = gb_model_alloc();
    int64_t wc[4] = {2, 1, 3, 3}, two[1] = {2}, wg[2] = {3, 32}, three[1] = {3};
    int Wc = add_filled(m, "conv.w", GB_VAL_PARAM, 4, wc, &r);
    int bc = add_filled(m, "conv.b", GB_VAL_PARAM, 1, two, &r);
    int sc = add_filled(m, "bn.scale", GB_VAL_PARAM, 1, two, &r);
    int bb = add_filled(m, "bn.bias", GB_VAL_PARAM, 1, two, &r);
    int mean = add_filled(m, "bn.mean", GB_VAL_CONST, 1, two, &r);
    int var = add_filled(m, "bn.var", GB_VAL_CONST, 1, two, &r);
    m->vals[var].t.data[0] = 0.7f, m->vals[var].t.data[1] = 1.3f;
    int six = add_filled(m, "six", GB_VAL_CONST, 0, NULL, NULL);
    m->vals[six].t.data[0] = 6;
    int shp = add_filled(m, "shape", GB_VAL_CONST, 1, two, NULL);
    m->vals[shp].i64 = gb_malloc(2 * sizeof(int64_t));
    m->vals[shp].i64[0] = -1, m->vals[shp].i64[1] = 32;
    m->vals[shp].t.data[0] = -1, m->vals[shp].t.data[1] = 32;
    int Wg = add_filled(m, "fc.w", GB_VAL_PARAM, 2, wg, &r);
    int bg = add_filled(m, "fc.b", GB_VAL_PARAM, 1, three, &r);
    m->vals[Wc].decay = m->vals[Wg].decay = 1;
    int x = gb_model_add_value(m, "image", GB_VAL_INPUT, NULL);
    int64_t ins[4] = {-1, 1, 4, 4};
    memcpy(m->in_shape, ins, sizeof ins);
    m->in_ndim = 4;

    const char *acts[] = {"c", "b", "r", "k", "f", "logits"};
    int a[6];
    for (int i = 0; i < 6; i++) a[i] = gb_model_add_value(m, acts[i], GB_VAL_ACT, NULL);
    int64_t k3[2] = {3, 3}, p1[4] = {1, 1, 1, 1}, s1[2] = {1, 1};
    int ni = gb_model_add_node(m, "Conv", "conv", (int[]){x, Wc, bc}, 3, &a[0], 1);
    gb_node *n = &m->nodes[ni];
    gb_node_add_ints(n, "kernel_shape", k3, 2);
    gb_node_add_ints(n, "pads", p1, 4);
    gb_node_add_ints(n, "strides", s1, 2);
    gb_node_add_int(n, "group", 1);
    ni = gb_model_add_node(m, "BatchNormalization", "bn", (int[]){a[0], sc, bb, mean, var}, 5, &a[1], 1);
    n = &m->nodes[ni];
    gb_node_add_float(n, "epsilon", 1e-3f);
    gb_model_add_node(m, "Relu", "relu", &a[1], 1, &a[2], 1);
    gb_model_add_node(m, "Clip", "relu6", (int[]){a[2], -1, six}, 3, &a[3], 1);
    gb_model_add_node(m, "Reshape", "reshape", (int[]){a[3], shp}, 2, &a[4], 1);
    ni = gb_model_add_node(m, "Gemm", "fc", (int[]){a[4], Wg, bg}, 3, &a[5], 1);
    n = &m->nodes[ni];
    gb_node_add_int(n, "transB", 1);
    gb_node_add_float(n, "alpha", 1.0f);
    m->output = a[5];
    m->arch = gb_strdup("test-cnn");
    if (gb_model_finalize(m) != GB_OK) {
        fprintf(stderr, "build_model: %s\n", gb_last_error());
        exit(1);
    }
    return m;
}

static gb_tensor *random_input(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
    gb_rng r;
    gb_rng_seed(&r, seed, 1);
    gb_tensor *x = gb_tensor_new4(n, c, h, w);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = gb_rng_uniform(&r);
    return x;
}

static int same_tensor(const gb_tensor *a, const gb_tensor *b) {
    return gb_tensor_same_shape(a, b) && memcmp(a->data, b->data, (size_t)a->size * sizeof(float)) == 0;
}

static int same_attr(const gb_attr *a, const gb_attr *b) {
    if (strcmp(a->name, b->name) != 0 || a->type != b->type) return 0;
    switch (a->type) {
    case GB_ATTR_INT: return a->i == b->i;
    case GB_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case GB_ATTR_INTS: return a->n == b->n && memcmp(a->ints, b->ints, (size_t)a->n * sizeof *a->ints) == 0;
    case GB_ATTR_FLOATS:
        return a->n == b->n && memcmp(a->floats, b->floats, (size_t)a->n * sizeof *a->floats) == 0;
    case GB_ATTR_STRING: return strcmp(a->s, b->s) == 0;
    }
    return 0;
}

static const char *vname(const gb_model *m, int v) { return v >= 0 ? m->vals[v].name : "(none)"; }

/* Structural equality of two models: values (by name, with kind, decay, data
 * bit for bit), nodes (op, name, inputs and outputs by name, attributes). */
static void check_same_model(const gb_model *a, const gb_model *b) {
    CHECKF(a->nvals == b->nvals, "%d vs %d values", a->nvals, b->nvals);
    for (int i = 0; i < a->nvals; i++) {
        const gb_value *va = &a->vals[i];
        int j = gb_model_find_value(b, va->name);
        CHECKF(j >= 0, "value '%s' lost", va->name);
        if (j < 0) continue;
        const gb_value *vb = &b->vals[j];
        CHECKF(va->kind == vb->kind, "'%s': kind %d vs %d", va->name, va->kind, vb->kind);
        if (va->kind != GB_VAL_PARAM && va->kind != GB_VAL_CONST) continue;
        CHECKF(va->decay == vb->decay, "'%s': decay %d vs %d", va->name, va->decay, vb->decay);
        CHECKF(same_tensor(&va->t, &vb->t), "'%s': data differs", va->name);
        CHECKF(!va->i64 == !vb->i64, "'%s': int64 data lost", va->name);
        if (va->i64 && vb->i64)
            CHECKF(memcmp(va->i64, vb->i64, (size_t)va->t.size * sizeof(int64_t)) == 0, "'%s': int64 data differs",
                   va->name);
    }
    CHECKF(a->nnodes == b->nnodes, "%d vs %d nodes", a->nnodes, b->nnodes);
    for (int i = 0; i < a->nnodes && i < b->nnodes; i++) {
        const gb_node *na = &a->nodes[i], *nb = &b->nodes[i];
        CHECKF(strcmp(na->op_type, nb->op_type) == 0 && strcmp(na->name, nb->name) == 0, "node %d: %s '%s' vs %s '%s'",
               i, na->op_type, na->name, nb->op_type, nb->name);
        int nin = na->nin;
        while (nin > 0 && na->in[nin - 1] < 0) nin--; /* export drops trailing omitted inputs */
        CHECKF(nb->nin == nin && na->nout == nb->nout, "node '%s': arity", na->name);
        for (int k = 0; k < nin && k < nb->nin; k++)
            CHECKF(strcmp(vname(a, na->in[k]), vname(b, nb->in[k])) == 0, "node '%s' input %d: %s vs %s", na->name, k,
                   vname(a, na->in[k]), vname(b, nb->in[k]));
        for (int k = 0; k < na->nout && k < nb->nout; k++)
            CHECK(strcmp(vname(a, na->out[k]), vname(b, nb->out[k])) == 0);
        CHECKF(na->nattrs == nb->nattrs, "node '%s': %d vs %d attributes", na->name, na->nattrs, nb->nattrs);
        for (int k = 0; k < na->nattrs && k < nb->nattrs; k++)
            CHECKF(same_attr(&na->attrs[k], &nb->attrs[k]), "node '%s': attribute '%s' differs", na->name,
                   na->attrs[k].name);
    }
    CHECK(strcmp(vname(a, a->input), vname(b, b->input)) == 0);
    CHECK(strcmp(vname(a, a->output), vname(b, b->output)) == 0);
    CHECK(a->in_ndim == b->in_ndim && memcmp(a->in_shape, b->in_shape, sizeof a->in_shape) == 0);
    CHECK(strcmp(gb_model_arch(a), gb_model_arch(b)) == 0);
    CHECK(a->opset == b->opset);
}

static void export_copy(const gb_model *m, const char *name) {
    const char *dir = getenv("GB_ONNX_EXPORT_DIR");
    if (!dir || !*dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_OK(gb_model_save_onnx(m, path));
}

static void test_roundtrip(void) {
    gb_model *m = build_model();
    const char *path = tmp_path("base.onnx");
    CHECK_OK(gb_model_save_onnx(m, path));
    export_copy(m, "handmade.onnx");
    gb_model *b = NULL;
    CHECK_OK(gb_model_load_onnx(path, &b));
    if (!b) {
        gb_model_free(m);
        return;
    }
    check_same_model(m, b);
    CHECK(strcmp(b->producer, "gibbon") == 0);
    CHECK(gb_model_num_classes(b) == 3);
    CHECK(gb_model_num_params(b) == 6);

    gb_tensor *x = random_input(5, 1, 4, 4, 7);
    const gb_tensor *ya, *yb;
    CHECK_OK(gb_model_forward(m, x, &ya));
    CHECK_OK(gb_model_forward(b, x, &yb));
    CHECKF(same_tensor(ya, yb), "forward outputs differ after the round trip");
    /* Saving the loaded model again gives the same bytes. */
    const char *again = tmp_path("again.onnx");
    CHECK_OK(gb_model_save_onnx(b, again));
    size_t n1, n2;
    uint8_t *b1 = read_bytes(path, &n1), *b2 = read_bytes(again, &n2);
    CHECKF(n1 == n2 && memcmp(b1, b2, n1) == 0, "re-export differs (%zu vs %zu bytes)", n1, n2);
    free(b1);
    free(b2);
    gb_tensor_free(x);
    gb_model_free(b);
    gb_model_free(m);
}

/* Every attribute type and empty strings survive; Identity ignores them. */
static void test_roundtrip_attrs(void) {
    gb_model *m = gb_model_alloc();
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int y = gb_model_add_value(m, "y", GB_VAL_ACT, NULL);
    m->in_ndim = 2, m->in_shape[0] = -1, m->in_shape[1] = 3;
    int ni = gb_model_add_node(m, "Identity", "id", &x, 1, &y, 1);
    gb_node *n = &m->nodes[ni];
    int64_t ints[3] = {-5, 0, INT64_MAX};
    float floats[2] = {-0.0f, 1e-30f};
    gb_node_add_int(n, "i", INT64_MIN);
    gb_node_add_float(n, "f", 0.1f);
    gb_node_add_ints(n, "is", ints, 3);
    gb_node_add_ints(n, "empty", ints, 0);
    gb_node_add_floats(n, "fs", floats, 2);
    gb_node_add_string(n, "s", "hello, world");
    gb_node_add_string(n, "es", "");
    m->output = y;
    m->opset = 17;
    CHECK_OK(gb_model_finalize(m));
    const char *path = tmp_path("attrs.onnx");
    CHECK_OK(gb_model_save_onnx(m, path));
    gb_model *b = NULL;
    CHECK_OK(gb_model_load_onnx(path, &b));
    if (b) {
        check_same_model(m, b);
        CHECK(b->opset == 17);
        CHECK(gb_model_num_classes(b) == 3);
    }
    gb_model_free(b);
    gb_model_free(m);
}

/* Zoo models (what `gibbon train` saves) round-trip with every parameter
 * still trainable: the importer's PARAM rule covers what the zoo creates. */
static void test_roundtrip_zoo(void) {
    const char *archs[] = {"conv4-fc8-drop0.5", "convbn4-fc8", "stem4-res4-res8/2-gap"};
    for (int i = 0; i < 3; i++) {
        gb_model *m = NULL, *b = NULL;
        CHECK_OK(gb_model_from_zoo(archs[i], 3, 8, 8, 10, 1, &m));
        if (!m) continue;
        char name[32];
        snprintf(name, sizeof name, "zoo%d.onnx", i);
        CHECK_OK(gb_model_save_onnx(m, tmp_path(name)));
        export_copy(m, name);
        CHECK_OK(gb_model_load_onnx(tmp_path(name), &b));
        if (b) {
            check_same_model(m, b);
            CHECKF(gb_model_num_params(m) == gb_model_num_params(b), "%s: %d vs %d params", archs[i],
                   gb_model_num_params(m), gb_model_num_params(b));
            gb_tensor *x = random_input(2, 3, 8, 8, 3);
            const gb_tensor *ya, *yb;
            CHECK_OK(gb_model_forward(m, x, &ya));
            CHECK_OK(gb_model_forward(b, x, &yb));
            CHECKF(same_tensor(ya, yb), "%s: forward differs after the round trip", archs[i]);
            gb_tensor_free(x);
        }
        gb_model_free(b);
        gb_model_free(m);
    }
}

/* ---- PyTorch exports ------------------------------------------------------------ */

static float max_abs_diff(const gb_tensor *a, const gb_tensor *b) {
    float d = 0;
    for (int64_t i = 0; i < a->size; i++) d = fmaxf(d, fabsf(a->data[i] - b->data[i]));
    return d;
}

static void check_torch(const char *name, int classes, int nparams) {
    char path[256], in[256], out[256];
    snprintf(path, sizeof path, GOLDEN "%s.onnx", name);
    snprintf(in, sizeof in, GOLDEN "%s_in.npy", name);
    snprintf(out, sizeof out, GOLDEN "%s_out.npy", name);
    gb_model *m = NULL;
    gb_tensor *x = NULL, *want = NULL;
    CHECK_OK(gb_model_load_onnx(path, &m));
    CHECK_OK(gb_npy_read(in, &x));
    CHECK_OK(gb_npy_read(out, &want));
    if (!m || !x || !want) goto done;
    CHECK(strcmp(m->producer, "pytorch") == 0);
    CHECK(gb_model_num_classes(m) == classes);
    CHECKF(gb_model_num_params(m) == nparams, "%s: %d params", name, gb_model_num_params(m));
    int64_t shape[GB_MAX_DIMS];
    CHECK(gb_model_input_shape(m, shape) == 4 && shape[0] == -1 && shape[1] == x->shape[1]);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(m, x, &y));
    CHECKF(gb_tensor_same_shape(y, want) && max_abs_diff(y, want) < 1e-4f, "%s: max |gibbon - torch| = %g",
           name, (double)max_abs_diff(y, want));

    /* Re-export and reload: identical graph and bitwise identical logits. */
    char copy[64];
    snprintf(copy, sizeof copy, "%s.onnx", name);
    CHECK_OK(gb_model_save_onnx(m, tmp_path(copy)));
    export_copy(m, copy);
    gb_model *b = NULL;
    CHECK_OK(gb_model_load_onnx(tmp_path(copy), &b));
    if (b) {
        check_same_model(m, b);
        gb_tensor *y1 = gb_tensor_clone(y);
        const gb_tensor *y2;
        CHECK_OK(gb_model_forward(b, x, &y2));
        CHECK(same_tensor(y1, y2));
        gb_tensor_free(y1);
        gb_model_free(b);
    }
done:
    gb_tensor_free(x);
    gb_tensor_free(want);
    gb_model_free(m);
}

static void test_torch_cnn(void) {
    check_torch("torch_cnn", 5, 4);
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(GOLDEN "torch_cnn.onnx", &m));
    if (!m) return;
    /* Weights decay, biases do not. */
    for (int i = 0; i < gb_model_num_params(m); i++) {
        gb_param p = gb_model_param(m, i);
        CHECKF(p.decay == (strstr(p.name, "weight") != NULL), "%s: decay %d", p.name, p.decay);
    }
    gb_model_free(m);
}

static void test_torch_bn(void) {
    check_torch("torch_bn", 4, 5);
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(GOLDEN "torch_bn.onnx", &m));
    if (!m) return;
    /* BatchNorm's affine parameters train; its running statistics do not. */
    const char *consts[] = {"bn.running_mean", "bn.running_var"};
    const char *params[] = {"bn.weight", "bn.bias", "conv.weight", "fc.weight", "fc.bias"};
    for (int i = 0; i < 7; i++) {
        int v = gb_model_find_value(m, i < 2 ? consts[i] : params[i - 2]);
        CHECKF(v >= 0 && m->vals[v].kind == (i < 2 ? GB_VAL_CONST : GB_VAL_PARAM), "%s",
               i < 2 ? consts[i] : params[i - 2]);
    }
    gb_model_free(m);
}

/* ---- hand-written ModelProtos ------------------------------------------------------ */

/* Unpacked messages are allocated from a throwaway pool so tests can point
 * fields at their own strings and arrays before repacking. */
static void **pool;
static size_t pool_n, pool_cap;

static void *pool_alloc(void *d, size_t n) {
    (void)d;
    if (pool_n == pool_cap) {
        pool_cap = pool_cap ? 2 * pool_cap : 256;
        pool = realloc(pool, pool_cap * sizeof *pool);
    }
    return pool[pool_n++] = malloc(n ? n : 1);
}

static void pool_free(void *d, void *p) { (void)d, (void)p; }

static void pool_reset(void) {
    for (size_t i = 0; i < pool_n; i++) free(pool[i]);
    free(pool);
    pool = NULL;
    pool_n = pool_cap = 0;
}

static ProtobufCAllocator pool_allocator = {pool_alloc, pool_free, NULL};

static Onnx__ModelProto *unpack_file(const char *path) {
    size_t n;
    uint8_t *buf = read_bytes(path, &n);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&pool_allocator, n, buf);
    free(buf);
    if (!mp) {
        fprintf(stderr, "cannot unpack %s\n", path);
        exit(1);
    }
    return mp;
}

static void write_proto(const Onnx__ModelProto *mp, const char *path) {
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(n ? n : 1);
    onnx__model_proto__pack(mp, buf);
    write_bytes(path, buf, n);
    free(buf);
}

static Onnx__NodeProto *find_node(Onnx__ModelProto *mp, const char *name) {
    for (size_t i = 0; i < mp->graph->n_node; i++)
        if (strcmp(mp->graph->node[i]->name, name) == 0) return mp->graph->node[i];
    fprintf(stderr, "no node %s\n", name);
    exit(1);
}

static Onnx__TensorProto *find_init(Onnx__ModelProto *mp, const char *name) {
    for (size_t i = 0; i < mp->graph->n_initializer; i++)
        if (strcmp(mp->graph->initializer[i]->name, name) == 0) return mp->graph->initializer[i];
    fprintf(stderr, "no initializer %s\n", name);
    exit(1);
}

static Onnx__AttributeProto attr_int(const char *name, int64_t v) {
    Onnx__AttributeProto a = ONNX__ATTRIBUTE_PROTO__INIT;
    a.name = (char *)name, a.has_type = 1, a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a.has_i = 1, a.i = v;
    return a;
}

/* y = Gemm(Reshape(Add(Mul(x, scale), shift), shape), W, B, transB=1), built
 * field by field: W in float_data, B in raw_data, the scale, shift and shape
 * from Constant nodes (value_floats, value_float, value tensor with
 * int64_data), nameless nodes, a symbolic and a missing input dim, W listed
 * as a graph input too (IR < 4 style), an unused ai.onnx.ml import and two
 * graph outputs. */
static void test_handwritten(void) {
    float W[12] = {1, 2, 3, 4, -1, -2, -3, -4, 0.5f, 0.25f, 0.125f, 0};
    uint8_t Braw[12];
    float B[3] = {0.5f, -1, 2};
    for (int i = 0; i < 3; i++) {
        uint32_t u;
        memcpy(&u, &B[i], 4);
        for (int k = 0; k < 4; k++) Braw[4 * i + k] = (uint8_t)(u >> (8 * k));
    }
    int64_t wdims[2] = {3, 4}, bdims[1] = {3}, sdims[1] = {2}, shape[2] = {-1, 4};
    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT, b = ONNX__TENSOR_PROTO__INIT,
                      s = ONNX__TENSOR_PROTO__INIT;
    w.name = "W", w.n_dims = 2, w.dims = wdims, w.has_data_type = 1, w.data_type = 1;
    w.n_float_data = 12, w.float_data = W;
    b.name = "B", b.n_dims = 1, b.dims = bdims, b.has_data_type = 1, b.data_type = 1;
    b.has_raw_data = 1, b.raw_data.len = 12, b.raw_data.data = Braw;
    s.n_dims = 1, s.dims = sdims, s.has_data_type = 1, s.data_type = 7;
    s.n_int64_data = 2, s.int64_data = shape;
    Onnx__TensorProto *inits[2] = {&w, &b};

    float scale[4] = {1, 2, 3, 4};
    Onnx__AttributeProto a_scale = ONNX__ATTRIBUTE_PROTO__INIT, a_shift = ONNX__ATTRIBUTE_PROTO__INIT,
                         a_shape = ONNX__ATTRIBUTE_PROTO__INIT, a_int = attr_int("value_int", 9),
                         a_tb = attr_int("transB", 1);
    a_scale.name = "value_floats", a_scale.has_type = 1, a_scale.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    a_scale.n_floats = 4, a_scale.floats = scale;
    a_shift.name = "value_float", a_shift.has_type = 1, a_shift.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a_shift.has_f = 1, a_shift.f = 0.5f;
    a_shape.name = "value", a_shape.has_type = 1, a_shape.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    a_shape.t = &s;
    Onnx__AttributeProto *at_scale[1] = {&a_scale}, *at_shift[1] = {&a_shift}, *at_shape[1] = {&a_shape},
                         *at_int[1] = {&a_int}, *at_tb[1] = {&a_tb};

    char *o_scale[] = {"scale"}, *o_shift[] = {"shift"}, *o_shape[] = {"shp"}, *o_nine[] = {"nine"};
    char *i_mul[] = {"x", "scale"}, *o_mul[] = {"m"}, *i_add[] = {"m", "shift"}, *o_add[] = {"a"};
    char *i_rs[] = {"a", "shp"}, *o_rs[] = {"r"}, *i_gemm[] = {"r", "W", "B"}, *o_gemm[] = {"y"};
    Onnx__NodeProto nodes[7];
    for (int i = 0; i < 7; i++) nodes[i] = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    nodes[0].op_type = "Constant", nodes[0].n_output = 1, nodes[0].output = o_scale;
    nodes[0].n_attribute = 1, nodes[0].attribute = at_scale;
    nodes[1].op_type = "Constant", nodes[1].n_output = 1, nodes[1].output = o_shift;
    nodes[1].n_attribute = 1, nodes[1].attribute = at_shift;
    nodes[2].op_type = "Constant", nodes[2].n_output = 1, nodes[2].output = o_shape;
    nodes[2].n_attribute = 1, nodes[2].attribute = at_shape, nodes[2].domain = "ai.onnx";
    nodes[3].op_type = "Constant", nodes[3].n_output = 1, nodes[3].output = o_nine;
    nodes[3].n_attribute = 1, nodes[3].attribute = at_int;
    nodes[4].op_type = "Mul", nodes[4].n_input = 2, nodes[4].input = i_mul;
    nodes[4].n_output = 1, nodes[4].output = o_mul;
    nodes[5].op_type = "Add", nodes[5].n_input = 2, nodes[5].input = i_add, nodes[5].name = "";
    nodes[5].n_output = 1, nodes[5].output = o_add;
    nodes[6].op_type = "Reshape", nodes[6].n_input = 2, nodes[6].input = i_rs, nodes[6].name = "rs";
    nodes[6].n_output = 1, nodes[6].output = o_rs;
    Onnx__NodeProto gemm = ONNX__NODE_PROTO__INIT;
    gemm.op_type = "Gemm", gemm.name = "fc", gemm.n_input = 3, gemm.input = i_gemm;
    gemm.n_output = 1, gemm.output = o_gemm, gemm.n_attribute = 1, gemm.attribute = at_tb;
    Onnx__NodeProto *node_ptrs[8] = {&nodes[0], &nodes[1], &nodes[2], &nodes[3],
                                     &nodes[4], &nodes[5], &nodes[6], &gemm};

    /* x: (N, 4) with N symbolic */
    Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT,
                                      d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM, d0.dim_param = "batch";
    d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, d1.dim_value = 4;
    Onnx__TensorShapeProto__Dimension *dims[2] = {&d0, &d1};
    Onnx__TensorShapeProto sh = ONNX__TENSOR_SHAPE_PROTO__INIT;
    sh.n_dim = 2, sh.dim = dims;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = 1, tt.elem_type = 1, tt.shape = &sh;
    Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT;
    tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp.tensor_type = &tt;
    Onnx__ValueInfoProto vx = ONNX__VALUE_INFO_PROTO__INIT, vw = ONNX__VALUE_INFO_PROTO__INIT,
                         vy = ONNX__VALUE_INFO_PROTO__INIT, vm = ONNX__VALUE_INFO_PROTO__INIT;
    vx.name = "x", vx.type = &tp, vw.name = "W", vy.name = "y", vm.name = "m";
    Onnx__ValueInfoProto *ins[2] = {&vw, &vx}, *outs[2] = {&vy, &vm};

    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.n_node = 8, g.node = node_ptrs, g.n_initializer = 2, g.initializer = inits;
    g.n_input = 2, g.input = ins, g.n_output = 2, g.output = outs;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT, ml = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    op.has_version = 1, op.version = 13;
    ml.domain = "ai.onnx.ml", ml.has_version = 1, ml.version = 3;
    Onnx__OperatorSetIdProto *ops[2] = {&ml, &op};
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    mp.has_ir_version = 1, mp.ir_version = 3, mp.n_opset_import = 2, mp.opset_import = ops;
    mp.graph = &g;

    const char *path = tmp_path("hand.onnx");
    write_proto(&mp, path);
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(path, &m));
    if (m) {
        CHECK(m->in_ndim == 2 && m->in_shape[0] == -1 && m->in_shape[1] == 4);
        CHECK(gb_model_num_classes(m) == 3);
        CHECK(m->nnodes == 4); /* Constants are values, not nodes */
        CHECK(strcmp(m->nodes[1].name, "node_5") == 0 && strcmp(m->nodes[0].name, "node_4") == 0);
        CHECK(m->producer == NULL && m->arch == NULL);
        gb_value *vW = &m->vals[gb_model_find_value(m, "W")], *vB = &m->vals[gb_model_find_value(m, "B")];
        CHECK(vW->kind == GB_VAL_PARAM && vW->decay == 1 && vB->kind == GB_VAL_PARAM && vB->decay == 0);
        gb_value *vs = &m->vals[gb_model_find_value(m, "shp")], *v9 = &m->vals[gb_model_find_value(m, "nine")];
        CHECK(vs->kind == GB_VAL_CONST && vs->i64 && vs->i64[0] == -1 && vs->i64[1] == 4 && vs->t.data[0] == -1);
        CHECK(v9->kind == GB_VAL_CONST && v9->t.ndim == 0 && v9->i64[0] == 9 && v9->t.data[0] == 9);
        CHECK(m->vals[gb_model_find_value(m, "scale")].kind == GB_VAL_CONST);

        int64_t xs[2] = {2, 4};
        gb_tensor *x = gb_tensor_new(2, xs);
        for (int i = 0; i < 8; i++) x->data[i] = 0.25f * (float)i - 1;
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(m, x, &y));
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 3; j++) {
                double want = B[j];
                for (int k = 0; k < 4; k++) want += (double)W[4 * j + k] * (x->data[4 * r + k] * scale[k] + 0.5);
                CHECKF(fabs(y->data[3 * r + j] - want) < 1e-5, "y[%d,%d] = %g, want %g", r, j,
                       (double)y->data[3 * r + j], want);
            }
        gb_tensor_free(x);
        gb_model_free(m);
    }

    /* A dim with neither value nor name is unknown too. */
    d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE__NOT_SET;
    write_proto(&mp, path);
    CHECK_OK(gb_model_load_onnx(path, &m));
    if (m) CHECK(m->in_ndim == 2 && m->in_shape[0] == -1 && m->in_shape[1] == 4);
    gb_model_free(m);

    /* Unsupported pieces of the same model. */
    a_shape.name = "sparse_value";
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "Constant node 'shp': attribute 'sparse_value'");
    a_shape.name = "value";
    nodes[2].domain = "com.microsoft";
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "domain 'com.microsoft'");
    nodes[2].domain = NULL;
    Onnx__AttributeProto a_t = ONNX__ATTRIBUTE_PROTO__INIT, *at_gemm[2] = {&a_tb, &a_t};
    a_t.name = "w", a_t.has_type = 1, a_t.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, a_t.t = &s;
    gemm.n_attribute = 2, gemm.attribute = at_gemm;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "node 'fc' (Gemm): attribute 'w' of type TENSOR");
    a_t.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "of type GRAPH");
    gemm.n_attribute = 1;
    vw.name = "x2"; /* now two non-initializer inputs */
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "2 graph inputs ('x2', 'x')");
    vw.name = "W";
    tt.elem_type = 7;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "input 'x' has element type int64");
    tt.elem_type = 1;
    s.n_int64_data = 3;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "Constant node 'shp': 3 int64 values for shape (2) (expected 2)");
    s.n_int64_data = 2;
    op.version = 19;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "opset 19");
    op.version = 13;
    mp.n_opset_import = 1; /* only ai.onnx.ml left */
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "only operator set domain 'ai.onnx.ml' is imported");
    mp.n_opset_import = 0;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "no opset import for the default ONNX domain");
    mp.n_opset_import = 2;
    /* Node order matters: Gemm before the Reshape it reads. */
    node_ptrs[6] = &gemm, node_ptrs[7] = &nodes[6];
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "node 'fc' (Gemm): input 'r' is not");
    node_ptrs[6] = &nodes[6], node_ptrs[7] = &gemm;
    g.n_output = 0;
    write_proto(&mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "no output");
    g.n_output = 2;
    write_proto(&mp, path);
    CHECK_OK(gb_model_load_onnx(path, &m)); /* everything restored */
    gb_model_free(m);
}

/* ---- corrupt files ----------------------------------------------------------------- */

static void test_bad_files(void) {
    expect_load_error(tmp_path("missing.onnx"), GB_ERR_IO, "cannot open");
    expect_load_error(tmpdir, GB_ERR_IO, "cannot read");
    write_bytes(tmp_path("empty.onnx"), "", 0);
    expect_load_error(tmp_path("empty.onnx"), GB_ERR_FORMAT, "no graph");
    gb_rng r;
    gb_rng_seed(&r, 5, 5);
    uint8_t junk[2000];
    for (int t = 0; t < 50; t++) {
        size_t n = 1 + gb_rng_below(&r, sizeof junk);
        for (size_t i = 0; i < n; i++) junk[i] = (uint8_t)gb_rng_u32(&r);
        write_bytes(tmp_path("junk.onnx"), junk, n);
        expect_load_error(tmp_path("junk.onnx"), GB_OK, NULL);
    }
    write_bytes(tmp_path("text.onnx"), "hello, this is not a model\n", 27);
    expect_load_error(tmp_path("text.onnx"), GB_ERR_FORMAT, "not a valid ONNX model (protobuf parse failed)");

    /* Prefixes of a valid file either fail cleanly or (cut exactly before
     * trailing optional fields) load. Every length near the start, where
     * the headers are, then a stride through the tensors. */
    size_t n;
    uint8_t *full = read_bytes(tmp_path("base.onnx"), &n);
    int loaded = 0;
    for (size_t len = 0; len < n; len += len < 200 ? 1 : 5) {
        write_bytes(tmp_path("cut.onnx"), full, len);
        gb_model *m = NULL;
        if (gb_model_load_onnx(tmp_path("cut.onnx"), &m) == GB_OK) {
            loaded++;
            gb_model_free(m);
        } else {
            CHECKF(strncmp(gb_last_error(), tmp_path("cut.onnx"), strlen(tmp_path("cut.onnx"))) == 0, "%s",
                   gb_last_error());
        }
    }
    CHECKF(loaded <= 2, "%d truncated files loaded", loaded);
    free(full);
}

/* Mutations of a gibbon-written file, one field at a time. */
static void test_bad_fields(void) {
    const char *base = tmp_path("base.onnx"), *path = tmp_path("bad.onnx");
    Onnx__ModelProto *mp = unpack_file(base);
    Onnx__NodeProto *relu = find_node(mp, "relu"), *fc = find_node(mp, "fc");
    Onnx__TensorProto *w = find_init(mp, "fc.w");

    char *op = relu->op_type;
    relu->op_type = "Foo";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "node 'relu': unsupported op 'Foo' (opset 13)");
    relu->op_type = op;

    char *in0 = fc->input[0];
    fc->input[0] = "nowhere";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "node 'fc' (Gemm): input 'nowhere'");
    fc->input[0] = in0;

    w->raw_data.len -= 4;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "initializer 'fc.w': 380 bytes of raw_data for shape (3, 32) of float32 (expected 384)");
    w->raw_data.len += 4;

    w->data_type = 11;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "initializer 'fc.w': data type float64");
    w->data_type = 16;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "bfloat16");
    w->data_type = 1;

    w->has_data_location = 1, w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "initializer 'fc.w': external data without a location");
    w->has_data_location = 0;

    int64_t *dims = w->dims, huge[2] = {(int64_t)1 << 40, 1 << 20}, neg[2] = {-3, 32};
    w->dims = huge;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_NOMEM, "initializer 'fc.w': tensor of absurd size");
    w->dims = neg;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "initializer 'fc.w': negative dimension -3");
    w->dims = dims;

    /* Attribute of the wrong type: the op's init rejects it. */
    Onnx__AttributeProto *tb = fc->attribute[0];
    tb->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "transB");
    tb->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;

    Onnx__GraphProto *g = mp->graph;
    mp->graph = NULL;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "no graph");
    mp->graph = g;

    char *out = g->output[0]->name;
    g->output[0]->name = "conv.w";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "not computed by any node");
    g->output[0]->name = "ghost";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "output 'ghost'");
    g->output[0]->name = out;

    size_t nin = g->n_input;
    g->n_input = 0;
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "image input");
    g->n_input = nin;

    /* A value produced twice. */
    char *o = relu->output[0];
    relu->output[0] = "c";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "'c' is defined twice");
    relu->output[0] = o;

    write_proto(mp, path);
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(path, &m)); /* restored: loads again */
    gb_model_free(m);
    pool_reset();
}

/* ---- hostile files --------------------------------------------------------------------- */

/* A minimal model: image x (1, 4) -> n_node nodes -> y, built field by field. */
typedef struct mini {
    Onnx__ModelProto mp;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops[1];
    Onnx__ValueInfoProto vx, vy, *ins[1], *outs[1];
    Onnx__TypeProto tp;
    Onnx__TypeProto__Tensor tt;
    Onnx__TensorShapeProto sh;
    Onnx__TensorShapeProto__Dimension d[4], *dims[4];
} mini;

static void mini_init(mini *k, Onnx__NodeProto **nodes, size_t n_node, const char *out) {
    memset(k, 0, sizeof *k);
    k->mp = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    k->g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    k->op = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    k->op.has_version = 1, k->op.version = 13, k->ops[0] = &k->op;
    k->tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    k->tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    k->sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    int64_t dv[2] = {1, 4};
    for (int i = 0; i < 2; i++) {
        k->d[i] = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        k->d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, k->d[i].dim_value = dv[i];
        k->dims[i] = &k->d[i];
    }
    k->sh.n_dim = 2, k->sh.dim = k->dims;
    k->tt.has_elem_type = 1, k->tt.elem_type = 1, k->tt.shape = &k->sh;
    k->tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, k->tp.tensor_type = &k->tt;
    k->vx = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    k->vy = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    k->vx.name = "x", k->vx.type = &k->tp, k->vy.name = (char *)out;
    k->ins[0] = &k->vx, k->outs[0] = &k->vy;
    k->g.n_node = n_node, k->g.node = nodes;
    k->g.n_input = 1, k->g.input = k->ins, k->g.n_output = 1, k->g.output = k->outs;
    k->mp.has_ir_version = 1, k->mp.ir_version = 7, k->mp.n_opset_import = 1, k->mp.opset_import = k->ops;
    k->mp.graph = &k->g;
}

/* Relu chain x -> v1 -> ... -> v<n>; names in a caller-owned buffer. */
static Onnx__NodeProto **relu_chain(int n, char **names_out) {
    Onnx__NodeProto **nodes = malloc((size_t)n * sizeof *nodes);
    Onnx__NodeProto *store = malloc((size_t)n * sizeof *store);
    char *names = malloc((size_t)(n + 1) * 16);
    char **io = malloc((size_t)(n + 1) * sizeof *io);
    io[0] = "x";
    for (int i = 1; i <= n; i++) {
        io[i] = names + 16 * i;
        snprintf(io[i], 16, "v%d", i);
    }
    for (int i = 0; i < n; i++) {
        store[i] = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
        store[i].op_type = "Relu";
        store[i].n_input = 1, store[i].input = &io[i];
        store[i].n_output = 1, store[i].output = &io[i + 1];
        nodes[i] = &store[i];
    }
    names_out[0] = (char *)store, names_out[1] = names, names_out[2] = (char *)io;
    return nodes;
}

static void test_hostile(void) {
    const char *path = tmp_path("hostile.onnx");
    gb_model *m = NULL;
    char *bufs[3];

    /* 100k nodes load in linear time (name lookups are hashed) and run. */
    int n = getenv("GIBBON_TEST_SANITIZED") ? 20000 : 100000;
    Onnx__NodeProto **nodes = relu_chain(n, bufs);
    char last[16];
    snprintf(last, sizeof last, "v%d", n);
    mini k;
    mini_init(&k, nodes, (size_t)n, last);
    write_proto(&k.mp, path);
    double t0 = gb_now();
    CHECK_OK(gb_model_load_onnx(path, &m));
    double dt = gb_now() - t0;
    CHECKF(dt < 10, "%d nodes took %.1f s to load", n, dt);
    if (m) {
        CHECK(m->nnodes == n);
        int64_t xs[2] = {1, 4};
        gb_tensor *x = gb_tensor_new(2, xs);
        x->data[1] = 0.5f, x->data[2] = -1;
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(m, x, &y));
        CHECK(y && y->data[1] == 0.5f && y->data[2] == 0);
        gb_tensor_free(x);
        gb_model_free(m);
        m = NULL;
    }

    /* A cycle: node 0 reads node 1's output. */
    nodes[0]->input = &((char **)bufs[2])[2];
    mini_init(&k, nodes, 2, "v2");
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "input 'v2' is not an initializer, the graph input or an output of an earlier node");
    /* A node reading its own output. */
    nodes[0]->input = &((char **)bufs[2])[1];
    mini_init(&k, nodes, 1, "v1");
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "input 'v1' is not");
    nodes[0]->input = &((char **)bufs[2])[0];
    free(nodes), free(bufs[0]), free(bufs[1]), free(bufs[2]);

    /* Declared sizes: an input whose one image has 10^12 elements, an
     * initializer whose dims overflow int64, a ConstantOfShape of 2^33. */
    Onnx__NodeProto relu = ONNX__NODE_PROTO__INIT;
    char *i_x[] = {"x"}, *o_y[] = {"y"};
    relu.op_type = "Relu", relu.n_input = 1, relu.input = i_x, relu.n_output = 1, relu.output = o_y;
    Onnx__NodeProto *one[1] = {&relu};
    mini_init(&k, one, 1, "y");
    k.d[1].dim_value = (int64_t)1 << 40;
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_NOMEM, "absurd");
    k.d[1].dim_value = (int64_t)1 << 30; /* fits the element limit, not the load budget */
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_NOMEM, "would exceed the memory a model may take while loading");

    int64_t big[3] = {INT64_MAX, 2, 3};
    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT, *inits[1] = {&w};
    w.name = "w", w.n_dims = 3, w.dims = big, w.has_data_type = 1, w.data_type = 1;
    mini_init(&k, one, 1, "y");
    k.g.n_initializer = 1, k.g.initializer = inits;
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_NOMEM, "initializer 'w': tensor of absurd size");

    /* ConstantOfShape(shape = [2^33]) folded at load: refused by the budget. */
    int64_t shp[1] = {(int64_t)1 << 33}, one_dim[1] = {1};
    w.dims = one_dim, w.n_dims = 1, w.data_type = 7, w.n_int64_data = 1, w.int64_data = shp;
    Onnx__NodeProto cos = ONNX__NODE_PROTO__INIT, add = ONNX__NODE_PROTO__INIT;
    char *i_cos[] = {"w"}, *o_cos[] = {"c"}, *i_add[] = {"x", "c"}, *o_add[] = {"y"};
    cos.op_type = "ConstantOfShape", cos.n_input = 1, cos.input = i_cos, cos.n_output = 1, cos.output = o_cos;
    add.op_type = "Add", add.n_input = 2, add.input = i_add, add.n_output = 1, add.output = o_add;
    Onnx__NodeProto *two[2] = {&cos, &add};
    mini_init(&k, two, 2, "y");
    k.g.n_initializer = 1, k.g.initializer = inits;
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_NOMEM, "node 'node_0' (ConstantOfShape)");
    shp[0] = 1 << 20; /* 4 MiB: fine */
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_SHAPE, NULL); /* (1,4) + (2^20): no broadcast */

    /* A missing initializer: Add reads "c", which nothing defines. */
    two[0] = &add;
    mini_init(&k, two, 1, "y");
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "input 'c' is not an initializer");

    /* A required input left empty. */
    i_add[0] = "";
    i_add[1] = "x";
    write_proto(&k.mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "required input 0 is empty");
}

/* Attributes holding graphs holding nodes holding attributes ... 100,000
 * levels deep: refused before protobuf-c's recursive unpacker sees it. */
static void test_deep_nesting(void) {
    const int depth = 100000;
    size_t cap = (size_t)depth * 3 * 12 + 64, at = cap;
    uint8_t *buf = malloc(cap);
    /* Written back to front: each wrap prepends (tag, length) to what is there. */
    #define PUT(b) (buf[--at] = (uint8_t)(b))
    for (int level = 0; level < 3 * depth; level++) {
        size_t len = cap - at;
        /* NodeProto.attribute = 5 (wraps an AttributeProto), GraphProto.node = 1
         * (wraps a NodeProto), AttributeProto.g = 6 (wraps a GraphProto), and
         * last ModelProto.graph = 7 */
        int field = level == 3 * depth - 1 ? 7 : (int[]){5, 1, 6}[level % 3];
        uint8_t v[10];
        int nv = 0;
        do {
            v[nv++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
            len >>= 7;
        } while (len);
        while (nv) PUT(v[--nv]);
        PUT(field << 3 | 2);
    }
    #undef PUT
    const char *path = tmp_path("deep.onnx");
    write_bytes(path, buf + at, cap - at);
    free(buf);
    expect_load_error(path, GB_ERR_UNSUPPORTED, "nested more than 64 deep");
}

/* fc.w of the hand-built model moved to a file next to it: same logits;
 * locations outside the model's directory, lengths past the end of the
 * file and missing files are refused. */
static void test_external_data(void) {
    const char *base = tmp_path("base.onnx"), *path = tmp_path("ext.onnx");
    gb_model *m0 = NULL, *m = NULL;
    CHECK_OK(gb_model_load_onnx(base, &m0));
    Onnx__ModelProto *mp = unpack_file(base);
    Onnx__TensorProto *w = find_init(mp, "fc.w");
    size_t n = w->raw_data.len;
    uint8_t *file = calloc(1, n + 100);
    memcpy(file + 100, w->raw_data.data, n);
    write_bytes(tmp_path("weights.bin"), file, n + 100);
    free(file);
    Onnx__StringStringEntryProto kl = ONNX__STRING_STRING_ENTRY_PROTO__INIT, ko = kl, kn = kl;
    char lenbuf[32];
    snprintf(lenbuf, sizeof lenbuf, "%zu", n);
    kl.key = "location", kl.value = "weights.bin";
    ko.key = "offset", ko.value = "100";
    kn.key = "length", kn.value = lenbuf;
    Onnx__StringStringEntryProto *kv[3] = {&kl, &ko, &kn};
    w->has_raw_data = 0;
    w->has_data_location = 1, w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->n_external_data = 3, w->external_data = kv;
    write_proto(mp, path);
    CHECK_OK(gb_model_load_onnx(path, &m));
    if (m && m0) {
        gb_tensor *x = random_input(3, 1, 4, 4, 9);
        const gb_tensor *y0, *y1;
        CHECK_OK(gb_model_forward(m0, x, &y0));
        CHECK_OK(gb_model_forward(m, x, &y1));
        CHECK(same_tensor(y0, y1));
        gb_tensor_free(x);
    }
    gb_model_free(m);
    gb_model_free(m0);

    kl.value = "../weights.bin";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "initializer 'fc.w': external data location '../weights.bin' leaves the model's directory");
    kl.value = "sub/../../etc/passwd";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "leaves the model's directory");
    kl.value = "/etc/passwd";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "is absolute");
    kl.value = "nothere.bin";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_IO, "external data file");
    kl.value = "weights.bin";
    ko.value = "101";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "offset 101 + length 384 is beyond its end");
    ko.value = "-5";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "external data offset '-5'");
    ko.value = "100";
    kn.value = "99999999999";
    write_proto(mp, path);
    expect_load_error(path, GB_ERR_FORMAT, "external data length 99999999999 for a tensor of 384 bytes");
    pool_reset();
    remove(tmp_path("weights.bin"));
}

/* ---- allocation failures ------------------------------------------------------------- */

static void fault_load(const char *path) {
    int ok = 0;
    long k;
    for (k = 0; k < 100000 && !ok; k++) {
        gb_model *m = NULL;
        gb_alloc_fail_after(k);
        gb_status s = gb_model_load_onnx(path, &m);
        gb_alloc_fail_after(-1);
        if (s == GB_OK) {
            ok = 1;
            gb_model_free(m);
        } else {
            CHECKF(s == GB_ERR_NOMEM && m == NULL, "%s: failing allocation %ld: %s: %s", path, k,
                   gb_status_name(s), gb_last_error());
            CHECKF(strncmp(gb_last_error(), path, strlen(path)) == 0, "%s", gb_last_error());
        }
    }
    CHECKF(ok && k > 10, "%s: loaded after %ld failures", path, k);
}

static void test_fault_injection(void) {
    fault_load(tmp_path("base.onnx"));
    fault_load(GOLDEN "torch_bn.onnx");
    gb_model *m = build_model();
    const char *path = tmp_path("fault.onnx");
    int ok = 0;
    long k;
    for (k = 0; k < 100000 && !ok; k++) {
        gb_alloc_fail_after(k);
        gb_status s = gb_model_save_onnx(m, path);
        gb_alloc_fail_after(-1);
        ok = s == GB_OK;
        CHECKF(ok || s == GB_ERR_NOMEM, "save, failing allocation %ld: %s", k, gb_last_error());
        CHECKF(ok || access(path, F_OK) != 0, "save left %s behind after a failure", path);
    }
    CHECKF(ok && k > 10, "saved after %ld failures", k);
    gb_model_free(m);
}

static void test_save_errors(void) {
    gb_model *m = build_model();
    gb_status s = gb_model_save_onnx(m, "/nonexistent-dir/x.onnx");
    CHECK(s == GB_ERR_IO && strstr(gb_last_error(), "/nonexistent-dir/x.onnx"));
    gb_model_free(m);
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') remove(tmp_path(e->d_name));
    closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/gibbon_onnx_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_roundtrip);
    RUN(test_roundtrip_attrs);
    RUN(test_roundtrip_zoo);
    RUN(test_torch_cnn);
    RUN(test_torch_bn);
    RUN(test_handwritten);
    RUN(test_bad_files);
    RUN(test_bad_fields);
    RUN(test_external_data);
    RUN(test_hostile);
    RUN(test_deep_nesting);
    RUN(test_fault_injection);
    RUN(test_save_errors);
    remove_tmpdir();
    CHECK_DONE();
}
