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
