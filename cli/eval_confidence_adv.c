/* eval_confidence_adv.c — the adversarial half of `gibbon eval --confidence`:
 * how confident the model is on FGSM examples (Goodfellow et al. 2015: the
 * panda at 57.7% becomes a gibbon at 99.3%). On the evaluation images it
 * runs FGSM at --adv-eps and reports the calibration on the adversarial
 * inputs (ECE, reliability_adversarial.svg), the mean confidence of the
 * clean predictions and of the adversarial predictions that fool the model,
 * and the confidence histograms (10 equal bins) of the clean predictions, of
 * all adversarial ones and of those that fool it, in confidence.json and
 * drawn in confidence_hist.svg — a model that fails gracefully would be
 * unsure exactly where it is wrong. */
#include "cli.h"

#include "eval_confidence_adv.h"

#include <stdlib.h>
#include <string.h>

#include "eval/svg.h"

enum { HBINS = 10, RBINS = 15 };

static void hist(const float *conf, const int *sel, int64_t n, int64_t *h) {
    for (int b = 0; b < HBINS; b++) h[b] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sel && !sel[i]) continue;
        int b = (int)(conf[i] * HBINS);
        h[b < 0 ? 0 : b >= HBINS ? HBINS - 1 : b]++;
    }
}

/* The three histograms as fractions of their own series (the fooled ones are
 * fewer), side by side per bin, into out/confidence_hist.svg atomically. */
static gb_status hist_svg(const char *path, const int64_t *const h[3], const int64_t count[3], float eps) {
    static const char *const what[3] = {"clean", "FGSM, all", "FGSM, fooled"};
    char cat[HBINS][16], grp[3][48], title[96];
    const char *cats[HBINS], *groups[3];
    double v[3 * HBINS];
    for (int b = 0; b < HBINS; b++) {
        snprintf(cat[b], sizeof cat[b], "%.1f-%.1f", (double)b / HBINS, (double)(b + 1) / HBINS);
        cats[b] = cat[b];
    }
    for (int g = 0; g < 3; g++) {
        snprintf(grp[g], sizeof grp[g], "%s (%lld)", what[g], (long long)count[g]);
        groups[g] = grp[g];
        for (int b = 0; b < HBINS; b++) v[g * HBINS + b] = count[g] ? (double)h[g][b] / (double)count[g] : 0;
    }
    snprintf(title, sizeof title, "Confidence of the prediction, clean vs FGSM at eps = %g", (double)eps);
    gb_bar_plot bp = {title, "softmax probability of the predicted class", "fraction of the series", cats, HBINS,
                      groups, 3, v, 0, 720, 320};
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    gb_status s = gb_svg_bar_plot(af.f, &bp);
    if (s) {
        gb_atomic_abort(&af);
        return s;
    }
    return gb_atomic_commit(&af);
}

static void json_hist(FILE *js, const char *name, const int64_t *h) {
    fprintf(js, "    \"%s\": [", name);
    for (int b = 0; b < HBINS; b++) fprintf(js, "%lld%s", (long long)h[b], b + 1 < HBINS ? ", " : "");
    fprintf(js, "]");
}

int eval_confidence_adv(gb_model *m, const gb_tensor *x, const int *y, float eps, int batch, uint64_t seed,
                        const char *out, FILE *js) {
    const int64_t n = x->shape[0], per = x->size / (n ? n : 1);
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    a.eps = eps;
    a.seed = seed;
    int *ok = malloc((size_t)n * sizeof *ok), *fooled = malloc((size_t)n * sizeof *fooled);
    int *cpred = malloc((size_t)n * sizeof *cpred), *apred = malloc((size_t)n * sizeof *apred);
    float *cconf = malloc((size_t)n * sizeof *cconf), *aconf = malloc((size_t)n * sizeof *aconf);
    int rc = 0;
    if (!ok || !fooled || !cpred || !apred || !cconf || !aconf) {
        fprintf(stderr, "gibbon eval: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int64_t start = 0; start < n; start += batch) { /* gb_attack_run holds a whole batch's activations */
        gb_tensor v = *x;
        v.shape[0] = n - start < batch ? n - start : batch;
        v.size = v.shape[0] * per;
        v.data = x->data + start * per;
        v.cap = 0;
        gb_attack_result r;
        if (gb_attack_run(&a, m, &v, y + start, NULL, &r)) {
            rc = cli_fail("--confidence: FGSM");
            goto done;
        }
        size_t k = (size_t)r.n;
        memcpy(cpred + start, r.clean_pred, k * sizeof *cpred);
        memcpy(apred + start, r.adv_pred, k * sizeof *apred);
        memcpy(cconf + start, r.clean_conf, k * sizeof *cconf);
        memcpy(aconf + start, r.adv_conf, k * sizeof *aconf);
        gb_attack_result_free(&r);
    }
    double clean_mean = 0, fooled_mean = 0, ece;
    int64_t nfooled = 0, right = 0, hc[HBINS], hall[HBINS], ha[HBINS];
    for (int64_t i = 0; i < n; i++) {
        ok[i] = apred[i] == y[i];
        right += ok[i];
        /* Fooled: right on the clean image, wrong on its adversarial version. */
        fooled[i] = cpred[i] == y[i] && !ok[i];
        clean_mean += cconf[i];
        if (fooled[i]) fooled_mean += aconf[i], nfooled++;
    }
    clean_mean /= (double)n;
    fooled_mean = nfooled ? fooled_mean / (double)nfooled : 0;
    gb_calibration_bin bins[RBINS];
    char path[4200], title[64];
    gb_calibration_ece(aconf, ok, n, RBINS, &ece, bins);
    snprintf(path, sizeof path, "%s/reliability_adversarial.svg", out);
    snprintf(title, sizeof title, "FGSM, eps = %g", (double)eps);
    if (gb_reliability_svg(path, bins, RBINS, ece, title)) {
        rc = cli_fail("");
        goto done;
    }
    hist(cconf, NULL, n, hc);
    hist(aconf, NULL, n, hall);
    hist(aconf, fooled, n, ha);
    snprintf(path, sizeof path, "%s/confidence_hist.svg", out);
    if (hist_svg(path, (const int64_t *const[3]){hc, hall, ha}, (const int64_t[3]){n, n, nfooled}, eps)) {
        rc = cli_fail("");
        goto done;
    }
    printf("FGSM eps %g: accuracy %.4f, ECE %.4f; mean confidence clean %.4f, fooled adversarial %.4f (%lld)\n",
           (double)eps, (double)right / (double)n, ece, clean_mean, fooled_mean, (long long)nfooled);
    fprintf(js, ",\n  \"adversarial\": {\n    \"attack\": \"fgsm\",\n    \"eps\": %g,\n    \"accuracy\": %.6f,\n",
            (double)eps, (double)right / (double)n);
    fprintf(js, "    \"ece\": %.6f,\n    \"mean_conf_clean\": %.6f,\n    \"mean_conf_fooled\": %.6f,\n", ece,
            clean_mean, fooled_mean);
    fprintf(js, "    \"fooled\": %lld,\n", (long long)nfooled);
    json_hist(js, "hist_clean", hc);
    fprintf(js, ",\n");
    json_hist(js, "hist_adversarial", hall);
    fprintf(js, ",\n");
    json_hist(js, "hist_fooled", ha);
    fprintf(js, "\n  }");
done:
    free(ok);
    free(fooled);
    free(cpred);
    free(apred);
    free(cconf);
    free(aconf);
    return rc;
}
