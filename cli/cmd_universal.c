/* cmd_universal.c — `gibbon universal`: fit one universal adversarial
 * perturbation on a data set (Moosavi-Dezfooli et al. 2017, or the SGD
 * variant) and report its fooling rate there and on held-out data, next to
 * a random perturbation of the same norm. Writes delta.npy, delta.png
 * (amplified), examples.png and summary.json, each atomically. */
#include "cli.h"

#include <math.h>
#include <string.h>

#include "attacks/attacks.h"

#define SHOW 8

static int progress(int pass, double rate, void *user) {
    (void)user;
    fprintf(stderr, "pass %d: fooling rate on the fitting set %.2f%%\n", pass, 100 * rate);
    return 0;
}

/* delta.png: v scaled so its largest |value| spans the grey range, 4x. */
static gb_status write_delta_png(const char *path, const gb_tensor *v) {
    int c = (int)v->shape[1], h = (int)v->shape[2], w = (int)v->shape[3];
    float m = 1e-12f;
    for (int64_t i = 0; i < v->size; i++) m = fmaxf(m, fabsf(v->data[i]));
    gb_image *im = gb_image_new(w * 4, h * 4, 128, 128, 128);
    if (!im) return GB_ERR_NOMEM;
    gb_image_blit(im, v->data, c, h, w, -m, m, 0, 0, 4);
    gb_status s = gb_png_write(path, im);
    gb_image_free(im);
    return s;
}

/* The first SHOW held-out images, clean and with v, with predictions. */
static gb_status write_examples(const char *path, gb_model *m, const gb_dataset *d, const float *v) {
    int n = (int)GB_MIN(d->n, SHOW), c = (int)d->images->shape[1], h = (int)d->images->shape[2],
        w = (int)d->images->shape[3], sc = 2, cw = w * sc + 40, ch = h * sc + 18;
    int64_t D = (int64_t)c * h * w;
    int64_t shape[4] = {n, c, h, w};
    gb_tensor *x = gb_tensor_new(4, shape), *xv = gb_tensor_new(4, shape);
    int p0[SHOW], p1[SHOW];
    gb_image *im = gb_image_new(n * cw + 4, 2 * ch + 4, 255, 255, 255);
    gb_status s = x && xv && im ? GB_OK : GB_ERR_NOMEM;
    if (!s) {
        memcpy(x->data, d->images->data, (size_t)(n * D) * sizeof(float));
        for (int64_t i = 0; i < n * D; i++) xv->data[i] = fminf(1, fmaxf(0, x->data[i] + v[i % D]));
        s = gb_predict_set(m, x, NULL, n, p0);
    }
    if (!s) s = gb_predict_set(m, xv, NULL, n, p1);
    for (int i = 0; i < n && !s; i++) {
        for (int row = 0; row < 2; row++) {
            const gb_tensor *t = row ? xv : x;
            int k = row ? p1[i] : p0[i], px = 4 + i * cw, py = 4 + row * ch;
            gb_image_blit(im, t->data + i * D, c, h, w, 0, 1, px, py, sc);
            char buf[32];
            const char *name = d->class_names && k < d->num_classes ? d->class_names[k] : buf;
            snprintf(buf, sizeof buf, "%d", k);
            int bad = k != d->labels[i];
            gb_image_text(im, px, py + h * sc + 2, name, 1, bad ? 200 : 0, 0, 0);
        }
    }
    if (!s) s = gb_png_write(path, im);
    gb_image_free(im);
    gb_tensor_free(x), gb_tensor_free(xv);
    return s;
}

