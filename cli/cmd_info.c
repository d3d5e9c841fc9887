/* cmd_info.c — `gibbon info`: what a model file holds and whether gibbon
 * can run it (the report is gb_model_describe_onnx's). Exit status 0 when
 * every op is supported, 3 when the model loads as a file but uses ops or
 * attributes gibbon lacks, 1 on unreadable files. */
#include "cli.h"

#include <string.h>

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    cli_model_opts mo = {0};
    cli_opt opts[] = {{"model", OPT_STR, &model, "ONNX model file (required)"}, CLI_MODEL_OPTS(mo), {0}};
    int r = cli_parse("info", "Describes an ONNX model: input, output, op histogram, parameters, "
                              "FLOPs, and whether gibbon supports every op.",
                      argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model) {
        fprintf(stderr, "gibbon info: --model is required\n");
        return 2;
    }
    gb_model_load_params p;
    if ((r = cli_model_params("info", &mo, &p))) return r;
    char *text;
    int supported;
    if (gb_model_describe_onnx_opts(model, &p, &text, &supported)) return cli_fail("");
    fputs(text, stdout);
    gb_free(text);
    if (mo.defense) { /* applied by the commands that run the model; checked and listed here */
        gb_defense d[8];
        char buf[64];
        int n = cli_parse_defenses("info", "defense", mo.defense, d, 8);
        if (n < 0) return 2;
        printf("defense:   ");
        for (int k = 0; k < n; k++) d[k].bpda = mo.bpda, printf(" %s", gb_defense_str(&d[k], buf, sizeof buf));
        printf(" (in front of the adapter, first listed first)\n");
    }
    return supported ? 0 : 3;
}
