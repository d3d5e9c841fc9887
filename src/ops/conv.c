/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_CONV = {"Conv", 1, 1, 1, NULL, NULL, NULL, NULL};
