/* bench_profile.h — per-node timing of a gibbon model, for the bench only.
 *
 * It reads the library's internal structures (src/internal.h) and replays
 * the loops of src/graph/exec.c with a clock around every op call, so the
 * library itself carries no profiling code. Keep it in step with exec.c. */
#ifndef BENCH_PROFILE_H
#define BENCH_PROFILE_H

#include "gibbon.h"

typedef struct bench_profile {
    gb_model *m;
    const gb_tensor *x;  /* (N, C, H, W) */
    gb_tensor *dlogits;  /* (N, K) workspace */
    const int *labels;   /* N */
    void *adam;          /* state for bench_adam_step */
    int warmup, iters;
} bench_profile;

/* The bench's Adam step (bench_cnn.c). */
void bench_adam_step(void *adam, gb_model *m);

/* training = 1: the training step (training-mode forward, loss, zero_grad,
 * backward to the parameters, Adam); 0: the attack step (inference forward,
 * summed loss, backward to the input). Prints a table to stderr. */
void bench_profile_run(const bench_profile *p, int training);

#endif
