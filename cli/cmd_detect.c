/* cmd_detect.c — `gibbon detect`: feature squeezing as an adversarial-input
 * detector (Xu et al. 2018). The first half of --data sets the threshold on
 * clean scores for the target false-positive rate; on the second half the
 * attack makes adversarial examples, and the detector's false-positive rate
 * on the clean images, its detection rate on the adversarial ones (all, and
 * those that fool the model) and the ROC AUC are measured. */
#include "cli.h"
#include "internal.h"

#include <errno.h>
#include <math.h>

/* Scores of images x (N, C, H, W), batch by batch. */
static gb_status scores_of(gb_model *m, const gb_tensor *x, const gb_defense *sq, int nsq, int batch,
                           float *score) {
    const int64_t N = x->shape[0], per = x->size / N;
    for (int64_t start = 0; start < N; start += batch) {
        gb_tensor v = *x;
        v.shape[0] = GB_MIN((int64_t)batch, N - start);
        v.size = v.shape[0] * per;
        v.data = x->data + start * per;
        v.cap = 0;
        GB_TRY(gb_squeeze_scores(m, &v, sq, nsq, score + start));
    }
    return GB_OK;
}

static double rate(const float *s, const int *use, int64_t n, float t) {
    int64_t c = 0, k = 0;
    for (int64_t i = 0; i < n; i++)
        if (!use || use[i]) k++, c += s[i] > t;
    return k ? (double)c / (double)k : NAN;
}

