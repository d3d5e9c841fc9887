/* calibration.c — how far confidence is from accuracy (Guo, Pleiss, Sun &
 * Weinberger 2017, "On calibration of modern neural networks"):
 *  - expected calibration error, eq. 3: sum_b |B_b|/n * |acc(B_b) - conf(B_b)|
 *    over equal-width confidence bins ((k/M, (k+1)/M], the first closed);
 *  - the reliability diagram of those bins, as SVG;
 *  - temperature scaling, sec. 4.2: the T minimizing the mean negative
 *    log-likelihood of softmax(z / T) on held-out logits, by golden-section
 *    search over log T (the NLL is convex in 1/T). */
#include "internal.h"
#include "eval/svg.h"

#include <math.h>

gb_status gb_calibration_ece(const float *conf, const int *correct, int64_t n, int nbins, double *ece,
                             gb_calibration_bin *bins) {
    if (n < 1 || nbins < 1) return gb_error(GB_ERR_ARG, "calibration: need examples and at least one bin");
    gb_calibration_bin *b = bins ? bins : gb_calloc((size_t)nbins, sizeof *b);
    if (!b) return GB_ERR_NOMEM;
    memset(b, 0, (size_t)nbins * sizeof *b);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)ceil((double)conf[i] * nbins) - 1; /* (k/M, (k+1)/M] */
        k = GB_MAX(0, GB_MIN(nbins - 1, k));
        b[k].count++;
        b[k].accuracy += correct[i] != 0;
        b[k].confidence += conf[i];
    }
    double e = 0;
    for (int k = 0; k < nbins; k++) {
        if (b[k].count) {
            b[k].accuracy /= (double)b[k].count;
            b[k].confidence /= (double)b[k].count;
        }
        e += (double)b[k].count / (double)n * fabs(b[k].accuracy - b[k].confidence);
    }
    if (!bins) gb_free(b);
    *ece = e;
    return GB_OK;
}

/* Mean NLL of softmax(z / T) over rows of logits (N, K). */
static double nll(const gb_tensor *logits, const int *labels, double T) {
    const int64_t N = logits->shape[0], K = logits->shape[1];
    double total = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits->data + n * K; // (K)
        double m = -INFINITY, s = 0;
        for (int64_t k = 0; k < K; k++) m = GB_MAX(m, z[k] / T);
        for (int64_t k = 0; k < K; k++) s += exp(z[k] / T - m);
        total += m + log(s) - z[labels[n]] / T;
    }
    return total / (double)N;
}

gb_status gb_temperature_fit(const gb_tensor *logits, const int *labels, float *T) {
    if (!logits || logits->ndim != 2 || logits->shape[0] < 1 || logits->shape[1] < 2)
        return gb_error(GB_ERR_ARG, "temperature scaling: logits must be (N, K) with N >= 1, K >= 2");
    for (int64_t n = 0; n < logits->shape[0]; n++)
        if (labels[n] < 0 || labels[n] >= logits->shape[1])
            return gb_error(GB_ERR_ARG, "temperature scaling: label %d of example %lld out of range", labels[n],
                            (long long)n);
    /* log T in [log 0.01, log 1000]; 60 golden-section steps shrink it below 1e-10. */
    const double g = (sqrt(5.0) - 1) / 2;
    double a = log(0.01), b = log(1000.0);
    double c = b - g * (b - a), d = a + g * (b - a);
    double fc = nll(logits, labels, exp(c)), fd = nll(logits, labels, exp(d));
    for (int it = 0; it < 60; it++) {
        if (fc < fd) {
            b = d, d = c, fd = fc;
            c = b - g * (b - a);
            fc = nll(logits, labels, exp(c));
        } else {
            a = c, c = d, fc = fd;
            d = a + g * (b - a);
            fd = nll(logits, labels, exp(d));
        }
    }
    *T = (float)exp((a + b) / 2);
    return GB_OK;
}

void gb_softmax_confidence(const gb_tensor *logits, float T, float *conf, int *pred) {
    const int64_t N = logits->shape[0], K = logits->shape[1];
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits->data + n * K; // (K)
        int best = 0;
        for (int64_t k = 1; k < K; k++)
            if (z[k] > z[best]) best = (int)k;
        double s = 0;
        for (int64_t k = 0; k < K; k++) s += exp(((double)z[k] - z[best]) / T);
        conf[n] = (float)(1.0 / s);
        if (pred) pred[n] = best;
    }
}

gb_status gb_reliability_svg(const char *path, const gb_calibration_bin *bins, int nbins, double ece,
                             const char *title) {
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    FILE *f = af.f;
    char head[256];
    snprintf(head, sizeof head, "%.200s (ECE %.4f)", title ? title : "reliability", ece);
    const gb_plot_frame fr = {60, 40, 340, 330, 0, 1, 0, 1}; /* frame and axes shared with every plot: eval/svg.c */
    gb_svg_begin(f, 420, 420, head);
    gb_svg_axes(f, &fr, 1, "confidence", "accuracy");
    for (int k = 0; k < nbins; k++) {
        if (!bins[k].count) continue;
        double x = gb_plot_x(&fr, (double)k / nbins), w = fr.W / nbins, ya = gb_plot_y(&fr, bins[k].accuracy),
               yc = gb_plot_y(&fr, bins[k].confidence);
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#3b6fb6\" stroke=\"white\"/>\n",
                x, ya, w, fr.T + fr.H - ya);
        /* the gap to perfect calibration, hatched in red */
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#d9534f\" fill-opacity=\"0.35\"/>\n",
                x, fmin(ya, yc), w, fabs(ya - yc));
    }
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n", fr.L,
            fr.T + fr.H, fr.L + fr.W, fr.T);
    fprintf(f, "</svg>\n");
    return gb_atomic_commit(&af);
}
