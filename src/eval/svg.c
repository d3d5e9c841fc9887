/* svg.c — line plots, grouped bars and heat maps as SVG 1.1 (see svg.h).
 * Ticks follow the usual "nice numbers" rule (1, 2, 5 x 10^k; Heckbert,
 * Graphics Gems I, 1990). Fonts are the viewer's sans-serif, so label widths
 * are estimated at 7 px per character of 12 px text. */
#include "eval/svg.h"

#include <math.h>

static const char *const palette[] = {"#c0392b", "#2e6fbd", "#27936a", "#8e44ad",
                                      "#d68910", "#16a0a8", "#7f8c8d", "#b03a7a"};

const char *gb_plot_color(int i) {
    int n = (int)(sizeof palette / sizeof *palette);
    return palette[((i % n) + n) % n];
}

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && c < 0xC2)) return 0; /* continuation byte or overlong */
    unsigned cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp == 0xFFFE || cp == 0xFFFF) return 0; /* not characters in XML */
    return n;
}

void gb_xml_escape(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    while (*s) {
        switch (*s) {
        case '&': fputs("&amp;", f); s++; continue;
        case '<': fputs("&lt;", f); s++; continue;
        case '>': fputs("&gt;", f); s++; continue;
        case '"': fputs("&quot;", f); s++; continue;
        case '\'': fputs("&#39;", f); s++; continue;
        default: break;
        }
        if (*s < 0x20 && *s != '\t' && *s != '\n') {
            s++;
            continue;
        }
        int n = utf8_len(s);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", f);
            s++;
        } else {
            fwrite(s, 1, (size_t)n, f);
            s += n;
        }
    }
}

int gb_plot_ticks(double lo, double hi, int target, double *ticks, int max) {
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || target < 1) {
        if (max > 0 && isfinite(lo)) ticks[0] = lo;
        return max > 0 && isfinite(lo) ? 1 : 0;
    }
    double raw = (hi - lo) / target, mag = pow(10, floor(log10(raw))), r = raw / mag;
    double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
    int n = 0;
    for (double k = ceil(lo / step - 1e-9); n < max; k++) {
        double v = k * step;
        if (v > hi + step * 1e-9) break;
        ticks[n++] = fabs(v) < step * 1e-9 ? 0 : v; /* no "-0" */
    }
    return n;
}

typedef gb_plot_frame frame;

double gb_plot_x(const frame *fr, double x) { return fr->L + fr->W * (x - fr->x0) / (fr->x1 - fr->x0); }
double gb_plot_y(const frame *fr, double y) { return fr->T + fr->H * (1 - (y - fr->y0) / (fr->y1 - fr->y0)); }

void gb_svg_begin(FILE *f, double w, double h, const char *title) {
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", w, h, w, h);
    fprintf(f, "<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n", w, h);
    if (title && *title) {
        fprintf(f, "<text x=\"%g\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">", w / 2);
        gb_xml_escape(f, title);
        fputs("</text>\n", f);
    }
}

static void text_at(FILE *f, double x, double y, const char *anchor, const char *extra, const char *s) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor, extra ? extra : "");
    gb_xml_escape(f, s);
    fputs("</text>\n", f);
}

/* Tick label: "%g" with at most 4 significant digits (0.05, 0.1, 1e+03). */
static void tick_label(char *buf, size_t n, double v) { snprintf(buf, n, "%.4g", v); }

void gb_svg_axes(FILE *f, const frame *fr, int xticks, const char *xlabel, const char *ylabel) {
    double t[32];
    char buf[32];
    int n = gb_plot_ticks(fr->y0, fr->y1, 5, t, 32);
    for (int i = 0; i < n; i++) {
        double y = gb_plot_y(fr, t[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", fr->L, y,
                fr->L + fr->W, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", fr->L - 4, y, fr->L, y);
        tick_label(buf, sizeof buf, t[i]);
        text_at(f, fr->L - 7, y + 4, "end", NULL, buf);
    }
    if (xticks) {
        n = gb_plot_ticks(fr->x0, fr->x1, 6, t, 32);
        for (int i = 0; i < n; i++) {
            double x = gb_plot_x(fr, t[i]), yb = fr->T + fr->H;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x, yb, x, yb + 4);
            tick_label(buf, sizeof buf, t[i]);
            text_at(f, x, yb + 17, "middle", NULL, buf);
        }
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", fr->L,
            fr->T, fr->W, fr->H);
    if (xlabel) text_at(f, fr->L + fr->W / 2, fr->T + fr->H + 36, "middle", NULL, xlabel);
    if (ylabel) {
        char rot[64];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 16 %.1f)\"", fr->T + fr->H / 2);
        text_at(f, 16, fr->T + fr->H / 2, "middle", rot, ylabel);
    }
}

/* Legend to the right of the plot area: a swatch (line or box) per entry. */
static void legend(FILE *f, const frame *fr, const char *const *names, int n, int boxes) {
    double x = fr->L + fr->W + 16, y = fr->T + 8;
    for (int i = 0; i < n; i++, y += 20) {
        if (boxes)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>\n", x, y - 9,
                    gb_plot_color(i));
        else
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n", x,
                    y - 4, x + 16, y - 4, gb_plot_color(i));
        text_at(f, x + 22, y, "start", NULL, names[i] ? names[i] : "");
    }
}

static void range_of(const double *v, int n, double *lo, double *hi) {
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) *lo = fmin(*lo, v[i]), *hi = fmax(*hi, v[i]);
}

/* Pads an empty or degenerate range so the mapping divides by a width > 0. */
static void fix_range(double *lo, double *hi) {
    if (!isfinite(*lo) || !isfinite(*hi)) *lo = 0, *hi = 1;
    if (*hi <= *lo) {
        double pad = *lo == 0 ? 1 : fabs(*lo) * 0.1;
        *lo -= pad, *hi += pad;
    }
}

gb_status gb_svg_line_plot(FILE *f, const gb_line_plot *p) {
    if (p->nseries < 0 || (p->nseries > 0 && !p->series)) return gb_error(GB_ERR_ARG, "line plot: no series array");
    for (int s = 0; s < p->nseries; s++)
        if (p->series[s].n < 0 || (p->series[s].n > 0 && (!p->series[s].x || !p->series[s].y)))
            return gb_error(GB_ERR_ARG, "line plot: series %d has no points array", s);
    const double W = p->width > 0 ? p->width : 640, H = p->height > 0 ? p->height : 360;
    frame fr = {70, 36, W - 70 - 190, H - 36 - 52, p->xmin, p->xmax, p->ymin, p->ymax};
    if (!(fr.x1 > fr.x0)) {
        fr.x0 = INFINITY, fr.x1 = -INFINITY;
        for (int s = 0; s < p->nseries; s++) range_of(p->series[s].x, p->series[s].n, &fr.x0, &fr.x1);
    }
    if (!(fr.y1 > fr.y0)) {
        fr.y0 = INFINITY, fr.y1 = -INFINITY;
        for (int s = 0; s < p->nseries; s++) range_of(p->series[s].y, p->series[s].n, &fr.y0, &fr.y1);
        if (isfinite(p->hline)) fr.y0 = fmin(fr.y0, p->hline), fr.y1 = fmax(fr.y1, p->hline);
    }
    fix_range(&fr.x0, &fr.x1);
    fix_range(&fr.y0, &fr.y1);
    gb_svg_begin(f, W, H, p->title);
    gb_svg_axes(f, &fr, 1, p->xlabel, p->ylabel);
    if (isfinite(p->hline) && p->hline >= fr.y0 && p->hline <= fr.y1) {
        double y = gb_plot_y(&fr, p->hline);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"5 4\"/>\n",
                fr.L, y, fr.L + fr.W, y);
        if (p->hline_label) text_at(f, fr.L + fr.W - 4, y - 5, "end", " fill=\"#666\"", p->hline_label);
    }
    for (int s = 0; s < p->nseries; s++) {
        const gb_plot_series *sr = &p->series[s];
        const char *col = gb_plot_color(s);
        /* one polyline per run of finite points */
        int open = 0;
        for (int i = 0; i < sr->n; i++) {
            int ok = isfinite(sr->x[i]) && isfinite(sr->y[i]);
            if (ok && !open) fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col), open = 1;
            if (ok) fprintf(f, "%.2f,%.2f ", gb_plot_x(&fr, sr->x[i]), gb_plot_y(&fr, sr->y[i]));
            if (!ok && open) fputs("\"/>\n", f), open = 0;
        }
        if (open) fputs("\"/>\n", f);
        for (int i = 0; i < sr->n; i++) {
            if (!isfinite(sr->x[i]) || !isfinite(sr->y[i])) continue;
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\"><title>", gb_plot_x(&fr, sr->x[i]),
                    gb_plot_y(&fr, sr->y[i]), col);
            gb_xml_escape(f, sr->name);
            fprintf(f, ": x = %.4g, y = %.4g</title></circle>\n", sr->x[i], sr->y[i]);
        }
    }
    const char *names[64];
    int nn = GB_MIN(p->nseries, 64);
    for (int s = 0; s < nn; s++) names[s] = p->series[s].name;
    legend(f, &fr, names, nn, 0);
    fputs("</svg>\n", f);
    return GB_OK;
}

