/* test_io.c — file formats and datasets: IDX (plain and gzip), .npy (against
 * NumPy when /usr/bin/python3 has it), PNG (read back with libpng), the
 * dataset specs, Fashion-MNIST itself when installed, and cleanup on every
 * allocation failure. Works in a mkdtemp directory that it removes. */
#include "check.h"

#include <dirent.h>
#include <png.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

/* Path of `name` inside the temporary directory; 8 results live at once. */
static const char *tp(const char *name) {
    static char ring[8][256];
    static int k;
    char *p = ring[k++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) {
        fprintf(stderr, "cannot write test file %s\n", path);
        exit(2);
    }
    fclose(f);
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g || gzwrite(g, data, (unsigned)n) != (int)n || gzclose(g) != Z_OK) {
        fprintf(stderr, "cannot write test file %s\n", path);
        exit(2);
    }
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            remove(p);
    }
    closedir(d);
    rmdir(dir);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int msg_has(const char *s) { return strstr(gb_last_error(), s) != NULL; }

/* Checks status and that the message contains each of up to three strings. */
#define CHECK_ERR(expr, status, s1, s2, s3)                                                   \
    do {                                                                                      \
        gb_status e_ = (expr);                                                                \
        CHECKF(e_ == (status), "%s -> %s (want %s): %s", #expr, gb_status_name(e_),           \
               gb_status_name(status), gb_last_error());                                      \
        const char *w_[3] = {s1, s2, s3};                                                     \
        for (int i_ = 0; i_ < 3; i_++)                                                        \
            CHECKF(!w_[i_] || msg_has(w_[i_]), "%s: message lacks \"%s\": %s", #expr, w_[i_], \
                   gb_last_error());                                                          \
    } while (0)

/* ---- IDX ------------------------------------------------------------------ */

static uint8_t pixel(int64_t i) { return (uint8_t)(i * 37 + 11); }

/* An IDX images file image: header + n*h*w pixels; *len gets its size. */
static uint8_t *idx_images(uint32_t n, uint32_t h, uint32_t w, size_t *len) {
    size_t np = (size_t)n * h * w;
    uint8_t *b = malloc(16 + np);
    uint32_t hd[4] = {0x803, n, h, w};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(hd[i] >> (24 - 8 * k));
    for (size_t i = 0; i < np; i++) b[16 + i] = pixel((int64_t)i);
    *len = 16 + np;
    return b;
}

static uint8_t *idx_labels(uint32_t n, const uint8_t *labels, size_t *len) {
    uint8_t *b = malloc(8 + n);
    uint32_t hd[2] = {0x801, n};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(hd[i] >> (24 - 8 * k));
    memcpy(b + 8, labels, n);
    *len = 8 + n;
    return b;
}

static void check_images(const gb_tensor *t, int64_t n, int64_t h, int64_t w) {
    CHECK(t->ndim == 4 && t->shape[0] == n && t->shape[1] == 1 && t->shape[2] == h &&
          t->shape[3] == w && t->size == n * h * w);
    int bad = 0;
    for (int64_t i = 0; i < t->size; i++) bad += t->data[i] != pixel(i) / 255.0f;
    CHECK(bad == 0);
}

static void test_idx_roundtrip(void) {
    size_t li, ll;
    uint8_t lab[3] = {7, 0, 9};
    uint8_t *im = idx_images(3, 5, 4, &li), *lb = idx_labels(3, lab, &ll);
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = tp(gz ? "rt-img.gz" : "rt-img"), *lp = tp(gz ? "rt-lab.gz" : "rt-lab");
        (gz ? write_gz : write_file)(ip, im, li);
        (gz ? write_gz : write_file)(lp, lb, ll);
        gb_tensor *t = NULL;
        CHECK_OK(gb_idx_read_images(ip, &t));
        if (t) check_images(t, 3, 5, 4);
        gb_tensor_free(t);
        int *y = NULL;
        int64_t n = 0;
        CHECK_OK(gb_idx_read_labels(lp, &y, &n));
        CHECK(n == 3 && y && y[0] == 7 && y[1] == 0 && y[2] == 9);
        free(y); /* the default allocator is malloc */
    }
    /* Bytes after the data are ignored. */
    uint8_t *more = malloc(li + 5);
    memcpy(more, im, li);
    memset(more + li, 0xee, 5);
    write_file(tp("trail"), more, li + 5);
    gb_tensor *t = NULL;
    CHECK_OK(gb_idx_read_images(tp("trail"), &t));
    if (t) check_images(t, 3, 5, 4);
    gb_tensor_free(t);
    free(more);
    free(im);
    free(lb);
}

