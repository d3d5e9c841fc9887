/* png.c — writes gb_image canvases as 8-bit RGB PNG through libpng's
 * simplified API (png.h, "SIMPLIFIED API"), atomically (temporary + rename). */
#include "internal.h"

#include <png.h>

gb_status gb_png_write(const char *path, const gb_image *im) {
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)im->w;
    img.height = (png_uint_32)im->h;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_stdio(&img, af.f, 0, im->rgb, (png_int_32)im->w * 3, NULL)) {
        gb_status s = gb_error(GB_ERR_IO, "%s: cannot write PNG: %s", path, img.message);
        png_image_free(&img);
        gb_atomic_abort(&af);
        return s;
    }
    return gb_atomic_commit(&af);
}
