/* gibbon.c — the command table and dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a model from the built-in zoo and save it as ONNX"},
    {"eval", cmd_eval, "clean accuracy of a model on a data set"},
    {"attack", cmd_attack, "run an adversarial attack over a data set and write results"},
    {"universal", cmd_universal, "fit one universal adversarial perturbation for a data set"},
    {"destruction", cmd_destruction, "destruction rate of adversarial examples under transformations"},
    {"data", cmd_data, "write a synthetic data set (road signs) as .npy with a contact sheet"},
    {"patch", cmd_patch, "train a universal adversarial patch (Brown et al.) and measure it vs size"},
    {"sticker", cmd_sticker, "masked physical perturbations: RP2 stickers, eyeglass frames, under EOT"},
    {"detect", cmd_detect, "feature squeezing: detect adversarial inputs, FPR and detection rate, ROC AUC"},
    {"certify", cmd_certify, "randomized smoothing: certified L2 radius per example, certified accuracy"},
    {"info", cmd_info, "describe an ONNX model: input, output, nodes, parameters"},
    {"transfer", cmd_transfer, "craft on source models, measure how often the examples fool target models"},
    {"report", cmd_report, "write a self-contained HTML report for a gibbon eval output directory"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: gibbon <command> [options]   (gibbon <command> --help for options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    const char *threads = getenv("GIBBON_THREADS");
    gb_set_num_threads(threads ? atoi(threads) : 2);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gibbon: unknown command '%s' (try 'gibbon --help')\n", argv[1]);
    return 2;
}
