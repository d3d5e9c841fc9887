/* cmd_eval.c — `gibbon eval`: clean accuracy; with --confidence, how well
 * the model knows what it does not know: expected calibration error and
 * reliability diagrams before and after temperature scaling (T fitted on
 * the first half of the data, measured on the second), and max-softmax and
 * energy OOD scores with their AUROC against uniform noise, inverted and
 * upside-down images made from the evaluation half and, for one-channel
 * square inputs, the synthetic road signs in greyscale, and (--adv-eps, in
 * eval_confidence_adv.c) the same questions on FGSM examples. Every file is
 * written atomically (temporary + rename). */
#include "cli.h"
#include "eval_confidence_adv.h"
#include "eval_robust.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* gb_atomic_file */

/* Logits of m on images x (N, C, H, W) into *out (N, K), batch by batch. */
static gb_status logits_of(gb_model *m, const gb_tensor *x, int batch, gb_tensor **out) {
    const int64_t N = x->shape[0], per = x->size / (N ? N : 1);
    int64_t ls[2] = {N, gb_model_num_classes(m)};
    gb_tensor *L = gb_tensor_new(2, ls);
    if (!L) return GB_ERR_NOMEM;
    for (int64_t start = 0; start < N; start += batch) {
        int64_t n = N - start < batch ? N - start : batch;
        gb_tensor v = *x;
        v.shape[0] = n;
        v.size = n * per;
        v.data = x->data + start * per;
        v.cap = 0;
        const gb_tensor *z;
        gb_status s = gb_model_forward(m, &v, &z);
        if (s) {
            gb_tensor_free(L);
            return s;
        }
        memcpy(L->data + start * ls[1], z->data, (size_t)(n * ls[1]) * sizeof(float));
    }
    *out = L;
    return GB_OK;
}

/* Rows [start, start + n) of a tensor, borrowed. */
static gb_tensor rows(const gb_tensor *t, int64_t start, int64_t n) {
    gb_tensor v = *t;
    int64_t per = t->size / t->shape[0];
    v.shape[0] = n;
    v.size = n * per;
    v.data = t->data + start * per;
    v.cap = 0;
    return v;
}

enum { OOD_NOISE, OOD_INVERTED, OOD_UPSIDE_DOWN, OOD_SIGNS_GREY, NOOD };
static const char *const ood_names[NOOD] = {"uniform-noise", "inverted", "upside-down", "signs-grey"};

/* OOD set o (N, C, H, W) into ood, made from the in-distribution images x
 * or, for the signs, rendered from seed. Returns 1 if the set does not fit
 * these images (the signs need one square channel), -1 on a library error. */
static int make_ood(int o, const gb_tensor *x, gb_rng *rng, uint64_t seed, gb_tensor *ood) {
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (o == OOD_SIGNS_GREY) {
        if (C != 1 || H != W || H > GB_SIGNS_MAX_SIZE) return 1;
        gb_signs_params p = gb_signs_default_params();
        p.seed = seed;
        gb_tensor *t;
        if (gb_signs_grey(&p, N, (int)H, &t)) return -1;
        memcpy(ood->data, t->data, (size_t)t->size * sizeof *t->data);
        gb_tensor_free(t);
        return 0;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++) {
                    float *dst = ood->data + ((b * C + c) * H + i) * W + j;
                    if (o == OOD_NOISE) *dst = gb_rng_uniform(rng);
                    else if (o == OOD_INVERTED) *dst = 1 - x->data[((b * C + c) * H + i) * W + j];
                    else *dst = x->data[((b * C + c) * H + (H - 1 - i)) * W + j];
                }
    return 0;
}

