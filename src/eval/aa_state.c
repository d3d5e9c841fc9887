/* aa_state.c — the resumable state of an ensemble evaluation: one file per
 * batch of examples ("chunk") holding what gb_autoattack_run produced for
 * it. A chunk is written atomically once finished, so an interrupted
 * evaluation loses at most the batch in flight; a reader that finds a
 * truncated, corrupt or mismatched file reports it and the caller simply
 * recomputes that chunk.
 *
 * Layout (little-endian host order; the file never leaves the machine that
 * made it):
 *   "GBAACHK1" | int64 start, count, D | int32 attacks, sizeof(example)
 *   | gb_aa_stats[attacks] | gb_aa_example[count] | float x_adv[count*D]
 *   | uint32 crc32 of everything before */
#include "internal.h"

#include <zlib.h>

static const char magic[8] = {'G', 'B', 'A', 'A', 'C', 'H', 'K', '1'};

typedef struct crc_writer {
    FILE *f;
    uLong crc;
} crc_writer;

static void put(crc_writer *w, const void *p, size_t n) {
    fwrite(p, 1, n, w->f);
    for (size_t off = 0; off < n;) { /* crc32 takes a uInt length */
        size_t step = n - off > (1u << 30) ? (1u << 30) : n - off;
        w->crc = crc32(w->crc, (const Bytef *)p + off, (uInt)step);
        off += step;
    }
}

gb_status gb_aa_chunk_write(const char *path, int64_t start, const gb_tensor *x_adv, const gb_aa_example *ex,
                            const gb_aa_stats *stats, int attacks) {
    const int64_t count = x_adv->shape[0], D = count ? x_adv->size / count : 0;
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    crc_writer w = {af.f, crc32(0, Z_NULL, 0)};
    int64_t head[3] = {start, count, D};
    int32_t sizes[2] = {attacks, (int32_t)sizeof(gb_aa_example)};
    put(&w, magic, sizeof magic);
    put(&w, head, sizeof head);
    put(&w, sizes, sizeof sizes);
    put(&w, stats, (size_t)attacks * sizeof *stats);
    put(&w, ex, (size_t)count * sizeof *ex);
    put(&w, x_adv->data, (size_t)(count * D) * sizeof(float));
    uint32_t crc = (uint32_t)w.crc;
    fwrite(&crc, sizeof crc, 1, af.f);
    return gb_atomic_commit(&af);
}

static int get(FILE *f, void *p, size_t n, uLong *crc) {
    if (fread(p, 1, n, f) != n) return 0;
    for (size_t off = 0; off < n;) {
        size_t step = n - off > (1u << 30) ? (1u << 30) : n - off;
        *crc = crc32(*crc, (const Bytef *)p + off, (uInt)step);
        off += step;
    }
    return 1;
}

gb_status gb_aa_chunk_read(const char *path, int64_t start, int64_t count, int64_t D, int attacks,
                           float *x_adv, gb_aa_example *ex, gb_aa_stats *stats) {
    FILE *f = fopen(path, "rb");
    if (!f) return gb_error(GB_ERR_IO, "%s: cannot open", path);
    uLong crc = crc32(0, Z_NULL, 0);
    char m[8];
    int64_t head[3];
    int32_t sizes[2];
    gb_status s = GB_OK;
    if (!get(f, m, sizeof m, &crc) || memcmp(m, magic, sizeof m) != 0)
        s = gb_error(GB_ERR_FORMAT, "%s: not an evaluation chunk", path);
    else if (!get(f, head, sizeof head, &crc) || !get(f, sizes, sizeof sizes, &crc))
        s = gb_error(GB_ERR_FORMAT, "%s: truncated header", path);
    else if (head[0] != start || head[1] != count || head[2] != D || sizes[0] != attacks ||
             sizes[1] != (int32_t)sizeof(gb_aa_example))
        s = gb_error(GB_ERR_FORMAT,
                     "%s: made for examples %lld..+%lld of size %lld with %d attacks, expected %lld..+%lld, %lld, %d",
                     path, (long long)head[0], (long long)head[1], (long long)head[2], (int)sizes[0],
                     (long long)start, (long long)count, (long long)D, attacks);
    uint32_t want;
    if (!s && (!get(f, stats, (size_t)attacks * sizeof *stats, &crc) || !get(f, ex, (size_t)count * sizeof *ex, &crc) ||
               !get(f, x_adv, (size_t)(count * D) * sizeof(float), &crc) || fread(&want, sizeof want, 1, f) != 1))
        s = gb_error(GB_ERR_FORMAT, "%s: truncated", path);
    if (!s && (uint32_t)crc != want) s = gb_error(GB_ERR_FORMAT, "%s: checksum mismatch (corrupt file)", path);
    if (!s && fgetc(f) != EOF) s = gb_error(GB_ERR_FORMAT, "%s: trailing bytes", path);
    fclose(f);
    return s;
}
