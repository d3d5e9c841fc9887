/* physical.h — what the physical attacks (patch.c, sticker.c) share: the
 * Expectation-over-Transformation gradient (Athalye et al. 2018) and Adam. */
#ifndef GB_PHYSICAL_H
#define GB_PHYSICAL_H

#include "attacks.h"

/* Buffers for EOT evaluations of one model; grows with the batch. */
typedef struct gb_eot {
    gb_model *m;
    gb_tf_pipeline *pipe; /* borrowed; NULL: no transformation */
    int eot;              /* samples per row */
    gb_tensor rep, tx, drep, dl;
    gb_tf_params *params;
    int *ys, *ts;
    float *val;
    int64_t cap;
} gb_eot;

void gb_eot_init(gb_eot *e, gb_model *m, gb_tf_pipeline *pipe, int eot);
void gb_eot_free(gb_eot *e);
/* For each row i of x (n, C, H, W): draws e->eot transformations, and
 * writes the mean attacker objective (gb_attack_loss, to maximize) to obj[i]
 * (may be NULL), its gradient w.r.t. x_i to grad (n*D, overwritten), and how
 * many samples were adversarial to hits[i] (may be NULL). */
gb_status gb_eot_eval(gb_eot *e, const gb_tensor *x, const int *y, const int *t, gb_loss_kind loss,
                      float kappa, gb_rng *rng, float *grad, float *obj, int *hits);

/* One Adam step (Kingma & Ba 2015) DESCENDING g on v (n values) at step t >= 1. */
void gb_adam_step(float *v, const float *g, float *m1, float *m2, int64_t n, int t, float lr);

#endif