static void test_idx_errors(void) {
    size_t li, ll;
    uint8_t lab[3] = {1, 2, 3};
    uint8_t *im = idx_images(3, 5, 4, &li), *lb = idx_labels(3, lab, &ll);
    gb_tensor *t = NULL;
    int *y = NULL;
    int64_t n = 0;
    char buf[64];

    const char *p = tp("missing.gz");
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_IO, p, "No such file", NULL);
    CHECK_ERR(gb_idx_read_labels(p, &y, &n), GB_ERR_IO, p, NULL, NULL);
    CHECK_ERR(gb_idx_read_images(tmpdir, &t), GB_ERR_IO, tmpdir, NULL, NULL);

    p = tp("labels-as-images");
    write_file(p, lb, ll);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "expected IDX magic 0x803", "found 0x801");
    p = tp("images-as-labels");
    write_file(p, im, li);
    CHECK_ERR(gb_idx_read_labels(p, &y, &n), GB_ERR_FORMAT, p, "expected IDX magic 0x801", "found 0x803");

    p = tp("short-header");
    write_file(p, im, 9);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "truncated header", "expected 16 bytes, found 9");
    write_file(p, lb, 6);
    CHECK_ERR(gb_idx_read_labels(p, &y, &n), GB_ERR_FORMAT, p, "expected 8 bytes, found 6", NULL);
    write_file(p, "", 0);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "found 0", NULL);

    p = tp("short-data");
    write_file(p, im, 16 + 30);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "expected 60 bytes, found 30", NULL);
    write_gz(p, im, 16 + 30);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "expected 60 bytes, found 30", NULL);
    write_file(p, lb, 8 + 2);
    CHECK_ERR(gb_idx_read_labels(p, &y, &n), GB_ERR_FORMAT, p, "expected 3 bytes, found 2", NULL);

    /* A valid .gz cut in half: zlib reports the early end of the stream.
     * Random pixels keep the compressed file large. */
    gb_rng r;
    gb_rng_seed(&r, 42, 1);
    size_t lbig;
    uint8_t *big = idx_images(40, 28, 28, &lbig);
    for (size_t i = 16; i < lbig; i++) big[i] = (uint8_t)gb_rng_u32(&r);
    p = tp("cut.gz");
    write_gz(p, big, lbig);
    long gzlen = file_size(p);
    CHECK(gzlen > 100);
    FILE *f = fopen(p, "rb");
    uint8_t *gzb = malloc((size_t)gzlen);
    CHECK(fread(gzb, 1, (size_t)gzlen, f) == (size_t)gzlen);
    fclose(f);
    write_file(p, gzb, (size_t)gzlen / 2);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "gzip", NULL);
    /* Corrupt deflate data after a good gzip header. */
    for (long i = 20; i < gzlen; i += 7) gzb[i] ^= 0x5a;
    write_file(p, gzb, (size_t)gzlen);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "gzip", NULL);
    free(gzb);
    free(big);

    uint8_t noise[500];
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)gb_rng_u32(&r);
    noise[0] = 0x12; /* not a gzip magic by chance */
    p = tp("noise");
    write_file(p, noise, sizeof noise);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "expected IDX magic", NULL);
    CHECK_ERR(gb_idx_read_labels(p, &y, &n), GB_ERR_FORMAT, p, "expected IDX magic", NULL);
    noise[0] = 0x1f, noise[1] = 0x8b;
    write_file(p, noise, sizeof noise);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, NULL, NULL);

    /* Absurd sizes are refused from the header alone. */
    p = tp("absurd");
    uint8_t hd[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_file(p, hd, 16);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "absurd", NULL);
    uint8_t hd2[16] = {0, 0, 8, 3, 0, 0x0f, 0x42, 0x40, 0, 0, 0x03, 0xe8, 0, 0, 0x03, 0xe8};
    write_file(p, hd2, 16); /* 1e6 images of 1000x1000 */
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "absurd", NULL);
    uint8_t hd3[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 28};
    write_file(p, hd3, 16);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, "0x28", NULL);
    /* Plausible but huge (5e6 images, 15 GB of floats) in a tiny file: must
     * fail as truncated without allocating for the claim first. */
    uint8_t hd4[16] = {0, 0, 8, 3, 0, 0x4c, 0x4b, 0x40, 0, 0, 0, 28, 0, 0, 0, 28};
    write_file(p, hd4, 16);
    snprintf(buf, sizeof buf, "expected %lld bytes, found 0", 5000000LL * 784);
    CHECK_ERR(gb_idx_read_images(p, &t), GB_ERR_FORMAT, p, buf, NULL);
    CHECK(t == NULL && y == NULL);
    free(im);
    free(lb);
}

/* ---- datasets -------------------------------------------------------------- */

/* Writes a {train,t10k} IDX set into dir: ni images of 4x3, nl labels. */
static void write_idx_set(const char *dir, const char *split, uint32_t ni, uint32_t nl,
                          const uint8_t *labels, int gz) {
    mkdir(dir, 0700);
    char p[512];
    size_t li, ll;
    uint8_t *im = idx_images(ni, 4, 3, &li), *lb = idx_labels(nl, labels, &ll);
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
    (gz ? write_gz : write_file)(p, im, li);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, split);
    write_file(p, lb, ll);
    free(im);
    free(lb);
}

static const uint8_t six_labels[6] = {3, 1, 4, 1, 5, 9};

