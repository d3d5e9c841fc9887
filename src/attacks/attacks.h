/* attacks.h — helpers shared by the attack implementations: results, the
 * working set of examples still under attack, norm balls and steps. */
#ifndef GB_ATTACKS_H
#define GB_ATTACKS_H

#include "internal.h"

/* Predicted class and its softmax probability for each row of x, in inference mode. */
gb_status gb_predict(gb_model *m, const gb_tensor *x, int *pred, float *conf);
gb_status gb_attack_result_alloc(gb_attack_result *r, const gb_tensor *x);
/* Fills adversarial predictions, norms and success from r->x_adv. */
gb_status gb_attack_result_finish(gb_attack_result *r, gb_model *m, const gb_tensor *x,
                                  const int *y, const int *target);
/* The model-free part of finishing: norms and success from r->x_adv and r->adv_pred. */
void gb_attack_result_norms(gb_attack_result *r, const gb_tensor *x, const int *y, const int *target);
/* Checks the parameters every attack shares (GB_ERR_ARG with a message). */
gb_status gb_attack_check_params(const gb_attack *a);

/* ---- the working set (work.c) ------------------------------------------------
 * The examples of a batch still under attack, packed at the front of x so
 * that finished examples cost nothing. Row j is example idx[j]; per-example
 * state of an attack (momentum, Adam moments, ...) lives in arrays indexed
 * by the original index, so only the rows below move when the set shrinks. */
typedef struct gb_atk_work {
    gb_model *m;
    gb_attack_result *r;
    int64_t N, D, K;
    const float *x0; /* (N, D) clean images */
    const int *y, *t; /* (N) labels; targets (NULL: untargeted) */
    int64_t n;        /* active rows */
    int64_t *idx;     /* (N) original index of row j */
    int *ys, *ts;     /* (N) label / target of row j */
    gb_tensor x;      /* (n, C, H, W) current iterates */
    gb_tensor dl;     /* (n, K) scratch d objective / d logits */
    float *grad;      /* (n, D) gradient from the last gb_atk_eval / backward */
    float *logits;    /* (n, K) from the last forward */
    float *obj;       /* (n) objective from the last gb_atk_eval */
    int eot;          /* gb_atk_eval averages this many gradient samples (EOT; <= 1: one) */
    float *eot_buf;   /* (N*D + N) EOT accumulators, allocated on first use */
} gb_atk_work;

gb_status gb_atk_init(gb_atk_work *w, gb_model *m, const gb_tensor *x, const int *y,
                      const int *t, gb_attack_result *r);
void gb_atk_free(gb_atk_work *w);
/* Activates the examples with want[i] != 0 (all if want is NULL), rows reset to the clean images. */
void gb_atk_select(gb_atk_work *w, const int *want);
/* Keeps the rows with keep[j] != 0, in order. */
void gb_atk_compact(gb_atk_work *w, const int *keep);
/* Forward of the active rows; logits copied to w->logits. */
gb_status gb_atk_forward(gb_atk_work *w);
/* After gb_atk_forward: backward of dlogits rows dl (n, K) into out (n, D);
 * counts one gradient evaluation per active example. */
gb_status gb_atk_backward(gb_atk_work *w, const float *dl, float *out);
/* Forward, the attacker's objective (gb_attack_loss) into w->obj and, if
 * want_grad, its gradient w.r.t. the rows into w->grad. */
gb_status gb_atk_eval(gb_atk_work *w, gb_loss_kind loss, float kappa, int want_grad);
/* Whether row j's last logits are adversarial (argmax != y, or == target). */
int gb_atk_hit(const gb_atk_work *w, int64_t j);
int gb_argmax(const float *z, int64_t K);

/* ---- norms, balls and steps (norms.c) ---------------------------------------- */

double gb_norm_of(gb_norm norm, const float *v, int64_t D);
/* Ascent step on one example x (D) along gradient g: L-inf sign, L2
 * normalized, L1 sparse (SLIDE, q-th percentile of |g| among the values not
 * pinned at the box in the step's direction). scratch holds 2*D floats. */
void gb_norm_step(gb_norm norm, float *x, const float *g, int64_t D, float alpha, float lo,
                  float hi, float q, float *scratch);
/* x := x0 + P_ball(x - x0), then clipped to [lo, hi] (clipping only shrinks
 * every |x_i - x0_i|, so the norm bound holds). scratch holds D floats. */
