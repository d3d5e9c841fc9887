/* eval_dist.c — the distributed phase of `gibbon eval --eps` (eval_dist.h).
 *
 * Chunks are handed out one at a time from a counter on rank 0 rather than
 * split evenly up front: attacks stop early on examples they break, so
 * chunks take very different times, and a rank that is done takes the next.
 * Each chunk is seeded by its start index (gb_autoattack_run), never by the
 * rank, so who computes it does not change its bytes. The chunk files need
 * a file system all ranks see (one machine, or --out on a shared mount). */
#include "eval_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"

gb_status eval_chunk_compute(const gb_autoattack *p, int count, gb_model *m, const gb_dataset *d, int64_t start,
                             int64_t cnt, float *x_adv, gb_aa_example *ex, gb_aa_stats *st, const char *path) {
    const int64_t D = d->images->size / d->n;
    gb_tensor xs = *d->images, xa = *d->images;
    xs.shape[0] = xa.shape[0] = cnt;
    xs.size = xa.size = cnt * D;
    xs.data = d->images->data + start * D;
    xa.data = x_adv;
    xs.cap = xa.cap = 0;
    memset(st, 0, GB_AA_MAX_ATTACKS * sizeof *st);
    GB_TRY(gb_autoattack_run(p, m, &xs, d->labels + start, (uint64_t)start, &xa, ex, st));
    return gb_aa_chunk_write(path, start, &xa, ex, st, count);
}

void eval_dist_chunks(const gb_autoattack *p, int count, gb_model *m, const gb_dataset *d, int64_t n, int batch,
                      const char *state, int slot, double deadline, int *computed) {
    const int64_t D = d->images->size / d->n, chunks = (n + batch - 1) / batch;
    float *xa = malloc((size_t)(batch * D) * sizeof *xa);
    gb_aa_example *ex = calloc((size_t)batch, sizeof *ex);
    if (!xa || !ex) {
        fprintf(stderr, "gibbon eval: rank %d: out of memory\n", dist_rank());
        dist_abort(1);
    }
    for (int64_t c; (c = dist_next(slot)) < chunks;) {
        const int64_t start = c * batch, cnt = GB_MIN((int64_t)batch, n - start);
        char path[4400];
        snprintf(path, sizeof path, "%s/chunk_%06lld.bin", state, (long long)c);
        gb_aa_stats st[GB_AA_MAX_ATTACKS];
        gb_status s = gb_aa_chunk_read(path, start, cnt, D, count, xa, ex, st);
        if (!s) continue; /* done by an earlier run */
        if (s == GB_ERR_FORMAT) fprintf(stderr, "gibbon eval: %s; recomputing it\n", gb_last_error());
        /* The chunk taken is left for the next run: rank 0 reports it missing. */
        if (*computed && gb_now() > deadline) break;
        if (eval_chunk_compute(p, count, m, d, start, cnt, xa, ex, st, path)) {
            fprintf(stderr, "gibbon eval: rank %d: %s\n", dist_rank(), gb_last_error());
            dist_abort(1);
        }
        ++*computed;
        fprintf(stderr, "eps %-8g rank %d computed examples %lld-%lld\n", (double)p->eps, dist_rank(),
                (long long)start, (long long)(start + cnt - 1));
    }
    free(xa);
    free(ex);
    dist_barrier();
}
