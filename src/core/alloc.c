/* alloc.c — the one hookable allocator, with fault injection for tests
 * (after sqlite's test_malloc.c: fail the N-th allocation, check cleanup). */
#include "internal.h"

static void *std_malloc(size_t n, void *u) { (void)u; return malloc(n); }
static void *std_realloc(void *p, size_t n, void *u) { (void)u; return realloc(p, n); }
static void std_free(void *p, void *u) { (void)u; free(p); }

static gb_allocator alloc = {std_malloc, std_realloc, std_free, NULL};
static long fail_countdown = -1;

void gb_set_allocator(const gb_allocator *a) {
    if (a && a->malloc_fn && a->realloc_fn && a->free_fn)
        alloc = *a;
    else
        alloc = (gb_allocator){std_malloc, std_realloc, std_free, NULL};
}

void gb_alloc_fail_after(long n) { fail_countdown = n; }

static int injected_failure(void) {
    if (fail_countdown < 0) return 0;
    if (fail_countdown == 0) return 1;
    fail_countdown--;
    return 0;
}

void *gb_malloc(size_t n) {
    void *p = injected_failure() ? NULL : alloc.malloc_fn(n ? n : 1, alloc.user);
    if (!p) gb_error(GB_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *gb_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        gb_error(GB_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = gb_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *gb_realloc(void *p, size_t n) {
    void *q = injected_failure() ? NULL : alloc.realloc_fn(p, n ? n : 1, alloc.user);
    if (!q) gb_error(GB_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return q;
}

void gb_free(void *p) {
    if (p) alloc.free_fn(p, alloc.user);
}

char *gb_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = gb_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
