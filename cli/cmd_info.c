/* cmd_info.c — `gibbon info`: what a model file holds. */
#include "cli.h"

#include <string.h>

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    cli_opt opts[] = {{"model", OPT_STR, &model, "ONNX model file (required)"}, {0}};
    int r = cli_parse("info", "Describes an ONNX model.", argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model) {
        fprintf(stderr, "gibbon info: --model is required\n");
        return 2;
    }
    gb_model *m;
    if (gb_model_load_onnx(model, &m)) return cli_fail("");
    int64_t shape[GB_MAX_DIMS];
    int nd = gb_model_input_shape(m, shape);
    char buf[128];
    printf("model:      %s\n", model);
    printf("input:      %s\n", gb_shape_str(nd, shape, buf, sizeof buf));
    printf("classes:    %d\n", gb_model_num_classes(m));
    printf("parameters: %lld in %d tensors\n", (long long)gb_model_param_count(m), gb_model_num_params(m));
    if (*gb_model_arch(m)) printf("arch:       %s\n", gb_model_arch(m));
    gb_model_free(m);
    return 0;
}
