/* png.c — writes gb_image canvases as 8-bit RGB PNG through libpng's
 * simplified API (png.h, "SIMPLIFIED API"), atomically (temporary + rename). */
#include "io/png.h"

#include <png.h>

/* The simplified API's description of an 8-bit RGB canvas. */
static png_image describe(const gb_image *im) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)im->w;
    img.height = (png_uint_32)im->h;
    img.format = PNG_FORMAT_RGB;
    return img;
}

gb_status gb_png_write(const char *path, const gb_image *im) {
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    png_image img = describe(im);
    if (!png_image_write_to_stdio(&img, af.f, 0, im->rgb, (png_int_32)im->w * 3, NULL)) {
        gb_status s = gb_error(GB_ERR_IO, "%s: cannot write PNG: %s", path, img.message);
        png_image_free(&img);
        gb_atomic_abort(&af);
        return s;
    }
    return gb_atomic_commit(&af);
}

gb_status gb_png_encode(const gb_image *im, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    png_image img = describe(im);
    /* First call sizes the buffer (libpng's documented two-pass use). */
    png_alloc_size_t n = 0;
    if (!png_image_write_to_memory(&img, NULL, &n, 0, im->rgb, (png_int_32)im->w * 3, NULL))
        return gb_error(GB_ERR_IO, "cannot encode PNG: %s", img.message);
    unsigned char *b = gb_malloc(n);
    if (!b) return GB_ERR_NOMEM;
    if (!png_image_write_to_memory(&img, b, &n, 0, im->rgb, (png_int_32)im->w * 3, NULL)) {
        gb_free(b);
        return gb_error(GB_ERR_IO, "cannot encode PNG: %s", img.message);
    }
    *buf = b;
    *len = n;
    return GB_OK;
}
