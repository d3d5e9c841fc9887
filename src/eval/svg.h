/* svg.h — the plots gibbon draws as inline SVG: line plots with several
 * series, grouped bars (histograms, comparisons) and heat maps, with axes,
 * ticks, labels and legends. Private to libgibbon: the report (report.c)
 * and the reliability diagram (calibration.c) use it.
 *
 * Every function writes one complete <svg> element to f; every string is
 * XML-escaped, so titles and names may come from files. Write errors show up
 * on f (ferror), as for any stdio output. */
#ifndef GB_SVG_H_
#define GB_SVG_H_

#include "internal.h"

/* Writes s escaped for XML and HTML text and attribute values: & < > " '
 * become entities, control characters other than tab and newline (not
 * allowed in XML 1.0) are dropped, and bytes that are not valid UTF-8 become
 * U+FFFD, so the output always parses. */
void gb_xml_escape(FILE *f, const char *s);

/* The i-th colour of the palette shared by every plot ("#rrggbb"). */
const char *gb_plot_color(int i);

/* Tick positions for an axis over [lo, hi]: multiples of 1, 2 or 5 x 10^k,
 * about `target` of them; returns the count (at most max) and fills ticks. */
int gb_plot_ticks(double lo, double hi, int target, double *ticks, int max);

/* The plot area of an SVG being drawn (pixels) and the data ranges it shows. */
typedef struct gb_plot_frame {
    double L, T, W, H;     /* left, top, width, height */
    double x0, x1, y0, y1; /* data at the left, right, bottom, top edges */
} gb_plot_frame;
/* Pixel position of data x, y (y grows upwards). */
double gb_plot_x(const gb_plot_frame *fr, double x);
double gb_plot_y(const gb_plot_frame *fr, double y);
/* Opens an <svg> of w x h pixels on white, with a bold title (may be NULL);
 * the caller draws and closes it with "</svg>". */
void gb_svg_begin(FILE *f, double w, double h, const char *title);
/* The frame, a light horizontal grid, y ticks with labels (and x ticks when
 * xticks), and the axis labels (may be NULL). */
void gb_svg_axes(FILE *f, const gb_plot_frame *fr, int xticks, const char *xlabel, const char *ylabel);

typedef struct gb_plot_series {
    const char *name;
    const double *x, *y; /* n points; NAN y values break the line */
    int n;
} gb_plot_series;

typedef struct gb_line_plot {
    const char *title, *xlabel, *ylabel;
    const gb_plot_series *series;
    int nseries;
    double xmin, xmax, ymin, ymax; /* axis ranges; min == max: from the data */
    double hline;                  /* a dashed reference line at this y (NAN: none) */
    const char *hline_label;
    int width, height; /* pixels, legend included (0: 640 x 360) */
} gb_line_plot;
/* GB_ERR_ARG when a series has n < 0 or NULL arrays with n > 0. */
gb_status gb_svg_line_plot(FILE *f, const gb_line_plot *p);

typedef struct gb_bar_plot {
    const char *title, *xlabel, *ylabel;
    const char *const *categories; /* ncat labels along x */
    int ncat;
    const char *const *groups; /* ngroups legend entries: one bar per group in each category */
    int ngroups;
    const double *values; /* (ngroups, ncat), row-major; NAN: no bar */
    double ymax;          /* top of the y axis (0: from the data) */
    int width, height;    /* 0: 640 x 320 */
} gb_bar_plot;
gb_status gb_svg_bar_plot(FILE *f, const gb_bar_plot *p);

typedef struct gb_heatmap {
    const char *title, *xlabel, *ylabel;
    const char *const *rows; /* nrows labels, top to bottom */
    int nrows;
    const char *const *cols; /* ncols labels, left to right */
    int ncols;
    const double *values; /* (nrows, ncols), row-major; NAN: missing (grey, "n/a") */
    double vmin, vmax;    /* ends of the colour scale (equal: from the data) */
    const char *format;   /* printf format of the number in each cell ("%.2f"); NULL: none */
} gb_heatmap;
gb_status gb_svg_heatmap(FILE *f, const gb_heatmap *p);

#endif
