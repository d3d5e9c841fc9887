/* op_table.c — the op table generated from op_list.h. */
#include "internal.h"

#define GB_OP(id, onnx_name, file) extern const gb_op_def gb_opdef_##id;
#include "ops/op_list.h"
#undef GB_OP

#define GB_OP(id, onnx_name, file) [GB_OP_##id] = &gb_opdef_##id,
const gb_op_def *const gb_ops[GB_OP_COUNT] = {
#include "ops/op_list.h"
};
#undef GB_OP

#define GB_OP(id, onnx_name, file) +1
_Static_assert(sizeof(gb_ops) / sizeof(gb_ops[0]) == 0
#include "ops/op_list.h"
               , "op table and op enum out of step");
#undef GB_OP

int gb_op_find(const char *onnx_name) {
    for (int i = 0; i < GB_OP_COUNT; i++)
        if (strcmp(gb_ops[i]->name, onnx_name) == 0) return i;
    return -1;
}
