/* npy.c — NumPy .npy files, for exchanging arrays with Python.
 *
 * Format (numpy/lib/format.py, "A Simple File Format for NumPy Arrays"):
 * the magic "\x93NUMPY", a major and minor version byte, the header length
 * (uint16 little-endian in version 1.0, uint32 in 2.0 and 3.0), then the
 * header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n' so that the data starts at a multiple
 * of 64 bytes. The data follows in C order with the dtype of 'descr'.
 *
 * We write version 1.0 with '<f4' (float32) or '<i4' (int32). We read
 * '<f4', '<f8', '|u1', '<i4', '<i8' in C order and convert to float. The
 * data must fill the rest of the file exactly: anything else means the
 * header does not describe the file.
 */
#include "internal.h"
#include "io/readers.h"

#include <errno.h>
#include <sys/stat.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads and writes little-endian data with memcpy: port it for this host"
#endif

static const char npy_magic[6] = "\x93NUMPY";

/* ---- writing --------------------------------------------------------------- */

size_t gb_npy_header_encode(char *buf, const char *descr, int ndim, const int64_t *shape) {
    const size_t pre = sizeof npy_magic + 2 + 2;
    char *head = buf + pre;
    const size_t cap = GB_NPY_HEADER_MAX - pre;
    int k = snprintf(head, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        k += snprintf(head + k, cap - (size_t)k, i ? ", %lld" : "%lld", (long long)shape[i]);
    /* A 1-tuple needs its trailing comma to be a tuple in Python. */
    k += snprintf(head + k, cap - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    size_t len = (size_t)k + 1; /* + '\n' */
    len += (64 - (pre + len) % 64) % 64;
    GB_ASSERT(len + 1 < cap && len <= 0xffff);
    memset(head + k, ' ', len - 1 - (size_t)k);
    head[len - 1] = '\n';
    memcpy(buf, npy_magic, sizeof npy_magic);
    uint8_t ver[4] = {1, 0, (uint8_t)(len & 0xff), (uint8_t)(len >> 8)};
    memcpy(buf + sizeof npy_magic, ver, sizeof ver);
    return pre + len;
}

static gb_status npy_write(const char *path, const char *descr, int ndim, const int64_t *shape,
                           const void *data, size_t nbytes) {
    char head[GB_NPY_HEADER_MAX];
    size_t len = gb_npy_header_encode(head, descr, ndim, shape);
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    fwrite(head, 1, len, af.f);
    if (nbytes) fwrite(data, 1, nbytes, af.f);
    return gb_atomic_commit(&af); /* checks the stream's error flag */
}

gb_status gb_npy_write(const char *path, const gb_tensor *t) {
    return npy_write(path, "<f4", t->ndim, t->shape, t->data, (size_t)t->size * sizeof(float));
}

gb_status gb_npy_write_i32(const char *path, const int *v, int64_t n) {
    if (n < 0) return gb_error(GB_ERR_ARG, "%s: negative length %lld", path, (long long)n);
    _Static_assert(sizeof(int) == 4, "'<i4' is written straight from int");
    return npy_write(path, "<i4", 1, &n, v, (size_t)n * sizeof(int));
}

/* ---- parsing the header dict ------------------------------------------------ */

typedef struct npy_header {
    char descr[16];
    int fortran;
    int ndim;
    int64_t shape[GB_MAX_DIMS];
} npy_header;

typedef struct cursor {
    const char *p;
    const char *path, *text; /* for messages */
} cursor;

static void skip_ws(cursor *c) {
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r') c->p++;
}

static gb_status bad_header(const cursor *c, const char *expected) {
    return gb_error(GB_ERR_FORMAT, "%s: malformed .npy header: expected %s at offset %d in %.120s",
                    c->path, expected, (int)(c->p - c->text), c->text);
}

static gb_status expect(cursor *c, char ch, const char *what) {
    skip_ws(c);
    if (*c->p != ch) return bad_header(c, what);
    c->p++;
    return GB_OK;
}

/* A quoted Python string without escapes (all npy keys and our descrs). */
static gb_status parse_string(cursor *c, char *out, size_t cap) {
    skip_ws(c);
    char q = *c->p;
    if (q != '\'' && q != '"') return bad_header(c, "a quoted string");
    const char *s = ++c->p;
    while (*c->p && *c->p != q && *c->p != '\\') c->p++;
    if (*c->p != q) return bad_header(c, "a closing quote");
    size_t n = (size_t)(c->p - s);
    c->p++;
    if (n >= cap) return bad_header(c, "a shorter string");
    memcpy(out, s, n);
    out[n] = '\0';
    return GB_OK;
}

static gb_status parse_bool(cursor *c, int *out) {
    skip_ws(c);
    if (strncmp(c->p, "True", 4) == 0) {
        *out = 1;
        c->p += 4;
    } else if (strncmp(c->p, "False", 5) == 0) {
        *out = 0;
        c->p += 5;
    } else {
        return bad_header(c, "True or False");
    }
    return GB_OK;
}

/* "()", "(3,)", "(2, 3)", "(2,3,)"; Python 2 era files may write "3L". */
static gb_status parse_shape(cursor *c, npy_header *h) {
    GB_TRY(expect(c, '(', "'(' starting the shape"));
    h->ndim = 0;
    for (;;) {
        skip_ws(c);
        if (*c->p == ')') break;
        if (*c->p < '0' || *c->p > '9') return bad_header(c, "a dimension");
        int64_t v = 0;
        while (*c->p >= '0' && *c->p <= '9') {
            v = v * 10 + (*c->p++ - '0');
            if (v > GB_MAX_ELEMENTS)
                return gb_error(GB_ERR_FORMAT, "%s: absurd dimension in .npy shape: %.120s", c->path,
                                c->text);
        }
        if (*c->p == 'L') c->p++;
        if (h->ndim == GB_MAX_DIMS)
            return gb_error(GB_ERR_UNSUPPORTED, "%s: .npy array has more than %d dimensions", c->path,
                            GB_MAX_DIMS);
        h->shape[h->ndim++] = v;
        skip_ws(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p != ')') return bad_header(c, "',' or ')' in the shape");
    }
    c->p++;
    return GB_OK;
}

static gb_status parse_header(const char *path, const char *text, npy_header *h) {
    cursor c = {text, path, text};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    GB_TRY(expect(&c, '{', "'{'"));
    for (;;) {
        skip_ws(&c);
        if (*c.p == '}') break;
        char key[32];
        GB_TRY(parse_string(&c, key, sizeof key));
        GB_TRY(expect(&c, ':', "':' after a key"));
        int *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &seen_descr;
            GB_TRY(parse_string(&c, h->descr, sizeof h->descr));
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &seen_fortran;
            GB_TRY(parse_bool(&c, &h->fortran));
        } else if (strcmp(key, "shape") == 0) {
            seen = &seen_shape;
            GB_TRY(parse_shape(&c, h));
        } else {
            return gb_error(GB_ERR_FORMAT, "%s: unexpected key '%s' in .npy header", path, key);
        }
        if (*seen) return gb_error(GB_ERR_FORMAT, "%s: key '%s' twice in .npy header", path, key);
        *seen = 1;
        skip_ws(&c);
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        if (*c.p != '}') return bad_header(&c, "',' or '}'");
    }
    c.p++;
    skip_ws(&c);
    if (*c.p) return bad_header(&c, "the end of the header after '}'");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return gb_error(GB_ERR_FORMAT, "%s: .npy header lacks '%s': %.120s", path,
                        !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape", text);
    return GB_OK;
}

/* ---- reading ------------------------------------------------------------------ */

static const struct {
    const char *descr[2]; /* numpy writes '|u1'; '<u1' means the same */
    gb_npy_dtype dtype;
    size_t size;
    const char *name;
} npy_dtypes[] = {
    {{"<f4", NULL}, GB_NPY_F4, 4, "float32"}, {{"<f8", NULL}, GB_NPY_F8, 8, "float64"},
    {{"|u1", "<u1"}, GB_NPY_U1, 1, "uint8"},  {{"<i4", NULL}, GB_NPY_I4, 4, "int32"},
    {{"<i8", NULL}, GB_NPY_I8, 8, "int64"},
};

const char *gb_npy_dtype_name(gb_npy_dtype d) {
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
        if (npy_dtypes[i].dtype == d) return npy_dtypes[i].name;
    return "?";
}

static void convert(float *dst, const uint8_t *src, size_t n, gb_npy_dtype d) {
    switch (d) {
    case GB_NPY_F4: memcpy(dst, src, n * 4); break;
    case GB_NPY_F8:
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
        break;
    case GB_NPY_U1:
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
        break;
    case GB_NPY_I4:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = (float)v;
        }
        break;
    case GB_NPY_I8:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
        break;
    }
}

/* Reads the preamble and header of an open file; *offset gets where the data starts. */
static gb_status read_header(FILE *f, const char *path, int64_t fsize, npy_header *h,
                             int64_t *offset) {
    uint8_t pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 8 || memcmp(pre, npy_magic, sizeof npy_magic) != 0)
        return gb_error(GB_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    int major = pre[6], minor = pre[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return gb_error(GB_ERR_UNSUPPORTED, "%s: .npy format version %d.%d (want 1.0, 2.0 or 3.0)",
                        path, major, minor);
    /* Version 3.0 differs from 2.0 only in allowing UTF-8 field names. */
    size_t lensize = major == 1 ? 2 : 4;
    if (got < 8 + lensize && fread(pre + got, 1, 8 + lensize - got, f) + got < 8 + lensize)
        return gb_error(GB_ERR_FORMAT, "%s: truncated .npy preamble", path);
    int64_t len = pre[8] | (int64_t)pre[9] << 8;
    if (lensize == 4) len |= (int64_t)pre[10] << 16 | (int64_t)pre[11] << 24;
    *offset = 8 + (int64_t)lensize + len;
    if (*offset > fsize)
        return gb_error(GB_ERR_FORMAT, "%s: .npy header length %lld runs past the end of the file (%lld bytes)",
                        path, (long long)len, (long long)fsize);
    if (len > (1 << 20))
        return gb_error(GB_ERR_FORMAT, "%s: absurd .npy header length %lld", path, (long long)len);
    char *text = gb_malloc((size_t)len + 1);
    if (!text) return GB_ERR_NOMEM;
    if (fread(text, 1, (size_t)len, f) != (size_t)len) {
        gb_free(text);
        return gb_error(GB_ERR_IO, "%s: read error in .npy header: %s", path, strerror(errno));
    }
    text[len] = '\0';
    if (strlen(text) != (size_t)len) {
        gb_free(text);
        return gb_error(GB_ERR_FORMAT, "%s: NUL byte in .npy header", path);
    }
    /* Trailing padding would otherwise end up in error messages. */
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\n')) text[--len] = '\0';
    gb_status s = parse_header(path, text, h);
    gb_free(text);
    return s;
}

gb_status gb_npy_read_typed(const char *path, gb_tensor **out, gb_npy_dtype *dtype) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return gb_error(GB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gb_error(GB_ERR_IO, "%s: not a regular file", path);
    }
    npy_header h;
    memset(&h, 0, sizeof h);
    int64_t offset = 0;
    gb_status s = read_header(f, path, (int64_t)st.st_size, &h, &offset);
    size_t k = 0, nd = sizeof npy_dtypes / sizeof npy_dtypes[0];
    if (s == GB_OK) {
        for (k = 0; k < nd; k++)
            if (strcmp(h.descr, npy_dtypes[k].descr[0]) == 0 ||
                (npy_dtypes[k].descr[1] && strcmp(h.descr, npy_dtypes[k].descr[1]) == 0))
                break;
        if (k == nd)
            s = gb_error(GB_ERR_UNSUPPORTED,
                         "%s: .npy dtype '%s' not supported (want '<f4', '<f8', '|u1', '<i4' or '<i8')",
                         path, h.descr);
        else if (h.fortran)
            s = gb_error(GB_ERR_UNSUPPORTED,
                         "%s: .npy array in Fortran order (save np.ascontiguousarray(a) instead)", path);
    }
    int64_t numel = 0;
    if (s == GB_OK && gb_shape_numel(h.ndim, h.shape, &numel) != GB_OK)
        s = gb_error_prefix(GB_ERR_FORMAT, "%s", path);
    if (s == GB_OK) {
        int64_t want = numel * (int64_t)npy_dtypes[k].size, have = (int64_t)st.st_size - offset;
        char shp[32 * GB_MAX_DIMS];
        if (want != have)
            s = gb_error(GB_ERR_FORMAT, "%s: %s %s array needs %lld bytes of data, file has %lld", path,
                         npy_dtypes[k].name, gb_shape_str(h.ndim, h.shape, shp, sizeof shp),
                         (long long)want, (long long)have);
    }
    gb_tensor *t = NULL;
    if (s == GB_OK) {
        t = gb_calloc(1, sizeof *t);
        if (t && numel) t->data = gb_malloc((size_t)numel * sizeof(float));
        if (!t || (numel && !t->data)) s = GB_ERR_NOMEM;
    }
    if (s == GB_OK) {
        t->ndim = h.ndim;
        memcpy(t->shape, h.shape, sizeof h.shape);
        t->size = t->cap = numel;
        uint8_t chunk[1 << 15];
        size_t esize = npy_dtypes[k].size, per = sizeof chunk / esize;
        for (int64_t done = 0; done < numel;) {
            size_t n = (size_t)GB_MIN((int64_t)per, numel - done);
            if (fread(chunk, esize, n, f) != n) {
                s = gb_error(GB_ERR_IO, "%s: read error in .npy data: %s", path,
                             ferror(f) ? strerror(errno) : "file shrank while reading");
                break;
            }
            convert(t->data + done, chunk, n, npy_dtypes[k].dtype);
            done += (int64_t)n;
        }
    }
    fclose(f);
    if (s != GB_OK) {
        gb_tensor_free(t);
        return s;
    }
    *out = t;
    if (dtype) *dtype = npy_dtypes[k].dtype;
    return GB_OK;
}

gb_status gb_npy_read(const char *path, gb_tensor **out) { return gb_npy_read_typed(path, out, NULL); }

/* ---- .npy in memory (for pipes: src/blackbox/oracle.c) ------------------------ */

gb_status gb_npy_header_decode(const char *what, const uint8_t *buf, size_t n, size_t *hlen,
                               int *ndim, int64_t *shape, gb_npy_dtype *dtype, size_t *esize) {
    *hlen = 0;
    size_t m = GB_MIN(n, sizeof npy_magic);
    if (memcmp(buf, npy_magic, m) != 0)
        return gb_error(GB_ERR_FORMAT, "%s: not a .npy array (no \\x93NUMPY magic)", what);
    if (n < 10) return GB_OK;
    int major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return gb_error(GB_ERR_UNSUPPORTED, "%s: .npy format version %d.%d (want 1.0, 2.0 or 3.0)",
                        what, major, minor);
    size_t lensize = major == 1 ? 2 : 4;
    if (n < 8 + lensize) return GB_OK;
    size_t len = buf[8] | (size_t)buf[9] << 8;
    if (lensize == 4) len |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (len > 4096) return gb_error(GB_ERR_FORMAT, "%s: absurd .npy header length %zu", what, len);
    if (n < 8 + lensize + len) return GB_OK;
    const size_t data_at = 8 + lensize + len;
    char text[4097];
    memcpy(text, buf + 8 + lensize, len);
    text[len] = '\0';
    if (strlen(text) != len) return gb_error(GB_ERR_FORMAT, "%s: NUL byte in .npy header", what);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\n')) text[--len] = '\0';
    npy_header h;
    memset(&h, 0, sizeof h);
    GB_TRY(parse_header(what, text, &h));
    size_t k, nd = sizeof npy_dtypes / sizeof npy_dtypes[0];
    for (k = 0; k < nd; k++)
        if (strcmp(h.descr, npy_dtypes[k].descr[0]) == 0 ||
            (npy_dtypes[k].descr[1] && strcmp(h.descr, npy_dtypes[k].descr[1]) == 0))
            break;
    if (k == nd) return gb_error(GB_ERR_UNSUPPORTED, "%s: .npy dtype '%s' not supported", what, h.descr);
    if (h.fortran) return gb_error(GB_ERR_UNSUPPORTED, "%s: .npy array in Fortran order", what);
    *hlen = data_at;
    *ndim = h.ndim;
    memcpy(shape, h.shape, sizeof h.shape);
    *dtype = npy_dtypes[k].dtype;
    *esize = npy_dtypes[k].size;
    return GB_OK;
}

void gb_npy_convert(float *dst, const void *src, size_t n, gb_npy_dtype d) { convert(dst, src, n, d); }
