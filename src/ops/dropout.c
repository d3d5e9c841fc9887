/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_DROPOUT = {"Dropout", 1, 1, 1, NULL, NULL, NULL, NULL};
