/* cmd_eval.c — `gibbon eval`: clean accuracy. */
#include "cli.h"

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test";
    int batch = 256;
    cli_model_opts mo = {0};
    cli_opt opts[] = {{"model", OPT_STR, &model, "ONNX model file (required)"},
                      {"data", OPT_STR, &data, "data set (default fashion-mnist:test)"},
                      {"batch", OPT_INT, &batch, "batch size (default 256)"},
                      CLI_MODEL_OPTS(mo),
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
    if ((r = cli_load_model("eval", model, &mo, &m))) return r;
    int rc = 0;
    if (gb_dataset_load(data, &d)) rc = cli_fail("");
    else if (cli_check_images(m, d->images)) rc = 1;
    else if (gb_evaluate(m, d, batch, &acc, NULL)) rc = cli_fail("");
    else printf("accuracy %.4f (%lld examples)\n", acc, (long long)d->n);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