int cmd_universal(int argc, char **argv) {
    gb_uap_params p = gb_uap_default_params();
    const char *model = NULL, *data = NULL, *test = NULL, *out = NULL, *norm = "linf", *method = "deepfool";
    float eps = -1;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "model (.onnx, required)"},
        {"data", OPT_STR, &data, "data set the perturbation is fitted on (required)"},
        {"test", OPT_STR, &test, "held-out data set (default: none; the report then has no held-out rate)"},
        {"method", OPT_STR, &method, "deepfool (Moosavi-Dezfooli et al. 2017) or sgd (default deepfool)"},
        {"norm", OPT_STR, &norm, "linf or l2 (default linf)"},
        {"eps", OPT_FLOAT, &eps, "radius of the ball, pixels in [0,1] (required)"},
        {"rate", OPT_FLOAT, &p.target_rate, "stop at this fooling rate on --data (default 0.8)"},
        {"passes", OPT_INT, &p.max_passes, "passes over --data at most (default 5)"},
        {"batch", OPT_INT, &p.batch, "images per DeepFool batch / SGD step (default 1 for deepfool: the paper's loop, 32 for sgd)"},
        {"df-steps", OPT_INT, &p.df_steps, "DeepFool iterations per image (default 10)"},
        {"overshoot", OPT_FLOAT, &p.overshoot, "DeepFool overshoot (default 0.02)"},
        {"step-size", OPT_FLOAT, &p.step_size, "sgd step (default eps/10)"},
        {"seed", OPT_U64, &p.seed, "seed for the image order and the random baseline (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    int r = cli_parse("universal", "Fits one universal adversarial perturbation for a whole data set.", argc,
                      argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model || !data || !out || eps < 0) {
        fprintf(stderr, "gibbon universal: --model, --data, --eps and --out are required\n");
        return 2;
    }
    if (gb_norm_parse(norm, &p.norm) || (p.norm != GB_NORM_LINF && p.norm != GB_NORM_L2)) {
        fprintf(stderr, "gibbon universal: --norm: '%s' is not linf or l2\n", norm);
        return 2;
    }
    int batch_given = 0;
    for (int i = 1; i < argc; i++) batch_given |= strncmp(argv[i], "--batch", 7) == 0;
    if (strcmp(method, "deepfool") == 0) p.method = GB_UAP_DEEPFOOL;
    else if (strcmp(method, "sgd") == 0) p.method = GB_UAP_SGD, p.batch = batch_given ? p.batch : 32;
    else {
        fprintf(stderr, "gibbon universal: --method: '%s' is not deepfool or sgd\n", method);
        return 2;
    }
    if (!(eps > 0) || (p.norm == GB_NORM_LINF && eps > 1)) {
        fprintf(stderr, "gibbon universal: --eps: %g must be positive%s\n", (double)eps,
                p.norm == GB_NORM_LINF ? " and at most 1" : "");
        return 2;
    }
    if (!(p.target_rate > 0 && p.target_rate <= 1)) {
        fprintf(stderr, "gibbon universal: --rate: %g is outside (0, 1]\n", (double)p.target_rate);
        return 2;
    }
    if (p.max_passes < 1 || p.batch < 1 || p.df_steps < 1 || p.step_size < 0 || !(p.overshoot >= 0)) {
        fprintf(stderr, "gibbon universal: --passes, --batch and --df-steps must be positive, "
                        "--step-size and --overshoot non-negative\n");
        return 2;
    }
    p.eps = eps;
    p.progress = progress;
    gb_model *m = NULL;
    gb_dataset *fit = NULL, *held = NULL;
    gb_tensor *v = NULL;
    int rc = cli_load_model("universal", model, &mo, &m);
    if (rc) return rc;
    if (gb_dataset_load(data, &fit)) rc = cli_fail("--data");
    else if (test && gb_dataset_load(test, &held)) rc = cli_fail("--test");
    else if (cli_check_images(m, fit->images) || (held && cli_check_images(m, held->images))) rc = 1;
    else if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon universal: --out: cannot create directory %s\n", out);
        rc = 1;
    }
    if (rc) goto done;
    double t0 = gb_now();
    gb_uap_info info;
    if (gb_uap_fit(m, fit->images, &p, &v, &info)) {
        rc = cli_fail("universal");
        goto done;
    }
    double secs = gb_now() - t0;
    int64_t D = v->size;
    double fit_fool = 0, fit_acc = 0, fit_clean = 0, test_fool = NAN, test_acc = NAN, test_clean = NAN,
           rnd_fool = NAN;
    float *rnd = gb_malloc((size_t)D * sizeof *rnd);
    gb_rng rng;
    gb_rng_seed(&rng, p.seed, 37);
    const gb_dataset *base = held ? held : fit;
    int bad = !rnd || gb_uap_fooling_rate(m, fit->images, v->data, fit->labels, 256, &fit_fool, &fit_acc) ||
              gb_uap_fooling_rate(m, fit->images, NULL, fit->labels, 256, NULL, &fit_clean);
    if (!bad && held)
        bad = gb_uap_fooling_rate(m, held->images, v->data, held->labels, 256, &test_fool, &test_acc) ||
              gb_uap_fooling_rate(m, held->images, NULL, held->labels, 256, NULL, &test_clean);
    if (!bad) {
        gb_uap_random(p.norm, p.eps, D, &rng, rnd);
        bad = gb_uap_fooling_rate(m, base->images, rnd, NULL, 256, &rnd_fool, NULL);
    }
    gb_free(rnd);
    char path[4200];
    if (!bad) {
        snprintf(path, sizeof path, "%s/delta.npy", out);
        bad = gb_npy_write(path, v);
    }
    if (!bad) {
        snprintf(path, sizeof path, "%s/delta.png", out);
        bad = write_delta_png(path, v);
    }
    if (!bad) {
        snprintf(path, sizeof path, "%s/examples.png", out);
        bad = write_examples(path, m, base, v->data);
    }
    gb_atomic_file af;
    if (!bad) {
        snprintf(path, sizeof path, "%s/summary.json", out);
        bad = gb_atomic_open(&af, path);
    }
    if (bad) {
        rc = cli_fail(out);
        goto done;
    }
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_str(&j, "test", test ? test : "");
    json_str(&j, "method", method);
    json_str(&j, "norm", gb_norm_name(p.norm));
    json_num(&j, "eps", p.eps);
    json_num(&j, "linf", gb_norm_of(GB_NORM_LINF, v->data, D));
    json_num(&j, "l2", gb_norm_of(GB_NORM_L2, v->data, D));
    json_int(&j, "n_fit", fit->n);
    json_int(&j, "n_test", held ? held->n : 0);
    json_int(&j, "passes", info.passes);
    json_int(&j, "grad_evals", info.grad_evals);
    json_num(&j, "fooling_rate_fit", fit_fool);
    json_num(&j, "fooling_rate_test", test_fool);
    json_num(&j, "fooling_rate_random", rnd_fool);
    json_num(&j, "clean_accuracy_fit", fit_clean);
    json_num(&j, "accuracy_fit", fit_acc);
    json_num(&j, "clean_accuracy_test", test_clean);
    json_num(&j, "accuracy_test", test_acc);
    json_num(&j, "time_s", secs);
    json_num(&j, "target_rate", p.target_rate);
    json_int(&j, "batch", p.batch);
    json_int(&j, "df_steps", p.df_steps);
    json_num(&j, "overshoot", p.overshoot);
    json_end_object(&j);
    if (gb_atomic_commit(&af)) {
        rc = cli_fail(out);
        goto done;
    }
    printf("universal %s %s eps %g: fooling rate %.2f%% on %s (%lld images, %d passes)", method,
           gb_norm_name(p.norm), (double)p.eps, 100 * fit_fool, data, (long long)fit->n, info.passes);
    if (held) printf(", %.2f%% on %s", 100 * test_fool, test);
    printf("; a random perturbation of the same norm: %.2f%%\n", 100 * rnd_fool);
done:
    gb_tensor_free(v);
    gb_dataset_free(fit);
    gb_dataset_free(held);
    gb_model_free(m);
    return rc;
}
