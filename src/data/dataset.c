/* dataset.c — turns a dataset spec into images and labels in memory.
 *
 * Specs (an optional ":N" at the end keeps the first N examples):
 *   fashion-mnist:train, fashion-mnist:test
 *       the IDX files of Debian's dataset-fashion-mnist under
 *       /usr/share/datasets/fashion-mnist, or under $GIBBON_DATA_DIR
 *       (that directory itself or its fashion-mnist/ subdirectory);
 *   signs:train, signs:test
 *       synthetic road signs rendered from a fixed seed per split (signs.c);
 *   DIR:train, DIR:test
 *       a directory with the same four IDX files, gzipped or not
 *       ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]);
 *   images.npy,labels.npy
 *       images (N, C, H, W) or (N, H, W) as float in [0, 1] or uint8 0..255,
 *       labels (N,) as int64, int32 or uint8.
 */
#include "internal.h"
#include "io/readers.h"

#include <sys/stat.h>
#include <unistd.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_PACKAGE "dataset-fashion-mnist"
/* More classes than this is a corrupt label file, not a classification task. */
#define MAX_CLASSES 65536

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

void gb_dataset_free(gb_dataset *d) {
    if (!d) return;
    gb_tensor_free(d->images);
    gb_free(d->labels);
    if (d->class_names)
        for (int i = 0; i < d->num_classes; i++) gb_free(d->class_names[i]);
    gb_free(d->class_names);
    gb_free(d->masks);
    gb_free(d);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = gb_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Finds DIR/base.gz or DIR/base; *path is set even when neither exists
 * (to the .gz name, for the message) unless memory ran out. */
static gb_status find_idx(const char *dir, const char *base, char **path) {
    char gz[64];
    snprintf(gz, sizeof gz, "%s.gz", base);
    *path = join(dir, gz);
    if (!*path) return GB_ERR_NOMEM;
    if (access(*path, F_OK) == 0) return GB_OK;
    char *plain = join(dir, base);
    if (!plain) return GB_ERR_NOMEM;
    if (access(plain, F_OK) == 0) {
        gb_free(*path);
        *path = plain;
        return GB_OK;
    }
    gb_free(plain);
    return GB_ERR_IO;
}

/* Labels must index classes; num_classes is at least `min_classes`, and
 * with `fixed` set the labels must stay below it. */
static gb_status check_labels(gb_dataset *d, const char *path, int min_classes, int fixed) {
    int top = min_classes;
    for (int64_t i = 0; i < d->n; i++) {
        int y = d->labels[i];
        if (y < 0 || y >= (fixed ? min_classes : MAX_CLASSES))
            return gb_error(GB_ERR_FORMAT, "%s: label %d of example %lld outside [0, %d)", path, y,
                            (long long)i, fixed ? min_classes : MAX_CLASSES);
        top = GB_MAX(top, y + 1);
    }
    d->num_classes = top;
    return GB_OK;
}

static gb_status load_idx_dir(const char *spec, const char *dir, int train, int fashion,
                              int64_t limit, gb_dataset *d) {
    const char *split = train ? "train" : "t10k";
    char ibase[48], lbase[48];
    snprintf(ibase, sizeof ibase, "%s-images-idx3-ubyte", split);
    snprintf(lbase, sizeof lbase, "%s-labels-idx1-ubyte", split);
    char *ipath = NULL, *lpath = NULL;
    gb_status s = find_idx(dir, ibase, &ipath);
    if (s == GB_OK) s = find_idx(dir, lbase, &lpath);
    if (s == GB_ERR_IO) {
        const char *missing = lpath ? lpath : ipath, *env = getenv("GIBBON_DATA_DIR");
        if (fashion && env && *env)
            s = gb_error(GB_ERR_IO, "%s: not found (GIBBON_DATA_DIR is set to %s)", missing, env);
        else if (fashion)
            s = gb_error(GB_ERR_IO, "%s: not found (install Debian package " FASHION_PACKAGE ")",
                         missing);
        else
            s = gb_error(GB_ERR_IO, "%s: not found", missing);
    }
    int64_t nimg = 0, nlab = 0, got = 0;
    if (s == GB_OK) s = gb_idx_read_images_n(ipath, limit, &d->images, &nimg);
    if (s == GB_OK) s = gb_idx_read_labels_n(lpath, limit, &d->labels, &got, &nlab);
    if (s == GB_OK && nimg != nlab)
        s = gb_error(GB_ERR_FORMAT, "%s has %lld images but %s has %lld labels", ipath,
                     (long long)nimg, lpath, (long long)nlab);
    if (s == GB_OK && limit > nimg)
        s = gb_error(GB_ERR_ARG, "%s: asked for %lld examples, %s has %lld", spec, (long long)limit,
                     ipath, (long long)nimg);
    if (s == GB_OK && got == 0) s = gb_error(GB_ERR_FORMAT, "%s: no examples", ipath);
    if (s == GB_OK) {
        d->n = got;
        s = check_labels(d, lpath, 10, fashion);
    }
    if (s == GB_OK && fashion) {
        d->class_names = gb_calloc(10, sizeof *d->class_names);
        for (int i = 0; d->class_names && i < 10; i++)
            if (!(d->class_names[i] = gb_strdup(fashion_names[i]))) break;
        if (!d->class_names || !d->class_names[9]) s = GB_ERR_NOMEM;
    }
    gb_free(ipath);
    gb_free(lpath);
    return s;
}

/* Keeps the first n examples of a (N, ...) tensor. */
static void keep_first(gb_tensor *t, int64_t n) {
    if (t->shape[0] > 0) t->size = t->size / t->shape[0] * n;
    t->shape[0] = n;
}

static gb_status load_npy_pair(const char *spec, const char *ipath, const char *lpath,
                               int64_t limit, gb_dataset *d) {
    gb_npy_dtype it, lt;
    gb_tensor *lab = NULL;
    GB_TRY(gb_npy_read_typed(ipath, &d->images, &it));
    gb_tensor *x = d->images;
    char shp[32 * GB_MAX_DIMS];
    gb_shape_str(x->ndim, x->shape, shp, sizeof shp);
    if (x->ndim != 3 && x->ndim != 4)
        return gb_error(GB_ERR_FORMAT, "%s: images of shape %s (want (N, C, H, W) or (N, H, W))",
                        ipath, shp);
    if (it != GB_NPY_F4 && it != GB_NPY_F8 && it != GB_NPY_U1)
        return gb_error(GB_ERR_FORMAT, "%s: images of dtype %s (want float32 in [0, 1] or uint8)",
                        ipath, gb_npy_dtype_name(it));
    if (x->ndim == 3) {
        x->ndim = 4;
        x->shape[3] = x->shape[2];
        x->shape[2] = x->shape[1];
        x->shape[1] = 1;
    }
    if (x->shape[0] == 0 || x->size == 0) return gb_error(GB_ERR_FORMAT, "%s: no images (shape %s)", ipath, shp);
    for (int64_t i = 0; i < x->size; i++) {
        float v = x->data[i];
        if (it == GB_NPY_U1) {
            x->data[i] = v / 255.0f;
        } else if (!(v >= 0.0f && v <= 1.0f)) {
            return gb_error(GB_ERR_FORMAT,
                            "%s: pixel value %g at flat index %lld outside [0, 1] (store floats in [0, 1] or uint8)",
                            ipath, (double)v, (long long)i);
        }
    }

    GB_TRY(gb_npy_read_typed(lpath, &lab, &lt));
    gb_status s = GB_OK;
    if (lab->ndim != 1)
        s = gb_error(GB_ERR_FORMAT, "%s: labels of shape %s (want (N,))", lpath,
                     gb_shape_str(lab->ndim, lab->shape, shp, sizeof shp));
    else if (lt == GB_NPY_F4 || lt == GB_NPY_F8)
        s = gb_error(GB_ERR_FORMAT, "%s: labels of dtype %s (want int64, int32 or uint8)", lpath,
                     gb_npy_dtype_name(lt));
    else if (lab->shape[0] != x->shape[0])
        s = gb_error(GB_ERR_FORMAT, "%s has %lld images but %s has %lld labels", ipath,
                     (long long)x->shape[0], lpath, (long long)lab->shape[0]);
    else if (limit > x->shape[0])
        s = gb_error(GB_ERR_ARG, "%s: asked for %lld examples, %s has %lld", spec, (long long)limit,
                     ipath, (long long)x->shape[0]);
    int64_t n = limit >= 0 ? limit : x->shape[0];
    if (s == GB_OK && !(d->labels = gb_malloc((size_t)n * sizeof(int)))) s = GB_ERR_NOMEM;
    if (s == GB_OK) {
        /* Labels were converted to float on reading, which is exact for
         * every value in range. */
        for (int64_t i = 0; i < n && s == GB_OK; i++) {
            float v = lab->data[i];
            if (!(v >= 0.0f && v < (float)MAX_CLASSES))
                s = gb_error(GB_ERR_FORMAT, "%s: label %.0f of example %lld outside [0, %d)", lpath,
                             (double)v, (long long)i, MAX_CLASSES);
            else
                d->labels[i] = (int)v;
        }
    }
    if (s == GB_OK) {
        keep_first(x, n);
        d->n = n;
        s = check_labels(d, lpath, 1, 0);
    }
    gb_tensor_free(lab);
    return s;
}

/* Splits a trailing ":N" off spec into *limit (-1 if absent). */
static gb_status split_limit(const char *spec, size_t *len, int64_t *limit) {
    *len = strlen(spec);
    *limit = -1;
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)) return GB_OK;
    if (strlen(colon + 1) > 12)
        return gb_error(GB_ERR_ARG, "%s: example count %s too large", spec, colon + 1);
    *limit = strtoll(colon + 1, NULL, 10);
    if (*limit == 0) return gb_error(GB_ERR_ARG, "%s: example count must be positive", spec);
    *len = (size_t)(colon - spec);
    return GB_OK;
}

