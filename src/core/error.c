/* error.c — per-thread error messages behind gb_status. */
#include "internal.h"

static _Thread_local char last_error[1024];

const char *gb_last_error(void) { return last_error; }
const char *gb_version(void) { return "0.2.0"; }

gb_status gb_error(gb_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

gb_status gb_error_prefix(gb_status s, const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right and put "prefix: " in front, truncating. */
    size_t p = strlen(prefix) + 2, o = strlen(last_error), cap = sizeof last_error - 1;
    if (p > cap) p = cap;
    if (o > cap - p) o = cap - p;
    memmove(last_error + p, last_error, o);
    last_error[p + o] = '\0';
    memcpy(last_error, prefix, p - 2);
    last_error[p - 2] = ':';
    last_error[p - 1] = ' ';
    return s;
}

const char *gb_status_name(gb_status s) {
    switch (s) {
    case GB_OK: return "ok";
    case GB_ERR_IO: return "io";
    case GB_ERR_FORMAT: return "format";
    case GB_ERR_UNSUPPORTED: return "unsupported";
    case GB_ERR_NOMEM: return "out of memory";
    case GB_ERR_ARG: return "bad argument";
    case GB_ERR_SHAPE: return "shape";
    case GB_ERR_BUDGET: return "query budget spent";
    }
    return "unknown";
}

void gb_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "gibbon: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
