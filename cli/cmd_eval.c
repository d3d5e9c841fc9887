/* cmd_eval.c — `gibbon eval`: clean accuracy. */
#include "cli.h"

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test";
    int batch = 256;
    cli_opt opts[] = {{"model", OPT_STR, &model, "ONNX model file (required)"},
                      {"data", OPT_STR, &data, "data set (default fashion-mnist:test)"},
                      {"batch", OPT_INT, &batch, "batch size (default 256)"},
                      {0}};
    int r = cli_parse("eval", "Clean accuracy of a model on a data set.", argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model) {
        fprintf(stderr, "gibbon eval: --model is required\n");
        return 2;
    }
    if (batch < 1) {
        fprintf(stderr, "gibbon eval: --batch must be positive\n");
        return 2;
    }
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    float acc;
    if (gb_model_load_onnx(model, &m)) return cli_fail("");
    int rc = 0;
    if (gb_dataset_load(data, &d) || gb_evaluate(m, d, batch, &acc, NULL)) rc = cli_fail("");
    else printf("accuracy %.4f (%lld examples)\n", acc, (long long)d->n);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
