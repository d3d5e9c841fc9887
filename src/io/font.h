/* font.h — the embedded bitmap font behind gb_image_text (private to src/io). */
#ifndef GB_FONT_H_
#define GB_FONT_H_

/* Every glyph fills a fixed cell; lines stack at the cell height. */
typedef struct gb_font {
    int w, h;
} gb_font;

extern const gb_font gb_font_mono;

/* Coverage 0..15 of pixel (gx, gy) of character ch's glyph; characters
 * outside ASCII 32..126 draw as '?'. */
int gb_font_coverage(int ch, int gx, int gy);

#endif