static void test_dataset_idx(void) {
    char dir[256], spec[300], root[128];
    snprintf(root, sizeof root, "%s/data", tmpdir);
    mkdir(root, 0700);
    snprintf(dir, sizeof dir, "%s/fashion-mnist", root);
    write_idx_set(dir, "t10k", 6, 6, six_labels, 1);
    const uint8_t seven_labels[7] = {2, 7, 1, 8, 2, 8, 1};
    write_idx_set(dir, "train", 7, 7, seven_labels, 0);

    gb_dataset *d = NULL;
    snprintf(spec, sizeof spec, "%s:test", dir);
    CHECK_OK(gb_dataset_load(spec, &d));
    if (d) {
        CHECK(d->n == 6 && d->num_classes == 10 && d->class_names == NULL);
        check_images(d->images, 6, 4, 3);
        CHECK(memcmp((int[]){3, 1, 4, 1, 5, 9}, d->labels, sizeof(int) * 6) == 0);
    }
    gb_dataset_free(d);
    snprintf(spec, sizeof spec, "%s:train:2", dir);
    CHECK_OK(gb_dataset_load(spec, &d));
    if (d) {
        CHECK(d->n == 2 && d->labels[0] == 2 && d->labels[1] == 7);
        check_images(d->images, 2, 4, 3);
    }
    gb_dataset_free(d);

    /* GIBBON_DATA_DIR: the directory itself or its fashion-mnist/ child. */
    for (int k = 0; k < 2; k++) {
        setenv("GIBBON_DATA_DIR", k ? dir : root, 1);
        CHECK_OK(gb_dataset_load("fashion-mnist:test:5", &d));
        if (d) {
            CHECK(d->n == 5 && d->num_classes == 10 && d->class_names);
            CHECK(d->class_names && !strcmp(d->class_names[0], "T-shirt/top") &&
                  !strcmp(d->class_names[9], "Ankle boot"));
        }
        gb_dataset_free(d);
    }
    setenv("GIBBON_DATA_DIR", tmpdir, 1);
    CHECK_ERR(gb_dataset_load("fashion-mnist:train", &d), GB_ERR_IO,
              "train-images-idx3-ubyte.gz: not found", "GIBBON_DATA_DIR", NULL);
    setenv("GIBBON_DATA_DIR", dir, 1);
    CHECK_ERR(gb_dataset_load("fashion-mnist:test:7", &d), GB_ERR_ARG, "asked for 7", "has 6", NULL);
    CHECK_ERR(gb_dataset_load("fashion-mnist:test:0", &d), GB_ERR_ARG, "positive", NULL, NULL);
    CHECK_ERR(gb_dataset_load("fashion-mnist", &d), GB_ERR_ARG, "unknown dataset", NULL, NULL);
    CHECK_ERR(gb_dataset_load("fashion-mnist:valid", &d), GB_ERR_ARG, "unknown dataset", NULL, NULL);
    CHECK_ERR(gb_dataset_load("/no/such/dir:test", &d), GB_ERR_IO, "/no/such/dir", NULL, NULL);

    /* Counts that disagree name both files. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/mismatch", tmpdir);
    write_idx_set(bad, "t10k", 6, 5, six_labels, 0);
    snprintf(spec, sizeof spec, "%s:test", bad);
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "t10k-images-idx3-ubyte has 6 images",
              "t10k-labels-idx1-ubyte has 5 labels", NULL);
    snprintf(spec, sizeof spec, "%s:test:2", bad); /* even when only 2 are kept */
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "has 6 images", "has 5 labels", NULL);

    /* Fashion-MNIST has 10 classes; another IDX set may have more. */
    uint8_t odd[6] = {0, 1, 12, 3, 4, 5};
    snprintf(bad, sizeof bad, "%s/twelve", tmpdir);
    write_idx_set(bad, "t10k", 6, 6, odd, 0);
    setenv("GIBBON_DATA_DIR", bad, 1);
    CHECK_ERR(gb_dataset_load("fashion-mnist:test", &d), GB_ERR_FORMAT, "label 12 of example 2",
              "outside [0, 10)", "t10k-labels-idx1-ubyte");
    snprintf(spec, sizeof spec, "%s:test", bad);
    CHECK_OK(gb_dataset_load(spec, &d));
    CHECK(d && d->num_classes == 13);
    gb_dataset_free(d);
    unsetenv("GIBBON_DATA_DIR");
}

/* ---- .npy ----------------------------------------------------------------- */

/* A hand-made .npy: version, header text of hl bytes as given, data. */
static void write_npy_rawn(const char *path, int major, const char *header, size_t hl,
                           const void *data, size_t n) {
    size_t lensize = major == 1 ? 2 : 4;
    uint8_t *b = malloc(8 + lensize + hl + n);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    for (size_t i = 0; i < lensize; i++) b[8 + i] = (uint8_t)(hl >> (8 * i));
    memcpy(b + 8 + lensize, header, hl);
    if (n) memcpy(b + 8 + lensize + hl, data, n);
    write_file(path, b, 8 + lensize + hl + n);
    free(b);
}

static void write_npy_raw(const char *path, int major, const char *header, const void *data,
                          size_t n) {
    write_npy_rawn(path, major, header, strlen(header), data, n);
}

static gb_tensor *filled(int ndim, const int64_t *shape) {
    gb_tensor *t = gb_tensor_new(ndim, shape);
    for (int64_t i = 0; i < t->size; i++) t->data[i] = (float)i * 0.25f - 7.0f;
    return t;
}

static int same_tensor(const gb_tensor *a, const gb_tensor *b) {
    if (!gb_tensor_same_shape(a, b) || a->size != b->size) return 0;
    return a->size == 0 || memcmp(a->data, b->data, (size_t)a->size * sizeof(float)) == 0;
}

