/* cli.h — shared pieces of the gibbon command-line tool: option parsing,
 * JSON output, progress display. */
#ifndef GB_CLI_H
#define GB_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "gibbon.h"

typedef enum opt_type { OPT_STR, OPT_INT, OPT_FLOAT, OPT_U64, OPT_FLAG } opt_type;

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    opt_type type;
    void *dst;
    const char *help;
} cli_opt;

/* Parses argv against opts (NULL-terminated by name). On error prints one
 * line "gibbon <cmd>: ..." and returns 2; returns 1 if --help was printed, 0 on success. */
int cli_parse(const char *cmd, const char *summary, int argc, char **argv, const cli_opt *opts);

/* Prints "gibbon: <what>: <library error>" and returns exit code 1. */
int cli_fail(const char *what);

/* Parses a comma-separated list of floats into out (at most max). Returns the count or -1. */
int cli_parse_floats(const char *s, float *out, int max);

/* ---- model loading shared by eval, info and attack ---------------------- */

/* How the model expects its input, from the command line (see
 * gb_model_load_params; strings are NULL and range 0 when not given). */
typedef struct cli_model_opts {
    const char *mean, *std, *output, *layout;
    float range;
} cli_model_opts;

/* The options, to splice into a command's table:
 *   cli_model_opts mo = {0};
 *   cli_opt opts[] = {{"model", ...}, CLI_MODEL_OPTS(mo), {0}}; */
#define CLI_MODEL_OPTS(o)                                                                       \
    {"mean", OPT_STR, &(o).mean, "per-channel mean the model expects, in its units (0.485,0.456,0.406)"}, \
    {"std", OPT_STR, &(o).std, "per-channel std the model expects (0.229,0.224,0.225)"},           \
    {"range", OPT_FLOAT, &(o).range, "pixel range the model expects: 1 (default) or 255; data stays [0,1]"}, \
    {"output", OPT_STR, &(o).output, "graph output to use when the model has several"},           \
    {"layout", OPT_STR, &(o).layout, "the model's input layout: nchw (default) or nhwc"}

/* Fills p from o. On a bad value prints "gibbon <cmd>: --flag: ..." and
 * returns 2; 0 on success. */
int cli_model_params(const char *cmd, const cli_model_opts *o, gb_model_load_params *p);
/* Loads path with o and prints notices on stderr when gibbon adapted the
 * model on its own (final Softmax removed, LogSoftmax outputs, several
 * outputs, normalization from the file's metadata). Returns 0, or the exit
 * code to return (1: load error, 2: bad flag). */
int cli_load_model(const char *cmd, const char *path, const cli_model_opts *o, gb_model **m);
/* gb_model_check_input on a batch: wrong layout, 0..255 or normalized data.
 * Prints the error and returns 1; 0 when fine. */
int cli_check_images(const gb_model *m, const gb_tensor *x);

/* mkdir -p; returns 0 on success. */
int cli_mkdirs(const char *path);

/* Minimal JSON writer into a FILE. */
typedef struct json {
    FILE *f;
    int depth;
    int first[32];
} json;
void json_begin_object(json *j, const char *key);
void json_end_object(json *j);
void json_begin_array(json *j, const char *key);
void json_end_array(json *j);
void json_str(json *j, const char *key, const char *v);
void json_num(json *j, const char *key, double v);
void json_int(json *j, const char *key, long long v);
void json_bool(json *j, const char *key, int v);

/* Training progress: a bar on a terminal, plain lines otherwise. */
int cli_train_progress(const gb_train_progress *p, void *user);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_attack(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif
