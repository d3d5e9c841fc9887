/* files.c — atomic writes (temporary + rename) and clocks. */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

gb_status gb_atomic_open(gb_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = gb_strdup(path);
    af->tmp = gb_malloc(n);
    if (!af->path || !af->tmp) {
        gb_free(af->path);
        gb_free(af->tmp);
        return GB_ERR_NOMEM;
    }
    snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        gb_status s = gb_error(GB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        gb_free(af->path);
        gb_free(af->tmp);
        af->path = af->tmp = NULL;
        return s;
    }
    return GB_OK;
}

gb_status gb_atomic_commit(gb_atomic_file *af) {
    gb_status s = GB_OK;
    int bad = ferror(af->f);
    if (fclose(af->f) != 0 || bad) {
        s = gb_error(GB_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
        remove(af->tmp);
    } else if (rename(af->tmp, af->path) != 0) {
        s = gb_error(GB_ERR_IO, "%s: cannot rename into place: %s", af->path, strerror(errno));
        remove(af->tmp);
    }
    gb_free(af->path);
    gb_free(af->tmp);
    memset(af, 0, sizeof *af);
    return s;
}

void gb_atomic_abort(gb_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) remove(af->tmp);
    gb_free(af->path);
    gb_free(af->tmp);
    memset(af, 0, sizeof *af);
}

double gb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double gb_cpu_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