static void test_npy_roundtrip(void) {
    int64_t s4[4] = {2, 3, 4, 5}, s1[1] = {7}, s3[3] = {2, 1, 3};
    struct {
        int ndim;
        const int64_t *shape;
    } cases[] = {{4, s4}, {1, s1}, {0, NULL}, {3, s3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gb_tensor *t = filled(cases[c].ndim, cases[c].shape), *u = NULL;
        const char *p = tp("rt.npy");
        CHECK_OK(gb_npy_write(p, t));
        CHECK(file_size(p) % 64 == (long)(t->size * 4) % 64); /* header padded to 64 */
        CHECK_OK(gb_npy_read(p, &u));
        CHECKF(u && same_tensor(t, u), "case %zu", c);
        gb_tensor_free(t);
        gb_tensor_free(u);
    }
    int v[5] = {3, -1, 0, 2147483647, -2147483647 - 1};
    const char *p = tp("i32.npy");
    CHECK_OK(gb_npy_write_i32(p, v, 5));
    gb_tensor *u = NULL;
    CHECK_OK(gb_npy_read(p, &u));
    CHECK(u && u->ndim == 1 && u->shape[0] == 5 && u->data[1] == -1.0f && u->data[3] == 2147483647.0f);
    gb_tensor_free(u);
    /* No temporary files are left behind. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int tmps = 0;
    while ((e = readdir(d))) tmps += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    CHECK(tmps == 0);
    CHECK_ERR(gb_npy_write_i32("/nonexistent-dir/x.npy", v, 5), GB_ERR_IO, "/nonexistent-dir/x.npy", NULL, NULL);
}

static void test_npy_dtypes_and_spacing(void) {
    const char *p = tp("hand.npy");
    gb_tensor *t = NULL;
    float f4[6] = {0, 1, 2, 3, 4, 5};
    /* Key order, spacing and trailing commas vary between writers. */
    const char *headers[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                    \n",
        "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}\n",
        "{ 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , 'descr' : '<f4' , }\n",
        "{'descr':'<f4','fortran_order':False,'shape':(2L, 3L)}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        write_npy_raw(p, 1, headers[i], f4, sizeof f4);
        CHECK_OK(gb_npy_read(p, &t));
        CHECKF(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->data[5] == 5.0f,
               "header %zu", i);
        gb_tensor_free(t);
        t = NULL;
    }
    write_npy_raw(p, 2, headers[0], f4, sizeof f4);
    CHECK_OK(gb_npy_read(p, &t));
    CHECK(t && t->size == 6 && t->data[4] == 4.0f);
    gb_tensor_free(t);

    double f8[3] = {0.5, -2.25, 1e10};
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", f8, sizeof f8);
    CHECK_OK(gb_npy_read(p, &t));
    CHECK(t && t->ndim == 1 && t->data[0] == 0.5f && t->data[1] == -2.25f && t->data[2] == 1e10f);
    gb_tensor_free(t);
    uint8_t u1[4] = {0, 1, 128, 255};
    write_npy_raw(p, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }\n", u1, 4);
    CHECK_OK(gb_npy_read(p, &t));
    CHECK(t && t->data[2] == 128.0f && t->data[3] == 255.0f);
    gb_tensor_free(t);
    int64_t i8[2] = {-3, 1LL << 40};
    write_npy_raw(p, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n", i8, sizeof i8);
    CHECK_OK(gb_npy_read(p, &t));
    CHECK(t && t->data[0] == -3.0f && t->data[1] == 1099511627776.0f);
    gb_tensor_free(t);
    int32_t i4[1] = {-9};
    write_npy_raw(p, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }\n", i4, sizeof i4);
    CHECK_OK(gb_npy_read(p, &t));
    CHECK(t && t->data[0] == -9.0f);
    gb_tensor_free(t);
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n", NULL, 0);
    CHECK_OK(gb_npy_read(p, &t));
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->size == 0);
    gb_tensor_free(t);
}

static void test_npy_corrupt(void) {
    const char *p = tp("bad.npy");
    gb_tensor *t = NULL;
    float f4[6] = {0};
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";

    CHECK_ERR(gb_npy_read(tp("none.npy"), &t), GB_ERR_IO, "none.npy", "No such file", NULL);
    write_file(p, "", 0);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, p, "not a .npy file", NULL);
    write_file(p, "\x93NUMPZ\x01\x00\x10\x00", 10);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, p, "not a .npy file", NULL);
    write_file(p, "\x93NUMPY\x01", 7);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, p, NULL, NULL);
    write_file(p, "\x93NUMPY\x01\x00\x10", 9);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, p, "preamble", NULL);
    write_npy_raw(p, 4, good, f4, sizeof f4);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_UNSUPPORTED, p, "version 4.0", NULL);
    write_file(p, "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, p, "header length 255", "end of the file");

    struct {
        const char *header;
        gb_status want;
        const char *says;
    } bad[] = {
        {"{'descr': '<f4', 'shape': (2, 3), }\n", GB_ERR_FORMAT, "lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False}\n", GB_ERR_FORMAT, "lacks 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", GB_ERR_FORMAT, "unexpected key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\n", GB_ERR_FORMAT, "twice"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", GB_ERR_UNSUPPORTED, "Fortran order"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", GB_ERR_UNSUPPORTED, "'>f4' not supported"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }\n", GB_ERR_UNSUPPORTED, "'<c8'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", GB_ERR_FORMAT, "expected a dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }\n", GB_ERR_FORMAT, "'(' starting the shape"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3), }\n", GB_ERR_FORMAT, "True or False"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }\n", GB_ERR_FORMAT, "',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n", GB_ERR_FORMAT, "end of the header"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", GB_ERR_FORMAT, "malformed"},
        {"'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)\n", GB_ERR_FORMAT, "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", GB_ERR_FORMAT, "needs 24 bytes of data, file has 20"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9), }\n", GB_ERR_UNSUPPORTED, "more than 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }\n", GB_ERR_FORMAT, "absurd"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }\n", GB_ERR_FORMAT, "absurd"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* The truncated-data case keeps only 20 of the 24 bytes. */
        size_t n = strstr(bad[i].says, "needs") ? 20 : sizeof f4;
        write_npy_raw(p, 1, bad[i].header, f4, n);
        CHECK_ERR(gb_npy_read(p, &t), bad[i].want, p, bad[i].says, NULL);
    }
    write_npy_raw(p, 1, good, f4, 20);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, "float32 (2, 3) array needs 24 bytes", "has 20", NULL);
    float extra[7] = {0};
    write_npy_raw(p, 1, good, extra, sizeof extra);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, "needs 24 bytes", "has 28", NULL);
    static const char nul[] = "{'descr': '<f4',\0 'fortran_order': False, 'shape': (2, 3), }\n";
    write_npy_rawn(p, 1, nul, sizeof nul - 1, f4, sizeof f4);
    CHECK_ERR(gb_npy_read(p, &t), GB_ERR_FORMAT, p, "NUL", NULL);
    CHECK_ERR(gb_npy_read(tmpdir, &t), GB_ERR_IO, tmpdir, NULL, NULL);
    CHECK(t == NULL);
}

