/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_SOFTMAX = {"Softmax", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_LOG_SOFTMAX = {"LogSoftmax", 1, 1, 1, NULL, NULL, NULL, NULL};
