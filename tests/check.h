/* check.h — the tiny test framework: each tests/test_*.c is one executable
 * whose main() runs its cases with RUN(); the process exits non-zero if any
 * CHECK failed. */
#ifndef GB_CHECK_H
#define GB_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gibbon.h"

static int check_failures = 0;
static int check_count = 0;
static const char *check_current = "";

#define CHECK(cond)                                                                     \
    do {                                                                                \
        check_count++;                                                                  \
        if (!(cond)) {                                                                  \
            check_failures++;                                                           \
            fprintf(stderr, "FAIL %s: %s:%d: %s\n", check_current, __FILE__, __LINE__, #cond); \
        }                                                                               \
    } while (0)

#define CHECKF(cond, ...)                                                               \
    do {                                                                                \
        check_count++;                                                                  \
        if (!(cond)) {                                                                  \
            check_failures++;                                                           \
            fprintf(stderr, "FAIL %s: %s:%d: %s: ", check_current, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

/* Checks a gb_status is GB_OK and prints the library's message otherwise. */
#define CHECK_OK(expr)                                                                  \
    do {                                                                                \
        gb_status check_s_ = (expr);                                                    \
        CHECKF(check_s_ == GB_OK, "%s -> %s: %s", #expr, gb_status_name(check_s_),      \
               gb_last_error());                                                        \
    } while (0)

#define RUN(fn)                                                                         \
    do {                                                                                \
        check_current = #fn;                                                            \
        int before_ = check_failures;                                                   \
        fn();                                                                           \
        printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);          \
        fflush(stdout);                                                                 \
    } while (0)

#define CHECK_DONE()                                                                    \
    do {                                                                                \
        printf("%d checks, %d failures\n", check_count, check_failures);                \
        return check_failures ? 1 : 0;                                                  \
    } while (0)

#endif
