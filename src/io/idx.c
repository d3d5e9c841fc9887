/* idx.c — reader for the IDX files of MNIST and Fashion-MNIST.
 *
 * Format ("FILE FORMATS FOR THE MNIST DATABASE", yann.lecun.com/exdb/mnist):
 * a big-endian 32-bit magic, two zero bytes then the element type (0x08 =
 * unsigned byte) then the number of dimensions; one big-endian uint32 per
 * dimension; the data in C order. Images are 0x00000803 (N, H, W), labels
 * 0x00000801 (N). Files go through zlib's gz* functions, which read gzip and
 * plain files alike. Bytes after the data are ignored, as other readers do.
 */
#include "internal.h"
#include "io/readers.h"

#include <errno.h>
#include <zlib.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u

static gb_status idx_open(const char *path, gzFile *gz) {
    errno = 0;
    *gz = gzopen(path, "rb");
    if (*gz) {
        gzbuffer(*gz, 1u << 17);
        return GB_OK;
    }
    /* gzopen leaves errno at 0 when only its own allocation failed. */
    if (errno == 0) return gb_error(GB_ERR_NOMEM, "%s: out of memory opening file", path);
    return gb_error(GB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
}

/* Reads up to n bytes; *got < n only at the end of the data. A read that
 * zlib flags as an error (corrupt or cut gzip stream, I/O error) becomes
 * the returned status; its message counts bytes of `what` read so far
 * (`before` + this read) against `total`. */
static gb_status idx_read(gzFile gz, const char *path, const char *what, void *buf, size_t n,
                          size_t *got, int64_t before, int64_t total) {
    *got = 0;
    while (*got < n) {
        size_t want = GB_MIN(n - *got, (size_t)1 << 30); /* gzread takes an unsigned */
        int r = gzread(gz, (char *)buf + *got, (unsigned)want);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        int err = Z_OK;
        const char *msg = gzerror(gz, &err);
        /* zlib prefixes its messages with the path; we add our own. */
        size_t plen = strlen(path);
        if (strncmp(msg, path, plen) == 0 && msg[plen] == ':') msg += plen + 1 + (msg[plen + 1] == ' ');
        if (err == Z_ERRNO)
            return gb_error(GB_ERR_IO, "%s: read error in %s: %s", path, what, strerror(errno));
        if (err == Z_MEM_ERROR) return gb_error(GB_ERR_NOMEM, "%s: out of memory in zlib", path);
        if (err != Z_OK)
            return gb_error(GB_ERR_FORMAT,
                            "%s: corrupt or truncated gzip stream (%s) after %lld of %lld bytes of %s",
                            path, msg, (long long)(before + (int64_t)*got), (long long)total, what);
        break; /* plain end of file */
    }
    return GB_OK;
}

/* Reads the magic and dims (ndim of them), checking the magic first so that
 * a file of the wrong kind says so rather than "truncated". */
static gb_status idx_header(gzFile gz, const char *path, uint32_t magic, int ndim,
                            uint32_t *dims) {
    uint8_t h[4 + 4 * 3];
    size_t len = 4 + 4 * (size_t)ndim, got;
    GB_TRY(idx_read(gz, path, "header", h, len, &got, 0, (int64_t)len));
    if (got >= 4) {
        uint32_t m = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        if (m != magic) {
            const char *hint = m == IDX_LABELS ? " (an IDX labels file?)"
                               : m == IDX_IMAGES ? " (an IDX images file?)"
                               : (m >> 16) == 0x1f8b ? " (a damaged gzip file?)"
                                                     : "";
            return gb_error(GB_ERR_FORMAT, "%s: expected IDX magic 0x%x (%s), found 0x%x%s", path,
                            magic, magic == IDX_IMAGES ? "uint8 images" : "uint8 labels", m, hint);
        }
    }
    if (got < len)
        return gb_error(GB_ERR_FORMAT, "%s: truncated header: expected %zu bytes, found %zu", path,
                        len, got);
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = h + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    return GB_OK;
}

typedef void (*convert_fn)(void *dst, const uint8_t *src, size_t n);

static void bytes_to_unit_float(void *dst, const uint8_t *src, size_t n) {
    float *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = src[i] / 255.0f;
}

static void bytes_to_int(void *dst, const uint8_t *src, size_t n) {
    int *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = src[i];
}

/* Reads `count` bytes of payload converted to elements of `esize` bytes.
 * The buffer grows with the data actually read (doubling), so a small file
 * that claims billions of pixels fails as truncated instead of allocating
 * gigabytes first. *out is NULL when count is 0. */
static gb_status idx_payload(gzFile gz, const char *path, const char *what, int64_t count,
                             size_t esize, convert_fn convert, void **out) {
    uint8_t chunk[1 << 15];
    char *buf = NULL;
    int64_t cap = 0, done = 0;
    *out = NULL;
    while (done < count) {
        size_t got;
        size_t want = (size_t)GB_MIN(count - done, (int64_t)sizeof chunk);
        gb_status s = idx_read(gz, path, what, chunk, want, &got, done, count);
        if (s == GB_OK && got == 0)
            s = gb_error(GB_ERR_FORMAT, "%s: truncated %s: expected %lld bytes, found %lld", path,
                         what, (long long)count, (long long)done);
        if (s != GB_OK) {
            gb_free(buf);
            return s;
        }
        if (done + (int64_t)got > cap) {
            int64_t grow = GB_MIN(count, GB_MAX(GB_MAX(2 * cap, done + (int64_t)got), (int64_t)1 << 20));
            char *nb = gb_realloc(buf, (size_t)grow * esize);
            if (!nb) {
                gb_free(buf);
                return GB_ERR_NOMEM;
            }
            buf = nb;
            cap = grow;
        }
        convert(buf + (size_t)done * esize, chunk, got);
        done += (int64_t)got;
    }
    *out = buf;
    return GB_OK;
}

gb_status gb_idx_read_images_n(const char *path, int64_t limit, gb_tensor **out, int64_t *declared) {
    *out = NULL;
    gzFile gz;
    GB_TRY(idx_open(path, &gz));
    uint32_t d[3] = {0};
    gb_status s = idx_header(gz, path, IDX_IMAGES, 3, d);
    int64_t n = d[0], h = d[1], w = d[2];
    if (s == GB_OK && (h == 0 || w == 0))
        s = gb_error(GB_ERR_FORMAT, "%s: images of size %lldx%lld", path, (long long)h, (long long)w);
    if (s == GB_OK && (h > GB_MAX_ELEMENTS / w || n > GB_MAX_ELEMENTS / (h * w)))
        s = gb_error(GB_ERR_FORMAT, "%s: absurd dimensions %lld x %lld x %lld (over %lld pixels)",
                     path, (long long)n, (long long)h, (long long)w, (long long)GB_MAX_ELEMENTS);
    if (s != GB_OK) {
        gzclose(gz);
        return s;
    }
    if (declared) *declared = n;
    if (limit >= 0 && limit < n) n = limit;
    gb_tensor *t = gb_calloc(1, sizeof *t);
    void *data = NULL;
    s = t ? idx_payload(gz, path, "pixel data", n * h * w, sizeof(float), bytes_to_unit_float, &data)
          : GB_ERR_NOMEM;
    gzclose(gz);
    if (s != GB_OK) {
        gb_free(t);
        return s;
    }
    t->ndim = 4;
    t->shape[0] = n;
    t->shape[1] = 1;
    t->shape[2] = h;
    t->shape[3] = w;
    t->size = t->cap = n * h * w;
    t->data = data;
    *out = t;
    return GB_OK;
}

gb_status gb_idx_read_labels_n(const char *path, int64_t limit, int **labels, int64_t *n,
                               int64_t *declared) {
    *labels = NULL;
    *n = 0;
    gzFile gz;
    GB_TRY(idx_open(path, &gz));
    uint32_t d[1] = {0};
    gb_status s = idx_header(gz, path, IDX_LABELS, 1, d);
    if (s != GB_OK) {
        gzclose(gz);
        return s;
    }
    int64_t count = d[0];
    if (declared) *declared = count;
    if (limit >= 0 && limit < count) count = limit;
    void *data = NULL;
    s = idx_payload(gz, path, "label data", count, sizeof(int), bytes_to_int, &data);
    gzclose(gz);
    if (s != GB_OK) return s;
    *labels = data;
    *n = count;
    return GB_OK;
}

gb_status gb_idx_read_images(const char *path, gb_tensor **out) {
    return gb_idx_read_images_n(path, -1, out, NULL);
}

gb_status gb_idx_read_labels(const char *path, int **labels, int64_t *n) {
    return gb_idx_read_labels_n(path, -1, labels, n, NULL);
}
