/* cli_physical.c — output pieces shared by `gibbon patch` and `gibbon
 * sticker`: class lookup by number or name, a captioned image grid (the
 * attacked examples under sampled transformations, predictions in red when
 * the attack holds), and a one-curve SVG plot. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "internal.h"

const char *cli_class_name(const gb_dataset *d, int k, char *buf, size_t n) {
    if (d && d->class_names && k >= 0 && k < d->num_classes) return d->class_names[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

int cli_parse_class(const gb_dataset *d, const char *s, int num_classes, int *k) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && !*end) {
        if (v < 0 || v >= num_classes) return -1;
        *k = (int)v;
        return 0;
    }
    for (int i = 0; d && d->class_names && i < d->num_classes; i++)
        if (strcasecmp(d->class_names[i], s) == 0) {
            *k = i;
            return 0;
        }
    return -1;
}

gb_status cli_write_grid(const char *path, int c, int h, int w, const cli_cell *cells, int rows, int cols,
                         const char *title) {
    const int scale = GB_MAX(1, 84 / GB_MAX(h, w)), cw = GB_MAX(w * scale, 84) + 10;
    const int top = title ? 22 : 4, ch = h * scale + 30;
    gb_image *im = gb_image_new(GB_MAX(cw * cols, 1), top + ch * rows, 255, 255, 255);
    if (!im) return GB_ERR_NOMEM;
    if (title) gb_image_text(im, 4, 4, title, 1, 0, 0, 0);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            const cli_cell *cell = &cells[r * cols + k];
            if (!cell->chw) continue;
            int x = k * cw + 5, y = top + r * ch;
            gb_image_blit(im, cell->chw, c, h, w, 0, 1, x, y, scale);
            gb_image_text(im, x, y + h * scale + 4, cell->caption, 1, cell->hit ? 200 : 0, 0, 0);
        }
    gb_status s = gb_png_write(path, im);
    gb_image_free(im);
    return s;
}

gb_status cli_write_png(const char *path, const float *chw, int c, int h, int w, int scale) {
    gb_image *im = gb_image_new(w * scale, h * scale, 255, 255, 255);
    if (!im) return GB_ERR_NOMEM;
    gb_image_blit(im, chw, c, h, w, 0, 1, 0, 0, scale);
    gb_status s = gb_png_write(path, im);
    gb_image_free(im);
    return s;
}

gb_status cli_write_curve_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                              const double *xs, const double *ys, int n) {
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    FILE *f = af.f;
    const double Wd = 520, Ht = 340, L = 60, R = 20, T = 40, B = 50, pw = Wd - L - R, ph = Ht - T - B;
    double xmax = 0;
    for (int i = 0; i < n; i++) xmax = fmax(xmax, xs[i]);
    if (!(xmax > 0)) xmax = 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", Wd, Ht);
    fprintf(f, "<text x=\"%g\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n", Wd / 2, title);
    for (int t = 0; t <= 4; t++) {
        double fy = t / 4.0, fx = xmax * t / 4.0;
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.2f</text>\n", L - 5, T + ph * (1 - fy) + 4, fy);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%.3g</text>\n", L + pw * t / 4.0, T + ph + 16, fx);
    }
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n", L + pw / 2, Ht - 12, xlabel);
    fprintf(f, "<text x=\"14\" y=\"%g\" transform=\"rotate(-90 14 %g)\" text-anchor=\"middle\">%s</text>\n",
            T + ph / 2, T + ph / 2, ylabel);
    fputs("<polyline fill=\"none\" stroke=\"#2c6fbb\" stroke-width=\"2\" points=\"", f);
    for (int i = 0; i < n; i++) fprintf(f, "%.1f,%.1f ", L + pw * xs[i] / xmax, T + ph * (1 - ys[i]));
    fputs("\"/>\n", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#2c6fbb\"><title>%g: %.4f</title></circle>\n",
                L + pw * xs[i] / xmax, T + ph * (1 - ys[i]), xs[i], ys[i]);
    fputs("</svg>\n", f);
    return gb_atomic_commit(&af);
}
