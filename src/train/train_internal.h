/* train_internal.h — optimizer state and checkpoints, shared by the
 * training loop and its tests. */
#ifndef GB_TRAIN_INTERNAL_H
#define GB_TRAIN_INTERNAL_H

#include "internal.h"

typedef struct gb_optim {
    gb_train_params p;
    int nparams, nbuf; /* nbuf buffers per parameter: 1 (SGD momentum) or 2 (Adam m, v) */
    float **state;
    int64_t t; /* steps taken */
} gb_optim;

gb_status gb_optim_init(gb_optim *o, gb_model *m, const gb_train_params *p);
void gb_optim_free(gb_optim *o);
void gb_optim_step(gb_optim *o, gb_model *m, float lr);
/* Learning rate at `epoch` plus fraction `frac` of it. */
float gb_schedule_lr(const gb_train_params *p, int epoch, double frac);

/* Checkpoint: model parameters and constants (BatchNorm statistics),
 * optimizer state, the shuffling, Dropout and adversarial RNGs and the
 * number of finished epochs. */
typedef struct gb_checkpoint_state {
    int epochs_done;
    gb_rng rng;
    gb_rng model_rng;
    gb_rng adv_rng; /* random starts of adversarial training */
} gb_checkpoint_state;

/* Scratch for gb_adv_examples. */
typedef struct gb_adv_work {
    gb_tensor *dl;    /* (n, K) d objective / d logits */
    gb_tensor *clean; /* (n, K) TRADES: logits of the clean batch */
    float *scratch;   /* 2 * D floats */
} gb_adv_work;

/* Fills xadv (same shape as x) with p->adv's adversarial version of the
 * batch x with labels y, the model in inference mode (restored after);
 * example b's random start comes from gb_example_rng(seed, first + b). */
gb_status gb_adv_examples(gb_model *m, const gb_train_params *p, const gb_tensor *x, const int *y,
                          gb_tensor *xadv, gb_adv_work *w, uint64_t seed, int64_t first);

/* gb_evaluate over examples [lo, hi) of d: *correct counts right predictions;
 * predictions (may be NULL) receives hi - lo labels. */
gb_status gb_evaluate_range(gb_model *m, const gb_dataset *d, int64_t lo, int64_t hi, int batch_size,
                            int64_t *correct, int *predictions);

/* ---- data-parallel training (parallel.c) ---- */
/* This process's slice [*lo, *hi) of a global batch of n (all of it when c is NULL). */
void gb_dp_slice(const gb_train_comm *c, int64_t n, int64_t *lo, int64_t *hi);
/* Sums every parameter gradient and metrics[0..nmetrics) over the
 * processes, in one allreduce through buf (gb_model_param_count + nmetrics floats). */
gb_status gb_dp_allreduce_grads(gb_model *m, const gb_train_comm *c, float *buf, float *metrics,
                                int nmetrics);
/* GB_ERR_ARG on every process unless all hold the same v. */
gb_status gb_dp_agree(const gb_train_comm *c, uint64_t v, const char *what);
/* A hash of the model's parameters and constants (BatchNorm statistics). */
uint64_t gb_dp_model_hash(const gb_model *m);
/* *any = whether flag is set on some process. */
gb_status gb_dp_any(const gb_train_comm *c, int flag, int *any);
/* Test accuracy over all of d, each process evaluating its slice. */
gb_status gb_dp_evaluate(gb_model *m, const gb_dataset *d, const gb_train_comm *c, float *accuracy);
/* A 64-bit draw, and the random stream of the example at global position
 * `index` in a step whose seed is `seed`. */
uint64_t gb_rng_u64(gb_rng *r);
void gb_example_rng(gb_rng *r, uint64_t seed, int64_t index);

gb_status gb_checkpoint_save(const char *path, const gb_model *m, const gb_optim *o,
                             const gb_checkpoint_state *st);
gb_status gb_checkpoint_load(const char *path, gb_model *m, gb_optim *o, gb_checkpoint_state *st);

#endif
