/* figure.c — the panda figure for any model: clean + eps * perturbation =
 * adversarial, captioned with classes and confidences. */
#include "eval/figure.h"

#include <math.h>

gb_status gb_figure_render(int c, int h, int w, gb_figure_panel clean, gb_figure_panel adv, float eps,
                           const char *title, const char *middle, gb_image **out) {
    *out = NULL;
    if (c != 1 && c != 3) return gb_error(GB_ERR_ARG, "figure: images must have 1 or 3 channels");
    if (!(eps > 0)) return gb_error(GB_ERR_ARG, "figure: eps must be positive");
    /* Upscale small images so a person can see them (28 px -> 224 px). */
    int scale = GB_MAX(1, 224 / GB_MAX(h, w));
    const int pw = w * scale, ph = h * scale, gap = 64, margin = 24, text = 2;
    const int line = 13 * text + 6, title_h = title ? line + 12 : 0;
    const int W = 2 * margin + 3 * pw + 2 * gap, H = margin + title_h + ph + 12 + 2 * line + margin;
    gb_image *im = gb_image_new(W, H, 255, 255, 255);
    size_t n = (size_t)c * h * w;
    float *delta = gb_malloc(n * sizeof(float));
    if (!im || !delta) {
        gb_image_free(im);
        gb_free(delta);
        return GB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) delta[i] = 0.5f + 0.5f * (adv.chw[i] - clean.chw[i]) / eps;
    int y0 = margin + title_h;
    if (title) gb_image_text(im, (W - gb_image_text_width(title, text)) / 2, margin, title, text, 0, 0, 0);
    int x[3] = {margin, margin + pw + gap, margin + 2 * (pw + gap)};
    gb_image_blit(im, clean.chw, c, h, w, 0, 1, x[0], y0, scale);
    gb_image_blit(im, delta, c, h, w, 0, 1, x[1], y0, scale);
    gb_image_blit(im, adv.chw, c, h, w, 0, 1, x[2], y0, scale);
    gb_free(delta);

    char buf[128];
    int big = 4, sy = y0 + ph / 2 - 13 * big / 2;
    gb_image_text(im, x[1] - gap + (gap - gb_image_text_width("+", big)) / 2, sy, "+", big, 0, 0, 0);
    gb_image_text(im, x[2] - gap + (gap - gb_image_text_width("=", big)) / 2, sy, "=", big, 0, 0, 0);

    const gb_figure_panel *panels[2] = {&clean, &adv};
    const int px[2] = {x[0], x[2]};
    for (int k = 0; k < 2; k++) {
        int ty = y0 + ph + 12;
        snprintf(buf, sizeof buf, "\"%s\"", panels[k]->label);
        gb_image_text(im, px[k] + (pw - gb_image_text_width(buf, text)) / 2, ty, buf, text, 0, 0, 0);
        snprintf(buf, sizeof buf, "%.1f%% confidence", 100 * panels[k]->confidence);
        gb_image_text(im, px[k] + (pw - gb_image_text_width(buf, text)) / 2, ty + line, buf, text,
                      k ? 200 : 0, 0, 0);
    }
    /* The middle panel shows (adv - clean) / eps: for FGSM exactly sign(grad),
     * except where clipping to [0,1] shortened the step. */
    snprintf(buf, sizeof buf, "%.3g x", eps);
    gb_image_text(im, x[1] + (pw - gb_image_text_width(buf, text)) / 2, y0 + ph + 12, buf, text, 0, 0, 0);
    gb_image_text(im, x[1] + (pw - gb_image_text_width(middle, text)) / 2, y0 + ph + 12 + line, middle, text, 0,
                  0, 0);
    *out = im;
    return GB_OK;
}

gb_status gb_figure_adversarial(const char *path, int c, int h, int w, gb_figure_panel clean,
                                gb_figure_panel adv, float eps, const char *title) {
    gb_image *im;
    GB_TRY(gb_figure_render(c, h, w, clean, adv, eps, title, "sign(grad_x J)", &im));
    gb_status s = gb_png_write(path, im);
    gb_image_free(im);
    return s;
}