static int confidence(gb_model *m, const gb_dataset *d, int batch, const char *out, uint64_t seed, float adv_eps) {
    enum { BINS = 15 };
    const int64_t N = d->n, nfit = N / 2, neval = N - nfit;
    if (nfit < 1 || neval < 1) {
        fprintf(stderr, "gibbon eval: --confidence needs at least 2 examples (half fit T, half measure)\n");
        return 2;
    }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon eval: --out %s: cannot create the directory: %s\n", out, strerror(errno));
        return 1;
    }
    gb_tensor *L = NULL, *ood = NULL, *Lo = NULL;
    float *conf = malloc((size_t)N * sizeof(float)), *score = malloc((size_t)N * sizeof(float));
    float *oscore = malloc((size_t)N * sizeof(float));
    int *pred = malloc((size_t)N * sizeof(int)), *ok = malloc((size_t)N * sizeof(int));
    int rc = 0;
    char path[4096];
    gb_atomic_file af = {0};
    FILE *js = NULL;
    if (!conf || !score || !oscore || !pred || !ok) {
        fprintf(stderr, "gibbon eval: out of memory\n");
        rc = 1;
        goto done;
    }
    if (logits_of(m, d->images, batch, &L)) {
        rc = cli_fail("");
        goto done;
    }
    gb_tensor fit = rows(L, 0, nfit), ev = rows(L, nfit, neval);
    float T;
    if (gb_temperature_fit(&fit, d->labels, &T)) {
        rc = cli_fail("temperature scaling");
        goto done;
    }
    const int *yev = d->labels + nfit;
    double ece[2];
    gb_calibration_bin bins[2][BINS];
    int64_t right = 0;
    for (int pass = 0; pass < 2; pass++) {
        gb_softmax_confidence(&ev, pass ? T : 1, conf, pred);
        for (int64_t i = 0; i < neval; i++) ok[i] = pred[i] == yev[i];
        gb_calibration_ece(conf, ok, neval, BINS, &ece[pass], bins[pass]);
        snprintf(path, sizeof path, "%s/%s", out, pass ? "reliability_scaled.svg" : "reliability.svg");
        char title[64];
        snprintf(title, sizeof title, pass ? "temperature-scaled, T = %.3g" : "reliability, T = %.3g",
                 (double)(pass ? T : 1));
        if (gb_reliability_svg(path, bins[pass], BINS, ece[pass], title)) {
            rc = cli_fail("");
            goto done;
        }
    }
    for (int64_t i = 0; i < neval; i++) right += ok[i];
    snprintf(path, sizeof path, "%s/confidence.json", out);
    if (gb_atomic_open(&af, path)) {
        rc = cli_fail("");
        goto done;
    }
    js = af.f;
    fprintf(js, "{\n  \"n_fit\": %lld,\n  \"n_eval\": %lld,\n  \"accuracy\": %.6f,\n  \"bins\": %d,\n",
            (long long)nfit, (long long)neval, (double)right / (double)neval, BINS);
    fprintf(js, "  \"ece\": %.6f,\n  \"temperature\": %.6f,\n  \"ece_scaled\": %.6f,\n  \"ood\": [\n", ece[0],
            (double)T, ece[1]);
    printf("accuracy %.4f on %lld examples (T fitted on %lld others)\n", (double)right / (double)neval,
           (long long)neval, (long long)nfit);
    printf("ECE (%d bins) %.4f; temperature scaling T = %.3f -> ECE %.4f\n", BINS, ece[0], (double)T, ece[1]);
    printf("%-14s %10s %12s %14s\n", "OOD set", "mean MSP", "AUROC MSP", "AUROC energy");
    /* In-distribution scores, at T = 1 (the deployed model). */
    gb_softmax_confidence(&ev, 1, conf, NULL);
    gb_ood_energy(&ev, 1, score);
    gb_tensor xev = rows(d->images, nfit, neval);
    ood = gb_tensor_clone(&xev);
    if (!ood) {
        rc = cli_fail("");
        goto done;
    }
    gb_rng rng;
    gb_rng_seed(&rng, seed, 17);
    for (int o = 0, written = 0; o < NOOD; o++) {
        int made = make_ood(o, &xev, &rng, seed, ood);
        if (made < 0) {
            rc = cli_fail(ood_names[o]);
            goto done;
        }
        if (made) continue;
        double au_msp, au_energy, mean = 0;
        gb_tensor_free(Lo);
        Lo = NULL;
        if (logits_of(m, ood, batch, &Lo)) {
            rc = cli_fail("");
            goto done;
        }
        gb_softmax_confidence(Lo, 1, oscore, NULL);
        for (int64_t i = 0; i < neval; i++) mean += oscore[i];
        mean /= (double)neval;
        gb_auroc(conf, neval, oscore, neval, &au_msp);
        gb_ood_energy(Lo, 1, oscore);
        gb_auroc(score, neval, oscore, neval, &au_energy);
        printf("%-14s %10.4f %12.4f %14.4f\n", ood_names[o], mean, au_msp, au_energy);
        fprintf(js, "%s    {\"set\": \"%s\", \"mean_msp\": %.6f, \"auroc_msp\": %.6f, \"auroc_energy\": %.6f}",
                written++ ? ",\n" : "", ood_names[o], mean, au_msp, au_energy);
    }
    fprintf(js, "\n  ]");
    if (adv_eps > 0 && (rc = eval_confidence_adv(m, &xev, yev, adv_eps, batch, seed, out, js))) goto done;
    fprintf(js, "\n}\n");
    js = NULL;
    if (gb_atomic_commit(&af)) {
        rc = cli_fail("");
        goto done;
    }
    printf("wrote %s/confidence.json, reliability.svg, reliability_scaled.svg%s\n", out,
           adv_eps > 0 ? ", reliability_adversarial.svg, confidence_hist.svg" : "");
