/* blackbox.h — what the black-box attacks share inside libgibbon: the run
 * state over an oracle, per-example query accounting, and one entry point
 * per attack. Private to libgibbon.
 *
 * Adding a black-box attack: write gb_bb_<name>(gb_bb *q) in its own file
 * (src/blackbox/<name>.c), list it in the table of run.c, and make the
 * model-level gb_attack_<name>() of src/attacks/attacks.h one line:
 * `return gb_bb_on_model(a, m, x, y, target, r);`. */
#ifndef GB_BLACKBOX_H
#define GB_BLACKBOX_H

#include "attacks/attacks.h"

/* gb_oracle_query, with log-probabilities instead of probabilities when
 * want_log (exact log-softmax for a model; log of a program's answer). */
gb_status gb_oracle_ask(gb_oracle *o, const gb_tensor *x, gb_tensor *probs, int want_log, int *labels);

/* One attack run over a batch of N examples. The runner (run.c) has asked
 * the oracle about the clean images before the attack starts. */
typedef struct gb_bb {
    const gb_attack *a;
    gb_oracle *o;
    int64_t N, C, H, W, D; /* D = C*H*W */
    int K;                 /* classes (0: unknown, label-only program) */
    const float *x0;       /* (N, D) clean images */
    const int *y, *t;      /* (N) labels; targets (NULL: untargeted) */
    const float *p0;       /* (N, K) clean log-probabilities (NULL for a label-only oracle) */
    int64_t budget;        /* queries allowed per example, the clean one included */
    gb_attack_result *r;   /* x_adv: each example's best so far; adv_pred/adv_conf its answer;
                            * evals: queries per example (kept exact by gb_bb_query) */
} gb_bb;

/* Asks the oracle about n images xb (n, C, H, W) belonging to examples
 * idx[0..n) (each counted once in r->evals); logp (n, K log-probabilities; may be NULL) and
 * labels (n; may be NULL) receive the answers. Refuses (GB_ERR_BUDGET)
 * without asking when the oracle's own budget would be exceeded. */
gb_status gb_bb_query(gb_bb *q, const float *xb, int64_t n, const int64_t *idx, float *logp,
                      int *labels);
/* Queries left for example i under the per-example budget. */
int64_t gb_bb_left(const gb_bb *q, int64_t i);
/* Whether kind is one of the query-only attacks of run.c's table. */
int gb_bb_is_blackbox(gb_attack_kind kind);
/* Whether label `pred` is a success for example i. */
int gb_bb_hit(const gb_bb *q, int64_t i, int pred);
/* Records an answer (log-probabilities, may be NULL) for example i's current x_adv row. */
void gb_bb_set_answer(gb_bb *q, int64_t i, const float *logp, int label);

/* Runs the black-box attack a->kind over an oracle into r (allocated by the
 * caller with gb_attack_result_alloc); fills predictions, norms, success. */
gb_status gb_bb_run(const gb_attack *a, gb_oracle *o, const gb_tensor *x, const int *y,
                    const int *target, gb_attack_result *r);
/* gb_attack_run's path for black-box kinds: wraps m in a scores (or, for
 * decision-based attacks, labels) oracle and calls gb_bb_run. */
gb_status gb_bb_on_model(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r);

/* The attacks, each on the state above. */
gb_status gb_bb_square(gb_bb *q);   /* square.c */
gb_status gb_bb_simba(gb_bb *q);    /* simba.c */
gb_status gb_bb_nes(gb_bb *q);      /* nes.c */
gb_status gb_bb_boundary(gb_bb *q); /* decision-based; see pending_bb.c */
gb_status gb_bb_hsj(gb_bb *q);

/* SimBA-DCT's direction (u, v): the orthonormal 2-D DCT-II basis image
 * (H, W) alpha_u alpha_v cos(pi (2h+1) u / 2H) cos(pi (2w+1) v / 2W). */
void gb_dct_image(int64_t H, int64_t W, int64_t u, int64_t v, float *out);

/* NES (Ilyas et al. 2018): estimates, for n rows x (n, D) of examples
 * idx, the gradient of the attack objective (CE of the label, or minus CE
 * of the target) from a->samples antithetic Gaussian probes of std
 * a->sigma each (clipped to the box), into grad (n, D). rngs (N) are the
 * examples' streams. Costs a->samples queries per row. */
gb_status gb_nes_gradient(gb_bb *q, const float *x, int64_t n, const int64_t *idx, gb_rng *rngs,
                          float *grad);

/* Square Attack's schedule: the fraction p of pixels a square covers at
 * iteration it of a run with n_iters iterations (Andriushchenko et al. 2020,
 * the authors' p_selection). */
float gb_square_p(float p_init, int64_t it, int64_t n_iters);

#endif