/* Files written here must load in NumPy with the same values, and files
 * NumPy writes must load here. Skipped when /usr/bin/python3 lacks numpy. */
static void test_npy_numpy(void) {
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("     (skipped: /usr/bin/python3 with numpy not available)\n");
        return;
    }
    int64_t s4[4] = {2, 3, 4, 5}, s1[1] = {7};
    gb_tensor *a = filled(4, s4), *v = filled(1, s1), *sc = gb_tensor_new(0, NULL);
    sc->data[0] = 1.5f;
    CHECK_OK(gb_npy_write(tp("c_f4.npy"), a));
    CHECK_OK(gb_npy_write(tp("c_vec.npy"), v));
    CHECK_OK(gb_npy_write(tp("c_scalar.npy"), sc));
    int iv[5] = {3, -1, 0, 2147483647, -2147483647 - 1};
    CHECK_OK(gb_npy_write_i32(tp("c_i4.npy"), iv, 5));
    gb_tensor_free(a);
    gb_tensor_free(v);
    gb_tensor_free(sc);

    const char *script =
        "import sys, numpy as np\n"
        "d = sys.argv[1]\n"
        "a = np.load(d + '/c_f4.npy')\n"
        "assert a.dtype == np.float32 and a.shape == (2, 3, 4, 5), (a.dtype, a.shape)\n"
        "assert np.array_equal(a, np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5) * 0.25 - 7)\n"
        "v = np.load(d + '/c_vec.npy')\n"
        "assert v.shape == (7,) and np.array_equal(v, np.arange(7, dtype=np.float32) * 0.25 - 7)\n"
        "s = np.load(d + '/c_scalar.npy')\n"
        "assert s.shape == () and s.dtype == np.float32 and s == 1.5\n"
        "i = np.load(d + '/c_i4.npy')\n"
        "assert i.dtype == np.int32 and i.tolist() == [3, -1, 0, 2**31 - 1, -2**31], i\n"
        "x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 8 - 1\n"
        "np.save(d + '/p_f8.npy', x)\n"
        "np.save(d + '/p_f4.npy', x.astype(np.float32))\n"
        "np.save(d + '/p_u1.npy', np.arange(256, dtype=np.uint8).reshape(16, 16))\n"
        "np.save(d + '/p_i8.npy', np.array([0, 9, -3, 2**40], dtype=np.int64))\n"
        "np.save(d + '/p_i4.npy', np.array([5, -7], dtype=np.int32))\n"
        "np.save(d + '/p_scalar.npy', np.float32(2.5))\n"
        "np.save(d + '/p_empty.npy', np.zeros((0, 3), np.float32))\n"
        "np.save(d + '/p_fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))\n"
        "with open(d + '/p_v2.npy', 'wb') as f:\n"
        "    np.lib.format.write_array(f, x.astype(np.float32), version=(2, 0))\n";
    write_file(tp("check.py"), script, strlen(script));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", tp("check.py"), tmpdir);
    int rc = system(cmd);
    CHECKF(rc == 0, "numpy check script failed (rc %d)", rc);
    if (rc != 0) return;

    const char *same[] = {"p_f8.npy", "p_f4.npy", "p_v2.npy"};
    for (int k = 0; k < 3; k++) {
        gb_tensor *t = NULL;
        CHECK_OK(gb_npy_read(tp(same[k]), &t));
        int ok = t && t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 4;
        for (int64_t i = 0; ok && i < 24; i++) ok = t->data[i] == (float)i / 8 - 1;
        CHECKF(ok, "%s", same[k]);
        gb_tensor_free(t);
    }
    gb_tensor *t = NULL;
    CHECK_OK(gb_npy_read(tp("p_u1.npy"), &t));
    CHECK(t && t->size == 256 && t->data[200] == 200.0f);
    gb_tensor_free(t);
    CHECK_OK(gb_npy_read(tp("p_i8.npy"), &t));
    CHECK(t && t->size == 4 && t->data[2] == -3.0f && t->data[3] == 1099511627776.0f);
    gb_tensor_free(t);
    CHECK_OK(gb_npy_read(tp("p_i4.npy"), &t));
    CHECK(t && t->size == 2 && t->data[1] == -7.0f);
    gb_tensor_free(t);
    CHECK_OK(gb_npy_read(tp("p_scalar.npy"), &t));
    CHECK(t && t->ndim == 0 && t->size == 1 && t->data[0] == 2.5f);
    gb_tensor_free(t);
    CHECK_OK(gb_npy_read(tp("p_empty.npy"), &t));
    CHECK(t && t->ndim == 2 && t->size == 0);
    gb_tensor_free(t);
    t = NULL;
    CHECK_ERR(gb_npy_read(tp("p_fortran.npy"), &t), GB_ERR_UNSUPPORTED, "Fortran", NULL, NULL);
}

