/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_FLATTEN = {"Flatten", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_RESHAPE = {"Reshape", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_CONCAT = {"Concat", 1, 1, 1, NULL, NULL, NULL, NULL};