void gb_norm_project(gb_norm norm, float *x, const float *x0, int64_t D, float eps, float lo,
                     float hi, float *scratch);
/* x := a random point of the ball around x0 (clipped to the box). */
void gb_norm_random_start(gb_norm norm, float *x, const float *x0, int64_t D, float eps, float lo,
                          float hi, gb_rng *rng);
/* Euclidean projection of v (D) onto the L1 ball of radius eps (Duchi et al. 2008). */
void gb_project_l1(float *v, int64_t D, float eps, float *scratch);

/* ---- attacks ------------------------------------------------------------------- */

typedef gb_status (*gb_attack_fn)(const gb_attack *a, gb_model *m, const gb_tensor *x,
                                  const int *y, const int *target, gb_attack_result *r);
gb_status gb_attack_fgsm(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r);
gb_status gb_attack_fgm(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r);
/* BIM, ILL, PGD, MI-FGSM and C&W-L-inf: one projected-gradient loop. */
gb_status gb_attack_iterative(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                              const int *target, gb_attack_result *r);
gb_status gb_attack_apgd(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r);
/* APGD's step-size rule (Croce & Hein 2020, sec. 3.2), per example: the
 * state carried from one checkpoint to the next. */
typedef struct gb_apgd_ckpt {
    float f0;        /* objective at the start point x0 */
    float best_last; /* best objective at the previous checkpoint */
    int halved_last; /* whether the step was halved there */
} gb_apgd_ckpt;
/* Before the first iteration, with the objective f0 at x0. */
void gb_apgd_ckpt_start(gb_apgd_ckpt *c, float f0);
/* At a checkpoint after iteration it (0-based) that closes a window of k
 * iterations: hist[i] is the objective after iteration i, best the best
 * objective so far. Returns whether to halve the step and restart from the
 * best point, which then is the current iterate: hist[it] := best. */
int gb_apgd_ckpt_check(gb_apgd_ckpt *c, float *hist, int it, int k, float rho, float best);
gb_status gb_attack_cw_l2(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                          const int *target, gb_attack_result *r);
gb_status gb_attack_deepfool(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                             const int *target, gb_attack_result *r);
gb_status gb_attack_jsma(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r);

gb_status gb_attack_fab(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r);
/* Black-box attacks: they only query the model's scores or labels. */
gb_status gb_attack_square(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                           const int *target, gb_attack_result *r);
gb_status gb_attack_simba(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                          const int *target, gb_attack_result *r);
gb_status gb_attack_nes(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r);
gb_status gb_attack_boundary(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                             const int *target, gb_attack_result *r);
gb_status gb_attack_hsj(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r);

/* ---- transfer-friendly gradients (diversity.c) ----------------------------- */

#define GB_TI_MAX_KERNEL 63
/* DI's transform of one image x (C, H, W): bilinear resize to (rh, rw),
 * zero-padded at (top, left) into y (C, H, W); the backward accumulates
 * its transpose applied to dy into dx. */
void gb_di_resize_pad_forward(const float *x, int64_t C, int64_t H, int64_t W, int64_t rh, int64_t rw, int64_t top,
                              int64_t left, float *y);
void gb_di_resize_pad_backward(const float *dy, int64_t C, int64_t H, int64_t W, int64_t rh, int64_t rw,
                               int64_t top, int64_t left, float *dx);
/* After gb_atk_eval at the rows (logits and objective kept): w->grad := the
 * objective's gradient through a random DI transform, drawn per row with
 * probability prob. Counts one gradient evaluation per row. */
gb_status gb_di_gradient(gb_atk_work *w, gb_loss_kind loss, float kappa, float prob, gb_rng *rng);
/* TI's 1-D Gaussian weights (k odd, +-3 sigma, sum 1) into w; returns k. */
int gb_ti_kernel(int k, float *w);
/* Convolves g (C, H, W) in place with the k x k TI kernel; scratch H*W floats. */
void gb_ti_smooth(float *g, int64_t C, int64_t H, int64_t W, int k, float *scratch);

/* Kurakin et al.'s iteration count for BIM/ILL: min(eps*255 + 4, 1.25*eps*255), rounded up. */
int gb_attack_bim_steps(float eps_255);

#endif
