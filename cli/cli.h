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
    const char *defense; /* input transformations, "bits:4,median:2" (applied in that order) */
    int bpda;            /* their quantizers' backward is the identity (BPDA) */
} cli_model_opts;

/* The options, to splice into a command's table:
 *   cli_model_opts mo = {0};
 *   cli_opt opts[] = {{"model", ...}, CLI_MODEL_OPTS(mo), {0}}; */
#define CLI_MODEL_OPTS(o)                                                                       \
    {"mean", OPT_STR, &(o).mean, "per-channel mean the model expects, in its units (0.485,0.456,0.406)"}, \
    {"std", OPT_STR, &(o).std, "per-channel std the model expects (0.229,0.224,0.225)"},           \
    {"range", OPT_FLOAT, &(o).range, "pixel range the model expects: 1 (default) or 255; data stays [0,1]"}, \
    {"output", OPT_STR, &(o).output, "graph output to use when the model has several"},           \
    {"layout", OPT_STR, &(o).layout, "the model's input layout: nchw (default) or nhwc"},         \
    {"defense", OPT_STR, &(o).defense, "input transformations in front of the model: jpeg:Q, bits:K, median:K, resize-pad:R (comma-separated)"}, \
    {"bpda", OPT_FLAG, &(o).bpda, "attack the --defense quantizers (jpeg, bits) through the identity (BPDA)"}

/* Fills p from o. On a bad value prints "gibbon <cmd>: --flag: ..." and
 * returns 2; 0 on success. */
int cli_model_params(const char *cmd, const cli_model_opts *o, gb_model_load_params *p);
/* Loads path with o and prints notices on stderr when gibbon adapted the
 * model on its own (final Softmax removed, LogSoftmax outputs, several
 * outputs, normalization from the file's metadata). Returns 0, or the exit
 * code to return (1: load error, 2: bad flag). */
int cli_load_model(const char *cmd, const char *path, const cli_model_opts *o, gb_model **m);
/* Parses a comma-separated list of transformations ("bits:4,median:2") into
 * d (at most max). Returns the count, or -1 after printing
 * "gibbon <cmd>: --<flag>: ..." for a bad or empty list. */
int cli_parse_defenses(const char *cmd, const char *flag, const char *spec, gb_defense *d, int max);
/* Parses a --defense list and puts the transformations in front of m (the
 * first listed runs first). Returns 0, 2 on a bad list, 1 on a library error. */
int cli_add_defenses(const char *cmd, const char *spec, int bpda, gb_model *m);
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

/* ---- physical attacks' outputs (cli_physical.c) ---- */
/* d's name for class k, else its number in buf. */
const char *cli_class_name(const gb_dataset *d, int k, char *buf, size_t n);
/* A class given as a number or a (case-insensitive) name of d; 0 or -1. */
int cli_parse_class(const gb_dataset *d, const char *s, int num_classes, int *k);
/* One cell of an image grid: (C, H, W) in [0,1] (NULL: empty), a caption, red when hit. */
typedef struct cli_cell {
    const float *chw;
    char caption[40];
    int hit;
} cli_cell;
gb_status cli_write_grid(const char *path, int c, int h, int w, const cli_cell *cells, int rows, int cols,
                         const char *title);
/* One image upscaled by `scale`, as PNG. */
gb_status cli_write_png(const char *path, const float *chw, int c, int h, int w, int scale);
/* A single-curve SVG line plot (y in [0,1]), written atomically. */
gb_status cli_write_curve_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                              const double *xs, const double *ys, int n);

/* Training progress: a bar on a terminal, plain lines otherwise. */
int cli_train_progress(const gb_train_progress *p, void *user);

/* Black-box attacks (attack_queries.c): targets for --oracle runs, from the
 * data's labels (next, random, fixed; 2 and a message on a bad choice), and
 * the success-vs-query-budget curve DIR/queries_curve.{csv,svg}. */
int cli_query_targets(const gb_dataset *d, gb_target_mode mode, int fixed, uint64_t seed, int *target);
gb_status cli_write_query_curve(const char *dir, const char *attack, const gb_attack_result *r, const int *labels,
                                const int *target, int64_t budget);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_attack(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_transfer(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_certify(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_universal(int argc, char **argv);
int cmd_destruction(int argc, char **argv);
int cmd_patch(int argc, char **argv);
int cmd_sticker(int argc, char **argv);

#endif
