/* PLACEHOLDER: being written. */
#include "internal.h"
const gb_op_def gb_opdef_GEMM = {"Gemm", 1, 1, 1, NULL, NULL, NULL, NULL};
const gb_op_def gb_opdef_MATMUL = {"MatMul", 1, 1, 1, NULL, NULL, NULL, NULL};
