/* attacks.h — helpers shared by the attack implementations. */
#ifndef GB_ATTACKS_H
#define GB_ATTACKS_H

#include "internal.h"

/* Predicted class and its softmax probability for each row of x, in inference mode. */
gb_status gb_predict(gb_model *m, const gb_tensor *x, int *pred, float *conf);
gb_status gb_attack_result_alloc(gb_attack_result *r, const gb_tensor *x);
/* Fills adversarial predictions, norms and success from r->x_adv. */
gb_status gb_attack_result_finish(gb_attack_result *r, gb_model *m, const gb_tensor *x,
                                  const int *y, const int *target);

gb_status gb_attack_fgsm(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r);

#endif
