/* cmd_certify.c — `gibbon certify`: randomized smoothing (Cohen et al.
 * 2019). Per example, CERTIFY's class and certified L2 radius (or an
 * abstention) and, with --predict, PREDICT's answer; then certified accuracy
 * against radius (the fraction of examples whose certified class is right
 * with a radius at least r) as CSV and SVG, and a summary JSON. */
#include "cli.h"
#include "eval/svg.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>

enum { NRADII = 41 };

static gb_status write_outputs(const char *out, const char *model, const char *data, const gb_dataset *d,
                               int64_t n, const gb_smooth_params *p, const int *pred, const double *radius,
                               const double *pa, const int *ppred, double time_s) {
    char path[4200];
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/certify.csv", out);
    GB_TRY(gb_atomic_open(&af, path));
    fprintf(af.f, "index,label,predict,radius,pa_lower,correct%s\n", ppred ? ",smoothed_predict" : "");
    for (int64_t i = 0; i < n; i++) {
        fprintf(af.f, "%lld,%d,%d,%.6f,%.8f,%d", (long long)i, d->labels[i], pred[i], radius[i], pa[i],
                pred[i] == d->labels[i]);
        if (ppred) fprintf(af.f, ",%d", ppred[i]);
        fputc('\n', af.f);
    }
    GB_TRY(gb_atomic_commit(&af));

    /* Certified accuracy at r: correct and certified with radius >= r. */
    double rmax = 0, rs[NRADII], acc[NRADII];
    for (int64_t i = 0; i < n; i++) rmax = fmax(rmax, radius[i]);
    rmax = rmax > 0 ? ceil(rmax * 4) / 4 : 1;
    for (int k = 0; k < NRADII; k++) {
        rs[k] = rmax * k / (NRADII - 1);
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) c += pred[i] == d->labels[i] && radius[i] >= rs[k];
        acc[k] = (double)c / (double)n;
    }
    snprintf(path, sizeof path, "%s/certified_accuracy.csv", out);
    GB_TRY(gb_atomic_open(&af, path));
    fprintf(af.f, "radius,certified_accuracy\n");
    for (int k = 0; k < NRADII; k++) fprintf(af.f, "%.6f,%.6f\n", rs[k], acc[k]);
    GB_TRY(gb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/certified_accuracy.svg", out);
    GB_TRY(gb_atomic_open(&af, path));
    char title[128];
    snprintf(title, sizeof title, "Randomized smoothing, sigma = %g (n = %lld)", (double)p->sigma, (long long)n);
    gb_plot_series series = {"certified accuracy", rs, acc, NRADII};
    gb_line_plot lp = {title, "L2 radius (pixels in [0,1])", "certified accuracy", &series, 1, 0, rmax, 0, 1, NAN,
                       NULL, 0, 0};
    gb_status s = gb_svg_line_plot(af.f, &lp);
    if (s) {
        gb_atomic_abort(&af);
        return s;
    }
    GB_TRY(gb_atomic_commit(&af));

    snprintf(path, sizeof path, "%s/summary.json", out);
    GB_TRY(gb_atomic_open(&af, path));
    json j = {af.f, 0, {1}};
    int64_t abstain = 0, correct = 0, pcorrect = 0, pabstain = 0;
    for (int64_t i = 0; i < n; i++) {
        abstain += pred[i] < 0;
        correct += pred[i] == d->labels[i];
        if (ppred) pcorrect += ppred[i] == d->labels[i], pabstain += ppred[i] < 0;
    }
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_int(&j, "n", n);
    json_num(&j, "sigma", p->sigma);
    json_int(&j, "n0", p->n0);
    json_int(&j, "samples", p->n);
    json_num(&j, "alpha", p->alpha);
    json_int(&j, "seed", (long long)p->seed);
    json_num(&j, "certify_accuracy", (double)correct / n);
    json_num(&j, "abstain_rate", (double)abstain / n);
    if (ppred) {
        json_num(&j, "predict_accuracy", (double)pcorrect / n);
        json_num(&j, "predict_abstain_rate", (double)pabstain / n);
    }
    json_begin_object(&j, "certified_accuracy");
    const double marks[5] = {0, 0.25, 0.5, 0.75, 1.0};
    for (int k = 0; k < 5; k++) {
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) c += pred[i] == d->labels[i] && radius[i] >= marks[k];
        char key[16];
        snprintf(key, sizeof key, "%.2f", marks[k]);
        json_num(&j, key, (double)c / n);
    }
    json_end_object(&j);
    json_num(&j, "time_s", time_s);
    json_end_object(&j);
    fputc('\n', af.f);
    return gb_atomic_commit(&af);
}

