/* printability.c — what makes a perturbation printable (Sharif et al. 2016,
 * sec. 4.3): the non-printability score against a palette of colours a
 * printer reproduces (eq. 3) and total variation for smoothness (eq. 2),
 * each with its gradient; and the palette file reader. */
#include "transforms/transforms.h"

#include <math.h>

gb_status gb_palette_load(const char *path, float **rgb, int *n) {
    *rgb = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return gb_error(GB_ERR_IO, "%s: cannot open palette", path);
    char line[256];
    int cap = 0, count = 0, lineno = 0;
    float *v = NULL;
    gb_status s = GB_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0) continue;
        int r, g, b;
        char extra[2];
        int got = sscanf(p, "%d %d %d %1s", &r, &g, &b, extra);
        if (got != 3 || r < 0 || g < 0 || b < 0 || r > 255 || g > 255 || b > 255) {
            s = gb_error(GB_ERR_FORMAT, "%s:%d: expected \"R G B\" with values 0-255", path, lineno);
            break;
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 32;
            float *nv = gb_realloc(v, (size_t)cap * 3 * sizeof *v);
            if (!nv) {
                s = GB_ERR_NOMEM;
                break;
            }
            v = nv;
        }
        v[3 * count] = r / 255.0f, v[3 * count + 1] = g / 255.0f, v[3 * count + 2] = b / 255.0f;
        count++;
    }
    fclose(f);
    if (!s && count == 0) s = gb_error(GB_ERR_FORMAT, "%s: palette has no colours", path);
    if (s) {
        gb_free(v);
        return s;
    }
    *rgb = v;
    *n = count;
    return GB_OK;
}

/* A small floor keeps sqrt differentiable where a pixel sits on a palette colour. */
#define NPS_EPS 1e-6

double gb_nps(const float *img, const float *mask, int c, int h, int w, const float *palette,
              int n, float *grad) {
    const int64_t hw = (int64_t)h * w;
    double total = 0;
    for (int64_t i = 0; i < hw; i++) {
        if (mask && !(mask[i] > 0)) continue;
        float px[3];
        for (int k = 0; k < 3; k++) px[k] = img[(c == 3 ? k : 0) * hw + i];
        double prod = 1, dsum[3] = {0, 0, 0};
        for (int p = 0; p < n; p++) {
            double d2 = NPS_EPS;
            for (int k = 0; k < 3; k++) d2 += ((double)px[k] - palette[3 * p + k]) * ((double)px[k] - palette[3 * p + k]);
            double d = sqrt(d2);
            prod *= d;
            /* d prod / d px = prod * sum_p (px - c_p) / d_p^2 */
            for (int k = 0; k < 3; k++) dsum[k] += ((double)px[k] - palette[3 * p + k]) / d2;
        }
        total += prod;
        if (grad)
            for (int k = 0; k < 3; k++) grad[(c == 3 ? k : 0) * hw + i] += (float)(prod * dsum[k]);
    }
    return total;
}

#define TV_EPS 1e-8

double gb_tv(const float *v, int c, int h, int w, float *grad) {
    double total = 0;
    for (int ch = 0; ch < c; ch++) {
        const float *p = v + (int64_t)ch * h * w;
        float *g = grad ? grad + (int64_t)ch * h * w : NULL;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                int64_t o = (int64_t)i * w + j;
                double a = i + 1 < h ? (double)p[o] - p[o + w] : 0;
                double b = j + 1 < w ? (double)p[o] - p[o + 1] : 0;
                double r = sqrt(a * a + b * b + TV_EPS);
                total += r;
                if (!g) continue;
                g[o] += (float)((a + b) / r);
                if (i + 1 < h) g[o + w] -= (float)(a / r);
                if (j + 1 < w) g[o + 1] -= (float)(b / r);
            }
    }
    return total;
}
