/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_ADD = {"Add", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_SUB = {"Sub", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_MUL = {"Mul", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_DIV = {"Div", 1, 1, 1, NULL, NULL, NULL, NULL};
