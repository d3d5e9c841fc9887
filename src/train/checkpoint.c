/* checkpoint.c — resumable training state in one file.
 *
 * Layout (little-endian): "GBCKPT01", u32 version, i32 epochs_done,
 * 4 x u64 rng states (version 2: 6, the last the adversarial-training one), i64 optimizer steps, i32 optimizer kind, i32 buffers per
 * parameter, i32 value count, then per value (parameters and float
 * constants, in model order) u32 name length, name, i64 size, floats; then
 * per parameter and buffer i64 size and floats; then a u64 FNV-1a checksum
 * of everything before it. The whole file is validated before anything is
 * applied, so a corrupt checkpoint never leaves a half-loaded model.
 */
#include "train_internal.h"

#include <errno.h>

static const char magic[8] = {'G', 'B', 'C', 'K', 'P', 'T', '0', '1'};

static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    int failed;
} wbuf;

static void put(wbuf *b, const void *src, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = gb_realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static int is_saved(const gb_value *v) {
    return v->kind == GB_VAL_PARAM || (v->kind == GB_VAL_CONST && !v->i64);
}

gb_status gb_checkpoint_save(const char *path, const gb_model *m, const gb_optim *o,
                             const gb_checkpoint_state *st) {
    wbuf b = {0};
    uint32_t version = 2;
    int32_t nvals = 0, kind = o->p.optimizer, nbuf = o->nbuf;
    for (int i = 0; i < m->nvals; i++) nvals += is_saved(&m->vals[i]);
    put(&b, magic, 8);
    put(&b, &version, 4);
    put(&b, &st->epochs_done, 4);
    put(&b, &st->rng, sizeof st->rng);
    put(&b, &st->model_rng, sizeof st->model_rng);
    put(&b, &st->adv_rng, sizeof st->adv_rng);
    put(&b, &o->t, 8);
    put(&b, &kind, 4);
    put(&b, &nbuf, 4);
    put(&b, &nvals, 4);
    for (int i = 0; i < m->nvals; i++) {
        const gb_value *v = &m->vals[i];
        if (!is_saved(v)) continue;
        uint32_t len = (uint32_t)strlen(v->name);
        put(&b, &len, 4);
        put(&b, v->name, len);
        put(&b, &v->t.size, 8);
        put(&b, v->t.data, (size_t)v->t.size * sizeof(float));
    }
    for (int i = 0; i < o->nparams * o->nbuf; i++) {
        int64_t n = gb_model_param((gb_model *)m, i / o->nbuf).size;
        put(&b, &n, 8);
        put(&b, o->state[i], (size_t)n * sizeof(float));
    }
    uint64_t h = b.failed ? 0 : fnv1a(b.p, b.n);
    put(&b, &h, 8);
    if (b.failed) {
        gb_free(b.p);
        return gb_error(GB_ERR_NOMEM, "%s: out of memory building checkpoint", path);
    }
    gb_atomic_file af;
    gb_status s = gb_atomic_open(&af, path);
    if (s == GB_OK) {
        fwrite(b.p, 1, b.n, af.f);
        s = gb_atomic_commit(&af);
    }
    gb_free(b.p);
    return s;
}

typedef struct rbuf {
    const unsigned char *p;
    size_t n, off;
} rbuf;

static int get(rbuf *r, void *dst, size_t n) {
    if (r->n - r->off < n) return 0;
    if (dst) memcpy(dst, r->p + r->off, n);
    r->off += n;
    return 1;
}

/* Walks the file; with apply = 0 only validates, with apply = 1 copies in. */
static gb_status walk(const char *path, rbuf r, gb_model *m, gb_optim *o, gb_checkpoint_state *st,
                      int apply) {
    char mg[8];
    uint32_t version;
    int32_t epochs, kind, nbuf, nvals, want = 0;
    gb_checkpoint_state tmp = {0};
    int64_t t;
    if (!get(&r, mg, 8) || memcmp(mg, magic, 8) != 0)
        return gb_error(GB_ERR_FORMAT, "%s: not a gibbon checkpoint (bad magic)", path);
    if (!get(&r, &version, 4) || (version != 1 && version != 2))
        return gb_error(GB_ERR_FORMAT, "%s: unsupported checkpoint version", path);
    if (!get(&r, &epochs, 4) || !get(&r, &tmp.rng, sizeof tmp.rng) ||
        !get(&r, &tmp.model_rng, sizeof tmp.model_rng) ||
        (version >= 2 && !get(&r, &tmp.adv_rng, sizeof tmp.adv_rng)) || !get(&r, &t, 8) || !get(&r, &kind, 4) ||
        !get(&r, &nbuf, 4) || !get(&r, &nvals, 4))
        return gb_error(GB_ERR_FORMAT, "%s: truncated checkpoint header", path);
    if (kind != (int32_t)o->p.optimizer || nbuf != o->nbuf)
        return gb_error(GB_ERR_ARG, "%s: checkpoint was made with another optimizer", path);
    for (int i = 0; i < m->nvals; i++) want += is_saved(&m->vals[i]);
    if (nvals != want)
        return gb_error(GB_ERR_FORMAT, "%s: checkpoint holds %d tensors, the model has %d (another architecture?)",
                        path, nvals, want);
    for (int i = 0; i < m->nvals; i++) {
        gb_value *v = &m->vals[i];
        if (!is_saved(v)) continue;
        uint32_t len;
        int64_t size;
        if (!get(&r, &len, 4) || len != strlen(v->name) || r.n - r.off < len ||
            memcmp(r.p + r.off, v->name, len) != 0)
            return gb_error(GB_ERR_FORMAT, "%s: checkpoint tensor does not match model value '%s'", path, v->name);
        r.off += len;
        if (!get(&r, &size, 8) || size != v->t.size)
            return gb_error(GB_ERR_FORMAT, "%s: size mismatch for '%s'", path, v->name);
        if (!get(&r, apply ? v->t.data : NULL, (size_t)size * sizeof(float)))
            return gb_error(GB_ERR_FORMAT, "%s: truncated at '%s'", path, v->name);
    }
    for (int i = 0; i < o->nparams * o->nbuf; i++) {
        int64_t size, want_size = gb_model_param(m, i / o->nbuf).size;
        if (!get(&r, &size, 8) || size != want_size ||
            !get(&r, apply ? o->state[i] : NULL, (size_t)size * sizeof(float)))
            return gb_error(GB_ERR_FORMAT, "%s: truncated or mismatched optimizer state", path);
    }
    if (r.n - r.off != 8) return gb_error(GB_ERR_FORMAT, "%s: wrong checkpoint length", path);
    if (apply) {
        o->t = t;
        st->epochs_done = epochs;
        st->rng = tmp.rng;
        st->model_rng = tmp.model_rng;
        if (version >= 2) st->adv_rng = tmp.adv_rng; /* version 1: plain training, unused */
    }
    return GB_OK;
}

gb_status gb_checkpoint_load(const char *path, gb_model *m, gb_optim *o, gb_checkpoint_state *st) {
    FILE *f = fopen(path, "rb");
    if (!f) return gb_error(GB_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    unsigned char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *q = gb_realloc(data, cap);
            if (!q) {
                gb_free(data);
                fclose(f);
                return GB_ERR_NOMEM;
            }
            data = q;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    gb_status s = GB_OK;
    if (bad) s = gb_error(GB_ERR_IO, "%s: read error", path);
    else if (n < 8 + 8) s = gb_error(GB_ERR_FORMAT, "%s: truncated checkpoint", path);
    if (!s) {
        uint64_t h;
        memcpy(&h, data + n - 8, 8);
        if (h != fnv1a(data, n - 8))
            s = gb_error(GB_ERR_FORMAT, "%s: checkpoint checksum mismatch (corrupt or truncated)", path);
    }
    rbuf r = {data, n, 0};
    if (!s) s = walk(path, r, m, o, st, 0);
    if (!s) s = walk(path, r, m, o, st, 1);
    gb_free(data);
    return s;
}