done:
    if (js) gb_atomic_abort(&af); /* a failed run leaves no confidence.json, not half of one */
    gb_tensor_free(L);
    gb_tensor_free(Lo);
    gb_tensor_free(ood);
    free(conf);
    free(score);
    free(oscore);
    free(pred);
    free(ok);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test", *out = NULL;
    int batch = 256, conf = 0, batch_set = -1;
    float adv_eps = 0.1f;
    uint64_t seed = 1;
    cli_model_opts mo = {0};
    eval_robust_opts ro = {.norm = "linf", .version = "standard", .iters = 100, .targets = 9, .queries = 5000};
    ro.batch = batch_set;
    cli_opt opts[] = {{"model", OPT_STR, &model, "ONNX model file (required)"},
                      {"data", OPT_STR, &data, "data set (default fashion-mnist:test)"},
                      {"batch", OPT_INT, &ro.batch, "batch size (default 256; with --eps: examples per saved chunk, 500)"},
                      {"confidence", OPT_FLAG, &conf,
                       "calibration (ECE, reliability diagrams, temperature scaling) and OOD AUROC into --out"},
                      {"adv-eps", OPT_FLOAT, &adv_eps,
                       "--confidence: also FGSM at this L-inf eps, its calibration and confidence (default 0.1; 0: off)"},
                      {"out", OPT_STR, &out, "output directory (--confidence; --eps: default out/eval)"},
                      {"seed", OPT_U64, &seed, "seed of the noise and signs OOD sets / of the attacks (default 1)"},
                      {"eps", OPT_STR, &ro.eps, "robustness: run the AutoAttack ensemble at these budgets (0.05,0.1)"},
                      {"norm", OPT_STR, &ro.norm, "threat model for --eps: linf (default), l2 or l1"},
                      {"version", OPT_STR, &ro.version, "ensemble: standard (default), plus (restarts) or rand (EOT)"},
                      {"attacks", OPT_STR, &ro.attacks, "ensemble members in order, e.g. apgd-ce,apgd-t (default: the version's)"},
                      {"n", OPT_INT, &ro.n, "evaluate the first N examples (default all)"},
                      {"iters", OPT_INT, &ro.iters, "APGD/FAB iterations (100)"},
                      {"targets", OPT_INT, &ro.targets, "APGD-T/FAB-T target classes (9)"},
                      {"queries", OPT_INT, &ro.queries, "Square's queries per example (5000)"},
                      {"time-budget", OPT_FLOAT, &ro.time_budget, "stop starting batches after this many seconds (at least one runs); rerun to continue"},
                      {"fresh", OPT_FLAG, &ro.fresh, "discard saved state in --out instead of resuming"},
                      {"report", OPT_FLAG, &ro.report, "with --eps: also write the HTML report (--out/report.html)"},
                      CLI_MODEL_OPTS(mo),
                      {0}};
    int r = cli_parse("eval", "Clean accuracy of a model on a data set; --confidence adds calibration and "
                              "out-of-distribution detection; --eps runs the AutoAttack ensemble (resumable).",
                      argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (ro.batch != batch_set) batch = ro.batch;
    else ro.batch = 500;
    if (ro.eps && conf) {
        fprintf(stderr, "gibbon eval: --eps and --confidence are separate runs\n");
        return 2;
    }
    if (ro.n < 0 || ro.iters < 1 || ro.targets < 1 || ro.queries < 1 || ro.time_budget < 0) {
        fprintf(stderr, "gibbon eval: -n must be >= 0, --iters, --targets and --queries >= 1, --time-budget >= 0\n");
        return 2;
    }
    if (!model) {
        fprintf(stderr, "gibbon eval: --model is required\n");
        return 2;
    }
    if (batch < 1) {
        fprintf(stderr, "gibbon eval: --batch must be positive\n");
        return 2;
    }
    if (!(adv_eps >= 0 && adv_eps <= 1)) {
        fprintf(stderr, "gibbon eval: --adv-eps must be in [0, 1]\n");
        return 2;
    }
    if (conf && !out) {
        fprintf(stderr, "gibbon eval: --confidence needs --out DIR\n");
        return 2;
    }
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    float acc;
    if ((r = cli_load_model("eval", model, &mo, &m))) return r;
    int rc = 0;
    if (gb_dataset_load(data, &d)) rc = cli_fail("");
    else if (cli_check_images(m, d->images)) rc = 1;
    else if (conf) rc = confidence(m, d, batch, out, seed, adv_eps);
    else if (ro.eps) {
        ro.model = model;
        ro.data = data;
        ro.out = out ? out : "out/eval";
        ro.seed = seed;
        ro.argc = argc;
        ro.argv = argv;
        rc = eval_robust(&ro, m, d);
    }
    else if (gb_evaluate(m, d, batch, &acc, NULL)) rc = cli_fail("");
    else printf("accuracy %.4f (%lld examples)\n", acc, (long long)d->n);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
