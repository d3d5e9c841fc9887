/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_BATCH_NORM = {"BatchNormalization", 1, 1, 1, NULL, NULL, NULL, NULL};
