/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_MAX_POOL = {"MaxPool", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_AVERAGE_POOL = {"AveragePool", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_GLOBAL_AVERAGE_POOL = {"GlobalAveragePool", 1, 1, 1, NULL, NULL, NULL, NULL};