int cmd_detect(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test:2000", *out = NULL, *attack = "fgsm";
    const char *squeezers = "bits:1,median:2,median:3";
    float eps = 0.1f, fpr = 0.05f;
    int batch = 256, steps = -1;
    uint64_t seed = 1;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "ONNX model file (required)"},
        {"data", OPT_STR, &data, "data set; the first half sets the threshold (default fashion-mnist:test:2000)"},
        {"attack", OPT_STR, &attack, "attack making the adversarial examples (default fgsm)"},
        {"eps", OPT_FLOAT, &eps, "its L-inf budget (default 0.1)"},
        {"steps", OPT_INT, &steps, "its iterations (default: the attack's own)"},
        {"squeezers", OPT_STR, &squeezers, "comma-separated squeezers (default bits:1,median:2,median:3)"},
        {"fpr", OPT_FLOAT, &fpr, "target false-positive rate on clean data (default 0.05)"},
        {"batch", OPT_INT, &batch, "batch size (default 256)"},
        {"seed", OPT_U64, &seed, "seed of the attack (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    int r = cli_parse("detect", "Feature squeezing (Xu et al. 2018): detects adversarial inputs by how much "
                                "squeezing changes the prediction.", argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model || !out) {
        fprintf(stderr, "gibbon detect: --model and --out are required\n");
        return 2;
    }
    if (!(fpr >= 0 && fpr < 1) || batch < 1 || !(eps >= 0)) {
        fprintf(stderr, "gibbon detect: --fpr must be in [0, 1), --batch positive, --eps non-negative\n");
        return 2;
    }
    gb_defense sq[8];
    const int nsq = cli_parse_defenses("detect", "squeezers", squeezers, sq, 8);
    if (nsq < 0) return 2;
    gb_attack_kind kind;
    if (gb_attack_parse(attack, &kind)) {
        fprintf(stderr, "gibbon detect: --attack: %s\n", gb_last_error());
        return 2;
    }
    gb_attack a = gb_attack_default_params(kind);
    a.eps = eps;
    a.seed = seed;
    if (steps >= 0) a.steps = steps;
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    gb_tensor *adv = NULL;
    float *s_clean = NULL, *s_adv = NULL;
    int *fooled = NULL;
    int rc = cli_load_model("detect", model, &mo, &m);
    if (rc) return rc;
    rc = 1;
    if (gb_dataset_load(data, &d)) {
        cli_fail("--data");
        goto done;
    }
    if (cli_check_images(m, d->images)) goto done;
    const int64_t N = d->n, nfit = N / 2, neval = N - nfit, per = d->images->size / N;
    if (nfit < 1) {
        fprintf(stderr, "gibbon detect: --data needs at least 2 examples (half set the threshold)\n");
        rc = 2;
        goto done;
    }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon detect: --out %s: cannot create the directory: %s\n", out, strerror(errno));
        goto done;
    }
    s_clean = gb_malloc((size_t)N * sizeof *s_clean);
    s_adv = gb_malloc((size_t)neval * sizeof *s_adv);
    fooled = gb_calloc((size_t)neval, sizeof *fooled);
    int64_t shape[4] = {neval, d->images->shape[1], d->images->shape[2], d->images->shape[3]};
    adv = gb_tensor_new(4, shape);
    if (!s_clean || !s_adv || !fooled || !adv) {
        cli_fail("detect");
        goto done;
    }
    double t0 = gb_now();
    if (scores_of(m, d->images, sq, nsq, batch, s_clean)) {
        cli_fail("detect");
        goto done;
    }
    for (int64_t start = 0; start < neval; start += batch) {
        gb_tensor x = *d->images;
        x.shape[0] = GB_MIN((int64_t)batch, neval - start);
        x.size = x.shape[0] * per;
        x.data = d->images->data + (nfit + start) * per;
        x.cap = 0;
        gb_attack_result res;
        if (gb_attack_run(&a, m, &x, d->labels + nfit + start, NULL, &res)) {
            cli_fail("--attack");
            goto done;
        }
        memcpy(adv->data + start * per, res.x_adv->data, (size_t)x.size * sizeof(float));
        for (int64_t i = 0; i < x.shape[0]; i++)
            fooled[start + i] = res.clean_pred[i] == d->labels[nfit + start + i] && res.success[i];
        gb_attack_result_free(&res);
    }
    if (scores_of(m, adv, sq, nsq, batch, s_adv)) {
        cli_fail("detect");
        goto done;
    }
    const float t = gb_squeeze_threshold(s_clean, nfit, fpr);
    const float *s_eval = s_clean + nfit;
    double auc_all = NAN, auc_fooled = NAN;
    int64_t nfooled = 0;
    for (int64_t i = 0; i < neval; i++) nfooled += fooled[i];
    float *sf = gb_malloc((size_t)GB_MAX(nfooled, 1) * sizeof *sf);
    for (int64_t i = 0, k = 0; sf && i < neval; i++)
        if (fooled[i]) sf[k++] = s_adv[i];
    if (!sf || gb_auroc(s_adv, neval, s_eval, neval, &auc_all) ||
        (nfooled && gb_auroc(sf, nfooled, s_eval, neval, &auc_fooled))) {
        gb_free(sf);
        cli_fail("detect");
        goto done;
    }
    gb_free(sf);
    const double fp = rate(s_eval, NULL, neval, t), det = rate(s_adv, NULL, neval, t),
                 det_f = rate(s_adv, fooled, neval, t);

    char path[4200];
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/scores.csv", out);
    if (gb_atomic_open(&af, path)) {
        cli_fail(out);
        goto done;
    }
    fprintf(af.f, "index,label,clean_score,adv_score,fooled,clean_flagged,adv_flagged\n");
    for (int64_t i = 0; i < neval; i++)
        fprintf(af.f, "%lld,%d,%.6f,%.6f,%d,%d,%d\n", (long long)(nfit + i), d->labels[nfit + i], s_eval[i],
                s_adv[i], fooled[i], s_eval[i] > t, s_adv[i] > t);
    if (gb_atomic_commit(&af)) {
        cli_fail(out);
        goto done;
    }
    snprintf(path, sizeof path, "%s/detect.json", out);
    if (gb_atomic_open(&af, path)) {
        cli_fail(out);
        goto done;
    }
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_str(&j, "attack", gb_attack_name(kind));
    json_num(&j, "eps", eps);
    json_str(&j, "squeezers", squeezers);
    json_int(&j, "n_threshold", nfit);
    json_int(&j, "n_eval", neval);
    json_num(&j, "target_fpr", fpr);
    json_num(&j, "threshold", t);
    json_num(&j, "fpr", fp);
    json_num(&j, "detection_rate", det);
    json_int(&j, "n_fooled", nfooled);
    json_num(&j, "detection_rate_fooled", det_f);
    json_num(&j, "roc_auc", auc_all);
    json_num(&j, "roc_auc_fooled", auc_fooled);
    json_num(&j, "time_s", gb_now() - t0);
    json_end_object(&j);
    fputc('\n', af.f);
    if (gb_atomic_commit(&af)) {
        cli_fail(out);
        goto done;
    }
    printf("threshold %.4f (target FPR %.3f on %lld clean): FPR %.4f, detection %.4f (all %lld adversarial), "
           "%.4f (the %lld that fool the model), ROC AUC %.4f / %.4f\n",
           (double)t, (double)fpr, (long long)nfit, fp, det, (long long)neval, det_f, (long long)nfooled, auc_all,
           auc_fooled);
    printf("wrote %s/detect.json, %s/scores.csv\n", out, out);
    rc = 0;
done:
    gb_free(s_clean);
    gb_free(s_adv);
    gb_free(fooled);
    gb_tensor_free(adv);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
