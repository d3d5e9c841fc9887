/* image.c — an 8-bit RGB canvas for figures: tensors drawn as upscaled
 * pixels, text in the embedded font (font.c). Writing it out is png.c. */
#include "internal.h"
#include "io/font.h"

gb_image *gb_image_new(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
    /* 2^28 pixels (a 16k x 16k figure) is far beyond any sane figure. */
    if (w <= 0 || h <= 0 || (int64_t)w * h > ((int64_t)1 << 28)) {
        gb_error(GB_ERR_ARG, "image size %dx%d out of range", w, h);
        return NULL;
    }
    gb_image *im = gb_malloc(sizeof *im);
    if (!im) return NULL;
    size_t n = (size_t)w * (size_t)h;
    im->rgb = gb_malloc(n * 3);
    if (!im->rgb) {
        gb_free(im);
        return NULL;
    }
    im->w = w;
    im->h = h;
    for (size_t i = 0; i < n; i++) {
        im->rgb[3 * i] = r;
        im->rgb[3 * i + 1] = g;
        im->rgb[3 * i + 2] = b;
    }
    return im;
}

void gb_image_free(gb_image *im) {
    if (!im) return;
    gb_free(im->rgb);
    gb_free(im);
}

/* [lo, hi] -> 0..255, clamped. NaN shows as black; an empty range (a
 * perturbation that is all zero) shows as mid-grey rather than dividing by 0. */
static uint8_t to_byte(float v, float lo, float hi) {
    if (!(hi > lo)) return v < lo ? 0 : v > hi ? 255 : 128;
    float t = (v - lo) / (hi - lo);
    if (!(t > 0)) return 0;
    if (t >= 1) return 255;
    return (uint8_t)(t * 255 + 0.5f);
}

void gb_image_blit(gb_image *im, const float *chw, int c, int h, int w, float lo, float hi,
                   int x, int y, int scale) {
    GB_ASSERT(c == 1 || c == 3);
    GB_ASSERT(h >= 0 && w >= 0 && scale >= 1);
    /* Clip to the canvas in 64-bit so huge offsets or scales cannot overflow. */
    int64_t y0 = GB_MAX((int64_t)y, 0), y1 = GB_MIN((int64_t)y + (int64_t)h * scale, im->h);
    int64_t x0 = GB_MAX((int64_t)x, 0), x1 = GB_MIN((int64_t)x + (int64_t)w * scale, im->w);
    size_t plane = (size_t)h * (size_t)w;
    for (int64_t dy = y0; dy < y1; dy++) {
        const float *row = chw + (size_t)((dy - y) / scale) * (size_t)w;
        uint8_t *out = im->rgb + ((size_t)dy * (size_t)im->w + (size_t)x0) * 3;
        for (int64_t dx = x0; dx < x1; dx++, out += 3) {
            size_t sx = (size_t)((dx - x) / scale);
            for (int k = 0; k < 3; k++) out[k] = to_byte(row[(c == 1 ? 0 : k) * plane + sx], lo, hi);
        }
    }
}

/* Blends colour (r, g, b) over pixel (px, py) with coverage a/15. */
static void blend(gb_image *im, int64_t px, int64_t py, int a, const uint8_t col[3]) {
    if (px < 0 || py < 0 || px >= im->w || py >= im->h) return;
    uint8_t *p = im->rgb + ((size_t)py * (size_t)im->w + (size_t)px) * 3;
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)((p[k] * (15 - a) + col[k] * a + 7) / 15);
}

static void draw_glyph(gb_image *im, int64_t x, int64_t y, int ch, int px, const uint8_t col[3]) {
    for (int gy = 0; gy < gb_font_mono.h; gy++)
        for (int gx = 0; gx < gb_font_mono.w; gx++) {
            int a = gb_font_coverage(ch, gx, gy);
            if (!a) continue;
            for (int sy = 0; sy < px; sy++)
                for (int sx = 0; sx < px; sx++)
                    blend(im, x + (int64_t)gx * px + sx, y + (int64_t)gy * px + sy, a, col);
        }
}

/* Widest line of s in pixels; '\n' starts a new line. */
int gb_image_text_width(const char *s, int px) {
    GB_ASSERT(px >= 1);
    int64_t line = 0, widest = 0;
    for (; *s; s++) {
        if (*s == '\n') {
            line = 0;
            continue;
        }
        line += gb_font_mono.w;
        widest = GB_MAX(widest, line);
    }
    return (int)GB_MIN(widest * px, INT32_MAX);
}

int gb_image_text(gb_image *im, int x, int y, const char *s, int px, uint8_t r, uint8_t g,
                  uint8_t b) {
    GB_ASSERT(px >= 1);
    const uint8_t col[3] = {r, g, b};
    int64_t cx = x, cy = y;
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            cx = x;
            cy += (int64_t)gb_font_mono.h * px;
            continue;
        }
        draw_glyph(im, cx, cy, (unsigned char)*p, px, col);
        cx += (int64_t)gb_font_mono.w * px;
    }
    return gb_image_text_width(s, px);
}
