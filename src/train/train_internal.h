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
 * optimizer state, the shuffling RNG and the number of finished epochs. */
typedef struct gb_checkpoint_state {
    int epochs_done;
    gb_rng rng;
    gb_rng model_rng;
} gb_checkpoint_state;

gb_status gb_checkpoint_save(const char *path, const gb_model *m, const gb_optim *o,
                             const gb_checkpoint_state *st);
gb_status gb_checkpoint_load(const char *path, gb_model *m, gb_optim *o, gb_checkpoint_state *st);

#endif