static gb_status load_spec(const char *spec, gb_dataset *d) {
    size_t len;
    int64_t limit;
    GB_TRY(split_limit(spec, &len, &limit));
    char *base = gb_malloc(len + 1);
    if (!base) return GB_ERR_NOMEM;
    memcpy(base, spec, len);
    base[len] = '\0';
    gb_status s;
    char *comma = strchr(base, ',');
    char *colon = strrchr(base, ':');
    if (comma) {
        *comma = '\0';
        s = load_npy_pair(spec, base, comma + 1, limit, d);
    } else if (colon && (strcmp(colon + 1, "train") == 0 || strcmp(colon + 1, "test") == 0)) {
        int train = strcmp(colon + 1, "train") == 0;
        *colon = '\0';
        if (strcmp(base, "signs") == 0) {
            gb_signs_params sp = gb_signs_default_params();
            sp.seed = train ? GB_SIGNS_TRAIN_SEED : GB_SIGNS_TEST_SEED;
            gb_dataset *g = NULL;
            s = gb_signs_generate(&sp, limit > 0 ? limit : train ? GB_SIGNS_TRAIN_N : GB_SIGNS_TEST_N, &g);
            if (s == GB_OK) {
                *d = *g; /* take over the generated set's buffers */
                gb_free(g);
            }
        } else if (strcmp(base, "fashion-mnist") == 0) {
            const char *env = getenv("GIBBON_DATA_DIR");
            if (!env || !*env) {
                s = load_idx_dir(spec, FASHION_DIR, train, 1, limit, d);
            } else {
                char *sub = join(env, "fashion-mnist");
                s = sub ? load_idx_dir(spec, is_dir(sub) ? sub : env, train, 1, limit, d) : GB_ERR_NOMEM;
                gb_free(sub);
            }
        } else if (is_dir(base)) {
            s = load_idx_dir(spec, base, train, 0, limit, d);
        } else {
            s = gb_error(GB_ERR_IO, "%s: no such dataset directory", base);
        }
    } else {
        s = gb_error(GB_ERR_ARG,
                     "%s: unknown dataset (want fashion-mnist:train|test, signs:train|test, DIR:train|test or "
                     "images.npy,labels.npy, each optionally followed by :N)",
                     spec);
    }
    gb_free(base);
    return s;
}

gb_status gb_dataset_load(const char *spec, gb_dataset **out) {
    *out = NULL;
    gb_dataset *d = gb_calloc(1, sizeof *d);
    if (!d) return GB_ERR_NOMEM;
    gb_status s = load_spec(spec, d);
    if (s != GB_OK) {
        gb_dataset_free(d);
        return s;
    }
    *out = d;
    return GB_OK;
}