int cmd_certify(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test", *out = NULL;
    int n = 100, n0 = 100, samples = 100000, batch = 400, predict = 0;
    float sigma = -1, alpha = 0.001f;
    uint64_t seed = 1;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "ONNX model file (required), ideally trained with --noise-sigma"},
        {"data", OPT_STR, &data, "data set (default fashion-mnist:test)"},
        {"sigma", OPT_FLOAT, &sigma, "noise standard deviation, pixels in [0,1] (required)"},
        {"n", OPT_INT, &n, "examples: the first N of --data (default 100)"},
        {"n0", OPT_INT, &n0, "samples that choose the class (default 100)"},
        {"samples", OPT_INT, &samples, "samples that bound its probability (default 100000)"},
        {"alpha", OPT_FLOAT, &alpha, "failure probability per example (default 0.001)"},
        {"batch", OPT_INT, &batch, "noisy copies per forward pass (default 400)"},
        {"predict", OPT_FLAG, &predict, "also run PREDICT (binomial test, --samples samples)"},
        {"seed", OPT_U64, &seed, "seed for the noise (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    int r = cli_parse("certify",
                      "Certifies L2 robustness by randomized smoothing (Cohen et al. 2019): per example the "
                      "smoothed class and a radius it provably keeps with probability 1 - alpha.",
                      argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model || !out || !(sigma > 0)) {
        fprintf(stderr, "gibbon certify: --model, --out and a positive --sigma are required\n");
        return 2;
    }
    if (n < 1 || n0 < 1 || samples < 1 || batch < 1 || !(alpha > 0 && alpha < 1)) {
        fprintf(stderr, "gibbon certify: -n, --n0, --samples and --batch must be positive, --alpha in (0, 1)\n");
        return 2;
    }
    gb_smooth_params p = gb_smooth_default_params();
    p.sigma = sigma, p.n0 = n0, p.n = samples, p.alpha = alpha, p.batch = batch, p.seed = seed;
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    int *pred = NULL, *ppred = NULL;
    double *radius = NULL, *pa = NULL;
    int rc = cli_load_model("certify", model, &mo, &m);
    if (rc) return rc;
    rc = 1;
    if (gb_dataset_load(data, &d)) {
        cli_fail("--data");
        goto done;
    }
    if (cli_check_images(m, d->images)) goto done;
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon certify: --out %s: cannot create the directory: %s\n", out, strerror(errno));
        goto done;
    }
    const int64_t N = GB_MIN((int64_t)n, d->n), per = d->images->size / d->n;
    pred = gb_calloc((size_t)N, sizeof *pred);
    ppred = predict ? gb_calloc((size_t)N, sizeof *ppred) : NULL;
    radius = gb_calloc((size_t)N, sizeof *radius);
    pa = gb_calloc((size_t)N, sizeof *pa);
    if (!pred || !radius || !pa || (predict && !ppred)) {
        cli_fail("certify");
        goto done;
    }
    gb_model_set_seed(m, seed);
    double t0 = gb_now();
    for (int64_t i = 0; i < N; i++) {
        gb_tensor x = *d->images;
        x.shape[0] = 1;
        x.size = per;
        x.data = d->images->data + i * per;
        x.cap = 0;
        p.seed = seed + (uint64_t)i * 1000003u; /* a stream per example: any -n gives the same prefix */
        if (gb_smooth_certify(m, &x, &p, pred + i, radius + i, pa + i) ||
            (predict && gb_smooth_predict(m, &x, &p, ppred + i))) {
            cli_fail("certify");
            goto done;
        }
        double el = gb_now() - t0;
        if (isatty(2))
            fprintf(stderr, "\rcertify: %lld/%lld examples, %.1f s, ETA %.0f s   ", (long long)(i + 1), (long long)N,
                el, el / (double)(i + 1) * (double)(N - i - 1));
    }
    if (isatty(2)) fputc('\n', stderr);
    p.seed = seed;
    if (write_outputs(out, model, data, d, N, &p, pred, radius, pa, ppred, gb_now() - t0)) {
        cli_fail(out);
        goto done;
    }
    int64_t c25 = 0, c50 = 0, correct = 0;
    for (int64_t i = 0; i < N; i++) {
        int ok = pred[i] == d->labels[i];
        correct += ok;
        c25 += ok && radius[i] >= 0.25;
        c50 += ok && radius[i] >= 0.5;
    }
    printf("sigma %g, n %lld: certified accuracy %.4f at r = 0, %.4f at 0.25, %.4f at 0.5\n", (double)sigma,
           (long long)N, (double)correct / N, (double)c25 / N, (double)c50 / N);
    printf("wrote %s/summary.json, certify.csv, certified_accuracy.csv, certified_accuracy.svg\n", out);
    rc = 0;
done:
    gb_free(pred);
    gb_free(ppred);
    gb_free(radius);
    gb_free(pa);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