gb_status gb_svg_bar_plot(FILE *f, const gb_bar_plot *p) {
    if (p->ncat < 0 || p->ngroups < 0 || (p->ncat * p->ngroups > 0 && (!p->values || !p->categories || !p->groups)))
        return gb_error(GB_ERR_ARG, "bar plot: missing categories, groups or values");
    const double W = p->width > 0 ? p->width : 640, H = p->height > 0 ? p->height : 320;
    frame fr = {70, 36, W - 70 - 190, H - 36 - 52, 0, 1, 0, p->ymax};
    if (!(fr.y1 > 0)) {
        double lo = 0, hi = 0;
        range_of(p->values, p->ncat * p->ngroups, &lo, &hi);
        double t[32];
        int n = gb_plot_ticks(0, hi > 0 ? hi : 1, 5, t, 32);
        /* round the top up to the next tick so the highest bar sits under a labelled line */
        double step = n > 1 ? t[1] - t[0] : 1;
        fr.y1 = ceil((hi > 0 ? hi : 1) / step - 1e-9) * step;
    }
    gb_svg_begin(f, W, H, p->title);
    gb_svg_axes(f, &fr, 0, p->xlabel, p->ylabel);
    const double cw = fr.W / GB_MAX(p->ncat, 1), bw = cw * 0.8 / GB_MAX(p->ngroups, 1);
    /* Category labels: skip some when they would overlap. */
    int every = 1;
    for (int c = 0; c < p->ncat; c++) {
        int len = (int)strlen(p->categories[c] ? p->categories[c] : "");
        while (len * 7.0 > cw * every * 0.95 && every < p->ncat) every++;
    }
    for (int c = 0; c < p->ncat; c++) {
        for (int g = 0; g < p->ngroups; g++) {
            double v = p->values[(size_t)g * p->ncat + c];
            if (!isfinite(v)) continue;
            double y = gb_plot_y(&fr, fmin(fmax(v, 0), fr.y1)), x = fr.L + cw * c + cw * 0.1 + bw * g;
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>", x, y, bw,
                    fr.T + fr.H - y, gb_plot_color(g));
            gb_xml_escape(f, p->groups[g]);
            fputs(", ", f);
            gb_xml_escape(f, p->categories[c]);
            fprintf(f, ": %.4g</title></rect>\n", v);
        }
        if (c % every == 0) text_at(f, fr.L + cw * (c + 0.5), fr.T + fr.H + 17, "middle", NULL, p->categories[c]);
    }
    legend(f, &fr, p->groups, GB_MIN(p->ngroups, 64), 1);
    fputs("</svg>\n", f);
    return GB_OK;
}

static int max_label(const char *const *s, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) m = GB_MAX(m, (int)strlen(s[i] ? s[i] : ""));
    return m;
}