static void test_dataset_npy(void) {
    gb_dataset *d = NULL;
    char spec[600];
    /* (N, H, W) uint8 images with int64 labels. */
    uint8_t px[4 * 2 * 3];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 10);
    write_npy_raw(tp("u8.npy"), 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 2, 3), }\n", px, sizeof px);
    int64_t l8[4] = {2, 0, 11, 2};
    write_npy_raw(tp("l8.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }\n", l8, sizeof l8);
    snprintf(spec, sizeof spec, "%s,%s", tp("u8.npy"), tp("l8.npy"));
    CHECK_OK(gb_dataset_load(spec, &d));
    if (d) {
        CHECK(d->n == 4 && d->num_classes == 12 && d->class_names == NULL);
        CHECK(d->images->ndim == 4 && d->images->shape[1] == 1 && d->images->shape[2] == 2 &&
              d->images->shape[3] == 3);
        CHECK(d->images->data[23] == 230 / 255.0f && d->labels[2] == 11);
    }
    gb_dataset_free(d);
    /* (N, C, H, W) float32 with int32 labels, first 2 kept. */
    int64_t shape[4] = {3, 3, 2, 2};
    gb_tensor *x = gb_tensor_new(4, shape);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (float)i / (float)x->size;
    CHECK_OK(gb_npy_write(tp("f4.npy"), x));
    int y[3] = {1, 0, 1};
    CHECK_OK(gb_npy_write_i32(tp("l4.npy"), y, 3));
    snprintf(spec, sizeof spec, "%s,%s:2", tp("f4.npy"), tp("l4.npy"));
    CHECK_OK(gb_dataset_load(spec, &d));
    if (d) {
        CHECK(d->n == 2 && d->num_classes == 2 && d->images->shape[0] == 2 && d->images->size == 24);
        CHECK(memcmp(d->images->data, x->data, 24 * sizeof(float)) == 0);
    }
    gb_dataset_free(d);

    snprintf(spec, sizeof spec, "%s,%s", tp("f4.npy"), tp("l8.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "f4.npy has 3 images", "l8.npy has 4 labels", NULL);
    snprintf(spec, sizeof spec, "%s,%s:4", tp("f4.npy"), tp("l4.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_ARG, "asked for 4", NULL, NULL);
    snprintf(spec, sizeof spec, "%s,%s", tp("f4.npy"), tp("f4.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "labels of shape", NULL, NULL);
    float fl[3] = {0, 1, 2};
    write_npy_raw(tp("lf.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", fl, sizeof fl);
    snprintf(spec, sizeof spec, "%s,%s", tp("f4.npy"), tp("lf.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "labels of dtype float32", NULL, NULL);
    int neg[3] = {0, -4, 1};
    CHECK_OK(gb_npy_write_i32(tp("ln.npy"), neg, 3));
    snprintf(spec, sizeof spec, "%s,%s", tp("f4.npy"), tp("ln.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "label -4 of example 1", "ln.npy", NULL);
    x->data[5] = 1.5f;
    CHECK_OK(gb_npy_write(tp("f4.npy"), x));
    snprintf(spec, sizeof spec, "%s,%s", tp("f4.npy"), tp("l4.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "pixel value 1.5", "outside [0, 1]", NULL);
    snprintf(spec, sizeof spec, "%s,%s", tp("l4.npy"), tp("l4.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_FORMAT, "images of shape (3)", NULL, NULL);
    snprintf(spec, sizeof spec, "%s,%s", tp("nope.npy"), tp("l4.npy"));
    CHECK_ERR(gb_dataset_load(spec, &d), GB_ERR_IO, "nope.npy", NULL, NULL);
    CHECK(d == NULL);
    gb_tensor_free(x);
}

/* The real thing, when Debian's dataset-fashion-mnist is installed. */
static void test_fashion_mnist(void) {
    unsetenv("GIBBON_DATA_DIR");
    gb_dataset *d = NULL;
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        CHECK_ERR(gb_dataset_load("fashion-mnist:test", &d), GB_ERR_IO,
                  "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz: not found",
                  "install Debian package dataset-fashion-mnist", NULL);
        printf("     (Fashion-MNIST not installed: only the message was checked)\n");
        return;
    }
    double t0 = now();
    CHECK_OK(gb_dataset_load("fashion-mnist:test", &d));
    double dt = now() - t0;
    if (!d) return;
    const gb_tensor *x = d->images;
    CHECK(d->n == 10000 && x->ndim == 4 && x->shape[0] == 10000 && x->shape[1] == 1 &&
          x->shape[2] == 28 && x->shape[3] == 28);
    CHECK(d->num_classes == 10 && d->class_names && !strcmp(d->class_names[6], "Shirt"));
    int count[10] = {0};
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] >= 0 && d->labels[i] < 10) count[d->labels[i]]++;
    for (int k = 0; k < 10; k++) CHECKF(count[k] == 1000, "class %d has %d", k, count[k]);
    double sum = 0;
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < x->size; i++) {
        sum += x->data[i];
        lo = fminf(lo, x->data[i]);
        hi = fmaxf(hi, x->data[i]);
    }
    double mean = sum / (double)x->size;
    CHECKF(fabs(mean - 0.2860) < 0.002, "mean %.4f", mean);
    CHECK(lo == 0.0f && hi == 1.0f);
    printf("     test set: mean %.4f, loaded in %.0f ms\n", mean, dt * 1e3);
    gb_dataset_free(d);

    CHECK_OK(gb_dataset_load("fashion-mnist:train:100", &d));
    CHECK(d && d->n == 100 && d->images->shape[0] == 100);
    gb_dataset_free(d);
}

/* ---- images and PNG ----------------------------------------------------- */

static uint8_t *png_read_back(const char *path, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return NULL;
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        return NULL;
    }
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}

static const uint8_t *px_at(const gb_image *im, int x, int y) { return im->rgb + (y * im->w + x) * 3; }

static void test_image_png(void) {
    gb_image *im = gb_image_new(40, 30, 10, 20, 30);
    CHECK(im && im->w == 40 && im->h == 30);
    if (!im) return;
    CHECK(px_at(im, 39, 29)[0] == 10 && px_at(im, 39, 29)[2] == 30);

    /* Gray 2x2 at scale 3: [lo, hi] -> 0..255 with clamping; NaN -> black. */
    float g[4] = {-1.0f, 0.5f, 3.0f, NAN};
    gb_image_blit(im, g, 1, 2, 2, 0.0f, 1.0f, 1, 2, 3);
    CHECK(px_at(im, 1, 2)[0] == 0 && px_at(im, 3, 4)[1] == 0);
    CHECK(px_at(im, 4, 2)[0] == 128 && px_at(im, 6, 4)[2] == 128 && px_at(im, 7, 2)[0] == 10);
    CHECK(px_at(im, 1, 5)[0] == 255 && px_at(im, 4, 7)[0] == 0 && px_at(im, 1, 8)[0] == 10);
    /* RGB, channel-major, partly off the canvas on every side. */
    float rgb[3 * 1 * 2] = {1, 0, 0, 1, 0.25f, 0.75f};
    gb_image_blit(im, rgb, 3, 1, 2, 0.0f, 1.0f, 38, 28, 2);
    const uint8_t *q = px_at(im, 38, 28);
    CHECK(q[0] == 255 && q[1] == 0 && q[2] == 64);
    gb_image_blit(im, rgb, 3, 1, 2, 0.0f, 1.0f, -3, -1, 2);
    q = px_at(im, 0, 0);
    CHECK(q[0] == 0 && q[1] == 255 && q[2] == 191);
    gb_image_blit(im, rgb, 3, 1, 2, 0.0f, 1.0f, 1000, -1000, 5);
    float z[1] = {0};
    gb_image_blit(im, z, 1, 1, 1, 0.0f, 0.0f, 20, 0, 1); /* empty range: mid-grey */
    CHECK(px_at(im, 20, 0)[0] == 128);

    /* Text: ink inside its box, nothing outside it. */
    CHECK(gb_image_text_width("Bag", 2) == 3 * 7 * 2 && gb_image_text_width("", 1) == 0);
    CHECK(gb_image_text_width("ab\nlonger", 1) == 6 * 7);
    gb_image *tx = gb_image_new(60, 40, 255, 255, 255);
    int wd = gb_image_text(tx, 3, 4, "Hi", 2, 0, 0, 0);
    CHECK(wd == 28);
    int inside = 0, outside = 0;
    for (int y = 0; y < tx->h; y++)
        for (int x = 0; x < tx->w; x++) {
            int ink = px_at(tx, x, y)[0] != 255;
            if (x >= 3 && x < 3 + wd && y >= 4 && y < 4 + 13 * 2)
                inside += ink;
            else
                outside += ink;
        }
    CHECK(inside > 40 && outside == 0);
    gb_image_text(tx, 50, 35, "clipped\n~", 3, 200, 0, 0); /* off the edge: no overrun */
    gb_image_text(tx, -10, -10, "\x01\x7f\xff", 1, 0, 0, 0);
    gb_image_free(tx);

    const char *p = tp("out.png");
    CHECK_OK(gb_png_write(p, im));
    int w = 0, h = 0;
    uint8_t *back = png_read_back(p, &w, &h);
    CHECK(back && w == 40 && h == 30);
    if (back) CHECK(memcmp(back, im->rgb, 40 * 30 * 3) == 0);
    free(back);
    CHECK_ERR(gb_png_write("/nonexistent-dir/out.png", im), GB_ERR_IO, "/nonexistent-dir/out.png", NULL, NULL);
    gb_image_free(im);
    CHECK(gb_image_new(0, 5, 0, 0, 0) == NULL && msg_has("0x5"));
}

/* ---- failing every allocation in turn ------------------------------------ */

/* Runs op with the k-th allocation failing for k = 0, 1, ... until it
 * succeeds; every failure must be GB_ERR_NOMEM (ASan reports any leak). */
#define FAULTS(name, op, on_success)                                                    \
    do {                                                                                \
        int done_ = 0;                                                                  \
        for (long k_ = 0; k_ < 500 && !done_; k_++) {                                   \
            gb_alloc_fail_after(k_);                                                    \
            gb_status s_ = (op);                                                        \
            gb_alloc_fail_after(-1);                                                    \
            if (s_ == GB_OK) {                                                          \
                done_ = 1;                                                              \
                on_success;                                                             \
            } else {                                                                    \
                CHECKF(s_ == GB_ERR_NOMEM, "%s, allocation %ld failing: %s: %s", name, k_, \
                       gb_status_name(s_), gb_last_error());                            \
            }                                                                           \
        }                                                                               \
        CHECKF(done_, "%s never succeeded", name);                                      \
    } while (0)

static gb_status image_op(gb_image **im) {
    *im = gb_image_new(8, 8, 0, 0, 0);
    return *im ? GB_OK : GB_ERR_NOMEM;
}

static void test_alloc_failures(void) {
    size_t li, ll;
    uint8_t *im = idx_images(3, 5, 4, &li), *lb = idx_labels(3, six_labels, &ll);
    write_gz(tp("fi-img.gz"), im, li);
    write_file(tp("fi-lab"), lb, ll);
    free(im);
    free(lb);
    gb_tensor *t = NULL;
    int *y = NULL;
    int64_t n;
    FAULTS("idx images", gb_idx_read_images(tp("fi-img.gz"), &t), gb_tensor_free(t));
    FAULTS("idx labels", gb_idx_read_labels(tp("fi-lab"), &y, &n), free(y));
    /* Over 2^20 pixels: the pixel buffer is grown a second time. */
    im = idx_images(3, 640, 640, &li);
    write_file(tp("fi-big"), im, li);
    free(im);
    FAULTS("idx images, growing", gb_idx_read_images(tp("fi-big"), &t), gb_tensor_free(t));

    int64_t s3[3] = {2, 3, 4};
    gb_tensor *x = filled(3, s3);
    FAULTS("npy write", gb_npy_write(tp("fi.npy"), x), (void)0);
    FAULTS("npy read", gb_npy_read(tp("fi.npy"), &t), gb_tensor_free(t));
    gb_tensor_free(x);

    char dir[256], spec[600];
    snprintf(dir, sizeof dir, "%s/fi-set", tmpdir);
    write_idx_set(dir, "t10k", 6, 6, six_labels, 1);
    gb_dataset *d = NULL;
    setenv("GIBBON_DATA_DIR", dir, 1);
    FAULTS("fashion-mnist dataset", gb_dataset_load("fashion-mnist:test:4", &d), gb_dataset_free(d));
    unsetenv("GIBBON_DATA_DIR");
    int lab[2] = {0, 1};
    int64_t s2[3] = {2, 3, 3};
    x = filled(3, s2);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = 0.5f;
    CHECK_OK(gb_npy_write(tp("fi-x.npy"), x));
    CHECK_OK(gb_npy_write_i32(tp("fi-y.npy"), lab, 2));
    gb_tensor_free(x);
    snprintf(spec, sizeof spec, "%s,%s", tp("fi-x.npy"), tp("fi-y.npy"));
    FAULTS("npy dataset", gb_dataset_load(spec, &d), gb_dataset_free(d));

    gb_image *img = NULL;
    FAULTS("image", image_op(&img), (void)0);
    FAULTS("png", gb_png_write(tp("fi.png"), img), (void)0);
    gb_image_free(img);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gibbon-test-io-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_idx_roundtrip);
    RUN(test_idx_errors);
    RUN(test_dataset_idx);
    RUN(test_npy_roundtrip);
    RUN(test_npy_dtypes_and_spacing);
    RUN(test_npy_corrupt);
    RUN(test_npy_numpy);
    RUN(test_dataset_npy);
    RUN(test_fashion_mnist);
    RUN(test_image_png);
    RUN(test_alloc_failures);
    remove_tree(tmpdir);
    CHECK_DONE();
}
