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
 * random starts come from rng. */
gb_status gb_adv_examples(gb_model *m, const gb_train_params *p, const gb_tensor *x, const int *y,
                          gb_tensor *xadv, gb_adv_work *w, gb_rng *rng);

gb_status gb_checkpoint_save(const char *path, const gb_model *m, const gb_optim *o,
                             const gb_checkpoint_state *st);
gb_status gb_checkpoint_load(const char *path, gb_model *m, gb_optim *o, gb_checkpoint_state *st);

#endif
