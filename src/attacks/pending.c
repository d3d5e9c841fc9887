/* pending.c — attacks declared but not written yet (being implemented this
 * session; each one moves to its own file). */
#include "attacks.h"

#define PENDING(fn, name)                                                                              \
    gb_status fn(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y, const int *target, \
                 gb_attack_result *r) {                                                                \
        return gb_error(GB_ERR_ARG, "%s: not implemented yet", name);                                  \
    }

PENDING(gb_attack_fab, "fab")
PENDING(gb_attack_square, "square")
PENDING(gb_attack_simba, "simba")
PENDING(gb_attack_nes, "nes")
PENDING(gb_attack_boundary, "boundary")
PENDING(gb_attack_hsj, "hsj")
