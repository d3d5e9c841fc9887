/* bench_pool.c — ns per output of gb_maxpool2x2_plane (ops/pool.c, AVX2)
 * against gb_maxpool2x2_plane_scalar (the loop it replaced, kept as the
 * portable fallback: "old" below) on the shipped CNN's pooled shapes
 * 28x28 -> 14x14 and 14x14 -> 7x7 plus an odd 27x27 -> 13x13, over 64
 * planes of random values (as conv outputs: few ties). It also checks that
 * both give the same values and indices on this data. Prints the minimum
 * over repetitions, old and new interleaved (the machine may be busy).
 *
 * Usage: make BUILD=<name> bench_pool; build/<name>/bench/bench_pool [reps]
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*plane_fn)(float *, int32_t *, const float *, int64_t, int64_t, int64_t, int64_t);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { PLANES = 64 };

/* Minimum over reps of the ns per output of `iters` passes over all planes. */
static double time_fn(plane_fn f, float *y, int32_t *arg, const float *x, int64_t H, int64_t W,
                      int reps) {
    int64_t OH = H / 2, OW = W / 2, outs = PLANES * OH * OW;
    int iters = (int)(4000000 / outs) + 1;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int it = 0; it < iters; it++)
            for (int p = 0; p < PLANES; p++)
                f(y + p * OH * OW, arg + p * OH * OW, x + p * H * W, H, W, OH, OW);
        double ns = (now() - t0) * 1e9 / ((double)iters * (double)outs);
        if (ns < best) best = ns;
    }
    return best;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    if (reps < 1) reps = 1;
    const int64_t shapes[3][2] = {{28, 28}, {14, 14}, {27, 27}};
    int bad = 0;
    for (int s = 0; s < 3; s++) {
        int64_t H = shapes[s][0], W = shapes[s][1], n = PLANES * (H / 2) * (W / 2);
        float *x = malloc(sizeof(float) * (size_t)(PLANES * H * W));
        float *y0 = malloc(sizeof(float) * (size_t)n), *y1 = malloc(sizeof(float) * (size_t)n);
        int32_t *a0 = malloc(sizeof(int32_t) * (size_t)n), *a1 = malloc(sizeof(int32_t) * (size_t)n);
        if (!x || !y0 || !y1 || !a0 || !a1) return 1;
        srand(1);
        for (int64_t i = 0; i < PLANES * H * W; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        double t_old = 0, t_new = 0;
        /* Interleaved, so that both see the same load on the machine. */
        for (int k = 0; k < 3; k++) {
            double o = time_fn(gb_maxpool2x2_plane_scalar, y0, a0, x, H, W, reps);
            double m = time_fn(gb_maxpool2x2_plane, y1, a1, x, H, W, reps);
            t_old = k == 0 || o < t_old ? o : t_old;
            t_new = k == 0 || m < t_new ? m : t_new;
        }
        int same = memcmp(y0, y1, sizeof(float) * (size_t)n) == 0 &&
                   memcmp(a0, a1, sizeof(int32_t) * (size_t)n) == 0;
        bad |= !same;
        printf("{\"shape\": \"%lldx%lld->%lldx%lld\", \"old_ns_per_out\": %.3f, "
               "\"new_ns_per_out\": %.3f, \"speedup\": %.2f, \"same\": %s}\n",
               (long long)H, (long long)W, (long long)(H / 2), (long long)(W / 2), t_old, t_new,
               t_old / t_new, same ? "true" : "false");
        free(x), free(y0), free(y1), free(a0), free(a1);
    }
    return bad;
}
