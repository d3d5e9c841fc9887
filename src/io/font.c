/* font.c — the bitmap font gb_image_text draws with: DejaVu Sans Mono
 * rasterized to 4-bit coverage by tools/gen_font.c (see there to regenerate
 * font_data.h). */
#include "internal.h"
#include "io/font.h"
#include "io/font_data.h"

const gb_font gb_font_mono = {GB_FONT_W, GB_FONT_H};

int gb_font_coverage(int ch, int gx, int gy) {
    GB_ASSERT(gx >= 0 && gx < GB_FONT_W && gy >= 0 && gy < GB_FONT_H);
    if (ch < 32 || ch > 126) ch = '?';
    char d = gb_font_glyphs[ch - 32][gy][gx];
    if (d >= '1' && d <= '9') return d - '0';
    if (d >= 'a' && d <= 'f') return d - 'a' + 10;
    return 0;
}