/* t in [0,1] from white to deep blue (#1f4e91), as "#rrggbb" in buf[8]. */
static const char *heat_color(double t, char *buf) {
    snprintf(buf, 8, "#%02x%02x%02x", (int)lround(255 - t * 224) & 255, (int)lround(255 - t * 177) & 255,
             (int)lround(255 - t * 110) & 255);
    return buf;
}

gb_status gb_svg_heatmap(FILE *f, const gb_heatmap *p) {
    if (p->nrows < 0 || p->ncols < 0 || (p->nrows * p->ncols > 0 && (!p->values || !p->rows || !p->cols)))
        return gb_error(GB_ERR_ARG, "heat map: missing rows, columns or values");
    double lo = p->vmin, hi = p->vmax;
    if (!(hi > lo)) {
        lo = INFINITY, hi = -INFINITY;
        range_of(p->values, p->nrows * p->ncols, &lo, &hi);
        fix_range(&lo, &hi);
    }
    const double cell = 64, left = 24 + 7.0 * GB_MIN(max_label(p->rows, p->nrows), 40);
    const double top = 40 + 5.5 * GB_MIN(max_label(p->cols, p->ncols), 40) + 12;
    const double W = left + cell * p->ncols + 110, H = top + cell * p->nrows + 50;
    gb_svg_begin(f, W, H, p->title);
    for (int c = 0; c < p->ncols; c++) {
        char rot[96];
        double x = left + cell * (c + 0.5), y = top - 8;
        snprintf(rot, sizeof rot, " transform=\"rotate(-40 %.1f %.1f)\"", x, y);
        text_at(f, x, y, "start", rot, p->cols[c]);
    }
    char buf[64], col[8];
    for (int r = 0; r < p->nrows; r++) {
        double y = top + cell * r;
        text_at(f, left - 8, y + cell / 2 + 4, "end", NULL, p->rows[r]);
        for (int c = 0; c < p->ncols; c++) {
            double v = p->values[(size_t)r * p->ncols + c], x = left + cell * c;
            if (!isfinite(v)) {
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%g\" height=\"%g\" fill=\"#eeeeee\" stroke=\"white\"/>\n",
                        x, y, cell, cell);
                text_at(f, x + cell / 2, y + cell / 2 + 4, "middle", " fill=\"#999\"", "n/a");
                continue;
            }
            /* light cells take black text, dark ones white */
            double t = fmin(fmax((v - lo) / (hi - lo), 0), 1);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%g\" height=\"%g\" fill=\"%s\" stroke=\"white\"><title>",
                    x, y, cell, cell, heat_color(t, col));
            gb_xml_escape(f, p->rows[r]);
            fputs(" \xE2\x86\x92 ", f);
            gb_xml_escape(f, p->cols[c]);
            fprintf(f, ": %.4g</title></rect>\n", v);
            if (p->format) {
                snprintf(buf, sizeof buf, p->format, v);
                text_at(f, x + cell / 2, y + cell / 2 + 4, "middle", t > 0.55 ? " fill=\"white\"" : NULL, buf);
            }
        }
    }
    if (p->xlabel) text_at(f, left + cell * p->ncols / 2, top + cell * p->nrows + 24, "middle", NULL, p->xlabel);
    if (p->ylabel) {
        char rot[64];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 14 %.1f)\"", top + cell * p->nrows / 2);
        text_at(f, 14, top + cell * p->nrows / 2, "middle", rot, p->ylabel);
    }
    /* colour scale */
    double sx = left + cell * p->ncols + 24, sh = GB_MAX(cell * p->nrows, 60);
    /* (stacked steps rather than a gradient: no ids that could clash when
     * several maps share one HTML page) */
    for (int k = 0; k < 20; k++) {
        double t = (k + 0.5) / 20;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"14\" height=\"%.2f\" fill=\"%s\"/>\n", sx,
                top + sh * (19 - k) / 20, sh / 20 + 0.5, heat_color(t, col));
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", sx,
            top, sh);
    tick_label(buf, sizeof buf, hi);
    text_at(f, sx + 20, top + 10, "start", NULL, buf);
    tick_label(buf, sizeof buf, lo);
    text_at(f, sx + 20, top + sh, "start", NULL, buf);
    fputs("</svg>\n", f);
    return GB_OK;
}
